// socket.io-client's test server (test/support/server.ts, bundled by build.mjs) on one
// loopback HTTP server that also serves the test page: `/?client=real|compat` runs the suite
// with mocha against that client and leaves the results in `window.suite`. `/sb/` serves the
// Switchboard package (the directory in $SB_PACKAGE). Prints `listening <port>` when ready.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const pkg = process.env.SB_PACKAGE;
const types = { '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

const files = (url) => {
  if (url.pathname == '/') return path.join(here, 'index.html');
  if (url.pathname == '/mocha.js' || url.pathname == '/mocha.css') return path.join(here, 'node_modules/mocha', url.pathname);
  if (url.pathname.startsWith('/dist/')) return path.join(here, url.pathname);
  if (url.pathname.startsWith('/sb/') && pkg) return path.join(pkg, url.pathname.slice(4));
  return null;
};

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const file = files(url);
  if (!file || file.includes('..')) return res.writeHead(404).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});

// A client that breaks a handler's expectations (an event without the ack it needs) throws
// in the server: say so and keep serving the rest of the suite.
process.on('uncaughtException', (e) => console.error('test server: ' + (e && e.stack || e)));
globalThis.switchboardHttpServer = server;
createRequire(import.meta.url)('./dist/server.cjs').createServer();
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log('listening ' + server.address().port));
