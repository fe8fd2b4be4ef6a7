/**
 * The device-definition API: what a device family declares so that the generic daemon can poll
 * it, validate commands, describe it and derive its `state` (DESIGN.md §3, after SECoP/Frappy).
 * Device folders import only this file (plus wire/ and links/); it has no runtime dependencies
 * beyond the `defineDevice` identity helper.
 */
import { z } from 'zod';
import type { ExchangeLike, ExchangeOptions, LinkSpec, ReplySplitter } from '../links/types.js';
import type { ValueDescription, ValueType, WireValue } from '../wire/types.js';
import { parseBoolWord } from '../wire/format.js';


/** States after SECoP's status groups. */
export const STATES = ['disabled', 'idle', 'busy', 'ramping', 'stabilizing', 'warn', 'error'] as const;
export type DeviceState = (typeof STATES)[number];

/** A declared value is exactly what `describe` reports about it. */
export type ValueDecl = ValueDescription;
export type { ValueType };

export interface TargetDecl {
  /** The readable parameter that should follow this one (setpoint → temperature). */
  of: string;
  /** |value − target| ≤ tolerance counts as reached. */
  tolerance: number;
  /** How long the value must stay within tolerance before `state` returns to idle. */
  settleMs: number;
  /** Whether the device is actively driving the value (a stopped chiller does not track its setpoint). */
  activeWhen?: (values: Readonly<Record<string, WireValue>>) => boolean;
}

export interface ParamDecl<D = unknown> extends ValueDecl {
  /** Writable parameters declare `readonly: false` and a `write` handler. Default: read-only. */
  readonly?: boolean;
  /** Archive hint: ignore changes smaller than this. */
  deadband?: number;
  target?: TargetDecl;
  /**
   * Applies a validated value to the device and returns the value as applied (read back), or
   * undefined when the requested value stands. Throw a LabwireError for a device refusal.
   */
  write?: (driver: D, value: WireValue, ctx: HandlerContext) => Promise<WireValue | void>;
}

export interface CommandDecl<D = unknown> {
  description: string;
  /** State-changing: refused in read-only mode, needs the operator role, audited. */
  write: boolean;
  /** Named arguments in positional order: `cmd 1 2` and `cmd a=1 b=2` are the same call. */
  args?: Record<string, ValueDecl>;
  /** Returns results to send back as `ok <command> k=v ...`. */
  run: (driver: D, args: Record<string, WireValue>, ctx: HandlerContext) => Promise<Record<string, WireValue> | void>;
}

export interface PollGroup<D = unknown> {
  name: string;
  everyMs: number;
  /** Reads the device and returns fresh values of some parameters. */
  read: (driver: D) => Promise<Record<string, WireValue>>;
}

export interface HandlerContext {
  /** Latest cached values (read-only snapshot). */
  values: Readonly<Record<string, WireValue>>;
  /** Logs to the daemon log and to subscribed peers. */
  log: (level: 'info' | 'warning' | 'error' | 'success', message: string) => void;
}

/** Limits of one parameter with the name of who set them, for messages people can act on. */
export interface Limits {
  min?: number;
  max?: number;
  /** e.g. `FL1703` or `site`. */
  source: string;
}

/** A device-reported condition that overrides the derived state (alarms, warnings). */
export interface StateOverride {
  state: DeviceState;
  text: string;
}

export interface DeviceDefinition<O = unknown, D = unknown> {
  /** Registry key and `type=` in `id`, e.g. `julabo`. */
  type: string;
  /** One line for people, e.g. `Julabo FL recirculating chiller (RS232)`. */
  title: string;
  /** Device options from the config file or CLI (model, …). Must accept `{}`. */
  options: z.ZodType<O>;
  /** Serial settings used when a `serial://` URL does not give them. */
  serialDefaults?: Partial<Extract<LinkSpec, { kind: 'serial' }>>;
  exchange: ExchangeOptions;
  splitter: () => ReplySplitter;
  /** Parameters in status order (hw_connected, state and state_text come first and are added by the daemon). */
  params: Record<string, ParamDecl<D>>;
  commands: Record<string, CommandDecl<D>>;
  poll: PollGroup<D>[];
  createDriver: (exchange: ExchangeLike, options: O) => D;
  /** Model limits that depend on options; the daemon applies site limits on top. */
  limits?: (options: O) => Record<string, Limits>;
  /** Target tolerance and settle time that depend on options (override the TargetDecl values). */
  targetTuning?: (options: O) => Record<string, { tolerance?: number; settleMs?: number }>;
  /** Runs after every (re)connect before polling: check identity, return values such as `version`. */
  identify?: (driver: D) => Promise<Record<string, WireValue>>;
  /** Device alarms and warnings from the cached values; undefined when the device reports nothing. */
  stateOverride?: (values: Readonly<Record<string, WireValue>>) => StateOverride | undefined;
}

/**
 * Validates options with a family's schema and turns the issues into one line a person can act on
 * (`invalid options for the julabo simulator: tolrance: unknown option; ...`).
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data as z.output<S>;
  const issues = parsed.error.issues.map((i) => {
    const where = i.path.map(String).join('.');
    const keys = i.code === 'unrecognized_keys' ? `unknown option(s) ${i.keys.join(', ')}` : i.message;
    return where ? `${where}: ${keys}` : keys;
  });
  throw new Error(`invalid options for ${what}: ${issues.join('; ')}`);
}

/** A boolean option that also takes the words a command line or config passes (`1`, `on`, `yes`, …). */
export const boolOption = z.preprocess((v) => (typeof v === 'string' ? (parseBoolWord(v) ?? v) : v), z.boolean());

/** Identity helper that keeps the option and driver types inferred in device files. */
export function defineDevice<O, D>(def: DeviceDefinition<O, D>): DeviceDefinition<O, D> {
  return def;
}

/** What a simulator offers to the CLI and tests. */
/**
 * Faults every simulator offers by these names: `linkDrop` (TCP clients closed and refused, a PTY
 * goes deaf), `garble` (every reply arrives as line noise), `silence` (the unit neither receives
 * nor answers). Families add their own (a Julabo's `lowLevel`).
 */
export const STANDARD_FAULTS = ['linkDrop', 'garble', 'silence'] as const;
export type StandardFault = (typeof STANDARD_FAULTS)[number];

export interface Simulator {
  /** Serve the device's wire protocol on TCP; resolves with the bound port. */
  listenTcp(host: string, port: number): Promise<number>;
  /** Serve it on a new pseudo-terminal; resolves with the path a client opens (/dev/pts/N). */
  listenPty(): Promise<string>;
  close(): Promise<void>;
  /**
   * Switches a fault on or off: the standard ones and the family's own; an unknown name throws.
   * Optional only until every family is on the simulation kit (decision 0011).
   */
  setFault?(fault: StandardFault, active: boolean): void;
  /** The faults now active, standard and the family's own. */
  readonly faults?: readonly string[];
}

export interface SimulatorOptions {
  /** Speeds up the physics: 60 makes a minute pass in a second. */
  timeScale?: number;
  /** Seed for reproducible noise. */
  seed?: number;
  /** Device-specific settings (faults, initial values), validated by the family. */
  [key: string]: unknown;
}

/** A definition with its option and driver types erased, as the daemon handles it. */
export type AnyDeviceDefinition = DeviceDefinition<unknown, unknown>;

/** Opt-in serial port detection: probes candidate ports (never excluded ones) and returns the device's path. */
export type DetectPort = (options: { exclude: string[]; cacheFile?: string }) => Promise<string>;

/** A plot the demo lab (and a new lab config) shows for a device: CCDLab's form, abscissa first. */
export interface DefaultPlot {
  id: string;
  name: string;
  values: string[];
  ylabel?: string;
}

/**
 * Settings the demo lab needs beyond defaults, e.g. credentials shared by simulator and daemon,
 * and alarms worth showing a newcomer (lab-config entries, durations as text such as `10s`; `name`
 * is the daemon's name for `<name>.<param>`).
 */
export type DemoSetup = (ctx: { dataDir: string; name: string }) => {
  simulatorOptions?: Record<string, unknown>;
  deviceOptions?: Record<string, unknown>;
  alarms?: Array<Record<string, unknown>>;
};

/**
 * The simulated instrument behind a bus adapter (GPIB behind a Prologix simulator): message-based,
 * not a byte server. The adapter simulator delivers each data line and asks for output when the
 * host reads; it knows no instrument family, it finds models through the registry.
 */
export interface BusInstrumentModel {
  /** One message from the controller: escapes removed, the adapter's end-of-string bytes appended. */
  receive(data: Buffer): void;
  /** Addressed to talk: the pending output, or undefined when there is none (the read stays silent). */
  talk(): Buffer | undefined;
  /** Selected Device Clear (`++clr`): drop pending output and unfinished input. */
  clear(): void;
  /** Serial poll status byte (`++spoll`). */
  statusByte?(): number;
  /** Stops timers of the model, if any. */
  close?(): void;
}

export interface DeviceFamily {
  definition: AnyDeviceDefinition;
  createSimulator?: (options: SimulatorOptions) => Simulator;
  /** For instruments that sit behind a bus adapter: their simulated model for the adapter simulator. */
  createBusInstrument?: (options: SimulatorOptions) => BusInstrumentModel;
  detectPort?: DetectPort;
  plots?: DefaultPlot[];
  demo?: DemoSetup;
}

/**
 * Erases a family's types for the registry. Safe because the daemon only ever hands a driver back
 * to the definition that created it, and options only after the definition's own schema parsed them.
 */
export function deviceFamily<O, D>(
  definition: DeviceDefinition<O, D>,
  extras: Omit<DeviceFamily, 'definition'> = {},
): DeviceFamily {
  return { definition: definition as unknown as AnyDeviceDefinition, ...extras };
}
