/**
 * The monitor's own labwire port (PROTOCOL.md "The monitor as a node"): `get_id`, `get_status`
 * (CCDLab's `<client>.<param>` naming, or nested JSON), `send <client> <line ...>` with the
 * device's own reply, `clients`, `connections`, log lines from scripts, `subscribe` to the
 * aggregated changes, and `ping`, `help`, `auth`, `exit`.
 *
 * It behaves as a daemon's server does: one reply per request in request order, the requests of
 * one connection handled one after another (a `send` holds the lines behind it, so `send chiller
 * set ...` followed by `get_status` reports the new value), roles from tokens (TokenStore,
 * roleAtLeast), a per-address rate limit (RateLimiter), a connection limit, an idle timeout, a
 * line-length limit, reading paused while a client does not read its replies, a flooding
 * connection dropped, notices (`id`, `status`) accepted without a reply, a reply before closing
 * on a client's half-close, and refused state-changing sends audited (the first per address,
 * reason and client of an interval in full, cut at 1 KiB, the rest as one summary).
 *
 * Unlike on a daemon's port, `info|warning|error|success|message|debug <text>` here are requests:
 * log writes, answered `ok <level>`, rate-limited, for the operator role, and stored under the
 * writer's token name (a connection's own `id name=` cannot pass for somebody else).
 */
import { formatErrorReply, formatLog, formatOk, formatValue, quote } from '../wire/format.js';
import { lineBody, tokenize } from '../wire/tokenize.js';
import { LabwireError, type Command, type ErrorCode } from '../wire/types.js';
import { RefusalSummary, LINE_SERVER_DEFAULTS, builtinRule, hasChosenName, listedBuiltins, readForwarded, noticesOf, LineServer, type Role, type TokenStore, type Handled, type LineServerOptions, type LineService, type Session } from '../server/index.js';
import { capText } from '../daemon/audit.js';
import type { LabState } from '../daemon/api.js';
import type { LogEntry, LogLevel } from '../archive/types.js';
import type { AlarmState, LogReceipt, MonitorActor, PeerValue } from './types.js';
import { formatStatusLine, isWritableKey, statusDocument, type ArchiveHealth, type ClientStatus, type LineKind } from './values.js';

/** What the server needs from the monitor. */
export interface MonitorBackend {
  readonly name: string;
  readonly version: string;
  readonly readOnly: boolean;
  clientStatuses(): ClientStatus[];
  /** The archive's state while it is degraded (spooling), else undefined. */
  archiveHealth?(): ArchiveHealth | undefined;
  /** Every device with its values and units, for `snapshot`. */
  labState(): LabState;
  clientList(): Array<{ name: string; connected: boolean; endpoint: string; protocol: 'labwire' | 'ccdlab' }>;
  /** Checks a forward and tells what it is; throws the LabwireError to answer with. */
  prepareSend(client: string, line: string): { kind: LineKind; command: string };
  send(client: string, line: string, actor: MonitorActor): Promise<string>;
  /** Audits a state-changing send refused before it reached the device (role, rate limit). */
  auditRefusal(client: string, line: string, actor: MonitorActor, err: LabwireError): void;
  /** Adds to the message log; settles after the archive's commit (see Monitor.message). */
  message(source: string, level: LogLevel, text: string): Promise<LogReceipt>;
  /**
   * Stops the monitor (the `exit` event), or answers why not: a monitor inside a lab run by
   * `labwire up`/`demo` is stopped with the lab. Called before the reply; a refusal is sent instead of `ok exit`.
   */
  requestExit(reason: string, actor: MonitorActor): LabwireError | undefined;
  /** Every configured alarm with its state. */
  alarms(): AlarmState[];
  /** Acknowledges a raised alarm; throws the LabwireError to answer with. */
  acknowledge(id: string, actor: MonitorActor): AlarmState;
}

export type MonitorServerOptions = Omit<LineServerOptions, 'label'>;

/** Notices: accepted without a reply, before the rate limit, by the LineServer (as `id`). */
const NOTICES = noticesOf('monitor');
/** Longest log text kept from a script, as over HTTP; longer ones are cut and marked with `…`. */
const MAX_LOG_TEXT = 4000;
/** Log lines from scripts: stored with the sender's name as the source, answered `ok <level>`. */
const LOG_COMMANDS: ReadonlySet<string> = new Set(['message', 'info', 'warning', 'error', 'success', 'debug']);
const COMMANDS = listedBuiltins('monitor');
/** `help` lists the alarm commands only when alarms are configured (they are answered either way). */
const COMMANDS_WITH_ALARMS = listedBuiltins('monitor', new Set(['alarms']));

/** One pair for a push or status line; undefined when the key cannot be written bare. */
function pair(key: string, v: PeerValue): string | undefined {
  if (!isWritableKey(key)) return undefined;
  const text = formatValue(v);
  return `${key}=${text === '' ? '' : quote(text)}`;
}

export class MonitorServer implements LineService {
  readonly notices = NOTICES;
  private readonly lines: LineServer;
  private readonly refusals: RefusalSummary<ErrorCode>;
  private readonly anyTokens: boolean;
  private readonly tokens: TokenStore;

  constructor(private readonly backend: MonitorBackend, opts: MonitorServerOptions) {
    this.lines = new LineServer({ ...opts, label: 'monitor' }, this);
    this.anyTokens = opts.tokens.enabled;
    this.tokens = opts.tokens;
    this.refusals = new RefusalSummary({
      intervalMs: opts.refusalSummaryMs ?? LINE_SERVER_DEFAULTS.refusalSummaryMs,
      onSummary: (t) => {
        const err = new LabwireError(t.reason, t.text, 'send');
        this.backend.auditRefusal(t.scope, `(${t.count} refused requests)`, { who: capText(t.who.join(', ')), peer: t.address }, err);
      },
    });
  }

  get port(): number {
    return this.lines.port;
  }

  /** Live connections to this port: CCDLab's `nconnected`. */
  get connectionCount(): number {
    return this.lines.connectionCount;
  }

  /** Since start: requests refused by the rate limit, connections refused by the limits (for metrics). */
  get refusedCounters(): { readonly rateLimited: number; readonly connections: number } {
    return this.lines.refusedCounters;
  }

  listen(): Promise<number> {
    return this.lines.listen();
  }

  async close(): Promise<void> {
    await this.lines.close();
    this.refusals.close();
  }

  /** One line per connection: name, address, role. */
  connections(): Array<{ name: string; peer: string; role: Role | null; subscribed: boolean }> {
    return [...this.lines.sessions()].map((s) => ({ name: s.name, peer: s.peer, role: s.role, subscribed: s.subscribed !== null }));
  }

  // ---- pushes ---------------------------------------------------------------------------------

  /** Changed values of one client to every subscriber that wants them. */
  pushValues(client: string, t: number, changes: Readonly<Record<string, PeerValue>>): void {
    if (this.lines.connectionCount === 0) return;
    const pairs = new Map<string, string>();
    for (const [k, v] of Object.entries(changes)) {
      const key = `${client}.${k}`;
      const p = pair(key, v);
      if (p !== undefined) pairs.set(key, p);
    }
    this.push(client, t, pairs);
  }

  /** A client's connection flag: `update t=... <client>=1|0`. */
  pushLink(client: string, up: boolean, t: number): void {
    if (this.lines.connectionCount === 0) return;
    this.push(client, t, new Map([[client, `${client}=${up ? 1 : 0}`]]));
  }

  /**
   * A message-log entry: `log t=... level=... message="..." source=...` to subscribers, and
   * `<level> <source>: <text>` to a CCDLab MONITOR above this one. Debug entries stay in the log.
   */
  pushLog(entry: LogEntry): void {
    if (entry.level === 'debug') return;
    this.lines.pushLog(
      `${formatLog(entry.t, entry.level, entry.message)} source=${entry.source === '' ? '' : quote(entry.source)}`,
      `${entry.level} ${entry.source}: ${entry.message.replace(/[\r\n\0]+/g, ' ')}`,
    );
  }

  /** A subscriber wants a key when it subscribed to everything, to the client, or to the key itself. */
  private push(client: string, t: number, pairs: Map<string, string>): void {
    this.lines.pushUpdate(t, pairs, (s, key) => s.subscribed!.size === 0 || s.subscribed!.has(client) || s.subscribed!.has(key));
  }

  // ---- requests -------------------------------------------------------------------------------

  refused(s: Session, line: string, cmd: Command | undefined, err: LabwireError): void {
    // A rate-limited `send` of a state-changing line is audited like the daemon audits its
    // refusals; so is a rate-limited `exit` (the table's audited built-ins).
    const name = cmd?.name;
    if (name === undefined || name === null) return;
    const rule = builtinRule('monitor', name);
    if (rule?.audited === true && rule.effect !== 'forward') {
      this.auditRefusal(s, this.backend.name, line, err);
      return;
    }
    if (name !== 'send') return;
    try {
      const client = tokenize(line, 2)[1]?.text;
      if (client === undefined) return;
      const body = lineBody(line, 2);
      if (this.backend.prepareSend(client, body).kind !== 'read') this.auditRefusal(s, client, body, err);
    } catch {
      // Not a valid send: nothing reached a device, nothing to audit.
    }
  }

  dispatch(s: Session, cmd: Command & { name: string }, line: string): Handled {
    const name = cmd.name;
    if (NOTICES.has(name)) return undefined;
    switch (name) {
      case 'ping':
        return 'pong';
      case 'help':
        return formatOk('help', { commands: (this.backend.alarms().length > 0 ? COMMANDS_WITH_ALARMS : COMMANDS).join(' ') });
      case 'get_id':
        return `id name=${quote(this.backend.name)} type=monitor protocol=labwire/1 version=${quote(this.backend.version)}`;
      case 'as':
        return this.forwarded(s, line);
    }
    const rule = builtinRule('monitor', name);
    // Unknown commands need the viewer role to be told so, as on a daemon's port.
    const need: Role | null = rule !== undefined ? rule.role : 'viewer';
    const denied = need === null ? undefined : this.lines.unauthorized(s, name, need, name);
    if (denied) {
      if (rule?.audited === true && rule.effect !== 'forward') this.auditRefusal(s, this.backend.name, line, denied);
      return formatErrorReply(denied);
    }
    if (LOG_COMMANDS.has(name)) return this.logLine(s, name, line);
    switch (name) {
      case 'get_status':
        return this.getStatus(cmd);
      case 'snapshot':
        return `snapshot_json ${JSON.stringify(this.backend.labState())}`;
      case 'send':
        return this.send(s, line);
      case 'clients': {
        const list = this.backend.clientList();
        return formatOk('clients', {
          names: list.map((c) => c.name).join(' '),
          connected: list.filter((c) => c.connected).map((c) => c.name).join(' '),
          endpoints: list.map((c) => c.endpoint).join(' '),
          // Which peers understand labwire requests (describe): a CCDLab daemon would pass them to its instrument.
          protocols: list.map((c) => c.protocol).join(' '),
        });
      }
      case 'connections': {
        const list = this.connections();
        return formatOk('connections', {
          n: list.length,
          names: list.map((c) => c.name.replace(/\s+/g, '_')).join(' '),
          peers: list.map((c) => c.peer).join(' '),
        });
      }
      case 'subscribe':
        return this.subscribe(s, cmd);
      case 'alarms':
        return this.alarmList();
      case 'ack':
        return this.ack(s, cmd);
      case 'unsubscribe':
        this.lines.unsubscribe(s);
        return formatOk('unsubscribe');
      case 'exit': {
        const who = this.lines.actor(s);
        const refused = this.backend.requestExit(`exit requested by ${who.who} from ${who.peer}`, who);
        return refused ? formatErrorReply(refused) : formatOk('exit');
      }
    }
    return formatErrorReply(new LabwireError('NoSuchCommand', `unknown command "${name}"; the monitor knows: ${COMMANDS.join(', ')}`, name));
  }

  /**
   * `as user=<name> role=<role> <line ...>` from a monitor above this one (docs/decisions/0009,
   * 0023): as on a daemon's port, only a session whose token is marked `forward` may name an end
   * user; the line then runs as `<name> via <that monitor>` with the lower of the claimed role and
   * the session's own, so a `send` in it reaches the daemon (and its audit) under the person's
   * name and never with more rights than either hop has. Refusals are audited under the session.
   */
  private forwarded(s: Session, line: string): Handled {
    // Log lines and `exit` belong to the monitor itself, so they are not run for another user.
    const read = readForwarded(s, line, this.tokens, { host: 'monitor', alsoRefused: (name) => LOG_COMMANDS.has(name) || name === 'exit' });
    if (read instanceof LabwireError) {
      this.auditRefusal(s, this.backend.name, line, read);
      return formatErrorReply(read);
    }
    return this.dispatch(read.session, read.cmd, read.inner);
  }

  private logLine(s: Session, name: string, line: string): Handled {
    const text = lineBody(line, 1);
    if (text === '') return formatErrorReply(new LabwireError('ProtocolError', `${name} needs a text: ${name} <text>`, name));
    const level: LogLevel = name === 'message' ? 'info' : (name as LogLevel);
    const kept = text.length > MAX_LOG_TEXT ? `${text.slice(0, MAX_LOG_TEXT)}…` : text;
    // Answered once the archive has committed the line: an acknowledged line survives a crash.
    return this.backend.message(this.logSource(s), level, kept).then((r) =>
      r.stored || r.reason === undefined ? formatOk(name) : formatOk(name, { stored: 0, note: r.reason }),
    );
  }

  /**
   * Whom a log entry is from: the token's name (with the connection's own name in brackets, as in
   * the audit trail), so that nobody writes under a name of their choosing. A connection without
   * a token is marked `anonymous` — except on a monitor without tokens, where every connection is
   * admin and the name it gives itself (`id name=`) is all there is, as with CCDLab.
   */
  private logSource(s: Session): string {
    if (s.tokenName !== undefined || !this.anyTokens) return this.lines.actor(s).who;
    return hasChosenName(s) ? `anonymous (${s.name})` : 'anonymous';
  }

  /** A state-changing send refused before it reached the device, through the refusal summary. */
  private auditRefusal(s: Session, client: string, body: string, err: LabwireError): void {
    const actor = this.lines.actor(s);
    if (!this.refusals.admit(s.address, err.code, actor.who, client)) return;
    this.backend.auditRefusal(client, capText(body.trim()), { who: capText(actor.who), peer: actor.peer }, err);
  }

  private getStatus(cmd: Command): string {
    const format = cmd.kwargs.format ?? 'text';
    const clients = this.backend.clientStatuses();
    const archive = this.backend.archiveHealth?.();
    if (format === 'json') return `status_json ${JSON.stringify(statusDocument(this.lines.connectionCount, clients, Date.now(), archive))}`;
    if (format !== 'text') {
      return formatErrorReply(new LabwireError('WrongType', `unknown status format "${format}": expected text or json`, 'get_status'));
    }
    return formatStatusLine(this.lines.connectionCount, clients, archive);
  }

  private send(s: Session, line: string): Handled {
    const client = tokenize(line, 2)[1]?.text;
    if (client === undefined) {
      return formatErrorReply(new LabwireError('ProtocolError', 'send needs a client and a line: send <client> <line ...>', 'send'));
    }
    // The rest of the line as typed, quotes and all: re-joining tokens loses quoting (CCDLab did).
    const body = lineBody(line, 2);
    let kind: LineKind;
    let command: string;
    try {
      ({ kind, command } = this.backend.prepareSend(client, body));
    } catch (err) {
      return this.lines.errorReply(err, 'send');
    }
    const need: Role = kind === 'read' ? 'viewer' : kind === 'admin' ? 'admin' : 'operator';
    const denied = this.lines.unauthorized(s, `send ${client} ${command}`, need, 'send');
    if (denied) {
      this.auditRefusal(s, client, body, denied);
      return formatErrorReply(denied);
    }
    return this.backend.send(client, body, { ...this.lines.actor(s), role: s.role }).then(
      (reply) => reply,
      (err: unknown) => this.lines.errorReply(err, 'send'),
    );
  }

  /** `ok alarms n=<active> ids=... states=... severities=... since=...`: raised and acknowledged alarms. */
  private alarmList(): string {
    const active = this.backend.alarms().filter((a) => a.state === 'raised' || a.state === 'acknowledged');
    return formatOk('alarms', {
      n: active.length,
      ids: active.map((a) => a.id).join(' '),
      states: active.map((a) => a.state).join(' '),
      severities: active.map((a) => a.severity).join(' '),
      since: active.map((a) => a.raisedAt ?? a.since).join(' '),
      acknowledged_by: active.map((a) => (a.acknowledgedBy ?? '-').replace(/\s+/g, '_')).join(' '),
    });
  }

  /** `ack <alarm id>` (operator): who and when go to the alarm's state, the log, the archive and the hooks. */
  private ack(s: Session, cmd: Command): string {
    const id = cmd.args[0];
    if (id === undefined || cmd.args.length > 1) return formatErrorReply(new LabwireError('ProtocolError', 'ack needs one alarm id: ack <alarm id>; `alarms` lists the active ones', 'ack'));
    try {
      const st = this.backend.acknowledge(id, this.lines.actor(s));
      return formatOk('ack', { id: st.id, by: st.acknowledgedBy ?? '', at: st.acknowledgedAt ?? 0 });
    } catch (err) {
      return this.lines.errorReply(err, 'ack');
    }
  }

  private subscribe(s: Session, cmd: Command): string {
    const clients = new Set(this.backend.clientList().map((c) => c.name));
    const unknown = cmd.args.filter((a) => {
      const dot = a.indexOf('.');
      return !clients.has(dot < 0 ? a : a.slice(0, dot));
    });
    if (unknown.length > 0) {
      return formatErrorReply(new LabwireError('NoSuchParameter', `cannot subscribe to ${unknown.join(', ')}: no such client; name a client (all its values) or <client>.<param>; clients: ${[...clients].join(', ')}`, 'subscribe'));
    }
    s.subscribed = new Set(cmd.args);
    return formatOk('subscribe');
  }
}
