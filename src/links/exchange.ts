/**
 * The Exchange: the only way a driver talks to its hardware. One serialized, paced request/reply
 * queue per link, with reply timeouts, resynchronisation after anything that puts the link out of
 * step, detection of a link that stays open but brings no answer, and reconnection with capped
 * exponential back-off.
 *
 * What it guarantees, and why:
 * - One request in flight, FIFO. Instruments on RS-232 answer one thing at a time and carry no
 *   request ids, so the only way to know which request a reply belongs to is its position.
 * - Position alone is trusted only while the link is *in step*. A timeout, a reply the request's
 *   `validate` refuses, a corrupt frame, or any bytes while nothing is in flight (unsolicited
 *   output, a duplicated reply, a reply later than its timeout) put the link out of step. Then no
 *   reply is returned to anyone until the link is proven in step again: the input is flushed, the
 *   line must stay silent for `resyncQuietMs` (default: the reply timeout), and the family's
 *   resync probe is sent; everything until the probe's own answer is discarded as 'stray'. As the
 *   device answers in order, every reply to an earlier request has arrived before that answer, so
 *   the next reply belongs to the next request. A probe that goes unanswered starts the cycle
 *   again. Queued requests wait meanwhile; they are not sent, so their own timeouts do not run.
 * - This rests on two assumptions a link without request ids cannot avoid: the device answers in
 *   order, and each query at most once. A duplicate that arrives only after the next request was
 *   written is indistinguishable by position; it is refused when its shape does not fit that
 *   request, and the link resynchronises at the latest when the real reply then arrives unasked.
 * - A link out of step for `silentLinkMs` (counted from the write of the first unanswered request)
 *   has failed: it is closed and reconnected, and the daemon shows hw_connected=0. This is how a
 *   half-open link (a serial adapter whose instrument is off, a TCP bridge that forwards nothing)
 *   and a line that never falls silent are detected.
 * - A driver or daemon never hangs on a dead link: while down, requests fail at once.
 *
 * Requests are UTF-8 encoded when given as strings (the instruments served here speak ASCII).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import type { ExchangeLike, ExchangeOptions, Link, ReplySplitter, RequestOptions, ResyncProbe } from './types.js';
import { LinkError } from './types.js';

export interface ExchangeEvents {
  /** The link is open and onConnect succeeded: requests are served. */
  up: [];
  /** The exchange stopped serving (once per transition); requests fail fast until 'up'. */
  down: [reason: string];
  /** Bytes nobody asked for: unsolicited output, a late or duplicated reply, noise discarded during a resync. */
  stray: [bytes: Buffer];
  /** A request (or a resync probe) got no reply in time (its printable form, e.g. `in_pv_00`). */
  timeout: [request: string];
  /** The link is out of step: no reply is taken until it is proven in step again. */
  outOfStep: [reason: string];
  /** The resync succeeded (the probe was answered, or the line fell silent where there is no probe). */
  inStep: [];
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
  /** Several frames answer this request while it returns true (RequestOptions.more). */
  readonly more: ((reply: Buffer) => boolean) | undefined;
  /** The Exchange's own resync probe, not a caller's request. */
  readonly probe: boolean;
  resolve(value: Buffer | undefined): void;
  reject(err: LinkError): void;
}

interface InFlight {
  readonly request: Pending;
  timer: ReturnType<typeof setTimeout> | undefined;
  settled: boolean;
  /** performance.now() of the write, moved to each frame of a multi-frame answer (the silence timer counts from it). */
  writtenAt: number;
  /** performance.now() of the write, never moved: the latency of the whole answer counts from it. */
  readonly startedAt: number;
  /** A probe that got something else: it now waits only for a pause as long as the resync silence. */
  shortened: boolean;
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
  private readonly probe: ResyncProbe | undefined;
  /** The probe's request bytes, made anew for every probe when the family gives a function. */
  private readonly probeBytes: (() => Buffer) | undefined;
  private readonly silentLinkMs: number;
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
  /** False from anything that breaks the pairing of requests and replies until the resync succeeds. */
  private inStep = true;
  /** The line must be silent from here for resyncQuietMs before the probe goes out. */
  private quietFrom = -Infinity;
  /** When the last bytes arrived. */
  private lastByteAt = -Infinity;
  /** Bytes received while out of step, for the message when the link is given up. */
  private strayWhileOut = 0;
  private silentTimer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> | undefined;

  /** True from a 'down' until the next 'up': new requests fail at once. */
  private down = false;
  private downReason = '';
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private stopping: Promise<void> | undefined;
  /**
   * Told the time from the write to the accepted reply of every caller's request (not probes), in
   * ms: one call, no allocation, so a metrics histogram costs the hot path almost nothing.
   */
  latencyObserver: ((ms: number) => void) | undefined;

  constructor(createLink: () => Link, splitter: ReplySplitter, options: ExchangeOptions = {}) {
    super();
    this.makeLink = createLink;
    this.splitter = splitter;
    this.minGapMs = options.minGapMs ?? DEFAULTS.minGapMs;
    this.gapAfterReplyMs = options.gapAfterReplyMs ?? DEFAULTS.gapAfterReplyMs;
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    this.resyncQuietMs = options.resyncQuietMs ?? this.timeoutMs;
    this.probe = options.resyncProbe;
    const bytesOf = (r: Buffer | string): Buffer => (typeof r === 'string' ? Buffer.from(r, 'utf8') : r);
    const probe = this.probe;
    const make = probe?.makeRequest;
    this.probeBytes = probe === undefined ? undefined : make ? () => bytesOf(make()) : () => bytesOf(probe.request);
    const probeTimeout = this.probe ? (this.probe.timeoutMs ?? this.timeoutMs) : 0;
    // One full cycle: the request's timeout, the silence, the probe's wait.
    const cycle = this.timeoutMs + this.resyncQuietMs + probeTimeout;
    this.silentLinkMs = options.silentLinkMs ?? this.timeoutMs + 2 * (this.resyncQuietMs + probeTimeout);
    if (!(this.silentLinkMs >= cycle)) {
      throw new Error(
        `a silent-link time of ${options.silentLinkMs} ms is too short: one resync with this device takes up to ${cycle} ms (reply timeout ${this.timeoutMs} ms, silence ${this.resyncQuietMs} ms${probeTimeout > 0 ? `, probe ${probeTimeout} ms` : ''}); give at least ${cycle} ms`,
      );
    }
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

  /** Whether replies are currently taken by position; false while a resync is under way. */
  get isInStep(): boolean {
    return this.inStep;
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
    this.clearSilentTimer();
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
        more: options.more,
        probe: false,
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
    // A fresh connection carries nothing of the old one.
    this.clearSilentTimer();
    this.inStep = true;

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
    this.clearSilentTimer();
    // A pump asleep in a resync must not hold the queue when the next connection comes up.
    this.wake();
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
        if ((this.state !== 'up' && this.state !== 'handshake') || !this.link) return;
        if (this.flushing) {
          await this.flushing;
          continue;
        }
        if (!this.inStep) {
          await this.resyncStep();
          continue;
        }
        const lane = this.servableLane();
        if (!lane || lane.length === 0) return;
        // Nothing is in flight, so an unfinished reply in the splitter belongs to no request.
        const partial = this.takePartial();
        if (partial.length > 0) {
          this.safeEmit('stray', partial);
          this.goOutOfStep(`unfinished bytes nobody asked for ("${describeBytes(partial)}")`, performance.now());
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

  /** One step towards being in step again: wait for silence, then probe (or, without a probe, trust the silence). */
  private async resyncStep(): Promise<void> {
    const quiet = this.quietFrom + this.resyncQuietMs - performance.now();
    if (quiet > 0) {
      await this.sleep(quiet);
      return;
    }
    const partial = this.takePartial();
    if (partial.length > 0) this.safeEmit('stray', partial);
    if (!this.probe || !this.probeBytes) {
      this.setInStep();
      return;
    }
    const delay = this.pacingDelay();
    if (delay > 0) {
      await this.sleep(delay);
      return;
    }
    // Outcomes are handled where the answer is recognised (onData) or the wait ends (onTimeout).
    const probeBytes = this.probeBytes();
    await this.execute({
      data: probeBytes,
      text: describeBytes(probeBytes),
      expectReply: true,
      timeoutMs: this.probe.timeoutMs ?? this.timeoutMs,
      validate: undefined,
      more: undefined,
      probe: true,
      resolve: () => undefined,
      reject: () => undefined,
    });
  }

  private takePartial(): Buffer {
    if (this.splitter.takePartial) return this.splitter.takePartial();
    this.splitter.reset();
    return Buffer.alloc(0);
  }

  private pacingDelay(): number {
    const now = performance.now();
    const earliest = Math.max(this.lastWriteAt + this.minGapMs, this.lastReplyAt + this.gapAfterReplyMs);
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
    return new Promise<void>((finish) => {
      const now = performance.now();
      const flight: InFlight = { request, timer: undefined, settled: false, writtenAt: now, startedAt: now, shortened: false, finish };
      this.inFlight = flight;
      this.lastWriteAt = now;
      // The timer runs from the write on: a write stuck behind RTS/CTS must time out too.
      flight.timer = setTimeout(() => this.onTimeout(flight), request.timeoutMs);
      link.write(request.data, { expectReply: request.expectReply, timeoutMs: request.timeoutMs }).then(
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
    // A reply may still come: from now on it would be late, and must not answer anything.
    this.goOutOfStep(message, flight.writtenAt);
    // A probe that got only other bytes, then that long a pause: the line is quiet enough to probe again at once.
    if (request.probe && flight.shortened) this.quietFrom = this.lastByteAt;
    this.settle(flight, () => request.reject(new LinkError('Timeout', message)));
    this.safeEmit('timeout', request.text);
  }

  // ---------------------------------------------------------------- incoming bytes

  private onData(chunk: Buffer): void {
    this.lastByteAt = performance.now();
    const flight = this.inFlight;
    const probing = flight !== undefined && flight.request.probe && !flight.settled;
    if (!this.inStep) {
      // Every byte while out of step restarts the required silence.
      this.quietFrom = this.lastByteAt;
      this.strayWhileOut += chunk.length;
      if (!probing) {
        this.safeEmit('stray', chunk);
        return;
      }
    }
    let replies: Buffer[];
    try {
      replies = this.splitter.push(chunk);
    } catch (err) {
      if (probing) {
        // Noise while probing, perhaps the probe's own answer garbled.
        this.safeEmit('stray', chunk);
        this.shortenProbe(flight);
        return;
      }
      const reason = `bad reply${flight?.request.expectReply ? ` to "${flight.request.text}"` : ''} from ${this.endpointName}: ${errorText(err)}`;
      this.goOutOfStep(reason, performance.now());
      if (flight?.request.expectReply) {
        const { request } = flight;
        this.settle(flight, () => request.reject(new LinkError('CommunicationFailed', reason)));
      }
      return;
    }
    for (const reply of replies) this.onReply(reply);
  }

  private onReply(reply: Buffer): void {
    const flight = this.inFlight;
    if (!flight || !flight.request.expectReply || flight.settled) {
      // Unsolicited output, a duplicate, or a reply later than its timeout: whatever it is, the
      // positions of the replies that follow can no longer be trusted.
      this.safeEmit('stray', reply);
      if (this.inStep) this.goOutOfStep(`a reply nobody asked for ("${describeBytes(reply)}")`, performance.now());
      return;
    }
    const { request } = flight;
    if (request.probe) {
      if (!this.isProbeAnswer(reply)) {
        // A late reply to something before the probe, or the probe's answer garbled: discarded.
        this.safeEmit('stray', reply);
        this.shortenProbe(flight);
        return;
      }
      this.lastReplyAt = performance.now();
      this.settle(flight, () => request.resolve(reply));
      this.setInStep();
      return;
    }
    this.lastReplyAt = performance.now();
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
    if (accepted && request.more) {
      let more: boolean;
      try {
        more = request.more(reply);
      } catch (err) {
        more = false;
        accepted = false;
        why = `: ${errorText(err)}`;
      }
      if (accepted && more) {
        // The next frame of the same answer: the request stays in flight, its silence timer restarts.
        // A frame is an answer: a silence after it counts from here, for the silent-link time too.
        flight.writtenAt = this.lastReplyAt;
        if (flight.timer) clearTimeout(flight.timer);
        flight.timer = setTimeout(() => this.onTimeout(flight), request.timeoutMs);
        return;
      }
    }
    if (accepted) {
      this.latencyObserver?.(this.lastReplyAt - flight.startedAt);
      this.settle(flight, () => request.resolve(reply));
      return;
    }
    const message = `unexpected reply "${describeBytes(reply)}" to "${request.text}" from ${this.endpointName}${why}`;
    this.goOutOfStep(message, performance.now());
    this.settle(flight, () => request.reject(new LinkError('CommunicationFailed', message)));
  }

  /**
   * Something other than the answer came while probing. The device answers in order, so the
   * probe's answer follows the late bytes closely; if the line then pauses as long as the resync
   * silence, the answer was lost or garbled, and waiting the probe's full timeout would only delay
   * the next probe.
   */
  private shortenProbe(flight: InFlight): void {
    flight.shortened = true;
    if (flight.timer) clearTimeout(flight.timer);
    const left = Math.max(0, Math.min(flight.writtenAt + flight.request.timeoutMs, this.lastByteAt + this.resyncQuietMs) - performance.now());
    flight.timer = setTimeout(() => this.onTimeout(flight), left);
  }

  private isProbeAnswer(reply: Buffer): boolean {
    try {
      return this.probe?.isAnswer(reply) === true;
    } catch {
      return false;
    }
  }

  /**
   * From now on no reply is taken by position: forget any partial reply, flush the input, and let
   * the pump drain and probe. `since` is when the device was last asked without answering, the
   * start of the silentLinkMs count; a second cause while already out of step only restarts the
   * silence.
   */
  private goOutOfStep(reason: string, since: number): void {
    const partial = this.takePartial();
    if (partial.length > 0) this.safeEmit('stray', partial);
    this.quietFrom = performance.now();
    this.startFlush();
    if (this.inStep) {
      this.inStep = false;
      this.strayWhileOut = 0;
      this.clearSilentTimer();
      const link = this.link;
      this.silentTimer = setTimeout(() => {
        this.silentTimer = undefined;
        if (link && !this.inStep) this.linkFailed(link, this.silentLinkReason());
      }, Math.max(0, since + this.silentLinkMs - performance.now()));
      this.safeEmit('outOfStep', reason);
    }
    this.kick();
  }

  private silentLinkReason(): string {
    const seconds = `${Math.round(this.silentLinkMs / 100) / 10} s`;
    return this.strayWhileOut > 0
      ? `the device does not answer in step: for ${seconds} ${this.endpointName} sent only bytes that answered nothing (${this.strayWhileOut}; replies later than the ${this.timeoutMs} ms reply timeout, or a noisy line)`
      : `the device does not answer: nothing came from ${this.endpointName} for ${seconds} (is it switched on, cabled, and in remote mode?)`;
  }

  private setInStep(): void {
    this.clearSilentTimer();
    if (this.inStep) return;
    this.inStep = true;
    this.safeEmit('inStep');
  }

  private clearSilentTimer(): void {
    if (this.silentTimer) clearTimeout(this.silentTimer);
    this.silentTimer = undefined;
  }

  /** Drops what the OS holds for reading; bounded, so a stuck flush cannot stall the queue. */
  private startFlush(): void {
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
