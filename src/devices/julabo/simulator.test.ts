import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '../../daemon/api.js';
import { fakeClock } from '../../testing/fake-clock.js';
import { serialStreamClient, tcpStreamClient, type StreamClient } from '../../testing/stream-client.js';
import {
  AMBIENT_LOSS_W_PER_K,
  BATH_HEAT_CAPACITY_J_PER_K,
  coolingCapacityW,
  HEATER_W,
  ThermalModel,
} from './physics.js';
import { CHAR_TIME_MS, createJulaboSimulator, JulaboSimulator, SIMULATED_VERSION, type JulaboSimulatorOptions } from './simulator.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

/** A simulator on a fake clock with no noise and no byte timing: every reply is deterministic. */
function quietSim(options: JulaboSimulatorOptions = {}) {
  const clock = fakeClock();
  const sim = new JulaboSimulator({ noise: 0, byteTiming: false, ...options }, { now: clock.now });
  open.push(sim);
  return { sim, clock, q: (line: string) => sim.handleLine(line) };
}

describe('protocol', () => {
  it('answers every documented query with the real strings', () => {
    const { q } = quietSim();
    expect(q('version')).toBe(SIMULATED_VERSION);
    expect(q('status')).toBe('02 REMOTE STOP');
    expect(q('in_sp_00')).toBe('25.00');
    expect(q('in_pv_00')).toBe('22.00');
    expect(q('in_mode_05')).toBe('0');
  });

  it('never answers out_ commands and applies them', () => {
    const { q } = quietSim();
    expect(q('out_mode_05 1')).toBeUndefined();
    expect(q('in_mode_05')).toBe('1');
    expect(q('status')).toBe('03 REMOTE START');
    expect(q('out_sp_00 15.5')).toBeUndefined();
    expect(q('in_sp_00')).toBe('15.50');
    expect(q('out_sp_00 -12.346')).toBeUndefined();
    expect(q('in_sp_00')).toBe('-12.35');
    expect(q('out_mode_05 0')).toBeUndefined();
    expect(q('status')).toBe('02 REMOTE STOP');
  });

  it('reads the command word case-insensitively', () => {
    const { q } = quietSim();
    expect(q('IN_SP_00')).toBe('25.00');
    expect(q('Version')).toBe(SIMULATED_VERSION);
    expect(q('OUT_SP_00 30')).toBeUndefined();
    expect(q('in_sp_00')).toBe('30.00');
  });

  it('answers an unknown query -08 at once and latches an unknown out_ command', () => {
    const { q } = quietSim();
    expect(q('foo')).toBe('-08 INVALID COMMAND');
    expect(q('in_pv_99')).toBe('-08 INVALID COMMAND');
    expect(q('status')).toBe('02 REMOTE STOP');
    expect(q('out_foo 1')).toBeUndefined();
    expect(q('status')).toBe('-08 INVALID COMMAND');
    expect(q('status')).toBe('02 REMOTE STOP');
  });

  it.each([
    ['out_sp_00 abc', '-08 INVALID COMMAND'],
    ['out_sp_00', '-08 INVALID COMMAND'],
    ['out_sp_00 1,5', '-08 INVALID COMMAND'],
    ['out_sp_00 -20.01', '-10 VALUE TOO SMALL'],
    ['out_sp_00 -60', '-10 VALUE TOO SMALL'],
    ['out_sp_00 40.01', '-11 VALUE TOO LARGE'],
    ['out_sp_00 55', '-11 VALUE TOO LARGE'],
    ['out_mode_05 2', '-11 VALUE TOO LARGE'],
    ['out_mode_05 -1', '-10 VALUE TOO SMALL'],
    ['out_mode_05 on', '-08 INVALID COMMAND'],
    ['out_mode_05 0.5', '-08 INVALID COMMAND'],
  ])('%s is refused silently, latched as %s, and changes nothing', (line, error) => {
    const { q } = quietSim();
    expect(q(line)).toBeUndefined();
    expect(q('in_sp_00')).toBe('25.00');
    expect(q('in_mode_05')).toBe('0');
    expect(q('status')).toBe(error);
    expect(q('status')).toBe('02 REMOTE STOP');
  });

  it('accepts the limits of the working range exactly', () => {
    const { q } = quietSim();
    q('out_sp_00 -20');
    expect(q('in_sp_00')).toBe('-20.00');
    q('out_sp_00 40.00');
    expect(q('in_sp_00')).toBe('40.00');
    expect(q('status')).toBe('02 REMOTE STOP');
  });

  it('reports only the latest latched error', () => {
    const { q } = quietSim();
    q('out_sp_00 99');
    q('out_sp_00 -99');
    expect(q('status')).toBe('-10 VALUE TOO SMALL');
    expect(q('status')).toBe('02 REMOTE STOP');
  });

  it('refuses out_ commands under keypad control with a latched -09', () => {
    const { sim, q } = quietSim({ remote: false });
    expect(q('status')).toBe('00 MANUAL STOP');
    expect(q('out_sp_00 20')).toBeUndefined();
    expect(q('in_sp_00')).toBe('25.00');
    expect(q('status')).toBe('-09 COMMAND NOT ALLOWED IN CURRENT OPERATING MODE');
    expect(q('status')).toBe('00 MANUAL STOP');
    q('out_mode_05 1');
    expect(q('in_mode_05')).toBe('0');
    expect(q('status')).toBe('-09 COMMAND NOT ALLOWED IN CURRENT OPERATING MODE');
    sim.pressStartStop();
    expect(q('status')).toBe('01 MANUAL START');
    sim.setRemote(true);
    expect(q('status')).toBe('03 REMOTE START');
    expect(sim.remote).toBe(true);
  });

  it('formats temperatures with 2 decimals', () => {
    const { q } = quietSim({ noise: 0.05, initialTemperature: -5.123 });
    for (let i = 0; i < 20; i++) expect(q('in_pv_00')).toMatch(/^-?\d+\.\d{2}$/);
  });

  it('validates options, including strings from a command line', () => {
    const fromCli: Record<string, unknown> = { timeScale: '60', remote: 'off', setpoint: '12.5', byteTiming: '0' };
    const sim = createJulaboSimulator(fromCli as SimulatorOptions);
    open.push(sim);
    expect(sim.handleLine('status')).toBe('00 MANUAL STOP');
    expect(sim.setpoint).toBe(12.5);
    expect(sim.byteTiming).toBe(false);
    expect(() => new JulaboSimulator({ setpoint: 55 })).toThrow();
    expect(() => new JulaboSimulator({ remote: 'maybe' })).toThrow();
    expect(() => new JulaboSimulator({ timeScale: 0 })).toThrow();
  });
});

describe('faults', () => {
  it('low level alarm shuts the unit down and persists while active', () => {
    const { sim, q } = quietSim({ running: true });
    expect(q('status')).toBe('03 REMOTE START');
    sim.setFault('lowLevel', true);
    expect(q('in_mode_05')).toBe('0');
    expect(q('status')).toBe('-01 LOW LEVEL ALARM');
    expect(q('status')).toBe('-01 LOW LEVEL ALARM');
    q('out_mode_05 1');
    expect(q('in_mode_05')).toBe('0');
    expect(sim.activeFaults).toEqual(['lowLevel']);
    sim.setFault('lowLevel', false);
    expect(q('status')).toBe('02 REMOTE STOP');
    q('out_mode_05 1');
    expect(q('status')).toBe('03 REMOTE START');
  });

  it('working sensor alarm shuts down and is the answer to temperature queries', () => {
    const { sim, q } = quietSim({ running: true, sensorAlarm: true });
    expect(sim.running).toBe(false);
    expect(q('status')).toBe('-05 WORKING SENSOR ALARM');
    expect(q('in_pv_00')).toBe('-05 WORKING SENSOR ALARM');
    sim.setFault('sensorAlarm', false);
    expect(q('in_pv_00')).toBe('22.00');
  });

  it('an alarm outranks a latched error, and status reading clears the latch', () => {
    const { sim, q } = quietSim();
    q('out_sp_00 99');
    sim.setFault('lowLevel', true);
    expect(q('status')).toBe('-01 LOW LEVEL ALARM');
    sim.setFault('lowLevel', false);
    expect(q('status')).toBe('02 REMOTE STOP');
  });

  it('warnings are reported without shutdown, after a latched error', () => {
    const { sim, q } = quietSim({ running: true, excessTemperatureWarning: true });
    expect(q('status')).toBe('-03 EXCESS TEMPERATURE WARNING');
    expect(q('in_mode_05')).toBe('1');
    q('out_sp_00 50');
    expect(q('status')).toBe('-11 VALUE TOO LARGE');
    expect(q('status')).toBe('-03 EXCESS TEMPERATURE WARNING');
    sim.setFault('excessTemperatureWarning', false);
    sim.setFault('condenserWarning', true);
    expect(q('status')).toBe('-20 WARNING: CLEAN CONDENSOR OR CHECK COOLING WATER CIRCUIT OF REFRIGERATOR');
    expect(q('in_mode_05')).toBe('1');
  });

  it('a fouled condenser halves the cooling power', () => {
    const { sim } = quietSim({ running: true, setpoint: 0, initialTemperature: 20 });
    sim.advance(0.5);
    expect(sim.powerW).toBeCloseTo(-coolingCapacityW(sim.temperature), -1);
    sim.setFault('condenserWarning', true);
    sim.advance(0.5);
    expect(sim.powerW).toBeCloseTo(-coolingCapacityW(sim.temperature) / 2, -1);
  });

  it('trips on excess temperature: warning at 82 °C, cut-out above 85 °C', () => {
    expect(quietSim({ initialTemperature: 83, running: true }).q('status')).toBe('-03 EXCESS TEMPERATURE WARNING');
    const hot = quietSim({ initialTemperature: 90, running: true });
    expect(hot.q('status')).toBe('-14 EXCESS TEMPERATURE PROTECTOR ALARM');
    expect(hot.q('in_mode_05')).toBe('0');
  });

  it('rejects unknown fault names', () => {
    const { sim } = quietSim();
    expect(() => sim.setFault('meltdown' as never, true)).toThrow(/unknown/);
  });
});

describe('physics', () => {
  it('interpolates the manual cooling capacity', () => {
    expect(coolingCapacityW(20)).toBe(1700);
    expect(coolingCapacityW(30)).toBe(1700);
    expect(coolingCapacityW(0)).toBe(950);
    expect(coolingCapacityW(-10)).toBe(650);
    expect(coolingCapacityW(10)).toBeCloseTo(1325);
    expect(coolingCapacityW(-5)).toBeCloseTo(800);
    expect(coolingCapacityW(-20)).toBe(350);
    expect(coolingCapacityW(-50)).toBe(0);
  });

  it('cools 20 → 10 °C no faster than the capacity allows and settles without offset', () => {
    const { sim, clock } = quietSim({ initialTemperature: 20, setpoint: 10, running: true });
    let reachedAt: number | undefined;
    let prev = sim.temperature;
    for (let s = 1; s <= 1800; s++) {
      clock.tick(1000);
      const t = sim.temperature;
      // Cooling power never exceeds the capacity at the warmer end of the step (ambient only adds heat).
      expect(((prev - t) * BATH_HEAT_CAPACITY_J_PER_K) / 1).toBeLessThanOrEqual(coolingCapacityW(prev) + 1e-6);
      if (reachedAt === undefined && Math.abs(t - 10) <= 0.1) reachedAt = s;
      prev = t;
    }
    // 10 K × 57 kJ/K at ≤ 1.7 kW takes at least 335 s; the PI loop settles within minutes after that.
    expect(reachedAt).toBeGreaterThan((10 * BATH_HEAT_CAPACITY_J_PER_K) / 1700 - 1);
    expect(reachedAt).toBeLessThan(900);
    expect(sim.temperature).toBeCloseTo(10, 2);
  });

  it('runs flat out at the capacity while far from the setpoint', () => {
    const { sim } = quietSim({ initialTemperature: 20, setpoint: -20, running: true });
    sim.advance(1);
    expect(sim.powerW).toBeCloseTo(-coolingCapacityW(sim.temperature), -1);
  });

  it('reaches the −20 °C end of the working range at 22 °C ambient', () => {
    const { sim } = quietSim({ setpoint: -20, running: true });
    sim.advance(6 * 3600);
    expect(sim.temperature).toBeCloseTo(-20, 1);
  });

  it('heats with limited power', () => {
    const { sim } = quietSim({ setpoint: 40, running: true });
    const t0 = sim.temperature;
    sim.advance(60);
    expect(sim.temperature - t0).toBeLessThanOrEqual((HEATER_W * 60) / BATH_HEAT_CAPACITY_J_PER_K + 1e-9);
    expect(sim.temperature).toBeGreaterThan(t0);
  });

  it('drifts to ambient when stopped', () => {
    const { sim } = quietSim({ initialTemperature: 10, ambient: 22 });
    let prev = sim.temperature;
    for (let h = 0; h < 24; h++) {
      sim.advance(3600);
      expect(sim.temperature).toBeGreaterThan(prev);
      expect(sim.temperature).toBeLessThan(22);
      prev = sim.temperature;
    }
    expect(sim.temperature).toBeCloseTo(22, 1);
    const tau = BATH_HEAT_CAPACITY_J_PER_K / AMBIENT_LOSS_W_PER_K;
    const { sim: one } = quietSim({ initialTemperature: 10, ambient: 22 });
    one.advance(3600);
    expect(one.temperature).toBeCloseTo(22 - 12 * Math.exp(-3600 / tau), 1);
  });

  it('does not depend on how often it is queried', () => {
    const opts = { initialTemperature: 20, setpoint: 5, running: true };
    const a = quietSim(opts);
    const b = quietSim(opts);
    for (let i = 0; i < 6000; i++) {
      a.clock.tick(100);
      a.q('in_pv_00');
    }
    b.clock.tick(600_000);
    expect(b.q('in_pv_00')).toBe(a.q('in_pv_00'));
    expect(a.sim.temperature).toBe(b.sim.temperature);
  });

  it('scales time', () => {
    const fast = quietSim({ initialTemperature: 20, setpoint: 10, running: true, timeScale: 60 });
    const slow = quietSim({ initialTemperature: 20, setpoint: 10, running: true });
    fast.clock.tick(10_000);
    slow.clock.tick(600_000);
    expect(fast.sim.temperature).toBeCloseTo(slow.sim.temperature, 6);
  });

  it('adds noise to readings only: the mean stays put and the state is untouched', () => {
    const { sim, clock, q } = quietSim({ running: true, setpoint: 22, ambient: 22, initialTemperature: 22, noise: 0.01, seed: 7 });
    const readings: number[] = [];
    for (let i = 0; i < 3000; i++) {
      clock.tick(1000);
      readings.push(Number(q('in_pv_00')));
    }
    const mean = readings.reduce((s, x) => s + x, 0) / readings.length;
    const sd = Math.sqrt(readings.reduce((s, x) => s + (x - mean) ** 2, 0) / readings.length);
    expect(Math.abs(mean - 22)).toBeLessThan(0.002);
    expect(sd).toBeGreaterThan(0.007);
    expect(sd).toBeLessThan(0.013);
    expect(sim.temperature).toBe(22);
    const lastHalf = readings.slice(1500);
    expect(Math.abs(lastHalf.reduce((s, x) => s + x, 0) / lastHalf.length - 22)).toBeLessThan(0.003);
  });

  it('makes reproducible noise from the seed', () => {
    const read = (seed: number) => {
      const { q } = quietSim({ noise: 0.5, seed });
      return Array.from({ length: 10 }, () => q('in_pv_00'));
    };
    expect(read(3)).toEqual(read(3));
    expect(read(3)).not.toEqual(read(4));
  });

  it('keeps the model deterministic and bounded for huge time jumps', () => {
    const m = new ThermalModel(20);
    const inputs = { running: true, setpoint: 10, ambient: 22, heatLoadW: 0, coolingFactor: 1 };
    const t0 = performance.now();
    m.advance(1e9, inputs);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(m.temperature).toBeCloseTo(10, 1);
    expect(m.time).toBe(1e9);
    m.advance(-5, inputs);
    m.advance(NaN, inputs);
    expect(Number.isFinite(m.temperature)).toBe(true);
  });

  it('holds the setpoint against a heat load within capacity', () => {
    const { sim } = quietSim({ setpoint: 10, running: true, heatLoadW: 800 });
    sim.advance(3600);
    expect(sim.temperature).toBeCloseTo(10, 1);
    sim.setHeatLoad(3000);
    sim.advance(3600);
    expect(sim.temperature).toBeGreaterThan(11);
  });
});

/** Requests and the exact bytes a real FL1703 (as simulated) sends back. */
const TRANSCRIPT: [request: string, reply: string][] = [
  ['version\r', `${SIMULATED_VERSION}\r\n`],
  ['status\r', '02 REMOTE STOP\r\n'],
  ['in_sp_00\r', '25.00\r\n'],
  ['out_sp_00 12.3\r', ''],
  ['in_sp_00\n', '12.30\r\n'],
  ['IN_MODE_05\r\n', '0\r\n'],
  ['out_mode_05 1\r', ''],
  ['in_mode_05\r', '1\r\n'],
  ['status\r', '03 REMOTE START\r\n'],
  ['out_sp_00 abc\r', ''],
  ['status\r', '-08 INVALID COMMAND\r\n'],
  ['out_sp_00 41\r', ''],
  ['status\r', '-11 VALUE TOO LARGE\r\n'],
  ['status\r', '03 REMOTE START\r\n'],
  ['foo\r', '-08 INVALID COMMAND\r\n'],
  ['in_sp_00\rin_mode_05\r', '12.30\r\n1\r\n'],
  ['\r\n\r', ''],
];

async function runTranscript(client: StreamClient): Promise<void> {
  for (const [request, reply] of TRANSCRIPT) {
    client.clear();
    await client.write(request);
    const lines = reply === '' ? 0 : reply.split('\r\n').length - 1;
    if (lines > 0) await client.waitForLines(lines);
    // Nothing more may follow, in particular no reply to an out_ command.
    await client.quiet(reply === '' ? 60 : 15);
    expect(JSON.stringify(client.received), `reply to ${JSON.stringify(request)}`).toBe(JSON.stringify(reply));
  }
}

async function tcpSim(options: JulaboSimulatorOptions = {}) {
  const sim = new JulaboSimulator({ noise: 0, byteTiming: false, ...options });
  open.push(sim);
  const port = await sim.listenTcp('127.0.0.1', 0);
  return { sim, port };
}

/** Raw clients that see the CR LF line ends the unit sends. */
const rawTcpClient = (port: number) => tcpStreamClient(port, { lineEnd: '\r\n' });
const rawSerialClient = (path: string) => serialStreamClient(path, { lineEnd: '\r\n', baudRate: 4800 });

async function tcpClient(port: number) {
  const c = await rawTcpClient(port);
  open.push(c);
  return c;
}

describe('TCP wire', () => {
  it('replays the transcript byte for byte', async () => {
    const { port } = await tcpSim();
    await runTranscript(await tcpClient(port));
  });

  it('handles requests split across chunks and one byte at a time', async () => {
    const { port } = await tcpSim();
    const c = await tcpClient(port);
    await c.write('in_s');
    await c.quiet(20);
    await c.write('p_00\r');
    for (const ch of 'in_mode_05\r') await c.write(ch);
    expect(await c.waitForLines(2)).toEqual(['25.00', '0']);
  });

  it('strips the 8th bit like a 7-bit line', async () => {
    const { port } = await tcpSim();
    const c = await tcpClient(port);
    await c.write(Buffer.from(Buffer.from('in_sp_00\r', 'latin1').map((b) => b | 0x80)));
    expect(await c.waitForLines(1)).toEqual(['25.00']);
  });

  it('gives each connection its own line buffer, sequentially and concurrently', async () => {
    const { port } = await tcpSim();
    const first = await tcpClient(port);
    await first.write('in_s');
    await first.close();
    const second = await tcpClient(port);
    await second.write('p_00\r');
    expect(await second.waitForLines(1)).toEqual(['-08 INVALID COMMAND']);
    const third = await tcpClient(port);
    await third.write('in_');
    await second.write('version\r');
    await third.write('sp_00\r');
    expect(await second.waitForLines(2)).toEqual(['-08 INVALID COMMAND', SIMULATED_VERSION]);
    expect(await third.waitForLines(1)).toEqual(['25.00']);
  });

  it('drops an overlong line and reports it as an invalid command', async () => {
    const { port } = await tcpSim();
    const c = await tcpClient(port);
    await c.write(`${'x'.repeat(500)}\rstatus\r`);
    expect(await c.waitForLines(1)).toEqual(['-08 INVALID COMMAND']);
    c.clear();
    await c.write('status\r');
    expect(await c.waitForLines(1)).toEqual(['02 REMOTE STOP']);
  });

  it('sends replies at 4800 baud character timing', async () => {
    const { port } = await tcpSim({ byteTiming: true, latencyMs: 5 });
    const c = await tcpClient(port);
    const chunks: number[] = [];
    const t0 = performance.now();
    await c.write('version\r');
    for (let i = 0; i < 200 && !c.received.endsWith('\r\n'); i++) {
      await c.quiet(2);
      chunks.push(c.received.length);
    }
    const elapsed = performance.now() - t0;
    const bytes = SIMULATED_VERSION.length + 2;
    expect(c.received).toBe(`${SIMULATED_VERSION}\r\n`);
    // Never faster than the line allows; no upper bound, which a loaded machine could exceed.
    expect(elapsed).toBeGreaterThanOrEqual(bytes * CHAR_TIME_MS);
    // The reply trickles in rather than arriving in one piece (a loaded machine may merge chunks,
    // so only one partial read is required).
    expect(chunks.some((n) => n > 0 && n < bytes)).toBe(true);
  });

  it('counts requests that come closer than the manual allows', async () => {
    const { sim, port } = await tcpSim();
    const c = await tcpClient(port);
    await c.write('status\rstatus\r');
    await c.waitForLines(2);
    expect(sim.stats.requests).toBe(2);
    expect(sim.stats.gapViolations).toBe(1);
    expect(sim.transcript.map((e) => e.request)).toEqual(['status', 'status']);
  });

  it('drops and refuses connections during linkDrop, then serves again', async () => {
    const { sim, port } = await tcpSim();
    const c = await tcpClient(port);
    await c.write('status\r');
    await c.waitForLines(1);
    sim.setFault('linkDrop', true);
    await c.closed;
    const refused = await rawTcpClient(port);
    await refused.write('status\r').catch(() => undefined);
    await refused.closed;
    expect(refused.received).toBe('');
    sim.setFault('linkDrop', false);
    const again = await tcpClient(port);
    await again.write('status\r');
    expect(await again.waitForLines(1)).toEqual(['02 REMOTE STOP']);
  });

  it('goes silent and comes back', async () => {
    const { sim, port } = await tcpSim();
    const c = await tcpClient(port);
    sim.setFault('silent', true);
    await c.write('out_sp_00 30\rversion\r');
    expect(await c.quiet(80)).toBe('');
    sim.setFault('silent', false);
    await c.write('in_sp_00\r');
    expect(await c.waitForLines(1)).toEqual(['25.00']);
  });

  it('follows the physics in scaled real time', async () => {
    const { sim, port } = await tcpSim({ initialTemperature: 20, setpoint: 10, running: true, timeScale: 2000 });
    const c = await tcpClient(port);
    const t0 = performance.now();
    let reading = 20;
    for (let i = 0; i < 200 && Math.abs(reading - 10) > 0.1; i++) {
      c.clear();
      await c.write('in_pv_00\r');
      reading = Number((await c.waitForLines(1))[0]);
      await c.quiet(10);
    }
    const simulatedS = ((performance.now() - t0) / 1000) * 2000;
    expect(Math.abs(reading - 10)).toBeLessThanOrEqual(0.1);
    expect(simulatedS).toBeGreaterThan((10 * BATH_HEAT_CAPACITY_J_PER_K) / 1700);
    expect(sim.running).toBe(true);
  });

  it('closes servers and sockets', async () => {
    const sim = new JulaboSimulator({ byteTiming: true });
    const port = await sim.listenTcp('127.0.0.1', 0);
    const c = await rawTcpClient(port);
    await c.write('version\r');
    await sim.close();
    await c.closed;
    await expect(
      new Promise((resolve, reject) => net.connect({ host: '127.0.0.1', port }).once('connect', resolve).once('error', reject)),
    ).rejects.toThrow(/ECONNREFUSED/);
    await sim.close();
  });
});

describe('PTY wire', () => {
  it('replays the transcript byte for byte on /dev/pts', async () => {
    const sim = new JulaboSimulator({ noise: 0, byteTiming: false });
    open.push(sim);
    const path = await sim.listenPty();
    expect(path).toMatch(/^\/dev\/pts\/\d+$/);
    const c = await rawSerialClient(path);
    open.push(c);
    await runTranscript(c);
  });

  it('keeps serving across client close and re-open', async () => {
    const sim = new JulaboSimulator({ noise: 0, byteTiming: true });
    open.push(sim);
    const path = await sim.listenPty();
    for (let i = 0; i < 3; i++) {
      const c = await rawSerialClient(path);
      await c.write('in_sp_00\r');
      expect(await c.waitForLines(1)).toEqual(['25.00']);
      await c.close();
    }
  });

  it('goes silent on linkDrop', async () => {
    const sim = new JulaboSimulator({ noise: 0, byteTiming: false });
    open.push(sim);
    const c = await rawSerialClient(await sim.listenPty());
    open.push(c);
    sim.setFault('linkDrop', true);
    await c.write('version\r');
    expect(await c.quiet(80)).toBe('');
    sim.setFault('linkDrop', false);
    await c.write('in_mode_05\r');
    expect(await c.waitForLines(1)).toEqual(['0']);
  });
});
