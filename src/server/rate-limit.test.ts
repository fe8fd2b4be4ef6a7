import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.js';

describe('RateLimiter', () => {
  it('allows a burst, then the sustained rate', () => {
    let now = 0;
    const rl = new RateLimiter({ perSecond: 10, burst: 5 }, () => now);
    const first = Array.from({ length: 8 }, () => rl.take('a'));
    expect(first.filter(Boolean)).toHaveLength(5);
    now += 300; // 3 tokens refill
    expect(Array.from({ length: 5 }, () => rl.take('a')).filter(Boolean)).toHaveLength(3);
    expect(rl.take('b')).toBe(true); // peers are independent
  });

  it('remembers a peer across reconnects until its bucket has refilled, then forgets it', () => {
    let now = 0;
    const rl = new RateLimiter({ perSecond: 5, burst: 10 }, () => now);
    for (let i = 0; i < 10; i++) expect(rl.take('a')).toBe(true);
    expect(rl.take('a')).toBe(false); // a new connection from the same address gets no fresh burst
    now += 20_000;
    rl.take('b'); // triggers the sweep: a's bucket is full again and carries no information
    expect(rl.size).toBe(1);
    expect(rl.take('a')).toBe(true);
  });

  it('does nothing when disabled', () => {
    const rl = new RateLimiter({ perSecond: 0, burst: 0 });
    expect(Array.from({ length: 100 }, () => rl.take('a')).every(Boolean)).toBe(true);
  });
});
