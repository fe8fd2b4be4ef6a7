import { describe, expect, it } from 'vitest';
import { freshness, freshnessClass, freshnessTitle } from './freshness.js';

describe('value freshness', () => {
  it('the monitor lost counts before the device lost', () => {
    expect(freshness(false, true)).toBe('offline');
    expect(freshness(false, false)).toBe('offline');
    expect(freshness(true, false)).toBe('disconnected');
    expect(freshness(true, true)).toBe('live');
  });
  it('only values that are not live are marked and explained', () => {
    expect(freshnessClass('live')).toBe('');
    expect(freshnessClass('offline')).toContain('stale');
    expect(freshnessTitle('live', '12:00:00')).toBeUndefined();
    expect(freshnessTitle('disconnected', '12:00:00')).toMatch(/lost this device.*12:00:00/);
  });
});
