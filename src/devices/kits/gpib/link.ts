/**
 * The `gpib://host:port/ADDR` link: instrument ADDR behind a Prologix bus daemon. To the family's
 * Exchange it is a message link: each write is one GPIB message, and the WriteHint says whether
 * to read the instrument's reply (`query`) or not (`write`). The reply's bytes are emitted as one
 * `data` chunk, exactly as the instrument sent them, so the family's own splitter frames them.
 *
 * Through the bus daemon's labwire port (data in hex, so any byte passes), or, when the bus
 * daemon runs in this process, straight to its bus (local.ts).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { LinkKind } from '../../../links/registry.js';
import type { Link, LinkSpec, WriteHint } from '../../../links/types.js';
import { LineConnection } from '../../../wire/connection.js';
import { formatCommand, parseErrorReply } from '../../../wire/format.js';
import { LabwireError } from '../../../wire/types.js';
import type { GpibBusLike } from './bus.js';
import { MAX_READ_TMO_MS, isAddress, stripTerminator } from './codec.js';
import { MAX_TRANSACTION_BYTES } from './splitter.js';
import { localBus } from './local.js';

export interface GpibLinkSpec extends LinkSpec {
  kind: 'gpib';
  /** The bus daemon. */
  host: string;
  port: number;
  /** The instrument's primary GPIB address, 1–30. */
  address: number;
}

export interface GpibLinkOptions {
  /** Sent with `auth` when the bus daemon requires tokens. */
  token?: string;
  connectTimeoutMs?: number;
  /** false: always go through TCP, even to a bus of this process (tests). */
  useLocalBus?: boolean;
}

const URL_FORM = 'expected gpib://host:port/ADDR, e.g. gpib://127.0.0.1:7020/14 (the bus daemon and the instrument\'s GPIB address 1–30)';

export function parseGpibUrl(url: string): GpibLinkSpec {
  const m = /^gpib:\/\/(\[[^\]]+\]|[^:/\s]+):(\d{1,5})\/(\d{1,2})\/?$/i.exec(url.trim());
  if (!m) throw new Error(`"${url}" is not a GPIB link URL; ${URL_FORM}`);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(m[2]);
  const address = Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`"${url}": port ${port} is out of range 1–65535`);
  if (!isAddress(address) || address === 0) throw new Error(`"${url}": GPIB address ${address} is out of range 1–30`);
  return { kind: 'gpib', host, port, address };
}

export function formatGpibUrl(spec: GpibLinkSpec): string {
  const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  return `gpib://${host}:${spec.port}/${spec.address}`;
}

/**
 * The adapter's read timeout for one transaction: 40 % of the asker's timeout. The rest is room
 * for the bus queue — a query queued behind a silent instrument waits that instrument's read
 * timeout before its own turn, and must still be answered within its asker's timeout.
 */
export function busTimeout(hint: WriteHint): number {
  return Math.min(MAX_READ_TMO_MS, Math.max(1, Math.round(hint.timeoutMs * 0.4)));
}

export class GpibLink extends EventEmitter implements Link {
  readonly spec: GpibLinkSpec;
  /** Same as spec, typed. */
  readonly gpib: GpibLinkSpec;
  readonly description: string;
  private conn: LineConnection | undefined;
  private bus: GpibBusLike | undefined;
  private open_ = false;

  constructor(spec: GpibLinkSpec, private readonly options: GpibLinkOptions = {}) {
    super();
    this.gpib = spec;
    this.spec = spec;
    this.description = formatGpibUrl(spec);
  }

  get isOpen(): boolean {
    return this.open_;
  }

  async open(): Promise<void> {
    if (this.open_) throw new Error(`${this.description} is already open`);
    const local = this.options.useLocalBus === false ? undefined : localBus(this.gpib.host, this.gpib.port);
    if (local) {
      this.bus = local;
      this.open_ = true;
      return;
    }
    const socket = await connect(this.gpib.host, this.gpib.port, this.options.connectTimeoutMs ?? 5000, this.description);
    // A reply comes hex-encoded in one line: room for the largest transaction the bus takes.
    const conn = new LineConnection(socket, { requestTimeoutMs: 0, maxLineLength: 2 * MAX_TRANSACTION_BYTES + 4096 });
    conn.on('close', () => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      this.open_ = false;
      this.emit('close', new Error(`${this.description}: the bus daemon closed the connection`));
    });
    this.conn = conn;
    conn.send(`id name=gpib-${this.gpib.address} type=gpib-link`);
    if (this.options.token !== undefined) {
      let refused: string | undefined;
      try {
        const reply = await conn.request(formatCommand({ name: 'auth', args: [], kwargs: { token: this.options.token } }), { timeoutMs: 5000 });
        refused = parseErrorReply(reply.command)?.message;
      } catch (err) {
        refused = err instanceof Error ? err.message : String(err);
      }
      if (refused !== undefined) {
        // Never leave the socket behind: the Exchange makes a new link for its next attempt.
        this.conn = undefined;
        conn.destroy();
        throw new Error(`${this.description}: the bus daemon did not take the token: ${refused}`);
      }
    }
    this.open_ = true;
  }

  write(data: Buffer, hint?: WriteHint): Promise<void> {
    if (!this.open_) return Promise.reject(new Error(`cannot write to ${this.description}: not connected`));
    const query = hint?.expectReply ?? false;
    const timeoutMs = hint ? busTimeout(hint) : undefined;
    const writtenAt = performance.now();
    const late = (): boolean => hint !== undefined && performance.now() - writtenAt > hint.timeoutMs;
    // The family's terminator ends its message on a byte link; on GPIB the adapter ends it (EOI, ++eos).
    const done = this.transact(stripTerminator(data), query, timeoutMs, hint?.timeoutMs);
    if (!query) return done.then(() => undefined);
    // The Exchange times the reply itself: write() ends once the request is out. A reply later
    // than the asker's own timeout is dropped here, so it can never be taken for a later one.
    done.then(
      (reply) => {
        if (reply !== undefined && this.open_ && !late()) this.emit('data', reply);
      },
      () => undefined,
    );
    return Promise.resolve();
  }

  /**
   * The reply bytes of a query; undefined when there is none (a silent instrument: the Exchange
   * times out). `withinMs`: the asker's own timeout — a transaction the bus cannot start by then
   * is dropped unsent, so a write the asker was told had failed never reaches the instrument later.
   */
  private async transact(data: Buffer, query: boolean, timeoutMs: number | undefined, withinMs: number | undefined): Promise<Buffer | undefined> {
    const bus = this.bus;
    if (bus) {
      const opts = { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(withinMs === undefined ? {} : { notAfter: performance.now() + withinMs }) };
      if (!query) {
        await bus.write(this.gpib.address, data, opts);
        return undefined;
      }
      return bus.query(this.gpib.address, data, opts).catch((err: unknown) => {
        this.busError(err instanceof LabwireError ? err : new LabwireError('InternalError', String(err)));
        return undefined;
      });
    }
    const conn = this.conn!;
    const kwargs: Record<string, string> = { addr: String(this.gpib.address), data: data.toString('hex'), hex: '1' };
    if (query && timeoutMs !== undefined) kwargs.timeout_ms = String(timeoutMs);
    if (withinMs !== undefined) kwargs.within_ms = String(Math.max(1, Math.round(withinMs)));
    const reply = await conn.request(formatCommand({ name: query ? 'query' : 'write', args: [], kwargs }));
    const err = parseErrorReply(reply.command);
    if (err) {
      if (query) {
        this.busError(err);
        return undefined;
      }
      throw new Error(`${this.description}: ${err.message}`);
    }
    if (!query) return undefined;
    const hex = reply.command.kwargs.reply ?? '';
    return Buffer.from(hex, 'hex');
  }

  flushInput(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * A query the bus could not carry. A Timeout is a silent instrument: the Exchange times out as
   * on any link. Anything else — the adapter is away, the bus daemon refused us, a reply too long —
   * is no instrument's silence: the link goes down with the bus's reason, so the daemon shows it
   * (hw_connected=0, the reason in its log) and tries again with back-off.
   */
  private busError(err: LabwireError): void {
    if (err.code === 'Timeout') return;
    const hint = err.code === 'Unauthorized' ? ' (give the token in LABWIRE_BUS_TOKEN)' : '';
    this.fail(`the bus could not carry it: ${err.code}: ${err.message}${hint}`);
  }

  /** Takes the link down for a reason (once; a closed link stays closed). */
  private fail(reason: string): void {
    if (!this.open_) return;
    const conn = this.conn;
    this.conn = undefined;
    this.bus = undefined;
    this.open_ = false;
    conn?.destroy();
    this.emit('close', new Error(`${this.description}: ${reason}`));
  }

  async close(): Promise<void> {
    const conn = this.conn;
    const wasOpen = this.open_;
    this.conn = undefined;
    this.bus = undefined;
    this.open_ = false;
    if (conn) conn.destroy();
    if (wasOpen) this.emit('close', undefined);
  }
}

function connect(host: string, port: number, timeoutMs: number, what: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`cannot connect to ${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to ${what} (the bus daemon): ${err.message}`));
    });
  });
}

/** The `gpib://` kind for the link registry (registered by the kit's index.ts). */
export const gpibLinkKind: LinkKind<GpibLinkSpec> = {
  scheme: 'gpib',
  example: 'gpib://host:port/ADDR',
  parse: (url) => parseGpibUrl(url),
  create: (spec, options) => new GpibLink(spec, {
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    // A bus daemon on another machine that requires tokens: the token is given in the environment,
    // never in the URL (URLs are logged and shown in status).
    ...(process.env.LABWIRE_BUS_TOKEN ? { token: process.env.LABWIRE_BUS_TOKEN } : {}),
  }),
  format: formatGpibUrl,
};
