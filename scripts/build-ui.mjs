#!/usr/bin/env node
/**
 * Bundles the web page (src/web/ui) into dist/web/public, where the web server finds it:
 * app.js (one ES module with preact and uPlot), app.css (uPlot's CSS and ours), index.html.
 * Nothing is loaded from elsewhere at run time. Runs after `tsc` in `npm run build`.
 * Each file is also written brotli- and gzip-compressed (app.js.br, app.js.gz …), which the server
 * sends to browsers that accept them; the source map goes to dist/web/app.js.map, outside the
 * served folder and not linked from app.js (issue 15, defect 16).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src/web/ui');
const out = path.join(root, 'dist/web/public');

await fs.rm(out, { recursive: true, force: true });
await fs.mkdir(out, { recursive: true });

const result = await build({
  entryPoints: [path.join(src, 'main.ts')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  // For debugging a built page by hand; never served.
  sourcemap: 'external',
  legalComments: 'eof',
  define: { 'process.env.NODE_ENV': '"production"' },
  metafile: true,
  logLevel: 'warning',
});

// style.css holds the page's variables and base rules; each view keeps its own rules in its own
// file (overview.css, history.css…), appended in name order.
const ownCss = (await fs.readdir(src)).filter((f) => f.endsWith('.css') && f !== 'style.css').sort();
const css = [
  await fs.readFile(path.join(root, 'node_modules/uplot/dist/uPlot.min.css'), 'utf8'),
  await fs.readFile(path.join(src, 'style.css'), 'utf8'),
  ...(await Promise.all(ownCss.map((f) => fs.readFile(path.join(src, f), 'utf8')))),
].join('\n');
await fs.writeFile(path.join(out, 'app.css'), css);
await fs.copyFile(path.join(src, 'index.html'), path.join(out, 'index.html'));

await fs.rename(path.join(out, 'app.js.map'), path.join(root, 'dist/web/app.js.map'));

// Compressed once at build, at the highest levels: the server only picks the file (static.ts).
for (const name of ['app.js', 'app.css', 'index.html']) {
  const body = await fs.readFile(path.join(out, name));
  await fs.writeFile(path.join(out, `${name}.br`), zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length } }));
  await fs.writeFile(path.join(out, `${name}.gz`), zlib.gzipSync(body, { level: 9 }));
}

// tsc also compiles the page's sources (they live under src/); Node never loads those copies.
await fs.rm(path.join(root, 'dist/web/ui'), { recursive: true, force: true });

const bytes = Object.entries(result.metafile.outputs).filter(([f]) => !f.endsWith('.map')).reduce((n, [, o]) => n + o.bytes, 0);
const brotli = (await fs.stat(path.join(out, 'app.js.br'))).size;
process.stdout.write(`web UI bundled into ${path.relative(root, out)} (app.js ${Math.round(bytes / 1024)} KiB, ${Math.round(brotli / 1024)} KiB with brotli)\n`);
