/**
 * Topic names and payloads of the MQTT bridge (docs/mqtt.md), pure so they are tested without a
 * broker. State: `<prefix>/<device>/<param>` with `{"value":…,"unit":"…","t":<unix ms>}`.
 * Commands: `<prefix>/<device>/<param>/set/<user>` and `<prefix>/<device>/call/<command>/<user>`,
 * answered on the same topic + `/reply`. The `<user>` level is what the broker's ACL pins to the
 * publisher's login (`%u`): MQTT tells a subscriber nothing else about who published.
 */
import { formatValue, quote, type WireValue } from '../../wire/index.js';
import type { PeerValue } from '../../monitor/types.js';

export const BRIDGE_LEVEL = 'bridge';

export function stateTopic(prefix: string, device: string, param: string): string {
  return `${prefix}/${device}/${param}`;
}

export function availabilityTopic(prefix: string, device: string): string {
  return `${prefix}/${device}/availability`;
}

export function bridgeAvailabilityTopic(prefix: string): string {
  return `${prefix}/${BRIDGE_LEVEL}/availability`;
}

/** The bridge's subscriptions: every set and every call, of every user. */
export function commandFilters(prefix: string): string[] {
  return [`${prefix}/+/+/set/+`, `${prefix}/+/call/+/+`];
}

export function replyTopic(commandTopic: string): string {
  return `${commandTopic}/reply`;
}

/** A parameter or device name that can be one topic level (no `/`, wildcard or NUL). */
export function topicSafe(name: string): boolean {
  return name !== '' && !/[/#+\0]/.test(name);
}

export interface StatePayload {
  value: PeerValue;
  unit?: string;
  t: number;
}

/** NaN (a missing reading) is `null` in JSON: JSON has no NaN. */
export function statePayload(value: PeerValue, unit: string | undefined, t: number): string {
  const v = typeof value === 'number' && !Number.isFinite(value) ? null : value;
  return JSON.stringify(unit ? { value: v, unit, t } : { value: v, t });
}

export type CommandTopic =
  | { kind: 'set'; device: string; param: string; user: string }
  | { kind: 'call'; device: string; command: string; user: string };

/** The command a topic names, or undefined when it is no command topic of this prefix. */
export function parseCommandTopic(prefix: string, topic: string): CommandTopic | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const levels = topic.slice(prefix.length + 1).split('/');
  if (levels.length !== 4 || levels.some((l) => l === '')) return undefined;
  const [device, a, b, user] = levels as [string, string, string, string];
  // `set` is a built-in and never a device command, so `<dev>/call/set/<user>` is parameter `call`.
  if (b === 'set') return { kind: 'set', device, param: a, user };
  if (a === 'call') return { kind: 'call', device, command: b, user };
  return undefined;
}

export class PayloadError extends Error {}

function scalar(v: unknown, what: string): WireValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  throw new PayloadError(`${what} must be a number, string, true/false or null, not ${Array.isArray(v) ? 'an array' : typeof v}`);
}

/**
 * The value a `…/set` payload carries: JSON (`21.5`, `"auto"`, `true`, or `{"value": 21.5}`), or
 * else the text as it is (`21.5` typed by hand is JSON too). The daemon checks type and limits.
 */
export function parseSetPayload(payload: Buffer): WireValue {
  const text = payload.toString('utf8').trim();
  if (text === '') throw new PayloadError('the payload is empty; send the value, e.g. 21.5 or {"value": 21.5}');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    if (!Object.hasOwn(parsed, 'value')) throw new PayloadError('a JSON object payload needs a "value" key, e.g. {"value": 21.5}');
    return scalar((parsed as { value: unknown }).value, '"value"');
  }
  return scalar(parsed, 'the value');
}

/** A `…/call/<command>` payload: empty (no arguments) or a JSON object of named arguments. */
export function parseCallPayload(payload: Buffer): Record<string, WireValue> {
  const text = payload.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new PayloadError('the payload of a call is a JSON object of named arguments, e.g. {"rate": 0.5}, or empty');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PayloadError('the payload of a call is a JSON object of named arguments, e.g. {"rate": 0.5}, or empty');
  const out: Record<string, WireValue> = {};
  for (const [k, v] of Object.entries(parsed)) out[k] = scalar(v, `argument "${k}"`);
  return out;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** `name k=v ...` on the labwire wire; keys are checked so a payload cannot smuggle another token in. */
export function commandLine(name: string, kwargs: Readonly<Record<string, WireValue>>): string {
  const parts = [quote(name)];
  for (const [k, v] of Object.entries(kwargs)) {
    if (!KEY.test(k)) throw new PayloadError(`"${k}" is not a parameter or argument name (letters, digits, _ . -)`);
    parts.push(`${k}=${quote(formatValue(v))}`);
  }
  return parts.join(' ');
}

/** What the bridge answers on a reply topic. */
export type ReplyPayload =
  | { ok: true; reply: string; t: number }
  | { ok: false; code: string; message: string; reply?: string; t: number };
