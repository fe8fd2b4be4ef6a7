/**
 * Small pieces both back-ends share (SQLite and PostgreSQL): the policy a series' filter follows,
 * map keys, and how stored JSON and rejected calls are handled. No SQL here.
 */
import { DEFAULT_FILTER, type FilterPolicy } from './filter.js';
import type { SeriesPolicy } from './types.js';

export function filterOf(policy: SeriesPolicy | undefined): FilterPolicy {
  return {
    deadband: policy?.deadband ?? DEFAULT_FILTER.deadband,
    heartbeatMs: policy?.heartbeatMs ?? DEFAULT_FILTER.heartbeatMs,
  };
}

export function seriesKey(device: string, name: string): string {
  return `${device}\u0000${name}`;
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A rejected promise already marked as handled (a caller that ignores it cannot crash the process). */
export function rejected(e: unknown): Promise<void> {
  const p = Promise.reject(e instanceof Error ? e : new Error(String(e)));
  p.catch(() => {});
  return p;
}

/** A stored JSON object (audit before/after); anything else comes back wrapped as `{ value }`. */
export function parseObject(json: unknown): Record<string, unknown> {
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
  if (typeof json !== 'string') return { value: json };
  try {
    const v: unknown = JSON.parse(json);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { value: json };
  }
}

/** Checks the batching options every back-end takes. */
export function checkQueueOptions(options: { batchMs?: number; batchRows?: number; maxPending?: number }): void {
  for (const [k, min] of [['batchMs', 0], ['batchRows', 1], ['maxPending', 1]] as const) {
    const v = options[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new RangeError(`archive option ${k} must be an integer >= ${min} (got ${v})`);
  }
}
