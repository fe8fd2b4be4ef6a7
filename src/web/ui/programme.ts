/// <reference lib="dom" />
/**
 * A device's setpoint programme on its card (docs/programmes.md): upload a CSV or YAML file, load
 * it (the daemon checks every point against its limits and the error is shown here), look at the
 * profile before starting, then start, pause and stop it; while it runs, its progress and the
 * profile drawn over the live values. The programme runs in the daemon: closing the page changes
 * nothing.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { HistoryResult } from '../../archive/types.js';
import type { PeerValue } from '../../monitor/types.js';
import type { DescribeDoc } from '../../wire/types.js';
import type { ProgrammeView } from '../programme.js';
import { api, query, quote } from './api.js';
import { OutcomeLine, errorText, sendLine, type Outcome } from './forms.js';
import { fmtSpan, fmtValue, slug } from './format.js';
import { freshnessClass, freshnessTitle, type Freshness } from './freshness.js';
import { live } from './live.js';
import { COLORS, historyXY, num, timeAxis, timeSeriesX, type XY } from './plot.js';

/** Status reads: every second while a programme runs, less often otherwise, rarely while folded. */
const POLL_RUNNING_MS = 1000;
const POLL_IDLE_MS = 3000;
const POLL_FOLDED_MS = 15_000;
/** Vertices drawn at most: a programme of many loops shows its first loops. */
const MAX_VERTICES = 4000;
const LIVE_ROWS = 5000;

/** Writable numeric parameters: the ones a programme can drive. */
export function programmableParams(describe: DescribeDoc | null): string[] {
  if (!describe) return [];
  return Object.entries(describe.params)
    .filter(([, p]) => !p.readonly && (p.type === 'float' || p.type === 'int'))
    .map(([k]) => k);
}

function formatOf(file: string): 'csv' | 'yaml' {
  return /\.ya?ml$/i.test(file) ? 'yaml' : 'csv';
}

/** The programme's status and profile, read every few seconds while the card is shown. */
function useProgramme(device: string, connected: boolean, folded: boolean): { view: ProgrammeView | null; error: string; refresh: () => void } {
  const [view, setView] = useState<ProgrammeView | null>(null);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!connected) return undefined;
    const ctrl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    const load = (): void => {
      api<ProgrammeView>(`/api/devices/${encodeURIComponent(device)}/programme`, { signal: ctrl.signal })
        .then((v) => {
          running = v.status.state === 'running';
          setView(v);
          setError('');
        })
        .catch((err: Error) => {
          if (err.name !== 'AbortError') setError(errorText(err));
        })
        .finally(() => {
          if (!ctrl.signal.aborted) timer = setTimeout(load, running ? POLL_RUNNING_MS : folded ? POLL_FOLDED_MS : POLL_IDLE_MS);
        });
    };
    load();
    return () => {
      ctrl.abort();
      clearTimeout(timer);
    };
  }, [device, connected, folded, tick]);
  return { view, error, refresh: () => setTick((t) => t + 1) };
}

/** Profile vertices over every loop as [unix s, value], starting at `anchorS`. */
export function profileXY(view: ProgrammeView, anchorS: number): XY {
  const p = view.profile;
  if (!p || p.points.length === 0) return [];
  const out: XY = [];
  for (let loop = 0; loop < p.loops && out.length < MAX_VERTICES; loop++) {
    for (const v of p.points) out.push([anchorS + loop * p.cycleS + v.t, v.value]);
  }
  return out;
}

/** Several series with their own times on one axis; a series is null where it has no point (gaps spanned). */
function mergeXY(series: XY[]): Array<Array<number | null>> {
  const rows: Array<[number, number, number | null]> = [];
  series.forEach((s, i) => {
    for (const [t, v] of s) rows.push([t, i, v]);
  });
  // Stable sort keeps a step's two vertices (same time) in order.
  rows.sort((a, b) => a[0] - b[0]);
  const cols: Array<Array<number | null>> = [[], ...series.map(() => [])];
  for (const [t, i, v] of rows) {
    cols[0]!.push(t);
    series.forEach((_s, j) => cols[j + 1]!.push(j === i ? v : null));
  }
  return cols;
}

function ProfilePlot(props: { device: string; view: ProgrammeView; actual: string | undefined; unit: string | undefined }): ComponentChild {
  const { device, view, actual } = props;
  const box = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const liveRef = useRef<{ param: XY; actual: XY }>({ param: [], actual: [] });
  const anchorRef = useRef<number | undefined>(undefined);
  const param = view.profile!.param;
  const state = String(view.status.state ?? '');
  const elapsed = num(view.status.elapsed_s) ?? 0;
  // Loaded: the preview starts now. Running: the programme clock's start (holds move it on).
  // Paused, finished or stopped: the clock stands still, so the profile stays where it was.
  if (state === 'loaded' || state === 'running' || anchorRef.current === undefined) {
    anchorRef.current = Math.round(Date.now() / 1000 - (state === 'loaded' ? 0 : elapsed));
  }
  const profile = profileXY(view, anchorRef.current);
  // Read through a ref: the history request answers after later renders and must draw their data.
  const dataRef = useRef<() => Array<Array<number | null>>>(() => []);
  dataRef.current = () => mergeXY([profile, liveRef.current.param, ...(actual ? [liveRef.current.actual] : [])]);

  useEffect(() => {
    const el = box.current!;
    const width = (): number => Math.max(200, Math.floor(el.clientWidth));
    const u = new uPlot(
      {
        width: width(),
        height: 200,
        series: [
          timeSeriesX,
          { label: `${param} (programme)`, stroke: '#888', width: 2, dash: [6, 4], spanGaps: true },
          { label: param, stroke: COLORS[1], width: 1.5, spanGaps: true },
          ...(actual ? [{ label: actual, stroke: COLORS[0], width: 1.5, spanGaps: true }] : []),
        ],
        axes: [timeAxis(), { label: props.unit, size: 60 }],
        scales: { x: { time: true } },
        legend: { show: true },
      },
      dataRef.current() as uPlot.AlignedData,
      el,
    );
    plotRef.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 200 }));
    ro.observe(el);
    const push = (xy: XY, t: number, v: PeerValue | undefined): void => {
      xy.push([t, num(v)]);
      if (xy.length > LIVE_ROWS) xy.splice(0, xy.length - LIVE_ROWS / 2);
    };
    let frame = 0;
    const off = live.onUpdate((up) => {
      if (up.client !== device || !(param in up.values || (actual !== undefined && actual in up.values))) return;
      const t = up.t / 1000;
      if (param in up.values) push(liveRef.current.param, t, up.values[param]);
      if (actual && actual in up.values) push(liveRef.current.actual, t, up.values[actual]);
      // At most one redraw per animation frame, however many updates arrive.
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        u.setData(dataRef.current() as uPlot.AlignedData);
      });
    });
    // The last two hours from the archive, so a page opened mid-programme shows what happened.
    const ctrl = new AbortController();
    const to = Date.now();
    const from = to - 2 * 3_600_000;
    const fetchXY = (name: string): Promise<XY> =>
      api<HistoryResult>(`/api/history?${query({ device, name, from, to, maxPoints: 600 })}`, { signal: ctrl.signal }).then(historyXY, () => []);
    void Promise.all([fetchXY(param), actual ? fetchXY(actual) : Promise.resolve([] as XY)]).then(([p, a]) => {
      if (ctrl.signal.aborted) return;
      const first = (xy: XY): number => (xy.length ? xy[0]![0] : Infinity);
      liveRef.current.param = [...p.filter(([t]) => t < first(liveRef.current.param)), ...liveRef.current.param];
      liveRef.current.actual = [...a.filter(([t]) => t < first(liveRef.current.actual)), ...liveRef.current.actual];
      u.setData(dataRef.current() as uPlot.AlignedData);
    });
    return () => {
      ctrl.abort();
      off();
      if (frame) cancelAnimationFrame(frame);
      ro.disconnect();
      u.destroy();
      plotRef.current = null;
    };
  }, [device, param, actual, props.unit]);

  // Every status poll (and so every anchor move) redraws with the live points gathered meanwhile.
  useEffect(() => {
    plotRef.current?.setData(dataRef.current() as uPlot.AlignedData);
  });

  return h('div', { class: 'plot-area', 'data-testid': `programme-plot-${slug(device)}`, 'data-vertices': String(profile.length), ref: box });
}

function Status(props: { device: string; view: ProgrammeView; fresh: Freshness }): ComponentChild {
  const s = props.view.status;
  const stale = freshnessClass(props.fresh);
  const id = slug(props.device);
  const state = String(s.state ?? 'none');
  const progress = num(s.progress) ?? 0;
  const next = s.next === 'hold' ? 'hold until stable' : s.next === 'end' || s.next === undefined ? 'end' : `${fmtValue(s.next)}${s.next_in_s !== undefined ? ` in ${fmtSpan(num(s.next_in_s) ?? 0)}` : ''}`;
  // Not live: the status is the last one read, so it is marked like the card's values.
  return h('div', { class: `prog-status${stale ? ` ${stale}` : ''}`, 'data-fresh': props.fresh, 'data-testid': `programme-status-${id}`, title: freshnessTitle(props.fresh, undefined) }, [
    h('div', { class: 'row' }, [
      h('span', { class: `state prog-${state}`, 'data-testid': `programme-state-${id}` }, state),
      h('progress', { max: 100, value: progress, 'aria-label': 'programme progress' }),
      h('span', { class: 'num v', 'data-testid': `programme-progress-${id}` }, `${fmtValue(progress)} %`),
    ]),
    state === 'none'
      ? null
      : h('p', { class: 'small muted', 'data-testid': `programme-detail-${id}` }, [
          `${s.param} · cycle ${fmtValue(s.cycle)}/${fmtValue(s.loops)} · ${fmtSpan(num(s.elapsed_s) ?? 0)} of ${fmtSpan(num(s.total_s) ?? 0)}`,
          ` · target ${fmtValue(s.target)}`,
          s.phase === 'hold' && state === 'running' ? ' · holding until stable' : '',
          state === 'running' || state === 'paused' ? ` · next: ${next}` : '',
        ]),
  ]);
}

function LoadForm(props: { device: string; params: string[]; onLoaded: () => void }): ComponentChild {
  const { device, params } = props;
  const id = slug(device);
  const [param, setParam] = useState(params.includes('setpoint') ? 'setpoint' : (params[0] ?? ''));
  const [file, setFile] = useState<{ name: string; text: string } | null>(null);
  const [loops, setLoops] = useState('1');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const pick = (e: Event): void => {
    const f = (e.target as HTMLInputElement).files?.[0];
    setOutcome(null);
    if (!f) return setFile(null);
    void f.text().then((text) => setFile({ name: f.name, text }), (err: Error) => setOutcome({ ok: false, text: `cannot read ${f.name}: ${err.message}` }));
  };
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!file) return setOutcome({ ok: false, text: 'choose a CSV or YAML file first' });
    const n = loops.trim();
    if (!/^\d+$/.test(n) || Number(n) < 1) return setOutcome({ ok: false, text: 'loops must be a whole number of 1 or more' });
    setBusy(true);
    try {
      const r = await sendLine(device, `programme_load param=${quote(param)} name=${quote(file.name)} format=${formatOf(file.name)} data=${quote(file.text)} loop=${n}`);
      const x = r.results;
      setOutcome({ ok: true, text: `loaded ${file.name}: ${fmtValue(x.points)} points, ${fmtValue(x.holds)} holds, ${fmtValue(x.loops)} loop(s), ${fmtSpan(num(x.duration_s) ?? 0)}` });
      props.onLoaded();
    } catch (err) {
      setOutcome({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  return h('form', { class: 'prog-load', noValidate: true, onSubmit: submit, 'data-testid': `programme-form-${id}`, 'aria-label': `load a programme on ${device}` }, [
    h('div', { class: 'row wrap' }, [
      h('label', { for: `pf-${id}` }, 'File'),
      h('input', { id: `pf-${id}`, type: 'file', accept: '.csv,.yaml,.yml,.txt,text/csv', onChange: pick, 'aria-describedby': `po-${id}` }),
    ]),
    h('div', { class: 'row wrap' }, [
      h('label', { for: `pp-${id}` }, 'Parameter'),
      h('select', { id: `pp-${id}`, value: param, onChange: (e: Event) => setParam((e.target as HTMLSelectElement).value) }, params.map((p) => h('option', { value: p }, p))),
      h('label', { for: `pl-${id}` }, 'Loops'),
      h('input', { id: `pl-${id}`, type: 'number', min: 1, step: 1, value: loops, class: 'short', onInput: (e: Event) => setLoops((e.target as HTMLInputElement).value) }),
      h('button', { type: 'submit', disabled: busy || !file }, busy ? '…' : 'Load'),
    ]),
    h('small', { class: 'hint' }, 'CSV: elapsed_minutes,value per line (equal times make a step); YAML adds holds and loops. Every point is checked against the limits.'),
    h(OutcomeLine, { outcome, id: `po-${id}`, testid: `programme-${id}` }),
  ]);
}

function Controls(props: { device: string; state: string; onDone: () => void }): ComponentChild {
  const { device, state } = props;
  const id = slug(device);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const run = async (cmd: string): Promise<void> => {
    setBusy(true);
    try {
      const r = await sendLine(device, cmd);
      setOutcome({ ok: true, text: `${cmd.replace('programme_', '')}: ${fmtValue(r.results.state)}` });
      props.onDone();
    } catch (err) {
      setOutcome({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  const canStart = state === 'loaded' || state === 'paused' || state === 'finished' || state === 'stopped';
  const active = state === 'running' || state === 'paused';
  return h('div', { class: 'prog-controls' }, [
    h('div', { class: 'row' }, [
      h('button', { type: 'button', disabled: busy || !canStart, onClick: () => void run('programme_start'), 'data-testid': `programme-start-${id}` }, state === 'paused' ? 'Resume' : 'Start'),
      h('button', { type: 'button', disabled: busy || state !== 'running', onClick: () => void run('programme_pause'), 'data-testid': `programme-pause-${id}` }, 'Pause'),
      h('button', { type: 'button', disabled: busy || !active, onClick: () => void run('programme_stop'), 'data-testid': `programme-stop-${id}` }, 'Stop'),
    ]),
    h(OutcomeLine, { outcome, id: `pc-${id}`, testid: `programme-control-${id}` }),
  ]);
}

/** The programme section of a device card. */
export function ProgrammePanel(props: { device: string; connected: boolean; fresh?: Freshness; describe: DescribeDoc; units: Record<string, string>; canWrite: boolean }): ComponentChild {
  const { device, describe } = props;
  const params = programmableParams(describe);
  // Folded until someone opens it or a programme is loaded.
  const [opened, setOpened] = useState(false);
  const { view, error, refresh } = useProgramme(device, props.connected, !opened);
  const state = String(view?.status.state ?? 'none');
  const param = view?.profile?.param ?? (params.includes('setpoint') ? 'setpoint' : params[0]);
  const actual = param ? describe.params[param]?.target?.of : undefined;
  const autoOpened = useRef(false);
  useEffect(() => {
    // Opens by itself once, when a programme is first seen; folding it afterwards is respected.
    if (state !== 'none' && !autoOpened.current) {
      autoOpened.current = true;
      setOpened(true);
    }
  }, [state]);
  return h('details', {
    class: 'programme',
    open: opened || undefined,
    onToggle: (e: Event) => setOpened((e.currentTarget as HTMLDetailsElement).open),
    'data-testid': `programme-${slug(device)}`,
  }, [
    h('summary', null, ['Programme ', h('span', { class: 'muted' }, state === 'none' ? '(none loaded)' : `(${state})`)]),
    error ? h('p', { class: 'err', role: 'alert' }, error) : null,
    view && state !== 'none' ? h(Status, { device, view, fresh: props.fresh ?? 'live' }) : null,
    view?.profile ? h(ProfilePlot, { device, view, actual, unit: param ? props.units[param] : undefined }) : null,
    view?.profile && state === 'loaded' ? h('p', { class: 'small muted' }, 'Preview: the profile as it would run if started now.') : null,
    props.canWrite && view?.profile ? h(Controls, { device, state, onDone: refresh }) : null,
    props.canWrite && state !== 'running' && state !== 'paused' && params.length > 0 ? h(LoadForm, { device, params, onLoaded: refresh }) : null,
  ]);
}
