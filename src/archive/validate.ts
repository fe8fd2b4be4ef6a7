/** Checks of what callers hand to the archive (back-end neutral). */
import { MAX_TIME_MS } from './bins.js';
import { ArchiveQueryError, type AuditEntry, type ImageInfo, type LogEntry, type LogLevel, type RetentionPolicy, type Sample, type SeriesPolicy } from './types.js';

export const MAX_HISTORY_POINTS = 100_000;
export const DEFAULT_LIST_LIMIT = 200;
export const MAX_LIST_LIMIT = 10_000;

/** Severity order of the message log: debug < info < success < warning < error. */
export const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, success: 2, warning: 3, error: 4 };

export function isLogLevel(x: unknown): x is LogLevel {
  return typeof x === 'string' && Object.hasOwn(LEVEL_RANK, x);
}

/** The levels at least as severe as `min`. */
export function levelsAtLeast(min: LogLevel): LogLevel[] {
  return (Object.keys(LEVEL_RANK) as LogLevel[]).filter((l) => LEVEL_RANK[l] >= LEVEL_RANK[min]);
}

function validTime(t: unknown): t is number {
  return typeof t === 'number' && Number.isFinite(t) && t >= 0 && t <= MAX_TIME_MS;
}

/** Describes what is wrong with a sample, or undefined when it is fine. */
export function sampleProblem(s: Sample): string | undefined {
  if (s === null || typeof s !== 'object') return 'not an object';
  if (typeof s.device !== 'string' || s.device === '') return 'device must be a non-empty string';
  if (typeof s.name !== 'string' || s.name === '') return 'name must be a non-empty string';
  if (!validTime(s.t)) return `t must be Unix milliseconds >= 0 (got ${String(s.t)})`;
  const v: unknown = s.value;
  if (v !== null && typeof v !== 'number' && typeof v !== 'string') return `value must be a number, a string or null (got ${typeof v})`;
  return undefined;
}

export function checkSamples(samples: readonly Sample[]): void {
  if (!Array.isArray(samples)) throw new TypeError('write() takes an array of samples');
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    const problem = sampleProblem(s);
    if (problem !== undefined) {
      const label = s !== null && typeof s === 'object' ? `${String(s.device)}.${String(s.name)}` : `#${i}`;
      throw new TypeError(`invalid sample ${label} (index ${i}): ${problem}`);
    }
  }
}

export function checkLogEntry(e: LogEntry): void {
  if (e === null || typeof e !== 'object') throw new TypeError('invalid log entry: not an object');
  if (!validTime(e.t)) throw new TypeError(`invalid log entry: t must be Unix milliseconds >= 0 (got ${String(e.t)})`);
  if (typeof e.source !== 'string') throw new TypeError('invalid log entry: source must be a string');
  if (!isLogLevel(e.level)) throw new TypeError(`invalid log entry: level must be one of ${Object.keys(LEVEL_RANK).join(', ')} (got ${String(e.level)})`);
  if (typeof e.message !== 'string') throw new TypeError('invalid log entry: message must be a string');
}

export function checkAuditEntry(e: AuditEntry): void {
  if (e === null || typeof e !== 'object') throw new TypeError('invalid audit entry: not an object');
  if (!validTime(e.t)) throw new TypeError(`invalid audit entry: t must be Unix milliseconds >= 0 (got ${String(e.t)})`);
  for (const k of ['who', 'peer', 'device', 'command', 'result'] as const) {
    if (typeof e[k] !== 'string') throw new TypeError(`invalid audit entry: ${k} must be a string`);
  }
  for (const k of ['before', 'after'] as const) {
    if (e[k] === null || typeof e[k] !== 'object' || Array.isArray(e[k])) throw new TypeError(`invalid audit entry: ${k} must be an object`);
    try {
      JSON.stringify(e[k]);
    } catch (err) {
      throw new TypeError(`invalid audit entry: ${k} is not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  }
}

export function checkPolicy(device: string, name: string, p: SeriesPolicy): void {
  const label = `${device}.${name}`;
  if (p.deadband !== undefined && !(Number.isFinite(p.deadband) && p.deadband >= 0)) {
    throw new RangeError(`series ${label}: deadband must be a finite number >= 0 (got ${p.deadband})`);
  }
  if (p.heartbeatMs !== undefined && !(p.heartbeatMs > 0)) {
    throw new RangeError(`series ${label}: heartbeatMs must be > 0 (got ${p.heartbeatMs})`);
  }
  if (p.type !== undefined && p.type !== 'number' && p.type !== 'text') {
    throw new RangeError(`series ${label}: type must be "number" or "text" (got ${String(p.type)})`);
  }
  if (p.unit !== undefined && typeof p.unit !== 'string') throw new RangeError(`series ${label}: unit must be a string`);
}

function queryTime(what: string, t: unknown): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || Math.abs(t) > MAX_TIME_MS) {
    throw new ArchiveQueryError(`${what} must be Unix milliseconds (got ${String(t)})`);
  }
  return t;
}

/** Validates a time range; from and to are inclusive and rounded outward to whole milliseconds. */
export function checkRange(from: unknown, to: unknown): { from: number; to: number } {
  const f = Math.floor(queryTime('from', from));
  const t = Math.ceil(queryTime('to', to));
  if (f > t) throw new ArchiveQueryError(`from is after to (${new Date(f).toISOString()} > ${new Date(t).toISOString()})`);
  return { from: f, to: t };
}

export function checkMaxPoints(maxPoints: unknown): number {
  if (typeof maxPoints !== 'number' || !Number.isInteger(maxPoints) || maxPoints < 1 || maxPoints > MAX_HISTORY_POINTS) {
    throw new ArchiveQueryError(`maxPoints must be an integer from 1 to ${MAX_HISTORY_POINTS} (got ${String(maxPoints)})`);
  }
  return maxPoints;
}

export function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new ArchiveQueryError(`limit must be an integer from 1 to ${MAX_LIST_LIMIT} (got ${String(limit)})`);
  }
  return limit;
}

/** Optional query bounds: a missing from/to is unbounded. */
export function checkOptionalRange(from: unknown, to: unknown): { from: number; to: number } {
  return checkRange(from ?? -MAX_TIME_MS, to ?? MAX_TIME_MS);
}

const IMAGE_NUMBERS = ['frame', 'exptime', 'bytes', 'min', 'max', 'mean', 'median'] as const;

/** Throws ArchiveQueryError for an image entry the index cannot hold. */
export function checkImage(image: ImageInfo): void {
  const bad = (what: string): never => {
    throw new ArchiveQueryError(`bad image entry (${String(image?.device)} ${String(image?.path)}): ${what}`);
  };
  if (typeof image !== 'object' || image === null) bad('not an object');
  if (typeof image.device !== 'string' || image.device === '') bad('device must be a non-empty string');
  if (typeof image.path !== 'string' || image.path === '') bad('path must be a non-empty string');
  if (typeof image.t !== 'number' || !Number.isFinite(image.t) || Math.abs(image.t) > MAX_TIME_MS) bad(`t must be unix milliseconds (got ${String(image.t)})`);
  for (const k of ['width', 'height', 'bitpix'] as const) {
    const v = image[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || (k !== 'bitpix' && v < 1)) bad(`${k} must be an integer${k === 'bitpix' ? '' : ' above 0'} (got ${String(v)})`);
  }
  for (const k of IMAGE_NUMBERS) {
    const v = image[k];
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) bad(`${k} must be a number or null (got ${String(v)})`);
  }
  if (typeof image.type !== 'string' || typeof image.object !== 'string') bad('type and object must be strings');
}

// ---- text normalisation ------------------------------------------------------------------------

/**
 * U+0000 and lone UTF-16 surrogates: PostgreSQL cannot store them in text or jsonb (22021,
 * 22P05) and rejects the whole batch — every caller's rows in it — while SQLite stores them. Both
 * back-ends replace each with U+FFFD before queuing, so the archives agree (docs/archive.md).
 */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what must be found
const BAD_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const BAD_TEXT_ALL = new RegExp(BAD_TEXT.source, 'g');

/** The string with U+0000 and lone surrogates replaced by U+FFFD (the same string when clean). */
export function cleanText(s: string): string {
  return BAD_TEXT.test(s) ? s.replace(BAD_TEXT_ALL, '\ufffd') : s;
}

/** A JSON-like value with every string (keys too) cleaned; the same value when nothing changed. */
export function cleanJson(v: unknown): unknown {
  if (typeof v === 'string') return cleanText(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    v.forEach((x: unknown, i) => {
      const c = cleanJson(x);
      if (c !== x) (out ??= v.slice())[i] = c;
    });
    return out ?? v;
  }
  // toJSON (Date, ...): what JSON.stringify stores is its result.
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return cleanJson((toJSON as () => unknown).call(v));
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const ck = cleanText(k);
    const cx = cleanJson(x);
    if (ck !== k || cx !== x) changed = true;
    out[ck] = cx;
  }
  return changed ? out : v;
}

/** A copy of the (checked) samples with their strings cleaned (the caller may reuse its array). */
export function cleanSamples(samples: readonly Sample[]): Sample[] {
  return samples.map((s) => {
    const device = cleanText(s.device);
    const name = cleanText(s.name);
    const value = typeof s.value === 'string' ? cleanText(s.value) : s.value;
    return device === s.device && name === s.name && value === s.value ? s : { ...s, device, name, value };
  });
}

/** The (checked) log entry with its strings cleaned. */
export function cleanLogEntry(e: LogEntry): LogEntry {
  const source = cleanText(e.source);
  const message = cleanText(e.message);
  return source === e.source && message === e.message ? e : { ...e, source, message };
}

/** The (checked) audit entry with its strings and before/after JSON cleaned. */
export function cleanAuditEntry(e: AuditEntry): AuditEntry {
  const out: AuditEntry = { ...e };
  let changed = false;
  for (const k of ['who', 'peer', 'device', 'command', 'result'] as const) {
    const c = cleanText(e[k]);
    if (c !== e[k]) {
      out[k] = c;
      changed = true;
    }
  }
  for (const k of ['before', 'after'] as const) {
    const c = cleanJson(e[k]);
    if (c !== e[k]) {
      out[k] = c as Record<string, unknown>;
      changed = true;
    }
  }
  return changed ? out : e;
}

/** Checks applyRetention's arguments: every age limit a duration in ms >= 0 (or undefined), `now` finite. */
export function checkRetention(policy: RetentionPolicy, now: number): void {
  const limits: Array<[keyof RetentionPolicy, number | undefined]> = [
    ['rawMs', policy.rawMs],
    ['textMs', policy.textMs],
    ['minuteMs', policy.minuteMs],
    ['hourMs', policy.hourMs],
    ['logMs', policy.logMs],
    ['auditMs', policy.auditMs],
    ['imagesMs', policy.imagesMs],
  ];
  for (const [k, v] of limits) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new ArchiveQueryError(`retention ${k} must be a duration in ms >= 0 (got ${v})`);
  }
  if (!Number.isFinite(now)) throw new ArchiveQueryError(`retention: now must be Unix milliseconds (got ${now})`);
}
