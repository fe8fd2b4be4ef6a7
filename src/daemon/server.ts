/**
 * The labwire server of a daemon: accepts TCP or TLS connections, parses lines, checks roles,
 * limits and read-only mode, answers every request exactly once and in request order, and pushes
 * updates and log lines to subscribers (and CCDLab-style log lines to a CCDLab MONITOR).
 */
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import { LineConnection } from '../wire/connection.js';
import { formatErrorReply, formatLog, formatOk, formatUpdate, formatValue, quote } from '../wire/format.js';
import { parseLine } from '../wire/tokenize.js';
import { LabwireError, type Command, type StatusDoc, type WireValue } from '../wire/types.js';
import type { Logger } from '../util/logger.js';
import { formatDuration } from '../util/duration.js';
import { roleAtLeast, type Role, type TokenStore } from './auth.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { toLabwireError, type DeviceRunner, type LogEvent, type UpdateEvent } from './runner.js';

export interface ServerOptions {
  host: string;
  port: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  tokens: TokenStore;
  /** Role of a connection that has not authenticated (already resolved); null: none (only ping, help, get_id, auth). */
  anonymousRole: Role | null;
  rateLimit: RateLimitOptions;
  maxConnections: number;
  /** Close connections that send nothing for this long (subscribers exempt); 0 disables. */
  idleTimeoutMs: number;
  maxLineLength: number;
  logger: Logger;
}

/** Lines a CCDLab peer sends as notices; accepted without a reply. */
const NOTICES = new Set(['id', 'status', 'status_json', 'message', 'info', 'warning', 'error', 'success', 'debug']);
/** Above this much unsent output, updates for a slow subscriber are merged instead of queued. */
const PUSH_HIGH_WATER = 1 << 20;
/** Above this much unsent output the connection stops reading requests until the peer reads. */
const OUTPUT_HIGH_WATER = 1 << 20;
/** Lines a connection may queue behind a slow request before it is dropped. */
const MAX_WAITING = 4096;

const BUILTINS = ['get_id', 'get_status', 'describe', 'set', 'subscribe', 'unsubscribe', 'auth', 'ping', 'help', 'exit'];


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
  /** null: not subscribed; empty set: all parameters. */
  subscribed: Set<string> | null;
  /** A request is still working; later lines wait here so each sees the effects of the ones before. */
  busy: boolean;
  waiting: string[];
  lastActivity: number;
  lagging: Record<string, WireValue> | undefined;
  closed: boolean;
  /** The peer half-closed: close once every reply is out. */
  ended: boolean;
  /** Being closed (idle or flood); the sweep leaves it alone. */
  closing: boolean;
  /** Reading is paused because the peer does not read its replies. */
  paused: boolean;
  /** Log pushes skipped while the peer lagged; told once it catches up. */
  droppedLogs: number;
}

type Handled = string | undefined | Promise<string | undefined>;

export class DaemonServer extends EventEmitter {
  private readonly server: net.Server;
  private readonly sessions = new Set<Session>();
  /** Every accepted TCP socket, including TLS ones still in their handshake, so close() never waits on a stranger. */
  private readonly sockets = new Set<net.Socket>();
  private readonly limiter: RateLimiter;
  private nextId = 1;
  private statusLine: string | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private boundPort = 0;

  constructor(private readonly runner: DeviceRunner, private readonly opts: ServerOptions) {
    super();
    this.limiter = new RateLimiter(opts.rateLimit);
    const onSocket = (socket: net.Socket): void => this.accept(socket);
    // Half-open: a client that sends a request and then shuts down its side (`nc -q1`) still gets
    // every reply before we close (CCDLab closed first and the reply was lost).
    this.server = opts.tls
      ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, allowHalfOpen: true }, onSocket)
      : net.createServer({ allowHalfOpen: true }, onSocket);
    // TLS handshake failures (a plain-text client on a TLS port) must not reach the process.
    this.server.on('tlsClientError', (err: Error, socket: net.Socket) => {
      opts.logger.warn({ peer: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
    });
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    runner.on('update', (u: UpdateEvent) => this.onUpdate(u));
    runner.on('log', (l: LogEvent) => this.onLog(l));
  }

  get port(): number {
    return this.boundPort;
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** The largest amount of output waiting for any one peer (backpressure keeps it bounded). */
  get maxOutputBuffered(): number {
    let max = 0;
    for (const s of this.sessions) max = Math.max(max, s.conn.bufferedAmount);
    return max;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new Error(err.code === 'EADDRINUSE'
          ? `cannot listen on ${this.opts.host}:${this.opts.port}: the port is already in use`
          : `cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.opts.logger.error({ err }, 'listener error'));
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
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.conn.destroy();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const address = socket.remoteAddress ?? '?';
    const peer = `${address}:${socket.remotePort ?? '?'}`;
    if (this.sessions.size >= this.opts.maxConnections) {
      this.opts.logger.warn({ peer }, `connection limit of ${this.opts.maxConnections} reached; refusing`);
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
      role: this.opts.anonymousRole,
      tokenName: undefined,
      subscribed: null,
      busy: false,
      waiting: [],
      lastActivity: Date.now(),
      lagging: undefined,
      closed: false,
      ended: false,
      closing: false,
      paused: false,
      droppedLogs: 0,
    };
    this.sessions.add(session);
    this.opts.logger.debug({ peer, session: id }, 'client connected');
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
      this.opts.logger.debug({ peer, session: id, name: session.name }, 'client disconnected');
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
      this.runner.auditRefusal(`(${s.waiting.length} queued requests)`, this.actor(s), new LabwireError('RateLimited', 'connection dropped: too many requests waiting'));
      this.send(s, formatErrorReply(new LabwireError('RateLimited', `more than ${MAX_WAITING} requests waiting; closing the connection`)));
      s.socket.destroySoon();
      return;
    }
    s.waiting.push(line);
  }

  /** Writes a reply or push; a peer that does not read makes us stop reading its requests. */
  private send(s: Session, line: string): void {
    if (s.closed) return;
    s.conn.send(line);
    if (!s.paused && s.conn.bufferedAmount > OUTPUT_HIGH_WATER) {
      s.paused = true;
      s.socket.pause();
    }
  }

  /**
   * Requests of one connection run one after another: a reply that needs the device holds the
   * lines behind it, so `set` followed by `get_status` reports the new value. Other connections
   * are not held up.
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
            if (reply !== undefined) this.send(s, reply);
            const next = s.waiting.shift();
            if (next !== undefined) this.handle(s, next);
            else if (s.ended) void s.conn.close();
          });
        return;
      }
      if (result !== undefined) this.send(s, result);
      line = s.waiting.shift();
    }
    if (s.ended) void s.conn.close();
  }

  private errorReply(err: unknown, command: string): string {
    const e = toLabwireError(err, command);
    if (e.code === 'InternalError') this.opts.logger.error({ err }, 'internal error while handling a request');
    return formatErrorReply(e);
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
      if (name === 'set' || name === 'exit' || this.runner.isWriteCommand(name)) this.runner.auditRefusal(line.trim(), this.actor(s), err);
      return formatErrorReply(err);
    }
    switch (name) {
      case 'ping':
        return 'pong';
      case 'help':
        return formatOk('help', { commands: [...BUILTINS, ...this.runner.commandNames()].join(' ') });
      case 'auth':
        return this.auth(s, cmd);
      case 'get_id':
        return `id name=${quote(this.runner.name)} type=${quote(this.runner.definition.type)} protocol=labwire/1 version=${quote(this.runner.version)}`;
    }
    const need: Role = name === 'exit' ? 'admin' : name === 'set' || this.runner.isWriteCommand(name) ? 'operator' : 'viewer';
    if (!roleAtLeast(s.role, need)) {
      const why = s.role === null ? 'authenticate first with auth token=<token>' : `your role is ${s.role}`;
      const err = new LabwireError('Unauthorized', `${name} needs the ${need} role; ${why}`, name);
      if (need !== 'viewer') this.runner.auditRefusal(line.trim(), this.actor(s), err);
      return formatErrorReply(err);
    }
    switch (name) {
      case 'get_status':
        return this.getStatus(cmd);
      case 'describe':
        return `describe ${JSON.stringify(this.runner.describe())}`;
      case 'subscribe':
        return this.subscribe(s, cmd);
      case 'unsubscribe':
        s.subscribed = null;
        return formatOk('unsubscribe');
      case 'exit':
        this.opts.logger.warn({ peer: s.peer, who: s.tokenName ?? s.name }, 'exit requested by a client');
        this.runner.emit('audit', { t: Date.now(), ...this.actor(s), device: this.runner.name, command: 'exit', before: {}, after: {}, result: 'ok: daemon stops' });
        setImmediate(() => this.emit('exit', `exit requested by ${s.tokenName ?? s.name} from ${s.peer}`));
        return formatOk('exit');
      case 'set':
        if (cmd.args.length > 0) {
          const err = new LabwireError('ProtocolError', `set takes name=value pairs, e.g. set setpoint=12.5; got "${cmd.args[0]}"`, 'set');
          this.runner.auditRefusal(line.trim(), this.actor(s), err);
          return formatErrorReply(err);
        }
        return this.runner.setParams(cmd.kwargs, this.actor(s)).then(
          (applied) => formatOk('set', applied),
          (err: unknown) => this.errorReply(err, 'set'),
        );
    }
    if (!this.runner.commandNames().includes(name)) {
      return formatErrorReply(new LabwireError('NoSuchCommand', `unknown command "${name}"; known: ${[...BUILTINS, ...this.runner.commandNames()].join(', ')}`, name));
    }
    return this.runner.runCommand(name, cmd.args, cmd.kwargs, this.actor(s)).then(
      (results) => formatOk(name, results),
      (err: unknown) => this.errorReply(err, name),
    );
  }

  private actor(s: Session): { who: string; peer: string } {
    const who = s.tokenName ? (s.name.startsWith('anonymous') ? s.tokenName : `${s.tokenName} (${s.name})`) : s.name;
    return { who, peer: s.peer };
  }

  private auth(s: Session, cmd: Command): string {
    const token = cmd.kwargs.token ?? cmd.args[0];
    if (!token) return formatErrorReply(new LabwireError('ProtocolError', 'auth needs token=<token>', 'auth'));
    if (!this.opts.tokens.enabled) {
      return formatOk('auth', { role: s.role ?? 'none', note: 'this daemon has no tokens configured' });
    }
    const entry = this.opts.tokens.check(token);
    if (!entry) {
      this.opts.logger.warn({ peer: s.peer }, 'authentication failed');
      return formatErrorReply(new LabwireError('Unauthorized', 'unknown token', 'auth'));
    }
    s.role = entry.role;
    s.tokenName = entry.name;
    return formatOk('auth', { role: entry.role });
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
    s.subscribed = new Set(cmd.args);
    return formatOk('subscribe');
  }

  private onUpdate(u: UpdateEvent): void {
    this.statusLine = undefined;
    for (const s of this.sessions) {
      if (!s.subscribed) continue;
      let changes = u.changes;
      if (s.subscribed.size > 0) {
        changes = {};
        for (const [k, v] of Object.entries(u.changes)) if (s.subscribed.has(k)) changes[k] = v;
        if (Object.keys(changes).length === 0) continue;
      }
      if (s.lagging || s.conn.bufferedAmount > PUSH_HIGH_WATER) {
        // A slow reader gets the newest values once it catches up, not an unbounded backlog.
        s.lagging = { ...s.lagging, ...changes };
        continue;
      }
      s.conn.send(formatUpdate(u.t, changes));
    }
  }

  private flushLagging(s: Session): void {
    if (s.closed || s.conn.bufferedAmount > PUSH_HIGH_WATER) return;
    if (s.droppedLogs > 0) {
      s.conn.send(formatLog(Date.now(), 'warning', `${s.droppedLogs} log line(s) were not sent because this connection reads too slowly`));
      s.droppedLogs = 0;
    }
    if (!s.lagging) return;
    const changes = s.lagging;
    s.lagging = undefined;
    s.conn.send(formatUpdate(Date.now(), changes));
  }

  private onLog(l: LogEvent): void {
    for (const s of this.sessions) {
      const lagging = s.conn.bufferedAmount > PUSH_HIGH_WATER;
      if (s.subscribed) {
        if (lagging) s.droppedLogs++;
        else s.conn.send(formatLog(l.t, l.level, l.message));
      } else if (s.name === 'monitor' && s.type === '' && !lagging) {
        // A CCDLab MONITOR (it sends `id name=monitor` without a type) stores `<type> <text>`
        // lines. labwire clients say their type, and never get this form, which an `error …`
        // reply could not be told apart from.
        s.conn.send(`${l.level} ${l.message.replace(/[\r\n\0]+/g, ' ')}`);
      }
    }
  }

  private sweepIdle(): void {
    const limit = Date.now() - this.opts.idleTimeoutMs;
    for (const s of this.sessions) {
      if (s.closing || s.subscribed || s.lastActivity > limit || s.busy) continue;
      s.closing = true;
      this.opts.logger.info({ peer: s.peer, name: s.name }, 'closing idle connection');
      s.conn.send(formatErrorReply(new LabwireError('Timeout', `no request for ${formatDuration(this.opts.idleTimeoutMs)}; closing the connection`)));
      void s.conn.close();
    }
  }
}
