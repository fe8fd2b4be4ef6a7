import { describe, expect, it } from 'vitest';
import { DEFAULT_FILTER, coerce, decide, typeOf } from './filter.js';

describe('filter', () => {
  const db = { deadband: 1, heartbeatMs: 10_000 };

  it('stores the first sample, skips duplicates and marks older ones late', () => {
    expect(decide(db, undefined, 0, 5)).toBe('store');
    expect(decide(db, { t: 100, value: 5 }, 100, 9)).toBe('skip');
    expect(decide(db, { t: 100, value: 5 }, 50, 9)).toBe('late');
  });

  it('applies deadband and heartbeat to numbers', () => {
    expect(decide(db, { t: 0, value: 5 }, 1000, 5.5)).toBe('skip');
    expect(decide(db, { t: 0, value: 5 }, 1000, 6)).toBe('store');
    expect(decide(db, { t: 0, value: 5 }, 1000, 4)).toBe('store');
    expect(decide(db, { t: 0, value: 5 }, 10_000, 5)).toBe('store');
    expect(decide(DEFAULT_FILTER, { t: 0, value: 5 }, 1, 5)).toBe('store'); // no deadband: everything
  });

  it('stores one null per gap and the first value after it', () => {
    expect(decide(db, { t: 0, value: 5 }, 1, null)).toBe('store');
    expect(decide(db, { t: 1, value: null }, 2, null)).toBe('skip');
    expect(decide(db, { t: 1, value: null }, 2, 5)).toBe('store');
    expect(decide(db, { t: 1, value: null }, 1_000_000, null)).toBe('skip');
  });

  it('stores text on change and on heartbeat', () => {
    expect(decide(DEFAULT_FILTER, { t: 0, value: 'a' }, 1e12, 'a')).toBe('skip');
    expect(decide(DEFAULT_FILTER, { t: 0, value: 'a' }, 1, 'b')).toBe('store');
    expect(decide(db, { t: 0, value: 'a' }, 10_000, 'a')).toBe('store');
  });

  it('coerces values to the series type', () => {
    expect(typeOf(null)).toBeUndefined();
    expect(typeOf(1)).toBe('number');
    expect(typeOf('x')).toBe('text');
    expect(coerce('number', 1.5)).toEqual({ value: 1.5, conflict: false });
    expect(coerce('number', Number.POSITIVE_INFINITY)).toEqual({ value: null, conflict: false });
    expect(coerce('number', ' -1.5e3 ')).toEqual({ value: -1500, conflict: false });
    expect(coerce('number', '0x10')).toEqual({ value: null, conflict: true });
    expect(coerce('number', '')).toEqual({ value: null, conflict: true });
    expect(coerce('text', 0.1)).toEqual({ value: '0.1', conflict: false });
    expect(coerce('text', null)).toEqual({ value: null, conflict: false });
  });
});
