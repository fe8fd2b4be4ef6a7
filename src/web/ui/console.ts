/// <reference lib="dom" />
/**
 * The command line (any labwire line to any device, with up/down history kept in this browser)
 * and the live message log with level filters.
 */
import { h, type ComponentChild } from 'preact';
import { useRef, useState } from 'preact/hooks';
import type { LogEntry, LogLevel } from '../../archive/types.js';
import type { DeviceView } from '../views.js';
import { ApiError } from './api.js';
import { sendLine } from './forms.js';
import { fmtClock } from './format.js';

const HISTORY_KEY = 'labwire.commandHistory';
const MAX_HISTORY = 100;
const MAX_OUTPUT = 200;

function loadHistory(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(-MAX_HISTORY) : [];
  } catch {
    return [];
  }
}

interface OutLine {
  kind: 'in' | 'ok' | 'err';
  text: string;
}

export function CommandLine(props: { devices: DeviceView[]; readOnly: boolean }): ComponentChild {
  const [device, setDevice] = useState('');
  const [line, setLine] = useState('');
  const [out, setOut] = useState<OutLine[]>([]);
  const [busy, setBusy] = useState(false);
  const history = useRef<string[]>(loadHistory());
  const pos = useRef<number>(history.current.length);
  const target = device || props.devices[0]?.name || '';

  const push = (...lines: OutLine[]): void => setOut((o) => [...o, ...lines].slice(-MAX_OUTPUT));

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const text = line.trim();
    if (!text || !target) return;
    const hist = history.current.filter((x) => x !== text);
    hist.push(text);
    history.current = hist.slice(-MAX_HISTORY);
    pos.current = history.current.length;
    try {
      localStorage.setItem(HISTORY_KEY, JSON.stringify(history.current));
    } catch {
      // storage full or disabled: history stays in memory
    }
    setLine('');
    setBusy(true);
    try {
      const r = await sendLine(target, text);
      push({ kind: 'in', text: `${target}> ${text}` }, { kind: 'ok', text: r.reply });
    } catch (err) {
      const msg = err instanceof ApiError ? (err.reply ?? `${err.code}: ${err.message}`) : (err as Error).message;
      push({ kind: 'in', text: `${target}> ${text}` }, { kind: 'err', text: msg });
    } finally {
      setBusy(false);
    }
  };

  const onKey = (e: KeyboardEvent): void => {
    const hist = history.current;
    if (e.key === 'ArrowUp') {
      if (hist.length === 0) return;
      e.preventDefault();
      pos.current = Math.max(0, pos.current - 1);
      setLine(hist[pos.current] ?? '');
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      pos.current = Math.min(hist.length, pos.current + 1);
      setLine(hist[pos.current] ?? '');
    }
  };

  return h('section', { class: 'panel', 'aria-labelledby': 'cl-title' }, [
    h('h2', { id: 'cl-title' }, 'Command line'),
    props.readOnly ? h('p', { class: 'muted' }, 'The monitor is read-only: only commands that read are sent.') : null,
    h('form', { class: 'cline', onSubmit: submit }, [
      h('label', { for: 'cl-device', class: 'vh' }, 'Device'),
      h('select', { id: 'cl-device', value: target, onChange: (e: Event) => setDevice((e.target as HTMLSelectElement).value) }, props.devices.map((d) => h('option', { value: d.name }, d.name))),
      h('label', { for: 'cl-line', class: 'vh' }, 'Command'),
      h('input', {
        id: 'cl-line',
        type: 'text',
        value: line,
        placeholder: 'get_status · set setpoint=20 · describe',
        autoComplete: 'off',
        spellcheck: false,
        onInput: (e: Event) => setLine((e.target as HTMLInputElement).value),
        onKeyDown: onKey,
      }),
      h('button', { type: 'submit', disabled: busy || !target }, 'Send'),
    ]),
    h('div', { class: 'cl-out', role: 'log', 'aria-live': 'polite', 'aria-label': 'Command output', 'data-testid': 'command-output' },
      out.map((o) => h('div', { class: `o-${o.kind}` }, o.text))),
  ]);
}

const LEVELS: LogLevel[] = ['error', 'warning', 'success', 'info', 'debug'];

export function MessageLog(props: { messages: LogEntry[]; dropped: number }): ComponentChild {
  const [shown, setShown] = useState<Record<LogLevel, boolean>>({ error: true, warning: true, success: true, info: true, debug: false });
  const list = props.messages.filter((m) => shown[m.level]).slice(-300).reverse();
  return h('section', { class: 'panel', 'aria-labelledby': 'ml-title' }, [
    h('h2', { id: 'ml-title' }, 'Messages'),
    h('fieldset', { class: 'levels' }, [
      h('legend', { class: 'vh' }, 'Levels shown'),
      ...LEVELS.map((l) =>
        h('label', { class: `lvl lvl-${l}` }, [
          h('input', { type: 'checkbox', checked: shown[l], onChange: () => setShown({ ...shown, [l]: !shown[l] }) }),
          ` ${l}`,
        ]),
      ),
    ]),
    props.dropped > 0 ? h('p', { class: 'muted' }, `${props.dropped} live events were skipped because this page fell behind.`) : null,
    h('ol', { class: 'msgs', 'data-testid': 'messages', 'aria-label': 'Message log, newest first' },
      list.length === 0
        ? [h('li', { class: 'muted' }, 'no messages')]
        : list.map((m) =>
            h('li', { class: `m m-${m.level}` }, [
              h('time', { dateTime: new Date(m.t).toISOString() }, fmtClock(m.t)),
              h('span', { class: `lv lv-${m.level}` }, m.level),
              h('span', { class: 'src' }, m.source),
              h('span', { class: 'txt' }, m.message),
            ]),
          )),
  ]);
}
