/**
 * A Link over TCP: instruments with an Ethernet port (Cryo-con, Prologix) and serial-to-Ethernet
 * converters. Each `open()` makes a fresh socket, so the same object survives reconnects.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { LinkKind } from './registry.js';
import type { Link, TcpLinkSpec } from './types.js';
import { formatTcpUrl, parseTcpUrl } from './url.js';

export interface TcpLinkOptions {
  /** Give up connecting after this long. Default 5000 ms. */
  connectTimeoutMs?: number;
  /**
   * Idle time before the first TCP keepalive probe. Default 1000 ms: an instrument that lost power
   * sends no FIN, and without probes a quiet link would look up until the next write times out.
   */
  keepAliveDelayMs?: number;
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  EPIPE: 'connection broken',
};

function explain(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const text = code !== undefined ? ERRNO_TEXT[code] : undefined;
  return text !== undefined ? `${text} (${code})` : err.message;
}

export class TcpLink extends EventEmitter implements Link {
  readonly spec: TcpLinkSpec;
  readonly description: string;
  private readonly connectTimeoutMs: number;
  private readonly keepAliveDelayMs: number;
  private socket: net.Socket | undefined;
  private connected = false;

  constructor(spec: TcpLinkSpec, options: TcpLinkOptions = {}) {
    super();
    this.spec = spec;
    this.description = formatTcpUrl(spec);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.keepAliveDelayMs = options.keepAliveDelayMs ?? 1000;
  }

  get isOpen(): boolean {
    return this.connected;
  }

  open(): Promise<void> {
    if (this.socket) return Promise.reject(new Error(`${this.description} is already open`));
    return new Promise<void>((resolve, reject) => {
      const socket = new net.Socket();
      this.socket = socket;
      let settled = false;
      let lastError: Error | undefined;

      const fail = (message: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.socket === socket) this.socket = undefined;
        socket.destroy();
        reject(new Error(`cannot connect to ${this.description}: ${message}`));
      };
      const timer = setTimeout(() => fail(`no answer within ${this.connectTimeoutMs} ms`), this.connectTimeoutMs);

      socket.on('error', (err) => {
        lastError = err;
        fail(explain(err));
      });
      socket.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.setNoDelay(true);
        socket.setKeepAlive(true, this.keepAliveDelayMs);
        this.connected = true;
        resolve();
      });
      socket.on('data', (chunk: Buffer) => {
        if (this.socket === socket) this.emit('data', chunk);
      });
      socket.once('close', () => {
        if (!settled) {
          fail('closed while connecting');
          return;
        }
        if (this.socket !== socket) return; // closed by us or superseded: already reported
        this.socket = undefined;
        this.connected = false;
        this.emit('close', lastError ? new Error(`${this.description}: ${explain(lastError)}`) : new Error(`${this.description} closed the connection`));
      });
      socket.connect({ host: this.spec.host, port: this.spec.port });
    });
  }

  write(data: Buffer): Promise<void> {
    const socket = this.socket;
    if (!socket || !this.connected) return Promise.reject(new Error(`cannot write to ${this.description}: not connected`));
    return new Promise<void>((resolve, reject) => {
      socket.write(data, (err) => {
        if (err) reject(new Error(`cannot write to ${this.description}: ${explain(err)}`));
        else resolve();
      });
    });
  }

  /** TCP has no OS-side input queue worth flushing apart from what Node already delivered. */
  flushInput(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    this.socket = undefined;
    const wasConnected = this.connected;
    this.connected = false;
    return new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
      if (wasConnected) this.emit('close', undefined);
    });
  }
}

/** tcp://host:port, registered by links/registry.ts. */
export const tcpLinkKind: LinkKind<TcpLinkSpec> = {
  scheme: 'tcp',
  example: 'tcp://host:port',
  parse: (url) => parseTcpUrl(url),
  create: (spec, options) => new TcpLink(spec, options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
  format: formatTcpUrl,
};
