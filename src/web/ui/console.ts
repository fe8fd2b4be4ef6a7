/// <reference lib="dom" />
/**
 * The command line (any labwire line to any device, with up/down history kept in this browser;
 * it keeps the newest reply in view and shows JSON replies such as `describe` indented) and the
 * live message log with a search box and filters by device and by level.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { CommandResult } from '../replies.js';
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

/**
 * A reply as shown: a JSON body (`describe {...}`, `status_json {...}`, or any reply whose body
 * parses as an object or array) indented on its own lines; anything else as the device sent it.
 */
export function replyText(r: Pick<CommandResult, 'reply' | 'kind' | 'json'>): string {
  if (r.json !== undefined) return `${r.kind}\n${JSON.stringify(r.json, null, 2)}`;
  const space = r.reply.indexOf(' ');
  const body = space < 0 ? '' : r.reply.slice(space + 1).trim();
  if (!body.startsWith('{') && !body.startsWith('[')) return r.reply;
  try {
    return `${r.reply.slice(0, space)}\n${JSON.stringify(JSON.parse(body) as unknown, null, 2)}`;
  } catch {
    return r.reply;
  }
}

/**
 * What the command line shows, kept outside the component: the Console tab unmounts it, and the
 * transcript (with the reply of a line still in flight when the user left) must be there on return.
 */
class Transcript {
  lines: OutLine[] = [];
  device = '';
  /** Lines sent and not answered yet. */
  pending = 0;
  /** Bumped by `reset`: a reply to a line sent before it belongs to the previous user and is dropped. */
  generation = 0;
  private readonly listeners = new Set<() => void>();

  /** Forgets everything: another user (or nobody) is now on this page. */
  reset(): void {
    this.lines = [];
    this.device = '';
    this.pending = 0;
    this.generation++;
    this.changed();
  }

  push(...lines: OutLine[]): void {
    this.lines = [...this.lines, ...lines].slice(-MAX_OUTPUT);
    this.changed();
  }

  changed(): void {
    for (const l of this.listeners) l();
  }

  subscribe(l: () => void): () => void {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
    };
  }
}

export const transcript = new Transcript();

function useTranscript(): Transcript {
  const [, setTick] = useState(0);
  useEffect(() => transcript.subscribe(() => setTick((n) => n + 1)), []);
  return transcript;
}

export function CommandLine(props: { devices: DeviceView[]; readOnly: boolean }): ComponentChild {
  const t = useTranscript();
  const device = t.device;
  const setDevice = (name: string): void => {
    t.device = name;
    t.changed();
  };
  const [line, setLine] = useState('');
  const out = t.lines;
  const busy = t.pending > 0;
  const history = useRef<string[]>(loadHistory());
  const pos = useRef<number>(history.current.length);
  const outRef = useRef<HTMLDivElement>(null);
  const target = device || props.devices[0]?.name || '';
  // The newest reply is the one asked for: keep it in view, however long the one before was.
  useEffect(() => {
    const el = outRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [out]);


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
    const generation = t.generation;
    t.pending++;
    t.changed();
    try {
      const r = await sendLine(target, text);
      if (t.generation === generation) t.push({ kind: 'in', text: `${target}> ${text}` }, { kind: 'ok', text: replyText(r) });
    } catch (err) {
      const msg = err instanceof ApiError ? (err.reply ?? `${err.code}: ${err.message}`) : (err as Error).message;
      if (t.generation === generation) t.push({ kind: 'in', text: `${target}> ${text}` }, { kind: 'err', text: msg });
    } finally {
      if (t.generation === generation) {
        t.pending--;
        t.changed();
      }
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
    h('div', { class: 'cl-out', ref: outRef, role: 'log', 'aria-live': 'polite', 'aria-label': 'Command output', 'data-testid': 'command-output' },
      out.map((o) => h('div', { class: `o-${o.kind}` }, o.text))),
  ]);
}

const LEVELS: LogLevel[] = ['error', 'warning', 'success', 'info', 'debug'];

export interface LogFilter {
  /** Words that must all occur in the message or its source (case-insensitive). */
  search: string;
  /** A source (device or `monitor`), or '' for all. */
  source: string;
  levels: Record<LogLevel, boolean>;
}

export function filterMessages(messages: readonly LogEntry[], f: LogFilter): LogEntry[] {
  const words = f.search.toLowerCase().split(/\s+/).filter(Boolean);
  return messages.filter((m) => {
    if (!f.levels[m.level]) return false;
    if (f.source && m.source !== f.source) return false;
    if (words.length === 0) return true;
    const text = `${m.source} ${m.message}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
}

/** The log's filter, kept outside the component so that it survives the Log tab being left. */
const DEFAULT_LOG_FILTER: LogFilter = { search: '', source: '', levels: { error: true, warning: true, success: true, info: true, debug: false } };
let logFilter: LogFilter = DEFAULT_LOG_FILTER;

/**
 * What the console and the log keep for the person at the page — the transcript, the log's
 * filter, the typed command history — forgotten when that person changes (log out, another
 * token, an expired session): the next user must not read the previous one's replies.
 */
export function forgetConsole(): void {
  transcript.reset();
  logFilter = DEFAULT_LOG_FILTER;
  try {
    localStorage.removeItem(HISTORY_KEY);
  } catch {
    // storage disabled: there is nothing kept
  }
}

export function MessageLog(props: { messages: LogEntry[]; dropped: number; devices?: readonly string[] }): ComponentChild {
  const [filter, setFilter] = useState<LogFilter>(logFilter);
  const change = (part: Partial<LogFilter>): void => {
    logFilter = { ...logFilter, ...part };
    setFilter(logFilter);
  };
  const { levels, search, source } = filter;
  const setLevels = (l: Record<LogLevel, boolean>): void => change({ levels: l });
  const setSearch = (text: string): void => change({ search: text });
  const setSource = (name: string): void => change({ source: name });
  // Every source seen (the monitor, devices, users' log lines) plus the configured devices.
  const sources = [...new Set([...(props.devices ?? []), ...props.messages.map((m) => m.source)])].sort();
  const matching = filterMessages(props.messages, { search, source, levels });
  const list = matching.slice(-300).reverse();
  const filtered = search.trim() !== '' || source !== '';
  return h('section', { class: 'panel', 'aria-labelledby': 'ml-title' }, [
    h('h2', { id: 'ml-title' }, 'Messages'),
    h('div', { class: 'ml-filters' }, [
      h('input', {
        type: 'search',
        value: search,
        placeholder: 'search messages',
        'aria-label': 'Search messages',
        'data-testid': 'messages-search',
        onInput: (e: Event) => setSearch((e.target as HTMLInputElement).value),
      }),
      h('select', { value: source, 'aria-label': 'Messages from', 'data-testid': 'messages-source', onChange: (e: Event) => setSource((e.target as HTMLSelectElement).value) }, [
        h('option', { value: '' }, 'all sources'),
        ...sources.map((s) => h('option', { value: s }, s)),
      ]),
    ]),
    h('fieldset', { class: 'levels' }, [
      h('legend', { class: 'vh' }, 'Levels shown'),
      ...LEVELS.map((l) =>
        h('label', { class: `lvl lvl-${l}` }, [
          h('input', { type: 'checkbox', checked: levels[l], onChange: () => setLevels({ ...levels, [l]: !levels[l] }) }),
          ` ${l}`,
        ]),
      ),
    ]),
    props.dropped > 0 ? h('p', { class: 'muted' }, `${props.dropped} live events were skipped because this page fell behind.`) : null,
    filtered ? h('p', { class: 'muted small', 'data-testid': 'messages-count' }, `${matching.length} of ${props.messages.length} messages match`) : null,
    h('ol', { class: 'msgs', 'data-testid': 'messages', 'aria-label': 'Message log, newest first' },
      list.length === 0
        ? [h('li', { class: 'muted' }, filtered ? 'no message matches' : 'no messages')]
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
