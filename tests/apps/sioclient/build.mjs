// Bundles socket.io-client 4.8.1's own tests (test/, unmodified) for the browser twice and
// its test server for Node:
// - dist/real.js: the tests against the real socket.io-client;
// - dist/compat.js: the same tests against switchboard-compat.js, which the page imports from
//   /sb/ (the Switchboard package, served by server.mjs beside the tests) before it runs them.
// Classic scripts (IIFE), not modules: expect.js assigns to functions' `length`, which
// module code (always strict) may not.
// - dist/server.cjs: test/support/server.ts, listening on the HTTP server server.mjs made.
// Two textual changes, made here so test/ stays as its authors wrote it: the server listens
// on the given HTTP server instead of port 3210, and the tests' BASE_URL is the page's own
// origin (the page and the Socket.IO server share one loopback port) instead of
// http://localhost:3210.
import * as esbuild from 'esbuild';
import { readFile } from 'node:fs/promises';

const here = new URL('.', import.meta.url).pathname;

const patches = {
  name: 'patches',
  setup(build) {
    build.onLoad({ filter: /test\/support\/(server|util)\.ts$/ }, async (args) => {
      let text = await readFile(args.path, 'utf8');
      const [from, to] = args.path.endsWith('server.ts')
        ? ['new Server(3210,', 'new Server(globalThis.switchboardHttpServer,']
        : ['"http://localhost:3210"', 'location.origin'];
      if (!text.includes(from)) throw new Error(`${args.path}: "${from}" not found (a new suite version?)`);
      return { contents: text.replace(from, to), loader: 'ts' };
    });
  },
};

// `import { io, Manager } from ".."`: the client under test.
const client = (target) => ({
  name: 'client',
  setup(build) {
    build.onResolve({ filter: /^\.\.$/ }, () =>
      target == 'real'
        ? { path: here + 'node_modules/socket.io-client/build/esm/index.js' }
        : { path: here + 'compat-entry.js' });
  },
});

const tests = ['socket', 'connection', 'retry', 'connection-state-recovery'];
const entry = tests.map((t) => `import './test/${t}.ts';`).join('\n');

for (const target of ['real', 'compat']) {
  await esbuild.build({
    stdin: { contents: entry, resolveDir: here, sourcefile: 'suite.js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    define: { global: 'globalThis' },
    external: ['util'], // fake-timers requires util only under Node
    outfile: `${here}dist/${target}.js`,
    plugins: [patches, client(target)],
    logLevel: 'warning',
  });
}

await esbuild.build({
  entryPoints: [here + 'test/support/server.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  packages: 'external',
  outfile: here + 'dist/server.cjs',
  plugins: [patches],
  logLevel: 'warning',
});
