/**
 * The client's link to one peer: opens TCP or TLS, authenticates and identifies, and keeps
 * reconnecting with bounded exponential back-off after a failure or a lost connection. What the
 * client does on top (restoring subscriptions, events) comes in through `ConnectionHooks`.
 */
import net from 'node:net';
import tls from 'node:tls';
import { LabwireError, LineConnection, formatCommand, makeCommand, parseErrorReply, type Command, type OversizeInfo } from '../wire/index.js';
import { duration, toError } from './replies.js';
import type { LabwireClientOptions, TlsOptions } from './types.js';

export interface ConnectionHooks {
  /** Runs on a new connection after auth and id, before it counts as up (restores subscriptions). */
  handshake(conn: LineConnection): Promise<void>;
  push(cmd: Command, line: string): void;
  unsolicited(cmd: Command, line: string): void;
  oversize(info: OversizeInfo): void;
  connected(): void;
  /** An established connection was lost; `error` is also `lastError` now. */
  disconnected(reason: string, error: LabwireError): void;
  reconnecting(info: { attempt: number; delayMs: number; error: Error }): void;
  /** Background reconnecting (after a first success) stopped for good. */
  reconnectFailed(error: Error): void;
}

/** Errors that another attempt cannot fix: a refused token, a certificate that does not verify. */
function isFatal(err: Error): boolean {
  if (err instanceof LabwireError && err.code === 'Unauthorized') return true;
  const cause = err.cause instanceof Error ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code);
}

export class ClientConnection {
  readonly host: string;
  readonly port: number;
  readonly reconnect: boolean;
  readonly requestTimeoutMs: number;
  /** The live, handshaken connection; null while disconnected. */
  private conn: LineConnection | null = null;
  private loop: { promise: Promise<void>; abort: AbortController } | null = null;
  private closingFlag = false;
  private everConnected = false;
  private last: Error | undefined;

  constructor(
    private readonly options: LabwireClientOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.host = options.host;
    this.port = options.port;
    this.reconnect = options.reconnect ?? true;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** `host:port`, for messages. */
  get endpoint(): string {
    return net.isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  get current(): LineConnection | null {
    return this.conn;
  }

  get closing(): boolean {
    return this.closingFlag;
  }

  /** Connected, or attempts under way. */
  get trying(): boolean {
    return this.conn !== null || this.loop !== null;
  }

  /** Why the last attempt failed or the connection was lost; undefined while connected. */
  get lastError(): Error | undefined {
    return this.last;
  }

  /** The error of a request made while disconnected. */
  notConnected(command: string): LabwireError {
    const last = this.last ? ` (${this.last.message})` : '';
    return new LabwireError('CommunicationFailed', `not connected to ${this.endpoint}${last}`, command);
  }

  /** See LabwireClient.connect(). */
  connect(): Promise<void> {
    if (this.closingFlag) return Promise.reject(new LabwireError('CommunicationFailed', 'client is closed'));
    if (this.conn) return Promise.resolve();
    const loop = this.startLoop();
    const ms = this.options.connectTimeoutMs;
    if (ms === undefined || ms <= 0) return loop.promise;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const last = this.last ? ` (last error: ${this.last.message})` : '';
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

  /**
   * Stops reconnecting for good and returns the live connection (now detached) for the caller to
   * close once it has ended what depends on it; null when already closing or not connected.
   */
  shutdown(): LineConnection | null {
    if (this.closingFlag) return null;
    this.closingFlag = true;
    this.stopLoop('client closed');
    const conn = this.conn;
    this.conn = null;
    return conn;
  }

  /** Drops the current connection; with reconnect on, a new one follows. */
  drop(): void {
    this.conn?.destroy();
  }

  private startLoop(): { promise: Promise<void>; abort: AbortController } {
    if (this.loop) return this.loop;
    const abort = new AbortController();
    const promise = this.runLoop(abort.signal).finally(() => {
      if (this.loop?.abort === abort) this.loop = null;
    });
    // Background reconnection has no awaiting caller; its failure is reported as an event.
    promise.catch((err: unknown) => {
      if (!abort.signal.aborted && this.everConnected) this.hooks.reconnectFailed(toError(err));
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
        this.last = error;
        if (!this.reconnect || isFatal(error)) throw error;
        this.hooks.reconnecting({ attempt, delayMs: delay, error });
        await sleep(delay, signal);
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
    conn.on('push', (cmd, line) => this.hooks.push(cmd, line));
    conn.on('unsolicited', (cmd, line) => this.hooks.unsolicited(cmd, line));
    conn.on('oversize', (info) => this.hooks.oversize(info));
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
      await this.hooks.handshake(conn);
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
    this.last = undefined;
    this.hooks.connected();
  }

  private onDisconnect(conn: LineConnection, err: Error | undefined): void {
    if (this.conn !== conn) return;
    this.conn = null;
    const reason = err ? `connection to ${this.endpoint} lost: ${err.message}` : `connection to ${this.endpoint} closed`;
    const error = new LabwireError('CommunicationFailed', reason);
    this.last = error;
    this.hooks.disconnected(reason, error);
    if (!this.closingFlag && this.reconnect) this.startLoop();
  }
}

/** Waits `ms`, or rejects with the signal's reason when it is aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(toError(signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
