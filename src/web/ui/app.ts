/// <reference lib="dom" />
/**
 * The page: a login form when a token is needed; otherwise the header with every device and
 * its connection state (and a banner while an alarm is raised), the alarms panel, a card per
 * device, the command line, the message log and the history explorer.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Role } from '../../server/roles.js';
import { AlarmBanner, AlarmPanel } from './alarms.js';
import { ApiError, api, onUnauthorized } from './api.js';
import { CommandLine, MessageLog } from './console.js';
import { DeviceCard, stateClass } from './device.js';
import { slug } from './format.js';
import { HistoryExplorer } from './history.js';
import { live, useLive } from './live.js';

interface Session {
  monitor: string;
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

function Login(props: { onDone: (s: Session) => void }): ComponentChild {
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
      h('h1', { id: 'login-title' }, 'labwire'),
      h('p', null, 'This monitor needs a token.'),
      h('label', { for: 'login-token' }, 'Token'),
      h('input', { id: 'login-token', type: 'password', autoComplete: 'current-password', value: token, required: true, onInput: (e: Event) => setToken((e.target as HTMLInputElement).value) }),
      h('button', { type: 'submit', disabled: busy || token === '' }, 'Log in'),
      error ? h('p', { class: 'err', role: 'alert' }, error) : null,
    ]),
  ]);
}

function Lab(props: { session: Session; onLogout: () => void }): ComponentChild {
  const s = useLive();
  const { session } = props;
  useEffect(() => {
    live.start();
    return () => live.stop();
  }, []);
  const readOnly = s.ready ? s.readOnly : session.readOnly;
  const canWrite = session.role !== null && RANK[session.role] >= RANK.operator;
  const nconnected = s.devices.filter((d) => d.connected).length;
  return h('div', { class: 'app' }, [
    h('header', { class: 'top' }, [
      h('div', { class: 'bar' }, [
        h('h1', null, ['labwire ', h('span', { class: 'muted' }, s.monitor || session.monitor)]),
        h('span', { class: `live ${s.online ? 'on' : 'off'}`, 'data-testid': 'stream-state', title: s.online ? 'live updates are flowing' : 'reconnecting to the monitor' }, s.online ? 'live' : 'offline'),
        readOnly ? h('span', { class: 'badge ro', 'data-testid': 'read-only' }, 'read-only') : null,
        h(ArchiveBadge, null),
        h('span', { class: 'spacer' }),
        h('span', { class: 'who muted' }, session.role ? `${session.name} · ${session.role}` : ''),
        session.via === 'session' ? h('button', { type: 'button', class: 'link', onClick: props.onLogout }, 'Log out') : null,
      ]),
      h('nav', { class: 'chips', 'aria-label': `Devices: ${nconnected} of ${s.devices.length} connected` },
        s.devices.map((d) =>
          h('a', { href: `#dev-${slug(d.name)}`, class: `chip ${d.connected ? 'on' : 'off'}`, 'data-testid': `chip-${slug(d.name)}`, title: d.connected ? 'connected' : `disconnected${d.lastError ? `: ${d.lastError}` : ''}` }, [
            h('span', { class: 'dot', 'aria-hidden': 'true' }),
            h('span', { class: 'vh' }, d.connected ? 'connected: ' : 'disconnected: '),
            d.name,
            d.state ? h('span', { class: `state ${stateClass(d.state)}` }, d.state) : null,
          ]),
        )),
      h(AlarmBanner, { alarms: s.alarms }),
    ]),
    h('main', null, [
      !s.ready ? h('p', { class: 'muted' }, 'connecting…') : null,
      s.ready && s.devices.length === 0 ? h('p', { class: 'muted' }, 'No devices are configured.') : null,
      s.alarms.length > 0 ? h(AlarmPanel, { alarms: s.alarms, canAck: canWrite }) : null,
      h('section', { class: 'devices', 'aria-label': 'Devices' }, s.devices.map((d) => h(DeviceCard, { key: d.name, d, canWrite, readOnly }))),
      h('div', { class: 'duo' }, [
        canWrite ? h(CommandLine, { devices: s.devices, readOnly }) : null,
        h(MessageLog, { messages: s.messages, dropped: s.dropped }),
      ]),
      h(HistoryExplorer, null),
    ]),
  ]);
}

export function App(): ComponentChild {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState('');
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
  if (session.role === null) return h(Login, { onDone: setSession });
  const logout = (): void => {
    live.stop();
    api<Session>('/api/logout', { method: 'POST' }).then(setSession, load);
  };
  return h(Lab, { key: `${session.name}:${session.role}`, session, onLogout: logout });
}
