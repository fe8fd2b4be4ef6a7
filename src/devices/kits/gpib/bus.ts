/**
 * The GPIB bus behind one Prologix adapter: the one owner of the adapter link. It initialises the
 * adapter, and turns each addressed transaction into one Exchange request, so the Exchange's rules
 * (one request in flight, pairing by position only while in step, resync, silent-link detection,
 * reconnect with back-off) hold for the bus exactly as for any instrument link.
 *
 * One transaction on the wire: `++addr N` when the address changes, `++read_tmo_ms T` when the
 * asker's timeout differs from the adapter's, the escaped data line, `++read eoi` for a query,
 * and always `++ver`. The adapter answers the version line after the read is over, whether the
 * instrument said something or not, so the reply is exactly the bytes before it: a silent
 * instrument costs its asker one read timeout and a Timeout error, and the bus moves on in step.
 */
import type { ExchangeLike } from '../../../links/types.js';
import { LinkError } from '../../../links/types.js';
import { LabwireError } from '../../../wire/types.js';
import {
  MAX_READ_TMO_MS,
  MIN_READ_TMO_MS,
  UNRECOGNIZED,
  command,
  dataLine,
  isAddress,
  splitTransaction,
} from './codec.js';

export interface GpibBusOptions {
  /** `++eos`: 0 CR LF, 1 CR, 2 LF, 3 nothing (EOI only). Default 2. */
  eos: 0 | 1 | 2 | 3;
  /** The adapter's read timeout when an asker gives none (`++read_tmo_ms`, 1–3000). Default 1000. */
  readTimeoutMs: number;
  /** Added to the read timeout for the whole transaction: a dead adapter is found after this. */
  marginMs: number;
}

export const GPIB_BUS_DEFAULTS: GpibBusOptions = { eos: 2, readTimeoutMs: 1000, marginMs: 2000 };

export interface AddressStats {
  transactions: number;
  timeouts: number;
  errors: number;
  /** Answered at least once since the bus started. */
  present: boolean;
  lastError: string;
}

/** What the labwire side, the CCDLab multiplexor and in-process links need of a bus. */
export interface GpibBusLike {
  /** Sends `data` to the instrument at `address` and returns its reply (any bytes, its own terminator included). */
  query(address: number, data: Buffer, options?: TransactionOptions): Promise<Buffer>;
  /** Sends `data` to the instrument; resolves when the adapter has taken it. */
  write(address: number, data: Buffer, options?: TransactionOptions): Promise<void>;
  readonly isUp: boolean;
}

export interface TransactionOptions {
  /** For a query: how long the instrument may take to answer (the adapter's read timeout, 1–3000 ms). */
  timeoutMs?: number;
  /** An asker that went away: its transactions still waiting are dropped, never sent. */
  signal?: AbortSignal;
  /**
   * performance.now() after which the asker no longer waits: a transaction still queued then is
   * dropped, never sent — a write its asker was told had failed must not reach the instrument later.
   */
  notAfter?: number;
}

export class GpibBus implements GpibBusLike {
  private readonly opts: GpibBusOptions;
  /** What the adapter is set to; undefined after a (re)connect until we set it. */
  private currentAddress: number | undefined;
  /** For reporting only: `currentAddress` is forgotten while a transaction is in flight. */
  private lastAddress: number | undefined;
  private currentReadTmo: number | undefined;
  private versionText = '';
  private connects = 0;
  private readonly stats = new Map<number, AddressStats>();
  /** Transactions queued or in flight, so an address switch is decided in queue order. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly exchange: ExchangeLike, options: Partial<GpibBusOptions> = {}) {
    this.opts = { ...GPIB_BUS_DEFAULTS, ...options };
  }

  get isUp(): boolean {
    return this.exchange.isUp;
  }

  /** The adapter's `++ver` line, e.g. `Prologix GPIB-ETHERNET Controller version 01.06.06.00`. */
  get version(): string {
    return this.versionText;
  }

  /** The address the adapter is set to; -1 before the first transaction (CCDLab's `current_addr`). */
  /** The address last sent with `++addr`, as CCDLab's gpib.py reports it (-1 before the first). */
  get address(): number {
    return this.lastAddress ?? -1;
  }

  /** Connections made to the adapter; more than one means it was lost (taken over, dropped) and regained. */
  get connections(): number {
    return this.connects;
  }

  addressStats(): ReadonlyMap<number, Readonly<AddressStats>> {
    return this.stats;
  }

  /**
   * Runs after every (re)connect, before anything else: CONTROLLER mode, read only on request,
   * EOI on the last byte, our end-of-string, the default read timeout. `++savecfg 0` first, so
   * none of this wears the adapter's EEPROM or outlives us.
   */
  async init(): Promise<{ version: string }> {
    this.currentAddress = undefined;
    this.currentReadTmo = undefined;
    const tmo = clampTmo(this.opts.readTimeoutMs);
    const lines = [
      command('savecfg', 0),
      command('mode', 1),
      command('auto', 0),
      command('eoi', 1),
      command('eos', this.opts.eos),
      command('eot_enable', 0),
      command('read_tmo_ms', tmo),
      command('ver'),
    ];
    const frame = await this.exchange.request(Buffer.concat(lines), { timeoutMs: tmo + this.opts.marginMs });
    const { reply, version } = splitTransaction(frame ?? Buffer.alloc(0));
    if (reply.toString('latin1').includes(UNRECOGNIZED)) {
      throw new LinkError('CommunicationFailed', `the adapter refused part of its set-up (${reply.toString('latin1').trim()}); is it a Prologix GPIB-ETHERNET in a firmware that knows ++savecfg, ++eot_enable and ++read_tmo_ms?`);
    }
    this.currentReadTmo = tmo;
    this.versionText = version;
    this.connects += 1;
    return { version };
  }

  query(address: number, data: Buffer, options: TransactionOptions = {}): Promise<Buffer> {
    return this.transact(address, data, true, options).then((r) => r!);
  }

  async write(address: number, data: Buffer, options: TransactionOptions = {}): Promise<void> {
    await this.transact(address, data, false, options);
  }

  /** Proves the adapter answers (a keepalive that also finds a half-open link); returns its version. */
  async ping(): Promise<string> {
    const run = this.tail.then(() => this.exchange.request(command('ver'), { timeoutMs: this.opts.marginMs }));
    this.tail = run.catch(() => undefined);
    return splitTransaction((await run) ?? Buffer.alloc(0)).version;
  }

  private transact(address: number, data: Buffer, read: boolean, options: TransactionOptions): Promise<Buffer | undefined> {
    if (!isAddress(address) || address === 0) {
      return Promise.reject(new LabwireError('RangeError', `GPIB address ${address} is not an instrument address: use 1 to 30`, read ? 'query' : 'write'));
    }
    const stats = this.statsOf(address);
    stats.transactions += 1;
    // Chained so that what the adapter's address and read timeout will be when this one is
    // written is known now: requests leave the Exchange in the order they were made.
    const run = this.tail.then(() => {
      if (options.signal?.aborted) throw new LabwireError('CommunicationFailed', `GPIB address ${address}: the asker went away; not sent`, read ? 'query' : 'write');
      if (options.notAfter !== undefined && performance.now() > options.notAfter) {
        throw new LabwireError('Timeout', `GPIB address ${address}: the asker's time ran out while the bus was busy; not sent`, read ? 'query' : 'write');
      }
      return this.send(address, data, read, options.timeoutMs);
    });
    this.tail = run.catch(() => undefined);
    return run.then(
      (reply) => {
        if (read) stats.present = true;
        return reply;
      },
      (err: unknown) => {
        const e = asError(err, address);
        if (e.code === 'Timeout') stats.timeouts += 1;
        else stats.errors += 1;
        stats.lastError = e.message;
        throw e;
      },
    );
  }

  private async send(address: number, data: Buffer, read: boolean, timeoutMs: number | undefined): Promise<Buffer | undefined> {
    const tmo = clampTmo(timeoutMs ?? this.opts.readTimeoutMs);
    const parts: Buffer[] = [];
    if (this.currentAddress !== address) parts.push(command('addr', address));
    this.lastAddress = address;
    if (read && this.currentReadTmo !== tmo) parts.push(command('read_tmo_ms', tmo));
    parts.push(dataLine(data));
    if (read) parts.push(command('read', 'eoi'));
    parts.push(command('ver'));
    // Whatever happens to this request, the adapter may have taken the settings: forget them
    // unless it is proven (a reply in step) that they hold.
    this.currentAddress = undefined;
    if (read) this.currentReadTmo = undefined;
    const frame = await this.exchange.request(Buffer.concat(parts), { timeoutMs: (read ? tmo : 0) + this.opts.marginMs });
    this.currentAddress = address;
    if (read) this.currentReadTmo = tmo;
    const { reply } = splitTransaction(frame ?? Buffer.alloc(0));
    if (!read) return undefined;
    if (reply.length === 0) {
      throw new LabwireError('Timeout', `the instrument at GPIB address ${address} did not answer within ${tmo} ms (is it on, at that address, and was the request a query?)`, 'query');
    }
    return reply;
  }

  private statsOf(address: number): AddressStats {
    let s = this.stats.get(address);
    if (!s) {
      s = { transactions: 0, timeouts: 0, errors: 0, present: false, lastError: '' };
      this.stats.set(address, s);
    }
    return s;
  }
}

function clampTmo(ms: number): number {
  return Math.min(MAX_READ_TMO_MS, Math.max(MIN_READ_TMO_MS, Math.round(ms)));
}

function asError(err: unknown, address: number): LabwireError {
  if (err instanceof LabwireError) return err;
  if (err instanceof LinkError) {
    const code = err.code === 'Timeout' ? 'Timeout' : 'CommunicationFailed';
    return new LabwireError(code, `GPIB address ${address}: the adapter link failed: ${err.message}`, '');
  }
  return new LabwireError('InternalError', `GPIB address ${address}: ${err instanceof Error ? err.message : String(err)}`, '');
}
