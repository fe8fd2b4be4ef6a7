/**
 * The labwire requests of a device daemon (PROTOCOL.md): identity, status, self-description,
 * `set`, device commands, subscriptions and pushes, `exit` — on top of the shared LineServer,
 * which owns connections, ordering, roles and limits.
 */
import { EventEmitter } from 'node:events';
import { formatCommand, formatErrorReply, formatLog, formatOk, formatPairs, formatValue, quote } from '../wire/format.js';
import { LabwireError, type Command, type StatusDoc, type WireValue } from '../wire/types.js';
import { type BinaryReply, BUILTIN_COMMANDS, builtinRule, listedBuiltins, readForwarded, noticesOf, LineServer, type Role, type TokenStore, type Handled, type LineServerOptions, type LineService, type Session } from '../server/index.js';
import type { AuditEvent, DeviceRunner, LogEvent, UpdateEvent } from './runner.js';
import { BinaryResult } from './api.js';

export type ServerOptions = Omit<LineServerOptions, 'label'>;

/**
 * Lines a CCDLab peer sends as notices; accepted without a reply, before the rate limit, by the
 * LineServer (as `id`). On a daemon's port `info ...` is a CCDLab log notice, never a request.
 */
const NOTICES = noticesOf('daemon');
/** Log lines kept for replay to a subscriber that asks for them (`subscribe log_since=<ms>`). */
const RECENT_LOGS = 200;
const BUILTINS = listedBuiltins('daemon');
/** The programme commands that change something (the others are answered above). */
const PROGRAMME_WRITES: ReadonlySet<string> = new Set(BUILTINS.filter((n) => n.startsWith('programme_') && builtinRule('daemon', n)?.effect === 'write'));
/** First words that are always labwire's, never a foreign protocol's line: every built-in of a daemon's port, `id`, `auth` and the notices included. */
const LABWIRE_WORDS: ReadonlySet<string> = new Set(BUILTIN_COMMANDS.filter((c) => c.daemon !== undefined).map((c) => c.name));

export class DaemonServer extends EventEmitter implements LineService {
  readonly notices = NOTICES;
  private readonly lines: LineServer;
  private statusLine: string | undefined;
  /** The newest log lines, for `subscribe log_since=`: what a restarted daemon said before its monitor reconnected. */
  private readonly recentLogs: Array<{ t: number; line: string }> = [];
  private readonly tokens: TokenStore;

  /** @param exitRefusal why `exit` is refused (a managed lab stops as a whole); unset: `exit` stops the daemon. */
  constructor(private readonly runner: DeviceRunner, opts: ServerOptions, private readonly exitRefusal?: string) {
    super();
    this.tokens = opts.tokens;
    this.lines = new LineServer({ ...opts, label: `daemon "${runner.name}"` }, this);
    runner.on('update', (u: UpdateEvent) => this.onUpdate(u));
    runner.on('log', (l: LogEvent) => {
      const line = formatLog(l.t, l.level, l.message);
      this.recentLogs.push({ t: l.t, line });
      if (this.recentLogs.length > RECENT_LOGS) this.recentLogs.splice(0, this.recentLogs.length - RECENT_LOGS);
      this.lines.pushLog(line, `${l.level} ${l.message.replace(/[\r\n\0]+/g, ' ')}`);
    });
  }

  get port(): number {
    return this.lines.port;
  }

  get connectionCount(): number {
    return this.lines.connectionCount;
  }

  /** Since start: requests refused by the rate limit, connections refused by the limits (for metrics). */
  get refusedCounters(): { readonly rateLimited: number; readonly connections: number } {
    return this.lines.refusedCounters;
  }

  /** Unread output of connections that were sent a binary block (see LineServer.binaryBytesUnsent). */
  get binaryBytesUnsent(): number {
    return this.lines.binaryBytesUnsent;
  }

  get maxOutputBuffered(): number {
    return this.lines.maxOutputBuffered;
  }

  listen(): Promise<number> {
    return this.lines.listen();
  }

  close(): Promise<void> {
    return this.lines.close();
  }

  refused(s: Session, line: string, cmd: Command | undefined, err: LabwireError): void {
    const name = cmd?.name;
    // A line that cannot be read might have been anything: audited as if it wrote.
    if (name === undefined || name === null || this.audited(name)) this.runner.auditRefusal(line.trim(), this.lines.actor(s), err);
  }

  claimsLine(s: Session, line: string): boolean {
    if (!this.runner.definition.foreign) return false;
    const word = /^\s*(\S*)/.exec(line)![1]!;
    if (word === '' || LABWIRE_WORDS.has(word) || this.runner.commandNames().includes(word)) return false;
    return this.runner.foreignSession(s.id, s.peer)?.claims(line) ?? false;
  }

  /**
   * A line of the definition's second protocol: it reaches the device as raw traffic, so it is
   * refused as any device write would be (operator role, read-only mode), and refusals are audited.
   */
  foreignLine(s: Session, line: string): Handled {
    const title = this.runner.definition.foreign?.title ?? 'foreign';
    const denied = this.lines.unauthorized(s, `a line of the ${title} protocol`, 'operator', '-')
      ?? (this.runner.readOnly ? new LabwireError('ReadOnly', `daemon "${this.runner.name}" is in read-only mode; ${title} lines refused`, '-') : undefined);
    if (denied) {
      this.runner.auditRefusal(line.trim(), this.lines.actor(s), denied);
      return formatErrorReply(denied);
    }
    return this.runner.foreignLine(s.id, line).then(
      (lines) => (lines.length > 0 ? lines.join('\n') : undefined),
      (err: unknown) => this.lines.errorReply(err, '-'),
    );
  }

  sessionClosed(s: Session): void {
    this.runner.closeForeign(s.id);
  }

  dispatch(s: Session, cmd: Command & { name: string }, line: string): Handled {
    const name = cmd.name;
    switch (name) {
      case 'ping':
        return 'pong';
      case 'help':
        return formatOk('help', { commands: [...BUILTINS, ...this.runner.commandNames()].join(' ') });
      case 'get_id':
        return `id name=${quote(this.runner.name)} type=${quote(this.runner.definition.type)} protocol=labwire/1 version=${quote(this.runner.version)}`;
      case 'as':
        return this.forwarded(s, line);
    }
    const rule = builtinRule('daemon', name);
    const need: Role | null = rule !== undefined ? rule.role : this.runner.isWriteCommand(name) ? 'operator' : 'viewer';
    const denied = need === null ? undefined : this.lines.unauthorized(s, name, need, name);
    if (denied) {
      if (this.audited(name)) this.runner.auditRefusal(line.trim(), this.lines.actor(s), denied);
      return formatErrorReply(denied);
    }
    switch (name) {
      case 'get_status':
        return this.getStatus(cmd);
      case 'describe':
        return `describe ${JSON.stringify(this.runner.describe())}`;
      case 'subscribe':
        return this.subscribe(s, cmd);
      case 'unsubscribe':
        this.lines.unsubscribe(s);
        return formatOk('unsubscribe');
      case 'exit': {
        const actor = this.lines.actor(s);
        if (this.exitRefusal !== undefined) {
          // Answering `ok exit` and staying up would be a lie (issue 15, defect 5): whoever runs the lab decides.
          const err = new LabwireError('Disabled', this.exitRefusal, 'exit');
          this.runner.auditRefusal('exit', actor, err);
          return formatErrorReply(err);
        }
        this.runner.emit('audit', { t: Date.now(), ...actor, device: this.runner.name, command: 'exit', before: {}, after: {}, result: 'ok: daemon stops' });
        setImmediate(() => this.emit('exit', `exit requested by ${actor.who} from ${actor.peer}`));
        return formatOk('exit');
      }
      case 'set':
        if (cmd.args.length > 0) {
          const err = new LabwireError('ProtocolError', `set takes name=value pairs, e.g. set setpoint=12.5; got "${cmd.args[0]}"`, 'set');
          this.runner.auditRefusal(line.trim(), this.lines.actor(s), err);
          return formatErrorReply(err);
        }
        return this.runner.setParams(cmd.kwargs, this.lines.actor(s)).then(
          (applied) => formatOk('set', applied),
          (err: unknown) => this.lines.errorReply(err, 'set'),
        );
      case 'programme_status':
        return formatOk(name, this.runner.programme.status());
      case 'programme_profile':
        try {
          return formatOk(name, this.runner.programme.profile());
        } catch (err) {
          return this.lines.errorReply(err, name);
        }
    }
    if (PROGRAMME_WRITES.has(name)) return this.programmeCommand(s, cmd, line);
    if (!this.runner.commandNames().includes(name)) {
      return formatErrorReply(new LabwireError('NoSuchCommand', `unknown command "${name}"; known: ${[...BUILTINS, ...this.runner.commandNames()].join(', ')}`, name));
    }
    return this.runner.runCommand(name, cmd.args, cmd.kwargs, this.lines.actor(s)).then(
      (results) => (results instanceof BinaryResult ? binaryReply(name, results) : formatOk(name, results)),
      (err: unknown) => this.lines.errorReply(err, name),
    );
  }

  /**
   * `as user=<name> role=<role> <line ...>`: a monitor forwarding `<line>` for an end user. Only a
   * session whose token is marked `forward` may say so; the line then runs as `<name> via
   * <monitor>` (in the audit, the log, the programme's owner) with the lower of the claimed role
   * and the session's own, and is answered with its own reply. From any other session it is
   * refused and audited: an ordinary client cannot put somebody else's name in the audit.
   */
  private forwarded(s: Session, line: string): Handled {
    const read = readForwarded(s, line, this.tokens, { host: 'daemon' });
    if (read instanceof LabwireError) {
      this.runner.auditRefusal(line.trim(), this.lines.actor(s), read);
      return formatErrorReply(read);
    }
    return this.dispatch(read.session, read.cmd, read.inner);
  }

  /** Whether a request of this name is audited, refusals included: the table's built-ins, a device's writing commands. */
  private audited(name: string): boolean {
    return builtinRule('daemon', name)?.audited ?? this.runner.isWriteCommand(name);
  }

  /** programme_load/start/pause/stop: operator, refused in read-only mode, audited like set. */
  private programmeCommand(s: Session, cmd: Command & { name: string }, line: string): string {
    const name = cmd.name;
    const programme = this.runner.programme;
    const actor = this.lines.actor(s);
    // The data of a load can be long; the audit names the programme, not every point.
    const audited = name === 'programme_load' ? formatCommand({ name, args: [], kwargs: { ...cmd.kwargs, data: `(${cmd.kwargs.data?.length ?? 0} characters)` } }) : line.trim();
    try {
      if (this.runner.readOnly) throw new LabwireError('ReadOnly', `daemon "${this.runner.name}" is in read-only mode; ${name} refused`, name);
      let result: Record<string, WireValue> = {};
      switch (name) {
        case 'programme_load':
          result = programme.load(loadRequest(cmd));
          break;
        case 'programme_start':
          expectNoArgs(cmd);
          programme.start();
          break;
        case 'programme_pause':
          expectNoArgs(cmd);
          programme.pause(actor.who);
          break;
        case 'programme_stop':
          expectNoArgs(cmd);
          programme.stop(actor.who);
          break;
      }
      result = { ...result, state: programme.currentState };
      this.runner.emit('audit', { t: Date.now(), ...actor, device: this.runner.name, command: audited, before: {}, after: {}, result: 'ok' } satisfies AuditEvent);
      return formatOk(name, result);
    } catch (err) {
      this.runner.auditRefusal(audited, actor, err);
      return this.lines.errorReply(err, name);
    }
  }

  private getStatus(cmd: Command): string {
    const format = cmd.kwargs.format ?? 'text';
    if (format === 'json') {
      const values: StatusDoc['values'] = {};
      for (const [k, v] of this.runner.values()) values[k] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
      const doc: StatusDoc = { name: this.runner.name, t: Date.now(), values, units: this.runner.units(), ts: this.runner.timestamps() };
      return `status_json ${JSON.stringify(doc)}`;
    }
    if (format !== 'text') {
      return formatErrorReply(new LabwireError('WrongType', `unknown status format "${format}": expected text or json`, 'get_status'));
    }
    // Cached: a hundred clients polling get_status cost one formatting per change.
    this.statusLine ??= `status ${this.runner.values().map(([k, v]) => `${k}=${quote(formatValue(v))}`).join(' ')}`;
    return this.statusLine;
  }

  private subscribe(s: Session, cmd: Command): string {
    const known = new Set(this.runner.values().map(([k]) => k));
    const unknown = cmd.args.filter((p) => !known.has(p));
    if (unknown.length > 0) {
      return formatErrorReply(new LabwireError('NoSuchParameter', `cannot subscribe to unknown parameter(s) ${unknown.join(', ')}; parameters: ${[...known].join(', ')}`, 'subscribe'));
    }
    const sinceText = cmd.kwargs.log_since;
    let since: number | undefined;
    if (sinceText !== undefined) {
      since = /^\d{1,15}$/.test(sinceText) ? Number(sinceText) : undefined;
      if (since === undefined) return formatErrorReply(new LabwireError('WrongType', `log_since must be unix milliseconds, not "${sinceText}"`, 'subscribe'));
    }
    // Replayed once per connection (its first subscribe): asking again cannot pile up copies.
    const replay = since !== undefined && s.subscribed === null ? this.recentLogs.filter((l) => l.t > since).map((l) => l.line) : [];
    s.subscribed = new Set(cmd.args);
    // Written right after the reply (which the line server sends when this returns), before any
    // later push can come between them.
    if (replay.length > 0) queueMicrotask(() => this.lines.pushLogTo(s, replay));
    return formatOk('subscribe');
  }

  private onUpdate(u: UpdateEvent): void {
    this.statusLine = undefined;
    const pairs = new Map<string, string>();
    for (const [k, v] of Object.entries(u.changes)) pairs.set(k, `${k}=${quote(formatValue(v))}`);
    this.lines.pushUpdate(u.t, pairs, (s, key) => s.subscribed!.size === 0 || s.subscribed!.has(key));
  }
}

function expectNoArgs(cmd: Command & { name: string }): void {
  const extra = [...cmd.args, ...Object.keys(cmd.kwargs)];
  if (extra.length > 0) throw new LabwireError('ProtocolError', `${cmd.name} takes no arguments; got "${extra[0]}"`, cmd.name);
}

/** programme_load param=<name> format=csv|yaml data="<text>" [loop=N] [min_step=X] [name=<file name>] */
function loadRequest(cmd: Command & { name: string }): { param: string; name?: string; format: string; data: string; loops?: number; minStep?: number } {
  const usage = 'usage: programme_load param=<name> format=csv|yaml data=<text> [loop=N] [min_step=X] [name=<file name>]';
  if (cmd.args.length > 0) throw new LabwireError('ProtocolError', `programme_load takes name=value pairs; got "${cmd.args[0]}"; ${usage}`, cmd.name);
  const known = new Set(['param', 'format', 'data', 'loop', 'min_step', 'name']);
  for (const k of Object.keys(cmd.kwargs)) {
    if (!known.has(k)) throw new LabwireError('ProtocolError', `programme_load has no argument "${k}"; ${usage}`, cmd.name);
  }
  const { param, format, data } = cmd.kwargs;
  if (!param) throw new LabwireError('ProtocolError', `programme_load needs param; ${usage}`, cmd.name);
  if (!format) throw new LabwireError('ProtocolError', `programme_load needs format (csv or yaml); ${usage}`, cmd.name);
  if (data === undefined) throw new LabwireError('ProtocolError', `programme_load needs data; ${usage}`, cmd.name);
  const num = (key: string, integer: boolean): number | undefined => {
    const raw = cmd.kwargs[key];
    if (raw === undefined) return undefined;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new LabwireError('WrongType', `${key} "${raw}" is not ${integer ? 'a whole number' : 'a number'}`, cmd.name);
    }
    return v;
  };
  const label = cmd.kwargs.name?.trim().slice(0, 200);
  return { param, ...(label ? { name: label } : {}), format, data, loops: num('loop', true), minStep: num('min_step', false) };
}

/** A kind is one bare word, so that the header line reads back the same. */
const BINARY_KIND = /^[A-Za-z0-9_.+-]{1,64}$/;

/**
 * A command's BinaryResult as the protocol's block: `binary <kind> size=<n> <fields>` and the
 * bytes. `size` is always the byte count; a field of that name would contradict it and is dropped.
 */
export function binaryReply(command: string, result: BinaryResult): BinaryReply | string {
  if (!BINARY_KIND.test(result.kind)) {
    return formatErrorReply(new LabwireError('InternalError', `${command} answered with binary data of an unusable kind "${result.kind.slice(0, 64)}" (one word expected)`, command));
  }
  const fields = Object.fromEntries(Object.entries(result.fields).filter(([k]) => k !== 'size'));
  const rest = formatPairs(fields);
  const header = `binary ${result.kind} size=${result.data.length}${rest === '' ? '' : ` ${rest}`}`;
  return { header, data: result.data, command };
}
