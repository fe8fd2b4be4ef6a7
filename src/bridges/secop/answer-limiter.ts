/**
 * Token buckets for the answers of UDP discovery: a discovery answer is larger than its request
 * and goes to whatever source address the datagram names, so unbounded answers would make the
 * node an amplifier for spoofed floods. One bucket per source address and one for all of them;
 * an answer takes a token from both, and without one the request is dropped silently.
 */

export interface Bucket {
  /** Answers that may go at once. */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
}

export interface AnswerLimits {
  perSource: Bucket;
  total: Bucket;
  /** Source addresses remembered; beyond, the oldest is forgotten (the total bucket still bounds). */
  maxSources: number;
}

export const DISCOVERY_LIMITS: AnswerLimits = {
  perSource: { burst: 5, perSecond: 1 },
  total: { burst: 50, perSecond: 20 },
  maxSources: 4096,
};

interface Level {
  tokens: number;
  at: number;
}

function refill(level: Level, bucket: Bucket, now: number): void {
  const elapsed = Math.max(0, now - level.at);
  level.tokens = Math.min(bucket.burst, level.tokens + (elapsed * bucket.perSecond) / 1000);
  level.at = now;
}

export class AnswerLimiter {
  private readonly sources = new Map<string, Level>();
  private readonly total: Level;

  constructor(
    readonly limits: AnswerLimits = DISCOVERY_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    for (const [what, b] of [['perSource', limits.perSource], ['total', limits.total]] as const) {
      if (!(b.burst >= 1) || !(b.perSecond >= 0)) throw new Error(`discovery limit ${what}: burst must be >= 1 and perSecond >= 0, got ${JSON.stringify(b)}`);
    }
    this.total = { tokens: limits.total.burst, at: now() };
  }

  /** Whether an answer to this source address may go now (and takes its tokens when it may). */
  allow(source: string): boolean {
    const now = this.now();
    let level = this.sources.get(source);
    if (level === undefined) {
      if (this.sources.size >= this.limits.maxSources) this.sources.delete(this.sources.keys().next().value!);
      level = { tokens: this.limits.perSource.burst, at: now };
      this.sources.set(source, level);
    }
    refill(level, this.limits.perSource, now);
    refill(this.total, this.limits.total, now);
    if (level.tokens < 1 || this.total.tokens < 1) return false;
    level.tokens -= 1;
    this.total.tokens -= 1;
    return true;
  }
}
