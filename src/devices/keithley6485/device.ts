/**
 * The Keithley 6485 picoammeter as the generic daemon sees it: a current polled every second,
 * range/autorange, zero check and zero correction, integration time (NPLC) and the error queue.
 */
import { paramsFor } from '../../daemon/declare.js';
import { z } from 'zod';
import { defineDevice, deviceFamily, type Limits } from '../../daemon/api.js';
import { LabwireError, type WireValue } from '../../wire/types.js';
import { NPLC_MIN, RANGE_NAMES, RATES, nplcMax, rangeNameOf, rateNplc, rateOf, type RangeName } from './codec.js';
import { Keithley6485Driver, keithley6485ExchangeOptions, keithley6485Splitter } from './driver.js';

export const keithley6485OptionsSchema = z.object({
  /** Mains frequency: NPLC goes to 6 at 60 Hz, to 5 at 50 Hz. */
  lineHz: z.union([z.literal(50), z.literal(60)]).default(60),
}).strict();
export type Keithley6485Options = z.output<typeof keithley6485OptionsSchema>;


const p = paramsFor<Keithley6485Driver>();

export const keithley6485Device = defineDevice<Keithley6485Options, Keithley6485Driver>({
  type: 'keithley6485',
  title: 'Keithley 6485 picoammeter (GPIB, SCPI)',
  options: keithley6485OptionsSchema,
  exchange: keithley6485ExchangeOptions,
  splitter: keithley6485Splitter,
  params: {
    current: { type: 'float', unit: 'A', description: 'current reading (READ?); nan on overflow', key: true },
    overflow: { type: 'bool', description: 'the reading is beyond the range in use (+9.9E37)' },
    timestamp: { type: 'float', unit: 's', description: "the instrument's reading timestamp, seconds since power-on (wraps at 99 999.99 s)" },
    range: p.choice(RANGE_NAMES, 'current range: auto (CURR:RANG:AUTO ON) or a fixed full scale 2nA … 20mA (CURR:RANG)', {
      write: async (driver, range: RangeName) => driver.setRange(range),
    }),
    range_amps: { type: 'float', unit: 'A', description: 'full scale of the range in use (the one autorange chose)', key: true },
    zero_check: p.bool('zero check (SYST:ZCH): the input is shorted, the reading shows only the offset', {
      write: async (driver, on) => driver.setZeroCheck(on),
    }),
    zero_correct: p.bool('zero correction (SYST:ZCOR): subtract the acquired offset; acquire one with acquire_zero', {
      write: async (driver, on) => driver.setZeroCorrect(on),
    }),
    nplc: p.float('integration time in power-line cycles (CURR:NPLC): 0.1 fast, 1 medium, 6 (5 at 50 Hz) slow', {
      unit: 'PLC',
      min: NPLC_MIN,
      max: nplcMax(60),
      write: async (driver, nplc) => driver.setNplc(nplc),
    }),
    rate: {
      type: 'enum',
      values: RATES,
      description: 'front-panel rate: fast (NPLC 0.1), medium (1), slow (6, or 5 at 50 Hz); custom for any other nplc',
      readonly: false,
      write: async (driver, value) => {
        if (value !== 'fast' && value !== 'medium' && value !== 'slow') {
          throw new LabwireError('WrongType', `rate must be fast, medium or slow (set nplc for other values), not ${String(value)}`);
        }
        return rateOf(await driver.setNplc(rateNplc(value, driver.lineHz)), driver.lineHz);
      },
    },
    error_count: { type: 'int', description: "entries in the instrument's error queue (SYST:ERR:COUN?)" },
    last_error: { type: 'string', description: 'the latest error taken from the queue (SYST:ERR?), e.g. -113 Undefined header; empty when none' },
    identity: { type: 'string', description: 'model, serial number and firmware (*IDN?)' },
  },
  commands: {
    acquire_zero: {
      description: 'acquire the zero offset with zero check on and turn zero correction on (SYST:ZCOR:ACQ), zero check restored',
      write: true,
      run: async (driver) => {
        const s = await driver.acquireZero();
        return { zero_correct: s.zeroCorrect, zero_check: s.zeroCheck };
      },
    },
  },
  poll: [
    {
      name: 'fast',
      everyMs: 1000,
      read: async (driver) => {
        const r = await driver.read();
        return { current: r.amps, overflow: r.overflow, timestamp: r.timestamp };
      },
    },
    {
      name: 'slow',
      everyMs: 2000,
      read: async (driver) => {
        const s = await driver.settings();
        const values: Record<string, WireValue> = {
          range: s.autorange ? 'auto' : (rangeNameOf(s.rangeAmps) ?? null),
          range_amps: s.rangeAmps,
          zero_check: s.zeroCheck,
          zero_correct: s.zeroCorrect,
          nplc: s.nplc,
          rate: rateOf(s.nplc, driver.lineHz),
          error_count: s.errorCount,
        };
        // One error per cycle: the queue drains without a burst of requests.
        if (s.errorCount > 0) {
          const e = await driver.nextError();
          if (e.code !== 0) values.last_error = `${e.code} ${e.text}`;
        }
        return values;
      },
    },
  ],
  createDriver: (exchange, options) => new Keithley6485Driver(exchange, options.lineHz),
  limits: (options): Record<string, Limits> => ({ nplc: { min: NPLC_MIN, max: nplcMax(options.lineHz), source: `6485 at ${options.lineHz} Hz` } }),
  identify: async (driver) => {
    const id = await driver.identify();
    return { identity: `${id.model} ${id.serial} ${id.firmware}`, last_error: '' };
  },
  stateOverride: (values) => {
    if (values.overflow === true) return { state: 'warn', text: `current beyond the ${String(values.range)} range (${String(values.range_amps)} A)` };
    return undefined;
  },
});

export const keithley6485Family = deviceFamily(keithley6485Device, {
  loadBusInstrument: async () => (await import('./model.js')).createKeithley6485Model,
  plots: [{ id: 'current', name: 'Current', values: ['time', 'current'], ylabel: 'A' }],
  // A picoammeter powers up with its input shorted; the demo's is left measuring, so a current shows.
  demo: () => ({ simulatorOptions: { zeroCheck: false } }),
});
