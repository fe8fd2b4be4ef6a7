/**
 * The page's static files over real HTTP (issue 15, defect 16): sent brotli- or gzip-compressed to
 * a browser that accepts it (the build precompresses them), plain otherwise, and no source map is
 * served or linked. Needs the built UI (`npm run build`).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultUiDir } from '../src/web/static.js';
import { startWeb, type WebServer } from '../src/web/server.js';
import { FakeArchive, FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { silentLogger } from '../src/util/logger.js';

const uiDir = defaultUiDir();
let web: WebServer;
let strayDir: string;
let strayWeb: WebServer;

/** A raw GET: node's fetch would decompress behind our back. */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(uiDir, 'app.js.br'))) throw new Error(`the built UI with its compressed copies is missing in ${uiDir}: run "npm run build"`);
  web = await startWeb({ monitor: new FakeMonitor({ archive: new FakeArchive() }), port: 0, logger: silentLogger() });
  // A folder that also holds a source map (an older build's, a hand copy): it still gets no route.
  strayDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-ui-'));
  fs.cpSync(uiDir, strayDir, { recursive: true });
  fs.writeFileSync(path.join(strayDir, 'app.js.map'), '{"version":3}');
  strayWeb = await startWeb({ monitor: new FakeMonitor({ archive: new FakeArchive() }), port: 0, logger: silentLogger(), uiDir: strayDir });
});

afterAll(async () => {
  await web?.close();
  await strayWeb?.close();
  if (strayDir) fs.rmSync(strayDir, { recursive: true, force: true });
});

describe('the page\'s static files', () => {
  const plain = (): Buffer => fs.readFileSync(path.join(uiDir, 'app.js'));

  it('sends app.js brotli-compressed to a browser that accepts br, gzip to one that accepts only gzip', async () => {
    const br = await get(`${web.url}app.js`, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.status).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(br.headers['content-type']).toMatch(/javascript/);
    expect(br.body.length).toBeLessThan(plain().length / 2);
    expect(zlib.brotliDecompressSync(br.body).equals(plain())).toBe(true);

    const gz = await get(`${web.url}app.js`, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(gz.body).equals(plain())).toBe(true);

    const css = await get(`${web.url}app.css`, { 'accept-encoding': 'br' });
    expect(css.headers['content-encoding']).toBe('br');
    const page = await get(web.url, { 'accept-encoding': 'br' });
    expect(page.status).toBe(200);
    expect(page.headers['content-encoding']).toBe('br');
    expect(zlib.brotliDecompressSync(page.body).toString()).toMatch(/<script/);
  });

  it('sends the plain file without Accept-Encoding, and the compressed copies have no URL of their own', async () => {
    const r = await get(`${web.url}app.js`);
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body.equals(plain())).toBe(true);
    expect((await get(`${web.url}app.js.br`)).status).toBe(404);
    expect((await get(`${web.url}app.js.gz`)).status).toBe(404);
  });

  it('serves no source map and app.js links none', async () => {
    expect((await get(`${web.url}app.js.map`)).status).toBe(404);
    expect((await get(`${strayWeb.url}app.js.map`)).status).toBe(404);
    expect(plain().toString()).not.toMatch(/sourceMappingURL/);
  });
});
