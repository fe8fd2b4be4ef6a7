/**
 * Runs one device against one link: the parameter cache with timestamps, and the glue between the
 * link, the poller (poller.ts), the command queue (command-queue.ts), validation (validation.ts),
 * describe (describe.ts) and the pure state derivation (state.ts), all reading the device as its
 * options resolved it (resolved-device.ts). It knows no concrete device and no network clients;
 * the server reads from it and subscribes to its events.
 */
import { EventEmitter } from 'node:events';
import { Exchange } from '../links/exchange.js';
import { createLink, describeLinkSpec } from '../links/registry.js';
import type { LinkSpec } from '../links/types.js';
import { LabwireError, type DescribeDoc, type WireValue } from '../wire/types.js';
import { formatCommand } from '../wire/format.js';
import type { Logger } from '../util/logger.js';
import { BinaryResult, isWritable, type AnyDeviceDefinition, type ForeignSession, type HandlerContext, type LabDeviceState, type LabState, type ParamDecl } from './api.js';
import { CommandQueue, withProtocolErrors } from './command-queue.js';
import { describeDevice } from './describe.js';
import { toLabwireError } from './errors.js';
import { Slots } from '../util/slots.js';
import type { Actor, AuditEvent, LogEvent, LogLevel } from './events.js';
import { Poller } from './poller.js';
import { PROGRAMME_ACTOR, ProgrammeRunner, type ProgrammeOptions } from './programme-runner.js';
import { resolveDevice, type ResolvedDevice } from './resolved-device.js';
import { deriveState } from './state.js';
import { validateArgs, validateSet } from './validation.js';
import type { EffectiveLimits } from './values.js';

export type { Actor, AuditEvent, LogEvent, LogLevel, UpdateEvent } from './events.js';
export { toLabwireError } from './errors.js';

/** Commands declared `binary` (a FITS file) that may run at once, and wait behind them. */
export const BINARY_AT_ONCE = 2;
export const BINARY_WAITING = 16;


export interface RunnerOptions {
  definition: AnyDeviceDefinition;
  /** Device options as given in config or on the command line; parsed by the definition's schema. */
  options?: unknown;
  /** The link, with the device's serial defaults already applied (parseLinkUrl(url, definition.serialDefaults)). */
  link: LinkSpec;
  /** Site limits per parameter; may only tighten the hardware's. */
  siteLimits?: Record<string, { min?: number; max?: number }>;
  readOnly?: boolean;
  logger: Logger;
  /** Software version reported in `id` and `describe`. */
  version: string;
  name: string;
  /** Setpoint programmes: state directory, restart policy, tick and minimum step. */
  programme?: ProgrammeOptions;
  /** How long the device may answer nothing in step before the link counts as down (ExchangeOptions.silentLinkMs). */
  silentLinkMs?: number;
  /**
   * Asks the lab's monitor for every device's state (for image headers); see HandlerContext.labState.
   * Without it, a handler's labState() holds this daemon's own values.
   */
  labState?: () => Promise<LabState>;
}

interface CacheEntry {
  value: WireValue;
  t: number;
}

export class DeviceRunner extends EventEmitter {
  readonly name: string;
  readonly definition: AnyDeviceDefinition;
  /** The device as its options declare it: parameters, commands, poll plan, limits, targets. */
  readonly device: ResolvedDevice;
  readonly version: string;
  readOnly: boolean;
  private readonly logger: Logger;
  private readonly labStateSource: (() => Promise<LabState>) | undefined;
  private readonly binarySlots = new Slots(BINARY_AT_ONCE, BINARY_WAITING, 'requests for files');
  private readonly exchange: Exchange;
  private readonly driver: unknown;
  private readonly poller: Poller;
  private readonly queue: CommandQueue;
  /** Since when each target's value has been within tolerance (state.ts decides), by target index. */
  private withinSince: Array<number | undefined>;
  private readonly cache = new Map<string, CacheEntry>();
  private pending: Record<string, WireValue> | undefined;
  /**
   * Counts values stored by writes (set, command results); `writtenAt` holds the count at each
   * parameter's last write. A poll remembers the count when it starts: a value it read may
   * predate a write that finished meanwhile, and must not bring the old value back.
   */
  private writes = 0;
  private readonly writtenAt = new Map<string, number>();
  private readonly paramUnits: Record<string, string | undefined>;
  private busyCount = 0;
  private busyText = '';
  private linkReason = 'not connected yet';
  /** Link health for metrics, counted from the Exchange's events (no work on the request path). */
  private readonly linkCounts = { ups: 0, timeouts: 0, discarded: 0 };
  private settleTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** Sessions of the definition's second protocol, by labwire connection id. */
  private readonly foreignSessions = new Map<number, ForeignSession>();
  /** The setpoint programme of this daemon (one at a time); runs while the daemon runs. */
  readonly programme: ProgrammeRunner;

  constructor(opts: RunnerOptions) {
    super();
    this.name = opts.name;
    this.definition = opts.definition;
    this.version = opts.version;
    this.readOnly = opts.readOnly ?? false;
    this.logger = opts.logger;
    this.labStateSource = opts.labState;
    const def = opts.definition;
    const device = resolveDevice(def, { options: opts.options, siteLimits: opts.siteLimits, label: `${def.type} device "${opts.name}"` });
    this.device = device;
    this.withinSince = device.targets.map(() => undefined);
    this.paramUnits = Object.fromEntries(Object.entries(device.allParams).map(([k, d]) => [k, d.unit]));

    const spec = opts.link;
    this.exchange = new Exchange(() => createLink(spec), def.splitter(), {
      ...def.exchange,
      ...(opts.silentLinkMs !== undefined ? { silentLinkMs: opts.silentLinkMs } : {}),
      onConnect: async () => {
        if (def.identify) this.merge(await def.identify(this.driver as never));
      },
    });
    this.driver = def.createDriver(this.exchange, device.options);
    const exchange = this.exchange;

    this.poller = new Poller(device.poll, {
      get linkUp() {
        return exchange.isUp;
      },
      read: (group) => group.read(this.driver as never, this.context()),
      writeCount: () => this.writes,
      merge: (values, writesBefore) => this.merge(values, writesBefore),
      deviceSilent: (reason) => {
        this.linkReason = reason;
        this.resetTargets();
        this.set('hw_connected', false);
        this.log('error', reason);
      },
      deviceAnswersAgain: () => {
        this.linkReason = '';
        this.set('hw_connected', true);
        this.log('success', 'the device answers again');
      },
      changed: () => this.recomputeState(),
      log: (level, message) => this.log(level, message),
    });

    this.queue = new CommandQueue({
      device: this.name,
      values: () => this.valueMap(),
      paramNames: () => Object.keys(this.device.params),
      begin: (text) => {
        this.busyCount++;
        this.busyText = text;
        this.recomputeState();
      },
      end: () => {
        this.busyCount--;
        this.recomputeState();
      },
      audit: (event) => this.emit('audit', event),
    });

    this.exchange.on('up', () => {
      this.linkCounts.ups++;
      this.linkReason = '';
      this.poller.linkCameUp();
      this.set('hw_connected', true);
      this.log('success', `link to device up (${describeLinkSpec(spec)})`);
      this.poller.pollAllNow();
    });
    this.exchange.on('down', (reason: string) => {
      this.linkReason = reason;
      this.resetTargets();
      this.set('hw_connected', false);
      // hw_connected may already be 0 (first connect failed): the reason in state_text still changes.
      this.recomputeState();
      this.log('error', `link to device down: ${reason}`);
    });
    this.exchange.on('timeout', () => {
      this.linkCounts.timeouts++;
    });
    this.exchange.on('stray', (bytes: Buffer) => {
      this.linkCounts.discarded++;
      this.logger.debug({ bytes: bytes.toString('latin1') }, 'discarded bytes nobody asked for');
    });
    this.set('hw_connected', false);
    this.recomputeState();
    this.programme = new ProgrammeRunner(this, opts.programme);
  }

  /** Opens the link and starts polling. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.exchange.start();
    this.poller.start();
    this.programme.restore();
  }

  async stop(): Promise<void> {
    this.programme.close();
    this.running = false;
    this.poller.stop();
    if (this.settleTimer) clearTimeout(this.settleTimer);
    await this.exchange.stop();
  }

  /**
   * Link health since start: up (the Exchange serves requests), reconnects (times the link came up
   * again after the first time), timeouts (requests and probes unanswered in time), discarded
   * (replies or bytes the pairing threw away: late, unasked, noise during a resync).
   */
  linkHealth(): { up: boolean; reconnects: number; timeouts: number; discarded: number } {
    const c = this.linkCounts;
    return { up: this.exchange.isUp, reconnects: Math.max(0, c.ups - 1), timeouts: c.timeouts, discarded: c.discarded };
  }

  /** Receives the time (ms) from each request's write to its accepted reply; undefined detaches. */
  observeLinkLatency(observer: ((ms: number) => void) | undefined): void {
    this.exchange.latencyObserver = observer;
  }

  get hwConnected(): boolean {
    return this.cache.get('hw_connected')?.value === true;
  }

  /** Values in status order: hw_connected, state, state_text, then the device's parameters. */
  values(): Array<[string, WireValue]> {
    return Object.keys(this.device.allParams).map((k) => [k, this.cache.get(k)?.value ?? null]);
  }

  valueMap(): Record<string, WireValue> {
    return Object.fromEntries(this.values());
  }

  timestamps(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, e] of this.cache) out[k] = e.t;
    return out;
  }

  units(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, d] of Object.entries(this.device.allParams)) if (d.unit) out[k] = d.unit;
    return out;
  }

  describe(): DescribeDoc {
    return describeDevice(this.device, { name: this.name, version: this.version, readOnly: this.readOnly });
  }

  /** A parameter's declaration, effective limits and whether it has a target, for programmes. */
  paramInfo(name: string): { decl: ParamDecl; limits: EffectiveLimits; hasTarget: boolean } | undefined {
    if (!Object.hasOwn(this.device.params, name)) return undefined;
    return { decl: this.device.params[name]!, limits: this.device.limits.get(name) ?? {}, hasTarget: this.device.targets.some((t) => t.param === name) };
  }

  /** Names of the parameters a programme can drive: writable and numeric. */
  programmableParams(): string[] {
    return Object.entries(this.device.params)
      .filter(([, d]) => isWritable(d) && (d.type === 'float' || d.type === 'int'))
      .map(([k]) => k);
  }

  /**
   * The completion contract for one target parameter: the link is up, nothing is being written or
   * awaited, and the actual value has stayed within tolerance for the settle time. A parameter
   * without a target declaration falls back to the device state being idle.
   */
  targetSettled(name: string): boolean {
    if (!this.hwConnected || this.busyCount > 0 || this.poller.unread.size > 0) return false;
    const i = this.device.targets.findIndex((x) => x.param === name);
    if (i < 0) return this.cache.get('state')?.value === 'idle';
    const since = this.withinSince[i];
    return since !== undefined && Date.now() >= since + this.device.targets[i]!.settleMs;
  }

  commandNames(): string[] {
    return Object.keys(this.device.commands);
  }

  isWriteCommand(name: string): boolean {
    return Object.hasOwn(this.device.commands, name) && (this.device.commands[name]?.write ?? false);
  }

  /**
   * Validates every pair first (all-or-nothing), then applies them in order through the command
   * queue. Resolves with the values as applied once the device has accepted them.
   */
  async setParams(raw: Record<string, string>, actor: Actor): Promise<Record<string, WireValue>> {
    const entries = Object.entries(raw);
    const line = formatCommand({ name: 'set', args: [], kwargs: raw });
    let typed: ReturnType<typeof validateSet>;
    try {
      typed = validateSet(this.device, entries);
      this.assertWritable('set');
      if (actor !== PROGRAMME_ACTOR) {
        const conflict = this.programme.conflictWith(Object.keys(raw), 'set');
        if (conflict) throw conflict;
      }
    } catch (err) {
      this.auditRefusal(line, actor, err);
      throw err;
    }
    return this.queue.run(line, actor, `setting ${entries.map(([k]) => k).join(', ')}`, async () => {
      const ctx = this.context();
      const applied: Record<string, WireValue> = {};
      for (const [name, value, decl] of typed) {
        // A write that fails (its read-back timed out) may still have changed the device: a poll
        // that read the parameter before it must not publish that reading afterwards.
        this.writtenAt.set(name, ++this.writes);
        const result = await decl.write(this.driver, value, ctx);
        const v = result === undefined ? value : result;
        applied[name] = v;
        this.setWritten(name, v);
        const i = this.device.targets.findIndex((t) => t.param === name);
        if (i >= 0) this.withinSince[i] = undefined;
      }
      return applied;
    });
  }

  /** The connection's session of the definition's second protocol (opened on first use), if it has one. */
  foreignSession(connection: number, peer: string): ForeignSession | undefined {
    const protocol = this.definition.foreign;
    if (!protocol) return undefined;
    let session = this.foreignSessions.get(connection);
    if (!session) {
      session = protocol.open(peer, (level, message) => this.log(level, message));
      this.foreignSessions.set(connection, session);
    }
    return session;
  }

  /** Answers a line the connection's foreign session claimed; the driver is the device's own. */
  async foreignLine(connection: number, line: string): Promise<string[]> {
    const session = this.foreignSessions.get(connection);
    if (!session) throw new LabwireError('InternalError', 'no foreign session for this connection');
    return session.handle(this.driver, line);
  }

  /** Tells the definition where its daemon listens (see DeviceDefinition.serving). */
  serving(endpoint: { host: string; port: number }): () => void {
    return this.definition.serving?.(this.driver, endpoint) ?? (() => undefined);
  }

  closeForeign(connection: number): void {
    this.foreignSessions.get(connection)?.close();
    this.foreignSessions.delete(connection);
  }

  /** Runs a device command; positional arguments fill the declared arguments in order. */
  async runCommand(name: string, args: string[], kwargs: Record<string, string>, actor: Actor): Promise<Record<string, WireValue> | BinaryResult> {
    const decl = Object.hasOwn(this.device.commands, name) ? this.device.commands[name] : undefined;
    if (!decl) throw new LabwireError('NoSuchCommand', `unknown command "${name}"; try help`, name);
    const line = formatCommand({ name, args, kwargs });
    let typed: Record<string, WireValue>;
    try {
      typed = validateArgs(this.device, name, decl.args ?? {}, args, kwargs);
      if (decl.write) this.assertWritable(name);
      else if (!this.hwConnected && decl.local !== true) throw this.noLink(name);
    } catch (err) {
      if (decl.write) this.auditRefusal(line, actor, err);
      throw err;
    }
    const exec = async (): Promise<Record<string, WireValue> | BinaryResult> => {
      // A command that changes the device may change any parameter, even when it fails (its reply
      // lost): readings of a poll that began before it are older than it and are not published.
      // Traffic (a bus daemon's transactions) changes instruments, not this device's own values.
      if (decl.write && decl.traffic !== true) {
        const seq = ++this.writes;
        for (const k of Object.keys(this.device.params)) this.writtenAt.set(k, seq);
      }
      const results = (await decl.run(this.driver, typed, this.context())) ?? {};
      if (results instanceof BinaryResult) return results;
      // Results that are parameters (start → running=1) are fresh readings: the cache and state follow at once.
      // Only a write's results: a read command may answer about something else (image_info frame=…
      // of an older image), which is no reading of the parameter of that name.
      if (decl.write) for (const [k, v] of Object.entries(results)) if (Object.hasOwn(this.device.params, k)) this.setWritten(k, v);
      return results;
    };
    // A command that answers with a file holds it in memory until its reader has it: only a few run
    // at once, so many connections asking together cannot make the daemon read gigabytes.
    if (decl.binary === true) return withProtocolErrors(name, () => this.binarySlots.run(name, exec));
    if (!decl.write || decl.traffic === true) return withProtocolErrors(name, exec);
    return this.queue.run<Record<string, WireValue> | BinaryResult>(line, actor, `running ${name}`, exec);
  }

  log(level: LogLevel, message: string): void {
    const pinoLevel = level === 'warning' ? 'warn' : level === 'success' ? 'info' : level;
    this.logger[pinoLevel]({ device: this.name }, message);
    this.emit('log', { t: Date.now(), level, message } satisfies LogEvent);
  }

  private assertWritable(command: string): void {
    if (this.readOnly) throw new LabwireError('ReadOnly', `daemon "${this.name}" is in read-only mode; ${command} refused`, command);
    if (!this.hwConnected) throw this.noLink(command);
  }

  auditRefusal(line: string, actor: Actor, err: unknown): void {
    const e = toLabwireError(err, line.split(' ', 1)[0]!);
    this.emit('audit', { t: Date.now(), ...actor, device: this.name, command: line, before: {}, after: {}, result: `refused ${e.code}: ${e.message}` } satisfies AuditEvent);
  }

  private noLink(command: string): LabwireError {
    return new LabwireError('CommunicationFailed', `no link to the device: ${this.linkReason || 'down'}`, command);
  }

  private context(): HandlerContext {
    return {
      values: this.valueMap(),
      log: (level, message) => this.log(level, message),
      publish: (values) => this.merge(values),
      labState: () => this.labState(),
    };
  }

  /** This daemon's own values as a lab of one device. */
  ownState(): LabDeviceState {
    const values = this.valueMap();
    const units: Record<string, string> = {};
    for (const [k, unit] of Object.entries(this.paramUnits)) if (unit) units[k] = unit;
    return { name: this.name, connected: this.hwConnected, values, units };
  }

  private async labState(): Promise<LabState> {
    const own = (source: string, error?: string): LabState => ({ t: Date.now(), source, devices: [this.ownState()], ...(error ? { error } : {}) });
    if (!this.labStateSource) return own('this daemon only');
    try {
      return await this.labStateSource();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.log('warning', `the lab's state could not be read, the image header holds this device only: ${why}`);
      return own('this daemon only', why);
    }
  }

  /** After losing the device, a target must be reached and held anew. */
  private resetTargets(): void {
    this.withinSince = this.device.targets.map(() => undefined);
  }

  /**
   * Stores read values; with `writesBefore`, those of parameters written since are older than the
   * write and skipped. Values of parameters this device does not declare (an input the model lacks)
   * are dropped: status, updates and the archive follow the declaration.
   */
  private merge(values: Record<string, WireValue>, writesBefore?: number): void {
    for (const [k, v] of Object.entries(values)) {
      if (!Object.hasOwn(this.device.params, k)) continue;
      if (writesBefore !== undefined && (this.writtenAt.get(k) ?? 0) > writesBefore) continue;
      this.set(k, v);
    }
  }

  /** A value the device has just accepted (or reported as the result of a command). */
  private setWritten(name: string, value: WireValue): void {
    this.writtenAt.set(name, ++this.writes);
    this.set(name, value);
  }

  private set(name: string, value: WireValue): void {
    const now = Date.now();
    const prev = this.cache.get(name);
    this.cache.set(name, { value, t: now });
    if (prev && Object.is(prev.value, value)) return;
    if (!this.pending) {
      this.pending = {};
      // One poll result becomes one update line.
      queueMicrotask(() => this.flush());
    }
    this.pending[name] = value;
    if (name !== 'state' && name !== 'state_text') this.recomputeState();
  }

  private flush(): void {
    const changes = this.pending;
    this.pending = undefined;
    if (changes) this.emit('update', { t: Date.now(), changes });
  }

  /** Derives state and state_text (state.ts); called whenever an input to it changes. */
  private recomputeState(): void {
    const values = this.valueMap();
    const now = Date.now();
    const hwConnected = this.hwConnected;
    const derived = deriveState({
      now,
      hwConnected,
      linkReason: this.linkReason,
      values,
      override: hwConnected ? this.device.stateOverride(values) : undefined,
      unreadGroups: this.poller.unread.size,
      busyCount: this.busyCount,
      busyText: this.busyText,
      targets: this.device.targets.map((target, i) => ({ target, withinSince: this.withinSince[i] })),
      units: this.paramUnits,
      pollErrors: [...this.poller.errors],
    });
    this.withinSince = derived.withinSince;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    if (derived.recheckAt !== undefined && this.running) {
      this.settleTimer = setTimeout(() => this.recomputeState(), Math.max(0, derived.recheckAt - now) + 1);
    }
    this.set('state', derived.state);
    this.set('state_text', derived.text);
  }
}
