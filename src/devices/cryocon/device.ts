/**
 * Cryo-con Model 24C / 32 temperature controllers as the generic daemon sees them: parameters
 * (`chA.temperature`, `loop1.setpoint`, …), commands, limits, the one-request-per-cycle poll plan
 * and how sensor faults, alarms, heater faults and refused queries bear on `state`.
 */
import { z } from 'zod';
import { defineDevice, deviceFamily, type Limits, type ParamDecl } from '../../daemon/api.js';
import type { WireValue } from '../../wire/types.js';
import { LabwireError } from '../../wire/types.js';
import {
  ALARM_STATES,
  CHANNELS,
  CLOSED_LOOP_TYPES,
  CRYOCON_MODELS,
  DISPLAY_UNITS,
  LOOP_RANGES,
  LOOPS,
  MODEL_NAMES,
  heaterStatusInfo,
  loopTypesFor,
  type Channel,
  type DisplayUnit,
  type LoopNumber,
  type LoopType,
} from './codec.js';
import {
  CRYOCON_SERIAL_DEFAULTS,
  CryoconDriver,
  SENSOR_STATES,
  cryoconExchangeOptions,
  cryoconSplitter,
  type CryoconReadout,
  type SensorState,
} from './driver.js';

const inputList = z.preprocess(
  (v) => (typeof v === 'string' ? v.toUpperCase().split(/[\s,]*/).filter((s) => s !== '') : v),
  z.array(z.enum(CHANNELS)).min(1, 'name at least one input'),
);

export const cryoconOptionsSchema = z
  .object({
    model: z.enum(MODEL_NAMES, { error: `unknown Cryo-con model; known models: ${MODEL_NAMES.join(', ')}` }).default('M24C'),
    /** A loop counts as at its setpoint within this, K. */
    tolerance: z.number().positive().max(100).default(0.1),
    /** How long the loop's input must stay within tolerance before the device is idle again. */
    settleSeconds: z.number().min(0).max(86_400).default(30),
    /** Setpoints the daemon accepts, K (limited further by site limits and the unit's MAXSET). */
    setpointMin: z.number().min(0).default(0),
    setpointMax: z.number().positive().max(2000).default(500),
    /** Inputs that are wired (e.g. `AB`): the others are not read and never warn. Default: all of the model's. */
    inputs: inputList.optional(),
  })
  .strict()
  .refine((o) => o.setpointMin < o.setpointMax, { message: 'setpointMin must be below setpointMax', path: ['setpointMin'] })
  .refine((o) => !o.inputs || o.inputs.every((c) => (CRYOCON_MODELS[o.model].channels as readonly string[]).includes(c)), {
    message: 'the model has no such input',
    path: ['inputs'],
  });

export type CryoconOptions = z.output<typeof cryoconOptionsSchema>;

const DEFAULTS = cryoconOptionsSchema.parse({});

const SENSOR_TEXT: Record<Exclude<SensorState, 'ok'>, string> = {
  fault: 'sensor fault (-------): the sensor is open, shorted or disconnected',
  uncalibrated: 'reads ....... (outside the sensor calibration curve)',
  not_applicable: 'reads N/A',
  sensor_units: 'shows sensor units (S), which have no fixed relation to kelvin; set its units to K, C or F',
  refused: 'refuses the temperature query (NACK)',
};

// ---------------------------------------------------------------- parameters

function channelParams(c: Channel): Record<string, ParamDecl<CryoconDriver>> {
  const p = `ch${c}`;
  return {
    [`${p}.temperature`]: {
      type: 'float',
      unit: 'K',
      deadband: 0.001,
      description: `input ${c} temperature in kelvin, converted from the unit's display units; missing (nan) when there is no valid reading, with the reason in ${p}.sensor`,
    },
    [`${p}.sensor`]: {
      type: 'enum',
      values: SENSOR_STATES,
      description: `why ${p}.temperature is missing: ok, fault (-------), uncalibrated (.......), not_applicable (N/A), sensor_units (units S), refused (NACK)`,
    },
    [`${p}.units`]: {
      type: 'enum',
      values: DISPLAY_UNITS,
      readonly: false,
      description: `display units of input ${c} on the unit (INPut ${c}:UNITs): K, C, F or S (sensor units); labwire reports kelvin either way`,
      write: async (driver, value) => driver.setUnits(c, enumValue(value, DISPLAY_UNITS, `${p}.units`) as DisplayUnit),
    },
    [`${p}.alarm`]: {
      type: 'enum',
      values: ALARM_STATES,
      description: `input ${c} alarm status (INPut ${c}:ALARm?: -- none, HI high, LO low, SF sensor fault)`,
    },
    [`${p}.name`]: {
      type: 'string',
      readonly: false,
      description: `name of input ${c} on the unit (up to 15 printable ASCII characters, no double quote)`,
      write: async (driver, value) => driver.setChannelName(c, String(value)),
    },
    [`${p}.minimum`]: { type: 'float', unit: 'K', description: `lowest reading of input ${c} since its statistics were reset` },
    [`${p}.maximum`]: { type: 'float', unit: 'K', description: `highest reading of input ${c} since its statistics were reset` },
    [`${p}.variance`]: { type: 'float', unit: 'K²', description: `variance of input ${c}'s readings since its statistics were reset` },
    [`${p}.slope`]: { type: 'float', unit: 'K/min', description: `slope of the straight line fitted to input ${c}'s readings since the reset` },
    [`${p}.offset`]: { type: 'float', unit: 'K', description: `offset of the straight line fitted to input ${c}'s readings since the reset` },
  };
}

function loopParams(n: LoopNumber): Record<string, ParamDecl<CryoconDriver>> {
  const p = `loop${n}`;
  const number = (value: WireValue, name: string): number => {
    if (typeof value !== 'number') throw new LabwireError('WrongType', `${name} must be a number, not ${String(value)}`);
    return value;
  };
  return {
    [`${p}.setpoint`]: {
      type: 'float',
      unit: 'K',
      readonly: false,
      description: `loop ${n} setpoint in kelvin (sent in the source input's display units, confirmed by read-back); state follows ${p}.temperature to it`,
      target: {
        of: `${p}.temperature`,
        tolerance: DEFAULTS.tolerance,
        settleMs: DEFAULTS.settleSeconds * 1000,
        activeWhen: (values) => values.control === true && CLOSED_LOOP_TYPES.includes(values[`${p}.type`] as LoopType),
      },
      write: async (driver, value) => driver.setSetpoint(n, number(value, `${p}.setpoint`)),
    },
    [`${p}.temperature`]: {
      type: 'float',
      unit: 'K',
      deadband: 0.001,
      description: `temperature of loop ${n}'s source input, K (what the loop regulates)`,
    },
    [`${p}.source`]: {
      type: 'enum',
      values: CHANNELS,
      readonly: false,
      description: `input loop ${n} regulates on`,
      write: async (driver, value) => driver.setSource(n, enumValue(value, CHANNELS, `${p}.source`) as Channel),
    },
    [`${p}.type`]: {
      type: 'enum',
      values: loopTypesFor(n),
      readonly: false,
      description: `loop ${n} control type: OFF, PID, MAN (manual power), TABLE (PID table), RAMPP/RAMPT (ramp at ${p}.rate)${n >= 3 ? ', SCALE' : ''}`,
      write: async (driver, value) => driver.setType(n, enumValue(value, loopTypesFor(n), `${p}.type`) as LoopType),
    },
    [`${p}.range`]: {
      type: 'enum',
      values: LOOP_RANGES[n],
      readonly: false,
      description: n <= 2 ? `loop ${n} heater range` : `loop ${n} output range (0–5 V or 0–10 V)`,
      write: async (driver, value) => driver.setRange(n, enumValue(value, LOOP_RANGES[n], `${p}.range`)),
    },
    [`${p}.rate`]: {
      type: 'float',
      unit: 'K/min',
      min: 0,
      max: 100,
      readonly: false,
      description: `loop ${n} ramp rate for RAMPP/RAMPT (the unit takes 0–100 display units per minute)`,
      write: async (driver, value) => driver.setRate(n, number(value, `${p}.rate`)),
    },
    [`${p}.pgain`]: {
      type: 'float',
      min: 0,
      max: 1000,
      readonly: false,
      description: `loop ${n} proportional gain (PGAin)`,
      write: async (driver, value) => driver.setGain(n, 'P', number(value, `${p}.pgain`)),
    },
    [`${p}.igain`]: {
      type: 'float',
      unit: 's',
      min: 0,
      max: 1000,
      readonly: false,
      description: `loop ${n} integrator gain (IGAin), seconds; 0 turns the integrator off`,
      write: async (driver, value) => driver.setGain(n, 'I', number(value, `${p}.igain`)),
    },
    [`${p}.dgain`]: {
      type: 'float',
      unit: '1/s',
      min: 0,
      max: 1000,
      readonly: false,
      description: `loop ${n} differentiator gain (DGAin)`,
      write: async (driver, value) => driver.setGain(n, 'D', number(value, `${p}.dgain`)),
    },
    [`${p}.pman`]: {
      type: 'float',
      unit: '%',
      min: 0,
      max: 100,
      readonly: false,
      description: `loop ${n} output power in MAN mode, % of full scale`,
      write: async (driver, value) => driver.setManualPower(n, number(value, `${p}.pman`)),
    },
    [`${p}.output`]: { type: 'float', unit: '%', deadband: 0.1, description: `loop ${n} output power, % of full scale (OUTPwr?)` },
    [`${p}.heater`]: { type: 'float', unit: '%', deadband: 0.5, description: `loop ${n} heater read-back, % (HTRRead?)` },
    [`${p}.heater_status`]: {
      type: 'string',
      description: `loop ${n} heater status as the unit says it (ERRor?): --Htr OK--, -Overtemp-, OTDisconn, Htr-Low-R, Fan Fault`,
    },
  };
}

function enumValue<T extends string>(value: WireValue, allowed: readonly T[], name: string): T {
  const hit = allowed.find((a) => a === String(value).toUpperCase());
  if (hit === undefined) throw new LabwireError('WrongType', `${name} must be one of ${allowed.join(', ')}, not ${String(value)}`);
  return hit;
}

// ---------------------------------------------------------------- readings → parameters

const CHANNEL_FIELDS = ['temperature', 'sensor', 'units', 'alarm', 'name', 'minimum', 'maximum', 'variance', 'slope', 'offset'] as const;
const LOOP_FIELDS = {
  setpoint: 'setpoint',
  temperature: 'temperature',
  source: 'source',
  type: 'type',
  range: 'range',
  rate: 'rate',
  pgain: 'pgain',
  igain: 'igain',
  dgain: 'dgain',
  pman: 'pman',
  output: 'output',
  heater: 'heater',
  heaterStatus: 'heater_status',
} as const;

/** Flattens what one read returned into parameter values; only what was read is present. */
export function readoutToParams(r: CryoconReadout): Record<string, WireValue> {
  const out: Record<string, WireValue> = {};
  if (r.control !== undefined) out.control = r.control;
  for (const c of CHANNELS) {
    const ch = r.channels[c];
    if (!ch) continue;
    for (const k of CHANNEL_FIELDS) if (ch[k] !== undefined) out[`ch${c}.${k}`] = ch[k];
  }
  for (const n of LOOPS) {
    const lp = r.loops[n];
    if (!lp) continue;
    for (const [k, param] of Object.entries(LOOP_FIELDS) as [keyof typeof LOOP_FIELDS, string][]) {
      if (lp[k] !== undefined) out[`loop${n}.${param}`] = lp[k];
    }
  }
  if (r.systemName !== undefined) out.sysname = r.systemName;
  out.nack = r.refused.join(', ');
  return out;
}

// ---------------------------------------------------------------- state

/** Sensor faults, alarms, heater faults and refused queries, most severe first. */
export function cryoconStateOverride(values: Readonly<Record<string, WireValue>>): { state: 'warn' | 'error'; text: string } | undefined {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const c of CHANNELS) {
    const sensor = values[`ch${c}.sensor`];
    if (typeof sensor === 'string' && sensor !== 'ok' && sensor in SENSOR_TEXT) {
      warnings.push(`ch${c} ${SENSOR_TEXT[sensor as keyof typeof SENSOR_TEXT]}; ch${c}.temperature is missing`);
    }
    const alarm = values[`ch${c}.alarm`];
    if (alarm === 'high' || alarm === 'low') warnings.push(`ch${c} ${alarm} temperature alarm`);
  }
  for (const n of LOOPS) {
    const status = values[`loop${n}.heater_status`];
    if (typeof status !== 'string') continue;
    const info = heaterStatusInfo(status);
    if (info.ok) continue;
    const driving = values.control === true && typeof values[`loop${n}.type`] === 'string' && values[`loop${n}.type`] !== 'OFF';
    const text = `loop${n} heater ${status.trim()}: ${info.meaning}`;
    if (info.severity === 'error' && driving) errors.push(text);
    else warnings.push(text);
  }
  if (typeof values.nack === 'string' && values.nack !== '') {
    warnings.push(`the controller refuses ${values.nack} (NACK): those values are missing`);
  }
  if (errors.length > 0) return { state: 'error', text: [...errors, ...warnings].join('; ') };
  if (warnings.length > 0) return { state: 'warn', text: warnings.join('; ') };
  return undefined;
}

// ---------------------------------------------------------------- the definition

export const cryoconDevice = defineDevice<CryoconOptions, CryoconDriver>({
  type: 'cryocon',
  title: 'Cryo-con Model 24C / 32 cryogenic temperature controller (TCP port 5000 or RS-232)',
  options: cryoconOptionsSchema,
  serialDefaults: CRYOCON_SERIAL_DEFAULTS,
  exchange: cryoconExchangeOptions,
  splitter: cryoconSplitter,
  params: {
    control: {
      type: 'bool',
      readonly: false,
      description: 'control loops engaged (CONTrol / STOP, read back with CONTrol?)',
      write: async (driver, value) => {
        if (typeof value !== 'boolean') throw new LabwireError('WrongType', `control must be true or false, not ${String(value)}`);
        return driver.setControl(value);
      },
    },
    ...Object.assign({}, ...CHANNELS.map(channelParams)),
    ...Object.assign({}, ...LOOPS.map(loopParams)),
    sysname: {
      type: 'string',
      readonly: false,
      description: 'system name stored in the unit (SYSTem:NAMe, up to 15 characters)',
      write: async (driver, value) => driver.setSystemName(String(value)),
    },
    idn: { type: 'string', description: 'identity of the unit (*IDN?): maker, model, serial number, firmware' },
    nack: { type: 'string', description: 'queries the unit answers NACK (missing values), empty when none' },
  },
  commands: {
    control: {
      description: 'engage the control loops (CONTrol), confirmed by read-back',
      write: true,
      run: async (driver) => ({ control: await driver.setControl(true) }),
    },
    stop: {
      description: 'stop the control loops (STOP): heaters off, confirmed by read-back',
      write: true,
      run: async (driver) => ({ control: await driver.setControl(false) }),
    },
    clear_alarm: {
      description: 'clear the latched alarm of one input (INPut x:ALARm:CLEar)',
      write: true,
      args: { channel: { type: 'enum', values: CHANNELS, description: 'input whose alarm to clear, A–D' } },
      run: async (driver, args) => {
        await driver.clearAlarm(args.channel as Channel);
      },
    },
    reset_stats: {
      description: 'restart the statistics (minimum, maximum, variance, slope, offset) of one input',
      write: true,
      args: { channel: { type: 'enum', values: CHANNELS, description: 'input whose statistics to reset, A–D' } },
      run: async (driver, args) => {
        await driver.resetStatistics(args.channel as Channel);
      },
    },
  },
  // One grouped request per cycle: all readings and outputs, plus a share of the settings.
  poll: [
    {
      name: 'status',
      everyMs: 1000,
      read: async (driver) => readoutToParams(await driver.pollCycle()),
    },
  ],
  createDriver: (exchange, options) => new CryoconDriver(exchange, { model: options.model, ...(options.inputs ? { inputs: options.inputs } : {}) }),
  limits: (options): Record<string, Limits> =>
    Object.fromEntries(
      CRYOCON_MODELS[options.model].loops.map((n) => [`loop${n}.setpoint`, { min: options.setpointMin, max: options.setpointMax, source: options.model }]),
    ),
  targetTuning: (options) =>
    Object.fromEntries(LOOPS.map((n) => [`loop${n}.setpoint`, { tolerance: options.tolerance, settleMs: options.settleSeconds * 1000 }])),
  identify: async (driver) => {
    const identity = await driver.identify();
    return { idn: identity.idn, ...readoutToParams(await driver.readEverything()) };
  },
  stateOverride: cryoconStateOverride,
});

export const cryoconFamily = deviceFamily(cryoconDevice, {
  loadSimulator: async () => (await import('./simulator.js')).createCryoconSimulator,
  plots: [
    {
      id: 'temperatures',
      name: 'Cryostat temperatures',
      values: ['time', 'chA.temperature', 'chB.temperature', 'chC.temperature', 'chD.temperature', 'loop1.setpoint'],
      ylabel: 'K',
    },
    { id: 'heaters', name: 'Loop outputs', values: ['time', 'loop1.output', 'loop2.output'], ylabel: '%' },
  ],
});
