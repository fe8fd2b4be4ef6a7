/**
 * CSV (back-end neutral), RFC 4180 quoting, LF line ends: a series as `time_iso,t_ms,value`, and
 * the alarm history with one row per transition.
 */
import type { AlarmEntry } from './types.js';

export const CSV_HEADER = 'time_iso,t_ms,value\n';

/** Rows per page read from the database and per chunk yielded. */
export const CSV_PAGE_ROWS = 10_000;

export function csvField(value: number | string | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function csvRow(t: number, value: number | string | null): string {
  return `${new Date(t).toISOString()},${t},${csvField(value)}\n`;
}

export const ALARM_CSV_HEADER = 'time_iso,t_ms,alarm,from,to,severity,value,who,message\n';

export function alarmCsvRow(e: AlarmEntry): string {
  return `${new Date(e.t).toISOString()},${e.t},${[e.id, e.from, e.to, e.severity, e.value, e.who ?? '', e.message].map(csvField).join(',')}\n`;
}
