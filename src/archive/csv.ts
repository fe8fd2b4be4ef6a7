/** CSV of a series (back-end neutral): `time_iso,t_ms,value`, RFC 4180 quoting, LF line ends. */

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
