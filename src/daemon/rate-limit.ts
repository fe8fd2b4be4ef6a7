/**
 * Per-peer token buckets: `perSecond` requests sustained, `burst` at once. Keyed by the peer's
 * address so that opening more connections does not buy more requests.
 */
export interface RateLimitOptions {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  last: number;
  users: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  constructor(private readonly opts: RateLimitOptions) {}

  get enabled(): boolean {
    return this.opts.perSecond > 0;
  }

  attach(peer: string): void {
    const b = this.buckets.get(peer);
    if (b) b.users++;
    else this.buckets.set(peer, { tokens: this.opts.burst, last: Date.now(), users: 1 });
  }

  detach(peer: string): void {
    const b = this.buckets.get(peer);
    if (b && --b.users <= 0) this.buckets.delete(peer);
  }

  /** True when the request may proceed. */
  take(peer: string, now = Date.now()): boolean {
    if (!this.enabled) return true;
    const b = this.buckets.get(peer);
    if (!b) return true;
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.last) / 1000) * this.opts.perSecond);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
