import { afterEach, describe, expect, it, vi } from 'vitest';
import { RefusalSummary, addressOf, type RefusalTally } from './refusals.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('RefusalSummary', () => {
  it('passes the first refusal of an address and reason per interval, counts the rest, and reports them once', () => {
    vi.useFakeTimers();
    const tallies: RefusalTally[] = [];
    const s = new RefusalSummary({ intervalMs: 10_000, onSummary: (t) => tallies.push(t) });
    expect(s.admit('10.0.0.1', 'RateLimited', 'anonymous1')).toBe(true);
    for (let i = 0; i < 1233; i++) expect(s.admit('10.0.0.1', 'RateLimited', `anonymous${i % 10}`)).toBe(false);
    expect(s.admit('10.0.0.1', 'Unauthorized', 'anonymous1')).toBe(true);
    expect(s.admit('10.0.0.2', 'RateLimited', 'bob')).toBe(true);
    expect(tallies).toEqual([]);
    vi.advanceTimersByTime(10_000);
    expect(tallies).toEqual([{
      address: '10.0.0.1',
      reason: 'RateLimited',
      scope: '',
      count: 1233,
      who: ['anonymous0', 'anonymous1', 'anonymous2', 'anonymous3', 'anonymous4'],
      text: '1,233 more refused requests from 10.0.0.1 (RateLimited) in the last 10 s',
    }]);
    // A new interval: the first is written in full again.
    expect(s.admit('10.0.0.1', 'RateLimited', 'anonymous1')).toBe(true);
    expect(s.admit('10.0.0.1', 'RateLimited', 'anonymous1')).toBe(false);
    s.close();
    expect(tallies.at(-1)).toMatchObject({ count: 1, text: '1 more refused request from 10.0.0.1 (RateLimited) in the last 10 s' });
  });

  it('keys on the scope too, and counts further addresses together beyond its bound', () => {
    const tallies: RefusalTally[] = [];
    const s = new RefusalSummary({ intervalMs: 10_000, onSummary: (t) => tallies.push(t) });
    expect(s.admit('10.0.0.1', 'Unauthorized', 'vera', 'bath')).toBe(true);
    expect(s.admit('10.0.0.1', 'Unauthorized', 'vera', 'chiller')).toBe(true);
    let full = 0;
    for (let i = 0; i < 10_000; i++) if (s.admit(`fd00::${i.toString(16)}`, 'RateLimited', 'x')) full++;
    expect(full).toBeLessThanOrEqual(200);
    s.close();
    expect(tallies).toEqual([expect.objectContaining({ address: '*', count: 10_000 - full, text: expect.stringMatching(/^9,8\d\d more refused requests from further addresses \(RateLimited\)/) })]);
  });

  it('with interval 0 every refusal is written in full', () => {
    const s = new RefusalSummary({ intervalMs: 0, onSummary: () => undefined });
    expect(s.admit('a', 'b', 'c')).toBe(true);
    expect(s.admit('a', 'b', 'c')).toBe(true);
    s.close();
  });
});

describe('addressOf', () => {
  it('drops the port of IPv4 and IPv6 peers', () => {
    expect(addressOf('127.0.0.1:5400')).toBe('127.0.0.1');
    expect(addressOf('::1:5400')).toBe('::1');
    expect(addressOf('::ffff:10.0.0.1:80')).toBe('::ffff:10.0.0.1');
    expect(addressOf('anonymous')).toBe('anonymous');
  });
});
