import { describe, expect, it } from 'vitest';
import { LabwireError } from '../../wire/types.js';
import { declarations, definitionHarness, modelExchange } from '../../testing/bus-model-exchange.js';
import { handlerContext } from '../../testing/handler-context.js';
import { deviceFamilies } from '../index.js';
import { keithley487Device, keithley487Family } from './device.js';
import { keithley487Splitter } from './driver.js';
import { Keithley487Model } from './model.js';

const decl = declarations(keithley487Device, {});

function setup(options: ConstructorParameters<typeof Keithley487Model>[0] = {}) {
  const model = new Keithley487Model({ seed: 9, noise: 0, ...options });
  const exchange = modelExchange(model, keithley487Splitter());
  const driver = keithley487Device.createDriver(exchange, {});
  const { values, ctx, pollAll, set } = definitionHarness(decl, driver);
  return { model, exchange, driver, values, ctx, pollAll, set };
}

describe('keithley487 device definition', () => {
  it('is registered and offers a bus instrument model, loaded on demand', async () => {
    expect(deviceFamilies.keithley487).toBe(keithley487Family);
    const m = (await keithley487Family.loadBusInstrument!())({ seed: 1 });
    m.receive(Buffer.from('U2X\n'));
    expect(m.talk()?.toString()).toBe('487A05\r\n');
  });

  it('identifies (setting EOI and CR LF first) and reads every parameter', async () => {
    const { exchange, driver, pollAll } = setup();
    expect(await keithley487Device.identify!(driver)).toEqual({ model: '487 A05' });
    expect(exchange.sent.slice(0, 2)).toEqual(['K0Y0X', 'U2X']);
    const values = await pollAll();
    const missing = Object.keys(decl.params).filter((p) => p !== 'model' && values[p] === undefined);
    expect(missing).toEqual([]);
    expect(values).toMatchObject({ range: 'auto', operate: false, source_voltage: 0, source_range: '50V', current_limit: '2.5mA', ddc_errors: '' });
  });

  it('sources a voltage through the load and reads its current', async () => {
    const { set, pollAll } = setup({ loadOhms: 1e10, offsetAmps: 0 });
    await pollAll();
    expect(await set('source_range', '500V')).toBe('500V');
    expect(await set('source_voltage', 400)).toBe(400);
    expect(await set('operate', true)).toBe(true);
    const values = await pollAll();
    expect(values.current).toBeCloseTo(4e-8, 12);
    expect(values).toMatchObject({ source_voltage: 400, source_range: '500V', operate: true, range: 'auto', range_amps: 2e-7 });
  });

  it('refuses a voltage beyond the range before sending anything, naming the limit', async () => {
    const { set, pollAll, exchange, model } = setup();
    await pollAll();
    await set('source_range', '500V');
    const before = exchange.sent.length;
    await expect(set('source_voltage', 600)).rejects.toThrow("source voltage 600 V is above the 487's 500 V range limit of 505 V");
    await expect(set('source_voltage', 600)).rejects.toMatchObject({ code: 'RangeError' });
    await set('source_range', '50V');
    await expect(set('source_voltage', 60)).rejects.toThrow(/50 V range limit of 50\.5 V; select the 500V source range first/);
    expect(exchange.sent.slice(before).filter((s) => s.startsWith('V6'))).toEqual([]);
    expect(model.sourceVolts).toBe(0);
  });

  it('refuses a range change that would leave the programmed voltage beyond the new range', async () => {
    const { set, pollAll } = setup();
    await pollAll();
    await set('source_range', '500V');
    await set('source_voltage', 100);
    await expect(set('source_range', '50V')).rejects.toThrow("source voltage 100 V is above the 487's 50 V range limit of 50.5 V");
  });

  it('keeps the voltage the instrument has when only the limit changes, even if the cache is stale', async () => {
    const { set, pollAll, model } = setup();
    await pollAll();
    // Changed behind the daemon's back (front panel, another client) since the last poll.
    model.receive(Buffer.from('V-7.5,0,1X\n'));
    expect(await set('current_limit', '25uA')).toBe('25uA');
    expect(model.sourceVolts).toBe(-7.5);
    expect(model.currentLimit).toBe('25uA');
  });

  it('runs the source command with all three settings at once', async () => {
    const { driver, exchange } = setup();
    const r = await decl.commands.source!.run(driver, { voltage: -25, range: '50V', limit: '25uA' }, handlerContext());
    expect(r).toEqual({ source_voltage: -25, source_range: '50V', current_limit: '25uA' });
    expect(exchange.sent).toContain('V-25,0,0X');
    await expect(decl.commands.source!.run(driver, { voltage: 510, range: '500V', limit: '25uA' }, handlerContext()))
      .rejects.toThrow("source voltage 510 V is above the 487's 500 V range limit of 505 V");
  });

  it('sets range, zero check and zero correction, confirmed by the status word', async () => {
    const { set, pollAll, driver } = setup();
    expect(await set('range', '20nA')).toBe('20nA');
    expect(await set('zero_check', true)).toBe(true);
    let values = await pollAll();
    expect(values).toMatchObject({ range: '20nA', range_amps: 2e-8, zero_check: true, zero_corrected: false });
    expect(await decl.commands.zero_correct!.run(driver, {}, handlerContext(values))).toEqual({ zero_corrected: true });
    values = await pollAll();
    expect(values).toMatchObject({ zero_check: true, zero_corrected: true });
  });

  it('reports an instrument refusal with the DDC error named', async () => {
    const { driver } = setup();
    const err = await (driver as unknown as { apply(c: string): Promise<unknown> }).apply('E1X').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabwireError);
    expect((err as LabwireError).message).toBe('the 487 refused E1X: IDDC (invalid device-dependent command)');
  });

  it('warns while the source limits its current, and on overflow', async () => {
    const { set, pollAll } = setup({ loadOhms: 1e5 });
    await set('source_voltage', 50);
    await set('current_limit', '25uA');
    await set('operate', true);
    const values = await pollAll();
    expect(values.in_limit).toBe(true);
    expect(decl.stateOverride(values)).toEqual({ state: 'warn', text: 'voltage source in current limit (25uA)' });
    expect(decl.stateOverride({ overflow: true, range: '2nA' })).toEqual({ state: 'warn', text: 'current beyond the 2nA range' });
    expect(decl.stateOverride({ overflow: false, in_limit: false, ddc_errors: '' })).toBeUndefined();
  });

  it('fails a reading the model garbles instead of publishing it', async () => {
    const { driver, model } = setup();
    model.garbleNextReplies(1);
    await expect(driver.reading()).rejects.toMatchObject({ code: 'CommunicationFailed' });
    expect((await driver.reading()).overflow).toBe(false);
  });
});
