/**
 * Runs one device definition against one link: the parameter cache with timestamps, the poller,
 * serialized state-changing commands, validation, and the derived `state` (the completion
 * contract of DESIGN.md §3). It knows no concrete device and no network clients; the server
 * reads from it and subscribes to its events.
 */
import { EventEmitter } from 'node:events';
import { Exchange } from '../links/exchange.js';
import { createLink, formatLinkSpec } from '../links/registry.js';
import { LinkError, type LinkSpec } from '../links/types.js';
import { LabwireError, type DescribeDoc, type WireValue } from '../wire/types.js';
import { formatCommand } from '../wire/format.js';
import type { Logger } from '../util/logger.js';
import { parseOptions, type AnyDeviceDefinition, type DeviceState, type ForeignSession, type HandlerContext, type Limits, type ParamDecl, type TargetDecl, type ValueDecl } from './api.js';
import { ProgrammeRunner, type ProgrammeOptions } from './programme-runner.js';
import { checkRange, checkSiteLimits, coerce, combineLimits, type EffectiveLimits } from './values.js';

export type LogLevel = 'info' | 'warning' | 'error' | 'success';

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
}

export interface UpdateEvent {
  t: number;
  changes: Record<string, WireValue>;
}

export interface LogEvent {
  t: number;
  level: LogLevel;
  message: string;
}

/** Who asked, for the audit trail. */
export interface Actor {
  who: string;
  peer: string;
}

export interface AuditEvent extends Actor {
  t: number;
  device: string;
  command: string;
  before: Record<string, WireValue>;
  after: Record<string, WireValue>;
  result: string;
}

interface CacheEntry {
  value: WireValue;
  t: number;
}

interface TargetState {
  param: string;
  decl: TargetDecl;
  tolerance: number;
  settleMs: number;
  withinSince?: number;
}

/**
 * A serial adapter stays open when the instrument behind it is switched off; only timeouts tell.
 * This many polls in a row without a reply mark the device as away (hw_connected=0).
 */
const SILENT_POLLS = 3;

const STANDARD_PARAMS: Record<string, ParamDecl> = {
  hw_connected: { type: 'bool', description: 'the daemon has a working link to the device' },
  state: {
    type: 'enum',
    description: 'SECoP-style state: idle, busy, ramping, stabilizing, warn, error, disabled',
    values: ['disabled', 'idle', 'busy', 'ramping', 'stabilizing', 'warn', 'error'],
  },
  state_text: { type: 'string', description: 'what the state means right now, for people' },
};

export class DeviceRunner extends EventEmitter {
  readonly name: string;
  readonly definition: AnyDeviceDefinition;
  readonly version: string;
  readOnly: boolean;
  private readonly logger: Logger;
  private readonly exchange: Exchange;
  private readonly driver: unknown;
  private readonly params: Record<string, ParamDecl>;
  private readonly limits = new Map<string, EffectiveLimits>();
  private readonly targets: TargetState[] = [];
  private readonly cache = new Map<string, CacheEntry>();
  private pending: Record<string, WireValue> | undefined;
  /**
   * Counts values stored by writes (set, command results); `writtenAt` holds the count at each
   * parameter's last write. A poll remembers the count when it starts: a value it read may
   * predate a write that finished meanwhile, and must not bring the old value back.
   */
  private writes = 0;
  private readonly writtenAt = new Map<string, number>();
  private commandChain: Promise<unknown> = Promise.resolve();
  private busyCount = 0;
  private busyText = '';
  private linkReason = 'not connected yet';
  private readonly pollTimers = new Map<string, NodeJS.Timeout>();
  private settleTimer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly pollErrors = new Map<string, string>();
  /** Polls in a row that timed out; at SILENT_POLLS the device counts as away although the link is open. */
  private silentPolls = 0;
  /** Poll groups not yet read since the link came up: until then the cache holds no current values. */
  private readonly unreadGroups = new Set<string>();
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
    const def = opts.definition;

    const options = parseOptions(def.options, opts.options, `${def.type} device "${opts.name}"`);

    this.params = { ...STANDARD_PARAMS, ...def.params };
    const model = def.limits?.(options) ?? {};
    for (const [name, decl] of Object.entries(def.params)) {
      const layers: Limits[] = [{ min: decl.min, max: decl.max, source: def.type }];
      if (model[name]) layers.push(model[name]);
      const hardware = combineLimits(layers);
      const site = opts.siteLimits?.[name];
      if (site) {
        checkSiteLimits(name, { ...site, source: 'site' }, hardware, decl.unit);
        layers.push({ ...site, source: 'site' });
      }
      this.limits.set(name, combineLimits(layers));
    }
    for (const name of Object.keys(opts.siteLimits ?? {})) {
      if (!def.params[name]) throw new Error(`site limits name unknown parameter "${name}" of ${def.type}; parameters: ${Object.keys(def.params).join(', ')}`);
    }
    const tuning = def.targetTuning?.(options) ?? {};
    for (const [name, decl] of Object.entries(def.params)) {
      if (!decl.target) continue;
      this.targets.push({
        param: name,
        decl: decl.target,
        tolerance: tuning[name]?.tolerance ?? decl.target.tolerance,
        settleMs: tuning[name]?.settleMs ?? decl.target.settleMs,
      });
    }

    const spec = opts.link;
    this.exchange = new Exchange(() => createLink(spec), def.splitter(), {
      ...def.exchange,
      ...(opts.silentLinkMs !== undefined ? { silentLinkMs: opts.silentLinkMs } : {}),
      onConnect: async () => {
        if (def.identify) this.merge(await def.identify(this.driver as never));
      },
    });
    this.driver = def.createDriver(this.exchange, options);

    this.exchange.on('up', () => {
      this.linkReason = '';
      this.silentPolls = 0;
      for (const g of this.definition.poll) this.unreadGroups.add(g.name);
      this.set('hw_connected', true);
      this.log('success', `link to device up (${formatLinkSpec(spec)})`);
      if (this.running) this.pollAllNow();
    });
    this.exchange.on('down', (reason: string) => {
      this.linkReason = reason;
      this.resetTargets();
      this.set('hw_connected', false);
      // hw_connected may already be 0 (first connect failed): the reason in state_text still changes.
      this.recomputeState();
      this.log('error', `link to device down: ${reason}`);
    });
    this.exchange.on('stray', (bytes: Buffer) => {
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
    this.pollAllNow();
    this.programme.restore();
  }

  /** After a (re)connect every group reads at once, so status is complete without waiting a slow period. */
  private pollAllNow(): void {
    for (const group of this.definition.poll) this.schedulePoll(group.name, group.everyMs, group.read, 0);
  }

  async stop(): Promise<void> {
    this.programme.close();
    this.running = false;
    for (const t of this.pollTimers.values()) clearTimeout(t);
    this.pollTimers.clear();
    if (this.settleTimer) clearTimeout(this.settleTimer);
    await this.exchange.stop();
  }

  get hwConnected(): boolean {
    return this.cache.get('hw_connected')?.value === true;
  }

  /** Values in status order: hw_connected, state, state_text, then the device's parameters. */
  values(): Array<[string, WireValue]> {
    return Object.keys(this.params).map((k) => [k, this.cache.get(k)?.value ?? null]);
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
    for (const [k, d] of Object.entries(this.params)) if (d.unit) out[k] = d.unit;
    return out;
  }

  describe(): DescribeDoc {
    const params: DescribeDoc['params'] = {};
    for (const [name, d] of Object.entries(this.params)) {
      const lim = this.limits.get(name);
      const target = this.targets.find((t) => t.param === name);
      params[name] = {
        ...valueDescription(d),
        ...(lim?.min ? { min: lim.min.value } : {}),
        ...(lim?.max ? { max: lim.max.value } : {}),
        readonly: d.readonly !== false || !d.write,
        ...(d.deadband !== undefined ? { deadband: d.deadband } : {}),
        ...(target ? { target: { of: target.decl.of, tolerance: target.tolerance, settleMs: target.settleMs } } : {}),
      };
    }
    const commands: DescribeDoc['commands'] = {};
    for (const [name, c] of Object.entries(this.definition.commands)) {
      const args: Record<string, ReturnType<typeof valueDescription>> = {};
      for (const [a, d] of Object.entries(c.args ?? {})) args[a] = valueDescription(d);
      commands[name] = { description: c.description, write: c.write, args };
    }
    return {
      name: this.name,
      type: this.definition.type,
      title: this.definition.title,
      protocol: 'labwire/1',
      version: this.version,
      readOnly: this.readOnly,
      params,
      commands,
    };
  }

  /** A parameter's declaration, effective limits and whether it has a target, for programmes. */
  paramInfo(name: string): { decl: ParamDecl; limits: EffectiveLimits; hasTarget: boolean } | undefined {
    if (!Object.hasOwn(this.definition.params, name)) return undefined;
    return { decl: this.definition.params[name]!, limits: this.limits.get(name) ?? {}, hasTarget: this.targets.some((t) => t.param === name) };
  }

  /** Names of the parameters a programme can drive: writable and numeric. */
  programmableParams(): string[] {
    return Object.entries(this.definition.params)
      .filter(([, d]) => d.readonly === false && d.write && (d.type === 'float' || d.type === 'int'))
      .map(([k]) => k);
  }

  /**
   * The completion contract for one target parameter: the link is up, nothing is being written or
   * awaited, and the actual value has stayed within tolerance for the settle time. A parameter
   * without a target declaration falls back to the device state being idle.
   */
  targetSettled(name: string): boolean {
    if (!this.hwConnected || this.busyCount > 0 || this.unreadGroups.size > 0) return false;
    const t = this.targets.find((x) => x.param === name);
    if (!t) return this.cache.get('state')?.value === 'idle';
    return t.withinSince !== undefined && Date.now() >= t.withinSince + t.settleMs;
  }

  commandNames(): string[] {
    return Object.keys(this.definition.commands);
  }

  isWriteCommand(name: string): boolean {
    return Object.hasOwn(this.definition.commands, name) && (this.definition.commands[name]?.write ?? false);
  }

  /**
   * Validates every pair first (all-or-nothing), then applies them in order through the command
   * queue. Resolves with the values as applied once the device has accepted them.
   */
  async setParams(raw: Record<string, string>, actor: Actor): Promise<Record<string, WireValue>> {
    const entries = Object.entries(raw);
    const line = formatCommand({ name: 'set', args: [], kwargs: raw });
    let typed: Array<[string, WireValue, ParamDecl]>;
    try {
      typed = this.validateSet(entries);
      this.assertWritable('set');
    } catch (err) {
      this.auditRefusal(line, actor, err);
      throw err;
    }
    return this.serialized(line, actor, `setting ${entries.map(([k]) => k).join(', ')}`, async (ctx) => {
      const applied: Record<string, WireValue> = {};
      for (const [name, value, decl] of typed) {
        // A write that fails (its read-back timed out) may still have changed the device: a poll
        // that read the parameter before it must not publish that reading afterwards.
        this.writtenAt.set(name, ++this.writes);
        const result = await decl.write!(this.driver, value, ctx);
        const v = result === undefined ? value : result;
        applied[name] = v;
        this.setWritten(name, v);
        const target = this.targets.find((t) => t.param === name);
        if (target) target.withinSince = undefined;
      }
      return applied;
    });
  }

  private validateSet(entries: Array<[string, string]>): Array<[string, WireValue, ParamDecl]> {
    if (entries.length === 0) throw new LabwireError('ProtocolError', 'set needs at least one name=value pair, e.g. set setpoint=12.5', 'set');
    return entries.map(([name, text]) => {
      const decl = Object.hasOwn(this.params, name) ? this.params[name] : undefined;
      if (!decl) throw new LabwireError('NoSuchParameter', `no parameter "${name}"; parameters: ${Object.keys(this.params).join(', ')}`, 'set');
      if (decl.readonly !== false || !decl.write) throw new LabwireError('ReadOnly', `${name} is read-only`, 'set');
      const value = coerce(name, decl, text, 'set');
      checkRange(name, value, this.limits.get(name) ?? {}, decl.unit, 'set');
      return [name, value, decl];
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
  async runCommand(name: string, args: string[], kwargs: Record<string, string>, actor: Actor): Promise<Record<string, WireValue>> {
    const decl = Object.hasOwn(this.definition.commands, name) ? this.definition.commands[name] : undefined;
    if (!decl) throw new LabwireError('NoSuchCommand', `unknown command "${name}"; try help`, name);
    const line = formatCommand({ name, args, kwargs });
    let typed: Record<string, WireValue>;
    try {
      typed = this.validateArgs(name, decl.args ?? {}, args, kwargs);
      if (decl.write) this.assertWritable(name);
      else if (!this.hwConnected) throw this.noLink(name);
    } catch (err) {
      if (decl.write) this.auditRefusal(line, actor, err);
      throw err;
    }
    const exec = async (ctx: HandlerContext): Promise<Record<string, WireValue>> => {
      // A command that changes the device may change any parameter, even when it fails (its reply
      // lost): readings of a poll that began before it are older than it and are not published.
      if (decl.write) {
        const seq = ++this.writes;
        for (const k of Object.keys(this.definition.params)) this.writtenAt.set(k, seq);
      }
      const results = (await decl.run(this.driver, typed, ctx)) ?? {};
      // Results that are parameters (start → running=1) are fresh readings: the cache and state follow at once.
      for (const [k, v] of Object.entries(results)) if (Object.hasOwn(this.definition.params, k)) this.setWritten(k, v);
      return results;
    };
    if (!decl.write) return this.wrapDeviceErrors(name, () => exec(this.context()));
    return this.serialized(line, actor, `running ${name}`, exec);
  }

  /** Positional arguments fill the declared arguments in order; keyword arguments name them. */
  private validateArgs(name: string, decls: Record<string, ValueDecl>, args: string[], kwargs: Record<string, string>): Record<string, WireValue> {
    const argDecls = Object.entries(decls);
    const names = argDecls.map(([a]) => a).join(', ') || 'none';
    if (args.length > argDecls.length) {
      throw new LabwireError('ProtocolError', `${name} takes ${argDecls.length} argument(s) (${names}), got ${args.length}`, name);
    }
    const raw: Record<string, string> = {};
    args.forEach((a, i) => (raw[argDecls[i]![0]] = a));
    for (const [k, v] of Object.entries(kwargs)) {
      if (!Object.hasOwn(decls, k)) throw new LabwireError('ProtocolError', `${name} has no argument "${k}"; arguments: ${names}`, name);
      raw[k] = v;
    }
    const typed: Record<string, WireValue> = {};
    for (const [a, d] of argDecls) {
      const text = raw[a];
      if (text === undefined) {
        if (!d.optional) throw new LabwireError('ProtocolError', `${name} needs argument "${a}" (${d.description})`, name);
        continue;
      }
      typed[a] = coerce(a, d, text, name);
      checkRange(a, typed[a], combineLimits([{ min: d.min, max: d.max, source: this.definition.type }]), d.unit, name);
    }
    return typed;
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
    return { values: this.valueMap(), log: (level, message) => this.log(level, message) };
  }

  /** One state-changing command at a time; state shows busy while it runs; every outcome is audited. */
  private serialized<T extends Record<string, WireValue>>(
    line: string,
    actor: Actor,
    busyText: string,
    fn: (ctx: HandlerContext) => Promise<T>,
  ): Promise<T> {
    const command = line.split(' ', 1)[0]!;
    const run = async (): Promise<T> => {
      const before = this.valueMap();
      this.busyCount++;
      this.busyText = busyText;
      this.recomputeState();
      let result = 'ok';
      try {
        return await this.wrapDeviceErrors(command, () => fn(this.context()));
      } catch (err) {
        result = err instanceof LabwireError ? `error ${err.code}: ${err.message}` : `error: ${String(err)}`;
        throw err;
      } finally {
        this.busyCount--;
        this.recomputeState();
        const after = this.valueMap();
        const changedBefore: Record<string, WireValue> = {};
        const changedAfter: Record<string, WireValue> = {};
        for (const k of Object.keys(this.definition.params)) {
          if (!Object.is(before[k], after[k]) || line.includes(`${k}=`)) {
            changedBefore[k] = before[k] ?? null;
            changedAfter[k] = after[k] ?? null;
          }
        }
        this.emit('audit', {
          t: Date.now(),
          ...actor,
          device: this.name,
          command: line,
          before: changedBefore,
          after: changedAfter,
          result,
        } satisfies AuditEvent);
      }
    };
    const p = this.commandChain.then(run, run);
    this.commandChain = p.catch(() => undefined);
    return p;
  }

  private async wrapDeviceErrors<T>(command: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toLabwireError(err, command);
    }
  }

  private schedulePoll(name: string, everyMs: number, read: (driver: never) => Promise<Record<string, WireValue>>, delay: number): void {
    const previous = this.pollTimers.get(name);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(async () => {
      this.pollTimers.delete(name);
      if (!this.running) return;
      const started = Date.now();
      const writesBefore = this.writes;
      if (this.exchange.isUp) {
        try {
          this.merge(await read(this.driver as never), writesBefore);
          if (this.silentPolls >= SILENT_POLLS) {
            // Everything read before the silence is stale: read every group again before idle.
            this.linkReason = '';
            this.silentPolls = 0;
            for (const g of this.definition.poll) if (g.name !== name) this.unreadGroups.add(g.name);
            this.set('hw_connected', true);
            this.log('success', 'the device answers again');
            this.pollAllNow();
          }
          this.silentPolls = 0;
          if (this.unreadGroups.delete(name)) this.recomputeState();
          if (this.pollErrors.has(name)) {
            this.pollErrors.delete(name);
            this.log('info', `polling ${name} recovered`);
            this.recomputeState();
          }
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          const timedOut = (err instanceof LinkError || err instanceof LabwireError) && err.code === 'Timeout';
          this.silentPolls = timedOut ? this.silentPolls + 1 : 0;
          if (timedOut && this.silentPolls === SILENT_POLLS && this.exchange.isUp) {
            this.linkReason = `the device does not answer (${SILENT_POLLS} polls in a row timed out; is it switched on and in remote mode?)`;
            this.resetTargets();
            this.set('hw_connected', false);
            this.log('error', this.linkReason);
          }
          // A group that fails is no longer awaited; the failure shows as warn (recomputeState).
          this.unreadGroups.delete(name);
          // Log a failure once and its recovery once, not every tick.
          if (this.pollErrors.get(name) !== message && this.exchange.isUp) this.log('warning', `polling ${name} failed: ${message}`);
          this.pollErrors.set(name, message);
          this.recomputeState();
        }
      }
      // A reconnect during the read has already scheduled an immediate poll of this group.
      if (this.running && !this.pollTimers.has(name)) this.schedulePoll(name, everyMs, read, Math.max(0, everyMs - (Date.now() - started)));
    }, delay);
    this.pollTimers.set(name, timer);
  }

  /** After losing the device, a target must be reached and held anew. */
  private resetTargets(): void {
    for (const t of this.targets) t.withinSince = undefined;
  }

  /** Stores read values; with `writesBefore`, those of parameters written since are older than the write and skipped. */
  private merge(values: Record<string, WireValue>, writesBefore?: number): void {
    for (const [k, v] of Object.entries(values)) {
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
    if (changes) this.emit('update', { t: Date.now(), changes } satisfies UpdateEvent);
  }

  /** Derives state and state_text; called whenever an input to it changes. */
  private recomputeState(): void {
    const values = this.valueMap();
    let state: DeviceState = 'idle';
    let text = 'idle';
    const now = Date.now();
    let nextCheck: number | undefined;
    const override = this.hwConnected ? this.definition.stateOverride?.(values) : undefined;
    if (!this.hwConnected) {
      state = 'error';
      text = `no link to the device: ${this.linkReason || 'down'}`;
    } else if (override && override.state === 'error') {
      ({ state, text } = override);
    } else if (this.unreadGroups.size > 0) {
      state = 'busy';
      text = 'reading the device after connecting';
    } else if (this.busyCount > 0) {
      state = 'busy';
      text = this.busyText;
    } else {
      for (const t of this.targets) {
        const target = values[t.param];
        const actual = values[t.decl.of];
        if (typeof target !== 'number' || typeof actual !== 'number' || Number.isNaN(actual)) continue;
        if (t.decl.activeWhen && !t.decl.activeWhen(values)) {
          t.withinSince = undefined;
          continue;
        }
        const unit = this.params[t.decl.of]?.unit ?? '';
        if (Math.abs(actual - target) > t.tolerance) {
          t.withinSince = undefined;
          state = 'ramping';
          text = `${t.decl.of} ${actual} ${unit} → ${t.param} ${target} ${unit}`.replace(/ {2}/g, ' ');
          break;
        }
        t.withinSince ??= now;
        const due = t.withinSince + t.settleMs;
        if (now < due) {
          state = 'stabilizing';
          text = `${t.decl.of} within ${t.tolerance} ${unit} of ${target} ${unit}; settling ${Math.ceil((due - now) / 1000)} s more`.replace(/ {2}/g, ' ');
          nextCheck = nextCheck === undefined ? due : Math.min(nextCheck, due);
        }
      }
      if (state === 'idle' && override) ({ state, text } = override);
      if (state === 'idle' && this.pollErrors.size > 0) {
        const [group, message] = [...this.pollErrors][0]!;
        state = 'warn';
        text = `polling ${group} failed: ${message}`;
      }
    }
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    if (nextCheck !== undefined && this.running) {
      this.settleTimer = setTimeout(() => this.recomputeState(), Math.max(0, nextCheck - now) + 1);
    }
    this.set('state', state);
    this.set('state_text', text);
  }

}

function valueDescription(d: ValueDecl): DescribeDoc['commands'][string]['args'][string] {
  return {
    type: d.type,
    description: d.description,
    ...(d.unit ? { unit: d.unit } : {}),
    ...(d.min !== undefined ? { min: d.min } : {}),
    ...(d.max !== undefined ? { max: d.max } : {}),
    ...(d.values ? { values: d.values } : {}),
    ...(d.optional ? { optional: true } : {}),
  };
}

/** Maps link and unexpected errors onto protocol errors; never leaks a stack trace to a client. */
export function toLabwireError(err: unknown, command: string): LabwireError {
  if (err instanceof LabwireError) {
    return err.command === command ? err : new LabwireError(err.code, err.message, command);
  }
  if (err instanceof LinkError) {
    return new LabwireError(err.code === 'Timeout' ? 'Timeout' : 'CommunicationFailed', err.message, command);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new LabwireError('InternalError', message, command);
}
