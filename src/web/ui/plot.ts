/// <reference lib="dom" />
/**
 * Plots with uPlot: the configured plots of a device (history from the archive, then live points
 * from the stream) and the helpers the history explorer shares.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { HistoryResult } from '../../archive/types.js';
import type { PeerValue, PlotConfig } from '../../monitor/types.js';
import { numberOf } from '../../wire/format.js';
import { api, query } from './api.js';
import { live } from './live.js';

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export type XY = Array<[number, number | null]>;

/** A value as a plot point: a number, or null for a gap. */
export const num = (v: PeerValue | undefined): number | null => numberOf(v) ?? null;

/** Points of a history as [unix s, value]; binned results use the mean, and missing bins become gaps. */
export function historyXY(hr: HistoryResult): XY {
  const out: XY = [];
  let prev: number | undefined;
  for (const p of hr.points) {
    if (hr.binMs > 0 && prev !== undefined && p.t - prev > 2.5 * hr.binMs) out.push([(prev + hr.binMs) / 1000, null]);
    out.push([p.t / 1000, p.v !== undefined ? p.v : (p.mean ?? null)]);
    prev = p.t;
  }
  return out;
}

/**
 * Several series on one time axis: at every time any series has a point, each series shows the
 * value it last had (a recorded null stays a gap until the next real value).
 */
export function alignStepHold(series: XY[]): Array<Array<number | null>> {
  const events: Array<[number, number, number | null]> = [];
  series.forEach((s, i) => {
    for (const [t, v] of s) events.push([t, i, v]);
  });
  events.sort((a, b) => a[0] - b[0]);
  const cols: Array<Array<number | null>> = [[], ...series.map(() => [])];
  const cur: Array<number | null> = series.map(() => null);
  let k = 0;
  while (k < events.length) {
    const t = events[k]![0];
    while (k < events.length && events[k]![0] === t) {
      const [, i, v] = events[k]!;
      cur[i] = v;
      k++;
    }
    cols[0]!.push(t);
    cur.forEach((v, i) => cols[i + 1]!.push(v));
  }
  return cols;
}

function seriesRef(client: string, value: string): { device: string; name: string } {
  const dot = value.indexOf('.');
  return dot > 0 ? { device: value.slice(0, dot), name: value.slice(dot + 1) } : { device: client, name: value };
}

const LIVE_WINDOW_MS = 3_600_000;
/** A value holds until the next update (daemons report changes): the line is drawn on to now this often. */
const HOLD_REDRAW_MS = 2000;

const SI: Array<[number, string]> = [[1e-15, 'f'], [1e-12, 'p'], [1e-9, 'n'], [1e-6, 'µ'], [1e-3, 'm'], [1, ''], [1e3, 'k'], [1e6, 'M'], [1e9, 'G']];

/**
 * Tick labels that stay distinct at any magnitude (nanoamperes, megahertz): an SI prefix chosen
 * by the largest tick, decimals by the step between ticks.
 */
export function tickLabels(splits: number[], incr: number): string[] {
  const big = Math.max(0, ...splits.map((v) => Math.abs(v)).filter(Number.isFinite));
  let scale = 1;
  let prefix = '';
  if (big > 0 && (big < 1e-2 || big >= 1e5)) {
    for (const [s, p] of SI) if (big >= s * 0.9995) [scale, prefix] = [s, p];
    if (big < SI[0]![0]) [scale, prefix] = SI[0]!;
  }
  const step = incr > 0 && Number.isFinite(incr) ? incr / scale : 1;
  // Enough decimals to show the step itself (0.025, not 0.03).
  let decimals = 0;
  while (decimals < 12 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6 * step * 10 ** decimals) decimals++;
  return splits.map((v) => (Number.isFinite(v) ? `${(v / scale).toFixed(decimals)}${prefix}` : ''));
}

/** Abscissae with at least one value: shown as the plot's data-points, for tools and the browser tests (a canvas hides it). */
function drawn(cols: Array<Array<number | null>>): number {
  return cols[0]!.filter((_x, j) => cols.slice(1).some((c) => typeof c[j] === 'number')).length;
}
const MAX_LIVE_ROWS = 20_000;

/** A configured plot of a device: the last hour from the archive, then live. */
export function LivePlot(props: { device: string; plot: PlotConfig; unit: string | undefined; height?: number }): ComponentChild {
  const { device, plot } = props;
  const box = useRef<HTMLDivElement>(null);
  const [note, setNote] = useState<string>('loading history…');

  useEffect(() => {
    const el = box.current!;
    const [xName = 'time', ...yNames] = plot.values;
    const timeX = xName === 'time';
    const refs = yNames.map((y) => seriesRef(device, y));
    const xRef = timeX ? undefined : seriesRef(device, xName);
    const height = props.height ?? 220;
    const width = (): number => Math.max(200, Math.floor(el.clientWidth));
    const opts: uPlot.Options = {
      width: width(),
      height,
      series: [
        timeX ? {} : { label: xName },
        ...yNames.map((y, i) => ({ label: y, stroke: COLORS[i % COLORS.length], width: 1.5, ...(timeX ? {} : { paths: () => null, points: { show: true, size: 4 } }) })),
      ],
      axes: [{ label: timeX ? undefined : (plot.xlabel ?? xName) }, { label: plot.ylabel ?? props.unit, size: 60, values: (_u, splits, _axis, _space, incr) => tickLabels(splits, incr) }],
      scales: { x: { time: timeX, distr: !timeX && plot.xscale === 'log' ? 3 : 1 }, y: { distr: plot.yscale === 'log' ? 3 : 1 } },
      cursor: { drag: { x: true, y: false } },
      legend: { show: true },
    };
    let hist: Array<Array<number | null>> = [[], ...yNames.map(() => [])];
    let rows: Array<Array<number | null>> = [];
    const valueOf = (r: { device: string; name: string }): number | null => num(live.state.devices.find((d) => d.name === r.device)?.values[r.name]);
    const current = refs.map(valueOf);
    let xCurrent = xRef ? valueOf(xRef) : null;
    // What the page already knows holds from now on: a steady value is drawn before its next change.
    if (timeX && current.some((v) => v !== null)) rows.push([Date.now() / 1000, ...current]);
    const u = new uPlot(opts, hist as uPlot.AlignedData, el);
    let frame = 0;
    const redraw = (): void => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        if (timeX) {
          const lastHist = hist[0]!.length ? (hist[0]![hist[0]!.length - 1] as number) : -Infinity;
          const cutoff = Date.now() / 1000 - LIVE_WINDOW_MS / 1000;
          rows = rows.filter((r) => (r[0] as number) >= cutoff);
          const fresh = rows.filter((r) => (r[0] as number) > lastHist);
          const cols = hist.map((c, i) => [...c, ...fresh.map((r) => r[i]!)]);
          // The latest values hold until they change: draw them on to now, so a steady value is a line, not a dot.
          const now = Date.now() / 1000;
          const last = cols[0]!.length ? (cols[0]![cols[0]!.length - 1] as number) : -Infinity;
          if (current.some((v) => v !== null) && now > last) cols.forEach((c, i) => c.push(i === 0 ? now : current[i - 1]!));
          u.setData(cols as uPlot.AlignedData);
          el.dataset.points = String(drawn(cols));
        } else {
          const pts = rows.filter((r) => r[0] !== null).sort((a, b) => (a[0] as number) - (b[0] as number));
          const cols = hist.map((_c, i) => pts.map((r) => r[i]!));
          u.setData(cols as uPlot.AlignedData);
          el.dataset.points = String(drawn(cols));
        }
      });
    };
    const unsubscribe = live.onUpdate((up) => {
      let touched = false;
      refs.forEach((r, i) => {
        if (r.device === up.client && r.name in up.values) {
          current[i] = num(up.values[r.name]);
          touched = true;
        }
      });
      if (xRef && xRef.device === up.client && xRef.name in up.values) {
        xCurrent = num(up.values[xRef.name]);
        touched = true;
      }
      if (!touched) return;
      rows.push([timeX ? up.t / 1000 : xCurrent, ...current]);
      if (rows.length > MAX_LIVE_ROWS) rows = rows.slice(-MAX_LIVE_ROWS / 2);
      redraw();
    });
    const hold = timeX ? setInterval(redraw, HOLD_REDRAW_MS) : undefined;
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height }));
    ro.observe(el);

    const ctrl = new AbortController();
    if (timeX) {
      const to = Date.now();
      const from = to - LIVE_WINDOW_MS;
      Promise.all(
        refs.map((r) =>
          api<HistoryResult>(`/api/history?${query({ device: r.device, name: r.name, from, to, maxPoints: Math.min(1000, width()) })}`, { signal: ctrl.signal })
            .then(historyXY)
            .catch((err: Error) => {
              if (err.name === 'AbortError') throw err;
              return [] as XY;
            }),
        ),
      )
        .then((xys) => {
          hist = alignStepHold(xys);
          setNote(xys.some((x) => x.length > 0) ? '' : 'no history yet');
          redraw();
        })
        .catch(() => undefined);
    } else {
      setNote('live points since the page opened');
    }
    return () => {
      ctrl.abort();
      if (hold) clearInterval(hold);
      unsubscribe();
      ro.disconnect();
      if (frame) cancelAnimationFrame(frame);
      u.destroy();
    };
  }, [device, plot.id, plot.values.join(',')]);

  return h('figure', { class: 'plot' }, [
    h('figcaption', null, [plot.name, note ? h('span', { class: 'muted' }, ` — ${note}`) : null]),
    h('div', { ref: box, class: 'plot-area', 'data-testid': `plot-${device}-${plot.id}` }),
  ]);
}
