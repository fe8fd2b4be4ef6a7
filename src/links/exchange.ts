/**
 * The Exchange: the only way a driver talks to its hardware. One serialized, paced request/reply
 * queue per link, with reply timeouts, flush-and-resync after a timeout or a garbled reply, and
 * reconnection with capped exponential back-off.
 *
 * Why so strict:
 * - Instruments on RS-232 answer one thing at a time and have no request ids: the only way to know
 *   which request a reply belongs to is to never have two outstanding (one in flight, FIFO).
 * - A reply that arrives after its timeout must never be taken as the answer to the next request
 *   (the classic pyvisa/StreamDevice failure), hence the quiet period after every timeout.
 * - A driver or daemon must never hang on a dead link: while down, requests fail at once.
 *
 * Requests are UTF-8 encoded when given as strings (the instruments served here speak ASCII).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import type { ExchangeLike, ExchangeOptions, Link, ReplySplitter, RequestOptions } from './types.js';
import { LinkError } from './types.js';

export interface ExchangeEvents {
  /** The link is open and onConnect succeeded: requests are served. */
  up: [];
  /** The exchange stopped serving (once per transition); requests fail fast until 'up'. */
  down: [reason: string];
  /** Bytes nobody asked for: unsolicited output, a late reply, noise discarded during a resync. */
  stray: [bytes: Buffer];
  /** A request got no reply in time (its printable form, e.g. `in_pv_00`). */
  timeout: [request: string];
  /** The next connection attempt is scheduled. */
  reconnecting: [info: { attempt: number; delayMs: number }];
}

type State = 'idle' | 'connecting' | 'handshake' | 'up' | 'waiting' | 'stopped';

interface Pending {
  readonly data: Buffer;
  /** Printable form for messages, without the terminator. */
  readonly text: string;
  readonly expectReply: boolean;
  readonly timeoutMs: number;
  readonly validate: ((reply: Buffer) => boolean) | undefined;
  resolve(value: Buffer | undefined): void;
  reject(err: LinkError): void;
}

interface InFlight {
  readonly request: Pending;
  timer: ReturnType<typeof setTimeout> | undefined;
  settled: boolean;
  /** Lets the queue move on. */
  readonly finish: () => void;
}

const DEFAULTS = {
  minGapMs: 0,
  gapAfterReplyMs: 0,
  timeoutMs: 2000,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
};

/** How long a flushInput may take before the queue moves on without it. */
const FLUSH_LIMIT_MS = 1000;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Printable, bounded form of request or reply bytes for error messages and events. */
export function describeBytes(bytes: Buffer, maxChars = 80): string {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0d || bytes[end - 1] === 0x0a || bytes[end - 1] === 0x00)) end -= 1;
  let out = '';
  for (let i = 0; i < end; i += 1) {
    if (out.length >= maxChars) {
      out += '…';
      break;
    }
    const b = bytes[i] ?? 0;
    if (b === 0x0d) out += '\\r';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b < 0x20 || b > 0x7e) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

export class Exchange extends EventEmitter<ExchangeEvents> implements ExchangeLike {
  private readonly makeLink: () => Link;
  private readonly splitter: ReplySplitter;
  private readonly minGapMs: number;
  private readonly gapAfterReplyMs: number;
  private readonly timeoutMs: number;
  private readonly resyncQuietMs: number;
  /** A line that never falls silent must not stall the queue for ever. */
  private readonly maxResyncMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly onConnect: ExchangeOptions['onConnect'];

  private state: State = 'idle';
  private link: Link | undefined;
  private detachLink: (() => void) | undefined;
  private endpointName = '(no link yet)';
  /** Bumped whenever a connection ends or stop() runs; async steps of an older one then bail out. */
  private generation = 0;

  private readonly queue: Pending[] = [];
  /** Requests made from inside onConnect; served before the exchange is 'up'. */
  private readonly handshakeQueue: Pending[] = [];
  private readonly handshakeContext = new AsyncLocalStorage<object>();
  private handshakeToken: object | undefined;
  private inFlight: InFlight | undefined;
  private pumping = false;
  private sleepTimer: ReturnType<typeof setTimeout> | undefined;
  private wakeSleeper: (() => void) | undefined;

  private lastWriteAt = -Infinity;
  private lastReplyAt = -Infinity;
  private resyncing = false;
  private quietUntil = -Infinity;
  private resyncDeadline = -Infinity;
  private flushing: Promise<void> | undefined;

  /** True from a 'down' until the next 'up': new requests fail at once. */
  private down = false;
  private downReason = '';
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(createLink: () => Link, splitter: ReplySplitter, options: ExchangeOptions = {}) {
    super();
    this.makeLink = createLink;
    this.splitter = splitter;
    this.minGapMs = options.minGapMs ?? DEFAULTS.minGapMs;
    this.gapAfterReplyMs = options.gapAfterReplyMs ?? DEFAULTS.gapAfterReplyMs;
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    this.resyncQuietMs = options.resyncQuietMs ?? Math.max(100, this.minGapMs);
    this.maxResyncMs = Math.max(10 * this.resyncQuietMs, this.timeoutMs);
    this.initialBackoffMs = options.initialBackoffMs ?? DEFAULTS.initialBackoffMs;
    this.maxBackoffMs = Math.max(options.maxBackoffMs ?? DEFAULTS.maxBackoffMs, this.initialBackoffMs);
    this.onConnect = options.onConnect;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Requests waiting for their turn (the one in flight not counted). */
  get queueLength(): number {
    return this.queue.length + this.handshakeQueue.length;
  }

  /** The link's description, e.g. `tcp://127.0.0.1:5050`, once a link was created. */
  get endpoint(): string {
    return this.endpointName;
  }

  /**
   * Opens the link (and runs onConnect). Resolves when the first attempt has ended, either 'up' or
   * 'down' with a reconnect scheduled; never rejects.
   */
  start(): Promise<void> {
    if (this.state === 'stopped') throw new Error(`the exchange with ${this.endpointName} was stopped and cannot be restarted`);
    if (this.state !== 'idle') return Promise.resolve();
    return this.connect();
  }

  /** Fails every queued request with LinkError('Closed'), closes the link, stops reconnecting. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.state = 'stopped';
    this.generation += 1;
    this.handshakeToken = undefined;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.wake();
    const flight = this.inFlight;
    if (flight) {
      this.settle(flight, () => flight.request.reject(new LinkError('Closed', `"${flight.request.text}" aborted: the exchange with ${this.endpointName} was stopped`)));
    }
    this.rejectQueued((p) => new LinkError('Closed', `"${p.text}" not sent: the exchange with ${this.endpointName} was stopped`));
    const link = this.releaseLink();
    this.stopping = link ? link.close().catch(() => undefined) : Promise.resolve();
    return this.stopping;
  }

  request(data: Buffer | string, options: RequestOptions = {}): Promise<Buffer | undefined> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const text = describeBytes(bytes);
    if (this.state === 'stopped') {
      return Promise.reject(new LinkError('Closed', `"${text}" not sent: the exchange with ${this.endpointName} was stopped`));
    }
    if (this.state === 'idle') {
      return Promise.reject(new LinkError('CommunicationFailed', `"${text}" not sent: no link to ${this.endpointName}: not started`));
    }
    const fromHandshake =
      this.state === 'handshake' && this.handshakeToken !== undefined && this.handshakeContext.getStore() === this.handshakeToken;
    if (this.down && !fromHandshake) return Promise.reject(this.noLinkError());
    return new Promise<Buffer | undefined>((resolve, reject) => {
      const pending: Pending = {
        data: bytes,
        text,
        expectReply: options.expectReply ?? true,
        timeoutMs: options.timeoutMs ?? this.timeoutMs,
        validate: options.validate,
        resolve,
        reject,
      };
      (fromHandshake ? this.handshakeQueue : this.queue).push(pending);
      this.kick();
    });
  }

  // ---------------------------------------------------------------- connection lifecycle

  private async connect(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const generation = ++this.generation;
    let link: Link;
    try {
      link = this.makeLink();
    } catch (err) {
      this.goDown(`cannot create the link: ${errorText(err)}`);
      return;
    }
    this.endpointName = link.description;
    // A Link that emits 'error' after we let go of it must not crash the process.
    link.on('error', () => undefined);
    try {
      await link.open();
    } catch (err) {
      if (generation !== this.generation) return;
      this.goDown(errorText(err));
      return;
    }
    if (generation !== this.generation) {
      // stop() ran while opening.
      await link.close().catch(() => undefined);
      return;
    }
    this.attachLink(link);
    this.splitter.reset();
    this.resyncing = false;

    const onConnect = this.onConnect;
    if (onConnect) {
      this.state = 'handshake';
      const token = {};
      this.handshakeToken = token;
      try {
        await this.handshakeContext.run(token, () => onConnect(this));
      } catch (err) {
        if (generation !== this.generation) return;
        this.linkFailed(link, `handshake with ${this.endpointName} failed: ${errorText(err)}`);
        return;
      }
      if (generation !== this.generation) return;
      this.handshakeToken = undefined;
    }
    this.state = 'up';
    this.attempt = 0;
    this.down = false;
    this.downReason = '';
    this.safeEmit('up');
    this.kick();
  }

  private attachLink(link: Link): void {
    this.link = link;
    const onData = (chunk: Buffer): void => {
      if (this.link === link) this.onData(chunk);
    };
    const onClose = (err?: Error): void => {
      if (this.link === link) this.linkFailed(link, err ? err.message : `${link.description} closed`);
    };
    const onError = (err: Error): void => {
      if (this.link === link) this.linkFailed(link, err.message);
    };
    link.on('data', onData);
    link.on('close', onClose);
    link.on('error', onError);
    this.detachLink = () => {
      link.off('data', onData);
      link.off('close', onClose);
      link.off('error', onError);
    };
  }

  /** Forgets the current link without closing it; returns it for the caller to close. */
  private releaseLink(): Link | undefined {
    const link = this.link;
    this.detachLink?.();
    this.detachLink = undefined;
    this.link = undefined;
    this.flushing = undefined;
    return link;
  }

  /** The connection broke (close event, write error, failed handshake). */
  private linkFailed(link: Link, reason: string): void {
    if (link !== this.link || this.state === 'stopped') return;
    this.releaseLink();
    this.generation += 1;
    void link.close().catch(() => undefined);
    const flight = this.inFlight;
    if (flight) {
      const what = flight.request.expectReply ? `no reply to "${flight.request.text}"` : `"${flight.request.text}" maybe not sent`;
      this.settle(flight, () => flight.request.reject(new LinkError('CommunicationFailed', `${what}: link to ${this.endpointName} lost (${reason})`)));
    }
    this.goDown(reason);
  }

  private goDown(reason: string): void {
    if (this.state === 'stopped') return;
    this.downReason = reason;
    this.handshakeToken = undefined;
    this.resyncing = false;
    const wasDown = this.down;
    this.down = true;
    this.state = 'waiting';
    this.rejectQueued(() => this.noLinkError());
    if (!wasDown) this.safeEmit('down', reason);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state === 'stopped') return; // a 'down' listener may have called stop()
    this.attempt += 1;
    const delayMs = Math.min(this.initialBackoffMs * 2 ** Math.min(this.attempt - 1, 30), this.maxBackoffMs);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delayMs);
    this.safeEmit('reconnecting', { attempt: this.attempt, delayMs });
  }

  private noLinkError(): LinkError {
    return new LinkError('CommunicationFailed', `no link to ${this.endpointName}: ${this.downReason}; reconnecting`);
  }

  private rejectQueued(makeError: (p: Pending) => LinkError): void {
    for (const lane of [this.handshakeQueue, this.queue]) {
      for (const pending of lane.splice(0)) pending.reject(makeError(pending));
    }
  }

  // ---------------------------------------------------------------- the queue

  private kick(): void {
    if (!this.pumping) void this.pump();
  }

  private servableLane(): Pending[] | undefined {
    if (this.state === 'handshake') return this.handshakeQueue;
    if (this.state === 'up') return this.handshakeQueue.length > 0 ? this.handshakeQueue : this.queue;
    return undefined;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        const lane = this.servableLane();
        if (!lane || lane.length === 0) return;
        if (this.flushing) {
          await this.flushing;
          continue;
        }
        const delay = this.pacingDelay();
        if (delay > 0) {
          await this.sleep(delay);
          continue;
        }
        const next = lane.shift();
        if (next) await this.execute(next);
      }
    } catch (err) {
      // Not expected; keep the exchange usable rather than leaving the queue stuck.
      if (this.link) this.linkFailed(this.link, `internal error: ${errorText(err)}`);
    } finally {
      this.pumping = false;
    }
  }

  private pacingDelay(): number {
    const now = performance.now();
    let earliest = Math.max(this.lastWriteAt + this.minGapMs, this.lastReplyAt + this.gapAfterReplyMs);
    if (this.resyncing) earliest = Math.max(earliest, Math.min(this.quietUntil, this.resyncDeadline));
    return earliest - now;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeSleeper = resolve;
      // ceil: a timer rounded down could wake a fraction early and spin once more.
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = undefined;
        this.wakeSleeper = undefined;
        resolve();
      }, Math.ceil(ms));
    });
  }

  private wake(): void {
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.sleepTimer = undefined;
    const wake = this.wakeSleeper;
    this.wakeSleeper = undefined;
    wake?.();
  }

  private execute(request: Pending): Promise<void> {
    const link = this.link;
    if (!link) {
      request.reject(this.noLinkError());
      return Promise.resolve();
    }
    // Nothing is in flight, so an unfinished reply in the splitter belongs to no request.
    if (this.splitter.takePartial) {
      const partial = this.splitter.takePartial();
      if (partial.length > 0) this.safeEmit('stray', partial);
    } else {
      this.splitter.reset();
    }
    this.resyncing = false;
    return new Promise<void>((finish) => {
      const flight: InFlight = { request, timer: undefined, settled: false, finish };
      this.inFlight = flight;
      this.lastWriteAt = performance.now();
      // The timer runs from the write on: a write stuck behind RTS/CTS must time out too.
      flight.timer = setTimeout(() => this.onTimeout(flight), request.timeoutMs);
      link.write(request.data).then(
        () => {
          if (!request.expectReply) this.settle(flight, () => request.resolve(undefined));
        },
        (err: unknown) => {
          if (!flight.settled) this.linkFailed(link, `write failed: ${errorText(err)}`);
        },
      );
    });
  }

  /** Ends a request exactly once, then lets the queue move on. */
  private settle(flight: InFlight, outcome: () => void): void {
    if (flight.settled) return;
    flight.settled = true;
    if (flight.timer) clearTimeout(flight.timer);
    if (this.inFlight === flight) this.inFlight = undefined;
    outcome();
    flight.finish();
  }

  private onTimeout(flight: InFlight): void {
    if (flight.settled) return;
    const { request } = flight;
    const message = request.expectReply
      ? `no reply to "${request.text}" within ${request.timeoutMs} ms from ${this.endpointName}`
      : `could not send "${request.text}" to ${this.endpointName} within ${request.timeoutMs} ms`;
    this.startResync();
    this.settle(flight, () => request.reject(new LinkError('Timeout', message)));
    this.safeEmit('timeout', request.text);
  }

  // ---------------------------------------------------------------- incoming bytes

  private onData(chunk: Buffer): void {
    if (this.resyncing) {
      // Everything until the line is quiet is a late reply or noise: never a reply to what comes next.
      this.quietUntil = performance.now() + this.resyncQuietMs;
      this.safeEmit('stray', chunk);
      return;
    }
    let replies: Buffer[];
    try {
      replies = this.splitter.push(chunk);
    } catch (err) {
      const flight = this.inFlight;
      this.startResync();
      if (flight?.request.expectReply) {
        const { request } = flight;
        this.settle(flight, () =>
          request.reject(new LinkError('CommunicationFailed', `bad reply to "${request.text}" from ${this.endpointName}: ${errorText(err)}`)),
        );
      }
      return;
    }
    for (let i = 0; i < replies.length; i += 1) {
      const reply = replies[i] as Buffer;
      const flight = this.inFlight;
      if (!flight || !flight.request.expectReply || flight.settled) {
        this.safeEmit('stray', reply);
        continue;
      }
      this.lastReplyAt = performance.now();
      const { request } = flight;
      let accepted = true;
      let why = '';
      if (request.validate) {
        try {
          accepted = request.validate(reply);
        } catch (err) {
          accepted = false;
          why = `: ${errorText(err)}`;
        }
      }
      if (accepted) {
        this.settle(flight, () => request.resolve(reply));
        continue;
      }
      this.startResync();
      this.settle(flight, () =>
        request.reject(
          new LinkError('CommunicationFailed', `unexpected reply "${describeBytes(reply)}" to "${request.text}" from ${this.endpointName}${why}`),
        ),
      );
      for (const rest of replies.slice(i + 1)) this.safeEmit('stray', rest);
      return;
    }
  }

  /** After a timeout or a reply that cannot be right: forget, flush, and wait for silence. */
  private startResync(): void {
    const now = performance.now();
    this.splitter.reset();
    this.resyncing = true;
    this.quietUntil = now + this.resyncQuietMs;
    this.resyncDeadline = now + this.maxResyncMs;
    const link = this.link;
    if (!link) return;
    let limit: ReturnType<typeof setTimeout> | undefined;
    const flushing: Promise<void> = Promise.race([
      link.flushInput().catch(() => undefined),
      new Promise<void>((resolve) => {
        limit = setTimeout(resolve, FLUSH_LIMIT_MS);
      }),
    ]).then(() => {
      clearTimeout(limit);
      if (this.flushing === flushing) this.flushing = undefined;
    });
    this.flushing = flushing;
  }

  /**
   * Emits without letting a throwing listener corrupt the queue state; the listener's error still
   * surfaces as an uncaught exception, as it would from a plain EventEmitter.
   */
  private safeEmit<K extends keyof ExchangeEvents>(event: K, ...args: ExchangeEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ExchangeEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
