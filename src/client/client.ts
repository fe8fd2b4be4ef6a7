/**
 * LabwireClient: the one client of the labwire protocol, for scripts, the CLI, the monitor and the
 * bridges (DESIGN.md §2). It connects (TCP or TLS), authenticates, reconnects with bounded
 * exponential back-off, re-subscribes after a reconnect, and offers `waitFor` so that scripts wait
 * for a condition instead of sleeping in a polling loop.
 *
 * It also talks to CCDLab daemons and monitors as far as they allow: `statusLine()` and `getId()`
 * work as they are, `status()` and `waitFor` read a CCDLab `status k=v ...` reply and poll
 * instead of subscribing. Requests a CCDLab peer never answers (everything else) run into the
 * request timeout, and since such a peer also sends no late reply, the pairing of every later
 * reply is off by one: with CCDLab peers, send only what they answer.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import {
  LabwireError,
  LineConnection,
  formatCommand,
  formatValue,
  parseDecimal,
  lineBody,
  makeCommand,
  parseErrorReply,
  type Command,
  type DescribeDoc,
  type OversizeInfo,
  type Reply,
  type StatusDoc,
  type WireValue,
} from '../wire/index.js';
import { parseCondition, type ConditionValue } from './condition.js';

export interface TlsOptions {
  /** Trusted CA certificate(s), PEM; default: the system's. */
  ca?: string | Buffer;
  /** Default true: the client verifies the daemon's certificate. */
  rejectUnauthorized?: boolean;
  /** Name to verify the certificate against; default the host when it is a name. */
  servername?: string;
  /** A client certificate (PEM) for daemons that require one; goes with `key`. */
  cert?: string | Buffer;
  /** The private key of `cert` (PEM). */
  key?: string | Buffer;
}

export interface LabwireClientOptions {
  host: string;
  port: number;
  /** `true` for TLS with the system's CAs. */
  tls?: TlsOptions | boolean;
  /** Sent as `auth token=...` after every connect; never logged or put in messages. */
  token?: string;
  /** Sends `id name=<name> type=client` after every connect, so the daemon's logs name this peer. */
  name?: string;
  /** Keep reconnecting after a failure or a lost connection (default true). */
  reconnect?: boolean;
  /** Default timeout of each request (default 10000 ms). */
  requestTimeoutMs?: number;
  /** connect() rejects when not connected within this time; also bounds each connection attempt. */
  connectTimeoutMs?: number;
  /** Delay between attempts: starts at initialMs (250) and doubles up to maxMs (5000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Longest accepted reply or push line in bytes (default 8 MiB: a describe document can be long).
   * A longer line fails its request with LineTooLong and drops the connection (an `oversize`
   * event says so); nothing beyond the limit is buffered. Reconnecting follows as after any loss.
   */
  maxLineLength?: number;
  /** Largest binary reply accepted (default 1 GiB); a larger one is refused like a too-long line. */
  maxBinaryLength?: number;
  /** Which inbound lines are pushes (default: `update` and `log`). */
  isPush?: (cmd: Command, line: string) => boolean;
}

/** One `update` push: the daemon's time (unix ms) and the values that changed, as sent. */
export interface Update {
  t: number;
  values: Record<string, string>;
}

/** One `log` push, or a CCDLab notice line (`info <text>` ...) when isPush lets those through. */
export interface LogEntry {
  t: number;
  level: string;
  message: string;
  /** Who logged it, when the peer says (a monitor: the client's name, `alarms`, a script's name). */
  source?: string;
}

/** Current values as waitFor sees them: numbers, booleans and strings; null for a missing reading. */
export type Values = Record<string, string | number | boolean | null>;

export interface WaitForOptions {
  /** Reject with LabwireError('Timeout') after this long; default: wait for ever. */
  timeoutMs?: number;
  /** The condition must hold this long without a break (default 0: the first time it holds). */
  stableForMs?: number;
  signal?: AbortSignal;
  /** Poll interval when the peer cannot push updates (a CCDLab daemon); default 1000 ms. */
  pollMs?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

export interface LabwireClientEvents {
  /** Connected and, with a token, authenticated; subscriptions restored. */
  connected: [];
  /** An established connection was lost (not emitted by close()). */
  disconnected: [reason: string];
  /** A connection attempt failed; the next one follows after delayMs. */
  reconnecting: [info: { attempt: number; delayMs: number; error: Error }];
  /** Reconnecting stopped for good (e.g. the token was refused). */
  reconnectFailed: [error: Error];
  update: [update: Update];
  log: [entry: LogEntry];
  /** Every push line, including those handled as update or log. */
  push: [cmd: Command, line: string];
  /** A line that is neither a push nor a reply. */
  unsolicited: [cmd: Command, line: string];
  /** A reply or push over maxLineLength (or a binary reply over maxBinaryLength): the connection is dropped. */
  oversize: [info: OversizeInfo];
  /** close() was called. */
  close: [];
}

interface Subscriber {
  /** null: all parameters. */
  params: readonly string[] | null;
  deliver(update: Update): void;
  /** An error: the daemon refused the subscription. No error: the client closed. */
  end(error?: Error): void;
}

interface Snapshot {
  values: Record<string, ConditionValue>;
  /** Daemon time of the snapshot and of each value's refresh. */
  t: number;
  ts: Record<string, number>;
  /** A labwire peer (status_json) rather than a CCDLab one (`status k=v`). */
  labwire: boolean;
}

const CCDLAB_LOG_LEVELS = new Set(['message', 'info', 'warning', 'error', 'success', 'debug']);
/** Updates kept for a subscriber that does not read; older ones are dropped. */
const MAX_QUEUED_UPDATES = 10_000;

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))} s`;
}

function commandName(line: string): string {
  return line.trim().split(/[ \t]+/, 1)[0] ?? '-';
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A plain object from a null-prototype record; own `__proto__` keys stay data (CreateDataProperty). */
function plain(kwargs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(kwargs));
}

/** Errors that another attempt cannot fix: a refused token, a certificate that does not verify. */
function isFatal(err: Error): boolean {
  if (err instanceof LabwireError && err.code === 'Unauthorized') return true;
  const cause = err.cause instanceof Error ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code);
}

function isTransient(err: unknown): boolean {
  return err instanceof LabwireError && (err.code === 'CommunicationFailed' || err.code === 'Timeout');
}

/** Nested objects become dotted names, as the monitor names `<client>.<param>`. */
function flatten(obj: Record<string, unknown>, prefix = '', out: Record<string, ConditionValue> = Object.create(null)): Record<string, ConditionValue> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix + k;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = v;
    else if (typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key + '.', out);
    else out[key] = JSON.stringify(v) ?? null;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJsonBody(reply: Reply, what: string): unknown {
  try {
    return JSON.parse(lineBody(reply.line));
  } catch (err) {
    throw new LabwireError('ProtocolError', `${what} reply is not valid JSON: ${toError(err).message}`, what);
  }
}

/** An `update` push as an Update. */
export function parseUpdate(cmd: Command): Update {
  const values = plain(cmd.kwargs);
  const t = Number(values.t);
  delete values.t;
  return { t: cmd.kwargs.t !== undefined && Number.isFinite(t) ? t : Date.now(), values };
}

/**
 * A value from an update string, typed by the parameter's declared type, or by its look when the
 * peer gave no description: numbers as numbers, `nan` as null, anything else as a string.
 */
export function convertValue(raw: string, type?: DescribeDoc['params'][string]['type']): ConditionValue {
  const s = raw.trim();
  const lower = s.toLowerCase();
  if (type === 'string' || type === 'enum') return raw;
  if (type === 'bool') {
    if (lower === '1' || lower === 'true') return true;
    if (lower === '0' || lower === 'false') return false;
    return raw;
  }
  if (lower === 'nan') return null;
  if (lower === 'inf' || lower === '+inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return parseDecimal(s) ?? raw;
}

export class LabwireClient extends EventEmitter<LabwireClientEvents> {
  readonly host: string;
  readonly port: number;
  private readonly options: LabwireClientOptions;
  private readonly reconnect: boolean;
  private readonly requestTimeoutMs: number;
  /** The live, handshaken connection; null while disconnected. */
  private conn: LineConnection | null = null;
  private loop: { promise: Promise<void>; abort: AbortController } | null = null;
  private closing = false;
  private everConnected = false;
  private lastError: Error | undefined;
  private readonly subscribers = new Set<Subscriber>();
  /** The subscription the daemon holds for this connection ('*' = all), null if none. */
  private subscribedAs: string | null = null;
  private describeCache: Promise<DescribeDoc | undefined> | null = null;
  /** The same lifecycle events for waitFor's own use: any number of waits, no listener-count warnings. */
  private readonly lifecycle = new EventEmitter<Pick<LabwireClientEvents, 'connected' | 'disconnected' | 'close' | 'reconnectFailed'>>();

  constructor(options: LabwireClientOptions) {
    super();
    this.options = options;
    this.host = options.host;
    this.port = options.port;
    this.reconnect = options.reconnect ?? true;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.lifecycle.setMaxListeners(0);
  }

  /** `host:port`, for messages. */
  get endpoint(): string {
    return net.isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  /**
   * Connects, authenticates with the token if one is set, and identifies with the name if one is
   * set. With reconnect off, the first failure rejects. With reconnect on, attempts continue with
   * back-off; connectTimeoutMs (if set) bounds the wait, and on a first connect also stops the
   * attempts. A refused token or an untrusted certificate rejects at once either way.
   */
  connect(): Promise<void> {
    if (this.closing) return Promise.reject(new LabwireError('CommunicationFailed', 'client is closed'));
    if (this.conn) return Promise.resolve();
    const loop = this.startLoop();
    const ms = this.options.connectTimeoutMs;
    if (ms === undefined || ms <= 0) return loop.promise;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const last = this.lastError ? ` (last error: ${this.lastError.message})` : '';
        if (!this.everConnected) this.stopLoop('connect timed out');
        reject(new LabwireError('Timeout', `could not connect to ${this.endpoint} within ${duration(ms)}${last}`, 'connect'));
      }, ms);
      loop.promise.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(toError(err));
        },
      );
    });
  }

  /** Stops reconnecting, ends every subscription and closes the connection. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stopLoop('client closed');
    for (const sub of [...this.subscribers]) sub.end();
    this.subscribers.clear();
    this.lifecycle.emit('close');
    this.emit('close');
    const conn = this.conn;
    this.conn = null;
    if (conn) await conn.close();
  }

  /**
   * Sends one request line (or Command) and resolves with its reply. An `error ...` reply rejects
   * with the LabwireError it carries. While disconnected it rejects at once with
   * LabwireError('CommunicationFailed').
   */
  async request(line: string | Command, options: RequestOptions = {}): Promise<Reply> {
    const text = typeof line === 'string' ? line : formatCommand(line);
    const conn = this.conn;
    if (!conn) {
      const last = this.lastError ? ` (${this.lastError.message})` : '';
      throw new LabwireError('CommunicationFailed', `not connected to ${this.endpoint}${last}`, commandName(text));
    }
    const reply = await conn.request(text, { timeoutMs: options.timeoutMs ?? this.requestTimeoutMs });
    const err = parseErrorReply(reply.command);
    if (err) throw err;
    return reply;
  }

  /**
   * Like request(), but an `error ...` reply resolves like any other: for relays (the monitor's
   * `send`) that hand the peer's own line back.
   */
  async requestLine(line: string, options: RequestOptions = {}): Promise<Reply> {
    const conn = this.conn;
    if (!conn) {
      const last = this.lastError ? ` (${this.lastError.message})` : '';
      throw new LabwireError('CommunicationFailed', `not connected to ${this.endpoint}${last}`, commandName(line));
    }
    return conn.request(line, { timeoutMs: options.timeoutMs ?? this.requestTimeoutMs });
  }

  /**
   * Writes a line that gets no reply (a notice such as `id name=x type=y`, or a command to a
   * CCDLab daemon, which never answers). False when not connected.
   */
  notify(line: string): boolean {
    const conn = this.conn;
    if (!conn || conn.closed) return false;
    return conn.send(line);
  }

  /** Drops the current connection (e.g. a peer that hangs); with reconnect on, a new one follows. */
  dropConnection(): void {
    this.conn?.destroy();
  }

  /** `get_id`: name, type, protocol and version (CCDLab daemons: name and an empty type). */
  async getId(): Promise<Record<string, string>> {
    const reply = await this.request('get_id');
    this.expectReply(reply, 'id', 'get_id');
    return plain(reply.command.kwargs);
  }

  /**
   * `get_status format=json`. A CCDLab daemon answers with its plain `status k=v` line, which is
   * returned with string values; a monitor's nested document is flattened to `<client>.<param>`.
   */
  async status(): Promise<StatusDoc> {
    const snap = await this.snapshot();
    if (snap.doc) return snap.doc;
    return { name: '', t: snap.t, values: { ...snap.values }, units: {}, ts: {} };
  }

  /** Plain `get_status`: the `status k=v ...` line's pairs, as strings. Works with CCDLab daemons. */
  async statusLine(): Promise<Record<string, string>> {
    const reply = await this.request('get_status');
    this.expectReply(reply, 'status', 'get_status');
    return plain(reply.command.kwargs);
  }

  /** `describe`: parameters with types, units and limits; commands with their arguments. */
  async describe(): Promise<DescribeDoc> {
    const reply = await this.request('describe');
    this.expectReply(reply, 'describe', 'describe');
    const doc = parseJsonBody(reply, 'describe');
    if (!isRecord(doc) || !isRecord(doc.params) || !isRecord(doc.commands)) {
      throw new LabwireError('ProtocolError', 'describe reply lacks params or commands', 'describe');
    }
    return doc as unknown as DescribeDoc;
  }

  /** `set k=v ...`: resolves with the values as applied. */
  async set(values: Record<string, WireValue>): Promise<Record<string, string>> {
    const reply = await this.request(makeCommand('set', [], values));
    return plain(reply.command.kwargs);
  }

  /** A device command with positional or keyword arguments; resolves with its results. */
  async call(command: string, args: Record<string, WireValue> | WireValue[] = []): Promise<Record<string, string>> {
    const cmd = Array.isArray(args) ? makeCommand(command, args) : makeCommand(command, [], args);
    const reply = await this.request(cmd);
    return plain(reply.command.kwargs);
  }

  /**
   * Push updates of the given parameters (all when none are given). The subscription is sent when
   * iteration starts and restored after every reconnect; leaving the loop sends `unsubscribe` when
   * no other subscription of this client is active. A refused subscription (an error reply) is
   * thrown from the loop; the loop ends when the client is closed.
   */
  subscribe(params?: string[]): AsyncIterable<Update> {
    const wanted = params && params.length > 0 ? [...params] : null;
    return { [Symbol.asyncIterator]: () => this.openStream(wanted) };
  }

  /**
   * Waits until a condition holds (see condition.ts for the syntax), or a predicate returns true,
   * for stableForMs without a break. Reads the current values first, then follows pushed updates
   * (or polls a peer that cannot push); keeps waiting across reconnects, re-reading the values each
   * time, and restarts the stability timer after a disconnection. Resolves with the values at that
   * moment. Rejects with LabwireError('Timeout') naming the last values the condition reads.
   */
  waitFor(condition: string | ((values: Values) => boolean), options: WaitForOptions = {}): Promise<Values> {
    let source: string;
    let names: string[];
    let test: (values: Values) => boolean;
    try {
      if (typeof condition === 'string') {
        const parsed = parseCondition(condition);
        ({ source, names } = parsed);
        test = parsed.test;
      } else {
        source = '';
        names = [];
        test = condition;
      }
    } catch (err) {
      return Promise.reject(toError(err));
    }
    return new Promise<Values>((resolve, reject) => this.runWait(source, names, test, options, resolve, reject));
  }

  // ---- connection management ------------------------------------------------------------------

  private startLoop(): { promise: Promise<void>; abort: AbortController } {
    if (this.loop) return this.loop;
    const abort = new AbortController();
    const promise = this.runLoop(abort.signal).finally(() => {
      if (this.loop?.abort === abort) this.loop = null;
    });
    // Background reconnection has no awaiting caller; its failure is reported as an event.
    promise.catch((err: unknown) => {
      if (!abort.signal.aborted && this.everConnected) {
        this.lifecycle.emit('reconnectFailed', toError(err));
        this.emit('reconnectFailed', toError(err));
      }
    });
    this.loop = { promise, abort };
    return this.loop;
  }

  private stopLoop(reason: string): void {
    this.loop?.abort.abort(new LabwireError('CommunicationFailed', `connecting to ${this.endpoint} stopped: ${reason}`, 'connect'));
    this.loop = null;
  }

  private async runLoop(signal: AbortSignal): Promise<void> {
    const initialMs = this.options.backoff?.initialMs ?? 250;
    const maxMs = this.options.backoff?.maxMs ?? 5000;
    let delay = initialMs;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw toError(signal.reason);
      try {
        await this.attempt(signal);
        return;
      } catch (err) {
        const error = toError(err);
        if (signal.aborted) throw toError(signal.reason);
        this.lastError = error;
        if (!this.reconnect || isFatal(error)) throw error;
        this.emit('reconnecting', { attempt, delayMs: delay, error });
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          }, delay);
          const onAbort = (): void => {
            clearTimeout(timer);
            reject(toError(signal.reason));
          };
          signal.addEventListener('abort', onAbort, { once: true });
        });
        delay = Math.min(delay * 2, maxMs);
      }
    }
  }

  private openSocket(timeoutMs: number, signal: AbortSignal): Promise<net.Socket> {
    return new Promise<net.Socket>((resolve, reject) => {
      const t = this.options.tls;
      let socket: net.Socket;
      let readyEvent: 'connect' | 'secureConnect';
      if (t) {
        const o: TlsOptions = t === true ? {} : t;
        const servername = o.servername ?? (net.isIP(this.host) ? undefined : this.host);
        socket = tls.connect({
          host: this.host,
          port: this.port,
          ca: o.ca,
          ...(o.cert !== undefined ? { cert: o.cert } : {}),
          ...(o.key !== undefined ? { key: o.key } : {}),
          rejectUnauthorized: o.rejectUnauthorized ?? true,
          ...(servername !== undefined ? { servername } : {}),
        });
        readyEvent = 'secureConnect';
      } else {
        socket = net.connect({ host: this.host, port: this.port });
        readyEvent = 'connect';
      }
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off(readyEvent, onReady);
        signal.removeEventListener('abort', onAbort);
      };
      const fail = (err: Error): void => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => {
        const wrapped = new LabwireError('CommunicationFailed', `cannot connect to ${this.endpoint}: ${err.message}`, 'connect');
        // The socket error's code (ECONNREFUSED, a certificate problem) stays available here.
        wrapped.cause = err;
        fail(wrapped);
      };
      const onReady = (): void => {
        cleanup();
        // A dead peer is noticed in about 13 s, as CCDLab did.
        socket.setKeepAlive(true, 10_000);
        socket.setNoDelay(true);
        resolve(socket);
      };
      const onAbort = (): void => fail(toError(signal.reason));
      const timer = setTimeout(
        () => fail(new LabwireError('Timeout', `no connection to ${this.endpoint} within ${duration(timeoutMs)}`, 'connect')),
        timeoutMs,
      );
      socket.once('error', onError);
      socket.once(readyEvent, onReady);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async attempt(signal: AbortSignal): Promise<void> {
    const attemptTimeout = this.options.connectTimeoutMs ?? this.requestTimeoutMs;
    const socket = await this.openSocket(attemptTimeout, signal);
    const conn = new LineConnection(socket, {
      maxLineLength: this.options.maxLineLength ?? 8 * 1024 * 1024,
      ...(this.options.maxBinaryLength !== undefined ? { maxBinaryLength: this.options.maxBinaryLength } : {}),
      closeOnOversize: true,
      requestTimeoutMs: this.requestTimeoutMs,
      ...(this.options.isPush ? { isPush: this.options.isPush } : {}),
    });
    conn.on('push', (cmd, line) => this.onPush(cmd, line));
    conn.on('unsolicited', (cmd, line) => this.emit('unsolicited', cmd, line));
    conn.on('oversize', (info) => this.emit('oversize', info));
    let ready = false;
    conn.once('close', (err) => {
      if (ready) this.onDisconnect(conn, err);
    });
    const onAbort = (): void => conn.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.options.token !== undefined) {
        const reply = await conn.request(formatCommand(makeCommand('auth', [], { token: this.options.token })));
        const err = parseErrorReply(reply.command);
        if (err) throw err;
      }
      // `id` lines get no reply (PROTOCOL.md), so this is a send, not a request.
      if (this.options.name !== undefined) {
        conn.send(formatCommand(makeCommand('id', [], { name: this.options.name, type: 'client' })));
      }
      this.subscribedAs = null;
      this.describeCache = null;
      await this.syncSubscription(conn, null);
      if (conn.closed) throw new LabwireError('CommunicationFailed', `connection to ${this.endpoint} closed during the handshake`, 'connect');
      if (signal.aborted) throw toError(signal.reason);
    } catch (err) {
      conn.destroy();
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    ready = true;
    this.conn = conn;
    this.everConnected = true;
    this.lastError = undefined;
    this.lifecycle.emit('connected');
    this.emit('connected');
  }

  private onDisconnect(conn: LineConnection, err: Error | undefined): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.subscribedAs = null;
    this.describeCache = null;
    const reason = err ? `connection to ${this.endpoint} lost: ${err.message}` : `connection to ${this.endpoint} closed`;
    this.lastError = new LabwireError('CommunicationFailed', reason);
    if (!this.reconnect) {
      // Nothing will restore the subscriptions: end them rather than leave loops hanging.
      for (const sub of [...this.subscribers]) sub.end(this.lastError);
      this.subscribers.clear();
    }
    this.lifecycle.emit('disconnected', reason);
    this.emit('disconnected', reason);
    if (!this.closing && this.reconnect) this.startLoop();
  }

  private expectReply(reply: Reply, name: string, request: string): void {
    if (reply.command.name !== name) {
      throw new LabwireError('ProtocolError', `expected '${name} ...' in reply to ${request}, got: ${reply.line.slice(0, 200)}`, request);
    }
  }

  // ---- pushes and subscriptions -----------------------------------------------------------------

  private onPush(cmd: Command, line: string): void {
    this.emit('push', cmd, line);
    if (cmd.name === 'update') {
      const update = parseUpdate(cmd);
      this.emit('update', update);
      for (const sub of [...this.subscribers]) {
        if (sub.params === null) {
          sub.deliver(update);
          continue;
        }
        const values: Record<string, string> = {};
        let any = false;
        // defineProperty: a parameter called `__proto__` must stay data here too.
        for (const p of sub.params) {
          if (Object.hasOwn(update.values, p)) {
            Object.defineProperty(values, p, { value: update.values[p], enumerable: true, writable: true, configurable: true });
            any = true;
          }
        }
        if (any) sub.deliver({ t: update.t, values });
      }
    } else if (cmd.name === 'log') {
      const t = Number(cmd.kwargs.t);
      this.emit('log', {
        t: cmd.kwargs.t !== undefined && Number.isFinite(t) ? t : Date.now(),
        level: cmd.kwargs.level ?? 'info',
        message: cmd.kwargs.message ?? cmd.args.join(' '),
        ...(cmd.kwargs.source !== undefined ? { source: cmd.kwargs.source } : {}),
      });
    } else if (cmd.name !== null && CCDLAB_LOG_LEVELS.has(cmd.name)) {
      this.emit('log', { t: Date.now(), level: cmd.name, message: lineBody(line) });
    }
  }

  /** What the daemon must be subscribed to: '*' for all, else the sorted union; null for nothing. */
  private subscriptionKey(): string | null {
    if (this.subscribers.size === 0) return null;
    const names = new Set<string>();
    for (const sub of this.subscribers) {
      if (sub.params === null) return '*';
      for (const p of sub.params) names.add(p);
    }
    return [...names].sort().join('\u0000');
  }

  /**
   * Brings the daemon's subscription in line with the subscribers. An error reply ends `culprit`
   * (the subscriber just added), or every subscriber when restoring after a reconnect.
   * Communication failures are left to the reconnect, which restores the subscription.
   */
  private async syncSubscription(conn: LineConnection, culprit: Subscriber | null): Promise<void> {
    const key = this.subscriptionKey();
    if (key === null || key === this.subscribedAs) return;
    const params = key === '*' ? [] : key.split('\u0000');
    // Counted as subscribed from the moment it is sent, so that a subscriber leaving before the
    // reply still sends `unsubscribe`.
    const previous = this.subscribedAs;
    this.subscribedAs = key;
    const reply = await conn.request(formatCommand(makeCommand('subscribe', params)));
    const err = parseErrorReply(reply.command);
    if (!err) return;
    if (this.subscribedAs === key && (this.conn === conn || this.conn === null)) this.subscribedAs = previous;
    const victims = culprit ? [culprit] : [...this.subscribers];
    for (const sub of victims) {
      this.subscribers.delete(sub);
      sub.end(err);
    }
  }

  private addSubscriber(sub: Subscriber): void {
    this.subscribers.add(sub);
    const conn = this.conn;
    if (!conn) return;
    this.syncSubscription(conn, sub).catch((err: unknown) => {
      // A lost connection is repaired by the reconnect, which subscribes again; anything else,
      // a timeout included, means this subscription is not in effect.
      if (!(err instanceof LabwireError && err.code === 'CommunicationFailed')) {
        this.subscribers.delete(sub);
        sub.end(toError(err));
      }
    });
  }

  private async removeSubscriber(sub: Subscriber): Promise<void> {
    if (!this.subscribers.delete(sub)) return;
    const conn = this.conn;
    if (this.subscribers.size > 0 || !conn || this.subscribedAs === null) return;
    this.subscribedAs = null;
    try {
      await conn.request('unsubscribe');
    } catch {
      // The subscription has ended here either way; the daemon drops it with the connection.
    }
  }

  private openStream(params: readonly string[] | null): AsyncIterableIterator<Update> {
    const queue: Update[] = [];
    let waiting: { resolve: (r: IteratorResult<Update>) => void; reject: (e: Error) => void } | null = null;
    let ended = false;
    let failure: Error | null = null;
    const done = (): IteratorResult<Update> => ({ value: undefined, done: true });
    const sub: Subscriber = {
      params,
      deliver: (update) => {
        if (ended) return;
        if (waiting) {
          const w = waiting;
          waiting = null;
          w.resolve({ value: update, done: false });
          return;
        }
        queue.push(update);
        if (queue.length > MAX_QUEUED_UPDATES) queue.shift();
      },
      end: (error) => {
        if (ended) return;
        ended = true;
        const w = waiting;
        waiting = null;
        if (error && w) w.reject(error);
        else if (error) failure = error;
        else w?.resolve(done());
      },
    };
    this.addSubscriber(sub);
    const stream: AsyncIterableIterator<Update> = {
      next: () => {
        const next = queue.shift();
        if (next) return Promise.resolve({ value: next, done: false });
        if (failure) {
          const err = failure;
          failure = null;
          return Promise.reject(err);
        }
        if (ended) return Promise.resolve(done());
        return new Promise<IteratorResult<Update>>((resolve, reject) => {
          waiting = { resolve, reject };
        });
      },
      return: async () => {
        if (!ended) {
          ended = true;
          queue.length = 0;
          const w = waiting;
          waiting = null;
          w?.resolve(done());
          await this.removeSubscriber(sub);
        }
        return done();
      },
      [Symbol.asyncIterator]: () => stream,
    };
    return stream;
  }

  // ---- values and waitFor -----------------------------------------------------------------------

  /** `get_status format=json`, read from a labwire or a CCDLab reply. */
  private async snapshot(): Promise<Snapshot & { doc?: StatusDoc }> {
    const reply = await this.request('get_status format=json');
    const name = reply.command.name;
    if (name === 'status') {
      return { values: Object.assign(Object.create(null), reply.command.kwargs) as Record<string, ConditionValue>, t: Date.now(), ts: {}, labwire: false };
    }
    this.expectReply(reply, 'status_json', 'get_status');
    const doc = parseJsonBody(reply, 'get_status');
    if (!isRecord(doc)) throw new LabwireError('ProtocolError', 'status_json reply is not a JSON object', 'get_status');
    if (isRecord(doc.values)) {
      const values = flatten(doc.values);
      const t = typeof doc.t === 'number' ? doc.t : Date.now();
      const ts: Record<string, number> = {};
      if (isRecord(doc.ts)) for (const [k, v] of Object.entries(doc.ts)) if (typeof v === 'number') ts[k] = v;
      const statusDoc: StatusDoc = {
        name: typeof doc.name === 'string' ? doc.name : '',
        t,
        values: { ...values },
        units: isRecord(doc.units) ? (doc.units as Record<string, string>) : {},
        ts,
      };
      return { values, t, ts, labwire: true, doc: statusDoc };
    }
    // A monitor's nested document (CCDLab's: `{"nconnected":2,"cryo-con":{...}}`): no pushes to follow.
    return { values: flatten(doc), t: Date.now(), ts: {}, labwire: false };
  }

  private cachedDescribe(): Promise<DescribeDoc | undefined> {
    this.describeCache ??= this.describe().catch(() => undefined);
    return this.describeCache;
  }

  private runWait(
    source: string,
    names: string[],
    test: (values: Values) => boolean,
    options: WaitForOptions,
    resolve: (values: Values) => void,
    reject: (err: Error) => void,
  ): void {
    const stableForMs = Math.max(0, options.stableForMs ?? 0);
    const pollMs = options.pollMs ?? 1000;
    const signal = options.signal;
    // Values as received (update strings, typed snapshot values) and the daemon time of each.
    const raw: Record<string, ConditionValue> = Object.create(null) as Record<string, ConditionValue>;
    const stamps: Record<string, number> = Object.create(null) as Record<string, number>;
    let describe: DescribeDoc | undefined;
    let finished = false;
    let heldSince: number | null = null;
    let stableTimer: NodeJS.Timeout | undefined;
    let pollTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    // Bumped whenever a reply in flight has become stale (reconnect, finish).
    let generation = 0;
    let subscribed = false;

    const view = (): Values =>
      Object.fromEntries(
        Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? convertValue(v, describe?.params[k]?.type) : v]),
      );

    // Per value, the newer of a pushed update and a snapshot wins: a snapshot reply can be handled
    // after updates that arrived behind it in the same chunk.
    const apply = (values: Record<string, ConditionValue>, t: number, ts: Record<string, number> = {}): void => {
      for (const [k, v] of Object.entries(values)) {
        const at = ts[k] ?? t;
        const prev = stamps[k];
        if (prev === undefined || at >= prev) {
          raw[k] = v;
          stamps[k] = at;
        }
      }
    };

    const resetStable = (): void => {
      heldSince = null;
      clearTimeout(stableTimer);
      stableTimer = undefined;
    };

    const evaluate = (): void => {
      if (finished) return;
      let holds: boolean;
      try {
        holds = test(view());
      } catch (err) {
        finish(toError(err));
        return;
      }
      if (!holds) {
        resetStable();
        return;
      }
      if (heldSince !== null) return;
      heldSince = Date.now();
      if (stableForMs === 0) finish();
      else stableTimer = setTimeout(() => finish(), stableForMs);
    };

    const show = (v: ConditionValue | undefined): string => (v === undefined ? '(no value)' : formatValue(v));

    const timeoutError = (ms: number): LabwireError => {
      const values = view();
      let message = source !== '' ? `condition "${source}" not met within ${duration(ms)}` : `condition not met within ${duration(ms)}`;
      if (names.length > 0) message += `; last ${names.map((n) => `${n}=${show(Object.hasOwn(values, n) ? values[n] : undefined)}`).join(', ')}`;
      if (heldSince !== null) message += `; it has held for ${duration(Date.now() - heldSince)} of the required ${duration(stableForMs)}`;
      if (!this.conn) message += `; not connected to ${this.endpoint}${this.lastError ? ` (${this.lastError.message})` : ''}`;
      return new LabwireError('Timeout', message, 'wait');
    };

    const subscriber: Subscriber = {
      params: null,
      deliver: (update) => {
        if (finished) return;
        apply(update.values, update.t);
        evaluate();
      },
      end: (error) => {
        subscribed = false;
        // Refused (no subscribe on this peer, or not allowed): polling still works.
        if (error && !finished && this.conn) schedulePoll(0);
      },
    };

    const stopPolling = (): void => {
      clearTimeout(pollTimer);
      pollTimer = undefined;
    };

    const schedulePoll = (delay: number): void => {
      stopPolling();
      const gen = generation;
      pollTimer = setTimeout(() => {
        pollTimer = undefined;
        this.snapshot().then(
          (snap) => {
            if (finished || gen !== generation) return;
            apply(snap.values, snap.t, snap.ts);
            evaluate();
            if (!finished) schedulePoll(pollMs);
          },
          (err: unknown) => {
            if (finished || gen !== generation) return;
            if (!isTransient(err)) finish(toError(err));
            else if (this.conn) schedulePoll(pollMs);
          },
        );
      }, delay);
    };

    const refresh = async (): Promise<void> => {
      const gen = ++generation;
      stopPolling();
      try {
        const first = await this.snapshot();
        if (finished || gen !== generation) return;
        apply(first.values, first.t, first.ts);
        evaluate();
        if (finished) return;
        if (!first.labwire) {
          schedulePoll(pollMs);
          return;
        }
        // Pipelined: describe, subscribe, then a second snapshot covering the time before the
        // subscription took effect.
        const described = this.cachedDescribe();
        if (!subscribed) {
          subscribed = true;
          this.addSubscriber(subscriber);
        }
        const second = await this.snapshot();
        describe = await described;
        if (finished || gen !== generation) return;
        apply(second.values, second.t, second.ts);
        evaluate();
      } catch (err) {
        if (finished || gen !== generation) return;
        // Lost connection: 'connected' calls refresh again. A timeout: try again shortly.
        if (isTransient(err)) {
          if (this.conn && (err as LabwireError).code === 'Timeout') schedulePoll(pollMs);
          return;
        }
        finish(toError(err));
      }
    };

    const onConnected = (): void => void refresh();
    const onDisconnected = (reason: string): void => {
      generation++;
      stopPolling();
      resetStable();
      if (!this.reconnect) finish(new LabwireError('CommunicationFailed', `${reason} while waiting for ${source || 'the condition'}`, 'wait'));
    };
    const onClose = (): void => finish(new LabwireError('CommunicationFailed', 'client closed while waiting', 'wait'));
    const onGaveUp = (err: Error): void => finish(err);
    const onAbort = (): void => finish(toError(signal?.reason ?? new Error('aborted')));

    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      generation++;
      resetStable();
      stopPolling();
      clearTimeout(timeoutTimer);
      this.lifecycle.off('connected', onConnected);
      this.lifecycle.off('disconnected', onDisconnected);
      this.lifecycle.off('close', onClose);
      this.lifecycle.off('reconnectFailed', onGaveUp);
      signal?.removeEventListener('abort', onAbort);
      if (subscribed) {
        subscribed = false;
        void this.removeSubscriber(subscriber);
      }
      if (err) reject(err);
      else resolve(view());
    };

    if (signal?.aborted) {
      reject(toError(signal.reason));
      return;
    }
    if (this.closing) {
      reject(new LabwireError('CommunicationFailed', 'client is closed', 'wait'));
      return;
    }
    if (!this.conn && !this.loop) {
      reject(new LabwireError('CommunicationFailed', `not connected to ${this.endpoint}; call connect() first`, 'wait'));
      return;
    }
    this.lifecycle.on('connected', onConnected);
    this.lifecycle.on('disconnected', onDisconnected);
    this.lifecycle.on('close', onClose);
    this.lifecycle.on('reconnectFailed', onGaveUp);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      timeoutTimer = setTimeout(() => finish(timeoutError(ms)), ms);
    }
    if (this.conn) void refresh();
  }
}
