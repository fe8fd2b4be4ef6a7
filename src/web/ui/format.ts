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

const pad = (n: number): string => String(n).padStart(2, '0');

export function fmtClock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDateTime(t: number, seconds = false): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;
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
