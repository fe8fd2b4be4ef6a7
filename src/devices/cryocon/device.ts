/**
 * Cryo-con Model 24C / 32 temperature controllers as the generic daemon sees them: parameters
 * (`chA.temperature`, `loop1.setpoint`, …), commands, limits, the one-request-per-cycle poll plan
 * and how sensor faults, alarms, heater faults and refused queries bear on `state`.
 */
import { z } from 'zod';
import { defineDevice, deviceFamily, type CommandDecl, type Limits, type ParamDecl } from '../../daemon/api.js';
import { paramsFor, vector } from '../../daemon/declare.js';
import type { WireValue } from '../../wire/types.js';
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

const SENSOR_TEXT: Record<Exclude<SensorState, 'ok'>, string> = {
  fault: 'sensor fault (-------): the sensor is open, shorted or disconnected',
  uncalibrated: 'reads ....... (outside the sensor calibration curve)',
  not_applicable: 'reads N/A',
  sensor_units: 'shows sensor units (S), which have no fixed relation to kelvin; set its units to K, C or F',
  refused: 'refuses the temperature query (NACK)',
};

// ---------------------------------------------------------------- parameters

const p = paramsFor<CryoconDriver>();

/** Inputs this daemon declares and reads: the wired ones (option `inputs`), else all of the model's. */
export function declaredInputs(options: CryoconOptions): readonly Channel[] {
  return options.inputs ?? CRYOCON_MODELS[options.model].channels;
}

function channelParams(c: Channel, index: number): Record<string, ParamDecl<CryoconDriver>> {
  const ch = `ch${c}`;
  return {
    [`${ch}.temperature`]: p.float(
      `input ${c} temperature in kelvin, converted from the unit's display units; missing (nan) when there is no valid reading, with the reason in ${ch}.sensor`,
      // The first input is a key value of the overview (the loops' own temperatures are shown in the card).
      { unit: 'K', deadband: 0.001, key: index === 0 },
    ),
    [`${ch}.sensor`]: p.choice(SENSOR_STATES, `why ${ch}.temperature is missing: ok, fault (-------), uncalibrated (.......), not_applicable (N/A), sensor_units (units S), refused (NACK)`),
    [`${ch}.units`]: p.choice(DISPLAY_UNITS, `display units of input ${c} on the unit (INPut ${c}:UNITs): K, C, F or S (sensor units); labwire reports kelvin either way`, {
      write: (driver, units) => driver.setUnits(c, units),
    }),
    [`${ch}.alarm`]: p.choice(ALARM_STATES, `input ${c} alarm status (INPut ${c}:ALARm?: -- none, HI high, LO low, SF sensor fault)`),
    [`${ch}.name`]: p.text(`name of input ${c} on the unit (up to 15 printable ASCII characters, no double quote)`, {
      write: (driver, name) => driver.setChannelName(c, name),
    }),
    [`${ch}.minimum`]: p.float(`lowest reading of input ${c} since its statistics were reset`, { unit: 'K' }),
    [`${ch}.maximum`]: p.float(`highest reading of input ${c} since its statistics were reset`, { unit: 'K' }),
    [`${ch}.variance`]: p.float(`variance of input ${c}'s readings since its statistics were reset`, { unit: 'K²' }),
    [`${ch}.slope`]: p.float(`slope of the straight line fitted to input ${c}'s readings since the reset`, { unit: 'K/min' }),
    [`${ch}.offset`]: p.float(`offset of the straight line fitted to input ${c}'s readings since the reset`, { unit: 'K' }),
  };
}

function loopParams(n: LoopNumber, options: CryoconOptions): Record<string, ParamDecl<CryoconDriver>> {
  const lp = `loop${n}`;
  const types = loopTypesFor(n);
  const ranges = LOOP_RANGES[n];
  return {
    [`${lp}.setpoint`]: p.float(
      `loop ${n} setpoint in kelvin (sent in the source input's display units, confirmed by read-back); state follows ${lp}.temperature to it`,
      {
        unit: 'K',
        key: n === 1,
        target: {
          of: `${lp}.temperature`,
          tolerance: options.tolerance,
          settleMs: options.settleSeconds * 1000,
          activeWhen: (values) => values.control === true && CLOSED_LOOP_TYPES.includes(values[`${lp}.type`] as LoopType),
        },
        write: (driver, kelvin) => driver.setSetpoint(n, kelvin),
      },
    ),
    [`${lp}.temperature`]: p.float(`temperature of loop ${n}'s source input, K (what the loop regulates)`, { unit: 'K', deadband: 0.001 }),
    [`${lp}.source`]: p.choice(declaredInputs(options), `input loop ${n} regulates on`, { write: (driver, c) => driver.setSource(n, c) }),
    [`${lp}.type`]: p.choice(types, `loop ${n} control type: OFF, PID, MAN (manual power), TABLE (PID table), RAMPP/RAMPT (ramp at ${lp}.rate)${n >= 3 ? ', SCALE' : ''}`, {
      write: (driver, type) => driver.setType(n, type),
    }),
    [`${lp}.range`]: p.choice(ranges, n <= 2 ? `loop ${n} heater range` : `loop ${n} output range (0–5 V or 0–10 V)`, {
      write: (driver, range) => driver.setRange(n, range),
    }),
    [`${lp}.rate`]: p.float(`loop ${n} ramp rate for RAMPP/RAMPT (the unit takes 0–100 display units per minute)`, {
      unit: 'K/min',
      min: 0,
      max: 100,
      write: (driver, rate) => driver.setRate(n, rate),
    }),
    [`${lp}.pgain`]: p.float(`loop ${n} proportional gain (PGAin)`, { min: 0, max: 1000, write: (driver, gain) => driver.setGain(n, 'P', gain) }),
    [`${lp}.igain`]: p.float(`loop ${n} integrator gain (IGAin), seconds; 0 turns the integrator off`, {
      unit: 's',
      min: 0,
      max: 1000,
      write: (driver, gain) => driver.setGain(n, 'I', gain),
    }),
    [`${lp}.dgain`]: p.float(`loop ${n} differentiator gain (DGAin)`, { unit: '1/s', min: 0, max: 1000, write: (driver, gain) => driver.setGain(n, 'D', gain) }),
    [`${lp}.pman`]: p.float(`loop ${n} output power in MAN mode, % of full scale`, { unit: '%', min: 0, max: 100, write: (driver, power) => driver.setManualPower(n, power) }),
    [`${lp}.output`]: p.float(`loop ${n} output power, % of full scale (OUTPwr?)`, { unit: '%', deadband: 0.1, key: n === 1 }),
    [`${lp}.heater`]: p.float(`loop ${n} heater read-back, % (HTRRead?)`, { unit: '%', deadband: 0.5 }),
    [`${lp}.heater_status`]: p.text(`loop ${n} heater status as the unit says it (ERRor?): --Htr OK--, -Overtemp-, OTDisconn, Htr-Low-R, Fan Fault`),
  };
}

/** The parameters of this controller: its inputs and loops only (an M32 has A, B and loops 1, 2). */
export function cryoconParams(options: CryoconOptions): Record<string, ParamDecl<CryoconDriver>> {
  return {
    control: p.bool('control loops engaged (CONTrol / STOP, read back with CONTrol?)', { write: (driver, on) => driver.setControl(on) }),
    ...vector(declaredInputs(options), channelParams),
    ...vector(CRYOCON_MODELS[options.model].loops, (n) => loopParams(n, options)),
    sysname: p.text('system name stored in the unit (SYSTem:NAMe, up to 15 characters)', { write: (driver, name) => driver.setSystemName(name) }),
    idn: p.text('identity of the unit (*IDN?): maker, model, serial number, firmware'),
    nack: p.text('queries the unit answers NACK (missing values), empty when none'),
  };
}

function cryoconCommands(options: CryoconOptions): Record<string, CommandDecl<CryoconDriver>> {
  const inputs = declaredInputs(options);
  const range = inputs.length > 1 ? `${inputs[0]}–${inputs[inputs.length - 1]}` : inputs[0];
  return {
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
      args: { channel: { type: 'enum', values: inputs, description: `input whose alarm to clear, ${range}` } },
      run: async (driver, args) => {
        await driver.clearAlarm(args.channel as Channel);
      },
    },
    reset_stats: {
      description: 'restart the statistics (minimum, maximum, variance, slope, offset) of one input',
      write: true,
      args: { channel: { type: 'enum', values: inputs, description: `input whose statistics to reset, ${range}` } },
      run: async (driver, args) => {
        await driver.resetStatistics(args.channel as Channel);
      },
    },
  };
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
  params: cryoconParams,
  commands: cryoconCommands,
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
