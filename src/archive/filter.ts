/**
 * What to store of a series (back-end neutral): type coercion, deadband, heartbeat and gaps.
 *
 * Rules, per series, against the last STORED sample:
 * - a sample at the same time as the last stored one is a duplicate and skipped;
 * - a sample older than the last stored one is late: it bypasses the filter and is inserted if
 *   its timestamp is free (a clock step back must not lose data);
 * - a missing reading (null) is stored when the last stored sample was not null (the gap must be
 *   visible); further nulls add nothing and are skipped;
 * - the first value after a gap is always stored;
 * - a number is skipped when |v - last| < deadband and less than heartbeatMs passed;
 * - a text is skipped when equal to the last and less than heartbeatMs passed.
 * Defaults: deadband 0 (every number stored), no heartbeat (text stored on change only).
 */
import type { SampleValue } from './types.js';
import { parseDecimal } from '../wire/format.js';

export type SeriesType = 'number' | 'text';

export interface StoredSample {
  t: number;
  value: number | string | null;
}

export interface FilterPolicy {
  deadband: number;
  heartbeatMs: number;
}

export const DEFAULT_FILTER: FilterPolicy = { deadband: 0, heartbeatMs: Number.POSITIVE_INFINITY };

export type Decision = 'store' | 'skip' | 'late';

export function decide(policy: FilterPolicy, last: StoredSample | undefined, t: number, value: number | string | null): Decision {
  if (last === undefined) return 'store';
  if (t < last.t) return 'late';
  if (t === last.t) return 'skip';
  if (value === null) return last.value === null ? 'skip' : 'store';
  if (last.value === null) return 'store';
  if (t - last.t >= policy.heartbeatMs) return 'store';
  if (typeof value === 'number' && typeof last.value === 'number') {
    return Math.abs(value - last.value) < policy.deadband ? 'skip' : 'store';
  }
  return value === last.value ? 'skip' : 'store';
}

/** The type a first non-null value gives a new series; undefined for null. */
export function typeOf(value: SampleValue): SeriesType | undefined {
  if (value === null) return undefined;
  return typeof value === 'number' ? 'number' : 'text';
}

export interface Coerced {
  value: number | string | null;
  /** The value did not fit the series' type (stored as a missing reading). */
  conflict: boolean;
}


/**
 * Fits a value to the series' type. Number series: non-finite numbers become null (missing), a
 * string that is a plain decimal number is parsed, any other string becomes null with `conflict`.
 * Text series: numbers are stored as their decimal text (lossless).
 */
export function coerce(type: SeriesType, value: SampleValue): Coerced {
  if (value === null) return { value: null, conflict: false };
  if (type === 'number') {
    if (typeof value === 'number') return { value: Number.isFinite(value) ? value : null, conflict: false };
    const n = parseDecimal(value);
    return n === undefined ? { value: null, conflict: true } : { value: n, conflict: false };
  }
  return { value: typeof value === 'number' ? String(value) : value, conflict: false };
}
