/**
 * Setpoint programmes in a real daemon with the Julabo simulator behind it, over real TCP:
 * a thermal cycle, hold until stable, bad input, read-only mode, and daemon restarts.
 * The simulator runs 600× fast; the programmes last seconds (minutes as fractions).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon, type DaemonOptions } from '../src/daemon/daemon.js';
import type { AuditEvent } from '../src/daemon/runner.js';
import { julaboFamily } from '../src/devices/julabo/device.js';
import { JulaboSimulator } from '../src/devices/julabo/simulator.js';
import { silentLogger } from '../src/util/logger.js';
import { quote } from '../src/wire/format.js';
import { eventually, kv } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

let sim: JulaboSimulator;
let simPort: number;
const daemons: Daemon[] = [];
const clients: RawClient[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 600, seed: 7, initialTemperature: 20, setpoint: 20 });
  simPort = await sim.listenTcp('127.0.0.1', 0);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const d of daemons.splice(0)) await d.close();
});

afterAll(async () => {
  await sim.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function daemon(opts: Partial<DaemonOptions> = {}): Promise<{ d: Daemon; c: RawClient }> {
  const d = await startDaemon({
    definition: julaboFamily.definition,
    options: { settleSeconds: 0.3, tolerance: 0.3 },
    link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
    name: 'chiller',
    port: 0,
    logger: silentLogger(),
    version: 'test',
    ...opts,
    programme: { tickMs: 50, minStep: 0.05, ...opts.programme },
  });
  daemons.push(d);
  const c = await RawClient.connect(d.port);
  clients.push(c);
  await eventually(async () => expect(kv(await c.request('get_status')).status_code).toMatch(/^\d+$/));
  return { d, c };
}

/** The simulator keeps running between tests; a verified start costs over a second, so once. */
async function ensureRunning(c: RawClient): Promise<void> {
  if (kv(await c.request('get_status')).running !== '1') expect(await c.request('start')).toBe('ok start running=1');
}

function load(param: string, format: string, data: string, extra = ''): string {
  return `programme_load param=${param} format=${format} data=${quote(data)}${extra ? ` ${extra}` : ''}`;
}

async function status(c: RawClient): Promise<Record<string, string>> {
  const line = await c.request('programme_status');
  expect(line).toMatch(/^ok programme_status /);
  return kv(line);
}

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-programme-'));
  dirs.push(d);
  return d;
}

describe('programmes in the daemon', () => {
  it('runs a thermal cycle 15 ↔ 35 °C three times to completion, every point a set by who=programme', async () => {
    const { d, c } = await daemon();
    await ensureRunning(c);
    const audits: AuditEvent[] = [];
    d.runner.on('audit', (e: AuditEvent) => audits.push(e));
    let maxTemp = -Infinity;
    d.runner.on('update', (u: { changes: Record<string, unknown> }) => {
      if (typeof u.changes.temperature === 'number') maxTemp = Math.max(maxTemp, u.changes.temperature);
    });
    // Per cycle: a 0.3 s ramp up, 0.72 s at 35 °C, a 0.3 s ramp down (0.005 min = 0.3 s = 3 min
    // for the 600× bath). A verified Julabo set takes about 0.5 s, so the programme applies what
    // the device can take and skips the rest; every dwell at 35 °C is reached exactly.
    const csv = 'elapsed_minutes,temperature_c\n0,15\n0.005,35\n0.017,35\n0.022,15\n';
    expect(await c.request(load('setpoint', 'csv', csv, 'loop=3'))).toBe('ok programme_load param=setpoint points=4 holds=0 loops=3 duration_s=3.96 state=loaded');
    expect(await c.request('programme_start')).toBe('ok programme_start state=running');
    const mid = await status(c);
    expect(mid).toMatchObject({ state: 'running', param: 'setpoint', loops: '3' });
    expect(Number(mid.progress)).toBeLessThan(100);
    await eventually(async () => expect((await status(c)).state).toBe('finished'), 15_000, 100);
    const end = await status(c);
    expect(end).toMatchObject({ progress: '100', elapsed_s: '4', target: '15', next: 'end', cycle: '3' });
    expect(sim.setpoint).toBe(15);
    const sets = audits.filter((e) => e.who === 'programme');
    expect(sets.length).toBeGreaterThanOrEqual(4);
    expect(sets.every((e) => e.command.startsWith('set setpoint=') && e.result === 'ok')).toBe(true);
    const applied = sets.map((e) => Number(e.command.split('=')[1]));
    // Three dwells at 35 °C, each entered from below.
    const peaks = applied.filter((v, i) => v === 35 && applied[i - 1] !== 35);
    expect(peaks).toHaveLength(3);
    expect(applied.at(-1)).toBe(15);
    expect(Math.min(...applied)).toBeGreaterThanOrEqual(15);
    expect(maxTemp).toBeGreaterThan(22); // the bath followed
  }, 20_000);

  it('hold until stable waits for the setpoint target to be idle before the clock moves on', async () => {
    const { c } = await daemon({ options: { settleSeconds: 0.5, tolerance: 0.3 } });
    await ensureRunning(c);
    const yaml = ['points:', '  - {minutes: 0, value: 21}', '  - hold: {until: stable}', '  - {minutes: 0.005, value: 20}', ''].join('\n');
    expect(await c.request(load('setpoint', 'yaml', yaml))).toBe('ok programme_load param=setpoint points=2 holds=1 loops=1 duration_s=0.3 state=loaded');
    const started = Date.now();
    await c.request('programme_start');
    const during = await eventually(async () => {
      const s = await status(c);
      expect(s).toMatchObject({ phase: 'hold', target: '21', line: '3' });
      return s;
    });
    expect(Number(during.elapsed_s)).toBe(0);
    // While held, the device is not idle yet and the clock stands still.
    const dev = kv(await c.request('get_status'));
    expect(['busy', 'ramping', 'stabilizing']).toContain(dev.state);
    // The hold ends only once the device reports the target reached and settled (state idle).
    const leftHold = await eventually(
      async () => {
        const s = await status(c);
        expect(s.phase).not.toBe('hold');
        return Date.now();
      },
      15_000,
      20,
    );
    const temp = Number(kv(await c.request('get_status')).temperature);
    expect(Math.abs(temp - 21)).toBeLessThan(0.5);
    // A verified set alone takes over a second, then the bath moves and settles for 0.5 s.
    expect(leftHold - started).toBeGreaterThan(1000);
    await eventually(async () => expect((await status(c)).state).toBe('finished'));
    expect(sim.setpoint).toBe(20);
  }, 20_000);

  it('pause keeps the position, start resumes it, stop ends it', async () => {
    const { c } = await daemon();
    await ensureRunning(c);
    await c.request(load('setpoint', 'csv', '0,20\n1,30\n'));
    await c.request('programme_start');
    await new Promise((r) => setTimeout(r, 300));
    expect(await c.request('programme_pause')).toBe('ok programme_pause state=paused');
    const p1 = await status(c);
    await new Promise((r) => setTimeout(r, 300));
    const p2 = await status(c);
    expect(p2.state).toBe('paused');
    expect(p2.elapsed_s).toBe(p1.elapsed_s);
    expect(Number(p1.progress)).toBeGreaterThan(0);
    expect(await c.request('programme_pause')).toMatch(/^error programme_pause code=ProtocolError message="no programme is running \(state paused\)"/);
    expect(await c.request(load('setpoint', 'csv', '0,20'))).toMatch(/^error programme_load code=IsBusy message="a programme on setpoint is paused; programme_stop it first"/);
    expect(await c.request('programme_start')).toBe('ok programme_start state=running');
    await eventually(async () => expect(Number((await status(c)).elapsed_s)).toBeGreaterThan(Number(p1.elapsed_s)));
    expect(await c.request('programme_stop')).toBe('ok programme_stop state=stopped');
    const s = await status(c);
    expect(s).toMatchObject({ state: 'stopped', next: 'end' });
    const sp = sim.setpoint;
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.setpoint).toBe(sp);
  });
});

describe('bad programmes are refused whole, with the line', () => {
  let shared: { d: Daemon; c: RawClient };
  beforeAll(async () => {
    shared = await daemon();
    daemons.splice(daemons.indexOf(shared.d), 1);
    clients.splice(clients.indexOf(shared.c), 1);
  });
  afterAll(async () => {
    shared.c.close();
    await shared.d.close();
  });

  it('are listed in help and report state=none before a load', async () => {
    const { c } = shared;
    const help = kv(await c.request('help'));
    expect(help.commands!.split(' ')).toEqual(expect.arrayContaining(['programme_load', 'programme_start', 'programme_pause', 'programme_stop', 'programme_status']));
    expect(await c.request('programme_status')).toBe('ok programme_status state=none');
    expect(await c.request('programme_start')).toBe('error programme_start code=ProtocolError message="no programme loaded; programme_load it first"');
    expect(await c.request('programme_profile')).toBe('error programme_profile code=ProtocolError message="no programme loaded; programme_load one first"');
  });

  it('programme_profile gives one cycle of the loaded profile for a plot', async () => {
    const { c } = await daemon();
    const yaml = 'loop: 2\npoints:\n  - {minutes: 0, value: 15}\n  - {minutes: 0.5, value: 35}\n  - hold: {until: stable}\n  - {minutes: 1, value: 35}\n  - {minutes: 1, value: 20}\n';
    expect(await c.request(load('setpoint', 'yaml', yaml))).toMatch(/^ok programme_load /);
    expect(await c.request('programme_profile')).toBe('ok programme_profile param=setpoint loops=2 cycle_s=60 n=5 t_s="0 30 30 60 60" values="15 35 35 35 20" holds="0 0 1 0 0"');
  });

  it.each([
    ['a non-numeric cell', 'csv', 'elapsed_minutes,value\n0,20\n5,warm\n', 'code=WrongType message="line 3, column 2 (value): \\"warm\\" is not a number"'],
    ['unsorted times', 'csv', '0,20\n10,25\n5,30\n', 'code=ProtocolError message="line 3: elapsed_minutes 5 comes after 10 on line 2; rows must be sorted by time (equal times make a step)"'],
    ['a point outside the limits', 'csv', 'elapsed_minutes,value\n0,20\n5,30\n10,55\n', 'code=RangeError message="line 4: 55 °C is above the FL1703 limit of 40 °C"'],
    ['an empty file', 'csv', '', 'code=ProtocolError message="empty programme: no points (expected lines of elapsed_minutes,value)"'],
    ['a YAML point below the limits', 'yaml', 'points:\n  - {minutes: 0, value: 20}\n  - {minutes: 1, value: -25}\n', 'code=RangeError message="line 3: -25 °C is below the FL1703 limit of -20 °C"'],
  ])('%s', async (_, format, data, error) => {
    const { c } = shared;
    expect(await c.request(load('setpoint', format, data))).toBe(`error programme_load ${error}`);
    expect(await c.request('programme_status')).toBe('ok programme_status state=none');
  });

  it('site limits count, and only writable numeric parameters take a programme', async () => {
    const { c } = await daemon({ siteLimits: { setpoint: { max: 30 } } });
    expect(await c.request(load('setpoint', 'csv', '0,20\n1,31'))).toBe('error programme_load code=RangeError message="line 2: 31 °C is above the site limit of 30 °C"');
    expect(await c.request(load('temperature', 'csv', '0,20'))).toMatch(/^error programme_load code=NoSuchParameter message="a programme drives a writable numeric parameter; \\"temperature\\" is not one. Parameters: setpoint"/);
    expect(await c.request(load('setpoint', 'json', '{}'))).toMatch(/^error programme_load code=ProtocolError message="unknown programme format/);
    expect(await c.request('programme_load format=csv data=0,20')).toMatch(/^error programme_load code=ProtocolError message="programme_load needs param/);
    expect(await c.request(load('setpoint', 'csv', '0,20', 'loop=two'))).toMatch(/^error programme_load code=WrongType message="loop \\"two\\" is not a whole number/);
  });

  it('read-only mode refuses every programme command but status, and audits the refusal', async () => {
    const { d, c } = await daemon({ readOnly: true });
    const audits: AuditEvent[] = [];
    d.runner.on('audit', (e: AuditEvent) => audits.push(e));
    expect(await c.request(load('setpoint', 'csv', '0,20'))).toBe('error programme_load code=ReadOnly message="daemon \\"chiller\\" is in read-only mode; programme_load refused"');
    expect(await c.request('programme_start')).toMatch(/^error programme_start code=ReadOnly/);
    expect(await c.request('programme_status')).toBe('ok programme_status state=none');
    expect(audits.map((a) => a.command)).toEqual(['programme_load param=setpoint format=csv data="(4 characters)"', 'programme_start']);
    expect(audits[0]!.result).toMatch(/^refused ReadOnly/);
  });
});

describe('daemon restarts in the middle of a programme', () => {
  const long = '0,20\n1,30\n';

  async function startAndRestart(onRestart: 'resume' | 'stop'): Promise<{ before: Record<string, string>; c: RawClient; stateDir: string }> {
    const stateDir = tmpDir();
    const first = await daemon({ stateDir, programme: { onRestart } });
    await ensureRunning(first.c);
    await first.c.request(load('setpoint', 'csv', long));
    await first.c.request('programme_start');
    await eventually(async () => expect(Number((await status(first.c)).progress)).toBeGreaterThan(1));
    const before = await status(first.c);
    first.c.close();
    await first.d.close();
    daemons.splice(daemons.indexOf(first.d), 1);
    const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'chiller.programme.json'), 'utf8')) as { state: string; param: string };
    expect(saved).toMatchObject({ state: 'running', param: 'setpoint' });
    const second = await daemon({ stateDir, programme: { onRestart } });
    return { before, c: second.c, stateDir };
  }

  it('onRestart=resume continues from where it was', async () => {
    const { before, c } = await startAndRestart('resume');
    const after = await status(c);
    expect(after.state).toBe('running');
    expect(Number(after.progress)).toBeGreaterThanOrEqual(Number(before.progress));
    await eventually(async () => expect(Number((await status(c)).progress)).toBeGreaterThan(Number(after.progress)));
    await eventually(() => expect(sim.setpoint).toBeGreaterThan(20));
    expect(await c.request('programme_stop')).toBe('ok programme_stop state=stopped');
  });

  it('onRestart=stop (the default) stops it, keeps it loaded and says so in the state file', async () => {
    const { before, c, stateDir } = await startAndRestart('stop');
    const after = await status(c);
    expect(after).toMatchObject({ state: 'stopped', param: 'setpoint' });
    expect(Number(after.progress)).toBeGreaterThanOrEqual(Number(before.progress));
    const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'chiller.programme.json'), 'utf8')) as { state: string };
    expect(saved.state).toBe('stopped');
    // It can be run again from the beginning.
    expect(await c.request('programme_start')).toBe('ok programme_start state=running');
    expect(Number((await status(c)).progress)).toBeLessThan(Number(before.progress));
    await c.request('programme_stop');
  });

  it('an unreadable state file is logged and ignored', async () => {
    const stateDir = tmpDir();
    fs.writeFileSync(path.join(stateDir, 'chiller.programme.json'), '{not json');
    const { c } = await daemon({ stateDir, programme: { onRestart: 'resume' } });
    expect(await c.request('programme_status')).toBe('ok programme_status state=none');
  });
});
