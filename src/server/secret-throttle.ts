/**
 * One throttle for every way a secret is presented, per client address: the line protocol's
 * `auth` on every labwire listener (daemon and monitor ports), and over HTTP a Bearer header on
 * any route (the WebSocket and SSE included) and `/api/login`.
 *
 * The first few failures cost nothing (a typo). After them every further failure is answered only
 * after a back-off that doubles up to a ceiling, and while it runs the address has no other
 * attempt checked: a concurrent one gets 429 with Retry-After at once. So an address gets at most
 * one guess per back-off period, however many connections it opens. There is no lockout: the
 * right token is checked like any other attempt and accepted, and it clears the address's count.
 *
 * Addresses are grouped as an attacker would have to spend them: IPv4 one by one, IPv6 by /64
 * (one machine usually has a whole /64). The table is bounded; the oldest entries go first.
 */
import { isIPv6 } from 'node:net';

export interface ThrottleOptions {
  /** Failures per address that are answered at once. */
  freeFailures: number;
  /** Back-off after the first failure beyond the free ones; doubles with every further one. */
  baseDelayMs: number;
  /** Ceiling of the back-off. */
  maxDelayMs: number;
  /** An address without a failure for this long starts afresh. */
  forgetMs: number;
  /** Addresses tracked at once. */
  maxAddresses: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { freeFailures: 3, baseDelayMs: 250, maxDelayMs: 10_000, forgetMs: 15 * 60_000, maxAddresses: 10_000 };

interface AddressState {
  failures: number;
  lastFailure: number;
  /** A failed attempt is serving its back-off until then; 0 when none is. */
  holdUntil: number;
}

/** Thrown (as a value the caller maps to 429) when the address has an attempt under way. */
export class ThrottleBusy extends Error {
  constructor(readonly retryAfterS: number) {
    super(`too many attempts with a wrong token from this address; try again in ${retryAfterS} s`);
  }
}

/** The key an address is throttled under: IPv4 (and IPv4-mapped) as is, IPv6 by its /64. */
export function addressKey(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1]!;
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return ip;
  const [head = '', tail = ''] = bare.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = bare.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class SecretThrottle {
  private readonly table = new Map<string, AddressState>();
  readonly options: ThrottleOptions;
  /** Attempts checked, failed, and refused unchecked (429), for tests and health. */
  readonly counters = { checked: 0, failed: 0, refused: 0 };

  constructor(options: Partial<ThrottleOptions> = {}, private readonly now: () => number = Date.now) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
  }

  /** Back-off after the n-th failure in a row (0 while n is within the free ones). */
  delayAfter(failures: number): number {
    const over = failures - this.options.freeFailures;
    if (over <= 0) return 0;
    return Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over - 1, 30));
  }

  /**
   * Checks one presented secret with `test` (undefined: wrong). Resolves with the test's result,
   * a failure only after its back-off. Throws ThrottleBusy when the address's previous failure is
   * still serving its back-off: that attempt is not checked at all.
   */
  async attempt<T>(ip: string, test: () => T | undefined): Promise<T | undefined> {
    const key = addressKey(ip);
    const now = this.now();
    let st = this.table.get(key);
    if (st && st.holdUntil === 0 && now - st.lastFailure > this.options.forgetMs) {
      this.table.delete(key);
      st = undefined;
    }
    if (st && st.holdUntil > 0) {
      this.counters.refused++;
      throw new ThrottleBusy(Math.max(1, Math.ceil((st.holdUntil - now) / 1000)));
    }
    this.counters.checked++;
    const hit = test();
    if (hit !== undefined) {
      this.table.delete(key);
      return hit;
    }
    this.counters.failed++;
    if (!st) {
      this.evict();
      st = { failures: 0, lastFailure: now, holdUntil: 0 };
    }
    // Re-inserted: the table's order is then the order of the last failure (oldest first).
    this.table.delete(key);
    this.table.set(key, st);
    st.failures++;
    st.lastFailure = now;
    const delay = this.delayAfter(st.failures);
    if (delay > 0) {
      const held = st;
      held.holdUntil = now + delay;
      await new Promise<void>((resolve) => setTimeout(resolve, delay).unref());
      held.holdUntil = 0;
      held.lastFailure = this.now();
    }
    return undefined;
  }

  /** Failures on record for an address (0 when none), for tests. */
  failures(ip: string): number {
    return this.table.get(addressKey(ip))?.failures ?? 0;
  }

  get size(): number {
    return this.table.size;
  }

  private evict(): void {
    const now = this.now();
    for (const [k, s] of this.table) {
      if (this.table.size < this.options.maxAddresses) return;
      // Entries serving a back-off stay: dropping them would free their address's slot.
      if (s.holdUntil === 0 || now - s.lastFailure > this.options.forgetMs) this.table.delete(k);
    }
  }
}
