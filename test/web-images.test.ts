/**
 * Images end to end on real sockets (issue 12, contract §3): a fake image daemon on 127.0.0.1:0,
 * the real monitor with a SQLite archive, and the web server. A new `last_image` is indexed,
 * listed, served as the identical FITS file and as pixels, and announced on the SSE stream; the
 * faults (image_info refused, link dropped in the binary block, an announced size over the limit)
 * are answered without indexing rubbish or stopping the monitor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArchive, type Archive, type ImageRecord } from '../src/archive/index.js';
import { writeImage16 } from '../src/fits/index.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { ImageDaemon } from '../src/monitor/test-helpers/image-daemon.js';
import { eventually } from '../src/testing/eventually.js';
import { silentLogger } from '../src/util/logger.js';
import { startWeb, type WebServer } from '../src/web/server.js';
import { openSse, openWs, type SseClient, type WsClient } from '../src/web/test-helpers/clients.js';

const W = 64;
const H = 48;
const T0 = Date.UTC(2026, 11, 3, 17, 0, 0);

function frame(n: number): { bytes: Uint8Array; pixels: Uint16Array; path: string; info: Record<string, string | number> } {
  const pixels = new Uint16Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) pixels[y * W + x] = (1000 + x * 7 + y * 311 + n * 13) % 65536;
  pixels[0] = 0;
  pixels[1] = 65535;
  const bytes = writeImage16({
    width: W,
    height: H,
    pixels,
    cards: [
      { key: 'EXPTIME', value: 1.5, comment: '[s]' },
      { key: 'IMAGETYP', value: 'dark' },
      { key: 'FRAMENUM', value: n },
      { key: 'LABWIRE CHILLER TEMPERATURE', value: 20.25, comment: 'degC' },
      { key: 'LABWIRE CHILLER STATE_TEXT', value: 'a long text '.repeat(12).trim() },
    ],
  });
  const file = `/data/2026-12-03/archon-20261203-170000-f${String(n).padStart(6, '0')}.fits`;
  return { bytes, pixels, path: file, info: { t: T0 + n * 1000, frame: n, exptime: 1.5, type: 'dark', object: '', width: W, height: H, bitpix: 16, min: 0, max: 65535, mean: 1234.5, median: 1200 } };
}

let dir: string;
let daemon: ImageDaemon;
let archive: Archive;
let monitor: Monitor;
let web: WebServer;
let secured: WebServer;
let sse: SseClient;
let ws: WsClient;
const TOKEN = 'viewer-token-0123456789';

async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL(url, web.url), { headers });
}

async function json<T>(url: string): Promise<T> {
  const res = await get(url);
  expect(res.status, `${url}: ${res.status}`).toBe(200);
  return (await res.json()) as T;
}

const imageInfoRequests = (): number => daemon.received.filter((l) => l.startsWith('image_info')).length;
const fileRequests = (): number => daemon.received.filter((l) => l.startsWith('image ')).length;

/** Publishes frame n and waits until it is indexed; returns its record. */
async function indexed(n: number): Promise<ImageRecord> {
  const f = frame(n);
  daemon.publish(f.path, f.bytes, f.info);
  return eventually(async () => {
    const { images } = await json<{ images: ImageRecord[] }>(`/api/images?device=ccd`);
    const rec = images.find((i) => i.path === f.path);
    expect(rec).toBeDefined();
    return rec!;
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-web-images-'));
  daemon = new ImageDaemon();
  await daemon.start();
  archive = await openArchive({ kind: 'sqlite', path: path.join(dir, 'archive.sqlite') });
  monitor = await startMonitor({
    peers: [{ name: 'ccd', host: '127.0.0.1', port: daemon.port }],
    archive,
    listen: false,
    logger: silentLogger(),
    // Small enough that the huge announced size is refused, big enough for every real frame here.
    imageMaxBytes: 8 * 1024 * 1024,
  });
  web = await startWeb({ monitor, port: 0, logger: silentLogger() });
  secured = await startWeb({ monitor, port: 0, logger: silentLogger(), tokens: [{ name: 'viewer', token: TOKEN, role: 'viewer' }] });
  await eventually(() => expect(monitor.peer('ccd')?.connected).toBe(true));
  sse = await openSse(new URL('/api/stream', web.url).href);
  ws = await openWs(new URL('/api/ws', web.url).href.replace(/^http/, 'ws'));
}, 30_000);

afterAll(async () => {
  sse?.close();
  ws?.close();
  await secured?.close();
  await web?.close();
  await monitor?.close();
  await archive?.close();
  await daemon?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('images: monitor ingestion and the web API', () => {
  let first: ImageRecord;
  const f1 = frame(1);

  it('indexes a new last_image, logs it and announces it on the SSE stream', async () => {
    first = await indexed(1);
    expect(first).toEqual({ id: first.id, t: T0 + 1000, device: 'ccd', path: f1.path, frame: 1, exptime: 1.5, type: 'dark', object: '', width: W, height: H, bitpix: 16, bytes: f1.bytes.length, min: 0, max: 65535, mean: 1234.5, median: 1200 });
    const ev = await sse.next((e) => e.event === 'image', 15_000);
    expect(ev.data).toEqual(first);
    const msg = await ws.next((m) => m.type === 'image', 15_000);
    expect(msg.data).toEqual(first);
    await eventually(() => expect(monitor.recentMessages().map((m) => `${m.level} ${m.message}`)).toContain('info new image archon-20261203-170000-f000001.fits (ccd, 1.5 s, dark)'));
  });

  it('serves the header, the identical FITS file and the pixels, with one transfer from the daemon', async () => {
    const before = fileRequests();
    const detail = await json<{ image: ImageRecord; header: Array<{ key: string; value: unknown; comment: string }> }>(`/api/images/${first.id}`);
    expect(detail.image).toEqual(first);
    expect(detail.header).toContainEqual({ key: 'EXPTIME', value: 1.5, comment: '[s]' });
    expect(detail.header).toContainEqual({ key: 'LABWIRE CHILLER TEMPERATURE', value: 20.25, comment: 'degC' });
    expect(detail.header).toContainEqual({ key: 'LABWIRE CHILLER STATE_TEXT', value: 'a long text '.repeat(12).trim(), comment: '' });

    const file = await get(`/api/images/${first.id}/fits`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/fits');
    expect(file.headers.get('content-disposition')).toBe('attachment; filename="archon-20261203-170000-f000001.fits"');
    expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(f1.bytes))).toBe(true);

    const px = await get(`/api/images/${first.id}/pixels`);
    expect(px.status).toBe(200);
    expect(px.headers.get('content-type')).toBe('application/octet-stream');
    expect([px.headers.get('x-image-width'), px.headers.get('x-image-height'), px.headers.get('x-image-bitpix')]).toEqual([String(W), String(H), '16']);
    const raw = Buffer.from(await px.arrayBuffer());
    expect(raw.length).toBe(W * H * 2);
    const got = Array.from({ length: W * H }, (_, i) => raw.readUInt16LE(2 * i));
    expect(got).toEqual(Array.from(f1.pixels));
    expect(fileRequests() - before).toBe(1);
  });

  it('asks again after a reconnect, but indexes and logs the same image once', async () => {
    const asked = imageInfoRequests();
    daemon.dropAll();
    await eventually(() => expect(imageInfoRequests()).toBeGreaterThan(asked));
    await monitor.imagesIdle();
    expect(await archive.listImages!({ device: 'ccd' })).toHaveLength(1);
    expect(monitor.recentMessages().filter((m) => m.message.startsWith('new image archon-20261203-170000-f000001')).length).toBe(1);
  });

  it('refuses to forward a command declared binary with send, before it reaches the daemon, and keeps the peer connected', async () => {
    const before = fileRequests();
    await expect(monitor.send('ccd', `image path=${f1.path}`, { who: 'test', peer: 'test' })).rejects.toThrow(/answers "image" with a binary block.*\/api\/images/);
    expect(fileRequests()).toBe(before);
    expect(monitor.peer('ccd')?.connected).toBe(true);
  });

  it('lists by range and limit; refuses bad queries and unknown ids with JSON errors', async () => {
    const second = await indexed(2);
    const { images } = await json<{ images: ImageRecord[] }>('/api/images');
    expect(images.map((i) => i.frame)).toEqual([2, 1]);
    expect((await json<{ images: ImageRecord[] }>('/api/images?limit=1')).images).toEqual([second]);
    expect((await json<{ images: ImageRecord[] }>(`/api/images?from=${T0 + 1500}`)).images).toEqual([second]);
    expect((await json<{ images: ImageRecord[] }>('/api/images?device=nobody')).images).toEqual([]);
    const missing = await get(`/api/images/${second.id + 1000}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'NoSuchImage' });
    const bad = await get('/api/images/abc/pixels');
    expect(bad.status).toBe(400);
    expect((await get('/api/images?from=2026-12-04T00:00:00Z&to=2026-12-03T00:00:00Z')).status).toBe(400);
  });

  it('needs the same role as the rest of /api/, and is in the OpenAPI document', async () => {
    const url = new URL(`/api/images/${first.id}/pixels`, secured.url);
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(new URL('/api/images', secured.url))).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    const doc = await json<{ paths: Record<string, Record<string, { 'x-role': string }>> }>('/api/openapi.json');
    for (const p of ['/api/images', '/api/images/{id}', '/api/images/{id}/fits', '/api/images/{id}/pixels']) expect(doc.paths[p]?.get?.['x-role']).toBe('viewer');
  });
});

describe('images: faults', () => {
  it('a daemon that answers image_info with an error: logged, nothing indexed, the monitor carries on', async () => {
    daemon.fault = 'infoError';
    const f = frame(3);
    daemon.publish(f.path, f.bytes, f.info);
    await eventually(() => expect(monitor.recentMessages().map((m) => m.message).join('\n')).toMatch(/ccd: cannot index image archon-20261203-170000-f000003\.fits: HardwareError: .*rebooting/));
    await monitor.imagesIdle();
    expect((await archive.listImages!({})).some((i) => i.path === f.path)).toBe(false);
    expect(monitor.peer('ccd')?.connected).toBe(true);
    daemon.fault = 'none';
    // The next image goes through.
    await indexed(4);
  });

  it('the link drops during the binary block: HTTP 502 with a message, the monitor keeps running, a retry works', async () => {
    const rec = await indexed(5);
    daemon.fault = 'dropMidBlock';
    const res = await get(`/api/images/${rec.id}/fits`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('ImageFetchFailed');
    expect(body.message).toMatch(/cannot fetch archon-20261203-170000-f000005\.fits from ccd: .*connection/);
    expect(monitor.peer('ccd')?.connected).toBe(true);
    daemon.fault = 'none';
    const again = await get(`/api/images/${rec.id}/fits`);
    expect(again.status).toBe(200);
    expect(Buffer.from(await again.arrayBuffer()).equals(Buffer.from(frame(5).bytes))).toBe(true);
  });

  it('a binary block announced over the limit is refused before it is read', async () => {
    const rec = await indexed(6);
    daemon.fault = 'hugeSize';
    const res = await get(`/api/images/${rec.id}/pixels`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('ImageTooLarge');
    expect(body.message).toMatch(/64 GiB.*over the limit of 8 MiB/);
    daemon.fault = 'none';
    expect(monitor.peer('ccd')?.connected).toBe(true);
    // The monitor's own connection is untouched: values still flow.
    await indexed(7);
  });

  it('many files at once: every request answered, at most two transfers from one daemon at a time', async () => {
    const recs = [];
    for (let n = 20; n < 26; n++) recs.push(await indexed(n));
    daemon.imageDelayMs = 50;
    daemon.peakConnections = daemon.connectionCount;
    try {
      const answers = await Promise.all(recs.map(async (r) => {
        const res = await get(`/api/images/${r.id}/fits`);
        return [res.status, Buffer.from(await res.arrayBuffer()).equals(Buffer.from(frame(r.frame!).bytes))];
      }));
      expect(answers).toEqual(recs.map(() => [200, true]));
      // The monitor's own connection and at most two fetch connections.
      expect(daemon.peakConnections).toBeLessThanOrEqual(3);
      expect(daemon.peakConnections).toBeGreaterThanOrEqual(2);
    } finally {
      daemon.imageDelayMs = 0;
    }
  });

  it('beyond two transfers and sixteen waiting for one, a download is told 503 Busy rather than queued without bound', async () => {
    const recs = [];
    for (let n = 40; n < 59; n++) recs.push(await indexed(n));
    daemon.imageDelayMs = 2000;
    try {
      const answers = await Promise.all(recs.map(async (r) => (await get(`/api/images/${r.id}/fits`)).status));
      expect(answers.filter((s) => s === 200)).toHaveLength(18);
      expect(answers.filter((s) => s === 503)).toHaveLength(1);
      // Busy is said, and taken back once the queue has room.
      expect((await get(`/api/images/${recs[0]!.id}/fits`)).status).toBe(200);
    } finally {
      daemon.imageDelayMs = 0;
    }
  }, 120_000);

  it('a file that is not a readable FITS image: the header and pixels are 502 BadImage, the download is the bytes as they are', async () => {
    const f = frame(30);
    const truncated = f.bytes.slice(0, f.bytes.length - 3000);
    daemon.publish(f.path, truncated, f.info);
    const rec = await eventually(async () => {
      const { images } = await json<{ images: ImageRecord[] }>('/api/images?device=ccd');
      const r = images.find((i) => i.path === f.path);
      expect(r).toBeDefined();
      return r!;
    });
    const res = await get(`/api/images/${rec.id}/pixels`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('BadImage');
    expect(body.message).toMatch(/archon-20261203-170000-f000030\.fits from ccd is not a readable FITS image: the data unit is short/);
    // The header itself is whole: it is served.
    expect((await get(`/api/images/${rec.id}`)).status).toBe(200);
    const file = await get(`/api/images/${rec.id}/fits`);
    expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(truncated))).toBe(true);
    const junk = frame(31);
    daemon.publish(junk.path, new TextEncoder().encode('not a FITS file at all'), junk.info);
    const rec2 = await eventually(async () => {
      const { images } = await json<{ images: ImageRecord[] }>('/api/images?device=ccd');
      const r = images.find((i) => i.path === junk.path);
      expect(r).toBeDefined();
      return r!;
    });
    const head = await get(`/api/images/${rec2.id}`);
    expect(head.status).toBe(502);
    expect(await head.json()).toMatchObject({ code: 'BadImage' });
  });

  it('a device that is down: 503 CommunicationFailed', async () => {
    const rec = await indexed(8);
    await daemon.stop();
    try {
      await eventually(() => expect(monitor.peer('ccd')?.connected).toBe(false));
      const res = await get(`/api/images/${rec.id}/fits`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'CommunicationFailed' });
    } finally {
      await daemon.start();
    }
    await eventually(() => expect(monitor.peer('ccd')?.connected).toBe(true));
  });
});

describe('images: a daemon that requires a token', () => {
  it('the fetch connection authenticates with the peer token too', async () => {
    const token = 'daemon-token-0123456789';
    const d = new ImageDaemon(token);
    await d.start();
    const a = await openArchive({ kind: 'sqlite', path: path.join(dir, 'token.sqlite') });
    const m = await startMonitor({ peers: [{ name: 'cam', host: '127.0.0.1', port: d.port, token }], archive: a, listen: false, logger: silentLogger() });
    const w = await startWeb({ monitor: m, port: 0, logger: silentLogger() });
    try {
      await eventually(() => expect(m.peer('cam')?.connected).toBe(true));
      const f = frame(9);
      d.publish(f.path, f.bytes, f.info);
      const rec = await eventually(async () => {
        const [r] = await a.listImages!({ device: 'cam' });
        expect(r).toBeDefined();
        return r!;
      });
      const res = await fetch(new URL(`/api/images/${rec.id}/fits`, w.url));
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(f.bytes))).toBe(true);
      expect(d.received.filter((l) => l.startsWith('auth ')).length).toBeGreaterThanOrEqual(2);
    } finally {
      await w.close();
      await m.close();
      await a.close();
      await d.stop();
    }
  });
});

describe('images: the web lab of the browser tests', () => {
  it('startWebLab({images: true}) has an image source ccd whose images reach the API', async () => {
    const { startWebLab } = await import('../src/web/test-helpers/web-lab.js');
    const lab = await startWebLab({ images: true });
    try {
      await eventually(() => expect(lab.monitor.peer('ccd')?.connected).toBe(true));
      const f = frame(11);
      lab.imageDaemon!.publish(f.path, f.bytes, f.info);
      const rec = await eventually(async () => {
        const res = await fetch(new URL('/api/images?device=ccd', lab.web.url));
        const { images } = (await res.json()) as { images: ImageRecord[] };
        expect(images).toHaveLength(1);
        return images[0]!;
      });
      const px = await fetch(new URL(`/api/images/${rec.id}/pixels`, lab.web.url));
      expect(px.status).toBe(200);
      expect((await px.arrayBuffer()).byteLength).toBe(W * H * 2);
    } finally {
      await lab.close();
    }
  });
});
