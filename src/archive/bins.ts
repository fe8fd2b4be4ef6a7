/**
 * The arithmetic of history queries (back-end neutral): rollup tiers, bin widths that keep a
 * result within maxPoints, and which tier to read.
 */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export type RollupTier = '1m' | '1h';
export const TIER_MS: Readonly<Record<RollupTier, number>> = { '1m': MINUTE_MS, '1h': HOUR_MS };

/**
 * Reading more 1-minute rows than this for one query is slower than reading hours; beyond it the
 * 1-hour tier is used even when its bins are coarser than asked for (~140 days of minutes).
 */
export const MAX_MINUTE_ROWS = 200_000;

/** Largest |t| accepted anywhere (the range of a JavaScript Date). */
export const MAX_TIME_MS = 8.64e15;

/** Floor of t to a multiple of w (also for negative t). */
export function floorTo(t: number, w: number): number {
  const r = t % w;
  return r < 0 ? t - r - w : t - r;
}

export interface BinPlan {
  /** Width of the output bins (a multiple of the tier width). */
  binMs: number;
  /** Bins start at origin + i * binMs (0: aligned to the Unix epoch, so bins are stable across queries). */
  origin: number;
  /** Upper bound of the number of output bins (never more than maxPoints). */
  bins: number;
  /** Rollup rows of the tier that the range spans (the cost of reading it). */
  tierRows: number;
}

/** Number of bins of width w (starting at origin + i*w) that [lo, hi] touches. */
export function binCount(lo: number, hi: number, w: number, origin = 0): number {
  return Math.floor((hi - origin) / w) - Math.floor((lo - origin) / w) + 1;
}

/**
 * Groups the tier's bins spanned by [from, to] into output bins of k tier bins so that at most
 * maxPoints result. Epoch-aligned groups of k touch at most floor((n-2)/k)+2 of them for n tier
 * bins, so k = ceil((n-1)/(maxPoints-1)) is enough; maxPoints = 1 gets one bin from `from`.
 */
export function planBins(from: number, to: number, maxPoints: number, tierMs: number): BinPlan {
  const lo = floorTo(from, tierMs);
  const hi = floorTo(to, tierMs);
  const n = (hi - lo) / tierMs + 1;
  if (n <= maxPoints) return { binMs: tierMs, origin: 0, bins: n, tierRows: n };
  if (maxPoints === 1) return { binMs: n * tierMs, origin: lo, bins: 1, tierRows: n };
  let k = Math.max(1, Math.ceil((n - 1) / (maxPoints - 1)));
  // The bound above guarantees the first k; the loop is a guard against rounding, not a search.
  while (binCount(lo, hi, k * tierMs) > maxPoints) k++;
  return { binMs: k * tierMs, origin: 0, bins: binCount(lo, hi, k * tierMs), tierRows: n };
}

/**
 * The tier to read for a range that raw samples do not fit: minutes while the wanted bin width
 * is below an hour and the minute rows stay cheap, else hours. A tier whose data do not reach
 * back to the start of the range (cut by retention) gives way to one that does.
 */
export function chooseTier(
  from: number,
  to: number,
  maxPoints: number,
  coverage: Readonly<Record<RollupTier, boolean>>,
  maxMinuteRows: number = MAX_MINUTE_ROWS,
): RollupTier {
  const wantedMs = (to - from + 1) / maxPoints;
  const minuteRows = (to - from) / MINUTE_MS + 1;
  const preferred: RollupTier = wantedMs < HOUR_MS && minuteRows <= maxMinuteRows ? '1m' : '1h';
  const other: RollupTier = preferred === '1m' ? '1h' : '1m';
  return !coverage[preferred] && coverage[other] ? other : preferred;
}

/**
 * Whether a tier holds the start of a range: its first timestamp (raw time or bin start) is not
 * later than the hour after the range starts, where the range start is clipped to the earliest
 * data of any tier (a series that begins inside the range is covered from its first sample).
 */
export function tierCovers(first: number | undefined, from: number, earliest: number | undefined): boolean {
  if (first === undefined) return false;
  const start = earliest === undefined ? from : Math.max(from, earliest);
  return first < floorTo(start, HOUR_MS) + HOUR_MS;
}
