/**
 * The Archon definition without a network: how SYSTEM/STATUS/FRAME become values, the controller
 * log moved into the message log by the poll, the declared key set and its option, the state
 * text; and the exposure state machine against a scripted driver (LOCK0 after a failed fetch,
 * the failure in last_error and the log, the lab state asked at the start).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDevice } from '../../daemon/resolved-device.js';
import { handlerContext } from '../../testing/handler-context.js';
import { eventually } from '../../testing/eventually.js';
import { formatFrame, parseFrame, parseKeyValues, type FrameInfo } from './codec.js';
import { archonDevice, archonParams, archonOptionsSchema, frameValues, statusValues, systemValues, type ArchonHandle } from './device.js';
import type { ArchonDriver } from './driver.js';
import { Exposure } from './exposure.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('Archon replies as values', () => {
  it('SYSTEM: backplane and module types as words, CCDLab names', () => {
    const v = systemValues(parseKeyValues('BACKPLANE_TYPE=1 BACKPLANE_REV=7 BACKPLANE_VERSION=1.0.1271 MOD_PRESENT=7FE MOD1_TYPE=0 MOD2_TYPE=2 MOD2_REV=3 MOD8_TYPE=11'));
    expect(v).toMatchObject({ backplane_type: 'X12', BACKPLANE_REV: 7, BACKPLANE_VERSION: '1.0.1271', MOD_PRESENT: '7FE', MOD1_TYPE: 'none', MOD2_TYPE: 'AD', MOD2_REV: 3, MOD8_TYPE: 'HeaterX' });
  });

  it('STATUS: / becomes _, POWER a word, VALID=0 says nothing else', () => {
    expect(statusValues(parseKeyValues('VALID=1 LOG=2 POWER=4 BACKPLANE_TEMP=31.5 MOD2/TEMP=36.7 P5V_V=5.001 MOD8/DINPUTS=00000000'))).toEqual({
      VALID: 1,
      LOG: 2,
      power: 'on',
      BACKPLANE_TEMP: 31.5,
      MOD2_TEMP: 36.7,
      P5V_V: 5.001,
      MOD8_DINPUTS: 0,
    });
    expect(statusValues(parseKeyValues('VALID=0 POWER=1 BACKPLANE_TEMP=99'))).toEqual({ VALID: 0 });
  });

  it('FRAME: buffer keys, and frame = the newest complete frame number', () => {
    const info = frame([
      { complete: true, frame: 4 },
      { complete: false, frame: 6 },
      { complete: true, frame: 5 },
    ]);
    const v = frameValues(parseFrame(formatFrame(info)));
    expect(v).toMatchObject({ frame: 5, BUF2FRAME: 6, BUF2COMPLETE: 0, BUF1BASE: 0xa0000000 });
  });

  it('declares the standard keys for 16 slots, and more module keys by option', () => {
    const plain = archonParams(archonOptionsSchema.parse({}));
    expect(Object.keys(plain)).toEqual(expect.arrayContaining(['phase', 'last_image', 'power', 'MOD16_TYPE', 'MOD16_TEMP', 'P100V_I', 'BUF3LINES']));
    expect(plain.MOD8_TEMPA).toBeUndefined();
    const more = archonParams(archonOptionsSchema.parse({ moduleKeys: 'MOD8/TEMPA, MOD6_LVLC_V1' }));
    expect(more.MOD8_TEMPA?.type).toBe('float');
    expect(more.MOD6_LVLC_V1).toBeDefined();
    expect(() => archonOptionsSchema.parse({ moduleKeys: 'TEMPA' })).toThrow(/MOD8\/TEMPA/);
    expect(() => resolveDevice(archonDevice, { options: {} })).not.toThrow();
  });

  it('busy with a state text while an exposure runs', () => {
    const o = archonDevice.stateOverride!;
    expect(o({ phase: 'idle' })).toBeUndefined();
    expect(o({ phase: 'exposing', exposure_elapsed: 3.24, exposure_time: 10 })).toEqual({ state: 'busy', text: 'exposing 3.2 of 10 s' });
    expect(o({ phase: 'reading_out', readout_percent: 40.2, frames_left: 3 })).toEqual({ state: 'busy', text: 'reading out 40 % (3 frames to go)' });
    expect(o({ phase: 'fetching', frame: 12 })?.text).toBe('fetching frame 12');
    expect(o({ phase: 'writing', current_image: '/data/x.fits' })?.text).toBe('writing /data/x.fits');
  });

  it('the status poll moves the controller log into the message log', async () => {
    const log = ['first entry', 'second entry'];
    const driver = {
      status: () => Promise.resolve(parseKeyValues(`VALID=1 LOG=${log.length} POWER=4`)),
      drainLog: (n: number) => Promise.resolve(log.splice(0, n)),
    } as unknown as ArchonDriver;
    const poll = resolveDevice(archonDevice, { options: {} }).poll.find((g) => g.name === 'status')!;
    const ctx = handlerContext();
    const values = await poll.read({ driver } as unknown as ArchonHandle as never, ctx);
    expect(values.LOG).toBe(2);
    expect(ctx.logged).toEqual([
      { level: 'info', message: 'controller: first entry' },
      { level: 'info', message: 'controller: second entry' },
    ]);
  });
});

// ---------------------------------------------------------------- exposures against a scripted driver

function frame(bufs: Array<{ complete: boolean; frame: number; lines?: number }>, wbuf = 1): FrameInfo {
  return {
    timer: 1000n,
    rbuf: 0,
    wbuf,
    buffers: bufs.map((b, i) => ({
      n: i + 1,
      sample: 0,
      complete: b.complete,
      mode: 0,
      base: 0xa0000000 + i * 0x20000000,
      frame: b.frame,
      width: 4,
      height: 2,
      pixels: 4,
      lines: b.lines ?? 2,
      rawBlocks: 0,
      rawLines: 0,
      rawOffset: 0,
      timestamp: 0n,
      reTimestamp: 0n,
      feTimestamp: 0n,
    })),
  };
}

/** A controller whose frame counter moves on after a few FRAME polls; records every call. */
function scriptedDriver(opts: { failFetch?: boolean } = {}): { driver: ArchonDriver; calls: string[] } {
  const calls: string[] = [];
  let polls = 0;
  let started = false;
  const driver = {
    frame: () => {
      calls.push('FRAME');
      if (started) polls += 1;
      const done = polls >= 3;
      return Promise.resolve(frame([{ complete: done, frame: done ? 1 : 0, lines: polls }, { complete: false, frame: 0 }, { complete: false, frame: 0 }]));
    },
    fastLoadParam: (name: string, value: number) => {
      calls.push(`${name}=${value}`);
      if (name === 'Exposures' && value > 0) started = true;
      return Promise.resolve();
    },
    lock: (n: number) => {
      calls.push(`LOCK${n}`);
      return Promise.resolve();
    },
    fetch: (_address: number, into: Uint8Array) => {
      calls.push('FETCH');
      if (opts.failFetch) return Promise.reject(new Error('link to tcp://archon:4242 lost (connection reset)'));
      into.set([1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0]);
      return Promise.resolve({ blocks: 1, ms: 1 });
    },
  } as unknown as ArchonDriver;
  return { driver, calls };
}

function exposure(driver: ArchonDriver): { ex: Exposure; dataDir: string } {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'archon-exposure-'));
  dirs.push(dataDir);
  const ex = new Exposure(driver, {
    dataDir,
    prefix: 'unit',
    params: { exposures: 'Exposures', intMs: 'IntMS', shutter: 'Shutter', abort: 'AbortExposure' },
    pollMs: 5,
    readoutTimeoutMs: 10_000,
    blockTimeoutMs: 1000,
    instrument: 'STA Archon',
    daemon: 'unit',
  });
  return { ex, dataDir };
}

describe('Archon exposure state machine', () => {
  it('sets Shutter, IntMS, then Exposures; fetches under a lock; writes the file; publishes progress', async () => {
    const { driver, calls } = scriptedDriver();
    const { ex, dataDir } = exposure(driver);
    let labAsked = 0;
    const ctx = handlerContext();
    const labCtx = { ...ctx, labState: () => ((labAsked += 1), ctx.labState()) };
    const reply = await ex.start({ time: 0.01, count: 1, type: 'flat', object: 'lamp' }, labCtx);
    expect(reply).toMatchObject({ phase: 'exposing', exposure_time: 0.01, frames_left: 1 });
    expect(labAsked).toBe(1);
    await eventually(() => expect(ex.isBusy).toBe(false), 10_000);
    expect(calls.filter((c) => c !== 'FRAME')).toEqual(['AbortExposure=0', 'Shutter=1', 'IntMS=10', 'Exposures=1', 'LOCK1', 'FETCH', 'LOCK0']);
    const last = ex.lastImage!;
    expect(last.path.startsWith(dataDir)).toBe(true);
    expect(last).toMatchObject({ frame: 1, width: 4, height: 2, bitpix: 16, min: 1, max: 8, median: 4, mean: 4.5, type: 'flat', object: 'lamp' });
    const phases = ctx.published.map((p) => p.phase).filter((p) => p !== undefined);
    expect(phases[0]).toBe('exposing');
    expect(phases).toContain('fetching');
    expect(phases).toContain('writing');
    expect(phases.at(-1)).toBe('idle');
    expect(ctx.published.at(-1)).toMatchObject({ last_error: '' });
    expect(ex.snapshot()).toMatchObject({ images_written: 1, last_image: last.path });
  });

  it('a failed fetch: LOCK0 still sent, last_error and an error in the log, no file, the controller told to stop', async () => {
    const { driver, calls } = scriptedDriver({ failFetch: true });
    const { ex, dataDir } = exposure(driver);
    const ctx = handlerContext();
    await ex.start({ time: 0, count: 2, type: 'bias', object: '' }, ctx);
    await eventually(() => expect(ex.isBusy).toBe(false), 10_000);
    expect(calls.filter((c) => c !== 'FRAME')).toEqual(['AbortExposure=0', 'Shutter=0', 'IntMS=0', 'Exposures=2', 'LOCK1', 'FETCH', 'LOCK0', 'AbortExposure=1', 'Exposures=0']);
    expect(ex.snapshot().last_error).toMatch(/^fetching frame 1 failed: link to tcp:\/\/archon:4242 lost/);
    expect(ctx.logged.some((l) => l.level === 'error' && l.message.includes('fetching frame 1 failed'))).toBe(true);
    expect(fs.readdirSync(dataDir)).toEqual([]);
    expect(ex.lastImage).toBeUndefined();
  });

  it('count=3 with frame 1 overwritten before it was fetched: frames 2 and 3 written, a warning, no hang', async () => {
    const calls: string[] = [];
    let started = false;
    const driver = {
      frame: () => Promise.resolve(started ? frame([{ complete: true, frame: 2 }, { complete: true, frame: 3 }, { complete: false, frame: 0, lines: 0 }], 3) : frame([{ complete: false, frame: 0, lines: 0 }, { complete: false, frame: 0, lines: 0 }, { complete: false, frame: 0, lines: 0 }])),
      fastLoadParam: (name: string, value: number) => {
        if (name === 'Exposures' && value > 0) started = true;
        return Promise.resolve();
      },
      lock: (n: number) => (calls.push(`LOCK${n}`), Promise.resolve()),
      fetch: () => (calls.push('FETCH'), Promise.resolve({ blocks: 1, ms: 1 })),
    } as unknown as ArchonDriver;
    const { ex } = exposure(driver);
    const ctx = handlerContext();
    await ex.start({ time: 0, count: 3, type: 'dark', object: '' }, ctx);
    await eventually(() => expect(ex.isBusy).toBe(false), 10_000);
    expect(calls).toEqual(['LOCK1', 'FETCH', 'LOCK0', 'LOCK2', 'FETCH', 'LOCK0']);
    expect(ex.snapshot()).toMatchObject({ images_written: 2, last_error: '', frames_left: 0 });
    expect(ctx.logged.some((l) => l.level === 'warning' && l.message.includes('frames 1 to 1 were overwritten'))).toBe(true);
  });

  it('a frame overwritten between its FRAME and its LOCK is not fetched: no mixed file, LOCK0, last_error says why', async () => {
    const calls: string[] = [];
    let started = false;
    let locked = false;
    const driver = {
      // Complete frame 1 in buffer 1 until the lock; once locked, buffer 1 shows a new readout.
      frame: () => Promise.resolve(!started ? frame([{ complete: false, frame: 0 }, { complete: false, frame: 0 }, { complete: false, frame: 0 }])
        : locked ? frame([{ complete: false, frame: 1, lines: 3 }, { complete: false, frame: 0 }, { complete: false, frame: 0 }])
          : frame([{ complete: true, frame: 1 }, { complete: false, frame: 0 }, { complete: false, frame: 0 }])),
      fastLoadParam: (name: string, value: number) => {
        if (name === 'Exposures' && value > 0) started = true;
        return Promise.resolve();
      },
      lock: (n: number) => ((locked = n > 0), calls.push(`LOCK${n}`), Promise.resolve()),
      fetch: () => (calls.push('FETCH'), Promise.resolve({ blocks: 1, ms: 1 })),
    } as unknown as ArchonDriver;
    const { ex, dataDir } = exposure(driver);
    await ex.start({ time: 0, count: 1, type: 'dark', object: '' }, handlerContext());
    await eventually(() => expect(ex.isBusy).toBe(false), 10_000);
    expect(calls).toEqual(['LOCK1', 'LOCK0']);
    expect(ex.snapshot().last_error).toMatch(/buffer 1 no longer holds frame 1 complete/);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('refuses a second start while busy, and bad times and counts without touching the controller', async () => {
    const { driver, calls } = scriptedDriver();
    const { ex } = exposure(driver);
    const ctx = handlerContext();
    await expect(ex.start({ time: -0.1, count: 1, type: 'object', object: '' }, ctx)).rejects.toMatchObject({ code: 'RangeError' });
    await expect(ex.start({ time: 1048.576, count: 1, type: 'object', object: '' }, ctx)).rejects.toMatchObject({ code: 'RangeError' });
    await expect(ex.start({ time: Number.NaN, count: 1, type: 'object', object: '' }, ctx)).rejects.toMatchObject({ code: 'RangeError' });
    await expect(ex.start({ time: 1, count: 1.5, type: 'object', object: '' }, ctx)).rejects.toMatchObject({ code: 'RangeError' });
    expect(calls).toEqual([]);
    await ex.start({ time: 0.05, count: 1, type: 'object', object: '' }, ctx);
    await expect(ex.start({ time: 1, count: 1, type: 'object', object: '' }, ctx)).rejects.toMatchObject({ code: 'IsBusy' });
    await eventually(() => expect(ex.isBusy).toBe(false), 10_000);
  });
});
