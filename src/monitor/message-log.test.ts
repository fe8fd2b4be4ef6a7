import { describe, expect, it } from 'vitest';
import { MessageLog, Throttle } from './message-log.js';

const entry = (i: number) => ({ t: i, source: 's', level: 'info' as const, message: `m${i}` });

describe('MessageLog', () => {
  it('keeps the newest entries, oldest first', () => {
    const log = new MessageLog(3);
    expect(log.recent()).toEqual([]);
    for (let i = 1; i <= 5; i++) log.add(entry(i));
    expect(log.recent().map((e) => e.message)).toEqual(['m3', 'm4', 'm5']);
    expect(log.recent(2).map((e) => e.message)).toEqual(['m4', 'm5']);
    expect(log.recent(0)).toEqual([]);
    expect(log.recent(99).length).toBe(3);
  });

  it('refuses a size below one', () => {
    expect(() => new MessageLog(0)).toThrow(/at least 1/);
  });
});

describe('Throttle', () => {
  it('lets one through per interval and counts the rest', () => {
    const t = new Throttle(1000);
    expect(t.take(0)).toBe(0);
    expect(t.take(10)).toBe(-1);
    expect(t.take(999)).toBe(-1);
    expect(t.take(1000)).toBe(2);
    expect(t.take(5000)).toBe(0);
  });
});
