/// <reference lib="dom" />
/**
 * The page: a login form when a token is needed; otherwise the header (the lab's name, the tabs,
 * every device with its connection state, and a banner while an alarm is raised: on every view)
 * above one view at a time, chosen by the URL fragment (route.ts): the overview, every device's
 * card, one device's card, the alarms panel, the history explorer, the message log, the command
 * line.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Role } from '../../server/roles.js';
import { AlarmBanner, AlarmPanel } from './alarms.js';
import { ApiError, api, onUnauthorized } from './api.js';
import { CommandLine, MessageLog, forgetConsole } from './console.js';
import { DeviceCard, stateClass } from './device.js';
import { slug } from './format.js';
import { HistoryExplorer } from './history.js';
import { live, useLive, type LiveState } from './live.js';
import { Nav, viewLabel } from './nav.js';
import { Overview } from './overview.js';
import { forgetViews, routeHref, useRoute, type Route } from './route.js';

interface Session {
  monitor: string;
  /** The lab's name (older monitors leave it out: then the monitor's). */
  lab?: string;
  tokensEnabled: boolean;
  authRequired: boolean;
  role: Role | null;
  name: string;
  via: 'bearer' | 'session' | 'anonymous';
  readOnly: boolean;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/**
 * "archive degraded (N spooled)" while the database is away and the monitor spools history to a
 * local file (decision 0022). Asked from /api/health every few seconds: an outage lasts minutes,
 * and the live stream carries device values, not the archive's state.
 */
function ArchiveBadge(): ComponentChild {
  const [text, setText] = useState('');
  useEffect(() => {
    let stopped = false;
    const poll = (): void => {
      api<{ archive?: { state?: string; spooled?: number } | null }>('/api/health')
        .then((h) => {
          if (!stopped) setText(h.archive?.state === 'degraded' ? `archive degraded (${h.archive.spooled ?? 0} spooled)` : '');
        })
        .catch(() => undefined);
    };
    poll();
    const timer = setInterval(poll, 3000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  return text ? h('span', { class: 'badge degraded', role: 'status', 'data-testid': 'archive-degraded', title: 'the database is unavailable: history is kept in a local spool and written when it returns' }, text) : null;
}

function Login(props: { lab: string; onDone: (s: Session) => void }): ComponentChild {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      props.onDone(await api<Session>('/api/login', { method: 'POST', body: { token } }));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return h('main', { class: 'login' }, [
    h('form', { class: 'panel login-form', onSubmit: submit, 'aria-labelledby': 'login-title' }, [
      h('h1', { id: 'login-title' }, props.lab),
      h('p', null, 'This monitor needs a token.'),
      h('label', { for: 'login-token' }, 'Token'),
      h('input', { id: 'login-token', type: 'password', autoComplete: 'current-password', value: token, required: true, onInput: (e: Event) => setToken((e.target as HTMLInputElement).value) }),
      h('button', { type: 'submit', disabled: busy || token === '' }, 'Log in'),
      error ? h('p', { class: 'err', role: 'alert' }, error) : null,
    ]),
  ]);
}

/** The lab's name as the page shows it: the lab file's `name:`, else the monitor's. */
function labNameOf(session: Session, s: LiveState): string {
  return session.lab ?? (s.monitor || session.monitor);
}

/** Keeps the tab's title on the lab and the view (the alarm banner's "(N) " count stays in front). */
function useTitle(title: string): void {
  useEffect(() => {
    const count = /^\(\d+\) /.exec(document.title)?.[0] ?? '';
    document.title = `${count}${title}`;
  }, [title]);
}

function ViewBody(props: { route: Route; s: LiveState; canWrite: boolean; readOnly: boolean }): ComponentChild {
  const { route, s, canWrite, readOnly } = props;
  const waiting = !s.ready ? h('p', { class: 'muted' }, 'connecting…') : s.devices.length === 0 ? h('p', { class: 'muted' }, 'No devices are configured.') : null;
  switch (route.view) {
    case 'overview':
      return h(Overview, { devices: s.devices, alarms: s.alarms, online: s.online, ready: s.ready });
    case 'devices':
      return waiting ?? h('section', { class: 'devices', 'aria-label': 'Devices' }, s.devices.map((d) => h(DeviceCard, { key: d.name, d, canWrite, readOnly })));
    case 'device': {
      const d = s.devices.find((x) => x.name === route.device);
      if (d) return h('section', { class: 'devices one', 'aria-label': d.name }, h(DeviceCard, { key: d.name, d, canWrite, readOnly }));
      if (!s.ready) return waiting;
      return h('p', { class: 'muted', 'data-testid': 'no-such-device' }, [`No device is named "${route.device ?? ''}". `, h('a', { href: routeHref('devices') }, 'Every device')]);
    }
    case 'alarms':
      return s.alarms.length > 0 ? h(AlarmPanel, { alarms: s.alarms, canAck: canWrite, online: s.online, connected: (c: string) => s.devices.find((x) => x.name === c)?.connected ?? true }) : h('p', { class: 'muted', 'data-testid': 'no-alarms' }, 'No alarms are configured (alarms: in the lab file).');
    case 'history':
      return h(HistoryExplorer, null);
    case 'log':
      return h(MessageLog, { messages: s.messages, dropped: s.dropped, devices: s.devices.map((d) => d.name) });
    case 'console':
      return canWrite
        ? h(CommandLine, { devices: s.devices, readOnly })
        : h('p', { class: 'muted', 'data-testid': 'no-console' }, 'The command line needs the operator role.');
  }
}

function Lab(props: { session: Session; onLogout: () => void }): ComponentChild {
  const s = useLive();
  const route = useRoute();
  const { session } = props;
  useEffect(() => {
    live.start();
    return () => live.stop();
  }, []);
  const readOnly = s.ready ? s.readOnly : session.readOnly;
  const canWrite = session.role !== null && RANK[session.role] >= RANK.operator;
  const nconnected = s.devices.filter((d) => d.connected).length;
  const lab = labNameOf(session, s);
  const monitor = s.monitor || session.monitor;
  const label = route.view === 'device' ? (route.device ?? '') : viewLabel(route.view);
  useTitle(route.view === 'overview' ? `${lab} · labwire` : `${label} · ${lab}`);
  useEffect(() => window.scrollTo(0, 0), [route.view, route.device]);
  return h('div', { class: 'app' }, [
    h('header', { class: 'top' }, [
      h('div', { class: 'bar' }, [
        h('h1', { 'data-testid': 'lab-name' }, [lab, ' ', h('span', { class: 'muted small', title: 'the monitor serving this page' }, monitor && monitor !== lab ? `labwire · ${monitor}` : 'labwire')]),
        h('span', { class: `live ${s.online ? 'on' : 'off'}`, 'data-testid': 'stream-state', title: s.online ? 'live updates are flowing' : 'reconnecting to the monitor' }, s.online ? 'live' : 'offline'),
        readOnly ? h('span', { class: 'badge ro', 'data-testid': 'read-only' }, 'read-only') : null,
        h(ArchiveBadge, null),
        h('span', { class: 'spacer' }),
        h('span', { class: 'who muted' }, session.role ? `${session.name} · ${session.role}` : ''),
        session.via === 'session' ? h('button', { type: 'button', class: 'link', onClick: props.onLogout }, 'Log out') : null,
      ]),
      h(Nav, { view: route.view, alarms: s.alarms }),
      h('nav', { class: 'chips', 'aria-label': `Devices: ${nconnected} of ${s.devices.length} connected` },
        s.devices.map((d) =>
          h('a', { href: routeHref('device', { device: d.name }), class: `chip ${d.connected ? 'on' : 'off'}${route.view === 'device' && route.device === d.name ? ' current' : ''}`, 'data-testid': `chip-${slug(d.name)}`, title: d.connected ? 'connected' : `disconnected${d.lastError ? `: ${d.lastError}` : ''}` }, [
            h('span', { class: 'dot', 'aria-hidden': 'true' }),
            h('span', { class: 'vh' }, d.connected ? 'connected: ' : 'disconnected: '),
            d.name,
            d.state ? h('span', { class: `state ${stateClass(d.state)}` }, d.state) : null,
          ]),
        )),
      h(AlarmBanner, { alarms: s.alarms }),
    ]),
    h('main', { class: `view-${route.view}`, 'data-testid': `view-${route.view}` }, h(ViewBody, { route, s, canWrite, readOnly })),
  ]);
}

/** The identity the page last showed (App's `setSession`). */
let pageUser: string | null = null;

export function App(): ComponentChild {
  const [session, setSessionState] = useState<Session | null>(null);
  const [error, setError] = useState('');
  // Whoever is at the page now: when that changes (log out, another token, an expired session),
  // what the console, the log and the tabs kept for the previous person is forgotten.
  const setSession = (next: Session): void => {
    const who = `${next.via}:${next.name}:${next.role ?? ''}`;
    if (pageUser !== null && pageUser !== who) {
      forgetConsole();
      forgetViews();
    }
    pageUser = who;
    setSessionState(next);
  };
  const load = (): void => {
    api<Session>('/api/session')
      .then(setSession)
      .catch((err: Error) => setError(err.message));
  };
  useEffect(() => {
    load();
    return onUnauthorized(() => {
      live.stop();
      load();
    });
  }, []);
  if (error) return h('main', { class: 'login' }, h('p', { class: 'err', role: 'alert' }, `The monitor cannot be reached: ${error}`));
  if (!session) return h('main', { class: 'login' }, h('p', { class: 'muted' }, 'loading…'));
  if (session.role === null) return h(Login, { lab: session.lab ?? 'labwire', onDone: setSession });
  const logout = (): void => {
    live.stop();
    api<Session>('/api/logout', { method: 'POST' }).then(setSession, load);
  };
  return h(Lab, { key: `${session.name}:${session.role}`, session, onLogout: logout });
}
