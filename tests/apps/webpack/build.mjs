// A production build with webpack's defaults (no config beyond entry and output), through its
// Node API; dist/index.html loads the bundle.
import webpack from 'webpack';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('./dist', import.meta.url));
const compiler = webpack({
  mode: 'production',
  entry: './src/index.js',
  output: { path: dist, filename: '[name].[contenthash].js', clean: true },
});
compiler.run((err, stats) => {
  if (err || stats.hasErrors()) {
    console.error(err ?? stats.toString({ all: false, errors: true }));
    process.exit(1);
  }
  const [main] = stats.compilation.entrypoints.get('main').getFiles();
  mkdirSync(dist, { recursive: true });
  writeFileSync(`${dist}/index.html`, `<!doctype html>\n<meta charset="utf-8">\n<title>Switchboard in a webpack app</title>\n<script src="./${main}"></script>\n`);
  console.log(Object.keys(stats.compilation.assets).sort().join('\n'));
  compiler.close(() => {});
});
