/**
 * The pace an instrument takes requests at: it measures the gap between arrivals (the stats a
 * test asserts on) and, for instruments that need a minimum gap, either processes a request that
 * came too early once the gap has passed (`delay`), loses it (`drop`), or takes it anyway and only
 * counts it (`accept`). One pacer per instrument, shared by all its clients: the hardware is one.
 * Waiting requests are bounded like a real input buffer: a flooding client loses requests, it
 * does not grow the simulator's memory.
 */

/** Requests that may wait for their turn (`delay`); the next one is lost, as with a full input buffer. */
export const MAX_QUEUED_REQUESTS = 1000;

export type EarlyRequestPolicy = 'delay' | 'drop' | 'accept';

export interface PacerStats {
  /** Requests that arrived. */
  requests: number;
  /** Requests that arrived less than the minimum gap after the previous one. */
  earlyRequests: number;
  /** Lost: too early under `drop`, or arrived while the queue of waiting requests was full. */
  dropped: number;
  /** Shortest time between two consecutive arrivals, ms (Infinity before the second). */
  minRequestGapMs: number;
}

export class RequestPacer {
  private readonly queue: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastArrival: number | undefined;
  private lastStart = -Infinity;
  private readonly _stats: PacerStats = { requests: 0, earlyRequests: 0, dropped: 0, minRequestGapMs: Infinity };

  constructor(
    private readonly minGapMs: () => number,
    private readonly policy: () => EarlyRequestPolicy,
    private readonly clock: () => number = () => performance.now(),
    private readonly maxQueued: number = MAX_QUEUED_REQUESTS,
  ) {}

  get stats(): Readonly<PacerStats> {
    return { ...this._stats };
  }

  /** Records an arrival; true when it came too early. A dropped request does not count as the last arrival. */
  arrive(): { early: boolean; dropped: boolean } {
    const now = this.clock();
    this._stats.requests++;
    let early = false;
    if (this.lastArrival !== undefined) {
      const gap = now - this.lastArrival;
      this._stats.minRequestGapMs = Math.min(this._stats.minRequestGapMs, gap);
      early = gap < this.minGapMs();
    }
    if (early) this._stats.earlyRequests++;
    if (early && this.policy() === 'drop') {
      this._stats.dropped++;
      return { early, dropped: true };
    }
    this.lastArrival = now;
    return { early, dropped: false };
  }

  /**
   * Records an arrival and runs `work` at the instrument's pace: at once under `accept`, else no
   * sooner than the minimum gap after the previous start. Returns false if the request was lost
   * (too early under `drop`, or `maxQueued` requests already waiting). A request lost to the full
   * queue still counts as the last arrival: the client did send it, and its pace is what
   * `earlyRequests` measures.
   */
  submit(work: () => void): boolean {
    if (this.arrive().dropped) return false;
    if (this.policy() === 'accept') {
      work();
      return true;
    }
    if (this.queue.length >= this.maxQueued) {
      this._stats.dropped++;
      return false;
    }
    this.queue.push(work);
    this.pump();
    return true;
  }

  private pump(): void {
    if (this.timer) return;
    while (this.queue.length > 0) {
      const now = this.clock();
      const due = this.lastStart + this.minGapMs();
      if (now < due) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, due - now);
        return;
      }
      this.lastStart = now;
      this.queue.shift()!();
    }
  }

  /** Forgets queued work (the simulator closes). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}
