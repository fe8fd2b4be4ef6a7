/**
 * The Keithley 487 picoammeter / voltage source as the generic daemon sees it. The source voltage
 * is checked against the source range before anything is sent (the 487 would raise IDDCO and keep
 * the old value); every write is confirmed by the status word.
 */
import { z } from 'zod';
import { defineDevice, deviceFamily } from '../../daemon/api.js';
import { LabwireError, type WireValue } from '../../wire/types.js';
import {
  CURRENT_LIMIT_NAMES,
  ERROR_TEXT,
  RANGE_NAMES,
  SOURCE_RANGE_NAMES,
  sourceVoltageProblem,
  type CurrentLimit,
  type RangeName,
  type SourceRange,
  type StatusWord,
} from './codec.js';
import { Keithley487Driver, keithley487ExchangeOptions, keithley487Splitter, rangeAmps, rangeName } from './driver.js';

export const keithley487OptionsSchema = z.object({}).strict();
export type Keithley487Options = z.output<typeof keithley487OptionsSchema>;

function statusValues(s: StatusWord): Record<string, WireValue> {
  return {
    range: rangeName(s),
    range_amps: rangeAmps(s),
    zero_check: s.zeroCheck,
    zero_corrected: s.zeroCorrected,
    operate: s.operate,
    source_range: s.sourceRange,
    current_limit: s.currentLimit,
    in_limit: s.inLimit,
  };
}

function member<T extends string>(value: WireValue, members: readonly T[], name: string): T {
  if (typeof value === 'string' && (members as readonly string[]).includes(value)) return value as T;
  throw new LabwireError('WrongType', `${name} must be one of ${members.join(', ')}, not ${String(value)}`);
}

function bool(value: WireValue, name: string): boolean {
  if (typeof value !== 'boolean') throw new LabwireError('WrongType', `${name} must be 0 or 1, not ${String(value)}`);
  return value;
}

function volts(value: WireValue, name: string): number {
  if (typeof value !== 'number') throw new LabwireError('WrongType', `${name} must be a number of volts, not ${String(value)}`);
  return value;
}

/**
 * The source settings a write keeps, read from the instrument just before (not the cache): a V
 * command always carries all three, so a stale cached voltage would be re-programmed otherwise.
 */
async function sourceSettings(driver: Keithley487Driver): Promise<{ volts: number; range: SourceRange; limit: CurrentLimit }> {
  const status = await driver.status();
  return { volts: await driver.sourceVoltage(), range: status.sourceRange, limit: status.currentLimit };
}

export const keithley487Device = defineDevice<Keithley487Options, Keithley487Driver>({
  type: 'keithley487',
  title: 'Keithley 487 picoammeter / voltage source (GPIB, DDC)',
  options: keithley487OptionsSchema,
  exchange: keithley487ExchangeOptions,
  splitter: keithley487Splitter,
  params: {
    current: { type: 'float', unit: 'A', description: 'current reading (B0X); nan on overflow', key: true },
    overflow: { type: 'bool', description: 'the reading is beyond the range in use' },
    range: {
      type: 'enum',
      values: RANGE_NAMES,
      description: 'current range: auto (R0) or a fixed full scale R1 2nA … R7 2mA',
      readonly: false,
      write: async (driver, value) => rangeName(await driver.setRange(member<RangeName>(value, RANGE_NAMES, 'range'))),
    },
    range_amps: { type: 'float', unit: 'A', description: 'full scale of the range in use (the one autorange chose)' },
    zero_check: {
      type: 'bool',
      description: 'zero check (C1 on / C0 off): the input is shorted and reads ~0',
      readonly: false,
      write: async (driver, value) => driver.setZeroCheck(bool(value, 'zero_check')),
    },
    zero_corrected: { type: 'bool', description: 'a zero correction (C2) has been taken' },
    operate: {
      type: 'bool',
      description: 'voltage source output: 1 operate (O1), 0 standby (O0)',
      readonly: false,
      write: async (driver, value) => driver.setOperate(bool(value, 'operate')),
    },
    source_voltage: {
      type: 'float',
      unit: 'V',
      description: 'programmed source voltage (V command, read back with U8X); within ±50.5 V on the 50V range, ±505 V on the 500V range',
      readonly: false,
      key: true,
      write: async (driver, value) => {
        const s = await sourceSettings(driver);
        return (await driver.setSource(volts(value, 'source_voltage'), s.range, s.limit)).volts;
      },
    },
    source_range: {
      type: 'enum',
      values: SOURCE_RANGE_NAMES,
      description: 'voltage source range, 50V or 500V',
      readonly: false,
      write: async (driver, value) => {
        const s = await sourceSettings(driver);
        const range = member<SourceRange>(value, SOURCE_RANGE_NAMES, 'source_range');
        return (await driver.setSource(s.volts, range, s.limit)).status.sourceRange;
      },
    },
    current_limit: {
      type: 'enum',
      values: CURRENT_LIMIT_NAMES,
      description: 'voltage source current limit, 25uA or 2.5mA',
      readonly: false,
      write: async (driver, value) => {
        const s = await sourceSettings(driver);
        const limit = member<CurrentLimit>(value, CURRENT_LIMIT_NAMES, 'current_limit');
        return (await driver.setSource(s.volts, s.range, limit)).status.currentLimit;
      },
    },
    in_limit: { type: 'bool', description: 'the voltage source is limiting its current (compliance)' },
    ddc_errors: { type: 'string', description: 'DDC error conditions seen by the last poll (U1X), empty when none' },
    model: { type: 'string', description: 'model and firmware revision (U2X)' },
  },
  commands: {
    source: {
      description: 'program source voltage, range and current limit at once (Vn,r,lX), checked against the range first',
      write: true,
      args: {
        voltage: { type: 'float', unit: 'V', description: 'source voltage in volts' },
        range: { type: 'enum', values: SOURCE_RANGE_NAMES, description: 'source range, 50V or 500V' },
        limit: { type: 'enum', values: CURRENT_LIMIT_NAMES, description: 'current limit, 25uA or 2.5mA' },
      },
      run: async (driver, args) => {
        const range = member<SourceRange>(args.range!, SOURCE_RANGE_NAMES, 'range');
        const limit = member<CurrentLimit>(args.limit!, CURRENT_LIMIT_NAMES, 'limit');
        const v = volts(args.voltage!, 'voltage');
        const problem = sourceVoltageProblem(v, range);
        if (problem) throw new LabwireError('RangeError', problem);
        const r = await driver.setSource(v, range, limit);
        return { source_voltage: r.volts, source_range: r.status.sourceRange, current_limit: r.status.currentLimit };
      },
    },
    zero_correct: {
      description: 'take a zero correction (zero check on, C2, zero check restored)',
      write: true,
      run: async (driver) => ({ zero_corrected: await driver.zeroCorrect() }),
    },
  },
  poll: [
    {
      name: 'fast',
      everyMs: 1000,
      read: async (driver) => {
        const r = await driver.reading();
        return { current: r.amps, overflow: r.overflow };
      },
    },
    {
      name: 'slow',
      everyMs: 2000,
      read: async (driver) => {
        const status = statusValues(await driver.status());
        const source_voltage = await driver.sourceVoltage();
        const errors = await driver.errors();
        return { ...status, source_voltage, ddc_errors: errors.join(',') };
      },
    },
  ],
  createDriver: (exchange) => new Keithley487Driver(exchange),
  identify: async (driver) => {
    const id = await driver.identify();
    return { model: `${id.model} ${id.firmware}` };
  },
  stateOverride: (values) => {
    if (values.in_limit === true) return { state: 'warn', text: `voltage source in current limit (${String(values.current_limit)})` };
    if (values.overflow === true) return { state: 'warn', text: `current beyond the ${String(values.range)} range` };
    if (typeof values.ddc_errors === 'string' && values.ddc_errors !== '') {
      const words = values.ddc_errors.split(',').map((e) => ERROR_TEXT[e as keyof typeof ERROR_TEXT] ?? e);
      return { state: 'warn', text: `the 487 reported ${words.join(', ')}` };
    }
    return undefined;
  },
});

export const keithley487Family = deviceFamily(keithley487Device, {
  loadBusInstrument: async () => (await import('./model.js')).createKeithley487Model,
  plots: [
    { id: 'current', name: 'Current', values: ['time', 'current'], ylabel: 'A' },
    { id: 'source', name: 'Source voltage', values: ['time', 'source_voltage'], ylabel: 'V' },
  ],
  // The demo's source is left on at 5 V into the model's 1 GΩ load: the meter then reads ~5 nA.
  demo: () => ({ simulatorOptions: { operate: true, sourceVolts: 5 } }),
});
