/**
 * A stand-in for the image side of the monitor (issue 12, contract §3) until part "web" lands:
 * the real web app (page, session, live stream) over a FakeMonitor with one image source `ccd`,
 * and in front of it this fixture's own answers to the image routes, from FITS files made with
 * src/fits writeImage16. `addImage` writes a frame, indexes it and pushes the live `image` event
 * through the real hub, as the monitor will. Faults: a frame's pixel answer can fail (502, the
 * daemon gone) or come shorter than its size says.
 *
 * The lead switches the browser test to the real monitor once the web branch is merged.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { writeImage16, type Card } from '../../src/fits/index.js';
import { createWebApp } from '../../src/web/server.js';
import type { EventType } from '../../src/web/hub.js';
import { FakeMonitor } from '../../src/web/test-helpers/fake-monitor.js';
import type { DescribeDoc } from '../../src/wire/types.js';
import { silentLogger } from '../../src/util/logger.js';
import type { HeaderCard, ImageRecord } from '../../src/web/ui/images-api.js';

export const CCD_DESCRIBE: DescribeDoc = {
  name: 'ccd',
  type: 'archon',
  title: 'STA Archon CCD controller (fixture)',
  protocol: 'labwire/1',
  version: 'test',
  readOnly: false,
  params: {
    hw_connected: { type: 'bool', description: 'link to the controller', readonly: true },
    state: { type: 'enum', description: 'state', readonly: true, values: ['idle', 'busy', 'error'] },
    state_text: { type: 'string', description: 'state text', readonly: true },
    phase: { type: 'enum', description: 'exposure phase', readonly: true, values: ['idle', 'exposing', 'reading_out', 'fetching', 'writing'] },
    exposure_time: { type: 'float', unit: 's', description: 'requested exposure time', readonly: true },
    exposure_elapsed: { type: 'float', unit: 's', description: 'time exposed so far', readonly: true },
    readout_percent: { type: 'float', unit: '%', description: 'readout progress', readonly: true },
    last_image: { type: 'string', description: 'last FITS file written', readonly: true },
    last_error: { type: 'string', description: 'error of the last exposure', readonly: true },
    images_written: { type: 'int', description: 'images written since start', readonly: true },
  },
  commands: {
    expose: { description: 'take an exposure', write: true, args: { time: { type: 'float', description: 'seconds', unit: 's' } } },
    image_info: { description: 'facts of an image', write: false, args: { path: { type: 'string', description: 'file', optional: true } } },
  },
};

export interface FrameSpec {
  width?: number;
  height?: number;
  frame: number;
  exptime?: number;
  type?: string;
  object?: string;
  /** Exposure start, unix ms (default now). */
  t?: number;
}

/**
 * A recognisable frame: bias 1000 with a gradient, a hot column, stars whose places depend on
 * the frame number, and a bright block in the lower-left corner (FITS pixel 1,1) that shows
 * whether the page flips rows.
 */
export function fixtureFrame(width: number, height: number, frame: number): Uint16Array {
  const px = new Uint16Array(width * height);
  let seed = 1 + frame * 7919;
  const rand = (): number => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) px[y * width + x] = 1000 + Math.round((x / width) * 60 + (y / height) * 30 + rand() * 12);
  }
  for (let y = 0; y < height; y++) px[y * width + Math.floor(width * 0.7)] = 30000;
  for (let s = 0; s < 6 + frame; s++) {
    const cx = Math.floor(rand() * width);
    const cy = Math.floor(rand() * height);
    const peak = 5000 + rand() * 40000;
    for (let dy = -6; dy <= 6; dy++) {
      for (let dx = -6; dx <= 6; dx++) {
        const x = cx + dx;
        const y = cy + dy;
        if (x < 0 || y < 0 || x >= width || y >= height) continue;
        const v = px[y * width + x]! + peak * Math.exp(-(dx * dx + dy * dy) / 4);
        px[y * width + x] = Math.min(65535, Math.round(v));
      }
    }
  }
  for (let y = 0; y < Math.floor(height / 8); y++) for (let x = 0; x < Math.floor(width / 8); x++) px[y * width + x] = 20000;
  return px;
}

/** Header cards of a FITS file: key, value (strings unquoted, T/F as booleans), comment. */
export function readHeader(fits: Uint8Array): { cards: HeaderCard[]; dataOffset: number } {
  const cards: HeaderCard[] = [];
  for (let off = 0; off + 80 <= fits.length; off += 80) {
    const card = Buffer.from(fits.subarray(off, off + 80)).toString('latin1');
    const key8 = card.slice(0, 8).trimEnd();
    if (key8 === 'END') return { cards, dataOffset: Math.ceil((off + 80) / 2880) * 2880 };
    let key = key8;
    let rest: string;
    if (key8 === 'HIERARCH' && card.includes('=')) {
      const eq = card.indexOf('=');
      key = card.slice(9, eq).trim();
      rest = card.slice(eq + 1);
    } else if (card.slice(8, 10) === '= ') {
      rest = card.slice(10);
    } else {
      // Commentary cards: the text as value, as the monitor's reader gives it.
      if (key8 !== '' || card.trim() !== '') cards.push({ key: key8, value: card.slice(8).trim(), comment: '' });
      continue;
    }
    rest = rest.trimStart();
    let value: HeaderCard['value'];
    let comment: string;
    if (rest.startsWith("'")) {
      let i = 1;
      let s = '';
      while (i < rest.length) {
        if (rest[i] === "'" && rest[i + 1] === "'") {
          s += "'";
          i += 2;
        } else if (rest[i] === "'") break;
        else s += rest[i++];
      }
      value = s.trimEnd();
      const slash = rest.indexOf('/', i + 1);
      comment = slash >= 0 ? rest.slice(slash + 1).trim() : '';
    } else {
      const slash = rest.indexOf('/');
      const text = (slash >= 0 ? rest.slice(0, slash) : rest).trim();
      comment = slash >= 0 ? rest.slice(slash + 1).trim() : '';
      value = text === 'T' ? true : text === 'F' ? false : text === '' ? null : Number(text.replace('D', 'E'));
    }
    cards.push({ key, value, comment });
  }
  throw new Error('no END card');
}

export type PixelFault = 'error' | 'short';

interface Stored {
  record: ImageRecord;
  fits: Uint8Array;
  header: HeaderCard[];
  pixelsLE: Buffer;
}

export interface ImagesFixture {
  url: string;
  monitor: FakeMonitor;
  images: ImageRecord[];
  /**
   * Writes a FITS file, indexes it and announces it on the live stream. `pixels` breaks its pixel
   * answer; `wide` serves the pixels as 32-bit values (each × 65 537, beyond 16 bits), as for a
   * controller sampling 32 bits (the FITS file itself stays 16-bit: this is a fixture); `silent`
   * indexes it without the live event (as if the stream was down when it was sent).
   */
  addImage(spec: FrameSpec, opts?: { pixels?: PixelFault; wide?: boolean; silent?: boolean }): ImageRecord;
  /** Ends every live stream from the server's side (the page reconnects by itself). */
  dropStreams(): void;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function stats(px: Uint16Array): { min: number; max: number; mean: number; median: number } {
  let min = 65535;
  let max = 0;
  let sum = 0;
  for (const v of px) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const sorted = Uint16Array.from(px).sort();
  const m = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
  return { min, max, mean: sum / px.length, median };
}

export async function startImagesFixture(opts: { labCards?: number } = {}): Promise<ImagesFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-images-fixture-'));
  const monitor = new FakeMonitor({
    peers: [
      {
        name: 'ccd',
        describe: CCD_DESCRIBE,
        values: { hw_connected: true, state: 'idle', state_text: 'ready', phase: 'idle', exposure_time: 0, exposure_elapsed: 0, readout_percent: 0, last_image: '', last_error: '', images_written: 0 },
      },
    ],
  });
  const { app, hub } = await createWebApp({ monitor, logger: silentLogger() });
  const stored = new Map<number, Stored>();
  const broken = new Map<number, PixelFault>();
  let nextId = 1;

  const handleImages = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const u = new URL(req.url ?? '/', 'http://fixture');
    if (req.method !== 'GET') return sendJson(res, 405, { code: 'BadRequest', message: 'GET only' });
    if (u.pathname === '/api/images') {
      const device = u.searchParams.get('device');
      const limit = Number(u.searchParams.get('limit') ?? 100);
      const images = [...stored.values()].map((s) => s.record).filter((r) => !device || r.device === device).sort((a, b) => b.t - a.t).slice(0, limit);
      return sendJson(res, 200, { images });
    }
    const m = /^\/api\/images\/(\d+)(\/fits|\/pixels)?$/.exec(u.pathname);
    const s = m ? stored.get(Number(m[1])) : undefined;
    if (!m || !s) return sendJson(res, 404, { code: 'NoSuchImage', message: `no image ${m?.[1] ?? u.pathname}` });
    if (m[2] === '/fits') {
      res.writeHead(200, { 'content-type': 'application/fits', 'content-disposition': `attachment; filename="${path.basename(s.record.path)}"`, 'content-length': s.fits.length });
      res.end(Buffer.from(s.fits));
      return;
    }
    if (m[2] === '/pixels') {
      const fault = broken.get(s.record.id);
      if (fault === 'error') return sendJson(res, 502, { code: 'ImageFetchFailed', message: 'ccd could not deliver the file: the link dropped' });
      const body = fault === 'short' ? s.pixelsLE.subarray(0, s.pixelsLE.length >> 1) : s.pixelsLE;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-image-width': s.record.width, 'x-image-height': s.record.height, 'x-image-bitpix': s.record.bitpix, 'content-length': body.length });
      res.end(body);
      return;
    }
    return sendJson(res, 200, { image: s.record, header: s.header });
  };

  const server = http.createServer((req, res) => {
    if ((req.url ?? '').startsWith('/api/images')) handleImages(req, res);
    else app.routing(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const images: ImageRecord[] = [];
  return {
    url: `http://127.0.0.1:${port}/`,
    monitor,
    images,
    addImage(spec, addOpts) {
      const width = spec.width ?? 256;
      const height = spec.height ?? 192;
      const t = spec.t ?? Date.now();
      const type = spec.type ?? 'object';
      const object = spec.object ?? 'test pattern';
      const exptime = spec.exptime ?? 1;
      const pixels = fixtureFrame(width, height, spec.frame);
      const date = new Date(t).toISOString().replace('Z', '');
      const cards: Card[] = [
        { key: 'DATE-OBS', value: date, comment: 'UTC of exposure start' },
        { key: 'EXPTIME', value: exptime, comment: '[s] exposure time' },
        { key: 'IMAGETYP', value: type, comment: 'image type' },
        { key: 'OBJECT', value: object },
        { key: 'FRAMENUM', value: spec.frame, comment: 'controller frame number' },
        { key: 'INSTRUME', value: 'Archon' },
        { key: 'ORIGIN', value: 'labwire' },
        { key: 'LABSTATE', value: 'monitor fixture', comment: 'source of the lab state' },
        { key: 'LABWIRE CHILLER TEMPERATURE', value: 21.5, comment: 'degC' },
        { key: 'LABWIRE CRYOCON LOOP1_SETPOINT', value: -100, comment: 'K' },
      ];
      for (let i = 0; i < (opts.labCards ?? 40); i++) cards.push({ key: `LABWIRE DEV${i % 7} PARAM${i}`, value: i * 1.5, comment: 'unit' });
      const fits = writeImage16({ width, height, pixels, cards });
      const stamp = new Date(t).toISOString().replace(/[-:]/g, '').slice(0, 15).replace('T', '-');
      const file = path.join(dir, `archon-${stamp}-f${String(spec.frame).padStart(6, '0')}.fits`);
      fs.writeFileSync(file, fits);
      const { cards: header, dataOffset } = readHeader(fits);
      // What the monitor's pixel route gives: true unsigned values, little-endian.
      const wide = addOpts?.wide === true;
      const pixelsLE = Buffer.alloc(width * height * (wide ? 4 : 2));
      for (let i = 0; i < width * height; i++) {
        const v = ((fits[dataOffset + 2 * i]! << 8) | fits[dataOffset + 2 * i + 1]!) ^ 0x8000;
        if (wide) pixelsLE.writeUInt32LE(v * 65537, 4 * i);
        else pixelsLE.writeUInt16LE(v, 2 * i);
      }
      const st = stats(pixels);
      const record: ImageRecord = {
        id: nextId++, t, device: 'ccd', path: file, frame: spec.frame, exptime, type, object, width, height, bitpix: wide ? 32 : 16, bytes: fits.length,
        ...(wide ? { min: st.min * 65537, max: st.max * 65537, mean: st.mean * 65537, median: st.median * 65537 } : st),
      };
      stored.set(record.id, { record, fits, header, pixelsLE });
      if (addOpts?.pixels) broken.set(record.id, addOpts.pixels);
      images.unshift(record);
      monitor.setValues('ccd', { last_image: file, images_written: images.length });
      if (!addOpts?.silent) hub.publish('image' as EventType, record);
      return record;
    },
    dropStreams() {
      hub.closeAll('test: stream dropped');
    },
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
