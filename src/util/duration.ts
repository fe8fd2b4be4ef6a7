/**
 * Durations as people type them: `250ms`, `5s`, `1.5m`, `2h`, `1d`, `2w`, `1y`, or a bare number
 * of seconds. A year is 365 days and a week 7: retention and rollup ages are written that way
 * (`retention: { minute: 1y }`), and a calendar is not what they mean. No months: `1M` next to
 * `1m` (minutes) would be a trap.
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

export function parseDuration(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|min|h|d|w|y)?\s*$/.exec(text);
  if (!m) {
    throw new Error(`${what} "${text}" is not a duration: expected a number with a unit such as 500ms, 5s, 30m, 2h, 1d, 2w or 1y`);
  }
  const unit = m[2] ?? 's';
  return Math.round(Number(m[1]) * (UNITS[unit] ?? 1000));
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toFixed(1))} s`;
  if (ms < 7_200_000) return `${Number((ms / 60_000).toFixed(1))} min`;
  return `${Number((ms / 3_600_000).toFixed(1))} h`;
}
