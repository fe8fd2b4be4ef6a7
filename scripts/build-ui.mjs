#!/usr/bin/env node
/**
 * Bundles the web page (src/web/ui) into dist/web/public, where the web server finds it:
 * app.js (one ES module with preact and uPlot), app.css (uPlot's CSS and ours), index.html.
 * Nothing is loaded from elsewhere at run time. Runs after `tsc` in `npm run build`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
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
  sourcemap: 'linked',
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

// tsc also compiles the page's sources (they live under src/); Node never loads those copies.
await fs.rm(path.join(root, 'dist/web/ui'), { recursive: true, force: true });

const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(`web UI bundled into ${path.relative(root, out)} (${Math.round(bytes / 1024)} KiB)\n`);
