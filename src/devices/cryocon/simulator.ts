/**
 * A Cryo-con Model 24C (or 32) on the wire: the SCPI-style command tree with short/long keywords,
 * relative (`;`) and absolute (`;:`) paths, channel lists, one `;`-joined reply line per request
 * line, silent set commands, `NACK` for anything it does not take (never a dropped connection),
 * readings in each input's display units, `-------` / `.......` on sensor faults, real PID loops
 * driving heaters on the cryostat model of physics.ts, the one-request-per-100-ms pace of the
 * hardware, and injectable faults. Served on TCP and on a pseudo-terminal.
 */
import { z } from 'zod';
import { boolOption, parseOptions, type Simulator, type SimulatorOptions } from '../../daemon/api.js';
import { SimHost } from '../../links/sim-host.js';
import {
  CHANNELS,
  CRYOCON_MODELS,
  DISPLAY_UNITS,
  HEATER_STATUS_KEYS,
  LOOP_RANGES,
  MAX_LINE_CHARS,
  MODEL_NAMES,
  NACK,
  OUT_OF_CALIBRATION,
  SENSOR_FAULT,
  deltaFromKelvin,
  deltaToKelvin,
  formatFloat,
  formatHeaterPercent,
  formatPadded,
  fromKelvin,
  heaterStatusText,
  loopTypesFor,
  parseNumber,
  parseOnOff,
  parseQuoted,
  parseSuffixed,
  splitOutsideQuotes,
  toKelvin,
  type Channel,
  type CryoconModelName,
  type DisplayUnit,
  type HeaterStatusKey,
  type LoopNumber,
  type LoopType,
} from './codec.js';
import { CryostatModel, DEFAULT_CRYOSTAT, NODES, PidState, diodeVolts, type NodeName } from './physics.js';
import { gaussian, seededRandom } from '../kits/sim/noise-and-clock.js';
import {
  ScpiStatus,
  ScpiTree,
  commonCommands,
  flattenNodes,
  parseScpiCommand,
  type ParsedScpiCommand,
  type ScpiCommand,
  type ScpiContext,
  type ScpiNodeSpec,
} from '../kits/scpi/index.js';

/** The hardware takes one request per this many ms (the predecessor library's `io_period`). */
export const HARDWARE_MIN_GAP_MS = 100;
const LOG_LIMIT = 1000;
/** Common commands the kit supplies; `*IDN` and `*RST` are the Cryo-con's own. */
const CRYOCON_COMMON = ['*OPC', '*CLS', '*ESE', '*ESR', '*SRE', '*STB'];

// ---------------------------------------------------------------- options

const num = z.coerce.number();
/** Text that YAML or a command line may have turned into a number (`serial: 204683`). */
const text = z.union([z.string(), z.number()]).transform(String);
const upper = (values: readonly string[]) => z.preprocess((v) => (typeof v === 'string' ? v.trim().toUpperCase() : v), z.enum(values as [string, ...string[]]));
const nameString = z
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
type ParsedOptions = z.output<typeof optionsObject>;
/** Typed options; the schema also takes the strings a command line passes (`'60'`, `'off'`). */
export type CryoconSimulatorOptions = z.input<typeof optionsObject>;

interface ChannelDefaults {
  node: NodeName;
  name: string;
}
const CHANNEL_DEFAULTS: Record<Channel, ChannelDefaults> = {
  A: { node: 'stage', name: 'Stage' },
  B: { node: 'coldHead', name: 'Cold head' },
  C: { node: 'shield', name: 'Shield' },
  D: { node: 'sample', name: 'Sample' },
};

const LOOP_DEFAULTS: Record<LoopNumber, { source: Channel; type: LoopType; range: string; heats: NodeName | 'none' }> = {
  1: { source: 'A', type: 'PID', range: 'HI', heats: 'stage' },
  2: { source: 'B', type: 'OFF', range: 'HI', heats: 'coldHead' },
  3: { source: 'C', type: 'OFF', range: '10V', heats: 'none' },
  4: { source: 'D', type: 'OFF', range: '10V', heats: 'none' },
};

// ---------------------------------------------------------------- state

interface ChannelState {
  node: NodeName;
  units: DisplayUnit;
  name: string;
  sensor: SensorState;
  calibrationMin: number;
  calibrationMax: number;
  alarmHigh: number;
  alarmLow: number;
  alarmDeadband: number;
  alarmHighEnabled: boolean;
  alarmLowEnabled: boolean;
  alarmLatch: boolean;
  alarmAudio: boolean;
  /** Asserted alarm (`HI`/`LO`), kept with hysteresis or latched. */
  alarm: 'HI' | 'LO' | undefined;
  stats: Stats;
}

/** Running statistics of the true temperature since the last reset: min, max, variance, linear fit. */
class Stats {
  n = 0;
  min = Infinity;
  max = -Infinity;
  private sum = 0;
  private sumSq = 0;
  private sumT = 0;
  private sumTT = 0;
  private sumTK = 0;
  start = 0;

  reset(at: number): void {
    this.n = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.sum = this.sumSq = this.sumT = this.sumTT = this.sumTK = 0;
    this.start = at;
  }

  add(timeS: number, kelvin: number): void {
    const t = (timeS - this.start) / 60;
    this.n++;
    this.min = Math.min(this.min, kelvin);
    this.max = Math.max(this.max, kelvin);
    this.sum += kelvin;
    this.sumSq += kelvin * kelvin;
    this.sumT += t;
    this.sumTT += t * t;
    this.sumTK += t * kelvin;
  }

  get mean(): number {
    return this.n > 0 ? this.sum / this.n : NaN;
  }

  get variance(): number {
    if (this.n === 0) return NaN;
    return Math.max(0, this.sumSq / this.n - this.mean ** 2);
  }

  /** Slope of the least-squares line, K per minute. */
  get slope(): number {
    const d = this.n * this.sumTT - this.sumT * this.sumT;
    return this.n > 1 && d > 1e-9 * this.n * this.sumTT ? (this.n * this.sumTK - this.sumT * this.sum) / d : 0;
  }

  /** Intercept of the least-squares line at the reset, K. */
  get offset(): number {
    return this.n > 0 ? (this.sum - this.slope * this.sumT) / this.n : NaN;
  }
}

interface LoopState {
  source: Channel;
  type: LoopType;
  /** Target setpoint, K. */
  setpoint: number;
  range: string;
  /** Display units of the source per minute. */
  rate: number;
  pgain: number;
  igain: number;
  dgain: number;
  pman: number;
  maxPower: number;
  maxSetpoint: number;
  load: 25 | 50;
  heats: NodeName | 'none';
  heaterStatus: HeaterStatusKey;
  pid: PidState;
  /** Ramp setpoint while a RAMPP/RAMPT ramp runs, K. */
  rampSetpoint: number | undefined;
  /** Output of the last step, %. */
  output: number;
}

export type CryoconFault = 'linkDrop' | 'silent';
export type ReplyCorruption = 'garble' | 'dropField' | 'truncate';

export interface TranscriptEntry {
  /** Wall-clock ms (performance.now) when the request was processed (or lost). */
  t: number;
  /** Simulated seconds of the physics when it was processed: a setpoint change takes effect here. */
  simulatedS?: number;
  request: string;
  /** undefined: no reply (set commands only, or the request was lost). */
  reply?: string;
  /** The request came too soon after the previous one and was lost (earlyRequests: drop). */
  dropped?: boolean;
}

export interface CryoconSimulatorStats {
  /** Request lines received. */
  requests: number;
  /** Reply lines sent. */
  replies: number;
  /** NACK fields sent. */
  nacks: number;
  /** Requests that arrived less than 100 ms after the previous one. */
  earlyRequests: number;
  /** Of those, lost (earlyRequests: drop). */
  dropped: number;
  /** Shortest time between two consecutive request arrivals, ms (Infinity before the second). */
  minRequestGapMs: number;
  /** Longest request line, characters without the LF. */
  longestRequest: number;
}

export interface CryoconSimulatorHooks {
  /** Physics clock in ms (default performance.now); tests pass a fake one to step the physics. */
  now?: () => number;
}

// ---------------------------------------------------------------- the command tree

/** What a Cryo-con command handler sees: the selected input or loop and the parameter text. */
interface Ctx {
  channel: Channel | undefined;
  loop: LoopNumber | undefined;
  args: string;
}

/** A node of the manual's command tree; capitals of `name` are the short form (`INPut`). */
interface TreeNode {
  name: string;
  selector?: 'channel' | 'loop';
  /** Answers a query; undefined means NACK. */
  query?: (ctx: Ctx) => string | undefined;
  /** Applies a set; false means NACK. */
  set?: (ctx: Ctx) => boolean;
  children?: TreeNode[];
}

function toCtx(ctx: ScpiContext): Ctx {
  return { channel: ctx.selected.channel as Channel | undefined, loop: ctx.selected.loop as LoopNumber | undefined, args: ctx.args };
}

/** The Cryo-con table in the kit's terms: `INPut<channel>`, `LOOP<loop>`. */
function toScpiNodes(nodes: readonly TreeNode[]): ScpiNodeSpec[] {
  return nodes.map((n) => {
    const { query, set } = n;
    return {
      keyword: n.selector ? `${n.name}<${n.selector}>` : n.name,
      ...(query ? { query: (ctx: ScpiContext) => query(toCtx(ctx)) } : {}),
      ...(set ? { set: (ctx: ScpiContext) => set(toCtx(ctx)) } : {}),
      ...(n.children ? { children: toScpiNodes(n.children) } : {}),
    };
  });
}

/**
 * Parses one command of a line: `:INP A:TEMP?`, `LOOP 1:SETPT 123.45`, `INPUT? A,B,C,D`,
 * `SYST:NAM "x"`, `*IDN?`. A token after a space that runs into `:` selects a channel or loop.
 */
export function parseCommand(text: string): ParsedScpiCommand | undefined {
  return parseScpiCommand(text, { selectors: true });
}

function onOff(v: boolean): string {
  return v ? 'ON' : 'OFF';
}

function setOnOff(args: string, apply: (v: boolean) => void): boolean {
  const v = parseOnOff(args);
  if (v === undefined) return false;
  apply(v);
  return true;
}

function setNumber(args: string, min: number, max: number, apply: (v: number) => void): boolean {
  const v = parseNumber(args);
  if (v === undefined || v < min || v > max) return false;
  apply(v);
  return true;
}

// ---------------------------------------------------------------- connections

/** One client's byte stream: its own line buffer; replies go back to it. */
class Connection {
  private buffer = '';
  private overflow = false;
  private busyUntil = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  closed = false;

  constructor(
    private readonly sim: CryoconSimulator,
    private readonly sink: (data: Buffer) => void,
    /** A serial line: replies take the character time. */
    readonly serial: boolean,
  ) {}

  receive(chunk: Buffer): void {
    if (this.closed || this.sim.isDeaf()) return;
    for (const byte of chunk) {
      const ch = String.fromCharCode(byte);
      if (ch === '\n') {
        const line = this.buffer.replace(/\r$/, '');
        const overflow = this.overflow;
        this.buffer = '';
        this.overflow = false;
        if (overflow) this.sim.enqueue(this, undefined);
        else if (line.trim() !== '') this.sim.enqueue(this, line);
      } else if (!this.overflow) {
        this.buffer += ch;
        if (this.buffer.length >= MAX_LINE_CHARS) {
          this.buffer = '';
          this.overflow = true;
        }
      }
    }
  }

  send(reply: string): void {
    if (this.closed) return;
    const data = Buffer.from(`${reply}\n`, 'latin1');
    const now = performance.now();
    let due = now + this.sim.latencyMs;
    if (this.serial && this.sim.byteTiming) {
      // 10 bits per character (8N1) at the configured baud rate.
      due = Math.max(due, this.busyUntil) + (data.length * 10 * 1000) / this.sim.baud;
      this.busyUntil = due;
    }
    const delay = due - now;
    if (delay <= 0.5) {
      this.sink(data);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) this.sink(data);
    }, delay);
    this.timers.add(timer);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

// ---------------------------------------------------------------- the simulator

export class CryoconSimulator implements Simulator {
  private readonly options: ParsedOptions;
  readonly model: CryoconModelName;
  private readonly cryostat: CryostatModel;
  private readonly now: () => number;
  private readonly noise: () => number;
  private readonly startedAt: number;
  private offsetS = 0;
  private readonly channels = new Map<Channel, ChannelState>();
  private readonly loops = new Map<LoopNumber, LoopState>();
  private controlOn: boolean;
  private systemName: string;
  private lockout = false;
  private remoteLed = true;
  private displayFilter = 1;
  private powerUpControl = false;
  private nackList: string[];
  private readonly faults = new Set<CryoconFault>();
  private readonly host = new SimHost({
    open: (client) => new Connection(this, client.write, client.kind === 'pty'),
    refuse: () => this.faults.has('linkDrop'),
  });
  private corruptions: ReplyCorruption[] = [];
  private readonly tree: ScpiTree;
  private readonly status = new ScpiStatus();

  private readonly queue: { conn: Connection; line: string | undefined }[] = [];
  private pumpTimer: NodeJS.Timeout | undefined;
  private lastArrival: number | undefined;
  private lastStart = -Infinity;
  private readonly log: TranscriptEntry[] = [];
  private readonly _stats: CryoconSimulatorStats = {
    requests: 0,
    replies: 0,
    nacks: 0,
    earlyRequests: 0,
    dropped: 0,
    minRequestGapMs: Infinity,
    longestRequest: 0,
  };

  constructor(options: CryoconSimulatorOptions | SimulatorOptions = {}, hooks: CryoconSimulatorHooks = {}) {
    this.options = parseOptions(cryoconSimulatorOptionsSchema, options, 'the cryocon simulator') as ParsedOptions;
    const o = this.options;
    this.model = o.model;
    this.now = hooks.now ?? (() => performance.now());
    this.noise = gaussian(seededRandom(o.seed));
    this.controlOn = o.control;
    this.systemName = o.name;
    this.nackList = o.nack;
    if (o.linkDrop) this.faults.add('linkDrop');
    if (o.silent) this.faults.add('silent');

    const c = o.cryostat;
    const params = {
      ...DEFAULT_CRYOSTAT,
      ...Object.fromEntries(Object.entries(c).filter(([k]) => !['initialTemperature', 'initial', 'heatCapacity', 'ambientLink'].includes(k))),
      heatCapacity: { ...DEFAULT_CRYOSTAT.heatCapacity, ...c.heatCapacity },
      ambientLink: { ...DEFAULT_CRYOSTAT.ambientLink, ...c.ambientLink },
    };
    const start = c.initialTemperature ?? params.ambient;
    const initial = Object.fromEntries(NODES.map((n) => [n, c.initial?.[n] ?? start])) as Record<NodeName, number>;
    this.cryostat = new CryostatModel(params, initial);
    this.startedAt = this.now();

    const spec = CRYOCON_MODELS[this.model];
    const extra = [
      ...Object.keys(o.channels).filter((k) => !(spec.channels as readonly string[]).includes(k)).map((k) => `channels.${k}`),
      ...Object.keys(o.loops).filter((k) => !(spec.loops as readonly number[]).includes(Number(k))).map((k) => `loops.${k}`),
    ];
    if (extra.length > 0) {
      throw new Error(`invalid options for the cryocon simulator: ${extra.join(', ')}: the ${this.model} has inputs ${spec.channels.join(', ')} and loops ${spec.loops.join(', ')}`);
    }
    for (const ch of spec.channels) {
      const given = o.channels[ch] ?? {};
      const d = CHANNEL_DEFAULTS[ch];
      const stats = new Stats();
      stats.add(0, initial[given.node ?? d.node]);
      this.channels.set(ch, {
        node: given.node ?? d.node,
        units: (given.units as DisplayUnit | undefined) ?? 'K',
        name: given.name ?? d.name,
        sensor: given.sensor ?? 'ok',
        calibrationMin: given.calibrationMin ?? 1.4,
        calibrationMax: given.calibrationMax ?? 500,
        alarmHigh: given.alarmHigh ?? 400,
        alarmLow: given.alarmLow ?? 0,
        alarmDeadband: given.alarmDeadband ?? 1,
        alarmHighEnabled: given.alarmHighEnabled ?? false,
        alarmLowEnabled: given.alarmLowEnabled ?? false,
        alarmLatch: given.alarmLatch ?? false,
        alarmAudio: given.alarmAudio ?? false,
        alarm: undefined,
        stats,
      });
    }
    for (const n of spec.loops) {
      const given = o.loops[String(n) as '1'] ?? {};
      const d = LOOP_DEFAULTS[n];
      const type = (given.type as LoopType | undefined) ?? d.type;
      if (!loopTypesFor(n).includes(type)) throw new Error(`invalid options for the cryocon simulator: loops.${n}.type: ${type} exists on loops 3 and 4 only`);
      const range = given.range ?? d.range;
      if (!(LOOP_RANGES[n] as readonly string[]).includes(range)) {
        throw new Error(`invalid options for the cryocon simulator: loops.${n}.range: loop ${n} has ranges ${LOOP_RANGES[n].join(', ')}`);
      }
      if (given.source && !spec.channels.includes(given.source as never)) {
        throw new Error(`invalid options for the cryocon simulator: loops.${n}.source: the ${this.model} has inputs ${spec.channels.join(', ')}`);
      }
      this.loops.set(n, {
        source: given.source ?? d.source,
        type,
        setpoint: given.setpoint ?? 300,
        range,
        rate: given.rate ?? 10,
        pgain: given.pgain ?? 10,
        igain: given.igain ?? 60,
        dgain: given.dgain ?? 0,
        pman: given.pman ?? 0,
        maxPower: given.maxPower ?? 100,
        maxSetpoint: given.maxSetpoint ?? 500,
        load: (given.load as 25 | 50 | undefined) ?? 50,
        heats: given.heats ?? d.heats,
        heaterStatus: given.heaterStatus ?? 'ok',
        pid: new PidState(),
        rampSetpoint: undefined,
        output: 0,
      });
    }
    // The 24C answers the register commands but keeps no error queue: failures answer NACK instead.
    const common = commonCommands({ status: this.status, idn: () => '' }).filter((c) => CRYOCON_COMMON.includes(c.header));
    this.tree = new ScpiTree([...common, ...flattenNodes(toScpiNodes(this.buildTree()))], {
      keywords: 'prefix',
      selectors: { channel: (t) => this.parseSelector('channel', t), loop: (t) => this.parseSelector('loop', t) },
      failureReply: NACK,
      retryFromRoot: true,
      disabled: (command) => this.isNacked(command),
    });
    for (const ch of this.channels.values()) this.evaluateAlarm(ch);
  }

  // ---- state for tests and the CLI ----

  /** Simulated seconds since the start. */
  get simulatedSeconds(): number {
    this.sync();
    return this.cryostat.time;
  }

  /** True temperature of a node, K. */
  nodeTemperature(node: NodeName): number {
    this.sync();
    return this.cryostat.temperatures[node];
  }

  /** True temperature at an input's sensor, K (no noise, whatever the display units). */
  temperature(channel: Channel): number {
    return this.nodeTemperature(this.channelState(channel).node);
  }

  /** A loop's settings and output, for tests. */
  loop(n: LoopNumber): Readonly<Omit<LoopState, 'pid'>> & { powerW: number } {
    this.sync();
    const l = this.loopState(n);
    const { pid: _pid, ...rest } = l;
    return { ...rest, powerW: (l.output / 100) * this.maxPowerW(n, l) };
  }

  channel(ch: Channel): Readonly<Omit<ChannelState, 'stats'>> {
    const { stats: _stats, ...rest } = this.channelState(ch);
    return { ...rest };
  }

  get control(): boolean {
    return this.controlOn;
  }

  get stats(): Readonly<CryoconSimulatorStats> {
    return { ...this._stats };
  }

  /** The last requests and replies, oldest first. */
  get transcript(): readonly TranscriptEntry[] {
    return [...this.log];
  }

  get byteTiming(): boolean {
    return this.options.byteTiming;
  }

  get baud(): number {
    return this.options.baud;
  }

  get latencyMs(): number {
    return this.options.latencyMs;
  }

  get activeFaults(): CryoconFault[] {
    return [...this.faults];
  }

  isDeaf(): boolean {
    return this.faults.has('linkDrop') || this.faults.has('silent');
  }

  setFault(fault: CryoconFault, active: boolean): void {
    if (fault !== 'linkDrop' && fault !== 'silent') throw new Error(`unknown Cryo-con simulator fault ${String(fault)}`);
    if (active) this.faults.add(fault);
    else this.faults.delete(fault);
    if (active && fault === 'linkDrop') this.host.dropTcpClients();
  }

  /** Puts an input's sensor into a fault (`-------`) or out of calibration (`.......`), or back to `ok`. */
  setSensor(channel: Channel, state: SensorState): void {
    this.sync();
    const ch = this.channelState(channel);
    ch.sensor = state;
    this.evaluateAlarm(ch);
  }

  /** Sets a loop's heater status (`otdisconn` and `lowR` disable the output). */
  setHeaterStatus(loop: LoopNumber, status: HeaterStatusKey): void {
    this.sync();
    this.loopState(loop).heaterStatus = status;
  }

  /** Commands to answer `NACK`, e.g. `['LOOP:HTRRead']`, as firmware without them would. */
  setNack(commands: string[]): void {
    this.nackList = [...commands];
  }

  /** The next `n` replies arrive corrupted: line noise, one field missing, or cut short. */
  corruptNextReplies(n: number, kind: ReplyCorruption = 'garble'): void {
    for (let i = 0; i < n; i++) this.corruptions.push(kind);
  }

  /** The next `n` replies arrive as line noise. */
  garbleNextReplies(n = 1): void {
    this.corruptNextReplies(n, 'garble');
  }

  /** Runs the physics forward by simulated seconds without waiting (tests). */
  advance(seconds: number): void {
    this.sync();
    if (seconds > 0) this.offsetS += seconds;
    this.sync();
  }

  /** Changes the room temperature or switches the cryocooler (a warm-up). */
  setCooler(on: boolean): void {
    this.sync();
    this.cryostat.params.cooler = on;
  }

  // ---- the protocol ----

  /**
   * Answers one request line at once (LF removed), bypassing the 100 ms pacing; undefined when the
   * line holds only set commands. The wire path goes through the paced queue.
   */
  handleLine(line: string): string | undefined {
    this.sync();
    const reply = this.execute(line);
    this.recordReply(reply);
    const entry: TranscriptEntry = { t: performance.now(), simulatedS: this.cryostat.time, request: line };
    this.log.push(reply === undefined ? entry : { ...entry, reply });
    if (this.log.length > LOG_LIMIT) this.log.shift();
    return reply;
  }

  /** What goes back on the wire for a line: handleLine's answer, corrupted if a corruption is pending. */
  respond(line: string): string | undefined {
    const reply = this.handleLine(line);
    return reply === undefined ? undefined : this.corrupt(reply);
  }

  private recordReply(reply: string | undefined): void {
    if (reply === undefined) return;
    this._stats.replies++;
    this._stats.nacks += splitOutsideQuotes(reply).filter((f) => f === NACK).length;
  }

  /** A line from a connection (undefined: longer than the 255-character limit). */
  enqueue(conn: Connection, line: string | undefined): void {
    const now = performance.now();
    this._stats.requests++;
    this._stats.longestRequest = Math.max(this._stats.longestRequest, line?.length ?? MAX_LINE_CHARS);
    let early = false;
    if (this.lastArrival !== undefined) {
      const gap = now - this.lastArrival;
      this._stats.minRequestGapMs = Math.min(this._stats.minRequestGapMs, gap);
      early = gap < this.options.minGapMs;
    }
    if (early) this._stats.earlyRequests++;
    if (early && this.options.earlyRequests === 'drop') {
      // Lost, like a command the unit was not ready to take; the next one is measured from the last accepted.
      this._stats.dropped++;
      this.log.push({ t: now, request: line ?? '(overlong line)', dropped: true });
      if (this.log.length > LOG_LIMIT) this.log.shift();
      return;
    }
    this.lastArrival = now;
    this.queue.push({ conn, line });
    this.pump();
  }

  private pump(): void {
    if (this.pumpTimer) return;
    while (this.queue.length > 0) {
      const now = performance.now();
      const due = this.lastStart + this.options.minGapMs;
      if (now < due) {
        this.pumpTimer = setTimeout(() => {
          this.pumpTimer = undefined;
          this.pump();
        }, due - now);
        return;
      }
      const { conn, line } = this.queue.shift()!;
      this.lastStart = now;
      if (conn.closed) continue;
      if (line === undefined) this.recordReply(NACK);
      const reply = line === undefined ? NACK : this.respond(line);
      if (reply !== undefined) conn.send(reply);
    }
  }

  private corrupt(reply: string): string {
    const kind = this.corruptions.shift();
    if (!kind) return reply;
    const fields = splitOutsideQuotes(reply);
    switch (kind) {
      case 'garble':
        // Line noise: wrong bits and a character no Cryo-con sends.
        return `#${[...reply].reverse().join('')}\x7f?`;
      case 'dropField':
        if (fields.length > 1) fields.splice(Math.floor(fields.length / 2), 1);
        else fields[0] = '';
        return fields.join(';');
      case 'truncate':
        return reply.slice(0, Math.max(1, Math.floor(reply.length / 2)));
    }
  }

  private execute(line: string): string | undefined {
    if (line.length >= MAX_LINE_CHARS) return NACK;
    const reply = this.tree.execute(line);
    if (reply === undefined) return undefined;
    return reply + (this.options.trailingSemicolon ? ';' : '');
  }

  private isNacked(command: ScpiCommand): boolean {
    return this.nackList.some((spec) => this.tree.find(spec) === command);
  }

  /** `A`, `CHA`, `0` (inputs are also numbered from zero), lists `A,B,C,D`; loops `1`…`4`. */
  private parseSelector(kind: 'channel' | 'loop', text: string): (Channel | LoopNumber)[] | undefined {
    const out: (Channel | LoopNumber)[] = [];
    for (const raw of text.split(',')) {
      const t = raw.trim().toUpperCase();
      if (kind === 'channel') {
        const m = /^(?:CH)?([A-D])$/.exec(t);
        const ch = m ? (m[1] as Channel) : /^[0-3]$/.test(t) ? CHANNELS[Number(t)] : undefined;
        if (!ch || !this.channels.has(ch)) return undefined;
        out.push(ch);
      } else {
        const n = /^[1-4]$/.test(t) ? (Number(t) as LoopNumber) : undefined;
        if (!n || !this.loops.has(n)) return undefined;
        out.push(n);
      }
    }
    return out.length > 0 ? out : undefined;
  }

  private channelState(ch: Channel | undefined): ChannelState {
    const s = ch ? this.channels.get(ch) : undefined;
    if (!s) throw new Error(`the simulated ${this.model} has no input ${String(ch)}`);
    return s;
  }

  private loopState(n: LoopNumber | undefined): LoopState {
    const s = n ? this.loops.get(n) : undefined;
    if (!s) throw new Error(`the simulated ${this.model} has no loop ${String(n)}`);
    return s;
  }

  // ---- what the unit shows ----

  /** The reading of an input as the unit formats it, in its display units. */
  private reading(ch: ChannelState): string {
    if (ch.sensor === 'fault') return SENSOR_FAULT;
    const t = this.cryostat.temperatures[ch.node] + this.options.noise * this.noise();
    if (ch.sensor === 'uncalibrated' || t < ch.calibrationMin || t > ch.calibrationMax) return OUT_OF_CALIBRATION;
    return formatFloat(this.display(t, ch.units));
  }

  /** A temperature in kelvin shown in display units (sensor units: a diode's volts). */
  private display(kelvin: number, units: DisplayUnit): number {
    return fromKelvin(kelvin, units) ?? diodeVolts(kelvin);
  }

  /** Display units to kelvin (sensor units: read back on the diode curve). */
  private fromDisplay(value: number, units: string): number | undefined {
    const k = toKelvin(value, units);
    if (k !== undefined) return k;
    if (units !== 'S' && units !== 'V') return undefined;
    // Invert the monotone diode curve by bisection.
    let lo = 0;
    let hi = 1000;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (diodeVolts(mid) > value) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  }

  private formatSetpoint(kelvin: number, units: DisplayUnit): string {
    if (units === 'S') return `${diodeVolts(kelvin).toFixed(5)}V`;
    return `${(fromKelvin(kelvin, units) ?? kelvin).toFixed(3)}${units}`;
  }

  /** Setpoint argument: a number in the source's display units, or with its own unit suffix. */
  private parseSetpointArg(args: string, units: DisplayUnit): number | undefined {
    const p = parseSuffixed(args);
    if (!p) return undefined;
    const unit = p.unit === '' ? units : p.unit;
    return this.fromDisplay(p.value, unit);
  }

  private sourceUnits(loop: LoopState): DisplayUnit {
    return this.channels.get(loop.source)?.units ?? 'K';
  }

  /** Full-scale heater power of a loop, W: loop 1 HI/MID/LOW = 1/0.1/0.01 × load; loop 2 HI/LOW into 50 Ω; loops 3/4 5 or 10 V into 50 Ω. */
  private maxPowerW(n: LoopNumber, l: LoopState): number {
    const factor: Record<string, number> =
      n === 1 ? { HI: 1, MID: 0.1, LOW: 0.01 } : n === 2 ? { HI: 0.5, LOW: 0.05 } : { '10V': 100 / 50 / 50, '5V': 25 / 50 / 50 };
    const load = n === 1 ? l.load : 50;
    return (factor[l.range] ?? 0) * load;
  }

  private heaterEnabled(l: LoopState): boolean {
    return l.heaterStatus !== 'otdisconn' && l.heaterStatus !== 'lowR';
  }

  private isRamping(l: LoopState): boolean {
    return (l.type === 'RAMPP' || l.type === 'RAMPT') && this.controlOn && l.rampSetpoint !== undefined && l.rampSetpoint !== l.setpoint;
  }

  private evaluateAlarm(ch: ChannelState): void {
    if (ch.sensor === 'fault') return;
    const t = this.cryostat.temperatures[ch.node];
    const high = ch.alarmHighEnabled && t > ch.alarmHigh;
    const low = ch.alarmLowEnabled && t < ch.alarmLow;
    if (high) ch.alarm = 'HI';
    else if (low) ch.alarm = 'LO';
    else if (!ch.alarmLatch) {
      if (ch.alarm === 'HI' && (!ch.alarmHighEnabled || t < ch.alarmHigh - ch.alarmDeadband)) ch.alarm = undefined;
      if (ch.alarm === 'LO' && (!ch.alarmLowEnabled || t > ch.alarmLow + ch.alarmDeadband)) ch.alarm = undefined;
    }
  }

  private alarmCode(ch: ChannelState): string {
    if (ch.sensor === 'fault') return 'SF';
    return ch.alarm ?? '--';
  }

  // ---- physics clock ----

  private readonly heaters = (dt: number, temps: Readonly<Record<NodeName, number>>, time: number): Partial<Record<NodeName, number>> => {
    const power: Partial<Record<NodeName, number>> = {};
    for (const ch of this.channels.values()) {
      if (ch.sensor === 'ok') ch.stats.add(time, temps[ch.node]);
      this.evaluateAlarm(ch);
    }
    for (const [n, l] of this.loops) {
      l.output = this.loopOutput(l, dt, temps);
      if (l.heats !== 'none' && l.output > 0) power[l.heats] = (power[l.heats] ?? 0) + (l.output / 100) * this.maxPowerW(n, l);
    }
    return power;
  };

  private loopOutput(l: LoopState, dt: number, temps: Readonly<Record<NodeName, number>>): number {
    if (!this.controlOn || !this.heaterEnabled(l) || l.type === 'OFF' || l.type === 'SCALE') {
      l.pid.reset();
      l.rampSetpoint = undefined;
      return 0;
    }
    if (l.type === 'MAN') return Math.min(l.pman, l.maxPower);
    const src = this.channels.get(l.source);
    const measured = src ? temps[src.node] : undefined;
    // A loop whose input has no valid reading turns its heater off.
    if (!src || measured === undefined || src.sensor !== 'ok' || measured < src.calibrationMin || measured > src.calibrationMax) {
      l.pid.reset();
      return 0;
    }
    let target = l.setpoint;
    if (l.type === 'RAMPP' || l.type === 'RAMPT') {
      const ratePerS = (deltaToKelvin(l.rate, src.units) ?? l.rate) / 60;
      const from = l.rampSetpoint ?? measured;
      const step = ratePerS * dt;
      l.rampSetpoint = Math.abs(target - from) <= step ? target : from + Math.sign(target - from) * step;
      target = l.rampSetpoint;
    }
    return Math.min(l.maxPower, l.pid.step(dt, target, measured, { p: l.pgain, i: l.igain, d: l.dgain }));
  }

  /** Brings the physics up to the clock; every query and state change calls this first. */
  private sync(): void {
    const simulatedS = ((this.now() - this.startedAt) / 1000) * this.options.timeScale + this.offsetS;
    this.cryostat.advanceTo(simulatedS, this.heaters);
  }

  // ---- the command table ----

  private buildTree(): TreeNode[] {
    const ch = (ctx: Ctx) => this.channelState(ctx.channel);
    const lp = (ctx: Ctx) => this.loopState(ctx.loop);
    const o = this.options;
    const idnModel = this.model === 'M24C' ? '24C' : '32';
    const statInDisplay = (ctx: Ctx, value: (s: Stats) => number, kind: 'abs' | 'delta' | 'square'): string => {
      const c = ch(ctx);
      if (c.units === 'S') return 'N/A';
      const v = value(c.stats);
      const shown = kind === 'abs' ? this.display(v, c.units) : kind === 'delta' ? (deltaFromKelvin(v, c.units) ?? v) : v * (deltaFromKelvin(1, c.units) ?? 1) ** 2;
      return formatFloat(shown);
    };
    const alarmLimit =
      (get: (c: ChannelState) => number, delta = false) =>
      (ctx: Ctx): string => {
        const c = ch(ctx);
        const k = get(c);
        return formatFloat(delta ? (deltaFromKelvin(k, c.units) ?? k) : this.display(k, c.units));
      };
    const setAlarmLimit = (apply: (c: ChannelState, k: number) => void, delta = false) => (ctx: Ctx): boolean => {
      const c = ch(ctx);
      const v = parseNumber(ctx.args);
      if (v === undefined) return false;
      const k = delta ? (deltaToKelvin(v, c.units) ?? v) : this.fromDisplay(v, c.units);
      if (k === undefined) return false;
      apply(c, k);
      this.evaluateAlarm(c);
      return true;
    };
    const alarmFlag = (key: 'alarmHighEnabled' | 'alarmLowEnabled' | 'alarmLatch' | 'alarmAudio'): TreeNode => ({
      name: { alarmHighEnabled: 'HIENa', alarmLowEnabled: 'LOENa', alarmLatch: 'LTEna', alarmAudio: 'AUDio' }[key],
      query: (ctx) => onOff(ch(ctx)[key]),
      set: (ctx) => setOnOff(ctx.args, (v) => ((ch(ctx)[key] = v), this.evaluateAlarm(ch(ctx)))),
    });
    const gain = (name: string, key: 'pgain' | 'igain' | 'dgain'): TreeNode => ({
      name,
      query: (ctx) => formatFloat(lp(ctx)[key]),
      set: (ctx) => setNumber(ctx.args, 0, 1000, (v) => (lp(ctx)[key] = v)),
    });
    const restartLoop = (l: LoopState) => {
      l.pid.reset();
      l.rampSetpoint = undefined;
    };
    return [
      { name: '*IDN', query: () => `Cryo-con,${idnModel},${o.serial},${o.firmware}` },
      {
        name: '*RST',
        set: () => {
          this.controlOn = false;
          for (const l of this.loops.values()) restartLoop(l);
          return true;
        },
      },
      {
        name: 'CONTrol',
        query: () => onOff(this.controlOn),
        set: (ctx) => {
          if (ctx.args !== '') return false;
          if (!this.controlOn) for (const l of this.loops.values()) restartLoop(l);
          this.controlOn = true;
          return true;
        },
      },
      {
        name: 'STOP',
        set: (ctx) => {
          if (ctx.args !== '') return false;
          this.controlOn = false;
          return true;
        },
      },
      {
        name: 'SYSTem',
        children: [
          {
            name: 'NAMe',
            query: () => `"${this.systemName}"`,
            set: (ctx) => {
              const r = nameString.safeParse(parseQuoted(ctx.args));
              if (!r.success || !/^".*"$/.test(ctx.args.trim())) return false;
              this.systemName = r.data;
              return true;
            },
          },
          { name: 'HWRev', query: () => o.hardwareRevision },
          { name: 'FWRev', query: () => o.firmwareRevision },
          { name: 'LOCKout', query: () => onOff(this.lockout), set: (ctx) => setOnOff(ctx.args, (v) => (this.lockout = v)) },
          { name: 'REMLed', query: () => onOff(this.remoteLed), set: (ctx) => setOnOff(ctx.args, (v) => (this.remoteLed = v)) },
          { name: 'PUControl', query: () => onOff(this.powerUpControl), set: (ctx) => setOnOff(ctx.args, (v) => (this.powerUpControl = v)) },
          { name: 'DISTc', query: () => formatFloat(this.displayFilter, 1), set: (ctx) => setNumber(ctx.args, 0.5, 64, (v) => (this.displayFilter = v)) },
          {
            name: 'DATe',
            query: () => {
              const d = new Date();
              return `"${String(d.getMonth() + 1).padStart(2, '0')}/${String(d.getDate()).padStart(2, '0')}/${d.getFullYear()}"`;
            },
            set: (ctx) => /^"\d{2}\/\d{2}\/\d{4}"$/.test(ctx.args.trim()),
          },
          {
            name: 'TIMe',
            query: () => {
              const d = new Date();
              return `"${[d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':')}"`;
            },
            set: (ctx) => /^"\d{2}:\d{2}:\d{2}"$/.test(ctx.args.trim()),
          },
          { name: 'BEEP', set: (ctx) => setNumber(ctx.args, 0, 60, () => undefined) },
          { name: 'ADRes', query: () => '12', set: (ctx) => setNumber(ctx.args, 1, 31, () => undefined) },
          { name: 'BAUD', query: () => String(o.baud), set: (ctx) => [9600, 19200, 38400, 57600, 115200].includes(Number(ctx.args)) },
          { name: 'LINefreq', query: () => '60' },
          { name: 'NVSave', set: () => true },
        ],
      },
      {
        name: 'INPut',
        selector: 'channel',
        // `INPUT? A,B,C,D`: the readings of a channel list, joined by `;`.
        query: (ctx) => {
          const list = this.parseSelector('channel', ctx.args);
          if (!list) return undefined;
          return list.map((c) => this.reading(this.channelState(c as Channel))).join(';');
        },
        children: [
          { name: 'TEMPerature', query: (ctx) => this.reading(ch(ctx)) },
          {
            name: 'UNITs',
            query: (ctx) => ch(ctx).units,
            set: (ctx) => {
              const u = ctx.args.trim().toUpperCase();
              if (!(DISPLAY_UNITS as readonly string[]).includes(u)) return false;
              ch(ctx).units = u as DisplayUnit;
              return true;
            },
          },
          {
            name: 'NAMe',
            query: (ctx) => `"${ch(ctx).name}"`,
            set: (ctx) => {
              const r = nameString.safeParse(parseQuoted(ctx.args));
              if (!r.success || !/^".*"$/.test(ctx.args.trim())) return false;
              ch(ctx).name = r.data;
              return true;
            },
          },
          {
            name: 'SENPr',
            query: (ctx) => (ch(ctx).sensor === 'fault' ? SENSOR_FAULT : formatFloat(diodeVolts(this.cryostat.temperatures[ch(ctx).node]))),
          },
          { name: 'MINimum', query: (ctx) => statInDisplay(ctx, (s) => s.min, 'abs') },
          { name: 'MAXimum', query: (ctx) => statInDisplay(ctx, (s) => s.max, 'abs') },
          { name: 'VARiance', query: (ctx) => statInDisplay(ctx, (s) => s.variance, 'square') },
          { name: 'SLOpe', query: (ctx) => statInDisplay(ctx, (s) => s.slope, 'delta') },
          { name: 'OFFSet', query: (ctx) => statInDisplay(ctx, (s) => s.offset, 'abs') },
          { name: 'VBIas', query: () => 'N/A' },
          {
            name: 'STATs',
            children: [
              { name: 'TIMe', query: (ctx) => formatFloat((this.cryostat.time - ch(ctx).stats.start) / 60, 3) },
              {
                name: 'RESet',
                set: (ctx) => {
                  ch(ctx).stats.reset(this.cryostat.time);
                  return true;
                },
              },
            ],
          },
          {
            name: 'ALARm',
            query: (ctx) => this.alarmCode(ch(ctx)),
            children: [
              { name: 'HIGHest', query: alarmLimit((c) => c.alarmHigh), set: setAlarmLimit((c, k) => (c.alarmHigh = k)) },
              { name: 'LOWEst', query: alarmLimit((c) => c.alarmLow), set: setAlarmLimit((c, k) => (c.alarmLow = k)) },
              {
                name: 'DEAdband',
                query: alarmLimit((c) => c.alarmDeadband, true),
                set: setAlarmLimit((c, k) => (c.alarmDeadband = Math.max(0, k)), true),
              },
              alarmFlag('alarmHighEnabled'),
              alarmFlag('alarmLowEnabled'),
              alarmFlag('alarmLatch'),
              alarmFlag('alarmAudio'),
              {
                name: 'CLEar',
                set: (ctx) => {
                  const c = ch(ctx);
                  c.alarm = undefined;
                  this.evaluateAlarm(c);
                  return true;
                },
              },
            ],
          },
        ],
      },
      {
        name: 'LOOP',
        selector: 'loop',
        children: [
          {
            name: 'SOURce',
            query: (ctx) => `CH${lp(ctx).source}`,
            set: (ctx) => {
              const m = /^(?:CH)?([A-D])$/i.exec(ctx.args.trim());
              const src = m ? (m[1]!.toUpperCase() as Channel) : undefined;
              if (!src || !this.channels.has(src)) return false;
              lp(ctx).source = src;
              restartLoop(lp(ctx));
              return true;
            },
          },
          {
            name: 'SETPt',
            query: (ctx) => this.formatSetpoint(lp(ctx).setpoint, this.sourceUnits(lp(ctx))),
            set: (ctx) => {
              const l = lp(ctx);
              const k = this.parseSetpointArg(ctx.args, this.sourceUnits(l));
              if (k === undefined || k < 0 || k > l.maxSetpoint) return false;
              l.setpoint = k;
              l.rampSetpoint = undefined;
              return true;
            },
          },
          {
            name: 'TYPe',
            query: (ctx) => formatPadded(lp(ctx).type, 5),
            set: (ctx) => {
              const t = ctx.args.trim().toUpperCase() as LoopType;
              if (!loopTypesFor(ctx.loop!).includes(t)) return false;
              if (lp(ctx).type !== t) restartLoop(lp(ctx));
              lp(ctx).type = t;
              return true;
            },
          },
          {
            name: 'RANGe',
            query: (ctx) => formatPadded(lp(ctx).range, 3),
            set: (ctx) => {
              const r = ctx.args.trim().toUpperCase();
              if (!(LOOP_RANGES[ctx.loop!] as readonly string[]).includes(r)) return false;
              lp(ctx).range = r;
              return true;
            },
          },
          { name: 'RATe', query: (ctx) => formatFloat(lp(ctx).rate), set: (ctx) => setNumber(ctx.args, 0, 100, (v) => (lp(ctx).rate = v)) },
          { name: 'RAMP', query: (ctx) => onOff(this.isRamping(lp(ctx))) },
          gain('PGAin', 'pgain'),
          gain('IGAin', 'igain'),
          gain('DGAin', 'dgain'),
          { name: 'PMAnual', query: (ctx) => formatFloat(lp(ctx).pman), set: (ctx) => setNumber(ctx.args, 0, 100, (v) => (lp(ctx).pman = v)) },
          { name: 'OUTPwr', query: (ctx) => formatFloat(lp(ctx).output) },
          {
            name: 'HTRRead',
            query: (ctx) => formatHeaterPercent(this.heaterEnabled(lp(ctx)) ? lp(ctx).output : 0),
          },
          {
            name: 'LOAD',
            query: (ctx) => (ctx.loop === 1 ? String(lp(ctx).load) : undefined),
            set: (ctx) => {
              const v = Number(ctx.args.trim());
              if (ctx.loop !== 1 || (v !== 25 && v !== 50)) return false;
              lp(ctx).load = v;
              return true;
            },
          },
          { name: 'MAXPwr', query: (ctx) => formatFloat(lp(ctx).maxPower), set: (ctx) => setNumber(ctx.args, 0, 100, (v) => (lp(ctx).maxPower = v)) },
          {
            name: 'MAXSet',
            query: (ctx) => this.formatSetpoint(lp(ctx).maxSetpoint, this.sourceUnits(lp(ctx))),
            set: (ctx) => {
              const k = this.parseSetpointArg(ctx.args, this.sourceUnits(lp(ctx)));
              if (k === undefined || k <= 0) return false;
              lp(ctx).maxSetpoint = k;
              return true;
            },
          },
          {
            name: 'VSENse',
            query: (ctx) => `${Math.sqrt(Math.max(0, this.powerOf(ctx.loop!)) * 50).toFixed(2)}V`,
          },
          {
            name: 'ISENse',
            query: (ctx) => `${Math.sqrt(Math.max(0, this.powerOf(ctx.loop!)) / 50).toFixed(3)}A`,
          },
          { name: 'LSENse', query: (ctx) => (this.powerOf(ctx.loop!) > 0 ? formatFloat(ctx.loop === 1 ? lp(ctx).load : 50, 2) : '-1.00') },
          { name: 'HTRHst', query: (ctx) => `${(25 + this.powerOf(ctx.loop!) * 0.3).toFixed(1)}C` },
          { name: 'ERRor', query: (ctx) => heaterStatusText(lp(ctx).heaterStatus) },
          { name: 'AUTotune', children: [{ name: 'STATus', query: () => 'IDLE' }] },
        ],
      },
    ];
  }

  private powerOf(n: LoopNumber): number {
    const l = this.loopState(n);
    return this.heaterEnabled(l) ? (l.output / 100) * this.maxPowerW(n, l) : 0;
  }

  // ---- serving ----

  listenTcp(host: string, port: number): Promise<number> {
    return this.host.listenTcp(host, port);
  }

  listenPty(): Promise<string> {
    return this.host.listenPty();
  }

  async close(): Promise<void> {
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    this.queue.length = 0;
    await this.host.close();
  }
}

export function createCryoconSimulator(options: SimulatorOptions = {}): CryoconSimulator {
  return new CryoconSimulator(options);
}
