/// <reference lib="dom" />
/** How values and times look on the page. */
import type { PeerValue } from '../../monitor/types.js';

export function fmtValue(v: PeerValue | undefined): string {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(4);
    return String(Number(v.toPrecision(6)));
  }
  return v;
}

/*
 * Times on the page have one form, ISO 8601 in the browser's time zone with a 24-hour clock:
 * `2026-12-04 19:25:07`, its date part `2026-12-04` and its clock part `19:25:07`. Plot axes,
 * tables, the log, alarms and images all format through these functions (decision 0030); nothing
 * on the page uses toLocale*String or uPlot's own (12-hour, month-first) axis labels.
 */
const pad = (n: number): string => String(n).padStart(2, '0');

/** `2026-12-04` (local date). */
export function fmtDate(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** `19:25:07` (local, 24-hour). */
export function fmtClock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `2026-12-04 19:25`, or `2026-12-04 19:25:07` with seconds. */
export function fmtDateTime(t: number, seconds = false): string {
  const clock = fmtClock(t);
  return `${fmtDate(t)} ${seconds ? clock : clock.slice(0, 5)}`;
}

/**
 * Labels of a time axis, in the page's one time form: ticks (unix seconds, as uPlot gives them)
 * `incr` seconds apart show the clock to the precision the step needs, and the date under the
 * first tick and wherever the day changes; day-or-longer steps show the date alone.
 */
export function timeAxisLabels(splits: number[], incr: number): string[] {
  let prevDay = '';
  return splits.map((s) => {
    if (!Number.isFinite(s)) return '';
    const t = s * 1000;
    const day = fmtDate(t);
    if (incr >= 86_400) return day;
    const clock = fmtClock(t);
    const text = incr < 60 ? clock : clock.slice(0, 5);
    const withDay = day !== prevDay ? `${text}\n${day}` : text;
    prevDay = day;
    return withDay;
  });
}

/** A date-time typed into the page's inputs, in the page's one form: `2026-12-04 19:25` (local). */
export function fmtInputDateTime(t: number): string {
  return fmtDateTime(t);
}

/** A typed `2026-12-04 19:25` (or with seconds, or ISO's `T`) as unix ms, local time; undefined when not a date. */
export function parseInputDateTime(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, hh, mm, ss] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const t = new Date(y, mo - 1, d, hh, mm, ss).getTime();
  return Number.isFinite(t) ? t : undefined;
}

/** A span of seconds as people read it: 45 s, 12 min 30 s, 3 h 05 min. */
export function fmtSpan(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${pad(s % 60)} s` : ''}`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

export function fmtDuration(ms: number): string {
  if (ms <= 0) return 'raw';
  const units: Array<[number, string]> = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  for (const [u, name] of units) if (ms >= u && ms % u === 0) return `${ms / u} ${name}`;
  return `${Math.round(ms / 1000)} s`;
}

/** An id fragment safe for HTML ids and test ids. */
export function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, '_');
}
