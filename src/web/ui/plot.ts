/// <reference lib="dom" />
/**
 * Plots with uPlot: the configured plots of a device (history from the archive, then live points
 * from the stream) and the helpers the history explorer shares.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { HistoryResult } from '../../archive/types.js';
import type { PeerValue, ResolvedPlot, SeriesRef } from '../../monitor/types.js';
import { numberOf } from '../../wire/format.js';
import { api, query } from './api.js';
import { fmtDateTime, timeAxisLabels } from './format.js';
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
 * Several series on one time axis, each at its own timestamps: at a time only some series have a
 * sample, the others hold `undefined`, which uPlot draws through (a line from their previous to
 * their next sample), while a recorded null stays a gap. Holding every series' last value at every
 * other series' times instead drew interleaved ramps as staircases.
 */
export function alignSeries(series: XY[]): PlotRow[] {
  const events: Array<[number, number, number | null]> = [];
  series.forEach((s, i) => {
    for (const [t, v] of s) events.push([t, i, v]);
  });
  events.sort((a, b) => a[0] - b[0]);
  const cols: PlotRow[] = [[], ...series.map(() => [])];
  let k = 0;
  while (k < events.length) {
    const t = events[k]![0];
    const row: PlotRow = series.map(() => undefined);
    while (k < events.length && events[k]![0] === t) {
      const [, i, v] = events[k]!;
      row[i] = v;
      k++;
    }
    cols[0]!.push(t);
    row.forEach((v, i) => cols[i + 1]!.push(v));
  }
  return cols;
}

/**
 * How many points to ask the archive for at a plot width: raw samples while they fit about two
 * per pixel (an hour of 5-second samples at card width is drawn from its ~700 samples, not from
 * 15 one-minute bins), bins only beyond.
 */
export function historyMaxPoints(widthPx: number): number {
  return Math.max(200, Math.min(MAX_HISTORY_POINTS, Math.round(2 * widthPx)));
}
/** The API's limit of maxPoints. */
const MAX_HISTORY_POINTS = 10_000;

/**
 * uPlot's time axis in the page's one time form (format.ts). With `el`, the labels last drawn are
 * also kept in its data-x-labels (a canvas hides them from tools and the browser tests).
 */
export function timeAxis(el?: HTMLElement): Pick<uPlot.Axis, 'values'> {
  return {
    values: (_u, splits, _axis, _space, incr) => {
      const labels = timeAxisLabels(splits, incr);
      if (el) el.dataset.xLabels = labels.join('|');
      return labels;
    },
  };
}
export const timeSeriesX: uPlot.Series = { value: (_u, v) => (v === null || v === undefined ? '—' : fmtDateTime(v * 1000, true)) };

const LIVE_WINDOW_MS = 3_600_000;
/** How long before a change its held predecessor is drawn (a millisecond: the step's riser). */
const HOLD_EPSILON_S = 0.001;
/**
 * A series quiet for longer than this was holding its value: its next change is drawn as a step.
 * One that changes more often (a ramp read every poll) is joined point to point, as its history is.
 */
const HOLD_GAP_S = 10;

/** The unit a series' device declares for it, for the y axis when the plot names none. */
function unitOf(r: SeriesRef | undefined): string | undefined {
  return r ? live.state.devices.find((d) => d.name === r.device)?.units[r.name] : undefined;
}
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
function drawn(cols: PlotRow[]): number {
  let n = 0;
  for (let j = 0; j < cols[0]!.length; j++) if (cols.some((c, i) => i > 0 && typeof c[j] === 'number')) n++;
  return n;
}
const MAX_LIVE_ROWS = 20_000;

/** A row or column of plot data: numbers, null for a gap, undefined where a series has no sample at that time. */
export type PlotRow = Array<number | null | undefined>;

const hasValue = (row: PlotRow): boolean => row.some((v, i) => i > 0 && typeof v === 'number');

/**
 * What a time plot draws, kept between redraws: the archive's history, then the live rows newer
 * than its last point and inside the live window, in arrival order, then a hold point (the
 * current values drawn on to now). New rows are appended to the same column arrays and the hold
 * point is replaced in place, so a redraw costs the rows that came since the last one, not the
 * whole history. Rows leave from the front of the live part (the window moves on, or more than
 * `maxRows` came): one splice per column, and only when times arrived out of order across the
 * window's edge are the columns rebuilt.
 */
export class TimeColumns {
  /** The columns handed to uPlot: [x, ...series]. */
  private cols: PlotRow[];
  private hist: PlotRow[];
  private lastHist = -Infinity;
  /** Every live row kept, oldest first; rows[0, appended) are already in `cols` if newer than the history. */
  private rows: PlotRow[] = [];
  private appended = 0;
  /** Earliest time among `rows`, and whether their times never go back (then the expired ones are a prefix). */
  private minT = Infinity;
  private ordered = true;
  private holding = false;
  /** Drawn live rows forgotten since the last frame: taken out of the columns at the next one, as uPlot may read them until then. */
  private undrawn = 0;
  private drawnRows = 0;

  constructor(
    series: number,
    private readonly windowS: number = LIVE_WINDOW_MS / 1000,
    private readonly maxRows: number = MAX_LIVE_ROWS,
  ) {
    this.hist = Array.from({ length: series + 1 }, () => []);
    this.cols = this.hist.map(() => []);
  }

  /** Abscissae with at least one value in the last frame (the plot's data-points). */
  get drawn(): number {
    return this.drawnRows;
  }

  /** The archive's history as aligned columns; the live rows are laid after it again. */
  setHistory(hist: PlotRow[]): void {
    this.hist = hist;
    this.rebuild();
  }

  /** A live row (its values copied by the caller): kept until it leaves the window or `maxRows` newer ones came. */
  push(row: PlotRow): void {
    const t = row[0] as number;
    const last = this.rows[this.rows.length - 1];
    if (last && t < (last[0] as number)) this.ordered = false;
    this.rows.push(row);
    this.minT = Math.min(this.minT, t);
    if (this.rows.length > this.maxRows) this.dropOldest(this.rows.length - Math.trunc(this.maxRows / 2));
  }

  /** The columns to draw at `nowS` with the current values held on to now; the same arrays from frame to frame. */
  frame(nowS: number, current: ReadonlyArray<number | null>): PlotRow[] {
    if (this.holding) {
      for (const c of this.cols) c.pop();
      this.holding = false;
      this.drawnRows--;
    }
    this.spliceUndrawn();
    const cutoff = nowS - this.windowS;
    if (this.minT < cutoff) {
      if (this.ordered) {
        let expired = 0;
        while (expired < this.rows.length && (this.rows[expired]![0] as number) < cutoff) expired++;
        this.dropOldest(expired);
        this.spliceUndrawn();
      } else {
        this.rows = this.rows.filter((r) => (r[0] as number) >= cutoff);
        this.rescan();
        this.rebuild();
      }
    }
    for (; this.appended < this.rows.length; this.appended++) {
      const row = this.rows[this.appended]!;
      if ((row[0] as number) <= this.lastHist) continue;
      this.cols.forEach((c, i) => c.push(row[i]!));
      if (hasValue(row)) this.drawnRows++;
    }
    const x = this.cols[0]!;
    const last = x.length ? (x[x.length - 1] as number) : -Infinity;
    if (current.some((v) => v !== null) && nowS > last) {
      this.cols.forEach((c, i) => c.push(i === 0 ? nowS : current[i - 1]!));
      this.holding = true;
      this.drawnRows++;
    }
    return this.cols;
  }

  /** Forgets the `count` oldest live rows, taking those already drawn out of the columns. */
  private dropOldest(count: number): void {
    let shown = 0;
    let withValue = 0;
    for (let k = 0; k < Math.min(count, this.appended); k++) {
      const row = this.rows[k]!;
      if ((row[0] as number) <= this.lastHist) continue;
      shown++;
      if (hasValue(row)) withValue++;
    }
    this.undrawn += shown;
    this.drawnRows -= withValue;
    this.appended = Math.max(0, this.appended - count);
    this.rows.splice(0, count);
    if (this.ordered) this.minT = this.rows.length ? (this.rows[0]![0] as number) : Infinity;
    else this.rescan();
  }

  private spliceUndrawn(): void {
    // Drawn live rows sit right after the history, in the order they came.
    if (this.undrawn > 0) for (const c of this.cols) c.splice(this.hist[0]!.length, this.undrawn);
    this.undrawn = 0;
  }

  private rescan(): void {
    this.minT = Infinity;
    this.ordered = true;
    this.rows.forEach((r, k) => {
      const t = r[0] as number;
      this.minT = Math.min(this.minT, t);
      if (k > 0 && t < (this.rows[k - 1]![0] as number)) this.ordered = false;
    });
  }

  /** Columns from scratch: a copy of the history (it is appended to), the live rows follow at the next frame. */
  private rebuild(): void {
    const x = this.hist[0]!;
    this.lastHist = x.length ? (x[x.length - 1] as number) : -Infinity;
    this.cols = this.hist.map((c) => c.slice());
    this.drawnRows = drawn(this.hist);
    this.undrawn = 0;
    this.appended = 0;
    this.holding = false;
  }
}

/** A configured plot of a device: the last hour from the archive, then live. */
export function LivePlot(props: { device: string; plot: ResolvedPlot; height?: number }): ComponentChild {
  const { device, plot } = props;
  const box = useRef<HTMLDivElement>(null);
  const [note, setNote] = useState<string>('loading history…');

  useEffect(() => {
    const el = box.current!;
    // Labels as configured; the series themselves as the monitor resolved them (names may hold dots).
    const [xName = 'time', ...labels] = plot.values;
    const refs: SeriesRef[] = plot.series;
    const yNames = refs.map((r, i) => labels[i] ?? `${r.device} ${r.name}`);
    const xRef = plot.x ?? undefined;
    const timeX = xRef === undefined;
    const height = props.height ?? 220;
    const width = (): number => Math.max(200, Math.floor(el.clientWidth));
    const opts: uPlot.Options = {
      width: width(),
      height,
      series: [
        timeX ? timeSeriesX : { label: xName },
        ...yNames.map((y, i) => ({ label: y, stroke: COLORS[i % COLORS.length], width: 1.5, ...(timeX ? {} : { paths: () => null, points: { show: true, size: 4 } }) })),
      ],
      axes: [timeX ? timeAxis(el) : { label: plot.xlabel ?? xName }, { label: plot.ylabel ?? refs.map(unitOf).find((u) => u !== undefined), size: 60, values: (_u, splits, _axis, _space, incr) => tickLabels(splits, incr) }],
      scales: { x: { time: timeX, distr: !timeX && plot.xscale === 'log' ? 3 : 1 }, y: { distr: plot.yscale === 'log' ? 3 : 1 } },
      cursor: { drag: { x: true, y: false } },
      legend: { show: true },
    };
    const noData: PlotRow[] = [[], ...yNames.map(() => [])];
    // Time plots keep their columns between redraws; the x-y plot sorts its few live points each time.
    const timeCols = timeX ? new TimeColumns(yNames.length) : undefined;
    let rows: PlotRow[] = [];
    const valueOf = (r: SeriesRef): number | null => num(live.state.devices.find((d) => d.name === r.device)?.values[r.name]);
    const current = refs.map(valueOf);
    let xCurrent = xRef ? valueOf(xRef) : null;
    // What the page already knows holds from now on: a steady value is drawn before its next change.
    if (timeCols && current.some((v) => v !== null)) timeCols.push([Date.now() / 1000, ...current]);
    // When each series last had a point: a change after a long quiet is drawn as a step.
    const lastT = refs.map(() => Date.now() / 1000);
    const u = new uPlot(opts, noData as uPlot.AlignedData, el);
    let frame = 0;
    const redraw = (): void => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        if (timeCols) {
          // The latest values hold until they change: drawn on to now, so a steady value is a line, not a dot.
          u.setData(timeCols.frame(Date.now() / 1000, current) as uPlot.AlignedData);
          el.dataset.points = String(timeCols.drawn);
        } else {
          const pts = rows.filter((r) => r[0] !== null).sort((a, b) => (a[0] as number) - (b[0] as number));
          const cols = noData.map((_c, i) => pts.map((r) => r[i]!));
          u.setData(cols as uPlot.AlignedData);
          el.dataset.points = String(drawn(cols));
        }
      });
    };
    const unsubscribe = live.onUpdate((up) => {
      let touched = false;
      // Time plots: only the series that changed get a point, at their own time; a value held
      // for a while until this change is drawn on to just before it, so a step stays a step.
      const held: PlotRow = refs.map(() => undefined);
      const changed: PlotRow = refs.map(() => undefined);
      let steps = false;
      refs.forEach((r, i) => {
        if (r.device === up.client && r.name in up.values) {
          const v = num(up.values[r.name]);
          if (current[i] !== null && current[i] !== v && up.t / 1000 - lastT[i]! > HOLD_GAP_S) {
            held[i] = current[i];
            steps = true;
          }
          current[i] = v;
          changed[i] = v;
          lastT[i] = up.t / 1000;
          touched = true;
        }
      });
      if (xRef && xRef.device === up.client && xRef.name in up.values) {
        xCurrent = num(up.values[xRef.name]);
        touched = true;
      }
      if (!touched) return;
      if (timeCols) {
        const t = up.t / 1000;
        if (steps) timeCols.push([t - HOLD_EPSILON_S, ...held]);
        timeCols.push([t, ...changed]);
      } else {
        rows.push([xCurrent, ...current]);
        if (rows.length > MAX_LIVE_ROWS) rows = rows.slice(-MAX_LIVE_ROWS / 2);
      }
      redraw();
    });
    const hold = timeX ? setInterval(redraw, HOLD_REDRAW_MS) : undefined;
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height }));
    ro.observe(el);

    const ctrl = new AbortController();
    if (timeCols) {
      const to = Date.now();
      const from = to - LIVE_WINDOW_MS;
      Promise.all(
        refs.map((r) =>
          api<HistoryResult>(`/api/history?${query({ device: r.device, name: r.name, from, to, maxPoints: historyMaxPoints(width()) })}`, { signal: ctrl.signal })
            .then(historyXY)
            .catch((err: Error) => {
              if (err.name === 'AbortError') throw err;
              return [] as XY;
            }),
        ),
      )
        .then((xys) => {
          timeCols.setHistory(alignSeries(xys));
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
  }, [device, plot.id, plot.series.map((r) => `${r.device}\u0000${r.name}`).join('\u0001')]);

  return h('figure', { class: 'plot' }, [
    h('figcaption', null, [plot.name, note ? h('span', { class: 'muted' }, ` — ${note}`) : null]),
    h('div', { ref: box, class: 'plot-area', 'data-testid': `plot-${device}-${plot.id}` }),
  ]);
}
