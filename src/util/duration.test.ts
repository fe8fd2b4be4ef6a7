import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5000],
    ['5', 5000],
    ['1.5m', 90_000],
    ['30min', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['2w', 14 * 86_400_000],
    ['1y', 365 * 86_400_000],
    ['10y', 3650 * 86_400_000],
    [' 10 s ', 10_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'abc', '5 parsecs', '-3s', '1e3', '1M', '1mo'])('rejects %j with a hint', (text) => {
    expect(() => parseDuration(text, '--stable')).toThrow(/--stable .* expected a number with a unit/);
  });

  it('formats for people', () => {
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(30_000)).toBe('30 s');
    expect(formatDuration(1_800_000)).toBe('30 min');
  });
});
