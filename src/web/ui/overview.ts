/// <reference lib="dom" />
/**
 * The overview (`#/`): the whole lab on one screen. One tile per device with its connection and
 * state, its key values with units and a sparkline of the last minutes each, the value an alarm
 * is raised on coloured by severity, and values that are not live marked (freshness.ts). A tile
 * is a link to the device's own view.
 */
import { h, type ComponentChild } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import type { HistoryResult } from '../../archive/types.js';
import type { AlarmState, PeerValue } from '../../monitor/types.js';
import type { DeviceView } from '../views.js';
import { api, query } from './api.js';
import { SEVERITY_RANK, needsAttention } from './alarms.js';
import { stateClass } from './device.js';
import { fmtClock, fmtValue, slug } from './format.js';
import { freshness, freshnessClass, freshnessTitle } from './freshness.js';
import { live } from './live.js';
import { routeHref } from './route.js';

/** How far back a sparkline reaches. */
export const SPARK_WINDOW_MS = 15 * 60_000;
/** Points asked per sparkline: a tile's line is some 120 px wide. */
const SPARK_POINTS = 120;
/** Key values shown when neither the lab file nor the family chose any. */
const FALLBACK_KEYS = 3;
const NOT_KEYS = new Set(['hw_connected', 'state', 'state_text']);

/**
 * The values a tile shows: the lab file's `overview:` list for the device, else the parameters its
 * family marks `key` in describe, else its first few numeric parameters.
 */
export function keyParams(d: Pick<DeviceView, 'overview' | 'describe' | 'values'>): string[] {
  if (d.overview && d.overview.length > 0) return [...d.overview];
  const params = d.describe ? Object.entries(d.describe.params) : [];
  const keys = params.filter(([, p]) => p.key).map(([k]) => k);
  if (keys.length > 0) return keys;
  const numeric = d.describe
    ? params.filter(([k, p]) => (p.type === 'float' || p.type === 'int') && !NOT_KEYS.has(k)).map(([k]) => k)
    : Object.keys(d.values).filter((k) => typeof d.values[k] === 'number' && !NOT_KEYS.has(k));
  return numeric.slice(0, FALLBACK_KEYS);
}

/** The most severe; of equal severity, a raised one before an acknowledged one. */
function worst(alarms: AlarmState[]): AlarmState | undefined {
  return [...alarms].sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) || (a.state === 'raised' ? -1 : 1))[0];
}

/** The most severe active alarm on one value of a device (from the alarm's `watches`, never a split name). */
export function alarmOnValue(alarms: AlarmState[], device: string, param: string): AlarmState | undefined {
  return worst(alarms.filter((a) => needsAttention(a) && a.watches?.client === device && a.watches.param === param));
}

/** The most severe active alarm about the device itself (its link, its state). */
export function alarmOnDevice(alarms: AlarmState[], device: string): AlarmState | undefined {
  return worst(alarms.filter((a) => needsAttention(a) && !a.watches && a.clients.includes(device)));
}

type Points = Array<[number, number]>;

/**
 * The recent points of a device's numeric key values: the archive's last minutes, then every live
 * update appended, trimmed to the window.
 */
function useSparkSeries(device: string, params: readonly string[]): Record<string, Points> {
  const [series, setSeries] = useState<Record<string, Points>>({});
  const keyList = params.join('\n');
  useEffect(() => {
    const ctrl = new AbortController();
    const data: Record<string, Points> = {};
    const publish = (): void => setSeries({ ...data });
    // Memory stays bounded by the window; the last point before it is kept for inWindow to carry.
    const trim = (pts: Points, now: number): Points => {
      const i = firstInWindow(pts, now - SPARK_WINDOW_MS);
      return i > 1 ? pts.slice(i - 1) : pts;
    };
    const to = Date.now();
    for (const name of params) {
      api<HistoryResult>(`/api/history?${query({ device, name, from: to - SPARK_WINDOW_MS, to, maxPoints: SPARK_POINTS })}`, { signal: ctrl.signal })
        .then((r) => {
          const past: Points = [];
          for (const p of r.points) {
            const v = typeof p.v === 'number' ? p.v : p.mean;
            if (typeof v === 'number' && Number.isFinite(v)) past.push([p.t, v]);
          }
          // Live points that arrived while the request ran come after the archive's.
          const newer = (data[name] ?? []).filter(([t]) => t > (past.at(-1)?.[0] ?? -Infinity));
          data[name] = [...past, ...newer];
          publish();
        })
        // No archive, or a series not stored yet: the line starts with the live values.
        .catch(() => undefined);
    }
    const off = live.onUpdate((u) => {
      if (u.client !== device) return;
      let changed = false;
      for (const name of params) {
        const v = u.values[name];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        data[name] = trim([...(data[name] ?? []), [u.t, v]], u.t);
        changed = true;
      }
      if (changed) publish();
    });
    return () => {
      ctrl.abort();
      off();
    };
  }, [device, keyList]);
  return series;
}

/** Index of the first point at or after `cut` (points are in time order). */
function firstInWindow(points: Points, cut: number): number {
  let i = 0;
  while (i < points.length && points[i]![0] < cut) i++;
  return i;
}

/**
 * The points inside the sparkline's window at `now`. The points are trimmed when they are drawn,
 * not when a new value arrives: a steady parameter gets no new values, and its line would
 * otherwise span hours under "last 15 minutes". The last point before the cut is kept, moved to
 * the window's start, because its value held until the next point.
 */
export function inWindow(points: Points, now: number, windowMs = SPARK_WINDOW_MS): Points {
  const cut = now - windowMs;
  const i = firstInWindow(points, cut);
  if (i === 0) return points;
  const before = points[i - 1]!;
  const next = points[i];
  return next && next[0] === cut ? points.slice(i) : [[cut, before[1]], ...points.slice(i)];
}

/**
 * The points with the current value carried to now: a daemon pushes a value when it changes, so a
 * steady one is right until now and its line reaches the right edge instead of stopping at its
 * last change.
 */
export function untilNow(points: Points, current: PeerValue | undefined, now: number): Points {
  if (typeof current !== 'number' || !Number.isFinite(current)) return points;
  const last = points.at(-1);
  if (last && last[0] >= now) return points;
  return [...points, [now, current]];
}

const SPARK_W = 120;
const SPARK_H = 28;

/** A small line of the points, scaled to its own range; no axes (the value beside it says the number). */
export function Sparkline(props: { points: Points; testid: string; label: string }): ComponentChild {
  const pts = props.points;
  if (pts.length < 2) return h('svg', { class: 'spark empty', viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, 'data-testid': props.testid, 'data-points': String(pts.length), 'aria-hidden': 'true' });
  const t0 = pts[0]![0];
  const t1 = Math.max(pts.at(-1)![0], t0 + 1);
  let lo = Infinity;
  let hi = -Infinity;
  for (const [, v] of pts) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // A flat line sits in the middle instead of on the edge.
  const pad = hi > lo ? (hi - lo) * 0.08 : Math.abs(hi) * 0.01 || 1;
  lo -= pad;
  hi += pad;
  const x = (t: number): number => ((t - t0) / (t1 - t0)) * SPARK_W;
  const y = (v: number): number => SPARK_H - ((v - lo) / (hi - lo)) * SPARK_H;
  const line = pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return h('svg', { class: 'spark', viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': props.label, 'data-testid': props.testid, 'data-points': String(pts.length) }, [
    h('polyline', { points: line, fill: 'none', 'vector-effect': 'non-scaling-stroke' }),
  ]);
}

function isNumeric(d: DeviceView, k: string, v: PeerValue | undefined): boolean {
  const t = d.describe?.params[k]?.type;
  return t ? t === 'float' || t === 'int' : typeof v === 'number';
}

const Tile = memo(TileView);

function TileView(props: { d: DeviceView; alarms: AlarmState[]; online: boolean }): ComponentChild {
  const { d, alarms } = props;
  const id = slug(d.name);
  const keys = keyParams(d);
  const numeric = keys.filter((k) => isNumeric(d, k, d.values[k]));
  const series = useSparkSeries(d.name, numeric);
  const f = freshness(props.online, d.connected);
  const now = Date.now();
  const deviceAlarm = alarmOnDevice(alarms, d.name);
  const cls = ['tile', d.connected ? '' : 'down', f === 'offline' ? 'offline' : '', deviceAlarm ? `al al-${deviceAlarm.severity}` : ''].filter(Boolean).join(' ');
  // As on the card (device.ts): without the stream the page cannot know the device is connected.
  const conn = f === 'offline' ? 'offline' : d.connected ? 'connected' : 'disconnected';
  const up = f === 'live';
  return h('a', { class: cls, href: routeHref('device', { device: d.name }), 'data-testid': `tile-${id}`, title: deviceAlarm ? `alarm ${deviceAlarm.id}: ${deviceAlarm.description}` : `open ${d.name}` }, [
    h('div', { class: 'tile-head' }, [
      h('span', { class: `dot ${up ? 'on' : 'off'}${f === 'offline' ? ' unknown' : ''}`, 'aria-hidden': 'true', 'data-testid': `tile-dot-${id}` }),
      h('h2', null, d.name),
      h('span', { class: `conn ${up ? 'on' : 'off'}${f === 'offline' ? ' unknown' : ''}`, 'data-testid': `tile-conn-${id}`, title: freshnessTitle(f, undefined) }, conn),
      d.state ? h('span', { class: `state ${stateClass(d.state)}${up ? '' : ' stale'}`, 'data-testid': `tile-state-${id}` }, d.state) : null,
    ]),
    h('p', { class: 'tile-sub muted' }, !d.connected && d.lastError ? d.lastError : (d.stateText ?? d.describe?.title ?? d.description ?? '')),
    keys.length === 0
      ? h('p', { class: 'muted tile-sub' }, 'no values yet')
      : h('div', { class: 'kv' }, keys.map((k) => {
          const a = alarmOnValue(alarms, d.name, k);
          const title = a ? `alarm ${a.id} (${a.severity}, ${a.state}): ${a.description}` : freshnessTitle(f, d.ts[k] ? fmtClock(d.ts[k]) : undefined);
          return h('div', { key: k, class: ['kv-row', a ? `al al-${a.severity} al-${a.state}` : '', freshnessClass(f)].filter(Boolean).join(' '), title, 'data-testid': `kv-${id}-${slug(k)}` }, [
            h('div', { class: 'kv-text' }, [
              h('span', { class: 'kv-name', title: d.describe?.params[k]?.description ?? k }, k),
              h('span', { class: 'kv-value' }, [h('span', { class: 'v', 'data-testid': `tile-value-${id}-${slug(k)}` }, fmtValue(d.values[k])), d.units[k] ? h('span', { class: 'u' }, ` ${d.units[k]}`) : null]),
            ]),
            numeric.includes(k) ? h(Sparkline, { points: untilNow(inWindow(series[k] ?? [], now), d.values[k], now), testid: `spark-${id}-${slug(k)}`, label: `${k}, last 15 minutes` }) : null,
          ]);
        })),
  ]);
}

export function Overview(props: { devices: DeviceView[]; alarms: AlarmState[]; online: boolean; ready: boolean }): ComponentChild {
  if (!props.ready) return h('p', { class: 'muted' }, 'connecting…');
  if (props.devices.length === 0) return h('p', { class: 'muted' }, 'No devices are configured.');
  return h('section', { class: 'overview', 'aria-label': 'Overview', 'data-testid': 'overview' },
    props.devices.map((d) => h(Tile, { key: d.name, d, alarms: props.alarms, online: props.online })));
}
