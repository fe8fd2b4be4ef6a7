/**
 * The in-memory tail of the message log (CCDLab kept none; the web page shows this one live).
 * A fixed-size ring: adding is O(1), memory is bounded whatever the peers send.
 */
import type { LogEntry } from '../archive/types.js';

export class MessageLog {
  private readonly ring: (LogEntry | undefined)[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`message buffer must hold at least 1 entry, got ${capacity}`);
    this.ring = new Array<LogEntry | undefined>(capacity);
  }

  add(entry: LogEntry): void {
    this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** The newest `limit` entries (all by default), oldest first. */
  recent(limit = this.size): LogEntry[] {
    const n = Math.max(0, Math.min(Math.floor(limit), this.size));
    const out: LogEntry[] = [];
    for (let i = n; i > 0; i--) {
      const e = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (e) out.push(e);
    }
    return out;
  }
}

/**
 * Lets a repeated warning through once per interval and counts what it held back, so a peer that
 * sends garbage every second leaves a trace without flooding the log.
 */
export class Throttle {
  private last = -Infinity;
  private held = 0;

  constructor(private readonly intervalMs: number) {}

  /** The number of suppressed occurrences since the last one let through (≥ 0), or -1 to hold this one back. */
  take(now = Date.now()): number {
    if (now - this.last < this.intervalMs) {
      this.held++;
      return -1;
    }
    const held = this.held;
    this.held = 0;
    this.last = now;
    return held;
  }
}
