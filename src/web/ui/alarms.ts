/// <reference lib="dom" />
/**
 * Alarms on the page: a banner while any alarm is raised and not yet acknowledged, browser
 * notifications when one is raised (once the user allowed them), and the alarms panel — every
 * active alarm with an Acknowledge button for operators, and the archived history.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { AlarmEntry } from '../../archive/types.js';
import type { AlarmState } from '../../monitor/types.js';
import type { AlarmEvent } from '../views.js';
import { ApiError, api } from './api.js';
import { fmtDateTime, fmtValue, slug } from './format.js';
import { freshness, freshnessClass, freshnessTitle, type Freshness } from './freshness.js';
import { live } from './live.js';
import { routeHref } from './route.js';

const ACTIVE = new Set(['raised', 'acknowledged', 'pending']);
/** Most severe first: critical 0, warning 1, info 2 (anything else after them). */
export const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };

/** An alarm someone has to see to: raised, or acknowledged and not cleared (pending is not an alarm yet). */
export function needsAttention(a: AlarmState): boolean {
  return a.state === 'raised' || a.state === 'acknowledged';
}

/** Raised first, then acknowledged, then pending; by severity; newest first. */
function byUrgency(a: AlarmState, b: AlarmState): number {
  const st = (x: AlarmState): number => (x.state === 'raised' ? 0 : x.state === 'acknowledged' ? 1 : 2);
  return st(a) - st(b) || (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) || b.since - a.since;
}

export function raisedAlarms(alarms: AlarmState[]): AlarmState[] {
  return alarms.filter((a) => a.state === 'raised').sort(byUrgency);
}

/** The red strip under the header while something needs a person. */
export function AlarmBanner(props: { alarms: AlarmState[] }): ComponentChild {
  const raised = raisedAlarms(props.alarms);
  useEffect(() => {
    // The tab title shows the count too, for a page left in a background tab.
    const base = document.title.replace(/^\(\d+\) /, '');
    document.title = raised.length > 0 ? `(${raised.length}) ${base}` : base;
  }, [raised.length]);
  if (raised.length === 0) return null;
  const worst = raised[0]!.severity;
  return h('div', { class: `alarm-banner sev-${worst}`, role: 'alert', 'data-testid': 'alarm-banner' }, [
    h('strong', null, raised.length === 1 ? 'Alarm: ' : `${raised.length} alarms: `),
    raised.map((a, i) => h('span', { key: a.id }, [i > 0 ? ', ' : '', h('a', { href: routeHref('alarms') }, a.id), ` (${a.severity}) ${a.description}`])),
  ]);
}

type Permission = 'unsupported' | 'default' | 'granted' | 'denied';

function permission(): Permission {
  return typeof Notification === 'undefined' ? 'unsupported' : (Notification.permission as Permission);
}

/** Shows a browser notification for every alarm that is raised while the page is open. */
export function useAlarmNotifications(): { permission: Permission; enable: () => void } {
  const [perm, setPerm] = useState<Permission>(permission());
  useEffect(
    () =>
      live.onAlarm((ev: AlarmEvent) => {
        if (ev.transition.to !== 'raised' || permission() !== 'granted') return;
        try {
          // One notification per alarm id: a re-raise replaces the old one instead of piling up.
          new Notification(`labwire alarm: ${ev.state.id} (${ev.state.severity})`, { body: ev.transition.message, tag: `labwire-alarm-${ev.state.id}` });
        } catch {
          // Some browsers allow notifications only from a service worker; the banner still shows it.
        }
      }),
    [],
  );
  const enable = (): void => {
    if (typeof Notification === 'undefined') return;
    void Notification.requestPermission().then((p) => setPerm(p as Permission));
  };
  return { permission: perm, enable };
}

function AckButton(props: { alarm: AlarmState; onError: (text: string) => void }): ComponentChild {
  const [busy, setBusy] = useState(false);
  const a = props.alarm;
  const ack = async (): Promise<void> => {
    setBusy(true);
    try {
      await api<AlarmState>(`/api/alarms/${encodeURIComponent(a.id)}/ack`, { method: 'POST' });
      props.onError('');
    } catch (err) {
      props.onError(err instanceof ApiError ? `${a.id}: ${err.message}` : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return h('button', { type: 'button', disabled: busy, onClick: ack, 'data-testid': `ack-${slug(a.id)}` }, 'Acknowledge');
}

const HISTORY_LIMIT = 50;

/** The archived transitions, newest first; refreshed a moment after every live alarm change. */
function useAlarmHistory(): { rows: AlarmEntry[]; note: string } {
  const [rows, setRows] = useState<AlarmEntry[]>([]);
  const [note, setNote] = useState('loading…');
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ctrl = new AbortController();
    const load = (): void => {
      // A newer request replaces an older one still under way, so an old answer never lands last.
      ctrl.abort();
      ctrl = new AbortController();
      api<AlarmEntry[]>(`/api/alarms/history?limit=${HISTORY_LIMIT}`, { signal: ctrl.signal })
        .then((r) => {
          setRows(r);
          setNote(r.length === 0 ? 'no alarm has been raised yet' : '');
        })
        .catch((err: Error) => {
          if (err.name !== 'AbortError') setNote(err instanceof ApiError && err.status === 503 ? 'no archive: alarm history is not kept' : err.message);
        });
    };
    load();
    // The archive commits in batches: ask again shortly after a change rather than at once.
    const off = live.onAlarm(() => {
      clearTimeout(timer);
      timer = setTimeout(load, 1500);
    });
    return () => {
      off();
      clearTimeout(timer);
      ctrl.abort();
    };
  }, []);
  return { rows, note };
}

export function AlarmPanel(props: { alarms: AlarmState[]; canAck: boolean; online?: boolean; connected?: (client: string) => boolean }): ComponentChild {
  // An alarm's value is as live as the path to the devices it reads (freshness.ts).
  const freshOf = (a: AlarmState): Freshness => freshness(props.online ?? true, a.clients.every((c) => props.connected?.(c) ?? true));
  const staleOf = (a: AlarmState): string => freshnessClass(freshOf(a));
  const { permission: perm, enable } = useAlarmNotifications();
  const [error, setError] = useState('');
  const history = useAlarmHistory();
  const active = props.alarms.filter((a) => ACTIVE.has(a.state)).sort(byUrgency);
  return h('section', { class: 'panel alarms', id: 'alarms', 'aria-labelledby': 'alarms-title', 'data-testid': 'alarms-panel' }, [
    h('div', { class: 'panel-head' }, [
      h('h2', { id: 'alarms-title' }, 'Alarms'),
      h('span', { class: 'muted' }, `${props.alarms.length} configured`),
      h('span', { class: 'spacer' }),
      perm === 'default' ? h('button', { type: 'button', onClick: enable, 'data-testid': 'enable-notifications' }, 'Notify me in this browser') : null,
      perm === 'granted' ? h('span', { class: 'muted', 'data-testid': 'notifications-on' }, 'browser notifications on') : null,
      perm === 'denied' ? h('span', { class: 'muted' }, 'browser notifications are blocked for this page') : null,
    ]),
    error ? h('p', { class: 'err', role: 'alert', 'data-testid': 'ack-error' }, error) : null,
    active.length === 0
      ? h('p', { class: 'muted', 'data-testid': 'alarms-none' }, 'No active alarms.')
      : h('table', { class: 'alarm-table', 'aria-label': 'Active alarms' }, [
          h('thead', null, h('tr', null, ['Alarm', 'Severity', 'State', 'Value', 'Since', 'Acknowledged', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', null, active.map((a) =>
            h('tr', { key: a.id, class: `st-row-${a.state}`, 'data-testid': `alarm-${slug(a.id)}` }, [
              h('td', null, [h('strong', null, a.id), h('div', { class: 'muted small' }, a.description)]),
              h('td', null, h('span', { class: `sev sev-${a.severity}` }, a.severity)),
              h('td', { 'data-testid': `alarm-state-${slug(a.id)}` }, a.state),
              h('td', { class: `num v${staleOf(a) ? ` ${staleOf(a)}` : ''}`, 'data-testid': `alarm-value-${slug(a.id)}`, 'data-fresh': freshOf(a), title: freshnessTitle(freshOf(a), undefined) }, fmtValue(a.value)),
              h('td', null, fmtDateTime(a.raisedAt ?? a.since, true)),
              h('td', { 'data-testid': `alarm-ackby-${slug(a.id)}` }, a.acknowledgedBy ? `${a.acknowledgedBy}, ${fmtDateTime(a.acknowledgedAt ?? a.since, true)}` : ''),
              h('td', null, props.canAck && a.state === 'raised' ? h(AckButton, { alarm: a, onError: setError }) : null),
            ]),
          )),
        ]),
    h('h3', null, ['History ', h('a', { class: 'csv small', href: '/api/alarms/history.csv?limit=10000', download: 'alarms.csv', 'data-testid': 'alarm-history-csv' }, 'Download CSV')]),
    history.note ? h('p', { class: 'muted' }, history.note) : null,
    history.rows.length > 0
      ? h('table', { class: 'alarm-table history', 'aria-label': 'Alarm history', 'data-testid': 'alarm-history' }, [
          h('thead', null, h('tr', null, ['Time', 'Alarm', 'Change', 'By', 'Message'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', null, history.rows.map((r, i) =>
            h('tr', { key: `${r.t}-${r.id}-${i}` }, [
              h('td', null, fmtDateTime(r.t, true)),
              h('td', null, r.id),
              h('td', null, h('span', { class: `sev sev-${r.severity}` }, r.to)),
              h('td', null, r.who ?? ''),
              h('td', { class: 'small' }, r.message),
            ]),
          )),
        ])
      : null,
  ]);
}
