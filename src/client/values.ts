/** Values as they arrive (update pushes, status documents) turned into what conditions compare. */
import { parseDecimal, type Command, type DescribeDoc } from '../wire/index.js';
import type { ConditionValue } from './condition.js';
import { plain } from './replies.js';
import type { Update } from './types.js';

/** An `update` push as an Update. */
export function parseUpdate(cmd: Command): Update {
  const values = plain(cmd.kwargs);
  const t = Number(values.t);
  delete values.t;
  return { t: cmd.kwargs.t !== undefined && Number.isFinite(t) ? t : Date.now(), values };
}

/**
 * A value from an update string, typed by the parameter's declared type, or by its look when the
 * peer gave no description: numbers as numbers, `nan` as null, anything else as a string.
 */
export function convertValue(raw: string, type?: DescribeDoc['params'][string]['type']): ConditionValue {
  const s = raw.trim();
  const lower = s.toLowerCase();
  if (type === 'string' || type === 'enum') return raw;
  if (type === 'bool') {
    if (lower === '1' || lower === 'true') return true;
    if (lower === '0' || lower === 'false') return false;
    return raw;
  }
  if (lower === 'nan') return null;
  if (lower === 'inf' || lower === '+inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return parseDecimal(s) ?? raw;
}

/** Nested objects become dotted names, as the monitor names `<client>.<param>`. */
export function flatten(obj: Record<string, unknown>, prefix = '', out: Record<string, ConditionValue> = Object.create(null)): Record<string, ConditionValue> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix + k;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = v;
    else if (typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key + '.', out);
    else out[key] = JSON.stringify(v) ?? null;
  }
  return out;
}
