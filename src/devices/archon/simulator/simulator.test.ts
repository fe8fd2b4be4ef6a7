/**
 * The Archon simulator on a real TCP socket with a raw client: framing, ids, silence, `?HH` with
 * log entries, SYSTEM/STATUS/FRAME, configuration memory, power, exposures whose FETCHed bytes are
 * the image model's, locks, faults, REBOOT. Simulated time runs on a fake clock the tests step,
 * so nothing here depends on how fast the machine is.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_KEYS, parseFrame, parseKeyValues, type FrameInfo } from '../codec.js';
import { eventually, sleep } from '../../../testing/eventually.js';
import { DEMO_ACF, DEMO_MODULES } from '../demo-acf.js';
import { imageBytes, modelImage, stampedFrame } from './image-model.js';
import { RawArchonClient } from './test-helpers.js';
import { ArchonSimulator, createArchonSimulator } from './simulator.js';
import type { ArchonSimulatorOptions } from './options.js';
import { acfConfigLines } from './config-memory.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** A simulator on a fake clock (ms), listening on 127.0.0.1:0, and a raw client. */
async function start(options: ArchonSimulatorOptions = {}) {
  const clock = { ms: 1000 };
  const sim = new ArchonSimulator({ fetchRate: 0, ...options }, { now: () => clock.ms });
  cleanups.push(() => sim.close());
  const port = await sim.listenTcp('127.0.0.1', 0);
  const client = await connect(port);
  return { sim, port, client, clock, advance: (ms: number) => (clock.ms += ms) };
}

async function connect(port: number): Promise<RawArchonClient> {
  const c = await RawArchonClient.connect(port);
  cleanups.push(() => c.destroy());
  return c;
}

async function frame(c: RawArchonClient): Promise<FrameInfo> {
  return parseFrame(await c.ask('FRAME'));
}

async function expose(c: RawArchonClient, intMs: number, count = 1, shutter = 0): Promise<void> {
  await c.ask('HOLDTIMING');
  await c.ask(`FASTLOADPARAM IntMS ${intMs}`);
  await c.ask(`FASTLOADPARAM Shutter ${shutter}`);
  await c.ask(`FASTLOADPARAM Exposures ${count}`);
  await c.ask('RELEASETIMING');
}

describe('archon simulator: framing', () => {
  it('echoes the id in upper case, takes CR LF, ignores lines without >HH, and says nothing to an unknown word', async () => {
    const { client: c } = await start();
    c.write('>0aSYSTEM\r\n');
    c.write('SYSTEM\n>\n>zzSYSTEM\n>0BPING\n>0Cnotacommand\n');
    c.write('>0DTIMER\n');
    await eventually(() => expect(c.replies.length).toBe(2));
    expect(c.replies.map((r) => [r.kind, r.id])).toEqual([['ok', 0x0a], ['ok', 0x0d]]);
    expect(c.text.startsWith('<0ABACKPLANE_TYPE=1 ')).toBe(true);
    expect(c.text).toMatch(/\n<0DTIMER=[0-9A-F]{16}\n$/);
    // Silence is not a late reply: nothing more arrives.
    await sleep(100);
    expect(c.replies.length).toBe(2);
  });

  it('matches command words, keys and parameter names case-insensitively', async () => {
    const { client: c, sim } = await start();
    expect(await c.ask('status')).toMatch(/^VALID=1 /);
    await c.ask('fastloadparam intms 1234');
    expect(sim.controller.parameter('IntMS')).toBe(1234);
    await c.ask('FASTLOADPARAM INTMS 77');
    expect(sim.controller.parameter('intms')).toBe(77);
    await c.ask('wconfig0000linecount=100');
    expect(await c.ask('RCONFIG0000')).toBe('linecount=100');
  });
});

describe('archon simulator: SYSTEM, STATUS, FRAME, TIMER', () => {
  it('SYSTEM lists the backplane and every MODn_TYPE of the 12 slots; STATUS has power, rails and MODn/TEMP of each module', async () => {
    const { client: c } = await start();
    const system = parseKeyValues(await c.ask('SYSTEM'));
    expect(system.get('BACKPLANE_TYPE')).toBe('1');
    expect(system.get('MOD_PRESENT')).toBe('7FE');
    for (let n = 1; n <= 12; n++) expect(system.has(`MOD${n}_TYPE`)).toBe(true);
    const status = parseKeyValues(await c.ask('STATUS'));
    expect([...status.keys()].slice(0, 7)).toEqual(['VALID', 'COUNT', 'LOG', 'POWER', 'POWERGOOD', 'OVERHEAT', 'BACKPLANE_TEMP']);
    expect(status.get('POWER')).toBe('4');
    expect(Number(status.get('P5V_V'))).toBeCloseTo(5, 1);
    for (const m of DEMO_MODULES) expect(status.has(`MOD${m.slot}/TEMP`)).toBe(m.type !== 0);
    expect(status.has('MOD6/LVLC_V24')).toBe(true);
    expect(status.has('MOD8/TEMPA')).toBe(true);
    expect(status.size).toBeGreaterThan(150);
  });

  it('FRAME has the 60 keys in order, bases in decimal, TIMER and stamps as 16 hex digits', async () => {
    const { client: c } = await start();
    const body = await c.ask('FRAME');
    const keys = body.split(' ').map((kv) => kv.slice(0, kv.indexOf('=')));
    expect(keys).toEqual([...FRAME_KEYS]);
    expect(keys.length).toBe(60);
    const kv = parseKeyValues(body);
    expect(kv.get('BUF1BASE')).toBe(String(0xa0000000));
    for (const [k, v] of kv) if (k.includes('TIME')) expect(v).toMatch(/^[0-9A-F]{16}$/);
    expect(kv.get('BUF1FRAME')).toBe('0');
  });

  it('TIMER counts 100 MHz ticks of simulated time (timeScale)', async () => {
    const { client: c, advance } = await start({ timeScale: 4 });
    const t0 = BigInt(`0x${(await c.ask('TIMER')).slice(6)}`);
    advance(250); // 1 simulated second
    const t1 = BigInt(`0x${(await c.ask('TIMER')).slice(6)}`);
    expect(t1 - t0).toBe(100_000_000n);
    advance(2500);
    expect((await c.ask('STATUS')).split(' ')[1]).toBe('COUNT=11');
  });
});

describe('archon simulator: failures answer ?HH and explain themselves in the log', () => {
  it('bad arguments, ranges and limits', async () => {
    const { client: c } = await start();
    const bad = [
      'LOCK4', 'LOCKX', 'FETCH1234', 'FETCH0000000000000010', 'FETCHA0000000FFFFFFFF', 'FETCHA000000000000000',
      'WCONFIG0000NOEQUALS', 'WCONFIG4000A=1', `WCONFIG0001K=${'x'.repeat(2047)}`, 'RCONFIG4000', 'RCONFIGxyz',
      'FASTLOADPARAM IntMS 1048576', 'FASTLOADPARAM IntMS -1', 'FASTLOADPARAM NoSuchParam 1', 'FASTLOADPARAM IntMS',
      'LOADPARAM NoSuchParam', 'APPLYMOD00', 'APPLYMOD0C', 'APPLYMODZZ',
    ];
    for (const command of bad) await c.askFails(command);
    const log = parseKeyValues(await c.ask('STATUS')).get('LOG');
    expect(Number(log)).toBe(bad.length);
    const reasons: string[] = [];
    for (let i = 0; i < bad.length; i++) reasons.push(await c.ask('FETCHLOG'));
    expect(reasons[0]).toMatch(/^LOCK4: buffer outside 0\.\.3/);
    expect(reasons.find((r) => r.includes('NoSuchParam'))).toBeTruthy();
    expect(await c.ask('FETCHLOG')).toBe('(null)');
    // The limits themselves are fine.
    await c.ask('FASTLOADPARAM IntMS 1048575');
    await c.ask(`WCONFIG3FFFK=${'x'.repeat(2046)}`);
    expect((await c.ask('RCONFIG3FFF')).length).toBe(2048);
    await c.ask('APPLYMOD01');
    await c.ask('APPLYMOD0A');
  });

  it('boots like a real unit with configured: false: POWER=1, POWERON refused until APPLYALL, which leaves power off', async () => {
    const { client: c, advance } = await start({ configured: false, powerOnMs: 500 });
    const power = async () => parseKeyValues(await c.ask('STATUS')).get('POWER');
    expect(await power()).toBe('1');
    await c.askFails('POWERON');
    expect(await c.ask('FETCHLOG')).toMatch(/POWERON.*APPLYALL/);
    await c.askFails('FASTLOADPARAM Exposures 1');
    await c.ask('APPLYALL');
    expect(await power()).toBe('2');
    await c.ask('POWERON');
    expect(await power()).toBe('3');
    advance(600);
    expect(await power()).toBe('4');
    await c.ask('POWEROFF');
    expect(await power()).toBe('2');
  });

  it('APPLYALL of a configuration without geometry fails and keeps what was applied', async () => {
    const { client: c } = await start();
    await c.ask('CLEARCONFIG');
    await c.ask('WCONFIG0000PIXELCOUNT=100');
    await c.askFails('APPLYALL');
    expect(await c.ask('FETCHLOG')).toMatch(/LINECOUNT missing/);
    expect(parseKeyValues(await c.ask('STATUS')).get('POWER')).toBe('4');
  });

  it('uploading an ACF line by line and APPLYALL changes the geometry of the next frame', async () => {
    const { client: c, advance } = await start();
    const lines = acfConfigLines(DEMO_ACF.replace('LINECOUNT=512', 'LINECOUNT=64').replace('PIXELCOUNT=256', 'PIXELCOUNT=32'));
    await c.ask('POLLOFF');
    await c.ask('CLEARCONFIG');
    for (const [i, line] of lines.entries()) await c.ask(`WCONFIG${i.toString(16).toUpperCase().padStart(4, '0')}${line}`);
    await c.ask('POLLON');
    await c.ask('APPLYALL');
    await c.ask('POWERON');
    advance(1000);
    await expose(c, 10);
    advance(2000);
    const b = (await frame(c)).buffers.find((x) => x.frame === 1)!;
    expect([b.width, b.height, b.complete]).toEqual([64, 64, true]);
  });
});

describe('archon simulator: exposures, readout, FETCH', () => {
  it('an exposure with IntMS makes a complete frame whose FETCHed bytes are modelImage(...) exactly', async () => {
    const { client: c, advance } = await start({ lineRate: 512, seed: 7 });
    await expose(c, 2000, 1, 1);
    advance(1000);
    let f = await frame(c);
    expect(f.buffers.every((b) => !b.complete)).toBe(true);
    advance(1500); // integration over at 2000 ms, readout half done
    f = await frame(c);
    const reading = f.buffers[f.wbuf - 1]!;
    expect(reading.complete).toBe(false);
    expect(reading.lines).toBe(256);
    advance(600);
    f = await frame(c);
    const b = f.buffers.find((x) => x.complete && x.frame === 1)!;
    expect(b).toBeDefined();
    expect([b.width, b.height, b.sample, b.lines]).toEqual([512, 512, 0, 512]);
    expect(b.feTimestamp - b.reTimestamp).toBe(2000n * 100_000n);
    await c.ask(`LOCK${b.n}`);
    expect((await frame(c)).rbuf).toBe(b.n);
    const bytes = 512 * 512 * 2;
    const data = await c.fetch(b.base, Math.ceil(bytes / 1024));
    const expected = modelImage({ width: 512, height: 512, sampleMode: 0, frame: 1, exposureMs: 2000, shutterOpen: true, seed: 7 });
    expect(data.equals(imageBytes(expected))).toBe(true);
    expect(stampedFrame(new Uint16Array(data.buffer, data.byteOffset, bytes / 2))).toBe(1);
    await c.ask('LOCK0');
  });

  it('32-bit samples (sampleMode 1), a tail block zero-padded past the image', async () => {
    const { client: c, advance } = await start({ width: 30, height: 10, taps: 2, sampleMode: 1 });
    await expose(c, 0);
    advance(2000);
    const b = (await frame(c)).buffers.find((x) => x.complete)!;
    expect([b.width, b.height, b.sample]).toEqual([30, 10, 1]);
    const data = await c.fetch(b.base, 2);
    const expected = imageBytes(modelImage({ width: 30, height: 10, sampleMode: 1, frame: 1, exposureMs: 0, shutterOpen: false, seed: 1 }));
    expect(data.subarray(0, 1200).equals(expected)).toBe(true);
    expect(data.subarray(1200).every((x) => x === 0)).toBe(true);
  });

  it('counts frames down Exposures, skips a locked buffer, and numbers frames 1, 2, 3', async () => {
    const { client: c, advance } = await start({ width: 64, height: 64, lineRate: 64 });
    await c.ask('LOCK2');
    await expose(c, 100, 3);
    const seen: Array<[number, number]> = [];
    for (let i = 0; i < 40; i++) {
      advance(100);
      for (const b of (await frame(c)).buffers) if (b.complete && !seen.some(([fr]) => fr === b.frame)) seen.push([b.frame, b.n]);
    }
    expect(seen.sort((a, b) => a[0] - b[0])).toEqual([[1, 1], [2, 3], [3, 1]]);
    expect((await frame(c)).buffers[1]!.frame).toBe(0);
  });

  it('after a long look away, every buffer holds exactly the frame its FRAME entry says (frames nobody watched cost no pixels)', async () => {
    const { client: c, advance } = await start({ width: 256, height: 128, lineRate: 1280 });
    await expose(c, 0, 100);
    advance(100 * 100 + 50);
    const f = await frame(c);
    expect(f.buffers.map((b) => [b.n, b.frame, b.complete])).toEqual([[1, 100, true], [2, 98, true], [3, 99, true]]);
    for (const b of f.buffers) {
      const expected = imageBytes(modelImage({ width: 256, height: 128, sampleMode: 0, frame: b.frame, exposureMs: 0, shutterOpen: false, seed: 1 }));
      expect((await c.fetch(b.base, 64)).equals(expected)).toBe(true);
    }
  });

  it('AbortExposure drops the frame, zeroes Exposures and clears itself', async () => {
    const { client: c, advance, sim } = await start();
    await expose(c, 5000, 2);
    advance(1000);
    await c.ask('FASTLOADPARAM AbortExposure 1');
    expect(sim.controller.parameter('Exposures')).toBe(0);
    expect(sim.controller.parameter('AbortExposure')).toBe(0);
    advance(20_000);
    expect((await frame(c)).buffers.every((b) => b.frame === 0)).toBe(true);
    // LOADPARAM takes the value from configuration memory (Exposures=0 there): nothing starts.
    await c.ask('LOADPARAM Exposures');
    advance(20_000);
    expect(sim.frameCount).toBe(0);
  });

  it('HOLDTIMING pauses the script, RESETTIMING restarts the frame', async () => {
    const { client: c, advance, sim } = await start({ width: 64, height: 64, lineRate: 64 });
    await expose(c, 1000);
    advance(500);
    await c.ask('HOLDTIMING');
    advance(10_000);
    await c.ask('RELEASETIMING');
    advance(400);
    expect(sim.frameCount).toBe(0);
    advance(1200); // 500 + 400 + 100 ms integration done, then 1 s readout
    expect(sim.frameCount).toBe(1);
    await expose(c, 1000);
    advance(800);
    await c.ask('RESETTIMING'); // the frame starts again from its first line
    advance(1500);
    expect(sim.frameCount).toBe(1);
    advance(600);
    expect(sim.frameCount).toBe(2);
  });

  it('answers commands that arrive during a FETCH only after its last block', async () => {
    const { client: c, advance } = await start({ fetchRate: 50 });
    await expose(c, 0);
    advance(2000);
    const b = (await frame(c)).buffers.find((x) => x.complete)!;
    c.bytes = [];
    const fetchId = c.send(`FETCH${b.base.toString(16).toUpperCase()}00000200`);
    const timerId = c.send('TIMER');
    await c.reply(timerId);
    const text = c.text;
    const header = `<${fetchId.toString(16).toUpperCase().padStart(2, '0')}:`;
    for (let i = 0; i < 512; i++) expect(text.slice(i * 1028, i * 1028 + 4)).toBe(header);
    expect(text.slice(512 * 1028)).toMatch(new RegExp(`^<${timerId.toString(16).toUpperCase().padStart(2, '0')}TIMER=[0-9A-F]{16}\n$`));
  });

  it('answers no other connection during a FETCH either (one CPU), then everybody in order', async () => {
    const { client: a, advance, port } = await start({ fetchRate: 20 });
    const b = await connect(port);
    await expose(a, 0);
    advance(2000);
    const buf = (await frame(a)).buffers.find((x) => x.complete)!;
    a.send(`FETCH${buf.base.toString(16).toUpperCase()}00000400`);
    await eventually(() => expect(a.replies.length).toBeGreaterThan(0));
    let blocksWhenAnswered = -1;
    b.socket.once('data', () => (blocksWhenAnswered = a.replies.filter((r) => r.kind === 'block').length));
    const first = b.send('TIMER');
    const second = b.send('SYSTEM');
    await b.reply(second);
    expect(b.replies.length).toBe(0);
    expect(first).toBe(0);
    // All but what may still be in flight on A's socket (two 64-block chunks); unblocked, B's
    // answer would have come after A's first chunk or two.
    expect(blocksWhenAnswered).toBeGreaterThanOrEqual(1024 - 128);
  });

  it('throttles FETCH to the configured rate (a lower bound only)', async () => {
    const { client: c, advance } = await start({ fetchRate: 2 });
    await expose(c, 0);
    advance(2000);
    const b = (await frame(c)).buffers.find((x) => x.complete)!;
    const t0 = performance.now();
    await c.fetch(b.base, 512);
    // 512 × 1028 bytes at 2 MiB/s take ≥ 250 ms; a loaded machine only makes it slower.
    expect(performance.now() - t0).toBeGreaterThan(200);
  });
});

describe('archon simulator: frame modes, buffers, parameters from configuration memory', () => {
  it('split mode: one line clock fills a top and a bottom row, LINES tops out at LINECOUNT = HEIGHT / 2', async () => {
    const { client: c, advance } = await start({ frameMode: 2, taps: 2, width: 64, height: 64, lineRate: 32 });
    await expose(c, 0);
    advance(500);
    let b = (await frame(c)).buffers[0]!;
    expect([b.mode, b.lines, b.complete]).toEqual([2, 16, false]);
    const partial = await c.fetch(b.base, 8);
    const expected = imageBytes(modelImage({ width: 64, height: 64, sampleMode: 0, frame: 1, exposureMs: 0, shutterOpen: false, seed: 1 }));
    const row = 64 * 2;
    expect(partial.subarray(0, 16 * row).equals(expected.subarray(0, 16 * row))).toBe(true);
    expect(partial.subarray(16 * row, 48 * row).every((x) => x === 0)).toBe(true);
    expect(partial.subarray(48 * row).equals(expected.subarray(48 * row))).toBe(true);
    advance(600);
    b = (await frame(c)).buffers[0]!;
    expect([b.width, b.height, b.lines, b.complete]).toEqual([64, 64, 32, true]);
    expect((await c.fetch(b.base, 8)).equals(expected)).toBe(true);
  });

  it('BIGBUF=1: two buffers (BUF3BASE 0); with the other one locked the deinterlacer reuses the one it wrote', async () => {
    const { client: c, advance, sim } = await start({ width: 64, height: 64, lineRate: 64 });
    await c.ask(`WCONFIG${sim.controller.config.size.toString(16).toUpperCase().padStart(4, '0')}BIGBUF=1`);
    await c.ask('APPLYALL');
    await c.ask('POWERON');
    advance(1000);
    let f = await frame(c);
    expect(f.buffers.map((b) => b.base)).toEqual([0xa0000000, 0xd0000000, 0]);
    await c.askFails('LOCK3');
    await c.ask('LOCK2');
    await expose(c, 0, 2);
    advance(5000);
    f = await frame(c);
    expect(f.buffers.map((b) => b.frame)).toEqual([2, 0, 0]);
    // Buffer 2 now spans 0xD0000000 to the end of the 4 GB address space; below buffer 1 is nothing.
    await c.askFails('FETCH9FFFFC0000000001');
    expect((await c.fetch(0xfffffc00, 1)).length).toBe(1024);
    await c.askFails('FETCHFFFFFC0000000002');
  });

  it('LOADPARAMS takes every PARAMETERn of configuration memory (the azcam recipe starts an exposure so)', async () => {
    const { client: c, advance, sim } = await start({ width: 64, height: 64, lineRate: 64 });
    await c.ask('RESETTIMING');
    // The demo ACF lists Exposures=0 and IntMS=0 as PARAMETER0 and PARAMETER1, written after the sorted keys.
    const lines = sim.controller.config.all();
    const at = (name: string) => lines.findIndex((l) => l.toUpperCase().startsWith(`PARAMETER${name}=`));
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
    await c.ask(`WCONFIG${hex(at('0'))}PARAMETER0=Exposures=1`);
    await c.ask(`WCONFIG${hex(at('1'))}PARAMETER1=IntMS=300`);
    expect(sim.controller.parameter('IntMS')).toBe(0);
    await c.ask('LOADPARAMS');
    expect(sim.controller.parameter('IntMS')).toBe(300);
    advance(1200);
    expect(sim.frameCount).toBe(0);
    advance(200);
    expect(sim.frameCount).toBe(1);
    const b = (await frame(c)).buffers[0]!;
    expect(b.feTimestamp - b.reTimestamp).toBe(300n * 100_000n);
  });

  it('runs on the wall clock by default (timeScale speeds it up)', async () => {
    const sim = createArchonSimulator({ timeScale: 20, fetchRate: 0, width: 64, height: 64 });
    cleanups.push(() => sim.close());
    const c = await connect(await sim.listenTcp('127.0.0.1', 0));
    await expose(c, 1000);
    await eventually(async () => expect((await frame(c)).buffers[0]!.complete).toBe(true), 20_000, 50);
    const b = (await frame(c)).buffers[0]!;
    expect(b.feTimestamp - b.reTimestamp).toBe(1000n * 100_000n);
  });
});

describe('archon simulator: faults', () => {
  it('dropMidFetch closes the connection after half the blocks, once', async () => {
    const { client: c, advance, sim, port } = await start();
    await expose(c, 0);
    advance(2000);
    const b = (await frame(c)).buffers.find((x) => x.complete)!;
    sim.setFault('dropMidFetch', true);
    expect(sim.faults).toEqual(['dropMidFetch']);
    c.bytes = [];
    c.send(`FETCH${b.base.toString(16).toUpperCase()}00000100`);
    await eventually(() => expect(c.closed).toBe(true));
    expect(Buffer.concat(c.bytes).length).toBe(128 * 1028);
    expect(sim.faults).toEqual([]);
    const again = await connect(port);
    const data = await again.fetch(b.base, 256);
    expect(data.length).toBe(256 * 1024);
  });

  it('stuckReadout: LINES stop at half, COMPLETE stays 0; switched off, the frame completes', async () => {
    const { client: c, advance, sim } = await start({ width: 64, height: 64, lineRate: 64 });
    sim.setFault('stuckReadout', true);
    await expose(c, 0);
    advance(60_000);
    let f = await frame(c);
    expect(f.buffers[0]!.lines).toBe(32);
    expect(f.buffers[0]!.complete).toBe(false);
    sim.setFault('stuckReadout', false);
    advance(600);
    f = await frame(c);
    expect([f.buffers[0]!.complete, f.buffers[0]!.frame, f.buffers[0]!.lines]).toEqual([true, 1, 64]);
  });

  it('refuse: every recognised command answers ?HH with a log entry; unknown words stay silent', async () => {
    const { client: c, sim } = await start();
    sim.setFault('refuse', true);
    await c.askFails('STATUS');
    await c.askFails('FRAME');
    const unknown = c.send('NOSUCHWORD');
    const fetchlog = c.send('FETCHLOG');
    await eventually(() => expect(c.replies.some((r) => r.id === fetchlog)).toBe(true));
    expect(c.replies.map((r) => [r.id, r.kind])).toEqual([[fetchlog, 'failed']]);
    expect(unknown).not.toBe(fetchlog);
    c.replies.length = 0;
    sim.setFault('refuse', false);
    expect(await c.ask('FETCHLOG')).toMatch(/^STATUS: refused/);
    expect(c.replies.length).toBe(0);
  });

  it('standard faults: garble, silence, linkDrop', async () => {
    const { client: c, sim, port } = await start();
    sim.setFault('garble', true);
    const id = c.send('TIMER');
    await eventually(() => expect(c.text).toMatch(/\n$/));
    expect(c.text).not.toMatch(new RegExp(`^<${id.toString(16).padStart(2, '0')}`));
    expect(c.garbage.length).toBe(1);
    sim.setFault('garble', false);
    sim.setFault('silence', true);
    c.bytes = [];
    c.send('TIMER');
    await sleep(100);
    expect(c.text).toBe('');
    sim.setFault('silence', false);
    await c.ask('TIMER');
    sim.setFault('linkDrop', true);
    await eventually(() => expect(c.closed).toBe(true));
    const refused = net.connect({ host: '127.0.0.1', port });
    refused.on('error', () => {});
    await new Promise<void>((resolve) => refused.once('close', () => resolve()));
    sim.setFault('linkDrop', false);
    expect(await (await connect(port)).ask('TIMER')).toMatch(/^TIMER=/);
  });
});

describe('archon simulator: REBOOT and WARMBOOT', () => {
  it('REBOOT closes without a reply, refuses connections while booting, and restarts the frame counter and TIMER', async () => {
    const { client: c, advance, sim, port } = await start({ rebootMs: 60_000, width: 64, height: 64, lineRate: 64 });
    await expose(c, 0, 2);
    advance(5000);
    expect(sim.frameCount).toBe(2);
    c.send('REBOOT');
    await eventually(() => expect(c.closed).toBe(true));
    expect(c.replies.length).toBe(0);
    const early = net.connect({ host: '127.0.0.1', port });
    early.on('error', () => {});
    await new Promise<void>((resolve) => early.once('close', () => resolve()));
    advance(60_000);
    const d = await connect(port);
    const f = await frame(d);
    expect(f.buffers.map((b) => b.frame)).toEqual([0, 0, 0]);
    // TIMER restarted at the REBOOT: 60 simulated seconds since, not 65.
    expect(f.timer).toBe(6_000_000_000n);
    expect(parseKeyValues(await d.ask('STATUS')).get('POWER')).toBe('4');
    await expose(d, 0);
    advance(2000);
    expect(sim.frameCount).toBe(1);
  });

  it('WARMBOOT closes without a reply and keeps frames, power and TIMER', async () => {
    const { client: c, advance, sim, port } = await start({ rebootMs: 0, width: 64, height: 64, lineRate: 64 });
    await expose(c, 0);
    advance(2000);
    c.send('WARMBOOT');
    await eventually(() => expect(c.closed).toBe(true));
    advance(10);
    const d = await connect(port);
    expect((await frame(d)).buffers[0]!.frame).toBe(1);
    expect(sim.frameCount).toBe(1);
    expect((await frame(d)).timer).toBeGreaterThan(200_000_000n);
  });
});

describe('archon simulator: options', () => {
  it('rejects bad options with a message naming them, and a frame too big for a buffer', () => {
    expect(() => createArchonSimulator({ colour: 'red' })).toThrow(/unknown option.*colour/);
    expect(() => createArchonSimulator({ width: 513, taps: 2 })).toThrow(/width 513 is not a multiple of 2 taps across/);
    expect(() => createArchonSimulator({ width: 32768, height: 32768 })).toThrow(/does not fit/);
    const sim = createArchonSimulator({ fetchRate: 'unlimited', configured: 'off', timeScale: 10, lineRate: '100' });
    expect(sim.options.fetchRate).toBe(0);
    expect(sim.controller.powerState).toBe(1);
    void sim.close();
  });

  it('takes more clients up to maxClients and closes the one beyond', async () => {
    const { port } = await start({ maxClients: 2 });
    const second = await connect(port);
    expect(await second.ask('TIMER')).toMatch(/^TIMER=/);
    const third = await connect(port);
    await eventually(() => expect(third.closed).toBe(true));
  });
});
