/**
 * The device-definition API: what a device family declares so that the generic daemon can poll
 * it, validate commands, describe it and derive its `state` (DESIGN.md §3, after SECoP/Frappy).
 * Device folders import only this file (plus wire/ and links/); it has no runtime dependencies
 * beyond the `defineDevice` identity helper.
 */
import { z } from 'zod';
import type { ExchangeLike, ExchangeOptions, ReplySplitter, SerialSettings } from '../links/types.js';
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

/**
 * Applies a validated value to the device and returns the value as applied (read back), or
 * undefined when the requested value stands. Throw a LabwireError for a device refusal.
 */
export type WriteHandler<D = unknown, V extends WireValue = WireValue> = (driver: D, value: V, ctx: HandlerContext) => Promise<WireValue | void>;

interface ParamDeclBase extends ValueDecl {
  /** Archive hint: ignore changes smaller than this. */
  deadband?: number;
  /** One of the few values that say how the device is doing: the page's overview shows them (with a sparkline). */
  key?: boolean;
  target?: TargetDecl;
  /** Display group in `describe` (a page's fold); defaults to the name's prefix before the first '.'. */
  group?: string;
}

/** A parameter the device reports and nobody sets. */
export interface ReadonlyParamDecl extends ParamDeclBase {
  readonly?: true;
  write?: undefined;
}

/**
 * A parameter that `set` changes: writable exactly because it has a write handler. `readonly:
 * false` may be written out for clarity; it cannot disagree with the handler (the type forbids it,
 * and `defineDevice` rejects it for declarations built at run time).
 */
export interface WritableParamDecl<D = unknown> extends ParamDeclBase {
  readonly?: false;
  write: WriteHandler<D>;
}

export type ParamDecl<D = unknown> = ReadonlyParamDecl | WritableParamDecl<D>;

/** Whether `set` may change the parameter. */
export function isWritable<D>(decl: ParamDecl<D>): decl is WritableParamDecl<D> {
  return typeof decl.write === 'function';
}

export interface CommandDecl<D = unknown> {
  description: string;
  /** State-changing: refused in read-only mode, needs the operator role, audited. */
  write: boolean;
  /**
   * A write that is traffic rather than an act of a person: a bus daemon's message for an
   * instrument daemon, many per second. Role and read-only checks as for any write, refusals
   * audited, but it is not audited one by one (the device counts it), does not wait behind other
   * commands and does not show `busy`.
   */
  traffic?: boolean;
  /** Named arguments in positional order: `cmd 1 2` and `cmd a=1 b=2` are the same call. */
  args?: Record<string, ValueDecl>;
  /**
   * The command answers with a BinaryResult (a FITS file): `describe` says so, and a monitor refuses
   * to forward it with `send` (a line reply cannot carry bytes) instead of dropping its connection
   * over a reply too big for it.
   */
  binary?: true;
  /**
   * Answered from what the daemon holds (its files, its memory), not from the device: served while
   * the link is down (an image written before the camera was switched off can still be fetched).
   */
  local?: true;
  /**
   * Returns results to send back as `ok <command> k=v ...`, or a BinaryResult: the protocol's
   * binary block (`binary <kind> size=<n> k=v ...` and the bytes), for a FITS file or pixels.
   */
  run: (driver: D, args: Record<string, WireValue>, ctx: HandlerContext) => Promise<Record<string, WireValue> | BinaryResult | void>;
}

/**
 * A command's answer in raw bytes (PROTOCOL.md, binary extension): the daemon writes
 * `binary <kind> size=<bytes> <fields as k=v>` and then exactly the bytes.
 */
export class BinaryResult {
  constructor(
    /** One word: `fits`, `pixels`. */
    readonly kind: string,
    readonly data: Buffer,
    readonly fields: Readonly<Record<string, WireValue>> = {},
  ) {}
}

/** One device as the lab sees it at one moment (for an image header). */
export interface LabDeviceState {
  name: string;
  /** Whether its daemon was reachable; values of an unreachable device are its last known ones, or none. */
  connected: boolean;
  values: Record<string, WireValue>;
  /** Unit of each parameter that has one. */
  units: Record<string, string>;
  /**
   * A device of a lower monitor: the monitors its values came through, nearest first (absent for
   * the monitor's own daemons). A monitor of monitors uses it to refuse loops.
   */
  monitors?: string[];
  /**
   * What the device speaks, as the monitor talks to it (absent from a daemon's own snapshot). A
   * monitor above decides by it which lines are reads: for CCDLab `describe` is a raw write.
   */
  protocol?: 'labwire' | 'ccdlab';
}

/** The state of every device of the lab at one moment. */
export interface LabState {
  /** Unix ms of the snapshot. */
  t: number;
  /** Where it came from, for the header and the log: `monitor 127.0.0.1:7700`, `this daemon only`. */
  source: string;
  devices: LabDeviceState[];
  /** Set when the lab's monitor could not be asked: `devices` then holds this daemon only. */
  error?: string;
}

export interface PollGroup<D = unknown> {
  name: string;
  everyMs: number;
  /**
   * Reads the device and returns fresh values of some parameters. `ctx` (given by the daemon)
   * lets a poll log what the device reports in passing (the Archon's controller log).
   */
  read: (driver: D, ctx?: HandlerContext) => Promise<Record<string, WireValue>>;
}

export interface HandlerContext {
  /** Latest cached values (read-only snapshot). */
  values: Readonly<Record<string, WireValue>>;
  /** Logs to the daemon log and to subscribed peers. */
  log: (level: 'info' | 'warning' | 'error' | 'success', message: string) => void;
  /**
   * Values the device reports outside a poll, as fresh readings (progress of an exposure that goes
   * on after its command returned). Undeclared names are dropped, as for poll results. Usable
   * after the handler returned.
   */
  publish: (values: Record<string, WireValue>) => void;
  /**
   * The state of every device of the lab, from the monitor the daemon was told of (`--lab`), or
   * this daemon's own values when it knows none or the monitor does not answer (then `error` says
   * why). Never rejects.
   */
  labState: () => Promise<LabState>;
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
  serialDefaults?: Partial<SerialSettings>;
  exchange: ExchangeOptions;
  splitter: () => ReplySplitter;
  /**
   * Parameters in status order (hw_connected, state and state_text come first and are added by the
   * daemon), or computed from the parsed options: a two-input model declares two inputs.
   */
  params: Record<string, ParamDecl<D>> | ((options: O) => Record<string, ParamDecl<D>>);
  /** Commands, or computed from the parsed options (a channel argument takes the model's channels). */
  commands: Record<string, CommandDecl<D>> | ((options: O) => Record<string, CommandDecl<D>>);
  /** The poll plan, or computed from the parsed options. */
  poll: PollGroup<D>[] | ((options: O) => PollGroup<D>[]);
  createDriver: (exchange: ExchangeLike, options: O) => D;
  /** Model limits that depend on options; the daemon applies site limits on top. */
  limits?: (options: O) => Record<string, Limits>;
  /** Target tolerance and settle time that depend on options (override the TargetDecl values). */
  targetTuning?: (options: O) => Record<string, { tolerance?: number; settleMs?: number }>;
  /** Runs after every (re)connect before polling: check identity, return values such as `version`. */
  identify?: (driver: D) => Promise<Record<string, WireValue>>;
  /** Device alarms and warnings from the cached values; undefined when the device reports nothing. */
  /** `options` is what the schema parsed (the daemon always passes it; callers testing a static definition may not). */
  stateOverride?: (values: Readonly<Record<string, WireValue>>, options?: O) => StateOverride | undefined;
  /**
   * Another line protocol served on the daemon's own port, for peers that predate labwire
   * (CCDLab's GPIB multiplexor on the prologix bus daemon). It sees only lines whose first word is
   * no labwire request; they need the operator role and count against the rate limit.
   */
  foreign?: ForeignProtocol<D>;
  /**
   * The daemon listens at this endpoint: a family may offer its driver to other code of the same
   * process (the prologix bus to in-process gpib:// links). Returns what undoes it at close.
   */
  serving?: (driver: D, endpoint: { host: string; port: number }) => (() => void) | void;
}

/** A second protocol on a daemon's port: one session per connection, opened on its first line. */
export interface ForeignProtocol<D = unknown> {
  /** For messages: `CCDLab GPIB multiplexor`. */
  title: string;
  open(peer: string, log: HandlerContext['log']): ForeignSession<D>;
}

export interface ForeignSession<D = unknown> {
  /** Whether this line is the protocol's (it may depend on what the connection said before). */
  claims(line: string): boolean;
  /** Answers a claimed line: reply lines (none for a line that gets no reply). */
  handle(driver: D, line: string): string[] | Promise<string[]>;
  /** The connection closed: drop what it still waits for. */
  close(): void;
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

/** A definition whose parameters, commands and poll plan do not depend on options: readable as they are. */
export type StaticDeviceDefinition<O = unknown, D = unknown> = Omit<DeviceDefinition<O, D>, 'params' | 'commands' | 'poll'> & {
  params: Record<string, ParamDecl<D>>;
  commands: Record<string, CommandDecl<D>>;
  poll: PollGroup<D>[];
};

/**
 * Keeps the option and driver types inferred in device files, and rejects declarations that
 * contradict themselves (see checkDeclarations) when the module loads rather than when a client
 * first tries a `set`. Declarations computed from options are checked when they are resolved.
 */
export function defineDevice<O, D>(def: StaticDeviceDefinition<O, D>): StaticDeviceDefinition<O, D>;
export function defineDevice<O, D>(def: DeviceDefinition<O, D>): DeviceDefinition<O, D>;
export function defineDevice<O, D>(def: DeviceDefinition<O, D>): DeviceDefinition<O, D> {
  if (typeof def.params !== 'function') checkDeclarations(def.type, def.params);
  return def;
}

/** Names the daemon adds to every device. */
export const STANDARD_PARAM_NAMES = ['hw_connected', 'state', 'state_text'] as const;

/**
 * Throws on a declaration that cannot mean what it says: writable without a write handler (or
 * read-only with one), a standard name, a target that follows an undeclared parameter.
 */
export function checkDeclarations(type: string, params: Readonly<Record<string, ParamDecl<never>>>): void {
  for (const [name, raw] of Object.entries(params)) {
    // Declarations built at run time (vector(), spreads, casts) escape the type check.
    const decl = raw as { readonly?: unknown; write?: unknown; target?: TargetDecl };
    const hasWrite = typeof decl.write === 'function';
    if (decl.write !== undefined && !hasWrite) throw new Error(`${type} parameter "${name}": write must be a function (driver, value, ctx) => Promise`);
    if (decl.readonly === false && !hasWrite) {
      throw new Error(`${type} parameter "${name}" is declared writable (readonly: false) but has no write handler: give it write(driver, value) or drop readonly`);
    }
    if (decl.readonly === true && hasWrite) {
      throw new Error(`${type} parameter "${name}" is declared readonly but has a write handler: drop one of them`);
    }
    if ((STANDARD_PARAM_NAMES as readonly string[]).includes(name)) {
      throw new Error(`${type} parameter "${name}": the daemon adds ${STANDARD_PARAM_NAMES.join(', ')} itself`);
    }
    if (decl.target && !Object.hasOwn(params, decl.target.of)) {
      throw new Error(`${type} parameter "${name}" has a target that follows "${decl.target.of}", which is not declared`);
    }
  }
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
  /**
   * Multiplies the demo's `--time-scale` for this family's simulator: physics that are slow at
   * the lab's pace (a chiller's heater takes an hour for 20 K) still show in seconds.
   */
  timeScaleFactor?: number;
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

/** Makes a simulator from options the family validates (throws with a message naming the bad option). */
export type SimulatorFactory = (options: SimulatorOptions) => Simulator;
/** Makes the simulated model of an instrument behind a bus adapter. */
export type BusInstrumentFactory = (options: SimulatorOptions) => BusInstrumentModel;

export interface DeviceFamily {
  definition: AnyDeviceDefinition;
  /**
   * Loads the simulator code on demand (`async () => (await import('./simulator.js')).create…`):
   * a daemon for real hardware never evaluates simulator modules (physics, fault switches, servers).
   * A family's device.ts must not import its simulator statically; a test checks that.
   */
  loadSimulator?: () => Promise<SimulatorFactory>;
  /** For instruments that sit behind a bus adapter: their simulated model for the adapter simulator, loaded on demand too. */
  loadBusInstrument?: () => Promise<BusInstrumentFactory>;
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
