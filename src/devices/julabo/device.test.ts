import { describe, expect, it } from 'vitest';
import type { HandlerContext } from '../../daemon/api.js';
import { handlerContext } from '../../testing/handler-context.js';
import { LinkError, type ExchangeLike } from '../../links/types.js';
import type { WireValue } from '../../wire/types.js';
import { JulaboDriver } from './driver.js';
import { JULABO_MODELS, julaboDevice, julaboFamily, julaboOptionsSchema } from './device.js';
import { JulaboSimulator, SIMULATED_VERSION, type JulaboSimulatorOptions } from './simulator.js';
import { resolveDevice } from '../../daemon/resolved-device.js';

const resolved = resolveDevice(julaboDevice);

/** The driver over the simulator in-process: the device definition is the subject here. */
function simDriver(options: JulaboSimulatorOptions = {}) {
  const sim = new JulaboSimulator({ noise: 0, byteTiming: false, ...options });
  const exchange: ExchangeLike = {
    isUp: true,
    async request(data, opts) {
      const reply = sim.handleLine(data.toString().trim());
      if (opts?.expectReply === false) return undefined;
      if (reply === undefined) throw new LinkError('Timeout', 'no reply');
      return Buffer.from(reply);
    },
  };
  return { sim, driver: julaboDevice.createDriver(exchange, julaboOptionsSchema.parse({})) };
}

const ctx: HandlerContext = handlerContext();
const poll = (name: string) => resolved.poll.find((g) => g.name === name)!;

describe('julabo device definition', () => {
  it('accepts {} and fills the defaults', () => {
    expect(julaboOptionsSchema.parse({})).toEqual({ model: 'FL1703', tolerance: 0.2, settleSeconds: 30, crlf: false });
  });

  it('names the known models when the model is unknown', () => {
    const r = julaboOptionsSchema.safeParse({ model: 'FL4000' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('unknown Julabo model; known models: FL1703');
    expect(julaboOptionsSchema.safeParse({ tolerance: -1 }).success).toBe(false);
  });

  it('takes setpoint limits from the model', () => {
    expect(julaboDevice.limits?.(julaboOptionsSchema.parse({}))).toEqual({ setpoint: { min: -20, max: 40, source: 'FL1703' } });
    expect(JULABO_MODELS.FL1703).toMatchObject({ setpointMin: -20, setpointMax: 40 });
  });

  it('tunes the setpoint target from the options', () => {
    const options = julaboOptionsSchema.parse({ tolerance: 0.5, settleSeconds: 120 });
    expect(julaboDevice.targetTuning?.(options)).toEqual({ setpoint: { tolerance: 0.5, settleMs: 120_000 } });
    const target = resolved.params.setpoint?.target;
    expect(target).toMatchObject({ of: 'temperature', tolerance: 0.2, settleMs: 30_000 });
    expect(target?.activeWhen?.({ running: true })).toBe(true);
    expect(target?.activeWhen?.({ running: false })).toBe(false);
  });

  it('declares parameters in status order, with the right types and access', () => {
    expect(Object.keys(resolved.params)).toEqual(['temperature', 'setpoint', 'running', 'status_code', 'status_text', 'version']);
    const p = resolved.params;
    expect(p.temperature).toMatchObject({ type: 'float', unit: '°C', deadband: 0.01 });
    expect(p.temperature?.readonly).not.toBe(false);
    expect(p.setpoint).toMatchObject({ type: 'float', unit: '°C', readonly: false });
    expect(p.running).toMatchObject({ type: 'bool', readonly: false });
    expect(p.status_code?.type).toBe('int');
    expect(p.status_text?.type).toBe('string');
    expect(p.version?.type).toBe('string');
    expect(julaboDevice.serialDefaults).toEqual({ baudRate: 4800, dataBits: 7, parity: 'even', stopBits: 1, rtscts: true });
    expect(julaboDevice.exchange).toMatchObject({ minGapMs: 250, gapAfterReplyMs: 10 });
  });

  it('writes the setpoint and the run state through the driver, returning the read-back', async () => {
    const { sim, driver } = simDriver();
    expect(await resolved.params.setpoint!.write!(driver, 12.5, ctx)).toBe(12.5);
    expect(sim.setpoint).toBe(12.5);
    expect(await resolved.params.running!.write!(driver, true, ctx)).toBe(true);
    expect(sim.running).toBe(true);
    await expect(resolved.params.setpoint!.write!(driver, 'warm', ctx)).rejects.toMatchObject({ code: 'WrongType' });
    await expect(resolved.params.running!.write!(driver, 1, ctx)).rejects.toMatchObject({ code: 'WrongType' });
    await expect(resolved.params.setpoint!.write!(driver, 45, ctx)).rejects.toMatchObject({
      code: 'HardwareError',
      message: 'chiller refused setpoint 45: -11 VALUE TOO LARGE',
    });
  });

  it('has start and stop as write commands', async () => {
    const { sim, driver } = simDriver();
    expect(resolved.commands.start?.write).toBe(true);
    expect(resolved.commands.stop?.write).toBe(true);
    expect(await resolved.commands.start!.run(driver, {}, ctx)).toEqual({ running: true });
    expect(sim.running).toBe(true);
    expect(await resolved.commands.stop!.run(driver, {}, ctx)).toEqual({ running: false });
  });

  it('polls the temperature every second and the rest every 5 s', async () => {
    const { driver } = simDriver({ initialTemperature: 18.25, running: true });
    expect(resolved.poll.map((g) => [g.name, g.everyMs])).toEqual([
      ['fast', 1000],
      ['slow', 5000],
    ]);
    expect(await poll('fast').read(driver)).toEqual({ temperature: 18.25 });
    expect(await poll('slow').read(driver)).toEqual({ setpoint: 25, running: true, status_code: 3, status_text: 'REMOTE START' });
  });

  it('reports a failed sensor as a missing temperature and an alarm status', async () => {
    const { driver } = simDriver({ sensorAlarm: true });
    expect(await poll('fast').read(driver)).toEqual({ temperature: null });
    const slow = await poll('slow').read(driver);
    expect(slow).toMatchObject({ status_code: -5, status_text: 'WORKING SENSOR ALARM', running: false });
    expect(resolved.stateOverride(slow)).toMatchObject({ state: 'error', text: expect.stringContaining('-05 WORKING SENSOR ALARM') });
  });

  it('still reads the status when the unit answers other queries with an error', async () => {
    // Every query, status included, is answered with the bus error.
    const driver = new JulaboDriver({ isUp: true, request: async () => Buffer.from('-07 I2C-BUS ERROR') });
    expect(await poll('slow').read(driver)).toEqual({ setpoint: null, running: null, status_code: -7, status_text: 'I2C-BUS ERROR' });
  });

  it('lets link failures through from polls', async () => {
    const dead = new JulaboDriver({ isUp: false, request: async () => Promise.reject(new LinkError('Timeout', 'no reply')) });
    await expect(poll('fast').read(dead)).rejects.toBeInstanceOf(LinkError);
  });

  it('identifies the unit by its version', async () => {
    const { driver } = simDriver();
    expect(await julaboDevice.identify?.(driver)).toEqual({ version: SIMULATED_VERSION });
  });

  it.each([
    [{ status_code: 3, status_text: 'REMOTE START' }, undefined],
    [{ status_code: 2, status_text: 'REMOTE STOP' }, undefined],
    [{ status_code: 0, status_text: 'MANUAL STOP' }, 'warn'],
    [{ status_code: 1, status_text: 'MANUAL START' }, 'warn'],
    [{ status_code: -1, status_text: 'LOW LEVEL ALARM' }, 'error'],
    [{ status_code: -5, status_text: 'WORKING SENSOR ALARM' }, 'error'],
    [{ status_code: -7, status_text: 'I2C-BUS ERROR' }, 'error'],
    [{ status_code: -12, status_text: 'TEMPERATURE MEASUREMENT ALARM' }, 'error'],
    [{ status_code: -14, status_text: 'EXCESS TEMPERATURE PROTECTOR ALARM' }, 'error'],
    [{ status_code: -3, status_text: 'EXCESS TEMPERATURE WARNING' }, 'warn'],
    [{ status_code: -20, status_text: 'WARNING: CLEAN CONDENSOR OR CHECK COOLING WATER CIRCUIT OF REFRIGERATOR' }, 'warn'],
    [{ status_code: -8, status_text: 'INVALID COMMAND' }, 'warn'],
    [{ status_code: -9, status_text: 'COMMAND NOT ALLOWED IN CURRENT OPERATING MODE' }, 'warn'],
    [{ status_code: -10, status_text: 'VALUE TOO SMALL' }, 'warn'],
    [{ status_code: -11, status_text: 'VALUE TOO LARGE' }, 'warn'],
    [{ status_code: -33, status_text: 'SOMETHING NEW' }, 'error'],
    [{ status_code: null, status_text: null }, undefined],
    [{}, undefined],
  ] as [Record<string, WireValue>, string | undefined][])('state override for %j is %s', (values, state) => {
    const override = resolved.stateOverride(values);
    expect(override?.state).toBe(state);
    if (override && typeof values.status_text === 'string') expect(override.text).toContain(values.status_text);
  });

  it('registers its simulator with the family', async () => {
    expect(julaboFamily.definition.type).toBe('julabo');
    const sim = (await julaboFamily.loadSimulator!())({ timeScale: 10, seed: 1 });
    expect(sim).toBeInstanceOf(JulaboSimulator);
    await sim.close();
  });
});
