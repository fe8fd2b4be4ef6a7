/// <reference lib="dom" />
/**
 * The history explorer (`#/history?…`): several series on one plot, a second y axis once a second
 * unit is shown, a searchable series picker, relative ranges (10 min to a year) and absolute ones
 * (from/to inputs, or drag across the plot to zoom: re-queried, so zooming shows finer bins), live
 * follow, and a CSV of exactly what is shown. The whole view lives in the route's parameters
 * (history-state.ts): the URL shares it and a reload restores it.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { HistoryResult, SeriesInfo } from '../../archive/types.js';
import type { SeriesRef } from '../../monitor/types.js';
import { ApiError, api, query } from './api.js';
import { fmtDateTime, fmtDuration, fmtInputDateTime, parseInputDateTime, slug } from './format.js';
import {
  RANGES,
  historyParams,
  historySpan,
  parseHistoryParams,
  rangeMs,
  sameSeries,
  seriesInSpan,
  shownCsv,
  visibleSpan,
  type HistoryViewState,
  type ShownSeries,
} from './history-state.js';
import { live } from './live.js';
import { COLORS, alignSeries, historyMaxPoints, historyXY, num, timeAxis, timeSeriesX } from './plot.js';
import { navigate, routeHref, useRoute } from './route.js';

export { RANGES } from './history-state.js';

/** Matches of the picker's search shown at once. */
const PICKER_ROWS = 40;
/** Live points kept per series while following, beyond what the range shows. */
const FOLLOW_MAX_POINTS = 20_000;
const FOLLOW_REDRAW_MS = 2000;

const label = (s: SeriesRef): string => `${s.device} ${s.name}`;
const key = (s: SeriesRef): string => `${slug(s.device)}-${slug(s.name)}`;

/** Every word of the search appears in the series' device, name or unit. */
function matches(s: SeriesInfo, search: string): boolean {
  const text = `${s.device} ${s.name} ${s.unit}`.toLowerCase();
  return search.toLowerCase().split(/\s+/).filter(Boolean).every((w) => text.includes(w));
}

export function HistoryExplorer(): ComponentChild {
  const route = useRoute();
  const paramText = route.view === 'history' ? route.params.toString() : '';
  const state = useMemo(() => parseHistoryParams(new URLSearchParams(paramText)), [paramText]);
  const update = (next: HistoryViewState): void => navigate(routeHref('history', { params: historyParams(next) }), { replace: true });

  const [catalog, setCatalog] = useState<SeriesInfo[] | null>(null);
  const [catalogError, setCatalogError] = useState('');
  const [search, setSearch] = useState('');
  const [reload, setReload] = useState(0);
  const [shown, setShown] = useState<{ series: ShownSeries[]; from: number; to: number; what: string } | null>(null);
  // Re-renders in follow mode so that the range text and the from/to inputs move with the plot.
  const [, setTick] = useState(0);
  const [status, setStatus] = useState('');
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const stateRef = useRef(state);
  stateRef.current = state;

  const loadCatalog = (): void => {
    api<SeriesInfo[]>('/api/series')
      .then((s) => {
        setCatalog([...s].filter((x) => x.type === 'number').sort((a, b) => a.device.localeCompare(b.device) || a.name.localeCompare(b.name)));
        setCatalogError('');
      })
      .catch((err: Error) => {
        setCatalog([]);
        setCatalogError(err instanceof ApiError && err.code === 'NoArchive' ? 'This monitor keeps no archive, so there is no history.' : err.message);
      });
  };
  useEffect(loadCatalog, []);

  const unitOf = (r: SeriesRef): string => catalog?.find((c) => sameSeries(c, r))?.unit ?? '';
  const seriesKey = state.series.map((s) => `${s.device}\u0000${s.name}`).join('\u0001');
  const spanKey = state.range ?? `${state.from}-${state.to}`;

  // Each series' history over the view's span, at most about two points per pixel.
  useEffect(() => {
    if (state.series.length === 0) {
      setShown(null);
      setStatus('');
      return;
    }
    const ctrl = new AbortController();
    const { from, to } = historySpan(state, Date.now());
    const maxPoints = historyMaxPoints(Math.max(200, Math.floor(box.current?.clientWidth ?? 600)));
    setStatus('loading…');
    Promise.all(
      state.series.map((ref) =>
        api<HistoryResult>(`/api/history?${query({ device: ref.device, name: ref.name, from: Math.round(from), to: Math.round(to), maxPoints })}`, { signal: ctrl.signal }).then(
          (hr) => ({ hr, error: '' }),
          (err: Error) => {
            if (err.name === 'AbortError') throw err;
            return { hr: undefined, error: `${label(ref)}: ${err.message}` };
          },
        ),
      ),
    )
      .then((answers) => {
        const series: ShownSeries[] = answers.map((a, i) => ({
          ref: state.series[i]!,
          unit: a.hr?.unit ?? unitOf(state.series[i]!),
          // Milliseconds here; the plot takes seconds.
          points: a.hr ? historyXY(a.hr).map(([t, v]) => [Math.round(t * 1000), v] as [number, number | null]) : [],
        }));
        const binned = answers.map((a) => a.hr?.binMs ?? 0).filter((b) => b > 0);
        const what = binned.length ? `bins of ${fmtDuration(Math.max(...binned))} (mean)` : 'raw samples';
        setShown({ series, from, to, what });
        setStatus(answers.map((a) => a.error).filter(Boolean).join('; '));
      })
      .catch(() => undefined);
    return () => ctrl.abort();
    // Follow switched on asks again: live values were appended only while it was on, so the
    // span since loading would otherwise have a gap.
  }, [seriesKey, spanKey, reload, state.follow]);

  // The plot: one y axis per unit, the first on the left, every other unit on the right.
  useEffect(() => {
    const el = box.current;
    plot.current?.destroy();
    plot.current = null;
    if (!el || !shown) return;
    const units = [...new Set(shown.series.map((s) => s.unit))];
    const scaleOf = (unit: string): string => (units.indexOf(unit) === 0 ? 'y' : 'y2');
    const width = (): number => Math.max(200, Math.floor(el.clientWidth));
    const columns = (): uPlot.AlignedData => {
      const cols = alignSeries(shown.series.map((s) => s.points.map(([t, v]) => [t / 1000, v] as [number, number | null])));
      el.dataset.points = String(shown.series.reduce((n, s) => n + s.points.filter(([, v]) => v !== null).length, 0));
      return cols as uPlot.AlignedData;
    };
    const xRange = (): [number, number] => {
      const s = stateRef.current;
      if (s.follow) {
        const ms = rangeMs(s.range) ?? 3_600_000;
        return [(Date.now() - ms) / 1000, Date.now() / 1000];
      }
      return [shown.from / 1000, shown.to / 1000];
    };
    const opts: uPlot.Options = {
      width: width(),
      height: 320,
      series: [
        timeSeriesX,
        ...shown.series.map((s, i) => ({ label: `${label(s.ref)}${s.unit ? ` (${s.unit})` : ''}`, stroke: COLORS[i % COLORS.length], width: 1.5, scale: scaleOf(s.unit) })),
      ],
      axes: [
        timeAxis(el),
        { scale: 'y', label: units[0] || undefined, size: 60 },
        ...(units.length > 1 ? [{ scale: 'y2', side: 1, label: units.slice(1).join(', ') || undefined, size: 60, grid: { show: false } }] : []),
      ],
      scales: { x: { time: true, range: () => xRange() } },
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: true },
      hooks: {
        setSelect: [
          (u: uPlot) => {
            if (u.select.width > 4) {
              const from = u.posToVal(u.select.left, 'x') * 1000;
              const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
              if (to - from >= 1000) update({ ...stateRef.current, range: null, from, to, follow: false });
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
      },
    };
    const u = new uPlot(opts, columns(), el);
    plot.current = u;
    el.dataset.yAxes = String(Math.min(2, units.length));
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 320 }));
    ro.observe(el);

    // Live follow: the series' new values are appended and the range's end moves with now.
    let frame = 0;
    const redraw = (): void => {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        u.setData(columns());
      });
    };
    const off = live.onUpdate((up) => {
      if (!stateRef.current.follow) return;
      let touched = false;
      for (const s of shown.series) {
        if (s.ref.device !== up.client || !(s.ref.name in up.values)) continue;
        s.points.push([up.t, num(up.values[s.ref.name])]);
        if (s.points.length > FOLLOW_MAX_POINTS) s.points.splice(0, s.points.length - FOLLOW_MAX_POINTS / 2);
        touched = true;
      }
      if (touched) redraw();
    });
    const timer = setInterval(() => {
      if (!stateRef.current.follow) return;
      redraw();
      // The text and inputs show minutes: a render a minute, which also leaves a from/to being
      // typed alone in between (a controlled input is rewritten on each render).
      setTick(Math.floor(Date.now() / 60_000));
    }, FOLLOW_REDRAW_MS);
    return () => {
      off();
      clearInterval(timer);
      if (frame) cancelAnimationFrame(frame);
      ro.disconnect();
    };
  }, [shown]);

  useEffect(() => () => plot.current?.destroy(), []);

  const toggle = (ref: SeriesRef): void => {
    const has = state.series.some((s) => sameSeries(s, ref));
    update({ ...state, series: has ? state.series.filter((s) => !sameSeries(s, ref)) : [...state.series, ref] });
  };
  const span = shown ? visibleSpan(state, shown, Date.now()) : historySpan(state, Date.now());
  const visible = shown ? seriesInSpan(shown.series, span) : [];
  const info = shown ? `${visible.reduce((n, s) => n + s.points.length, 0)} ${shown.what} · ${fmtDateTime(span.from)} → ${fmtDateTime(span.to)}` : '';
  const setAbsolute = (which: 'from' | 'to', text: string): void => {
    const t = parseInputDateTime(text);
    if (t === undefined) return;
    const next = { from: span.from, to: span.to, [which]: t };
    if (next.from < next.to) update({ ...state, range: null, from: next.from, to: next.to, follow: false });
  };
  const downloadCsv = (): void => {
    if (!shown) return;
    // What is shown now: in follow mode, the points inside the moving range only.
    const at = visibleSpan(state, shown, Date.now());
    const url = URL.createObjectURL(new Blob([shownCsv(seriesInSpan(shown.series, at))], { type: 'text/csv' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `history-${fmtDateTime(at.from).replace(/[ :]/g, '')}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  const found = (catalog ?? []).filter((s) => matches(s, search));
  const hidden = catalogError !== '';

  return h('section', { class: 'panel history', 'aria-labelledby': 'hx-title', 'data-testid': 'history' }, [
    h('h2', { id: 'hx-title' }, 'History'),
    catalogError ? h('p', { class: 'muted', role: 'status' }, catalogError) : null,
    h('div', { class: 'hx-chosen', hidden }, [
      ...state.series.map((s, i) =>
        h('span', { class: 'hx-chip', 'data-testid': `hx-chip-${key(s)}`, style: { borderColor: COLORS[i % COLORS.length] } }, [
          label(s),
          h('a', { href: `/api/history.csv?${query({ device: s.device, name: s.name, from: Math.round(span.from), to: Math.round(span.to) })}`, download: '', title: 'every raw sample of this series in the range', class: 'csv' }, 'raw CSV'),
          h('button', { type: 'button', class: 'link', 'aria-label': `remove ${label(s)}`, onClick: () => toggle(s) }, '×'),
        ]),
      ),
    ]),
    h('div', { class: 'hx-picker', hidden }, [
      h('label', { for: 'hx-search' }, 'Find series'),
      h('input', { id: 'hx-search', type: 'search', value: search, placeholder: 'device, parameter or unit', autocomplete: 'off', onInput: (e: Event) => setSearch((e.target as HTMLInputElement).value) }),
      h('button', { type: 'button', class: 'link', onClick: loadCatalog, title: 'reload the list of series' }, '↻'),
      h('ul', { class: 'hx-list', 'aria-label': 'Series' }, [
        catalog === null ? h('li', { class: 'muted' }, 'loading…') : found.length === 0 ? h('li', { class: 'muted' }, catalog.length ? 'no series matches' : 'no series yet') : null,
        ...found.slice(0, PICKER_ROWS).map((s) =>
          h('li', { key: `${s.device}\u0000${s.name}` }, [
            h('label', null, [
              h('input', { type: 'checkbox', 'data-testid': `hx-pick-${key(s)}`, checked: state.series.some((x) => sameSeries(x, s)), onChange: () => toggle({ device: s.device, name: s.name }) }),
              ` ${s.device} `,
              h('strong', null, s.name),
              s.unit ? h('span', { class: 'muted' }, ` ${s.unit}`) : null,
            ]),
          ]),
        ),
        found.length > PICKER_ROWS ? h('li', { class: 'muted' }, `${found.length - PICKER_ROWS} more: narrow the search`) : null,
      ]),
    ]),
    h('div', { class: 'ranges', role: 'group', 'aria-label': 'Range', hidden }, [
      ...RANGES.map((r) => h('button', { type: 'button', 'aria-pressed': state.range === r.key ? 'true' : 'false', onClick: () => update({ ...state, range: r.key, from: undefined, to: undefined }) }, r.label)),
      state.range === null ? h('button', { type: 'button', class: 'link', onClick: () => update({ ...state, range: '1h', from: undefined, to: undefined }) }, 'reset zoom') : null,
    ]),
    h('div', { class: 'hx-absolute', hidden }, [
      // Text, not datetime-local: the browser would show that in its locale's form (12-hour in en-US).
      h('label', null, ['from ', h('input', { type: 'text', inputMode: 'numeric', size: 16, 'data-testid': 'hx-from', placeholder: 'YYYY-MM-DD HH:MM', title: 'YYYY-MM-DD HH:MM (local time); Enter applies', value: fmtInputDateTime(span.from), onChange: (e: Event) => setAbsolute('from', (e.target as HTMLInputElement).value) })]),
      h('label', null, ['to ', h('input', { type: 'text', inputMode: 'numeric', size: 16, 'data-testid': 'hx-to', placeholder: 'YYYY-MM-DD HH:MM', title: 'YYYY-MM-DD HH:MM (local time); Enter applies', value: fmtInputDateTime(span.to), onChange: (e: Event) => setAbsolute('to', (e.target as HTMLInputElement).value) })]),
      h('label', { title: state.range === null ? 'follow needs a relative range (1 h, 1 day, …)' : 'append live values; the range ends now' }, [
        h('input', { type: 'checkbox', 'data-testid': 'hx-follow', checked: state.follow, disabled: state.range === null, onChange: () => update({ ...state, follow: !state.follow }) }),
        ' follow',
      ]),
      h('button', { type: 'button', class: 'link', onClick: () => setReload((n) => n + 1), title: 'query the range again' }, 'refresh'),
    ]),
    state.series.length || hidden ? null : h('p', { class: 'muted' }, 'Pick series to plot their history (several at once; a second unit gets the right axis). Drag across the plot to zoom.'),
    // uPlot owns this element's children.
    h('div', { class: 'hx-plot', ref: box, 'data-testid': 'history-plot' }),
    h('p', { class: 'hx-info' }, [
      h('span', { 'data-testid': 'history-info' }, status || info),
      shown ? h('button', { type: 'button', class: 'link csv', onClick: downloadCsv, title: 'the series and range shown, as one CSV' }, 'Download CSV') : null,
    ]),
  ]);
}
