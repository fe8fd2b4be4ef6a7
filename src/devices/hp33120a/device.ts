/**
 * The HP 33120A function generator as the generic daemon sees it. The limits of each shape (its
 * highest frequency, the amplitude and offset the output can reach into the load set, which units
 * apply) are enforced here before anything is sent, with the limit named.
 */
import { paramsFor } from '../../daemon/declare.js';
import { z } from 'zod';
import { defineDevice, deviceFamily } from '../../daemon/api.js';
import { LabwireError, type WireValue } from '../../wire/types.js';
import { FREQUENCY_MIN, LOADS, SHAPES, UNITS, USER_WAVEFORMS, type GeneratorState, type Load, type Shape, type Units, type UserWaveform } from './codec.js';
import { Hp33120aDriver, hp33120aExchangeOptions, hp33120aSplitter } from './driver.js';

export const hp33120aOptionsSchema = z.object({}).strict();
export type Hp33120aOptions = z.output<typeof hp33120aOptionsSchema>;

function stateValues(s: GeneratorState): Record<string, WireValue> {
  return {
    function: s.shape,
    frequency: s.frequency,
    amplitude: s.amplitude,
    offset: s.offset,
    units: s.units,
    load: s.load,
    user_waveform: s.userWaveform,
  };
}

function member<T extends string>(value: WireValue | undefined, members: readonly T[], name: string): T {
  if (typeof value === 'string' && (members as readonly string[]).includes(value)) return value as T;
  throw new LabwireError('WrongType', `${name} must be one of ${members.join(', ')}, not ${String(value)}`);
}

function number(value: WireValue | undefined, name: string): number {
  if (typeof value !== 'number') throw new LabwireError('WrongType', `${name} must be a number, not ${String(value)}`);
  return value;
}

const p = paramsFor<Hp33120aDriver>();

export const hp33120aDevice = defineDevice<Hp33120aOptions, Hp33120aDriver>({
  type: 'hp33120a',
  title: 'HP / Agilent 33120A function generator (GPIB, SCPI)',
  options: hp33120aOptionsSchema,
  exchange: hp33120aExchangeOptions,
  splitter: hp33120aSplitter,
  params: {
    function: p.choice(SHAPES, 'output shape (FUNC:SHAP): SIN, SQU, TRI, RAMP, NOIS, DC, USER', {
      key: true,
      write: async (driver, shape: Shape) => (await driver.setShape(shape)).shape,
    }),
    frequency: p.float('frequency (FREQ): to 15 MHz for SIN and SQU, 100 kHz for TRI and RAMP, 5 MHz for USER', {
      unit: 'Hz',
      key: true,
      min: FREQUENCY_MIN,
      max: 15e6,
      write: async (driver, hz) => (await driver.setFrequency(hz)).frequency,
    }),
    amplitude: p.float('amplitude (VOLT) in the units set (Vpp, Vrms or dBm) for the load set: 50 mVpp–10 Vpp into 50 Ω, 100 mVpp–20 Vpp into high-Z', {
      key: true,
      write: async (driver, amplitude) => (await driver.setAmplitude(amplitude)).amplitude,
    }),
    offset: p.float('DC offset (VOLT:OFFS); |offset| + Vpp/2 within 5 V into 50 Ω, 10 V into high-Z; the level of the DC shape', {
      unit: 'V',
      write: async (driver, volts) => (await driver.setOffset(volts)).offset,
    }),
    units: p.choice(UNITS, 'amplitude units (VOLT:UNIT): VPP, VRMS (SIN, SQU, TRI, RAMP), DBM (those, into 50 Ω only)', {
      write: async (driver, units: Units) => (await driver.setUnits(units)).units,
    }),
    load: p.choice(LOADS, 'load the amplitude refers to (OUTP:LOAD): 50 Ω or INF (high-Z); amplitude and offset shown ×2 into high-Z', {
      write: async (driver, load: Load) => (await driver.setLoad(load)).load,
    }),
    user_waveform: p.choice(USER_WAVEFORMS, 'arbitrary waveform the USER shape plays (FUNC:USER)', {
      write: async (driver, waveform: UserWaveform) => (await driver.setUserWaveform(waveform)).userWaveform,
    }),
    last_error: { type: 'string', description: 'the latest error taken from the queue (SYST:ERR?), e.g. -222 Data out of range; empty when none' },
    identity: { type: 'string', description: 'model, serial and firmware revision (*IDN?)' },
  },
  commands: {
    apply: {
      description: 'set shape, frequency, amplitude (in the units set) and offset at once (APPL), checked against the shape’s limits first',
      write: true,
      args: {
        shape: { type: 'enum', values: SHAPES, description: 'output shape' },
        frequency: { type: 'float', unit: 'Hz', description: 'frequency in Hz (ignored for NOIS and DC)' },
        amplitude: { type: 'float', description: 'amplitude in the units set (ignored for DC)' },
        offset: { type: 'float', unit: 'V', description: 'DC offset in volts (the level for DC)' },
      },
      run: async (driver, args) => {
        const s = await driver.apply(
          member<Shape>(args.shape, SHAPES, 'shape'),
          number(args.frequency, 'frequency'),
          number(args.amplitude, 'amplitude'),
          number(args.offset, 'offset'),
        );
        return stateValues(s);
      },
    },
  },
  poll: [
    {
      name: 'state',
      everyMs: 2000,
      read: async (driver) => {
        const values = stateValues(await driver.state());
        const e = await driver.nextError();
        if (e.code !== 0) values.last_error = `${e.code} ${e.text}`;
        return values;
      },
    },
  ],
  createDriver: (exchange) => new Hp33120aDriver(exchange),
  identify: async (driver) => {
    const id = await driver.identify();
    return { identity: `${id.model} ${id.serial} ${id.revision}`, last_error: '' };
  },
});

export const hp33120aFamily = deviceFamily(hp33120aDevice, {
  loadBusInstrument: async () => (await import('./model.js')).createHp33120aModel,
  plots: [
    { id: 'output', name: 'Frequency', values: ['time', 'frequency'], ylabel: 'Hz' },
    { id: 'level', name: 'Amplitude and offset', values: ['time', 'amplitude', 'offset'], ylabel: 'V' },
  ],
});
