import { describe, expect, it } from 'vitest';
import type { HandlerContext } from '../../daemon/api.js';
import { handlerContext } from '../../testing/handler-context.js';
import { LinkError } from '../../links/types.js';
import type { WireValue } from '../../wire/types.js';
import { resolveDevice } from '../../daemon/resolved-device.js';
import { CryoconDriver } from './driver.js';
import { cryoconDevice, cryoconFamily, cryoconOptionsSchema, cryoconStateOverride, readoutToParams } from './device.js';
import { CryoconSimulator, type CryoconSimulatorOptions } from './simulator.js';
import { simExchange } from './test-helpers.js';

function simDriver(options: CryoconSimulatorOptions = {}, deviceOptions: Record<string, unknown> = {}) {
  const sim = new CryoconSimulator({ noise: 0, ...options }, { now: () => 0 });
  const exchange = simExchange(sim);
  return { sim, exchange, driver: cryoconDevice.createDriver(exchange, cryoconOptionsSchema.parse(deviceOptions)) };
}

const ctx: HandlerContext = handlerContext();
const resolved = resolveDevice(cryoconDevice);
const params = resolved.params;
const write = (name: string) => params[name]!.write!;

describe('cryocon device definition', () => {
  it('accepts {} and fills the defaults; refuses unknown options and models', () => {
    expect(cryoconOptionsSchema.parse({})).toEqual({ model: 'M24C', tolerance: 0.1, settleSeconds: 30, setpointMin: 0, setpointMax: 500 });
    expect(cryoconOptionsSchema.parse({ inputs: 'ab' }).inputs).toEqual(['A', 'B']);
    expect(cryoconOptionsSchema.parse({ inputs: 'A,C' }).inputs).toEqual(['A', 'C']);
    const bad = cryoconOptionsSchema.safeParse({ model: 'M99' });
    expect(bad.error?.issues[0]?.message).toBe('unknown Cryo-con model; known models: M24C, M32');
    expect(cryoconOptionsSchema.safeParse({ tolrance: 1 }).success).toBe(false);
    expect(cryoconOptionsSchema.safeParse({ setpointMin: 300, setpointMax: 200 }).success).toBe(false);
    expect(cryoconOptionsSchema.safeParse({ model: 'M32', inputs: 'C' }).success).toBe(false);
  });

  it('declares the parameters of the issue, in status order, with units and class limits', () => {
    const names = Object.keys(params);
    expect(names.slice(0, 11)).toEqual([
      'control',
      'chA.temperature',
      'chA.sensor',
      'chA.units',
      'chA.alarm',
      'chA.name',
      'chA.minimum',
      'chA.maximum',
      'chA.variance',
      'chA.slope',
      'chA.offset',
    ]);
    expect(names).toContain('loop4.heater_status');
    expect(names.slice(-3)).toEqual(['sysname', 'idn', 'nack']);
    expect(names).toHaveLength(1 + 4 * 10 + 4 * 13 + 3);
    expect(params['chA.temperature']).toMatchObject({ type: 'float', unit: 'K' });
    expect(params['chA.units']).toMatchObject({ type: 'enum', values: ['K', 'C', 'F', 'S'], readonly: false });
    expect(params['loop1.setpoint']).toMatchObject({ type: 'float', unit: 'K', readonly: false });
    expect(params['loop1.rate']).toMatchObject({ unit: 'K/min', min: 0, max: 100 });
    expect(params['loop1.pgain']).toMatchObject({ min: 0, max: 1000 });
    expect(params['loop1.igain']).toMatchObject({ unit: 's', min: 0, max: 1000 });
    expect(params['loop1.dgain']).toMatchObject({ unit: '1/s', min: 0, max: 1000 });
    expect(params['loop1.pman']).toMatchObject({ unit: '%', min: 0, max: 100 });
    expect(params['loop1.output']).toMatchObject({ unit: '%' });
    expect(params['loop1.output']?.readonly).not.toBe(false);
    expect(params['loop1.range']?.values).toEqual(['HI', 'MID', 'LOW']);
    expect(params['loop2.range']?.values).toEqual(['HI', 'LOW']);
    expect(params['loop3.range']?.values).toEqual(['5V', '10V']);
    expect(params['loop1.type']?.values).not.toContain('SCALE');
    expect(params['loop4.type']?.values).toContain('SCALE');
    for (const [name, p] of Object.entries(params)) {
      expect(p.description.length, name).toBeGreaterThan(10);
      if (p.readonly === false) expect(p.write, name).toBeTypeOf('function');
    }
    expect(cryoconDevice.serialDefaults).toMatchObject({ baudRate: 9600, dataBits: 8, parity: 'none' });
    expect(cryoconDevice.exchange.minGapMs).toBeGreaterThanOrEqual(100);
    expect(resolved.poll.map((g) => [g.name, g.everyMs])).toEqual([['status', 1000]]);
  });

  it('takes the setpoint range from the options, per model', () => {
    expect(cryoconDevice.limits?.(cryoconOptionsSchema.parse({}))).toEqual({
      'loop1.setpoint': { min: 0, max: 500, source: 'M24C' },
      'loop2.setpoint': { min: 0, max: 500, source: 'M24C' },
      'loop3.setpoint': { min: 0, max: 500, source: 'M24C' },
      'loop4.setpoint': { min: 0, max: 500, source: 'M24C' },
    });
    expect(cryoconDevice.limits?.(cryoconOptionsSchema.parse({ model: 'M32', setpointMax: 350 }))).toEqual({
      'loop1.setpoint': { min: 0, max: 350, source: 'M32' },
      'loop2.setpoint': { min: 0, max: 350, source: 'M32' },
    });
  });

  it('makes every loop setpoint a target of its input, tracked while control is on in a closed-loop type', () => {
    const tuning = cryoconDevice.targetTuning?.(cryoconOptionsSchema.parse({ tolerance: 0.5, settleSeconds: 5 }));
    expect(tuning?.['loop3.setpoint']).toEqual({ tolerance: 0.5, settleMs: 5000 });
    const target = params['loop2.setpoint']?.target;
    expect(target).toMatchObject({ of: 'loop2.temperature', tolerance: 0.1, settleMs: 30_000 });
    expect(target?.activeWhen?.({ control: true, 'loop2.type': 'PID' })).toBe(true);
    expect(target?.activeWhen?.({ control: true, 'loop2.type': 'RAMPP' })).toBe(true);
    expect(target?.activeWhen?.({ control: true, 'loop2.type': 'MAN' })).toBe(false);
    expect(target?.activeWhen?.({ control: false, 'loop2.type': 'PID' })).toBe(false);
    expect(target?.activeWhen?.({ control: true, 'loop2.type': null })).toBe(false);
  });

  it('writes through the driver and returns the read-back', async () => {
    const { sim, driver } = simDriver();
    expect(await write('loop1.setpoint')(driver, 77, ctx)).toBe(77);
    expect(await write('loop1.pgain')(driver, 25, ctx)).toBe(25);
    expect(await write('loop1.igain')(driver, 100, ctx)).toBe(100);
    expect(await write('loop1.dgain')(driver, 2, ctx)).toBe(2);
    expect(await write('loop1.pman')(driver, 5, ctx)).toBe(5);
    expect(await write('loop1.rate')(driver, 3, ctx)).toBe(3);
    expect(await write('loop2.type')(driver, 'man', ctx)).toBe('MAN');
    expect(await write('loop2.range')(driver, 'LOW', ctx)).toBe('LOW');
    expect(await write('loop2.source')(driver, 'C', ctx)).toBe('C');
    expect(await write('chB.units')(driver, 'C', ctx)).toBe('C');
    expect(await write('chB.name')(driver, 'Head', ctx)).toBe('Head');
    expect(await write('sysname')(driver, 'Cryo 1', ctx)).toBe('Cryo 1');
    expect(await write('control')(driver, false, ctx)).toBe(false);
    expect(sim.loop(1)).toMatchObject({ setpoint: 77, pgain: 25, igain: 100, dgain: 2, pman: 5, rate: 3 });
    expect(sim.control).toBe(false);
    await expect(write('loop1.setpoint')(driver, 'cold', ctx)).rejects.toMatchObject({ code: 'WrongType' });
    await expect(write('control')(driver, 1, ctx)).rejects.toMatchObject({ code: 'WrongType' });
    await expect(write('loop1.type')(driver, 'SCALE', ctx)).rejects.toMatchObject({ code: 'WrongType', message: 'loop1.type must be one of OFF, PID, MAN, TABLE, RAMPP, RAMPT, not SCALE' });
  });

  it('has control, stop, clear_alarm and reset_stats as write commands', async () => {
    const { sim, driver, exchange } = simDriver();
    expect(Object.values(resolved.commands).every((c) => c.write)).toBe(true);
    expect(await resolved.commands.stop!.run(driver, {}, ctx)).toEqual({ control: false });
    expect(sim.control).toBe(false);
    expect(await resolved.commands.control!.run(driver, {}, ctx)).toEqual({ control: true });
    await resolved.commands.clear_alarm!.run(driver, { channel: 'C' }, ctx);
    expect(exchange.lines.at(-1)).toBe(':INP C:ALAR:CLE;:*OPC?');
    await resolved.commands.reset_stats!.run(driver, { channel: 'D' }, ctx);
    expect(exchange.lines.at(-1)).toBe(':INP D:STAT:RES;:*OPC?');
  });

  it('identifies the unit and reads everything on connect', async () => {
    const { driver } = simDriver();
    const values = await cryoconDevice.identify!(driver);
    expect(values).toMatchObject({ idn: 'Cryo-con,24C,204683,1.01A', sysname: 'labwire sim', control: true, nack: '' });
    const declared = Object.keys(params);
    expect(declared.filter((p) => !(p in values))).toEqual([]);
    expect(Object.keys(values).filter((p) => !declared.includes(p))).toEqual([]);
  });

  it('polls with one request per cycle and reports a sensor fault as a missing value', async () => {
    const { sim, driver, exchange } = simDriver();
    const poll = resolved.poll[0]!;
    const first = await poll.read(driver);
    expect(exchange.lines).toHaveLength(1);
    expect(first).toMatchObject({ 'chA.temperature': 300, 'chA.sensor': 'ok', 'loop1.temperature': 300, 'loop1.heater_status': '--Htr OK--', control: true, nack: '' });
    sim.setSensor('A', 'fault');
    const second = await poll.read(driver);
    expect(exchange.lines).toHaveLength(2);
    expect(second).toMatchObject({ 'chA.temperature': null, 'chA.sensor': 'fault', 'loop1.temperature': null });
    expect(cryoconStateOverride(second)).toEqual({
      state: 'warn',
      text: 'chA sensor fault (-------): the sensor is open, shorted or disconnected; chA.temperature is missing',
    });
  });

  it('lets link failures through from polls', async () => {
    const dead = new CryoconDriver({ isUp: false, request: async () => Promise.reject(new LinkError('Timeout', 'no reply')) });
    await expect(resolved.poll[0]!.read(dead)).rejects.toBeInstanceOf(LinkError);
  });

  it('flattens readouts into parameters, only what was read', () => {
    expect(readoutToParams({ channels: { B: { temperature: 4.2, sensor: 'ok' } }, loops: { 2: { heaterStatus: 'OTDisconn', output: 0 } }, refused: ['LOOP 1:HTRR?'] })).toEqual({
      'chB.temperature': 4.2,
      'chB.sensor': 'ok',
      'loop2.output': 0,
      'loop2.heater_status': 'OTDisconn',
      nack: 'LOOP 1:HTRR?',
    });
  });

  it.each([
    [{}, undefined],
    [{ 'chA.sensor': 'ok', 'chA.alarm': 'none', 'loop1.heater_status': '--Htr OK--', nack: '' }, undefined],
    [{ 'chB.sensor': 'uncalibrated' }, 'warn'],
    [{ 'chC.sensor': 'sensor_units' }, 'warn'],
    [{ 'chD.sensor': 'refused' }, 'warn'],
    [{ 'chA.alarm': 'high' }, 'warn'],
    [{ 'chA.alarm': 'low' }, 'warn'],
    [{ 'chA.alarm': 'sensor_fault', 'chA.sensor': 'fault' }, 'warn'],
    [{ 'loop1.heater_status': '-Overtemp-' }, 'warn'],
    [{ 'loop1.heater_status': 'Fan Fault', control: true, 'loop1.type': 'PID' }, 'warn'],
    [{ 'loop1.heater_status': 'OTDisconn', control: true, 'loop1.type': 'PID' }, 'error'],
    [{ 'loop2.heater_status': 'Htr-Low-R', control: true, 'loop2.type': 'MAN' }, 'error'],
    [{ 'loop1.heater_status': 'OTDisconn', control: false, 'loop1.type': 'PID' }, 'warn'],
    [{ 'loop3.heater_status': 'OTDisconn', control: true, 'loop3.type': 'OFF' }, 'warn'],
    [{ nack: 'LOOP 1:HTRR?' }, 'warn'],
    [{ 'chA.sensor': null, 'loop1.heater_status': null, nack: null }, undefined],
  ] as [Record<string, WireValue>, string | undefined][])('state override for %j is %s', (values, state) => {
    expect(cryoconStateOverride(values)?.state).toBe(state);
  });

  it('says everything that is wrong, the most severe first', () => {
    expect(cryoconStateOverride({ 'chB.sensor': 'fault', 'loop1.heater_status': 'OTDisconn', control: true, 'loop1.type': 'PID', nack: 'LOOP 2:HTRR?' })).toEqual({
      state: 'error',
      text:
        'loop1 heater OTDisconn: the over-temperature protection has disconnected the heater; ' +
        'chB sensor fault (-------): the sensor is open, shorted or disconnected; chB.temperature is missing; ' +
        'the controller refuses LOOP 2:HTRR? (NACK): those values are missing',
    });
  });

  it('registers its simulator with the family', async () => {
    expect(cryoconFamily.definition.type).toBe('cryocon');
    const sim = (await cryoconFamily.loadSimulator!())({ timeScale: 10, seed: 1 });
    expect(sim).toBeInstanceOf(CryoconSimulator);
    await sim.close();
  });
});
