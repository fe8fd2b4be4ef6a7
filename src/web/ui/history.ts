/// <reference lib="dom" />
/**
 * The history explorer: any series from the archive over 10 minutes to a year, zoom by dragging
 * across the plot (re-queried at the new range, so zooming in shows finer bins), the min/max
 * envelope when the answer is binned, and a CSV download of the range.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { HistoryResult, SeriesInfo } from '../../archive/types.js';
import { ApiError, api, query } from './api.js';
import { fmtDateTime, fmtDuration } from './format.js';

export const RANGES: Array<{ label: string; ms: number }> = [
  { label: '10 min', ms: 600_000 },
  { label: '1 h', ms: 3_600_000 },
  { label: '1 day', ms: 86_400_000 },
  { label: '1 week', ms: 7 * 86_400_000 },
  { label: '1 month', ms: 30 * 86_400_000 },
  { label: '1 year', ms: 365 * 86_400_000 },
];

interface View {
  from: number;
  to: number;
  /** The range button this view came from; null once zoomed. */
  range: number | null;
}

function toColumns(hr: HistoryResult): { data: uPlot.AlignedData; binned: boolean } {
  const binned = hr.binMs > 0;
  const t: number[] = [];
  const mean: Array<number | null> = [];
  const lo: Array<number | null> = [];
  const hi: Array<number | null> = [];
  let prev: number | undefined;
  for (const p of hr.points) {
    // A missing stretch stays visible as a gap.
    if (binned && prev !== undefined && p.t - prev > 2.5 * hr.binMs) {
      t.push((prev + hr.binMs) / 1000);
      mean.push(null);
      lo.push(null);
      hi.push(null);
    }
    t.push(p.t / 1000);
    if (binned) {
      mean.push(p.mean ?? null);
      lo.push(p.min ?? null);
      hi.push(p.max ?? null);
    } else {
      mean.push(p.v ?? null);
    }
    prev = p.t;
  }
  return { data: (binned ? [t, mean, lo, hi] : [t, mean]) as uPlot.AlignedData, binned };
}

export function HistoryExplorer(): ComponentChild {
  const [series, setSeries] = useState<SeriesInfo[] | null>(null);
  const [seriesError, setSeriesError] = useState('');
  const [key, setKey] = useState('');
  const [view, setView] = useState<View>(() => ({ from: Date.now() - RANGES[1]!.ms, to: Date.now(), range: 1 }));
  const [result, setResult] = useState<HistoryResult | null>(null);
  const [status, setStatus] = useState('');
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoom = useRef<(from: number, to: number) => void>(() => undefined);
  zoom.current = (from, to) => setView({ from, to, range: null });

  const loadSeries = (): void => {
    api<SeriesInfo[]>('/api/series')
      .then((s) => {
        const sorted = [...s].filter((x) => x.type === 'number').sort((a, b) => `${a.device}.${a.name}`.localeCompare(`${b.device}.${b.name}`));
        setSeries(sorted);
        setSeriesError('');
      })
      .catch((err: Error) => {
        setSeries([]);
        setSeriesError(err instanceof ApiError && err.code === 'NoArchive' ? 'This monitor keeps no archive, so there is no history.' : err.message);
      });
  };
  useEffect(loadSeries, []);

  const selected = series?.find((s) => `${s.device}.${s.name}` === key);

  useEffect(() => {
    if (!selected) return;
    const ctrl = new AbortController();
    const width = Math.max(200, Math.floor(box.current?.clientWidth ?? 600));
    const maxPoints = Math.min(1000, width);
    setStatus('loading…');
    api<HistoryResult>(`/api/history?${query({ device: selected.device, name: selected.name, from: Math.round(view.from), to: Math.round(view.to), maxPoints })}`, { signal: ctrl.signal })
      .then((hr) => {
        setResult(hr);
        setStatus('');
      })
      .catch((err: Error) => {
        if (err.name !== 'AbortError') setStatus(err.message);
      });
    return () => ctrl.abort();
  }, [key, view.from, view.to, selected !== undefined]);

  useEffect(() => {
    const el = box.current;
    if (!el || !result) return;
    const { data, binned } = toColumns(result);
    const unit = result.unit;
    const label = `${result.device}.${result.name}`;
    const series: uPlot.Series[] = [{}, { label: binned ? `${label} (mean)` : label, stroke: '#1f77b4', width: 1.5 }];
    if (binned) {
      series.push({ label: 'min', stroke: 'rgba(31,119,180,0.35)', width: 1 });
      series.push({ label: 'max', stroke: 'rgba(31,119,180,0.35)', width: 1 });
    }
    const width = (): number => Math.max(200, Math.floor(el.clientWidth));
    const opts: uPlot.Options = {
      width: width(),
      height: 300,
      series,
      bands: binned ? [{ series: [3, 2], fill: 'rgba(31,119,180,0.15)' }] : [],
      axes: [{}, { label: unit || undefined, size: 60 }],
      scales: { x: { time: true, range: () => [result.from / 1000, result.to / 1000] } },
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [
          (u: uPlot) => {
            if (u.select.width > 4) {
              const from = u.posToVal(u.select.left, 'x') * 1000;
              const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
              if (to - from >= 1000) zoom.current(from, to);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
      },
    };
    plot.current?.destroy();
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 300 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
    };
  }, [result]);

  useEffect(() => () => plot.current?.destroy(), []);

  const pick = (i: number): void => {
    const now = Date.now();
    setView({ from: now - RANGES[i]!.ms, to: now, range: i });
  };

  const csv = selected ? `/api/history.csv?${query({ device: selected.device, name: selected.name, from: Math.round(view.from), to: Math.round(view.to) })}` : undefined;
  const info = result
    ? `${result.points.length} ${result.binMs > 0 ? `bins of ${fmtDuration(result.binMs)} (min/max band)` : 'raw samples'} · ${fmtDateTime(result.from)} → ${fmtDateTime(result.to)}`
    : '';

  return h('section', { class: 'panel history', 'aria-labelledby': 'hx-title' }, [
    h('h2', { id: 'hx-title' }, 'History'),
    seriesError ? h('p', { class: 'muted', role: 'status' }, seriesError) : null,
    h('div', { class: 'hx-controls', hidden: seriesError !== '' }, [
      h('label', { for: 'hx-series' }, 'Series'),
      h('select', { id: 'hx-series', value: key, onChange: (e: Event) => setKey((e.target as HTMLSelectElement).value) }, [
        h('option', { value: '' }, series === null ? 'loading…' : series.length ? 'choose a series' : 'no series yet'),
        ...(series ?? []).map((s) => h('option', { value: `${s.device}.${s.name}` }, `${s.device}.${s.name}${s.unit ? ` (${s.unit})` : ''}`)),
      ]),
      h('button', { type: 'button', class: 'link', onClick: loadSeries, title: 'reload the list of series' }, '↻'),
    ]),
    h('div', { class: 'ranges', role: 'group', 'aria-label': 'Range', hidden: seriesError !== '' }, [
      ...RANGES.map((r, i) => h('button', { type: 'button', 'aria-pressed': view.range === i ? 'true' : 'false', onClick: () => pick(i) }, r.label)),
      view.range === null ? h('button', { type: 'button', class: 'link', onClick: () => pick(1) }, 'reset zoom') : null,
    ]),
    selected || seriesError ? null : h('p', { class: 'muted' }, 'Pick a series to plot its history. Drag across the plot to zoom.'),
    // uPlot owns this element's children.
    h('div', { class: 'hx-plot', ref: box, 'data-testid': 'history-plot' }),
    h('p', { class: 'hx-info' }, [
      h('span', { 'data-testid': 'history-info' }, status || info),
      csv ? h('a', { href: csv, download: '', class: 'csv' }, 'Download CSV') : null,
    ]),
  ]);
}
