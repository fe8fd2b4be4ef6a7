/**
 * A camera daemon for the CLI's `expose` until the Archon family lands: a test family with the
 * Archon contract's exposure parameters (phase, exposure_time, frames_left, last_image,
 * last_error, images_written) and commands (`expose`, `image` as a binary block), run by the real
 * daemon in front of a fake instrument. The phase walk runs on timers and reports with
 * ctx.publish, `state` is busy while phase ≠ idle, files are written to the daemon's folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BinaryResult, defineDevice, type AnyDeviceDefinition, type HandlerContext } from '../../src/daemon/api.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { lineSplitter } from '../../src/links/splitters.js';
import type { ExchangeLike } from '../../src/links/types.js';
import { FakeTcpDevice } from '../../src/testing/fake-devices.js';
import { silentLogger } from '../../src/util/logger.js';
import { LabwireError, type WireValue } from '../../src/wire/types.js';

/** What the next exposure does: succeed, fail while fetching, or never finish. */
export type CameraFault = 'none' | 'fetchFails' | 'stuck';

interface Camera {
  exchange: ExchangeLike;
  dataDir: string;
  phase: string;
  written: number;
  frame: number;
  fault: CameraFault;
  timers: Set<NodeJS.Timeout>;
}

/** The bytes of frame n: a recognisable FITS-like block (not a valid FITS file; the CLI does not care). */
export function frameBytes(frame: number): Buffer {
  const b = Buffer.alloc(2880 * 3, 0x20);
  b.write(`SIMPLE  =                    T / fake frame ${frame}`, 0, 'latin1');
  for (let i = 2880; i < b.length; i++) b[i] = (i * 7 + frame) & 0xff;
  return b;
}

const cameras = new Set<Camera>();

function later(cam: Camera, ms: number, f: () => void): void {
  const t = setTimeout(() => {
    cam.timers.delete(t);
    f();
  }, ms);
  cam.timers.add(t);
}

/** One frame after another: exposing → reading_out → writing → (next frame | idle). */
function walk(cam: Camera, ctx: HandlerContext, ms: number, left: number, type: string): void {
  later(cam, ms, () => {
    cam.phase = 'reading_out';
    ctx.publish({ phase: 'reading_out', exposure_elapsed: ms / 1000, readout_percent: 0 });
    if (cam.fault === 'stuck') return;
    later(cam, 50, () => {
      if (cam.fault === 'fetchFails') {
        cam.phase = 'idle';
        ctx.publish({ phase: 'idle', frames_left: 0, last_error: `frame ${cam.frame + 1}: the link dropped during FETCH; no file written` });
        return;
      }
      cam.frame++;
      const day = path.join(cam.dataDir, '2026-12-03');
      fs.mkdirSync(day, { recursive: true });
      const file = path.join(day, `fakecam-${type}-f${String(cam.frame).padStart(6, '0')}.fits`);
      cam.phase = 'writing';
      ctx.publish({ phase: 'writing', readout_percent: 100 });
      fs.writeFileSync(file, frameBytes(cam.frame));
      cam.written++;
      const more = left - 1;
      ctx.publish({ last_image: file, images_written: cam.written, frame: cam.frame, frames_left: more, ...(more === 0 ? { phase: 'idle' } : { phase: 'exposing' }) });
      if (more === 0) cam.phase = 'idle';
      else {
        cam.phase = 'exposing';
        walk(cam, ctx, ms, more, type);
      }
    });
  });
}

export const cameraDefinition = defineDevice({
  type: 'fakecam',
  title: 'Test camera with the Archon exposure contract',
  options: z.object({ dataDir: z.string() }).strict(),
  exchange: { timeoutMs: 2000 },
  splitter: () => lineSplitter(),
  params: {
    phase: { type: 'enum', values: ['idle', 'exposing', 'reading_out', 'fetching', 'writing'], readonly: true, description: 'exposure phase' },
    exposure_time: { type: 'float', unit: 's', readonly: true, description: 'requested time' },
    exposure_elapsed: { type: 'float', unit: 's', readonly: true, description: 'elapsed' },
    readout_percent: { type: 'float', unit: '%', readonly: true, description: 'readout' },
    frames_left: { type: 'int', readonly: true, description: 'frames to come' },
    frame: { type: 'int', readonly: true, description: 'newest frame' },
    last_image: { type: 'string', readonly: true, description: 'last FITS file' },
    last_error: { type: 'string', readonly: true, description: 'why the last exposure failed' },
    images_written: { type: 'int', readonly: true, description: 'files since start' },
  },
  commands: {
    expose: {
      description: 'start an exposure',
      write: true,
      args: {
        time: { type: 'float', unit: 's', description: 'exposure time' },
        count: { type: 'int', description: 'frames', optional: true },
        type: { type: 'enum', values: ['object', 'bias', 'dark', 'flat'], description: 'image type', optional: true },
        object: { type: 'string', description: 'OBJECT card', optional: true },
      },
      run: async (cam: Camera, args, ctx) => {
        if (cam.phase !== 'idle') throw new LabwireError('IsBusy', `an exposure is running (${cam.phase}); wait for state=idle or abort it`, 'expose');
        const time = Number(args.time ?? 0);
        if (time < 0 || time > 1000) throw new LabwireError('RangeError', `exposure time ${time} s is outside 0 … 1000 s`, 'expose');
        const count = Number(args.count ?? 1);
        cam.phase = 'exposing';
        walk(cam, ctx, Math.round(time * 1000), count, String(args.type ?? 'object'));
        const results: Record<string, WireValue> = { phase: 'exposing', exposure_time: time, frames_left: count, last_error: '' };
        return results;
      },
    },
    image: {
      description: 'the bytes of a FITS file of this daemon',
      write: false,
      args: { path: { type: 'string', description: 'file', optional: true } },
      run: async (cam: Camera, args, ctx) => {
        const want = String(args.path ?? ctx.values.last_image ?? '');
        const root = path.resolve(cam.dataDir);
        const full = path.resolve(want);
        if (want === '' || !full.startsWith(`${root}${path.sep}`) || !fs.existsSync(full)) {
          throw new LabwireError('NoSuchParameter', `no image ${want || '(none yet)'} in ${root}`, 'image');
        }
        const data = fs.readFileSync(full);
        return new BinaryResult('fits', data, { path: full, bytes: data.length });
      },
    },
  },
  stateOverride: (values) => (values.phase !== 'idle' && values.phase !== null && values.phase !== undefined ? { state: 'busy', text: `${String(values.phase)}` } : undefined),
  identify: async () => ({ phase: 'idle', last_image: '', last_error: '', frames_left: 0, images_written: 0, frame: 0 }),
  poll: [{ name: 'alive', everyMs: 500, read: async (cam: Camera) => (await cam.exchange.request('READ\n'), {}) }],
  createDriver: (exchange, options: { dataDir: string }) => {
    const cam: Camera = { exchange, dataDir: options.dataDir, phase: 'idle', written: 0, frame: 0, fault: 'none', timers: new Set() };
    cameras.add(cam);
    return cam;
  },
}) as unknown as AnyDeviceDefinition;

export interface CameraDaemon {
  daemon: Daemon;
  dataDir: string;
  /** What the next exposures do. */
  setFault(fault: CameraFault): void;
  close(): Promise<void>;
}

export async function startCameraDaemon(dataDir: string): Promise<CameraDaemon> {
  const instrument = new FakeTcpDevice((line) => (line === 'READ' ? 'ok\n' : undefined));
  await instrument.start();
  const before = new Set(cameras);
  const daemon = await startDaemon({ definition: cameraDefinition, options: { dataDir }, link: instrument.spec, name: 'cam', port: 0, logger: silentLogger(), version: 'test' });
  const cam = [...cameras].find((c) => !before.has(c))!;
  return {
    daemon,
    dataDir,
    setFault(fault) {
      cam.fault = fault;
    },
    async close() {
      for (const t of cam.timers) clearTimeout(t);
      cameras.delete(cam);
      await daemon.close();
      await instrument.stop();
    },
  };
}
