/**
 * One `waitFor`: reads the values, follows pushed updates (or polls a peer that cannot push),
 * re-reads after every reconnect, and ends when the condition has held for the stable time, on
 * the timeout, an abort, a closed client or an error. Written as a class with one field per piece
 * of state so that each transition (a reading, a lost connection, the end) is one method.
 */
import type { EventEmitter } from 'node:events';
import { LabwireError, formatValue, type DescribeDoc } from '../wire/index.js';
import type { ConditionValue } from './condition.js';
import { duration, toError } from './replies.js';
import type { Snapshot } from './snapshot.js';
import type { Subscriber, Subscriptions } from './subscriptions.js';
import type { LabwireClientEvents, Update, Values, WaitForOptions } from './types.js';
import { convertValue } from './values.js';

/** The lifecycle events a wait follows. */
export type WaitLifecycle = EventEmitter<Pick<LabwireClientEvents, 'connected' | 'disconnected' | 'close' | 'reconnectFailed'>>;

/** What a wait needs from its client. */
export interface WaitHost {
  readonly connected: boolean;
  readonly reconnects: boolean;
  /** Connected, or connection attempts under way. */
  readonly trying: boolean;
  readonly closing: boolean;
  readonly endpoint: string;
  readonly lastError: Error | undefined;
  readonly lifecycle: WaitLifecycle;
  readonly subscriptions: Subscriptions;
  snapshot(): Promise<Snapshot>;
  /** The peer's description, read once per connection; undefined when it has none. */
  describe(): Promise<DescribeDoc | undefined>;
}

/** What the condition is: its text and names for messages, and the test. */
export interface WaitCondition {
  source: string;
  names: string[];
  test: (values: Values) => boolean;
}

function isTransient(err: unknown): boolean {
  return err instanceof LabwireError && (err.code === 'CommunicationFailed' || err.code === 'Timeout');
}

function show(v: ConditionValue | undefined): string {
  return v === undefined ? '(no value)' : formatValue(v);
}

export class ConditionWait implements Subscriber {
  /** Follows every parameter: a condition may read any of them. */
  readonly params = null;
  private readonly stableForMs: number;
  private readonly pollMs: number;
  /** Values as received (update strings, typed snapshot values) and the daemon time of each. */
  private readonly raw: Record<string, ConditionValue> = Object.create(null) as Record<string, ConditionValue>;
  private readonly stamps: Record<string, number> = Object.create(null) as Record<string, number>;
  private description: DescribeDoc | undefined;
  private finished = false;
  /** Since when the condition has held without a break; null while it does not hold. */
  private heldSince: number | null = null;
  private stableTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  /** Bumped whenever a reply in flight has become stale (reconnect, finish). */
  private generation = 0;
  private subscribed = false;

  private constructor(
    private readonly host: WaitHost,
    private readonly condition: WaitCondition,
    private readonly options: WaitForOptions,
    private readonly resolve: (values: Values) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.stableForMs = Math.max(0, options.stableForMs ?? 0);
    this.pollMs = options.pollMs ?? 1000;
  }

  /** Starts a wait; the promise settles once. */
  static run(host: WaitHost, condition: WaitCondition, options: WaitForOptions): Promise<Values> {
    return new Promise<Values>((resolve, reject) => new ConditionWait(host, condition, options, resolve, reject).begin());
  }

  private begin(): void {
    const { signal } = this.options;
    if (signal?.aborted) {
      this.reject(toError(signal.reason));
      return;
    }
    if (this.host.closing) {
      this.reject(new LabwireError('CommunicationFailed', 'client is closed', 'wait'));
      return;
    }
    if (!this.host.trying) {
      this.reject(new LabwireError('CommunicationFailed', `not connected to ${this.host.endpoint}; call connect() first`, 'wait'));
      return;
    }
    const life = this.host.lifecycle;
    life.on('connected', this.onConnected);
    life.on('disconnected', this.onDisconnected);
    life.on('close', this.onClose);
    life.on('reconnectFailed', this.onGaveUp);
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.options.timeoutMs !== undefined) {
      const ms = this.options.timeoutMs;
      this.timeoutTimer = setTimeout(() => this.finish(this.timeoutError(ms)), ms);
    }
    if (this.host.connected) void this.refresh();
  }

  // ---- Subscriber: pushed updates ----------------------------------------------------------------

  deliver(update: Update): void {
    if (this.finished) return;
    this.apply(update.values, update.t);
    this.evaluate();
  }

  end(error?: Error): void {
    this.subscribed = false;
    // Refused (no subscribe on this peer, or not allowed): polling still works.
    if (error && !this.finished && this.host.connected) this.schedulePoll(0);
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  private readonly onConnected = (): void => void this.refresh();

  private readonly onDisconnected = (reason: string): void => {
    this.generation++;
    this.stopPolling();
    this.resetStable();
    if (!this.host.reconnects) this.finish(new LabwireError('CommunicationFailed', `${reason} while waiting for ${this.condition.source || 'the condition'}`, 'wait'));
  };

  private readonly onClose = (): void => this.finish(new LabwireError('CommunicationFailed', 'client closed while waiting', 'wait'));

  private readonly onGaveUp = (err: Error): void => this.finish(err);

  private readonly onAbort = (): void => this.finish(toError(this.options.signal?.reason ?? new Error('aborted')));

  // ---- values and the condition --------------------------------------------------------------------

  private view(): Values {
    return Object.fromEntries(
      Object.entries(this.raw).map(([k, v]) => [k, typeof v === 'string' ? convertValue(v, this.description?.params[k]?.type) : v]),
    );
  }

  /**
   * Per value, the newer of a pushed update and a snapshot wins: a snapshot reply can be handled
   * after updates that arrived behind it in the same chunk.
   */
  private apply(values: Record<string, ConditionValue>, t: number, ts: Record<string, number> = {}): void {
    for (const [k, v] of Object.entries(values)) {
      const at = ts[k] ?? t;
      const prev = this.stamps[k];
      if (prev === undefined || at >= prev) {
        this.raw[k] = v;
        this.stamps[k] = at;
      }
    }
  }

  private applySnapshot(snap: Snapshot): void {
    this.apply(snap.values, snap.t, snap.ts);
    this.evaluate();
  }

  private evaluate(): void {
    if (this.finished) return;
    let holds: boolean;
    try {
      holds = this.condition.test(this.view());
    } catch (err) {
      this.finish(toError(err));
      return;
    }
    if (!holds) {
      this.resetStable();
      return;
    }
    if (this.heldSince !== null) return;
    this.heldSince = Date.now();
    if (this.stableForMs === 0) this.finish();
    else this.stableTimer = setTimeout(() => this.finish(), this.stableForMs);
  }

  private resetStable(): void {
    this.heldSince = null;
    clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
  }

  private timeoutError(ms: number): LabwireError {
    const { source, names } = this.condition;
    const values = this.view();
    let message = source !== '' ? `condition "${source}" not met within ${duration(ms)}` : `condition not met within ${duration(ms)}`;
    if (names.length > 0) message += `; last ${names.map((n) => `${n}=${show(Object.hasOwn(values, n) ? values[n] : undefined)}`).join(', ')}`;
    if (this.heldSince !== null) message += `; it has held for ${duration(Date.now() - this.heldSince)} of the required ${duration(this.stableForMs)}`;
    if (!this.host.connected) {
      const last = this.host.lastError;
      message += `; not connected to ${this.host.endpoint}${last ? ` (${last.message})` : ''}`;
    }
    return new LabwireError('Timeout', message, 'wait');
  }

  // ---- reading: snapshots and polling --------------------------------------------------------------

  private stopPolling(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  private schedulePoll(delay: number): void {
    this.stopPolling();
    const gen = this.generation;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.host.snapshot().then(
        (snap) => {
          if (this.finished || gen !== this.generation) return;
          this.applySnapshot(snap);
          if (!this.finished) this.schedulePoll(this.pollMs);
        },
        (err: unknown) => {
          if (this.finished || gen !== this.generation) return;
          if (!isTransient(err)) this.finish(toError(err));
          else if (this.host.connected) this.schedulePoll(this.pollMs);
        },
      );
    }, delay);
  }

  /** After a (re)connect: read everything, then follow pushes (or poll a peer that has none). */
  private async refresh(): Promise<void> {
    const gen = ++this.generation;
    this.stopPolling();
    try {
      const first = await this.host.snapshot();
      if (this.finished || gen !== this.generation) return;
      this.applySnapshot(first);
      if (this.finished) return;
      if (!first.labwire) {
        this.schedulePoll(this.pollMs);
        return;
      }
      // Pipelined: describe, subscribe, then a second snapshot covering the time before the
      // subscription took effect.
      const described = this.host.describe();
      if (!this.subscribed) {
        this.subscribed = true;
        this.host.subscriptions.add(this);
      }
      const second = await this.host.snapshot();
      this.description = await described;
      if (this.finished || gen !== this.generation) return;
      this.applySnapshot(second);
    } catch (err) {
      if (this.finished || gen !== this.generation) return;
      // Lost connection: 'connected' calls refresh again. A timeout: try again shortly.
      if (isTransient(err)) {
        if (this.host.connected && (err as LabwireError).code === 'Timeout') this.schedulePoll(this.pollMs);
        return;
      }
      this.finish(toError(err));
    }
  }

  private finish(err?: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.generation++;
    this.resetStable();
    this.stopPolling();
    clearTimeout(this.timeoutTimer);
    const life = this.host.lifecycle;
    life.off('connected', this.onConnected);
    life.off('disconnected', this.onDisconnected);
    life.off('close', this.onClose);
    life.off('reconnectFailed', this.onGaveUp);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.subscribed) {
      this.subscribed = false;
      void this.host.subscriptions.remove(this);
    }
    if (err) this.reject(err);
    else this.resolve(this.view());
  }
}
