/**
 * Cryo-con end to end: the simulated controller behind the real daemon over TCP (in-process), then
 * the same with real processes (`labwire sim cryocon`, `labwire daemon cryocon`, `send`, `wait`)
 * and several simulated controllers from one YAML file. `npm test` builds dist/ first.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon/daemon.js';
import { cryoconFamily } from '../src/devices/cryocon/device.js';
import { CryoconSimulator, type CryoconSimulatorOptions } from '../src/devices/cryocon/simulator.js';
import { silentLogger } from '../src/util/logger.js';
import type { DescribeDoc } from '../src/wire/types.js';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';
import { eventually, kv } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

const STATUS_LINE = /^:INP A:TEMP\?;UNIT\?;:INP B:TEMP\?;UNIT\?;:INP C:TEMP\?;UNIT\?;:INP D:TEMP\?;UNIT\?;:CONT\?;:LOOP 1:OUTP\?;HTRR\?;ERR\?/;

interface Lab {
  sim: CryoconSimulator;
  daemon: Daemon;
  c: RawClient;
  status(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

async function startLab(simOptions: CryoconSimulatorOptions, deviceOptions: Record<string, unknown> = {}): Promise<Lab> {
  const sim = new CryoconSimulator({ noise: 0, ...simOptions });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  const daemon = await startDaemon({
    definition: cryoconFamily.definition,
    options: deviceOptions,
    link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
    name: 'cryo',
    port: 0,
    logger: silentLogger(),
    version: 'test',
  });
  const c = await RawClient.connect(daemon.port);
  const status = async () => kv(await c.request('get_status'));
  await eventually(async () => {
    const s = await status();
    expect(s.hw_connected).toBe('1');
    expect(s.state).not.toBe('busy');
  }, 10_000);
  return {
    sim,
    daemon,
    c,
    status,
    async close() {
      c.close();
      await daemon.close();
      await sim.close();
    },
  };
}

/**
 * Simulated seconds from a setpoint change at `setAtS` until input A first comes within `tolerance`
 * of `setpoint`, from a twin simulator on a fake clock: the physics is deterministic and on a fixed
 * time grid, so the twin follows the live simulator exactly.
 */
function predictReach(options: CryoconSimulatorOptions, setAtS: number, setpoint: number, tolerance: number): number {
  const twin = new CryoconSimulator({ noise: 0, ...options, timeScale: 1 }, { now: () => 0 });
  twin.advance(setAtS);
  twin.handleLine(`:LOOP 1:SETP ${setpoint}`);
  let t = 0;
  while (Math.abs(twin.temperature('A') - setpoint) > tolerance && t < 24 * 3600) {
    twin.advance(1);
    t += 1;
  }
  return t;
}

describe('cryocon daemon in-process: the completion contract follows the physics', () => {
  const TIME_SCALE = 3000;
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ timeScale: TIME_SCALE }, { settleSeconds: 1 });
  });
  afterAll(async () => lab.close());

  it('set loop1.setpoint=77 on a controller at 300 K: ramping, stabilizing, then idle once input A holds 77 K', async () => {
    const { sim, c, status } = lab;
    const watcher = await RawClient.connect(lab.daemon.port);
    expect(await watcher.request('subscribe state')).toBe('ok subscribe');
    expect(Number((await status())['chA.temperature'])).toBeCloseTo(300, 0);

    expect(await c.request('set loop1.setpoint=77')).toBe('ok set loop1.setpoint=77');
    const setEntry = [...sim.transcript].reverse().find((e) => /SETP 77;/.test(e.request))!;
    expect(setEntry.request).toBe(':LOOP 1:SETP 77;SETP?');

    await watcher.waitLine((l) => /\bstate=ramping\b/.test(l), 10_000);
    await watcher.waitLine((l) => /\bstate=stabilizing\b/.test(l), 30_000);
    await watcher.waitLine((l) => /\bstate=idle\b/.test(l), 30_000);
    const idleAtS = sim.simulatedSeconds;
    watcher.close();

    const s = await status();
    expect(Math.abs(Number(s['chA.temperature']) - 77)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(sim.temperature('A') - 77)).toBeLessThanOrEqual(0.1);
    // The wait cannot end before the cryostat can physically get there.
    const reach = predictReach({}, setEntry.simulatedS!, 77, 0.1);
    expect(reach).toBeGreaterThan(1800);
    expect(idleAtS - setEntry.simulatedS!).toBeGreaterThanOrEqual(reach);
  }, 60_000);
});

describe('cryocon daemon in-process: polling, faults and limits', () => {
  let lab: Lab;
  beforeAll(async () => {
    // Loops stopped: no target to follow, so the state is idle unless something is wrong.
    lab = await startLab({ timeScale: 1, control: false });
  });
  afterAll(async () => lab.close());

  it('refreshes the whole status with one grouped request per poll cycle', async () => {
    const { sim, c } = lab;
    const from = sim.transcript.length;
    const watcher = await RawClient.connect(lab.daemon.port);
    expect(await watcher.request('subscribe chA.temperature')).toBe('ok subscribe');
    await eventually(() => expect(sim.transcript.length - from).toBeGreaterThanOrEqual(3), 8000, 50);
    watcher.close();
    const window = sim.transcript.slice(from);
    // Nothing but status lines: one per cycle, each within the 255-character limit…
    for (const e of window) {
      expect(e.request).toMatch(STATUS_LINE);
      expect(e.request.length + 1).toBeLessThanOrEqual(255);
    }
    // …and a cycle apart (the daemon polls every second).
    const gaps = window.slice(1).map((e, i) => e.t - window[i]!.t);
    expect(Math.min(...gaps)).toBeGreaterThan(500);
    // No request of the whole session came within 100 ms of the previous one.
    expect(sim.stats.earlyRequests).toBe(0);
    expect((await c.request('get_status')).length).toBeGreaterThan(1000);
  });

  it('a sensor going to ------- mid-run: the value is missing with its reason, state warn, then back', async () => {
    const { sim, status } = lab;
    sim.setSensor('A', 'fault');
    await eventually(async () => {
      const s = await status();
      expect(s['chA.temperature']).toBe('nan');
      expect(s['chA.sensor']).toBe('fault');
      expect(s['loop1.temperature']).toBe('nan');
      expect(s.state).toBe('warn');
      expect(s.state_text).toBe('chA sensor fault (-------): the sensor is open, shorted or disconnected; chA.temperature is missing');
      expect(s.hw_connected).toBe('1');
    }, 5000);
    sim.setSensor('A', 'ok');
    await eventually(async () => {
      const s = await status();
      expect(Number(s['chA.temperature'])).toBeGreaterThan(250);
      expect(s['chA.sensor']).toBe('ok');
      expect(s.state).not.toBe('warn');
    }, 5000);
  });

  it('NACK in the middle of the grouped reply: those values missing, the rest fresh, state warn naming them', async () => {
    const { sim, status } = lab;
    sim.setNack(['LOOP:HTRRead']);
    await eventually(async () => {
      const s = await status();
      expect(s['loop1.heater']).toBe('nan');
      expect(s['loop1.output']).not.toBe('nan');
      expect(s.nack).toBe('LOOP 1:HTRR?, LOOP 2:HTRR?, LOOP 3:HTRR?, LOOP 4:HTRR?');
      expect(s.state).toBe('warn');
      expect(s.state_text).toMatch(/the controller refuses LOOP 1:HTRR\?, .* \(NACK\)/);
    }, 5000);
    sim.setNack([]);
    await eventually(async () => expect((await status()).nack).toBe(''), 5000);
  });

  it('a reply with a missing field or a garbled line fails that poll (logged once), never shifts values', async () => {
    const { sim, c, status } = lab;
    const watcher = await RawClient.connect(lab.daemon.port);
    expect(await watcher.request('subscribe hw_connected')).toBe('ok subscribe');
    sim.corruptNextReplies(1, 'dropField');
    await watcher.waitLine((l) => /level=warning message="polling status failed: unexpected reply .*: \d+ field\(s\) for \d+ queries/.test(l), 15_000);
    await watcher.waitLine((l) => /level=info message="polling status recovered"/.test(l), 15_000);
    sim.garbleNextReplies(1);
    await watcher.waitLine((l) => /polling status failed: .*line noise/.test(l), 15_000);
    await watcher.waitLine((l) => /polling status recovered/.test(l), 15_000);
    watcher.close();
    const s = await status();
    expect(s['chA.units']).toBe('K');
    expect(s['loop1.heater_status']).toBe('--Htr OK--');
    expect(s.control).toBe('0');
    expect(await c.request('get_id')).toMatch(/^id name=cryo type=cryocon /);
  });

  it('refuses an out-of-range gain, rate, power or setpoint with a RangeError naming the limit', async () => {
    const { c, sim } = lab;
    expect(await c.request('set loop1.pgain=2000')).toBe('error set code=RangeError message="loop1.pgain 2000 is above the cryocon limit of 1000"');
    expect(await c.request('set loop2.igain=-1')).toBe('error set code=RangeError message="loop2.igain -1 s is below the cryocon limit of 0 s"');
    expect(await c.request('set loop1.rate=150')).toBe('error set code=RangeError message="loop1.rate 150 K/min is above the cryocon limit of 100 K/min"');
    expect(await c.request('set loop1.pman=101')).toBe('error set code=RangeError message="loop1.pman 101 % is above the cryocon limit of 100 %"');
    expect(await c.request('set loop1.setpoint=600')).toBe('error set code=RangeError message="loop1.setpoint 600 K is above the M24C limit of 500 K"');
    expect(await c.request('set loop1.type=SCALE')).toMatch(/^error set code=WrongType message="loop1.type \\"SCALE\\" is not one of OFF, PID, MAN, TABLE, RAMPP, RAMPT"$/);
    expect(sim.loop(1).pgain).toBe(10);
    expect(await c.request('set loop1.pgain=12.5 loop1.igain=90')).toBe('ok set loop1.pgain=12.5 loop1.igain=90');
    expect(sim.loop(1)).toMatchObject({ pgain: 12.5, igain: 90 });
  });

  it('runs stop, control and clear_alarm; an unknown input is refused before the controller is asked', async () => {
    const { c, sim, status } = lab;
    expect(await c.request('stop')).toBe('ok stop control=0');
    expect(sim.control).toBe(false);
    expect((await status()).control).toBe('0');
    expect(await c.request('control')).toBe('ok control control=1');
    expect(await c.request('clear_alarm B')).toBe('ok clear_alarm');
    expect(await c.request('clear_alarm E')).toMatch(/^error clear_alarm code=WrongType/);
  });
});

describe('cryocon daemon in-process: a Model 32 declares what it has', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ model: 'M32', timeScale: 10 }, { model: 'M32' });
  }, 20_000);
  afterAll(async () => lab?.close());

  it('describe, status and polling name inputs A, B and loops 1, 2 only', async () => {
    const { c, sim, status } = lab;
    const doc = JSON.parse((await c.request('describe')).slice('describe '.length)) as DescribeDoc;
    const names = Object.keys(doc.params);
    expect(names).toContain('chB.temperature');
    expect(names).toContain('loop2.setpoint');
    expect(names.filter((n) => /^(chC|chD|loop3|loop4)\./.test(n))).toEqual([]);
    expect(doc.params['loop1.source']?.values).toEqual(['A', 'B']);
    expect(doc.commands.clear_alarm?.args.channel?.values).toEqual(['A', 'B']);
    const s = await status();
    expect(Object.keys(s).filter((n) => /^(chC|chD|loop3|loop4)\./.test(n))).toEqual([]);
    expect(s['chA.temperature']).not.toBe('nan');
    expect(sim.transcript.filter((e) => /INP(ut)? [CD]|LOOP [34]/i.test(e.request))).toEqual([]);
  });

  it('refuses the parameters and inputs of a 24C before the controller is asked', async () => {
    const { c, sim } = lab;
    const before = sim.transcript.length;
    expect(await c.request('set chC.units=K')).toMatch(/^error set code=NoSuchParameter message="no parameter \\"chC.units\\"; parameters: hw_connected, /);
    expect(await c.request('set loop3.setpoint=10')).toMatch(/^error set code=NoSuchParameter/);
    expect(await c.request('set loop1.source=C')).toMatch(/^error set code=WrongType message="loop1.source \\"C\\" is not one of A, B"/);
    expect(await c.request('clear_alarm C')).toMatch(/^error clear_alarm code=WrongType/);
    expect(sim.transcript.slice(before).filter((e) => !e.request.startsWith(':INP A:TEMP?') && !e.request.startsWith('*IDN?'))).toEqual([]);
  });
});

// ---------------------------------------------------------------- real processes

const procs: CliProcess[] = [];
function start(args: string[]): CliProcess {
  const p = new CliProcess(args);
  procs.push(p);
  return p;
}

/** One raw request line to a simulator over TCP, for checking what a YAML file set up. */
function ask(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(`${line}\n`));
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\n');
      if (i >= 0) {
        s.destroy();
        resolve(buf.slice(0, i));
      }
    });
    s.on('error', reject);
  });
}

describe('labwire sim cryocon + labwire daemon cryocon + send + wait (real processes)', () => {
  beforeAll(() => assertBuilt());
  afterAll(async () => {
    for (const p of procs) await p.stop();
  });

  it('a script sets loop1.setpoint=77 and `labwire wait … state=idle` returns once channel A holds it', async () => {
    const timeScale = 3000;
    const sim = start(['sim', 'cryocon', '--listen', '127.0.0.1:0', '--time-scale', String(timeScale), '--option', 'noise=0']);
    const simPort = (await sim.waitFor(/^listening 127\.0\.0\.1:(\d+)/m))[1]!;
    const daemon = start(['daemon', 'cryocon', '--link', `tcp://127.0.0.1:${simPort}`, '--listen', '127.0.0.1:0', '--name', 'cryo', '--option', 'settleSeconds=1']);
    const addr = `127.0.0.1:${(await daemon.waitFor(/^listening 127\.0\.0\.1:(\d+)$/m))[1]}`;
    // The link is up once the daemon has identified the unit and read everything.
    expect((await runCli(['wait', addr, 'hw_connected=1', '--timeout', '20s'], { timeoutMs: 30_000 })).code).toBe(0);

    const t0 = Date.now();
    expect((await runCli(['send', addr, 'set', 'loop1.setpoint=77'])).stdout).toBe('ok set loop1.setpoint=77\n');
    // state=idle, and at that moment channel A within the 0.1 K tolerance of the setpoint.
    const condition = 'state=idle and loop1.setpoint=77 and chA.temperature>=76.9 and chA.temperature<=77.1';
    const idle = await runCli(['wait', addr, condition, '--timeout', '60s'], { timeoutMs: 70_000 });
    const elapsedS = (Date.now() - t0) / 1000;
    expect(idle.stderr).toBe('');
    expect(idle.code).toBe(0);
    expect(idle.stdout).toMatch(/^met: state=idle .*\(state=idle chA\.temperature=7[67](\.\d+)? loop1\.setpoint=77\)$/m);
    // The fastest the cryostat can do it (cold head already at its coldest) bounds the wait from below.
    const fastest = predictReach({}, 12 * 3600, 77, 0.1);
    expect(elapsedS * timeScale).toBeGreaterThanOrEqual(fastest);
  }, 90_000);

  it('serves several simulated controllers from one YAML file, each with its own initial state', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-cryocon-'));
    const file = path.join(dir, 'sims.yaml');
    fs.writeFileSync(
      file,
      `simulators:
  - name: cryo1
    listen: 127.0.0.1:0
    options:
      name: Cryostat 1
      channels: { A: { name: Cold plate, units: C } }
      loops: { 1: { setpoint: 80, type: PID } }
  - name: cryo2
    listen: 127.0.0.1:0
    options:
      model: M32
      control: false
      serial: 777
      cryostat: { initialTemperature: 4.2 }
`,
    );
    const sims = start(['sim', 'cryocon', '--config', file]);
    const one = (await sims.waitFor(/^listening 127\.0\.0\.1:(\d+) cryo1$/m))[1]!;
    const two = (await sims.waitFor(/^listening 127\.0\.0\.1:(\d+) cryo2$/m))[1]!;
    expect(await ask(Number(one), ':SYST:NAM?;:INP A:NAM?;UNIT?;:LOOP 1:SETP?;:CONT?')).toBe('"Cryostat 1";"Cold plate";C;-193.150C;ON');
    expect(await ask(Number(two), '*IDN?;:CONT?;:INP A:TEMP?;:INP C:TEMP?')).toMatch(/^Cryo-con,32,777,1\.01A;OFF;4\.2\d*;NACK$/);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);
});
