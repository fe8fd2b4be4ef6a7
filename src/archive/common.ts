/**
 * Small pieces both back-ends share (SQLite and PostgreSQL): the policy a series' filter follows,
 * map keys, and how stored JSON and rejected calls are handled. No SQL here.
 */
import type { Logger } from '../util/logger.js';
import { DEFAULT_FILTER, type FilterPolicy, type SeriesType } from './filter.js';
import { WriteQueue, type Batch, type CommitResult } from './queue.js';
import type { AuditEntry, ImageInfo, ImageRecord, LogEntry, Sample, SeriesPolicy } from './types.js';
import { checkAuditEntry, checkLogEntry, checkPolicy, checkSamples, cleanAuditEntry, cleanLogEntry, cleanSamples } from './validate.js';

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

/**
 * The write queue of a back-end, with its failure log: one error when failures start or change,
 * not one per batch while the disk stays full or the server stays away. `where` names the
 * archive in the log lines (`{ path }` or `{ url }`, already redacted).
 */
export function newWriteQueue(
  options: { batchMs?: number; batchRows?: number; maxPending?: number },
  defaultBatchRows: number,
  logger: Logger,
  where: Record<string, string>,
  commit: (batch: Batch) => CommitResult | Promise<CommitResult>,
): WriteQueue {
  let failing = false;
  let lastLogged: string | undefined;
  return new WriteQueue({
    batchMs: options.batchMs ?? 250,
    batchRows: options.batchRows ?? defaultBatchRows,
    maxPending: options.maxPending ?? 1_000_000,
    commit,
    onFailure: (error) => {
      if (!failing || error.message !== lastLogged) logger.error({ err: error, ...where }, 'archive write failed');
      failing = true;
      lastLogged = error.message;
    },
    onRecovery: () => {
      failing = false;
      lastLogged = undefined;
      logger.info(where, 'archive writes succeed again');
    },
  });
}

/** Validates samples and queues a copy (the caller may reuse its array before the batch is committed). */
export function enqueueSamples(queue: WriteQueue, samples: Sample[]): Promise<void> {
  try {
    checkSamples(samples);
  } catch (e) {
    return rejected(e);
  }
  return queue.enqueue({ kind: 'samples', items: cleanSamples(samples) });
}

export function enqueueLog(queue: WriteQueue, entry: LogEntry): Promise<void> {
  try {
    checkLogEntry(entry);
  } catch (e) {
    return rejected(e);
  }
  return queue.enqueue({ kind: 'log', items: [cleanLogEntry(entry)] });
}

export function enqueueAudit(queue: WriteQueue, entry: AuditEntry): Promise<void> {
  try {
    checkAuditEntry(entry);
  } catch (e) {
    return rejected(e);
  }
  return queue.enqueue({ kind: 'audit', items: [cleanAuditEntry(entry)] });
}

/**
 * configureSeries' common part: checks the policy, merges it into `policies` and applies it to
 * the known series `rt` (if any). A stored type is kept (with a warning). Returns true when the
 * unit changed, so the back-end stores it.
 */
export function applySeriesPolicy(
  policies: Map<string, SeriesPolicy>,
  rt: { filter: FilterPolicy; type: SeriesType; unit: string } | undefined,
  device: string,
  name: string,
  policy: SeriesPolicy,
  logger: Logger,
): boolean {
  checkPolicy(device, name, policy);
  const key = seriesKey(device, name);
  const merged = { ...policies.get(key), ...policy };
  policies.set(key, merged);
  if (rt === undefined) return false;
  rt.filter = filterOf(merged);
  if (policy.type !== undefined && policy.type !== rt.type) {
    logger.warn({ device, name, stored: rt.type, configured: policy.type }, 'archive: series keeps its stored type');
  }
  if (policy.unit === undefined || policy.unit === rt.unit) return false;
  rt.unit = policy.unit;
  return true;
}

/** An `images` row as both back-ends read it: the ImageInfo fields, the index id, t as t_ms. */
export type ImageRow = Omit<ImageInfo, 't'> & { id: number; t_ms: number };

export function imageRecord(r: ImageRow): ImageRecord {
  const { t_ms, ...rest } = r;
  return { ...rest, t: t_ms };
}
