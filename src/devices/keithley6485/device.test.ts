import { describe, expect, it } from 'vitest';
import { declarations, definitionHarness, modelExchange } from '../../testing/bus-model-exchange.js';
import { handlerContext } from '../../testing/handler-context.js';
import { deviceFamilies } from '../index.js';
import { keithley6485Device, keithley6485Family, keithley6485OptionsSchema } from './device.js';
import { keithley6485Splitter } from './driver.js';
import { Keithley6485Model, type Keithley6485ModelOptions } from './model.js';

const decl = declarations(keithley6485Device, keithley6485OptionsSchema.parse({}));

function setup(options: Keithley6485ModelOptions = {}) {
  const model = new Keithley6485Model({ seed: 9, noise: 0, ...options });
  const exchange = modelExchange(model, keithley6485Splitter());
  const driver = keithley6485Device.createDriver(exchange, keithley6485OptionsSchema.parse({}));
  const { values, pollAll, set } = definitionHarness(decl, driver);
  return { model, exchange, driver, values, pollAll, set };
}

describe('keithley6485 device definition', () => {
  it('is registered and offers a bus instrument model, loaded on demand', async () => {
    expect(deviceFamilies.keithley6485).toBe(keithley6485Family);
    const m = (await keithley6485Family.loadBusInstrument!())({ seed: 1 });
    m.receive(Buffer.from('*IDN?\n'));
    expect(m.talk()?.toString()).toMatch(/^KEITHLEY INSTRUMENTS INC\.,MODEL 6485,/);
  });

  it('identifies and reads every parameter', async () => {
    const { driver, pollAll, values } = setup();
    Object.assign(values, await keithley6485Device.identify!(driver));
    expect(values.identity).toMatch(/^6485 4096485 B03/);
    await pollAll();
    const missing = Object.keys(decl.params).filter((p) => values[p] === undefined);
    expect(missing).toEqual([]);
    expect(values).toMatchObject({ range: 'auto', zero_check: true, zero_correct: false, nplc: 1, error_count: 0, last_error: '' });
  });

  it('reads the current once zero check is off, on a fixed range or autorange', async () => {
    const { set, pollAll, model } = setup({ inputAmps: 3e-7, offsetAmps: 0 });
    expect(await set('zero_check', false)).toBe(false);
    let values = await pollAll();
    expect(values.current).toBeCloseTo(3e-7, 12);
    expect(values).toMatchObject({ range: 'auto', range_amps: 2e-6, overflow: false });
    expect(await set('range', '200nA')).toBe('200nA');
    values = await pollAll();
    expect(values).toMatchObject({ current: null, overflow: true, range: '200nA' });
    expect(decl.stateOverride(values)).toEqual({ state: 'warn', text: 'current beyond the 200nA range (2e-7 A)' });
    model.inputAmps = 1e-7;
    values = await pollAll();
    expect(values.overflow).toBe(false);
    expect(decl.stateOverride(values)).toBeUndefined();
  });

  it('sets NPLC with a read-back, within limits that follow the mains frequency, and the rate keys', async () => {
    const { set, pollAll, model } = setup();
    expect(await set('nplc', 0.1)).toBe(0.1);
    expect((await pollAll()).rate).toBe('fast');
    expect(await set('rate', 'slow')).toBe('slow');
    expect(model.nplc).toBe(6);
    expect(await set('nplc', 2)).toBe(2);
    expect((await pollAll()).rate).toBe('custom');
    await expect(set('rate', 'custom')).rejects.toThrow('rate must be fast, medium or slow (set nplc for other values), not custom');
    expect(keithley6485Device.limits!(keithley6485OptionsSchema.parse({}))).toEqual({ nplc: { min: 0.01, max: 6, source: '6485 at 60 Hz' } });
    expect(keithley6485Device.limits!(keithley6485OptionsSchema.parse({ lineHz: 50 })).nplc?.max).toBe(5);
    expect(keithley6485OptionsSchema.safeParse({ lineHz: 55 }).success).toBe(false);
  });

  it('fails a set the instrument refused, and shows the error from the queue', async () => {
    const { set, pollAll, model, values } = setup({ lineHz: 50 });
    // The daemon's limit is 6 at 60 Hz; a 50 Hz instrument refuses 6 and keeps its NPLC.
    await expect(set('nplc', 6)).rejects.toThrow('the 6485 kept NPLC 1 instead of 6');
    expect(model.nplc).toBe(1);
    await pollAll();
    expect(values.last_error).toBe('-222 Data out of range');
    await pollAll();
    expect(values.error_count).toBe(0);
  });

  it('acquires a zero correction and restores zero check', async () => {
    const { set, driver, pollAll, model } = setup({ inputAmps: 1e-9, offsetAmps: 3e-11 });
    await set('zero_check', false);
    expect((await pollAll()).current).toBeCloseTo(1.03e-9, 13);
    expect(await decl.commands.acquire_zero!.run(driver, {}, handlerContext())).toEqual({ zero_correct: true, zero_check: false });
    expect(model.zeroCheck).toBe(false);
    expect((await pollAll()).current).toBeCloseTo(1e-9, 13);
    expect(await set('zero_correct', false)).toBe(false);
  });

  it('fails a garbled reading instead of publishing it', async () => {
    const { driver, model } = setup();
    model.garbleNextReplies(1);
    await expect(driver.read()).rejects.toMatchObject({ code: 'CommunicationFailed' });
    expect((await driver.read()).overflow).toBe(false);
  });
});
