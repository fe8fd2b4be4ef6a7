/**
 * Pure helpers of the monitor: reading CCDLab status lines, checking names, and writing the
 * aggregated lab status in CCDLab's `<client>.<param>` naming (reference/ccdlab.md §5).
 */
import { convertValue } from '../client/index.js';
import { formatValue, quote } from '../wire/format.js';
import type { Command, DescribeDoc } from '../wire/types.js';
import type { Archive } from '../archive/types.js';
import type { PeerValue } from './types.js';

/* eslint-disable no-control-regex */
/** A key the formatter can write bare: no whitespace, quote, backslash, `=` or control character. */
const KEY = /^[^\s"'\\=\x00-\x1f\x7f]+$/;
/* eslint-enable no-control-regex */

/** Top-level names of the monitor's JSON status that a client may not take. */
export const RESERVED_CLIENT_NAMES = new Set(['nconnected', 'clients_connected', 'devices_connected', 'connected', 'values', 't', 'archive']);

/** The archive's state as the status shows it while it is degraded (spooling: decision 0022). */
export interface ArchiveHealth {
  state: 'degraded';
  /** Rows waiting in the spool. */
  spooled: number;
  /** `archive degraded (N spooled)`, for people. */
  text: string;
}

/** Undefined while the archive is fine (or absent): the status then looks as it always did. */
export function archiveHealth(archive: Archive | undefined): ArchiveHealth | undefined {
  if (!archive) return undefined;
  let stats: ReturnType<Archive['stats']>;
  try {
    stats = archive.stats();
  } catch {
    return undefined;
  }
  if (stats.state !== 'degraded') return undefined;
  const spooled = stats.spooled ?? 0;
  return { state: 'degraded', spooled, text: `archive degraded (${spooled} spooled)` };
}

export function isWritableKey(key: string): boolean {
  return KEY.test(key);
}

/**
 * Why a configured client name cannot be used, or undefined when it can. A client name is the
 * first half of `<client>.<param>` status keys, so it may hold no dot and nothing a key may not.
 */
export function clientNameProblem(name: string): string | undefined {
  if (name === '') return 'a client name must not be empty';
  if (!KEY.test(name)) return `client name "${name}" may not hold whitespace, quotes, backslashes, "=" or control characters`;
  if (name.includes('.')) return `client name "${name}" may not hold a dot: status keys are <client>.<param>`;
  if (RESERVED_CLIENT_NAMES.has(name)) return `client name "${name}" is reserved (${[...RESERVED_CLIENT_NAMES].join(', ')})`;
  return undefined;
}

const LEADING_ZERO = /^[+-]?0\d/;

/**
 * One value of a CCDLab status line: numbers when they look like numbers, `nan` as null, anything
 * else as the string sent. A digit string with a leading zero (`0110`, cryo-con's channel mask)
 * stays a string: as a number it would lose its digits.
 */
export function ccdlabValue(raw: string): PeerValue {
  if (LEADING_ZERO.test(raw.trim())) return raw;
  return convertValue(raw);
}

/** A labwire update value, typed by the peer's `describe` when it gave one. */
export function labwireValue(raw: string, describe: DescribeDoc | undefined, name: string): PeerValue {
  const type = describe && Object.hasOwn(describe.params, name) ? describe.params[name]?.type : undefined;
  return convertValue(raw, type);
}

export type StatusParse = { ok: true; values: Record<string, PeerValue> } | { ok: false; reason: string };

function clip(s: string, n = 120): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * A CCDLab peer's reply to `get_status`: `status k=v ...`. Anything else — another first word,
 * stray tokens without `=`, no pairs at all — is malformed, and the caller keeps its last good
 * values rather than taking half a line.
 */
export function parseCcdlabStatus(cmd: Command, line: string): StatusParse {
  if (cmd.name !== 'status') return { ok: false, reason: `expected "status k=v ...", got "${clip(line)}"` };
  if (cmd.args.length > 0) {
    return { ok: false, reason: `token(s) without "=": ${clip(cmd.args.map((a) => JSON.stringify(a)).join(' '))} in "${clip(line)}"` };
  }
  const keys = Object.keys(cmd.kwargs);
  if (keys.length === 0) return { ok: false, reason: 'a status line without any key=value pair' };
  const values = Object.create(null) as Record<string, PeerValue>;
  for (const k of keys) values[k] = ccdlabValue(cmd.kwargs[k] ?? '');
  return { ok: true, values };
}

/** A JSON-safe value: non-finite numbers become null (JSON has no NaN or Infinity). */
export function jsonValue(v: PeerValue): PeerValue {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

export interface ClientStatus {
  name: string;
  connected: boolean;
  values: Record<string, PeerValue>;
}

/**
 * The counts at the head of the monitor's status. `nconnected` is CCDLab's field (its MONITOR
 * counted every live connection, which there meant devices and scripts alike; here it counts the
 * connections to the monitor's port, and CCDLab peers may read it): kept as it was. The names that
 * say what they count stand beside it: `clients_connected` (the same number: connections to this
 * port) and `devices_connected` (devices whose link from the monitor is up).
 */
export function statusCounts(connections: number, clients: readonly ClientStatus[]): { nconnected: number; clients_connected: number; devices_connected: number } {
  return { nconnected: connections, clients_connected: connections, devices_connected: clients.filter((c) => c.connected).length };
}

/**
 * `status nconnected=<n> clients_connected=<n> devices_connected=<n> <client>=1|0 <client>.<param>=<value> ...`. A disconnected client shows
 * only `<client>=0`: its last values are not current and are not shown as if they were. Keys the
 * line could not carry (a CCDLab peer may send odd ones) are left out.
 */
export function formatStatusLine(nconnected: number, clients: readonly ClientStatus[], archive?: ArchiveHealth): string {
  const counts = statusCounts(nconnected, clients);
  const parts = [`status nconnected=${counts.nconnected} clients_connected=${counts.clients_connected} devices_connected=${counts.devices_connected}`];
  if (archive) parts.push(`archive=${archive.state}`, `archive.spooled=${archive.spooled}`);
  for (const c of clients) {
    parts.push(`${c.name}=${c.connected ? 1 : 0}`);
    if (!c.connected) continue;
    for (const [k, v] of Object.entries(c.values)) {
      const key = `${c.name}.${k}`;
      if (!KEY.test(key)) continue;
      const text = formatValue(v);
      parts.push(`${key}=${text === '' ? '' : quote(text)}`);
    }
  }
  return parts.join(' ');
}

/**
 * The JSON of `get_status format=json`: CCDLab's nested shape (`{"nconnected":2,"chiller":{...}}`,
 * `{}` for a client that is down) plus `t` and a `connected` map. A LabwireClient flattens it to
 * the same `<client>.<param>` names as the text line, so `waitFor` works through the monitor.
 */
export function statusDocument(nconnected: number, clients: readonly ClientStatus[], t = Date.now(), archive?: ArchiveHealth): Record<string, unknown> {
  const doc: Record<string, unknown> = { ...statusCounts(nconnected, clients), t };
  if (archive) doc.archive = { ...archive };
  const connected: Record<string, boolean> = {};
  for (const c of clients) connected[c.name] = c.connected;
  doc.connected = connected;
  for (const c of clients) {
    const values: Record<string, PeerValue> = {};
    if (c.connected) {
      for (const [k, v] of Object.entries(c.values)) {
        Object.defineProperty(values, k, { value: jsonValue(v), enumerable: true, writable: true, configurable: true });
      }
    }
    doc[c.name] = values;
  }
  return doc;
}

// The kind of a line sent to a device, and the lines the monitor does not forward, are the
// built-in command table's (server/builtins.ts), shared with the daemon and the web.
export { NOT_FORWARDED, lineKind, type LineKind } from '../server/index.js';
