import { describe, expect, it } from 'vitest';
import { declarations, definitionHarness, modelExchange } from '../../testing/bus-model-exchange.js';
import { deviceFamilies } from '../index.js';
import { hp33120aDevice, hp33120aFamily } from './device.js';
import { hp33120aSplitter } from './driver.js';
import { Hp33120aModel } from './model.js';

const decl = declarations(hp33120aDevice, {});

function setup() {
  const model = new Hp33120aModel();
  const exchange = modelExchange(model, hp33120aSplitter());
  const driver = hp33120aDevice.createDriver(exchange, {});
  const { values, ctx, pollAll, set } = definitionHarness(decl, driver);
  const apply = (shape: string, frequency: number, amplitude: number, offset: number) =>
    decl.commands.apply!.run(driver, { shape, frequency, amplitude, offset }, ctx);
  return { model, exchange, driver, values, pollAll, set, apply };
}

/** Requests that would change the output (anything but the state and error queries). */
const changes = (sent: string[]): string[] => sent.filter((s) => !/^(APPL\?|SYST:ERR\?|\*IDN\?)/.test(s));

describe('hp33120a device definition', () => {
  it('is registered and offers a bus instrument model, loaded on demand', async () => {
    expect(deviceFamilies.hp33120a).toBe(hp33120aFamily);
    const m = (await hp33120aFamily.loadBusInstrument!())({});
    m.receive(Buffer.from('*IDN?\n'));
    expect(m.talk()?.toString()).toBe('HEWLETT-PACKARD,33120A,0,7.0-5.0-1.0\n');
  });

  it('identifies and reads every parameter', async () => {
    const { driver, pollAll, values } = setup();
    Object.assign(values, await hp33120aDevice.identify!(driver));
    await pollAll();
    expect(Object.keys(decl.params).filter((p) => values[p] === undefined)).toEqual([]);
    expect(values).toMatchObject({ function: 'SIN', frequency: 1000, amplitude: 0.1, offset: 0, units: 'VPP', load: '50', user_waveform: 'SINC', last_error: '', identity: '33120A 0 7.0-5.0-1.0' });
  });

  it('sets each value with a read-back of the whole state', async () => {
    const { set, model } = setup();
    expect(await set('frequency', 12345.5)).toBe(12345.5);
    expect(await set('amplitude', 4)).toBe(4);
    expect(await set('offset', -1)).toBe(-1);
    expect(await set('function', 'SQU')).toBe('SQU');
    expect(await set('units', 'VRMS')).toBe('VRMS');
    expect(await set('user_waveform', 'EXP_RISE')).toBe('EXP_RISE');
    expect(model.state).toEqual({ shape: 'SQU', frequency: 12345.5, vpp: 4, offset: -1, units: 'VRMS', load: '50', user: 'EXP_RISE' });
    expect(await set('load', 'INF')).toBe('INF');
    expect(model.state).toMatchObject({ vpp: 8, offset: -2, load: 'INF' });
  });

  it('refuses what the shape or load cannot do before sending it, naming the limit', async () => {
    const { set, exchange, apply, model } = setup();
    await set('frequency', 1e6);
    const before = changes(exchange.sent).length;
    await expect(set('function', 'TRI')).rejects.toThrow("frequency 1000000 Hz is above the 33120A's TRI limit of 100000 Hz");
    await expect(set('amplitude', 12)).rejects.toThrow("amplitude 12 Vpp is above the 33120A's limit of 10 Vpp into 50 Ω");
    await expect(set('amplitude', 12)).rejects.toMatchObject({ code: 'RangeError' });
    await set('amplitude', 8);
    await expect(set('offset', 1.5)).rejects.toThrow("amplitude 8 Vpp with offset 1.5 V peaks at 5.5 V, beyond the 33120A's 5 V into 50 Ω");
    await expect(apply('RAMP', 2e5, 1, 0)).rejects.toThrow("frequency 200000 Hz is above the 33120A's RAMP limit of 100000 Hz");
    await expect(apply('DC', 0, 0, 6)).rejects.toThrow("DC level 6 V is beyond the 33120A's ±5 V into 50 Ω");
    await set('units', 'DBM');
    await expect(set('load', 'INF')).rejects.toThrow('units DBM need the 50 Ω load setting');
    await expect(set('function', 'NOIS')).rejects.toThrow('units DBM are not defined for the NOIS shape on the 33120A; use VPP');
    expect(changes(exchange.sent).slice(before)).toEqual(['VOLT 8;:APPL?;:VOLT:UNIT?;:OUTP:LOAD?;:FUNC:USER?', 'VOLT:UNIT DBM;:APPL?;:VOLT:UNIT?;:OUTP:LOAD?;:FUNC:USER?']);
    expect(model.status.errors.count).toBe(0);
  });

  it('applies shape, frequency, amplitude and offset at once; high-Z doubles the reach', async () => {
    const { apply, set } = setup();
    expect(await apply('SQU', 5e3, 3, -2.5)).toMatchObject({ function: 'SQU', frequency: 5000, amplitude: 3, offset: -2.5 });
    await set('load', 'INF');
    expect(await apply('SIN', 1e6, 18, 0.5)).toMatchObject({ function: 'SIN', amplitude: 18, offset: 0.5, load: 'INF' });
    expect(await apply('DC', 1, 0.1, 9)).toMatchObject({ function: 'DC', offset: 9 });
  });

  it('shows a refusal by the instrument itself in last_error', async () => {
    const { driver, pollAll, values, model } = setup();
    // The front panel changed the load behind the daemon's back; the daemon checks the fresh state.
    await pollAll();
    model.state.load = 'INF';
    model.state.vpp = 15;
    await expect(driver.setFrequency(2e3)).resolves.toMatchObject({ frequency: 2000 });
    model.receive(Buffer.from('OUTP:LOAD 50\n'));
    expect(model.state.vpp).toBe(7.5);
    model.receive(Buffer.from('VOLT 20\n'));
    await pollAll();
    expect(values.last_error).toBe('-222 Data out of range');
  });

  it('fails a garbled state instead of publishing it', async () => {
    const { driver, model } = setup();
    model.garbleNextReplies(1);
    await expect(driver.state()).rejects.toMatchObject({ code: 'CommunicationFailed' });
    expect((await driver.state()).shape).toBe('SIN');
  });
});
