/**
 * The connection side of every labwire server — a device daemon's and the monitor's port alike:
 * TCP or TLS listening, one session per connection, requests of a connection answered one after
 * another and in order, notices accepted silently, `auth` and roles, a per-address rate limit, a
 * connection limit, an idle timeout, a line-length limit, reading paused while a peer does not
 * read its replies, a flooding connection dropped, replies before closing on a half-close, and
 * push lines that merge for slow readers. What the requests mean is the service's business.
 */
import net from 'node:net';
import tls from 'node:tls';
import { LineConnection } from '../wire/connection.js';
import { formatErrorReply, formatLog, formatOk } from '../wire/format.js';
import { parseLine } from '../wire/tokenize.js';
import { LabwireError, type Command } from '../wire/types.js';
import type { Logger } from '../util/logger.js';
import { formatDuration } from '../util/duration.js';
import { roleAtLeast, type Role, type TokenStore } from './auth.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';

export interface LineServerOptions {
  /** Who serves, for logs and errors: `daemon "chiller"`, `monitor`. */
  label: string;
  host: string;
  port: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  tokens: TokenStore;
  /** Role of a connection that has not authenticated (already resolved); null: none. */
  anonymousRole: Role | null;
  rateLimit: RateLimitOptions;
  maxConnections: number;
  /** Close connections that send nothing for this long (subscribers exempt); 0 disables. */
  idleTimeoutMs: number;
  maxLineLength: number;
  logger: Logger;
}

/** One connection as the service sees it. */
export interface Session {
  readonly id: number;
  /** `address:port` of the peer. */
  readonly peer: string;
  readonly address: string;
  /** From the peer's `id name=X type=Y`; `anonymousN` until then. */
  name: string;
  type: string;
  role: Role | null;
  tokenName: string | undefined;
  /** null: not subscribed; empty: everything; else the keys (service-defined) it wants. */
  subscribed: Set<string> | null;
}

/** A reply line, no reply (a notice), or one that needs waiting for. */
export type Handled = string | undefined | Promise<string | undefined>;

export interface LineService {
  /**
   * Answers one request. Empty lines, unparseable lines, `id` notices, `auth` and the rate limit
   * are dealt with before; `cmd.name` is never null here.
   */
  dispatch(s: Session, cmd: Command & { name: string }, line: string): Handled;
  /** A request refused before it reached dispatch (rate limit, flood): audit it if it would have changed state. */
  refused(s: Session, line: string, cmd: Command | undefined, err: LabwireError): void;
}

interface Conn extends Session {
  conn: LineConnection;
  socket: net.Socket;
  /** A request is being answered; lines that arrive meanwhile wait. */
  busy: boolean;
  waiting: string[];
  lastActivity: number;
  /** Push pairs held back from a slow reader, newest per key; sent when it drains. */
  lagging: Map<string, string> | undefined;
  /** Log pushes skipped while the peer lagged; told once it catches up. */
  droppedLogs: number;
  closed: boolean;
  /** The peer half-closed: close once every reply is out. */
  ended: boolean;
  /** Being closed (idle or flood); the sweep leaves it alone. */
  closing: boolean;
  /** Reading is paused because the peer does not read its replies. */
  paused: boolean;
}

/** Above this much unsent output, pushes to a slow subscriber are merged (updates) or counted (logs). */
const PUSH_HIGH_WATER = 1 << 20;
/** Above this much unsent output the connection stops reading requests until the peer reads. */
const OUTPUT_HIGH_WATER = 1 << 20;
/** Lines a connection may queue behind a slow request before it is dropped. */
export const MAX_WAITING = 4096;
/** A frame error queued behind a slow request carries its ready-made reply behind this mark. */
const READY = '\0';

export class LineServer {
  private readonly server: net.Server;
  private readonly conns = new Set<Conn>();
  /** Every accepted TCP socket, including TLS ones still in their handshake, so close() never waits on a stranger. */
  private readonly sockets = new Set<net.Socket>();
  private readonly limiter: RateLimiter;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | undefined;
  private boundPort = 0;

  constructor(private readonly opts: LineServerOptions, private readonly service: LineService) {
    this.limiter = new RateLimiter(opts.rateLimit);
    const onSocket = (socket: net.Socket): void => this.accept(socket);
    // Half-open: a client that sends a request and then shuts down its side (`nc -N`) still gets
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
  }

  get port(): number {
    return this.boundPort;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** The largest amount of output waiting for any one peer (backpressure keeps it bounded). */
  get maxOutputBuffered(): number {
    let max = 0;
    for (const c of this.conns) max = Math.max(max, c.conn.bufferedAmount);
    return max;
  }

  sessions(): Iterable<Session> {
    return this.conns;
  }

  listen(): Promise<number> {
    const where = `${this.opts.label} cannot listen on ${this.opts.host}:${this.opts.port}`;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new Error(err.code === 'EADDRINUSE' ? `${where}: the port is already in use` : `${where}: ${err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.opts.logger.error({ err }, `${this.opts.label}: listener error`));
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
    for (const c of this.conns) c.conn.destroy();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Who asked, for logs and the audit trail. */
  actor(s: Session): { who: string; peer: string } {
    const who = s.tokenName ? (s.name.startsWith('anonymous') ? s.tokenName : `${s.tokenName} (${s.name})`) : s.name;
    return { who, peer: s.peer };
  }

  /** The Unauthorized error when the session lacks the role, else undefined. */
  unauthorized(s: Session, what: string, need: Role, command: string): LabwireError | undefined {
    if (roleAtLeast(s.role, need)) return undefined;
    const why = s.role === null ? 'authenticate first with auth token=<token>' : `your role is ${s.role}`;
    return new LabwireError('Unauthorized', `${what} needs the ${need} role; ${why}`, command);
  }

  /** A protocol error reply; anything that is not a LabwireError is logged and not shown to the peer. */
  errorReply(err: unknown, command: string): string {
    if (err instanceof LabwireError) return formatErrorReply(err.command === command ? err : new LabwireError(err.code, err.message, command));
    this.opts.logger.error({ err }, `${this.opts.label}: internal error while handling a request`);
    return formatErrorReply(new LabwireError('InternalError', `internal error in the ${this.opts.label}; see its log`, command));
  }

  unsubscribe(s: Session): void {
    s.subscribed = null;
    (s as Conn).lagging = undefined;
  }

  /**
   * An `update` push: `pairs` maps a key to its ready `key=value` text; `wants` picks, per
   * subscriber, which keys it gets. A slow reader gets the newest values once it catches up.
   */
  pushUpdate(t: number, pairs: ReadonlyMap<string, string>, wants: (s: Session, key: string) => boolean): void {
    if (pairs.size === 0) return;
    for (const c of this.conns) {
      if (!c.subscribed || c.closed) continue;
      const keys = [...pairs.keys()].filter((k) => wants(c, k));
      if (keys.length === 0) continue;
      if (c.lagging || c.conn.bufferedAmount > PUSH_HIGH_WATER) {
        c.lagging ??= new Map();
        for (const k of keys) c.lagging.set(k, pairs.get(k)!);
        continue;
      }
      c.conn.send(`update t=${Math.round(t)} ${keys.map((k) => pairs.get(k)).join(' ')}`);
    }
  }

  /**
   * Log lines for one session (those it asked to be replayed), under the same limit as live
   * pushes: a connection that does not read gets no more than its buffer allows, and is told how
   * many lines it missed, as for live log lines.
   */
  pushLogTo(s: Session, lines: readonly string[]): void {
    const c = s as Conn;
    if (c.closed || !this.conns.has(c)) return;
    for (const line of lines) {
      if (c.conn.bufferedAmount > PUSH_HIGH_WATER) c.droppedLogs++;
      else c.conn.send(line);
    }
  }

  /**
   * A log push: `line` to subscribers; `ccdlabLine` (`<level> <text>`) to an unsubscribed
   * connection that called itself `monitor` without a type — a CCDLab MONITOR. labwire clients say
   * their type and never get that form, which an `error …` reply could not be told apart from.
   */
  pushLog(line: string, ccdlabLine: string | undefined): void {
    for (const c of this.conns) {
      if (c.closed) continue;
      const lagging = c.conn.bufferedAmount > PUSH_HIGH_WATER;
      if (c.subscribed) {
        if (lagging) c.droppedLogs++;
        else c.conn.send(line);
      } else if (ccdlabLine !== undefined && c.name === 'monitor' && c.type === '' && !lagging) {
        c.conn.send(ccdlabLine);
      }
    }
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const address = socket.remoteAddress ?? '?';
    const peer = `${address}:${socket.remotePort ?? '?'}`;
    if (this.conns.size >= this.opts.maxConnections) {
      this.opts.logger.warn({ peer }, `${this.opts.label}: connection limit of ${this.opts.maxConnections} reached; refusing`);
      socket.on('error', () => undefined);
      // Half-open sockets would linger until the peer closes: write the reason, then let go.
      socket.write(`${formatErrorReply(new LabwireError('RateLimited', `connection limit of ${this.opts.maxConnections} reached; try again later`))}\n`, () => socket.destroy());
      socket.setTimeout(2000, () => socket.destroy());
      return;
    }
    const conn = new LineConnection(socket, { maxLineLength: this.opts.maxLineLength });
    const id = this.nextId++;
    const c: Conn = {
      id,
      peer,
      address,
      name: `anonymous${id}`,
      type: '',
      role: this.opts.anonymousRole,
      tokenName: undefined,
      subscribed: null,
      conn,
      socket,
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
    this.conns.add(c);
    this.opts.logger.debug({ peer, session: id }, `${this.opts.label}: client connected`);
    conn.on('line', (line: string) => this.onLine(c, line));
    conn.on('frameError', (e: { code: 'LineTooLong' | 'ProtocolError'; message: string }) => {
      // Its reply is made now and queued in order with the requests before it.
      this.onLine(c, `${READY}${formatErrorReply(new LabwireError(e.code, e.message))}`);
    });
    socket.on('drain', () => {
      if (c.paused) {
        c.paused = false;
        socket.resume();
      }
      this.flushLagging(c);
    });
    conn.on('end', () => {
      c.ended = true;
      if (!c.busy) void conn.close();
    });
    conn.on('close', () => {
      c.closed = true;
      this.conns.delete(c);
      this.opts.logger.debug({ peer, session: id, name: c.name }, `${this.opts.label}: client disconnected`);
    });
  }

  private onLine(c: Conn, line: string): void {
    c.lastActivity = Date.now();
    if (!c.busy) {
      this.handle(c, line);
      return;
    }
    if (c.waiting.length >= MAX_WAITING) {
      if (c.closing) return;
      // A client that floods a slow device gets told once and dropped, rather than eat memory.
      c.closing = true;
      const err = new LabwireError('RateLimited', `more than ${MAX_WAITING} requests waiting; closing the connection`);
      this.opts.logger.warn({ peer: c.peer, name: c.name }, `${this.opts.label}: dropping a connection that floods requests`);
      this.service.refused(c, `(${c.waiting.length} queued requests)`, undefined, err);
      this.write(c, formatErrorReply(err));
      c.socket.destroySoon();
      return;
    }
    c.waiting.push(line);
  }

  /** Writes a reply; a peer that does not read makes us stop reading its requests. */
  private write(c: Conn, line: string): void {
    if (c.closed) return;
    c.conn.send(line);
    if (!c.paused && c.conn.bufferedAmount > OUTPUT_HIGH_WATER) {
      c.paused = true;
      c.socket.pause();
    }
  }

  /**
   * Requests of one connection run one after another: a reply that needs the device holds the
   * lines behind it, so `set` followed by `get_status` reports the new value. Other connections
   * are not held up.
   */
  private handle(c: Conn, first: string): void {
    let line: string | undefined = first;
    while (line !== undefined) {
      let result: Handled;
      try {
        result = this.request(c, line);
      } catch (err) {
        result = this.errorReply(err, '-');
      }
      if (result instanceof Promise) {
        c.busy = true;
        result
          .catch((err: unknown) => this.errorReply(err, '-'))
          .then((reply) => {
            c.busy = false;
            if (c.closed) return;
            if (reply !== undefined) this.write(c, reply);
            const next = c.waiting.shift();
            if (next !== undefined) this.handle(c, next);
            else if (c.ended) void c.conn.close();
          });
        return;
      }
      if (result !== undefined) this.write(c, result);
      line = c.waiting.shift();
    }
    if (c.ended) void c.conn.close();
  }

  private request(c: Conn, line: string): Handled {
    if (line.startsWith(READY)) return line.slice(READY.length);
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
    if (name === 'id') {
      // A peer names itself (CCDLab's MONITOR sends `id name=monitor` unsolicited): no reply.
      if (cmd.kwargs.name) c.name = cmd.kwargs.name;
      if (cmd.kwargs.type !== undefined) c.type = cmd.kwargs.type;
      return undefined;
    }
    if (!this.limiter.take(c.address)) {
      const err = new LabwireError('RateLimited', `rate limit of ${this.opts.rateLimit.perSecond} requests/s for ${c.address} exceeded`, name);
      this.service.refused(c, line, cmd, err);
      return formatErrorReply(err);
    }
    if (name === 'auth') return this.auth(c, cmd);
    return this.service.dispatch(c, cmd as Command & { name: string }, line);
  }

  private auth(c: Conn, cmd: Command): string {
    const token = cmd.kwargs.token ?? cmd.args[0];
    if (!token) return formatErrorReply(new LabwireError('ProtocolError', 'auth needs token=<token>', 'auth'));
    if (!this.opts.tokens.enabled) {
      return formatOk('auth', { role: c.role ?? 'none', note: `this ${this.opts.label} has no tokens configured` });
    }
    const entry = this.opts.tokens.check(token);
    if (!entry) {
      this.opts.logger.warn({ peer: c.peer }, `${this.opts.label}: authentication failed`);
      return formatErrorReply(new LabwireError('Unauthorized', 'unknown token', 'auth'));
    }
    c.role = entry.role;
    c.tokenName = entry.name;
    return formatOk('auth', { role: entry.role });
  }

  private flushLagging(c: Conn): void {
    if (c.closed || c.conn.bufferedAmount > PUSH_HIGH_WATER) return;
    if (c.droppedLogs > 0) {
      c.conn.send(formatLog(Date.now(), 'warning', `${c.droppedLogs} log line(s) were not sent because this connection reads too slowly`));
      c.droppedLogs = 0;
    }
    if (!c.lagging) return;
    const pairs = [...c.lagging.values()];
    c.lagging = undefined;
    if (pairs.length > 0) c.conn.send(`update t=${Date.now()} ${pairs.join(' ')}`);
  }

  private sweepIdle(): void {
    const limit = Date.now() - this.opts.idleTimeoutMs;
    for (const c of this.conns) {
      if (c.closing || c.subscribed || c.lastActivity > limit || c.busy) continue;
      c.closing = true;
      this.opts.logger.info({ peer: c.peer, name: c.name }, `${this.opts.label}: closing idle connection`);
      c.conn.send(formatErrorReply(new LabwireError('Timeout', `no request for ${formatDuration(this.opts.idleTimeoutMs)}; closing the connection`)));
      void c.conn.close();
    }
  }
}
