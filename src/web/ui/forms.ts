/// <reference lib="dom" />
/**
 * Forms generated from a device's `describe`: one per writable parameter (`set p=v`) and one per
 * command (buttons for commands without arguments). The daemon validates; its error is shown
 * next to the field. min/max from describe are shown as hints and given to the browser's number
 * field, but the form does not block a value the daemon would refuse: the daemon's own message
 * is the one that counts.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { CommandResult } from '../replies.js';
import type { ParamDescription, ValueDescription } from '../../wire/types.js';
import { ApiError, api, quote } from './api.js';
import { fmtValue, slug } from './format.js';
import { freshnessClass, freshnessTitle, type Freshness } from './freshness.js';

export async function sendLine(device: string, line: string): Promise<CommandResult> {
  return api<CommandResult>(`/api/devices/${encodeURIComponent(device)}/command`, { method: 'POST', body: { line } });
}

function hint(d: ValueDescription): string {
  const unit = d.unit ? ` ${d.unit}` : '';
  if (d.type === 'enum' && d.values) return d.values.join(' | ');
  if (d.min !== undefined && d.max !== undefined) return `${d.min} … ${d.max}${unit}`;
  if (d.min !== undefined) return `≥ ${d.min}${unit}`;
  if (d.max !== undefined) return `≤ ${d.max}${unit}`;
  return d.type === 'bool' ? 'on or off' : `${d.type}${unit}`;
}

/** The input for one value: number, select (bool, enum) or text. */
function Field(props: {
  id: string;
  name: string;
  d: ValueDescription;
  value: string;
  invalid: boolean;
  hintId: string;
  onInput: (v: string) => void;
  onKeyDown?: (e: KeyboardEvent) => void;
}): ComponentChild {
  const { id, d } = props;
  const common = { id, name: props.name, 'aria-describedby': props.hintId, 'aria-invalid': props.invalid ? 'true' : undefined, onKeyDown: props.onKeyDown };
  if (d.type === 'bool') {
    return h('select', { ...common, value: props.value, onChange: (e: Event) => props.onInput((e.target as HTMLSelectElement).value) }, [
      h('option', { value: '1' }, 'on'),
      h('option', { value: '0' }, 'off'),
    ]);
  }
  if (d.type === 'enum' && d.values) {
    return h('select', { ...common, value: props.value, onChange: (e: Event) => props.onInput((e.target as HTMLSelectElement).value) }, d.values.map((v) => h('option', { value: v }, v)));
  }
  const numeric = d.type === 'float' || d.type === 'int';
  return h('input', {
    ...common,
    type: numeric ? 'number' : 'text',
    inputMode: numeric ? 'decimal' : undefined,
    step: d.type === 'int' ? 1 : numeric ? 'any' : undefined,
    min: d.min,
    max: d.max,
    value: props.value,
    autoComplete: 'off',
    onInput: (e: Event) => props.onInput((e.target as HTMLInputElement).value),
  });
}

function initialText(d: ValueDescription, current: unknown): string {
  if (d.type === 'bool') return current === true || current === 1 || current === '1' ? '1' : '0';
  if (d.type === 'enum' && d.values) return typeof current === 'string' && d.values.includes(current) ? current : (d.values[0] ?? '');
  if (current === null || current === undefined) return '';
  return String(current);
}

export type Outcome = { ok: true; text: string } | { ok: false; text: string } | null;

export function OutcomeLine(props: { outcome: Outcome; id: string; testid: string }): ComponentChild {
  const o = props.outcome;
  if (!o) return null;
  return o.ok
    ? h('p', { class: 'ok', id: props.id, role: 'status', 'data-testid': `ok-${props.testid}` }, `✓ ${o.text}`)
    : h('p', { class: 'err', id: props.id, role: 'alert', 'data-testid': `error-${props.testid}` }, o.text);
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.code && !err.code.startsWith('HTTP') ? `${err.message} (${err.code})` : err.message;
  return (err as Error).message;
}

/** How long a sent value stays in its field when the device reports no change (it may have refused it silently). */
const HOLD_SENT_MS = 3000;

/**
 * `set <name>=<value>` for one writable parameter. The field follows the device's value (a `set`
 * from the command line, a script or a running programme shows at once) unless the user has
 * typed in it: from the first keystroke until it is sent or reverted with Escape. Focus alone
 * freezes nothing, so pressing Set or Enter without typing sends what the device has now, never a
 * value from page load or from when the field got focus. Whenever the field shows something else
 * than the device has, the hint says what the device has.
 */
export function ParamForm(props: { device: string; name: string; d: ParamDescription; current: unknown; label?: string; fresh?: Freshness; lastSeen?: string }): ComponentChild {
  const { device, name, d } = props;
  const fresh = props.fresh ?? 'live';
  const base = `${slug(device)}-${slug(name)}`;
  const live = initialText(d, props.current);
  // What the user typed, or the text just sent; shown only while dirty or holding.
  const [edit, setEdit] = useState<string | null>(null);
  // Typed since the last send or Escape.
  const [dirty, setDirty] = useState(false);
  // Counts keystrokes, so a reply can tell whether the user typed while it was on its way.
  const typed = useRef(0);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  // Just sent: the device's value as it was then. The field keeps the sent text until the device
  // reports a change (or briefly, if it reports none), instead of flashing the old value.
  const [sentOver, setSentOver] = useState<string | null>(null);
  const holding = sentOver !== null && sentOver === live;
  useEffect(() => {
    if (sentOver === null) return;
    if (sentOver !== live) {
      setSentOver(null);
      return;
    }
    const timer = setTimeout(() => setSentOver(null), HOLD_SENT_MS);
    return () => clearTimeout(timer);
  }, [sentOver, live]);
  const text = (dirty || holding) && edit !== null ? edit : live;
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (text.trim() === '') {
      setOutcome({ ok: false, text: `enter a value for ${name}` });
      return;
    }
    const sent = text;
    const liveThen = live;
    const typedThen = typed.current;
    setBusy(true);
    try {
      const r = await sendLine(device, `set ${name}=${quote(sent.trim())}`);
      const applied = r.results[name];
      setOutcome({ ok: true, text: `${name} = ${fmtValue(applied === undefined ? sent : applied)}${d.unit ? ` ${d.unit}` : ''}` });
      // What was typed while the line was on its way is a new edit: it stays, and stays edited.
      if (typed.current === typedThen) {
        // Sent: the field shows what was sent until the device reports a change, then follows it.
        setEdit(sent);
        setSentOver(liveThen);
        setDirty(false);
      }
    } catch (err) {
      setOutcome({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  const onInput = (v: string): void => {
    typed.current += 1;
    setEdit(v);
    setDirty(true);
  };
  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key !== 'Escape') return;
    typed.current += 1;
    setEdit(null);
    setSentOver(null);
    setDirty(false);
    setOutcome(null);
  };
  const staleClass = freshnessClass(fresh);
  return h('form', { class: `pform${dirty ? ' edited' : ''}${staleClass ? ` ${staleClass}` : ''}`, noValidate: true, onSubmit: submit, 'data-testid': `form-${base}`, 'data-fresh': fresh, 'aria-label': `set ${name}` }, [
    h('label', { for: `f-${base}`, title: props.label && props.label !== name ? `${name}: ${d.description}` : d.description }, props.label ?? name),
    h('div', { class: 'row', title: freshnessTitle(fresh, props.lastSeen) }, [
      h(Field, { id: `f-${base}`, name, d, value: text, invalid: outcome?.ok === false, hintId: `h-${base} o-${base}`, onInput, onKeyDown }),
      d.unit ? h('span', { class: 'unit' }, d.unit) : null,
      h('button', { type: 'submit', disabled: busy }, busy ? '…' : 'Set'),
    ]),
    h('small', { id: `h-${base}`, class: 'hint' }, [
      hint(d),
      // Whenever the field shows something else than the device has (typed, or just sent and not yet reported).
      text !== live ? h('span', { class: 'now', 'data-testid': `now-${base}` }, ` · device: ${live === '' ? '—' : live}${d.unit ? ` ${d.unit}` : ''}${dirty ? ' (Esc reverts)' : ''}`) : null,
      fresh !== 'live' ? h('span', { class: 'stale-hint', 'data-testid': `stale-form-${base}` }, fresh === 'offline' ? ' · not live: the page has lost the monitor' : ' · not live: the monitor has lost this device') : null,
    ]),
    h(OutcomeLine, { outcome, id: `o-${base}`, testid: base }),
  ]);
}

/**
 * One device command: a button, or a small form for its arguments. A command that changes state
 * (`write` in describe: start, stop, expose…) looks like an action and asks first, inline (a
 * dialog of the browser's own would block the page and its live updates); reads run at once.
 */
export function CommandForm(props: { device: string; name: string; cmd: { description: string; write: boolean; args: Record<string, ValueDescription> } }): ComponentChild {
  const { device, name, cmd } = props;
  const base = `${slug(device)}-cmd-${slug(name)}`;
  const argNames = Object.keys(cmd.args);
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(argNames.map((a) => [a, initialText(cmd.args[a]!, undefined)])));
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  // The line waiting for the user's yes, for a command that changes state.
  const [pending, setPending] = useState<string | null>(null);
  // The question takes the focus, so the keyboard answers it (Enter says yes, Tab reaches Cancel).
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (pending !== null) yes.current?.focus();
  }, [pending]);
  const lineOf = (): string | null => {
    const parts = [name];
    for (const a of argNames) {
      const v = (values[a] ?? '').trim();
      if (v === '') {
        if (cmd.args[a]!.optional) continue;
        setOutcome({ ok: false, text: `enter a value for ${a}` });
        return null;
      }
      parts.push(`${a}=${quote(v)}`);
    }
    return parts.join(' ');
  };
  const run = async (line: string): Promise<void> => {
    setPending(null);
    setBusy(true);
    try {
      const r = await sendLine(device, line);
      const res = Object.entries(r.results).map(([k, v]) => `${k}=${fmtValue(v)}`).join(' ');
      setOutcome({ ok: true, text: res ? `${name}: ${res}` : `${name} done` });
    } catch (err) {
      setOutcome({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: Event): void => {
    e.preventDefault();
    const line = lineOf();
    if (line === null) return;
    if (cmd.write) {
      setOutcome(null);
      setPending(line);
      return;
    }
    void run(line);
  };
  return h('form', { class: `cform${argNames.length ? ' with-args' : ''}${cmd.write ? ' action' : ''}`, noValidate: true, onSubmit: submit, 'data-testid': `form-${base}`, 'aria-label': `command ${name}` }, [
    ...argNames.map((a) => {
      const d = cmd.args[a]!;
      const id = `f-${base}-${slug(a)}`;
      return h('div', { class: 'arg' }, [
        h('label', { for: id, title: d.description }, `${a}${d.optional ? ' (optional)' : ''}`),
        h('div', { class: 'row' }, [
          h(Field, { id, name: a, d, value: values[a] ?? '', invalid: outcome?.ok === false, hintId: `h-${id} o-${base}`, onInput: (v: string) => setValues({ ...values, [a]: v }) }),
          d.unit ? h('span', { class: 'unit' }, d.unit) : null,
        ]),
        h('small', { id: `h-${id}`, class: 'hint' }, hint(d)),
      ]);
    }),
    pending === null
      ? h('button', { type: 'submit', disabled: busy, title: cmd.description, class: cmd.write ? 'act' : undefined }, busy ? '…' : cmd.write ? `${name}…` : name)
      : h('div', { class: 'confirm', role: 'group', 'aria-label': `confirm ${name}`, 'data-testid': `confirm-${base}` }, [
          h('span', { class: 'confirm-q' }, ['Send ', h('code', null, pending), ` to ${device}?`]),
          h('button', { type: 'button', class: 'act', ref: yes, onClick: () => void run(pending) }, `Yes, ${name}`),
          h('button', { type: 'button', onClick: () => setPending(null) }, 'Cancel'),
        ]),
    h(OutcomeLine, { outcome, id: `o-${base}`, testid: base }),
  ]);
}
