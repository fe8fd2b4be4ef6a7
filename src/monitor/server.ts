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
 * on a client's half-close, and refused state-changing sends audited.
 */
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import { LineConnection } from '../wire/connection.js';
import { formatErrorReply, formatLog, formatOk, formatValue, quote } from '../wire/format.js';
import { lineBody, parseLine, tokenize } from '../wire/tokenize.js';
import { LabwireError, type Command } from '../wire/types.js';
import { roleAtLeast, type Role, type TokenStore } from '../daemon/auth.js';
import { RateLimiter, type RateLimitOptions } from '../daemon/rate-limit.js';
import type { LogEntry, LogLevel } from '../archive/types.js';
import { formatDuration } from '../util/duration.js';
import type { Logger } from '../util/logger.js';
import type { MonitorActor, PeerValue } from './types.js';
import { formatStatusLine, isWritableKey, statusDocument, type ClientStatus, type LineKind } from './values.js';

/** What the server needs from the monitor. */
export interface MonitorBackend {
  readonly name: string;
  readonly version: string;
  readonly readOnly: boolean;
  clientStatuses(): ClientStatus[];
  clientList(): Array<{ name: string; connected: boolean; endpoint: string }>;
  /** Checks a forward and tells what it is; throws the LabwireError to answer with. */
  prepareSend(client: string, line: string): { kind: LineKind; command: string };
  send(client: string, line: string, actor: MonitorActor): Promise<string>;
  /** Audits a state-changing send refused before it reached the device (role, rate limit). */
  auditRefusal(client: string, line: string, actor: MonitorActor, err: LabwireError): void;
  message(source: string, level: LogLevel, text: string): void;
  requestExit(reason: string, actor: MonitorActor): void;
}

export interface MonitorServerOptions {
  host: string;
  port: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  tokens: TokenStore;
  /** Role of a connection that has not authenticated; null: none (only ping, help, get_id, auth). */
  anonymousRole: Role | null;
  rateLimit: RateLimitOptions;
  maxConnections: number;
  idleTimeoutMs: number;
  maxLineLength: number;
  logger: Logger;
}

/** Notices: accepted without a reply (a CCDLab peer's `id name=X` in particular). */
const NOTICES = new Set(['id', 'status', 'status_json']);
/** Log lines from scripts: stored with the sender's name as the source, answered `ok <level>`. */
const LOG_COMMANDS = new Set(['message', 'info', 'warning', 'error', 'success', 'debug']);
const COMMANDS = ['get_id', 'get_status', 'send', 'clients', 'connections', 'message', 'info', 'warning', 'error', 'success', 'debug', 'subscribe', 'unsubscribe', 'auth', 'ping', 'help', 'exit'];
/** Above this much unsent output, updates for a slow subscriber are merged and log lines counted, not queued. */
const PUSH_HIGH_WATER = 1 << 20;
/** Above this much unsent output the connection stops reading requests until the peer reads. */
const OUTPUT_HIGH_WATER = 1 << 20;
/** Lines a connection may queue behind a slow request before it is dropped. */
const MAX_WAITING = 4096;

interface Session {
  id: number;
  conn: LineConnection;
  socket: net.Socket;
  peer: string;
  address: string;
  name: string;
  type: string;
  role: Role | null;
  tokenName: string | undefined;
  /** null: not subscribed; empty: everything; else client names and `<client>.<param>` keys. */
  subscribed: Set<string> | null;
  /** A request is being answered; lines that arrive meanwhile wait. */
  busy: boolean;
  waiting: string[];
  lastActivity: number;
  /** Updates held back from a slow reader, merged; sent when it drains. */
  lagging: Record<string, string> | undefined;
  /** Log pushes skipped while the peer lagged; told once it catches up. */
  droppedLogs: number;
  closed: boolean;
  /** The peer half-closed: close once every reply is out. */
  ended: boolean;
  /** Being closed (idle or flood). */
  closing: boolean;
  /** Reading is paused because the peer does not read its replies. */
  paused: boolean;
}

type Handled = string | undefined | Promise<string | undefined>;

/** One pair for a push or status line; undefined when the key cannot be written bare. */
function pair(key: string, v: PeerValue): string | undefined {
  if (!isWritableKey(key)) return undefined;
  const text = formatValue(v);
  return `${key}=${text === '' ? '' : quote(text)}`;
}

function toLabwire(err: unknown, command: string): LabwireError {
  if (err instanceof LabwireError) return err.command === command ? err : new LabwireError(err.code, err.message, command);
  return new LabwireError('InternalError', 'internal error in the monitor; see its log', command);
}

export class MonitorServer extends EventEmitter {
  private readonly server: net.Server;
  private readonly sessions = new Set<Session>();
  private readonly sockets = new Set<net.Socket>();
  private readonly limiter: RateLimiter;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | undefined;
  private boundPort = 0;

  constructor(private readonly backend: MonitorBackend, private readonly opts: MonitorServerOptions) {
    super();
    this.limiter = new RateLimiter(opts.rateLimit);
    const onSocket = (socket: net.Socket): void => this.accept(socket);
    this.server = opts.tls
      ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, allowHalfOpen: true }, onSocket)
      : net.createServer({ allowHalfOpen: true }, onSocket);
    this.server.on('tlsClientError', (err: Error, socket: net.Socket) => {
      opts.logger.warn({ peer: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
    });
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Live connections to this port: CCDLab's `nconnected`. */
  get connectionCount(): number {
    return this.sessions.size;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new Error(err.code === 'EADDRINUSE'
          ? `monitor cannot listen on ${this.opts.host}:${this.opts.port}: the port is already in use`
          : `monitor cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.opts.logger.error({ err }, 'monitor listener error'));
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.opts.port;
        if (this.opts.idleTimeoutMs > 0) {
          const every = Math.max(50, Math.min(this.opts.idleTimeoutMs / 4, 10_000));
          this.sweepTimer = setInterval(() => this.sweepIdle(), every);
          this.sweepTimer.unref();
        }
        resolve(this.boundPort);
      });
    });
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.conn.destroy();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** One line per connection: name, address, role. */
  connections(): Array<{ name: string; peer: string; role: Role | null; subscribed: boolean }> {
    return [...this.sessions].map((s) => ({ name: s.name, peer: s.peer, role: s.role, subscribed: s.subscribed !== null }));
  }

  // ---- pushes ---------------------------------------------------------------------------------

  /** Changed values of one client to every subscriber that wants them. */
  pushValues(client: string, t: number, changes: Readonly<Record<string, PeerValue>>): void {
    if (this.sessions.size === 0) return;
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(changes)) {
      const key = `${client}.${k}`;
      const p = pair(key, v);
      if (p !== undefined) all[key] = p;
    }
    this.push(client, t, all);
  }

  /** A client's connection flag: `update t=... <client>=1|0`. */
  pushLink(client: string, up: boolean, t: number): void {
    if (this.sessions.size === 0) return;
    this.push(client, t, { [client]: `${client}=${up ? 1 : 0}` });
  }

  /**
   * A message-log entry: `log t=... level=... message="..." source=...` to subscribers, and
   * `<level> <text>` to an unsubscribed connection that called itself `monitor` (a CCDLab
   * MONITOR above this one). Debug entries stay in the log.
   */
  pushLog(entry: LogEntry): void {
    if (entry.level === 'debug') return;
    let line: string | undefined;
    for (const s of this.sessions) {
      if (s.closed) continue;
      const lagging = s.conn.bufferedAmount > PUSH_HIGH_WATER;
      if (s.subscribed) {
        if (lagging) {
          s.droppedLogs++;
          continue;
        }
        line ??= `${formatLog(entry.t, entry.level, entry.message)} source=${entry.source === '' ? '' : quote(entry.source)}`;
        s.conn.send(line);
      } else if (s.name === 'monitor' && s.type === '' && !lagging) {
        // A CCDLab MONITOR (`id name=monitor` without a type) stores `<type> <text>` lines;
        // labwire clients say their type and never get this form.
        s.conn.send(`${entry.level} ${entry.source}: ${entry.message.replace(/[\r\n\0]+/g, ' ')}`);
      }
    }
  }

  private push(client: string, t: number, pairs: Record<string, string>): void {
    const keys = Object.keys(pairs);
    if (keys.length === 0) return;
    for (const s of this.sessions) {
      if (!s.subscribed || s.closed) continue;
      let wanted = keys;
      if (s.subscribed.size > 0) {
        if (s.subscribed.has(client)) wanted = keys;
        else wanted = keys.filter((k) => s.subscribed!.has(k));
        if (wanted.length === 0) continue;
      }
      if (s.lagging || s.conn.bufferedAmount > PUSH_HIGH_WATER) {
        // A slow reader gets the newest values once it catches up, not an unbounded backlog.
        s.lagging ??= {};
        for (const k of wanted) s.lagging[k] = pairs[k]!;
        continue;
      }
      s.conn.send(`update t=${Math.round(t)} ${wanted.map((k) => pairs[k]).join(' ')}`);
    }
  }

  private flushLagging(s: Session): void {
    if (s.closed || s.conn.bufferedAmount > PUSH_HIGH_WATER) return;
    if (s.droppedLogs > 0) {
      s.conn.send(formatLog(Date.now(), 'warning', `${s.droppedLogs} log line(s) were not sent because this connection reads too slowly`));
      s.droppedLogs = 0;
    }
    if (!s.lagging) return;
    const pairs = Object.values(s.lagging);
    s.lagging = undefined;
    if (pairs.length > 0) s.conn.send(`update t=${Date.now()} ${pairs.join(' ')}`);
  }

  // ---- connections ----------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const address = socket.remoteAddress ?? '?';
    const peer = `${address}:${socket.remotePort ?? '?'}`;
    if (this.sessions.size >= this.opts.maxConnections) {
      this.opts.logger.warn({ peer }, `monitor connection limit of ${this.opts.maxConnections} reached; refusing`);
      socket.on('error', () => undefined);
      // Half-open sockets would linger until the peer closes: write the reason, then let go.
      socket.write(`${formatErrorReply(new LabwireError('RateLimited', `connection limit of ${this.opts.maxConnections} reached; try again later`))}\n`, () => socket.destroy());
      socket.setTimeout(2000, () => socket.destroy());
      return;
    }
    const conn = new LineConnection(socket, { maxLineLength: this.opts.maxLineLength });
    const id = this.nextId++;
    const session: Session = {
      id,
      conn,
      socket,
      peer,
      address,
      name: `anonymous${id}`,
      type: '',
      role: this.opts.tokens.enabled ? this.opts.anonymousRole : (this.opts.anonymousRole ?? 'admin'),
      tokenName: undefined,
      subscribed: null,
      busy: false,
      waiting: [],
      lastActivity: Date.now(),
      lagging: undefined,
      droppedLogs: 0,
      closed: false,
      ended: false,
      closing: false,
      paused: false,
    };
    this.sessions.add(session);
    this.opts.logger.debug({ peer, session: id }, 'monitor client connected');
    conn.on('line', (line: string) => this.onLine(session, line));
    conn.on('frameError', (e: { code: 'LineTooLong' | 'ProtocolError'; message: string }) => {
      // Its reply is made now and queued in order with the requests before it.
      this.onLine(session, `\0${formatErrorReply(new LabwireError(e.code, e.message))}`);
    });
    socket.on('drain', () => {
      if (session.paused) {
        session.paused = false;
        socket.resume();
      }
      this.flushLagging(session);
    });
    conn.on('end', () => {
      session.ended = true;
      if (!session.busy) void conn.close();
    });
    conn.on('close', () => {
      session.closed = true;
      this.sessions.delete(session);
      this.opts.logger.debug({ peer, session: id, name: session.name }, 'monitor client disconnected');
    });
  }

  private onLine(s: Session, line: string): void {
    s.lastActivity = Date.now();
    if (!s.busy) {
      this.handle(s, line);
      return;
    }
    if (s.waiting.length >= MAX_WAITING) {
      if (s.closing) return;
      // A client that floods a slow device gets told once and dropped, rather than eat memory.
      s.closing = true;
      this.opts.logger.warn({ peer: s.peer, name: s.name }, 'dropping a monitor connection that floods requests');
      this.write(s, formatErrorReply(new LabwireError('RateLimited', `more than ${MAX_WAITING} requests waiting; closing the connection`)));
      s.socket.destroySoon();
      return;
    }
    s.waiting.push(line);
  }

  /** Writes a reply; a peer that does not read makes us stop reading its requests. */
  private write(s: Session, line: string): void {
    if (s.closed) return;
    s.conn.send(line);
    if (!s.paused && s.conn.bufferedAmount > OUTPUT_HIGH_WATER) {
      s.paused = true;
      s.socket.pause();
    }
  }

  /**
   * Requests of one connection run one after another: a `send` holds the lines behind it until
   * the device replied. Other connections are not held up.
   */
  private handle(s: Session, first: string): void {
    let line: string | undefined = first;
    while (line !== undefined) {
      let result: Handled;
      try {
        result = this.dispatch(s, line);
      } catch (err) {
        result = this.errorReply(err, '-');
      }
      if (result instanceof Promise) {
        s.busy = true;
        result
          .catch((err: unknown) => this.errorReply(err, '-'))
          .then((reply) => {
            s.busy = false;
            if (s.closed) return;
            if (reply !== undefined) this.write(s, reply);
            const next = s.waiting.shift();
            if (next !== undefined) this.handle(s, next);
            else if (s.ended) void s.conn.close();
          });
        return;
      }
      if (result !== undefined) this.write(s, result);
      line = s.waiting.shift();
    }
    if (s.ended) void s.conn.close();
  }

  private errorReply(err: unknown, command: string): string {
    const e = toLabwire(err, command);
    if (e.code === 'InternalError' && !(err instanceof LabwireError)) this.opts.logger.error({ err }, 'internal error while handling a monitor request');
    return formatErrorReply(e);
  }

  private refuse(s: Session, name: string, need: Role): string | undefined {
    if (roleAtLeast(s.role, need)) return undefined;
    const why = s.role === null ? 'authenticate first with auth token=<token>' : `your role is ${s.role}`;
    return formatErrorReply(new LabwireError('Unauthorized', `${name} needs the ${need} role; ${why}`, name));
  }

  private dispatch(s: Session, line: string): Handled {
    // A frame error queued behind a slow request: its reply was made when it arrived.
    if (line.startsWith('\0')) return line.slice(1);
    let cmd: Command;
    try {
      cmd = parseLine(line);
    } catch (err) {
      return this.errorReply(err, '-');
    }
    const name = cmd.name;
    if (name === null) {
      if (Object.keys(cmd.kwargs).length === 0) return undefined;
      return formatErrorReply(new LabwireError('ProtocolError', 'the line has no command name, only key=value pairs'));
    }
    if (NOTICES.has(name)) {
      if (name === 'id') {
        if (cmd.kwargs.name) s.name = cmd.kwargs.name;
        if (cmd.kwargs.type !== undefined) s.type = cmd.kwargs.type;
      }
      return undefined;
    }
    if (!this.limiter.take(s.address)) {
      const err = new LabwireError('RateLimited', `rate limit of ${this.opts.rateLimit.perSecond} requests/s for ${s.address} exceeded`, name);
      if (name === 'send') this.auditRefusedSend(s, line, err);
      return formatErrorReply(err);
    }
    switch (name) {
      case 'ping':
        return 'pong';
      case 'help':
        return formatOk('help', { commands: COMMANDS.join(' ') });
      case 'auth':
        return this.auth(s, cmd);
      case 'get_id':
        return `id name=${quote(this.backend.name)} type=monitor protocol=labwire/1 version=${quote(this.backend.version)}`;
    }
    if (LOG_COMMANDS.has(name)) return this.refuse(s, name, 'viewer') ?? this.logLine(s, name, line);
    const need: Role = name === 'exit' ? 'admin' : 'viewer';
    const refused = this.refuse(s, name, need);
    if (refused) return refused;
    switch (name) {
      case 'get_status':
        return this.getStatus(cmd);
      case 'send':
        return this.send(s, line);
      case 'clients': {
        const list = this.backend.clientList();
        return formatOk('clients', {
          names: list.map((c) => c.name).join(' '),
          connected: list.filter((c) => c.connected).map((c) => c.name).join(' '),
          endpoints: list.map((c) => c.endpoint).join(' '),
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
      case 'unsubscribe':
        s.subscribed = null;
        s.lagging = undefined;
        return formatOk('unsubscribe');
      case 'exit': {
        const who = this.actor(s);
        this.opts.logger.warn({ peer: who.peer, who: who.who }, 'exit requested by a monitor client');
        setImmediate(() => this.backend.requestExit(`exit requested by ${who.who} from ${who.peer}`, who));
        return formatOk('exit');
      }
    }
    return formatErrorReply(new LabwireError('NoSuchCommand', `unknown command "${name}"; the monitor knows: ${COMMANDS.join(', ')}`, name));
  }

  private actor(s: Session): MonitorActor {
    const who = s.tokenName ? (s.name.startsWith('anonymous') ? s.tokenName : `${s.tokenName} (${s.name})`) : s.name;
    return { who, peer: s.peer };
  }

  private auth(s: Session, cmd: Command): string {
    const token = cmd.kwargs.token ?? cmd.args[0];
    if (!token) return formatErrorReply(new LabwireError('ProtocolError', 'auth needs token=<token>', 'auth'));
    if (!this.opts.tokens.enabled) {
      return formatOk('auth', { role: s.role ?? 'none', note: 'this monitor has no tokens configured' });
    }
    const entry = this.opts.tokens.check(token);
    if (!entry) {
      this.opts.logger.warn({ peer: s.peer }, 'monitor authentication failed');
      return formatErrorReply(new LabwireError('Unauthorized', 'unknown token', 'auth'));
    }
    s.role = entry.role;
    s.tokenName = entry.name;
    return formatOk('auth', { role: entry.role });
  }

  private logLine(s: Session, name: string, line: string): string {
    const text = lineBody(line, 1);
    if (text === '') return formatErrorReply(new LabwireError('ProtocolError', `${name} needs a text: ${name} <text>`, name));
    const level: LogLevel = name === 'message' ? 'info' : (name as LogLevel);
    this.backend.message(s.tokenName && s.name.startsWith('anonymous') ? s.tokenName : s.name, level, text);
    return formatOk(name);
  }

  private getStatus(cmd: Command): string {
    const format = cmd.kwargs.format ?? 'text';
    const clients = this.backend.clientStatuses();
    if (format === 'json') return `status_json ${JSON.stringify(statusDocument(this.sessions.size, clients))}`;
    if (format !== 'text') {
      return formatErrorReply(new LabwireError('WrongType', `unknown status format "${format}": expected text or json`, 'get_status'));
    }
    return formatStatusLine(this.sessions.size, clients);
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
      return this.errorReply(err, 'send');
    }
    const need: Role = kind === 'read' ? 'viewer' : kind === 'admin' ? 'admin' : 'operator';
    if (!roleAtLeast(s.role, need)) {
      const why = s.role === null ? 'authenticate first with auth token=<token>' : `your role is ${s.role}`;
      const err = new LabwireError('Unauthorized', `send ${client} ${command} needs the ${need} role; ${why}`, 'send');
      this.backend.auditRefusal(client, body, this.actor(s), err);
      return formatErrorReply(err);
    }
    return this.backend.send(client, body, this.actor(s)).then(
      (reply) => reply,
      (err: unknown) => this.errorReply(err, 'send'),
    );
  }

  /** A rate-limited `send` of a state-changing line is audited like the daemon audits its refusals. */
  private auditRefusedSend(s: Session, line: string, err: LabwireError): void {
    try {
      const client = tokenize(line, 2)[1]?.text;
      if (client === undefined) return;
      const body = lineBody(line, 2);
      if (this.backend.prepareSend(client, body).kind !== 'read') this.backend.auditRefusal(client, body, this.actor(s), err);
    } catch {
      // Not a valid send: nothing reached a device, nothing to audit.
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

  private sweepIdle(): void {
    const limit = Date.now() - this.opts.idleTimeoutMs;
    for (const s of this.sessions) {
      if (s.closing || s.subscribed || s.lastActivity > limit || s.busy) continue;
      s.closing = true;
      this.opts.logger.info({ peer: s.peer, name: s.name }, 'closing idle monitor connection');
      s.conn.send(formatErrorReply(new LabwireError('Timeout', `no request for ${formatDuration(this.opts.idleTimeoutMs)}; closing the connection`)));
      void s.conn.close();
    }
  }
}
