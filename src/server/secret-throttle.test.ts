import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SecretThrottle, ThrottleBusy, addressKey } from './secret-throttle.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const wrong = (): undefined => undefined;
const right = (): string => 'otto';

describe('SecretThrottle', () => {
  it('answers the free failures at once, then backs off doubling to the ceiling', async () => {
    const t = new SecretThrottle({ freeFailures: 2, baseDelayMs: 100, maxDelayMs: 350 }, () => Date.now());
    expect([1, 2, 3, 4, 5, 6].map((n) => t.delayAfter(n))).toEqual([0, 0, 100, 200, 350, 350]);
    await expect(t.attempt('10.0.0.1', wrong)).resolves.toBeUndefined();
    await expect(t.attempt('10.0.0.1', wrong)).resolves.toBeUndefined();
    let settled = false;
    const third = t.attempt('10.0.0.1', wrong).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await third;
    expect(t.failures('10.0.0.1')).toBe(3);
  });

  it('checks one attempt at a time per address: the others get ThrottleBusy unchecked', async () => {
    const t = new SecretThrottle({ freeFailures: 0, baseDelayMs: 1000, maxDelayMs: 1000 }, () => Date.now());
    let checks = 0;
    const test = (): undefined => void checks++;
    const first = t.attempt('10.0.0.1', test);
    for (let i = 0; i < 100; i++) await expect(t.attempt('10.0.0.1', test)).rejects.toBeInstanceOf(ThrottleBusy);
    // Even the right token waits its turn: it is not checked while a failure is being served.
    await expect(t.attempt('10.0.0.1', right)).rejects.toMatchObject({ retryAfterS: 1 });
    expect(checks).toBe(1);
    // Another address is not held up.
    await expect(t.attempt('10.0.0.2', right)).resolves.toBe('otto');
    await vi.advanceTimersByTimeAsync(1000);
    await first;
    expect(t.counters).toEqual({ checked: 2, failed: 1, refused: 101 });
  });

  it('accepts the right token after any number of failures and forgets them', async () => {
    const t = new SecretThrottle({ freeFailures: 1, baseDelayMs: 10, maxDelayMs: 40 }, () => Date.now());
    for (let i = 0; i < 20; i++) {
      const p = t.attempt('10.0.0.1', wrong);
      await vi.advanceTimersByTimeAsync(40);
      await p;
    }
    expect(t.failures('10.0.0.1')).toBe(20);
    await expect(t.attempt('10.0.0.1', right)).resolves.toBe('otto');
    expect(t.failures('10.0.0.1')).toBe(0);
  });

  it('starts afresh after forgetMs without failures, and bounds its table', async () => {
    const t = new SecretThrottle({ freeFailures: 5, forgetMs: 1000, maxAddresses: 3 }, () => Date.now());
    await t.attempt('10.0.0.1', wrong);
    vi.advanceTimersByTime(1001);
    await t.attempt('10.0.0.1', wrong);
    expect(t.failures('10.0.0.1')).toBe(1);
    for (let i = 2; i < 10; i++) await t.attempt(`10.0.0.${i}`, wrong);
    expect(t.size).toBeLessThanOrEqual(3);
  });
});

describe('addressKey', () => {
  it('groups IPv6 by /64 and unwraps IPv4-mapped addresses', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:DB8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });
});
