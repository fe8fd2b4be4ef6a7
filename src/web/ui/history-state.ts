/**
 * The history explorer's view as route parameters, so a view can be bookmarked, shared and
 * reloaded: `#/history?device=cryocon&name=chA.temperature&device=chiller&name=temperature&range=1h&follow=1`
 * or with `from`/`to` (unix ms) for an absolute range. Each series is a `device` and a `name`
 * parameter, paired by position: a parameter name may hold dots and is never split.
 */
import type { SeriesRef } from '../../monitor/types.js';

export const RANGES: ReadonlyArray<{ key: string; label: string; ms: number }> = [
  { key: '10m', label: '10 min', ms: 600_000 },
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '1d', label: '1 day', ms: 86_400_000 },
  { key: '7d', label: '1 week', ms: 7 * 86_400_000 },
  { key: '30d', label: '1 month', ms: 30 * 86_400_000 },
  { key: '1y', label: '1 year', ms: 365 * 86_400_000 },
];
export const DEFAULT_RANGE = '1h';

export interface HistoryViewState {
  series: SeriesRef[];
  /** A relative range's key (RANGES), or null for the absolute range from/to. */
  range: string | null;
  from?: number;
  to?: number;
  /** Append live values and keep the range's end at now (relative ranges only). */
  follow: boolean;
}

export const sameSeries = (a: SeriesRef, b: SeriesRef): boolean => a.device === b.device && a.name === b.name;

export function rangeMs(key: string | null): number | undefined {
  return RANGES.find((r) => r.key === key)?.ms;
}

export function parseHistoryParams(params: URLSearchParams): HistoryViewState {
  const devices = params.getAll('device');
  const names = params.getAll('name');
  const series: SeriesRef[] = [];
  devices.forEach((device, i) => {
    const name = names[i];
    if (device !== '' && name !== undefined && name !== '' && !series.some((s) => sameSeries(s, { device, name }))) series.push({ device, name });
  });
  // An empty `from=` is absent, not Number('') = 0 (an absolute range from 1970).
  const given = (k: string): number | undefined => {
    const text = params.get(k)?.trim() ?? '';
    const n = text === '' ? NaN : Number(text);
    return Number.isFinite(n) ? n : undefined;
  };
  const from = given('from');
  const to = given('to');
  const span = from !== undefined && to !== undefined && from < to ? { from, to } : undefined;
  const key = params.get('range');
  const range = span ? null : rangeMs(key) !== undefined ? key : DEFAULT_RANGE;
  return { series, range, ...span, follow: range !== null && params.get('follow') === '1' };
}

export function historyParams(state: HistoryViewState): URLSearchParams {
  const q = new URLSearchParams();
  for (const s of state.series) {
    q.append('device', s.device);
    q.append('name', s.name);
  }
  if (state.range !== null) q.set('range', state.range);
  else if (state.from !== undefined && state.to !== undefined) {
    q.set('from', String(Math.round(state.from)));
    q.set('to', String(Math.round(state.to)));
  }
  if (state.follow && state.range !== null) q.set('follow', '1');
  return q;
}

/** The time span a state shows at `now`. */
export function historySpan(state: HistoryViewState, now: number): { from: number; to: number } {
  const ms = rangeMs(state.range);
  if (ms !== undefined) return { from: now - ms, to: now };
  return { from: state.from ?? now - 3_600_000, to: state.to ?? now };
}

/**
 * The span the plot shows: in follow mode the range's length up to now (the plot's x range moves
 * with it), else the span that was loaded. The range text, the from/to inputs and the CSV use it,
 * so none of them stays at load time while the plot moves on.
 */
export function visibleSpan(state: HistoryViewState, loaded: { from: number; to: number }, now: number): { from: number; to: number } {
  if (!state.follow) return loaded;
  const ms = rangeMs(state.range) ?? loaded.to - loaded.from;
  return { from: now - ms, to: now };
}

/** The series cut to a span: what the plot shows of them (follow mode keeps older points in memory). */
export function seriesInSpan(shown: readonly ShownSeries[], span: { from: number; to: number }): ShownSeries[] {
  return shown.map((s) => ({ ...s, points: s.points.filter(([t]) => t >= span.from && t <= span.to) }));
}

export interface ShownSeries {
  ref: SeriesRef;
  unit: string;
  points: Array<[number, number | null]>;
}

/** The CSV of what the plot shows: one row per time any series has a point (unix ms), one column per series. */
export function shownCsv(shown: ShownSeries[]): string {
  const rows = new Map<number, Array<number | null | undefined>>();
  shown.forEach((s, i) => {
    for (const [t, v] of s.points) {
      let row = rows.get(t);
      if (!row) rows.set(t, (row = shown.map(() => undefined)));
      row[i] = v;
    }
  });
  const quote = (text: string): string => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  const head = ['time_iso', 't_ms', ...shown.map((s) => quote(`${s.ref.device} ${s.ref.name}${s.unit ? ` (${s.unit})` : ''}`))].join(',');
  const lines = [...rows.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([t, vals]) => [new Date(t).toISOString(), String(t), ...vals.map((v) => (typeof v === 'number' ? String(v) : ''))].join(','));
  return `${[head, ...lines].join('\n')}\n`;
}
