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

/**
 * The CSV of one series' samples in [from, to], paged by time: `page(cursor)` reads at most
 * CSV_PAGE_ROWS rows with t >= cursor, in time order; `check` runs before each page (it throws
 * when the archive got closed meanwhile). Bounded memory for any range.
 */
export async function* csvPages(
  from: number,
  page: (cursor: number) => Array<[number, number | string | null]> | Promise<Array<[number, number | string | null]>>,
  check: () => void,
): AsyncGenerator<string> {
  yield CSV_HEADER;
  let cursor = from;
  for (;;) {
    check();
    const rows = await page(cursor);
    if (rows.length === 0) return;
    let chunk = '';
    for (const [t, v] of rows) chunk += csvRow(t, v);
    yield chunk;
    if (rows.length < CSV_PAGE_ROWS) return;
    cursor = rows[rows.length - 1]![0] + 1;
  }
}
