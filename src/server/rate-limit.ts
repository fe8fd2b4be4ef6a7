/**
 * Per-peer token buckets: `perSecond` requests sustained, `burst` at once. Keyed by the peer's
 * address, and kept across reconnects, so that neither more connections nor reconnecting buys
 * more requests (or more token guesses). Buckets that have refilled completely carry no
 * information and are forgotten. A monotonic clock: a wall-clock step cannot lock peers out.
 */
export interface RateLimitOptions {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.opts.perSecond > 0;
  }

  /** Number of peers currently remembered (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** True when the request may proceed. */
  take(peer: string): boolean {
    if (!this.enabled) return true;
    const now = this.now();
    this.sweep(now);
    const b = this.buckets.get(peer) ?? { tokens: this.opts.burst, last: now };
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.last) / 1000) * this.opts.perSecond);
    b.last = now;
    this.buckets.set(peer, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 10_000) return;
    this.lastSweep = now;
    const full = (this.opts.burst / this.opts.perSecond) * 1000;
    for (const [peer, b] of this.buckets) if (now - b.last >= full) this.buckets.delete(peer);
  }
}
