/**
 * The connection side of every labwire server — a device daemon's and the monitor's port alike:
 * TCP or TLS listening, one session per connection, requests of a connection answered one after
 * another and in order, notices accepted silently, `auth` and roles, rate limits, a connection
 * limit and a per-address cap (TLS handshakes included, and timed out), an idle timeout and a
 * deadline to authenticate, a line-length limit, reading paused while a peer does not read its
 * replies, a flooding connection dropped, replies before closing on a half-close, and push lines
 * that merge for slow readers. What the requests mean is the service's business.
 *
 * A stranger must not be able to exhaust it: everything a connection costs is bounded per
 * address, and what it makes us log (refused connections, failed handshakes and `auth`s) is
 * summarised per address and reason (RefusalSummary).
 */
import net from 'node:net';
import tls from 'node:tls';
import { LineConnection } from '../wire/connection.js';
import { formatErrorReply, formatLog, formatOk } from '../wire/format.js';
import { parseLine } from '../wire/tokenize.js';
import { LabwireError, type Command } from '../wire/types.js';
import type { Logger } from '../util/logger.js';
import { formatDuration } from '../util/duration.js';
import { roleAtLeast, type Role } from './roles.js';
import type { TokenStore } from './tokens.js';
import { ConnectionSlots } from './connection-slots.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { RefusalSummary } from './refusals.js';
import { SecretThrottle, ThrottleBusy, type ThrottleOptions } from './secret-throttle.js';

export interface LineServerOptions {
  /** Who serves, for logs and errors: `daemon "chiller"`, `monitor`. */
  label: string;
  host: string;
  port: number;
  /** With `ca`, clients must present a certificate issued by it (mutual TLS). */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  tokens: TokenStore;
  /** Role of a connection that has not authenticated (already resolved); null: none. */
  anonymousRole: Role | null;
  rateLimit: RateLimitOptions;
  /** Connections at once, TLS handshakes under way included. */
  maxConnections: number;
  /** Connections at once from one address, handshakes included (default 64). */
  maxConnectionsPerAddress?: number;
  /** Close connections that send no request for this long (subscribers exempt); 0 disables. */
  idleTimeoutMs: number;
  /**
   * With tokens and no role for unauthenticated connections: close a connection that has not
   * authenticated within this long (default 10 s); 0 disables.
   */
  authTimeoutMs?: number;
  /** TLS: drop a connection whose handshake has not finished within this long (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Refusals are logged in full once per address, reason and interval, the rest counted (default 10 s; 0: all in full). */
  refusalSummaryMs?: number;
  /** Back-off for wrong tokens given to `auth`, per address (the web server's rules; tests shorten it), or a throttle shared with another listener of the same tokens. */
  authThrottle?: Partial<ThrottleOptions> | SecretThrottle;
  /** Bytes of binary blocks all connections together may hold unsent (default MAX_BINARY_UNSENT). */
  maxBinaryUnsent?: number;
  maxLineLength: number;
  logger: Logger;
}

export const LINE_SERVER_DEFAULTS = {
  maxConnectionsPerAddress: 64,
  authTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  refusalSummaryMs: 10_000,
} as const;

/** Longest name or type a connection may give itself with `id`; longer ones are cut. */
export const MAX_ID_LENGTH = 100;

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

/** Whether the peer named itself with `id name=`; until then its name is the default `anonymousN`. */
export function hasChosenName(s: Session): boolean {
  return !s.name.startsWith('anonymous');
}

/**
 * A reply that carries raw bytes (PROTOCOL.md, binary extension): the `binary <kind> size=<n> ...`
 * line, then exactly `data`. The line's size must be `data.length`.
 */
export interface BinaryReply {
  readonly header: string;
  readonly data: Buffer;
  /** The request it answers, for an error in its place (`image`). */
  readonly command?: string;
}

/** What one request is answered with: a line, a binary block, or nothing (a notice). */
export type Reply = string | BinaryReply | undefined;

/** A reply, or one that needs waiting for. */
export type Handled = Reply | Promise<Reply>;

export interface LineService {
  /**
   * First words of lines that get no reply (besides `id`): dropped before the rate limit, never
   * counted as activity, never reach dispatch.
   */
  readonly notices: ReadonlySet<string>;
  /**
   * Answers one request. Empty lines, unparseable lines, notices, `auth` and the rate limit are
   * dealt with before; `cmd.name` is never null here.
   */
  dispatch(s: Session, cmd: Command & { name: string }, line: string): Handled;
  /** A request refused before it reached dispatch (rate limit, flood): audit it if it would have changed state. */
  refused(s: Session, line: string, cmd: Command | undefined, err: LabwireError): void;
  /**
   * Optional second protocol on the same port (CCDLab's GPIB multiplexor): a line it claims skips
   * the labwire parser and goes to foreignLine, after the rate limit. A reply may hold several
   * lines separated by LF.
   */
  claimsLine?(s: Session, line: string): boolean;
  foreignLine?(s: Session, line: string): Handled;
  /** The connection closed (for services that keep per-connection state). */
  sessionClosed?(s: Session): void;
}

interface Conn extends Session {
  conn: LineConnection;
  socket: net.Socket;
  /** A request is being answered; lines that arrive meanwhile wait. */
  busy: boolean;
  waiting: string[];
  /** Characters of the lines in `waiting`. */
  waitingChars: number;
  /** When the last request arrived (not `id`, notices or blank lines: they cannot keep a connection open). */
  lastActivity: number;
  /** Closes the connection unless it authenticates in time. */
  authTimer: NodeJS.Timeout | undefined;
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
  /**
   * Requests wait until the peer has read what was sent: a reply (a binary block of many MiB)
   * left more than OUTPUT_HIGH_WATER unsent. Pipelined `image` requests would otherwise each
   * add a block to the unread output, without bound.
   */
  heldForDrain: boolean;
  /** Unsent bytes at the last idle sweep while held: a peer that reads on is active. */
  heldBuffered: number;
  /** A binary block was written and the connection's output has not drained since (see binaryBytesUnsent). */
  sentBinary: boolean;
}

/** Above this much unsent output, pushes to a slow subscriber are merged (updates) or counted (logs). */
const PUSH_HIGH_WATER = 1 << 20;
/** Above this much unsent output the connection stops reading requests until the peer reads. */
const OUTPUT_HIGH_WATER = 1 << 20;
/**
 * Binary blocks (FITS files) all connections together may hold unsent. Each connection holds at
 * most one (it stops being served until the peer reads), but 64 connections of one address each
 * holding a 32 MiB frame would be 2 GiB in a camera daemon that needs its memory for frames.
 */
export const MAX_BINARY_UNSENT = 256 * 1024 * 1024;
/** Lines a connection may queue behind a slow request before it is dropped. */
export const MAX_WAITING = 4096;
/**
 * Bytes of requests one connection may have waiting behind a slow one: 4096 lines of 64 KiB
 * would be 256 MiB per connection (and 64 connections per address).
 */
export const MAX_WAITING_BYTES = 1 << 20;
/**
 * A refused socket is closed gracefully (the reason, then FIN) and its input read and dropped for
 * at most this long: a reset that overtook the reason (the peer wrote again before reading) would
 * make the peer's kernel discard it unread — HTTP servers' "lingering close".
 */
export const REFUSED_LINGER_MS = 2000;
/** Refused sockets lingering at once; beyond this they are reset right after the reason, as a flood costs nothing more. */
export const MAX_LINGERING = 256;
/** A frame error queued behind a slow request carries its ready-made reply behind this mark. */
const READY = '\0';

export class LineServer {
  private readonly server: net.Server;
  private readonly conns = new Set<Conn>();
  private get maxBinaryUnsent(): number {
    return this.opts.maxBinaryUnsent ?? MAX_BINARY_UNSENT;
  }
  /**
   * Every admitted TCP socket, TLS ones still in their handshake included: what the connection
   * limits count, and what close() destroys so that it never waits on a stranger.
   */
  private readonly sockets: ConnectionSlots;
  private readonly limiter: RateLimiter;
  /** What one address makes us log about refused connections, handshakes and `auth`s. */
  private readonly refusals: RefusalSummary;
  private readonly authTimeoutMs: number;
  /** Wrong tokens cost a growing delay per address: guessing is a few tries a second at most. */
  private readonly secrets: SecretThrottle;
  /** Refused sockets closing gracefully (bounded by MAX_LINGERING); close() destroys them too. */
  private readonly lingering = new Set<net.Socket>();
  private nextId = 1;
  /** For metrics: requests refused by the rate limit, connections refused by the limits. */
  private readonly refusedCounts = { rateLimited: 0, connections: 0 };
  private sweepTimer: NodeJS.Timeout | undefined;
  private boundPort = 0;

  constructor(private readonly opts: LineServerOptions, private readonly service: LineService) {
    this.limiter = new RateLimiter(opts.rateLimit);
    this.sockets = new ConnectionSlots(opts.maxConnections, opts.maxConnectionsPerAddress ?? LINE_SERVER_DEFAULTS.maxConnectionsPerAddress);
    this.authTimeoutMs = opts.authTimeoutMs ?? LINE_SERVER_DEFAULTS.authTimeoutMs;
    this.secrets = opts.authThrottle instanceof SecretThrottle ? opts.authThrottle : new SecretThrottle(opts.authThrottle);
    this.refusals = new RefusalSummary({
      intervalMs: opts.refusalSummaryMs ?? LINE_SERVER_DEFAULTS.refusalSummaryMs,
      noun: ['time', 'times'],
      onSummary: (t) => opts.logger.warn({ address: t.address, reason: t.reason, count: t.count }, `${opts.label}: ${t.text}`),
    });
    // Half-open: a client that sends a request and then shuts down its side (`nc -N`) still gets
    // every reply before we close (CCDLab closed first and the reply was lost).
    this.server = opts.tls
      ? tls.createServer({
        cert: opts.tls.cert,
        key: opts.tls.key,
        ...(opts.tls.ca !== undefined ? { ca: opts.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
        allowHalfOpen: true,
        handshakeTimeout: opts.handshakeTimeoutMs ?? LINE_SERVER_DEFAULTS.handshakeTimeoutMs,
      }, (socket) => this.accept(socket))
      : net.createServer({ allowHalfOpen: true });
    // Raw TCP sockets, before any TLS handshake: the limits count them from here on.
    this.server.on('connection', (socket: net.Socket) => {
      if (this.admit(socket) && !opts.tls) this.accept(socket);
    });
    // A failed or timed-out handshake (a plain-text client on a TLS port, a stranger who sends
    // nothing) must not reach the process, nor keep its slot: Node leaves a timed-out one open.
    this.server.on('tlsClientError', (err: Error, socket: net.Socket) => {
      const address = socket.remoteAddress ?? '?';
      this.note(address, 'TLS handshake failed', { peer: address, err: err.message }, `${opts.label}: TLS handshake with ${address} failed: ${err.message}`);
      socket.destroy();
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Since start: requests refused by the rate limit, and connections refused by the connection limits. */
  get refusedCounters(): { readonly rateLimited: number; readonly connections: number } {
    return this.refusedCounts;
  }

  /** Refused sockets still closing gracefully (for tests). */
  get lingeringCount(): number {
    return this.lingering.size;
  }

  /** Sockets that hold a slot: connections, and TLS handshakes under way. */
  get socketCount(): number {
    return this.sockets.size;
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
    this.refusals.close();
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) c.conn.destroy();
    for (const socket of this.sockets) socket.destroy();
    for (const socket of this.lingering) socket.destroy();
    await closed;
  }

  /** Who asked, for logs and the audit trail. */
  actor(s: Session): { who: string; peer: string } {
    const who = s.tokenName ? (hasChosenName(s) ? `${s.tokenName} (${s.name})` : s.tokenName) : s.name;
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

  /** Logs a refusal in full when it is the first of its address and reason in this interval, else counts it. */
  private note(address: string, reason: string, fields: Record<string, unknown>, message: string): void {
    if (this.refusals.admit(address, reason, address)) this.opts.logger.warn(fields, message);
  }

  /** Takes a slot for a new TCP socket, or refuses it. */
  private admit(socket: net.Socket): boolean {
    const address = socket.remoteAddress ?? '?';
    const why = this.sockets.take(socket);
    if (why !== undefined) {
      this.refusedCounts.connections++;
      this.note(address, 'connection refused', { peer: `${address}:${socket.remotePort ?? '?'}` }, `${this.opts.label}: ${why}; refusing`);
      socket.on('error', () => undefined);
      if (this.opts.tls) {
        // Mid-handshake a plain-text line would only confuse the client.
        socket.destroy();
      } else {
        this.refuseWithReason(socket, `${formatErrorReply(new LabwireError('RateLimited', why))}\n`);
      }
      return false;
    }
    return true;
  }

  /** Writes the reason and closes: gracefully while few refused sockets linger, else at once. */
  private refuseWithReason(socket: net.Socket, line: string): void {
    if (this.lingering.size >= MAX_LINGERING) {
      socket.write(line, () => socket.destroy());
      socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
      return;
    }
    this.lingering.add(socket);
    const finish = (): void => {
      if (!this.lingering.delete(socket)) return;
      clearTimeout(timer);
      socket.destroy();
    };
    // A fixed deadline, not the socket's idle timer, which a peer that keeps writing would reset.
    const timer = setTimeout(finish, REFUSED_LINGER_MS);
    timer.unref();
    socket.on('data', () => undefined);
    socket.once('end', finish);
    socket.once('close', finish);
    socket.end(line);
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const address = socket.remoteAddress ?? '?';
    const peer = `${address}:${socket.remotePort ?? '?'}`;
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
      waitingChars: 0,
      lastActivity: Date.now(),
      authTimer: undefined,
      lagging: undefined,
      droppedLogs: 0,
      closed: false,
      ended: false,
      closing: false,
      paused: false,
      heldForDrain: false,
      sentBinary: false,
      heldBuffered: 0,
    };
    this.conns.add(c);
    if (this.opts.tokens.enabled && this.opts.anonymousRole === null && this.authTimeoutMs > 0) {
      // Without a token such a connection can only ping: it must not hold a slot for long.
      c.authTimer = setTimeout(() => this.authDeadline(c), this.authTimeoutMs);
      c.authTimer.unref();
    }
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
      if (c.heldForDrain) {
        c.heldForDrain = false;
        c.busy = false;
        this.handleNext(c);
      }
    });
    conn.on('end', () => {
      c.ended = true;
      if (!c.busy) void conn.close();
    });
    conn.on('close', () => {
      c.closed = true;
      clearTimeout(c.authTimer);
      this.conns.delete(c);
      this.service.sessionClosed?.(c);
      this.opts.logger.debug({ peer, session: id, name: c.name }, `${this.opts.label}: client disconnected`);
    });
  }

  private onLine(c: Conn, line: string): void {
    if (!c.busy) {
      this.handle(c, line);
      return;
    }
    // Held for a slow reader, its socket is paused: what still arrives is the rest of one chunk,
    // which may hold more short lines than MAX_WAITING without being a flood.
    const tooMany = c.waiting.length >= MAX_WAITING && !c.heldForDrain;
    if (tooMany || c.waitingChars + line.length > MAX_WAITING_BYTES) {
      if (c.closing) return;
      // A client that floods a slow device gets told once and dropped, rather than eat memory.
      c.closing = true;
      this.refusedCounts.rateLimited++;
      const what = tooMany ? `more than ${MAX_WAITING} requests` : `more than ${MAX_WAITING_BYTES / 1024} KiB of requests`;
      const err = new LabwireError('RateLimited', `${what} waiting; closing the connection`);
      this.note(c.address, 'flood', { peer: c.peer, name: c.name }, `${this.opts.label}: dropping a connection that floods requests`);
      this.service.refused(c, `(${c.waiting.length} queued requests)`, undefined, err);
      this.write(c, formatErrorReply(err));
      c.socket.destroySoon();
      return;
    }
    c.waiting.push(line);
    c.waitingChars += line.length;
  }

  private nextWaiting(c: Conn): string | undefined {
    const line = c.waiting.shift();
    if (line !== undefined) c.waitingChars -= line.length;
    return line;
  }

  /** Writes a reply; a peer that does not read makes us stop reading its requests. */
  private write(c: Conn, reply: string | BinaryReply): void {
    if (c.closed) return;
    if (typeof reply === 'string') {
      // Only a foreign protocol's reply holds LF (one per line); a labwire reply never does.
      for (const part of reply.split('\n')) c.conn.send(part);
    } else if (reply.data.length > 0 && this.binaryBytesUnsent + reply.data.length > this.maxBinaryUnsent) {
      // Told, not queued: a retry succeeds once the readers that hold the budget have read.
      const unsent = Math.round(this.binaryBytesUnsent / 2 ** 20);
      const message = `${unsent} MiB of binary replies are waiting for their readers on this server (limit ${Math.round(this.maxBinaryUnsent / 2 ** 20)} MiB); try again shortly`;
      this.note(c.address, 'binary budget', { peer: c.peer, name: c.name }, `${this.opts.label}: a binary reply refused, the server's budget for unsent blocks is full`);
      c.conn.send(formatErrorReply(new LabwireError('IsBusy', message, reply.command ?? '-')));
    } else {
      try {
        c.conn.sendBinary(reply.header, reply.data);
        c.sentBinary = true;
      } catch (err) {
        // A malformed header is our bug, not the peer's: it gets an error in the block's place.
        c.conn.send(this.errorReply(err instanceof LabwireError ? new Error(err.message) : err, '-'));
      }
    }
    if (!c.paused && c.conn.bufferedAmount > OUTPUT_HIGH_WATER) {
      c.paused = true;
      c.socket.pause();
    }
  }

  /**
   * After a reply: when the peer has left more than OUTPUT_HIGH_WATER unread, the requests
   * behind wait for 'drain' (the connection counts as busy meanwhile, so new lines queue under
   * the usual limits). Returns whether it holds.
   */
  private holdForDrain(c: Conn): boolean {
    if (c.closed || c.conn.bufferedAmount <= OUTPUT_HIGH_WATER) return false;
    c.busy = true;
    c.heldForDrain = true;
    c.heldBuffered = c.conn.bufferedAmount;
    return true;
  }

  /** Goes on with the next waiting request, or closes after a half-close once nothing waits. */
  private handleNext(c: Conn): void {
    if (c.closed) return;
    const next = this.nextWaiting(c);
    if (next !== undefined) this.handle(c, next);
    else if (c.ended) void c.conn.close();
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
            if (this.holdForDrain(c)) return;
            this.handleNext(c);
          });
        return;
      }
      if (result !== undefined) this.write(c, result);
      if (this.holdForDrain(c)) return;
      line = this.nextWaiting(c);
    }
    if (c.ended) void c.conn.close();
  }

  private request(c: Conn, line: string): Handled {
    if (line.startsWith(READY)) return line.slice(READY.length);
    if (this.service.claimsLine?.(c, line)) return this.foreign(c, line);
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
      if (cmd.kwargs.name) c.name = cmd.kwargs.name.slice(0, MAX_ID_LENGTH);
      if (cmd.kwargs.type !== undefined) c.type = cmd.kwargs.type.slice(0, MAX_ID_LENGTH);
      return undefined;
    }
    // Notices get no reply, so they must not use up requests: a refusal would be a reply out of turn.
    if (this.service.notices.has(name)) return undefined;
    if (!this.limiter.take(this.bucket(c, name))) {
      this.refusedCounts.rateLimited++;
      const who = c.tokenName !== undefined && name !== 'auth' ? `token ${c.tokenName} from ${c.address}` : c.address;
      const err = new LabwireError('RateLimited', `rate limit of ${this.opts.rateLimit.perSecond} requests/s for ${who} exceeded`, name);
      this.service.refused(c, line, cmd, err);
      return formatErrorReply(err);
    }
    c.lastActivity = Date.now();
    if (name === 'auth') return this.auth(c, cmd);
    return this.service.dispatch(c, cmd as Command & { name: string }, line);
  }

  private foreign(c: Conn, line: string): Handled {
    if (!this.limiter.take(this.bucket(c, ''))) {
      this.refusedCounts.rateLimited++;
      const err = new LabwireError('RateLimited', `rate limit of ${this.opts.rateLimit.perSecond} requests/s for ${c.address} exceeded`);
      this.service.refused(c, line, undefined, err);
      return formatErrorReply(err);
    }
    c.lastActivity = Date.now();
    return this.service.foreignLine!(c, line);
  }

  /** Wrong tokens are answered only after the address's back-off; while one waits, others are refused unchecked. */
  private auth(c: Conn, cmd: Command): Handled {
    const token = cmd.kwargs.token ?? cmd.args[0];
    if (!token) return formatErrorReply(new LabwireError('ProtocolError', 'auth needs token=<token>', 'auth'));
    if (!this.opts.tokens.enabled) {
      return formatOk('auth', { role: c.role ?? 'none', note: `this ${this.opts.label} has no tokens configured` });
    }
    return this.secrets.attempt(c.address, () => this.opts.tokens.check(token)).then(
      (entry) => {
        if (!entry) {
          this.note(c.address, 'authentication failed', { peer: c.peer }, `${this.opts.label}: authentication failed`);
          return formatErrorReply(new LabwireError('Unauthorized', 'unknown token', 'auth'));
        }
        c.role = entry.role;
        c.tokenName = entry.name;
        clearTimeout(c.authTimer);
        c.authTimer = undefined;
        return formatOk('auth', { role: entry.role });
      },
      (err: unknown) => {
        if (!(err instanceof ThrottleBusy)) throw err;
        this.note(c.address, 'authentication throttled', { peer: c.peer }, `${this.opts.label}: authentication refused while this address backs off after wrong tokens`);
        return formatErrorReply(new LabwireError('RateLimited', `${err.message} (token not checked)`, 'auth'));
      },
    );
  }

  /**
   * The rate-limit bucket a request is counted in. A session authenticated with a token has its
   * own (per token and address), so anonymous neighbours on its host cannot starve it; `auth`
   * itself has its own per address, so a request flood cannot keep a token holder from
   * authenticating, and guesses stay limited. Everything else shares the address's bucket.
   */
  private bucket(c: Conn, name: string): string {
    if (name === 'auth') return `auth ${c.address}`;
    if (c.tokenName !== undefined) return `token ${c.tokenName} ${c.address}`;
    return c.address;
  }

  private authDeadline(c: Conn): void {
    c.authTimer = undefined;
    if (c.closed || c.closing || c.tokenName !== undefined) return;
    c.closing = true;
    this.note(c.address, 'no auth', { peer: c.peer, name: c.name }, `${this.opts.label}: closing a connection that did not authenticate in time`);
    const err = new LabwireError('Unauthorized', `not authenticated within ${formatDuration(this.authTimeoutMs)}; ${this.opts.label} requires a token: send auth token=<token> first`);
    c.conn.send(formatErrorReply(err));
    void c.conn.close();
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

  /**
   * Unsent output of the connections that were sent a binary block and have not read all of it
   * since: what the kernel has not taken yet, measured rather than counted, so a block that left at
   * once (no 'drain' ever) or a connection that closed stops counting by itself.
   */
  get binaryBytesUnsent(): number {
    let total = 0;
    for (const c of this.conns) {
      if (!c.sentBinary) continue;
      const left = c.closed ? 0 : c.conn.bufferedAmount;
      if (left === 0) c.sentBinary = false;
      total += left;
    }
    return total;
  }

  private sweepIdle(): void {
    const limit = Date.now() - this.opts.idleTimeoutMs;
    for (const c of this.conns) {
      if (c.heldForDrain) {
        // Held for a peer that does not read its replies: idle unless it read some since the last sweep.
        const left = c.conn.bufferedAmount;
        if (left < c.heldBuffered) c.lastActivity = Date.now();
        c.heldBuffered = left;
      }
      // A subscriber is kept while idle (it listens), but not one that holds a block it never reads.
      if (c.closing || (c.subscribed && !c.heldForDrain) || c.lastActivity > limit || (c.busy && !c.heldForDrain)) continue;
      c.closing = true;
      this.opts.logger.info({ peer: c.peer, name: c.name }, `${this.opts.label}: closing idle connection`);
      c.conn.send(formatErrorReply(new LabwireError('Timeout', `no request for ${formatDuration(this.opts.idleTimeoutMs)}; closing the connection`)));
      void c.conn.close();
    }
  }
}
