/**
 * Images through a real labwire daemon (src/daemon): a small camera family whose `take` writes a
 * FITS frame and announces it with ctx.publish({last_image}), whose `image_info` describes it and
 * whose `image` answers with a BinaryResult of kind fits. The monitor indexes it, the web serves
 * the identical file and its pixels: the daemon's binary block and the monitor's fetch agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openArchive, type Archive, type ImageRecord } from '../src/archive/index.js';
import { BinaryResult, defineDevice, type AnyDeviceDefinition } from '../src/daemon/api.js';
import { startDaemon, type Daemon } from '../src/daemon/daemon.js';
import { writeImage16 } from '../src/fits/index.js';
import { lineSplitter } from '../src/links/splitters.js';
import type { ExchangeLike } from '../src/links/types.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { eventually } from '../src/testing/eventually.js';
import { FakeTcpDevice } from '../src/testing/fake-devices.js';
import { silentLogger } from '../src/util/logger.js';
import { startWeb, type WebServer } from '../src/web/server.js';

const W = 300;
const H = 200;
const files = new Map<string, { bytes: Uint8Array; pixels: Uint16Array; frame: number }>();

function take(frame: number): string {
  const pixels = new Uint16Array(W * H);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + frame * 1000) & 0xffff;
  const bytes = writeImage16({ width: W, height: H, pixels, cards: [{ key: 'EXPTIME', value: 0.5 }, { key: 'FRAMENUM', value: frame }] });
  const path = `/images/cam-f${String(frame).padStart(6, '0')}.fits`;
  files.set(path, { bytes, pixels, frame });
  return path;
}

const camera = defineDevice({
  type: 'camera',
  title: 'Test camera writing FITS frames',
  options: z.object({}).strict(),
  exchange: { timeoutMs: 2000 },
  splitter: () => lineSplitter(),
  params: {
    last_image: { type: 'string', readonly: true, description: 'path of the last FITS file' },
    level: { type: 'float', readonly: true, description: 'a reading' },
  },
  commands: {
    take: {
      description: 'writes a frame and announces it',
      write: true,
      args: { frame: { type: 'int', description: 'frame number' } },
      run: async (_d, args, ctx) => {
        const path = take(Number(args.frame));
        ctx.publish({ last_image: path });
        return { path };
      },
    },
    image_info: {
      description: 'what an image holds',
      write: false,
      args: { path: { type: 'string', description: 'file' } },
      run: async (_d, args) => {
        const f = files.get(String(args.path));
        if (!f) throw new Error(`no image ${String(args.path)}`);
        return { path: String(args.path), t: 1764781200000 + f.frame, frame: f.frame, exptime: 0.5, type: 'bias', object: 'none', width: W, height: H, bitpix: 16, bytes: f.bytes.length, min: 0, max: 65535, mean: 32767.5, median: 32768 };
      },
    },
    image: {
      description: 'the FITS file',
      write: false,
      args: { path: { type: 'string', description: 'file' } },
      run: async (_d, args) => {
        const f = files.get(String(args.path));
        if (!f) throw new Error(`no image ${String(args.path)}`);
        return new BinaryResult('fits', Buffer.from(f.bytes), { path: String(args.path), bytes: f.bytes.length });
      },
    },
  },
  poll: [{ name: 'level', everyMs: 200, read: async (d: ExchangeLike) => ({ level: Number(String(await d.request('READ\n'))) }) }],
  createDriver: (exchange) => exchange,
}) as unknown as AnyDeviceDefinition;

let instrument: FakeTcpDevice;
let daemon: Daemon;
let archive: Archive;
let monitor: Monitor;
let web: WebServer;

beforeAll(async () => {
  instrument = new FakeTcpDevice((line) => (line === 'READ' ? '1.5\n' : undefined));
  await instrument.start();
  daemon = await startDaemon({ definition: camera, link: instrument.spec, name: 'cam', port: 0, logger: silentLogger(), version: 'test' });
  archive = await openArchive({ kind: 'sqlite', path: ':memory:' });
  monitor = await startMonitor({ peers: [{ name: 'cam', host: '127.0.0.1', port: daemon.port }], archive, listen: false, logger: silentLogger() });
  web = await startWeb({ monitor, port: 0, logger: silentLogger() });
  await eventually(() => expect(monitor.peer('cam')?.connected).toBe(true));
}, 30_000);

afterAll(async () => {
  await web?.close();
  await monitor?.close();
  await archive?.close();
  await daemon?.close();
  await instrument?.stop();
});

describe('images from a real daemon', () => {
  it('take → indexed → the identical FITS file and its pixels over HTTP', async () => {
    const reply = await monitor.send('cam', 'take frame=7', { who: 'test', peer: 'local' });
    expect(reply).toMatch(/^ok take path=/);
    const path = '/images/cam-f000007.fits';
    const rec = await eventually(async () => {
      const [r] = await archive.listImages!({ device: 'cam' });
      expect(r?.path).toBe(path);
      return r!;
    });
    expect(rec).toMatchObject({ device: 'cam', frame: 7, exptime: 0.5, type: 'bias', width: W, height: H, bitpix: 16, bytes: files.get(path)!.bytes.length });
    const file = await fetch(new URL(`/api/images/${rec.id}/fits`, web.url));
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(files.get(path)!.bytes))).toBe(true);
    const px = await fetch(new URL(`/api/images/${rec.id}/pixels`, web.url));
    const raw = Buffer.from(await px.arrayBuffer());
    expect(raw.equals(Buffer.from(files.get(path)!.pixels.buffer))).toBe(true);
    const detail = (await (await fetch(new URL(`/api/images/${rec.id}`, web.url))).json()) as { image: ImageRecord; header: Array<{ key: string; value: unknown }> };
    expect(detail.header).toContainEqual({ key: 'FRAMENUM', value: 7, comment: '' });
  });

  it('a daemon error for the file is a 502 with its message; the peer stays connected', async () => {
    const rec = await archive.addImage!({ t: 1, device: 'cam', path: '/images/gone.fits', frame: null, exptime: null, type: '', object: '', width: 1, height: 1, bitpix: 16, bytes: null, min: null, max: null, mean: null, median: null });
    const res = await fetch(new URL(`/api/images/${rec.image.id}/fits`, web.url));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'ImageFetchFailed', message: expect.stringMatching(/gone\.fits/) });
    expect(monitor.peer('cam')?.connected).toBe(true);
  });
});
