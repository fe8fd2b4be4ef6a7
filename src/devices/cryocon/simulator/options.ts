/**
 * The Cryo-con simulator's options: one zod schema that takes typed objects, YAML and the strings
 * of a command line (`--option loops.1.setpoint=80`), and the defaults of each input and loop.
 */
import { z } from 'zod';
import { boolOption } from '../../../daemon/api.js';
import { CHANNELS, DISPLAY_UNITS, HEATER_STATUS_KEYS, MODEL_NAMES, type Channel, type LoopNumber, type LoopType } from '../codec.js';
import { NODES, type NodeName } from '../physics.js';

/** The hardware takes one request per this many ms (the predecessor library's `io_period`). */
export const HARDWARE_MIN_GAP_MS = 100;

const num = z.coerce.number();
/** Text that YAML or a command line may have turned into a number (`serial: 204683`). */
const text = z.union([z.string(), z.number()]).transform(String);
const upper = (values: readonly string[]) => z.preprocess((v) => (typeof v === 'string' ? v.trim().toUpperCase() : v), z.enum(values as [string, ...string[]]));
/** A name the unit stores (`SYSTem:NAMe`, `INPut:NAMe`). */
export const nameString = z
  .string()
  .max(15, 'at most 15 characters')
  .regex(/^[\x20-\x7e]*$/, 'printable ASCII only')
  .refine((s) => !s.includes('"'), 'no double quotes');

const SENSOR_STATES = ['ok', 'fault', 'uncalibrated'] as const;
export type SensorState = (typeof SENSOR_STATES)[number];

const channelOptionsSchema = z
  .object({
    /** Which part of the cryostat the sensor sits on. */
    node: z.enum(NODES),
    units: upper(DISPLAY_UNITS),
    name: nameString,
    /** `fault` reads `-------`, `uncalibrated` reads `.......`. */
    sensor: z.enum(SENSOR_STATES),
    /** Range of the sensor's calibration curve, K; readings outside show `.......`. */
    calibrationMin: num.min(0),
    calibrationMax: num.positive(),
    /** Alarm limits in kelvin, their dead-band in kelvin, and the enables. */
    alarmHigh: num,
    alarmLow: num,
    alarmDeadband: num.min(0),
    alarmHighEnabled: boolOption,
    alarmLowEnabled: boolOption,
    alarmLatch: boolOption,
    alarmAudio: boolOption,
  })
  .partial()
  .strict();

const loopOptionsSchema = z
  .object({
    source: z.preprocess((v) => (typeof v === 'string' ? v.trim().toUpperCase().replace(/^CH/, '') : v), z.enum(CHANNELS)),
    type: upper(['OFF', 'PID', 'MAN', 'TABLE', 'RAMPP', 'RAMPT', 'SCALE']),
    /** Setpoint in kelvin. */
    setpoint: num.min(0),
    range: upper(['HI', 'MID', 'LOW', '5V', '10V']),
    /** Ramp rate in the source's display units per minute (0–100). */
    rate: num.min(0).max(100),
    pgain: num.min(0).max(1000),
    igain: num.min(0).max(1000),
    dgain: num.min(0).max(1000),
    /** Manual output power, % (type MAN). */
    pman: num.min(0).max(100),
    /** Output limit, % of full scale. */
    maxPower: num.min(0).max(100),
    /** Highest setpoint the loop takes, K. */
    maxSetpoint: num.positive(),
    /** Loop 1 heater load, Ω. */
    load: z.coerce.number().refine((v) => v === 25 || v === 50, 'load is 25 or 50 Ω'),
    /** The node the heater warms; `none` for an output wired to nothing. */
    heats: z.enum([...NODES, 'none']),
    heaterStatus: z.enum(HEATER_STATUS_KEYS),
  })
  .partial()
  .strict();

const cryostatOptionsSchema = z
  .object({
    /** Starting temperature of every node, K. */
    initialTemperature: num.positive(),
    /** Per-node starting temperatures, K, over initialTemperature. */
    initial: z.partialRecord(z.enum(NODES), num.positive()),
    ambient: num.positive(),
    cooler: boolOption,
    coolerPowerW: num.min(0),
    baseTemperature: num.positive(),
    shieldCoolerPowerW: num.min(0),
    shieldBaseTemperature: num.positive(),
    heatCapacity: z.partialRecord(z.enum(NODES), num.positive()),
    ambientLink: z.partialRecord(z.enum(NODES), num.min(0)),
    stageLink: num.positive(),
    sampleLink: num.positive(),
  })
  .partial()
  .strict();

const optionsObject = z
  .object({
    /** Physics speed-up: 60 makes a simulated minute pass per second. */
    timeScale: num.positive().max(1e6).default(1),
    seed: num.int().default(1),
    model: z.enum(MODEL_NAMES).default('M24C'),
    serial: text.default('204683'),
    firmware: text.default('1.01A'),
    hardwareRevision: text.default('12A4FE'),
    firmwareRevision: text.default('78C90A'),
    /** System name (`SYSTem:NAMe`). */
    name: nameString.default('labwire sim'),
    /** Control loops engaged (`CONTrol` / `STOP`). */
    control: boolOption.default(true),
    /** Standard deviation of the reading noise, K; the loops see the true temperature. */
    noise: num.min(0).max(10).default(0.002),
    /** Requests closer than 100 ms to the previous one: processed 100 ms after it (`delay`), or lost (`drop`). */
    earlyRequests: z.enum(['delay', 'drop']).default('delay'),
    /** The hardware's pace (100 ms); tests that need thousands of requests in seconds lower it. */
    minGapMs: num.min(0).max(10_000).default(HARDWARE_MIN_GAP_MS),
    /** Emulate the serial line's character time on the pseudo-terminal. */
    byteTiming: boolOption.default(true),
    baud: num.positive().default(9600),
    /** Time from a request's LF to its reply, ms. */
    latencyMs: num.min(0).max(10_000).default(1),
    /** End reply lines with `;` like the manual's example. */
    trailingSemicolon: boolOption.default(false),
    /** Commands answered `NACK` as if the firmware lacked them, e.g. `LOOP:HTRRead` (list or comma-separated). */
    nack: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== ''))
      .default([]),
    /** TCP connections are closed and refused; on a PTY the unit goes deaf. */
    linkDrop: boolOption.default(false),
    /** The unit neither receives nor answers. */
    silent: boolOption.default(false),
    cryostat: cryostatOptionsSchema.default({}),
    /** Per-input settings over the defaults (A stage, B cold head, C shield, D sample, all K). */
    channels: z.partialRecord(z.enum(CHANNELS), channelOptionsSchema).default({}),
    /** Per-loop settings over the defaults (loop 1 PID on A at 300 K; loops 2–4 OFF). */
    loops: z.partialRecord(z.enum(['1', '2', '3', '4']), loopOptionsSchema).default({}),
  })
  .strict();

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

/**
 * `--option loops.1.setpoint=80` arrives as the key `loops.1.setpoint`: dotted keys become nested
 * objects, merged with any nested object given for the same branch.
 */
export function expandDottedKeys(input: unknown): unknown {
  if (!isPlainObject(input)) return input;
  let out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const parts = key.split('.');
    let nested: unknown = value;
    for (let i = parts.length - 1; i > 0; i--) nested = { [parts[i]!]: nested };
    out = deepMerge(out, { [parts[0]!]: nested });
  }
  return out;
}

export const cryoconSimulatorOptionsSchema = z.preprocess(expandDottedKeys, optionsObject);
export type ParsedOptions = z.output<typeof optionsObject>;
/** Typed options; the schema also takes the strings a command line passes (`'60'`, `'off'`). */
export type CryoconSimulatorOptions = z.input<typeof optionsObject>;

interface ChannelDefaults {
  node: NodeName;
  name: string;
}
export const CHANNEL_DEFAULTS: Record<Channel, ChannelDefaults> = {
  A: { node: 'stage', name: 'Stage' },
  B: { node: 'coldHead', name: 'Cold head' },
  C: { node: 'shield', name: 'Shield' },
  D: { node: 'sample', name: 'Sample' },
};

export const LOOP_DEFAULTS: Record<LoopNumber, { source: Channel; type: LoopType; range: string; heats: NodeName | 'none' }> = {
  1: { source: 'A', type: 'PID', range: 'HI', heats: 'stage' },
  2: { source: 'B', type: 'OFF', range: 'HI', heats: 'coldHead' },
  3: { source: 'C', type: 'OFF', range: '10V', heats: 'none' },
  4: { source: 'D', type: 'OFF', range: '10V', heats: 'none' },
};
