/**
 * Fan-out of live events to many browsers and scripts (SSE and WebSocket) in which a slow client
 * never holds up the others and never makes the server hold unbounded memory for it.
 *
 * Each event is serialised once. A subscriber whose socket keeps up gets every frame at once. A
 * subscriber whose socket buffer is above its high-water mark gets a queue instead, where
 * `update` events of one device merge into one (latest value per parameter wins), `peer` events of
 * one peer replace each other, as do `alarm` events of one alarm, and messages are capped (the oldest go first, and the client is
 * told how many it missed with a `dropped` event). A subscriber blocked for longer than
 * `stallMs` is disconnected by a timer of its own (a quiet lab publishes nothing that could notice
 * it); the browser's EventSource reconnects and receives a fresh snapshot.
 *
 * Slots are bounded in total and per owner (a token's name, or an address for anonymous clients),
 * so that one viewer cannot take the slots of everybody else.
 */
import type { LogEntry } from '../archive/types.js';
import type { MonitorUpdate } from '../monitor/types.js';

export type EventType = 'snapshot' | 'update' | 'peer' | 'alarm' | 'message' | 'image' | 'reply' | 'dropped' | 'error';

/** One event for all subscribers; its JSON and frames are computed once, on first use. */
export class HubEvent {
  private json?: string;
  private readonly frames = new Map<FrameFormat, string>();
  constructor(
    readonly type: EventType,
    readonly data: unknown,
  ) {}
  toJSON(): string {
    this.json ??= JSON.stringify(this.data);
    return this.json;
  }
  frame(format: FrameFormat): string {
    let f = this.frames.get(format);
    if (f === undefined) {
      f = format(this.type, this.toJSON());
      this.frames.set(format, f);
    }
    return f;
  }
}

/** Turns an event's type and JSON into the bytes of one frame (SSE or WebSocket text). */
export type FrameFormat = (type: EventType, json: string) => string;

export const sseFrame: FrameFormat = (type, json) => `event: ${type}\ndata: ${json}\n\n`;
export const wsFrame: FrameFormat = (type, json) => `{"type":"${type}","data":${json}}`;

/** Where a subscriber's frames go. */
export interface Sink {
  /** Writes one frame; false when the buffer is now above the high-water mark (wait for drain). */
  write(frame: string): boolean;
  /** Calls `cb` once the buffer has drained. */
  onDrain(cb: () => void): void;
  /**
   * Ends the stream (the client may reconnect). `abort`: the client does not read, so nothing
   * queued will ever reach it; drop the connection instead of waiting for the queue to drain.
   */
  close(reason: string, abort?: boolean): void;
}

/**
 * Joins the frames written within `delayMs` into one write: a thousand updates a second to fifty
 * browsers would otherwise be fifty thousand socket writes a second. Backpressure passes through:
 * once the underlying sink reports a full buffer, writes say so until it has drained.
 */
export function batchingSink(sink: Sink, delayMs: number, maxBytes = 64 * 1024): Sink {
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  let full = false;
  let waiters: Array<() => void> = [];
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending === '') return;
    const data = pending;
    pending = '';
    if (!sink.write(data) && !full) {
      full = true;
      sink.onDrain(() => {
        full = false;
        const w = waiters;
        waiters = [];
        for (const cb of w) cb();
      });
    }
  };
  return {
    write(frame) {
      pending += frame;
      if (pending.length >= maxBytes) flush();
      else timer ??= setTimeout(flush, delayMs);
      return !full;
    },
    onDrain(cb) {
      if (full) waiters.push(cb);
      else queueMicrotask(cb);
    },
    close(reason, abort) {
      if (abort) {
        clearTimeout(timer);
        pending = '';
      } else flush();
      sink.close(reason, abort);
    },
  };
}

export interface HubLimits {
  /** Messages kept for a blocked subscriber (older ones are dropped and counted). */
  maxQueuedMessages: number;
  /** Other queued events (replies, errors) kept for a blocked subscriber. */
  maxQueuedOther: number;
  /** A subscriber blocked this long is disconnected. */
  stallMs: number;
  /** Subscribers at once; more are refused. */
  maxSubscribers: number;
  /** Subscribers of one owner (token name, or address when anonymous) at once. */
  maxPerOwner: number;
}

export const DEFAULT_HUB_LIMITS: HubLimits = { maxQueuedMessages: 200, maxQueuedOther: 100, stallMs: 60_000, maxSubscribers: 1000, maxPerOwner: 20 };

/** Why a new subscriber is refused: the HTTP status and body to answer with. */
export interface HubRefusal {
  status: 429 | 503;
  code: 'TooManyStreams' | 'TooManyClients';
  message: string;
  retryAfterS: number;
}

interface Entry {
  type: EventType;
  /** A shared event, or (after merging) a private payload. */
  event?: HubEvent;
  data?: unknown;
  key?: string;
}

export class Subscriber {
  private readonly queue: Entry[] = [];
  private readonly updates = new Map<string, Entry>();
  /** Queued `peer` and `alarm` events by `<type>:<name>`: the newest state replaces a queued one. */
  private readonly latest = new Map<string, Entry>();
  private blockedSince = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private closed = false;
  /** Frames written and events merged or dropped, for tests and health. */
  readonly counters = { written: 0, merged: 0, dropped: 0 };

  constructor(
    readonly id: number,
    readonly kind: 'sse' | 'ws',
    /** Whose slot this is: `user:<token name>` or `addr:<address>`. */
    readonly owner: string,
    private readonly sink: Sink,
    private readonly format: FrameFormat,
    private readonly limits: HubLimits,
    private readonly onClose: (s: Subscriber) => void,
  ) {}

  get blocked(): boolean {
    return this.blockedSince !== 0;
  }

  get queued(): number {
    return this.queue.length;
  }

  push(event: HubEvent): void {
    if (this.closed) return;
    if (!this.blocked && this.queue.length === 0) {
      this.write(event.frame(this.format));
      return;
    }
    this.enqueue(event);
  }

  private enqueue(event: HubEvent): void {
    if (event.type === 'update') {
      const u = event.data as MonitorUpdate;
      const pending = this.updates.get(u.client);
      if (pending) {
        const p = pending.data as MonitorUpdate;
        pending.data = { client: u.client, t: Math.max(p.t, u.t), values: { ...p.values, ...u.values } };
        this.counters.merged++;
        return;
      }
      const entry: Entry = { type: 'update', data: { client: u.client, t: u.t, values: { ...u.values } }, key: u.client };
      this.updates.set(u.client, entry);
      this.queue.push(entry);
      return;
    }
    if (event.type === 'peer' || event.type === 'alarm') {
      const data = event.data as { name?: string; state?: { id: string } };
      const key = `${event.type}:${event.type === 'peer' ? data.name : data.state?.id}`;
      const pending = this.latest.get(key);
      if (pending) {
        pending.event = event;
        this.counters.merged++;
        return;
      }
      const entry: Entry = { type: event.type, event, key };
      this.latest.set(key, entry);
      this.queue.push(entry);
      return;
    }
    if (event.type === 'snapshot') {
      this.queue.push({ type: event.type, event });
      return;
    }
    const cap = event.type === 'message' ? this.limits.maxQueuedMessages : this.limits.maxQueuedOther;
    // Messages are capped among themselves, replies, notices and new images among themselves; the snapshot,
    // merged updates, peer and alarm states are never dropped (bounded by the number of peers and alarms).
    const same = (e: Entry): boolean => (event.type === 'message' ? e.type === 'message' : e.type === 'reply' || e.type === 'error' || e.type === 'dropped' || e.type === 'image');
    let count = 0;
    for (const e of this.queue) if (same(e)) count++;
    if (count >= cap) {
      const i = this.queue.findIndex(same);
      if (i >= 0) this.queue.splice(i, 1);
      this.dropped++;
      this.counters.dropped++;
    }
    this.queue.push({ type: event.type, event });
  }

  private write(frame: string): void {
    this.counters.written++;
    let ok: boolean;
    try {
      ok = this.sink.write(frame);
    } catch {
      this.close('write failed');
      return;
    }
    if (!ok && !this.blocked) {
      this.blockedSince = Date.now();
      if (this.limits.stallMs > 0) {
        this.stallTimer = setTimeout(() => this.close(`client did not read for ${Math.round(this.limits.stallMs / 1000)} s`, true), this.limits.stallMs);
        this.stallTimer.unref();
      }
      this.sink.onDrain(() => {
        this.blockedSince = 0;
        clearTimeout(this.stallTimer);
        this.stallTimer = undefined;
        this.flush();
      });
    }
  }

  /** Writes queued entries until the sink blocks again. */
  flush(): void {
    while (!this.closed && !this.blocked) {
      if (this.dropped > 0) {
        const n = this.dropped;
        this.dropped = 0;
        this.write(new HubEvent('dropped', { count: n, message: `${n} events were dropped because this client reads too slowly` }).frame(this.format));
        continue;
      }
      const entry = this.queue.shift();
      if (!entry) return;
      if (entry.key !== undefined) {
        if (entry.type === 'update') this.updates.delete(entry.key);
        else this.latest.delete(entry.key);
      }
      const frame = entry.event ? entry.event.frame(this.format) : this.format(entry.type, JSON.stringify(entry.data));
      this.write(frame);
    }
  }

  /** Ends the stream; `abort` for a client that does not read (see Sink.close). */
  close(reason: string, abort = false): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.stallTimer);
    this.queue.length = 0;
    this.updates.clear();
    this.latest.clear();
    try {
      this.sink.close(reason, abort);
    } catch {
      // already gone
    }
    this.onClose(this);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** All live subscribers. */
export class Hub {
  private readonly subs = new Set<Subscriber>();
  private readonly perOwner = new Map<string, number>();
  private nextId = 1;
  readonly limits: HubLimits;
  /** Events published since start, per type. */
  readonly published: Record<string, number> = {};

  constructor(limits: Partial<HubLimits> = {}) {
    this.limits = { ...DEFAULT_HUB_LIMITS, ...limits };
  }

  get size(): number {
    return this.subs.size;
  }

  get full(): boolean {
    return this.subs.size >= this.limits.maxSubscribers;
  }

  /** Subscribers `owner` holds now. */
  held(owner: string): number {
    return this.perOwner.get(owner) ?? 0;
  }

  /** Why `owner` may not open another stream now; undefined when it may. */
  refusal(owner: string): HubRefusal | undefined {
    if (this.held(owner) >= this.limits.maxPerOwner) {
      return {
        status: 429,
        code: 'TooManyStreams',
        message: `you already have ${this.limits.maxPerOwner} live streams open (the limit per user); close one (a tab of the page) and try again`,
        retryAfterS: 5,
      };
    }
    if (this.full) return { status: 503, code: 'TooManyClients', message: 'too many live clients; try again later', retryAfterS: 10 };
    return undefined;
  }

  /** Adds a subscriber of `owner`; the caller checks `refusal` first and sends the snapshot with `push`. */
  add(kind: 'sse' | 'ws', sink: Sink, format: FrameFormat, owner = 'anonymous'): Subscriber {
    const s = new Subscriber(this.nextId++, kind, owner, sink, format, this.limits, (x) => {
      if (!this.subs.delete(x)) return;
      const n = this.held(x.owner) - 1;
      if (n > 0) this.perOwner.set(x.owner, n);
      else this.perOwner.delete(x.owner);
    });
    this.subs.add(s);
    this.perOwner.set(owner, this.held(owner) + 1);
    return s;
  }

  publish(type: EventType, data: unknown): void {
    this.published[type] = (this.published[type] ?? 0) + 1;
    if (this.subs.size === 0) return;
    const ev = new HubEvent(type, data);
    for (const s of this.subs) s.push(ev);
  }

  publishUpdate(u: MonitorUpdate): void {
    this.publish('update', u);
  }

  publishMessage(m: LogEntry): void {
    this.publish('message', m);
  }

  stats(): { subscribers: number; owners: number; sse: number; ws: number; blocked: number; dropped: number; merged: number } {
    let sse = 0;
    let ws = 0;
    let blocked = 0;
    let dropped = 0;
    let merged = 0;
    for (const s of this.subs) {
      if (s.kind === 'sse') sse++;
      else ws++;
      if (s.blocked) blocked++;
      dropped += s.counters.dropped;
      merged += s.counters.merged;
    }
    return { subscribers: this.subs.size, owners: this.perOwner.size, sse, ws, blocked, dropped, merged };
  }

  closeAll(reason: string): void {
    for (const s of [...this.subs]) s.close(reason);
  }
}
