/**
 * Writing labwire lines: the exact inverse of tokenize.ts, so parseLine(formatCommand(x)) deep-equals
 * x for every command x (PROTOCOL.md "Tokens").
 *
 * No formatted line ever holds LF, CR or NUL, which would end or split it on the wire: a value with
 * an ASCII control character is written in `$'...'` quoting with escapes (see tokenize.ts), and a
 * keyword whose key holds one is refused.
 */
import { LabwireError, isErrorCode, type Command, type WireValue } from './types.js';

// Control characters are exactly what these patterns are about.
/* eslint-disable no-control-regex */
/** Characters that force quoting: whitespace (any, to keep lines readable), quotes, backslash, `=`, controls. */
const NEEDS_QUOTES = /[\s"'\\=\x00-\x1f\x7f]/;
/** ASCII controls other than tab: these need `$'...'`. Tab is kept raw inside "...". */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Keys are written bare, so they may hold nothing the tokenizer would read differently. */
const KEY = /^[^\s"'\\=\x00-\x1f\x7f]+$/;
/* eslint-enable no-control-regex */

/**
 * The text of one value, before quoting. Numbers use the shortest form that reads back to the
 * same double (String(n)); -0 is `0`; NaN and a missing reading (null) are `nan`, as CCDLab's
 * `%g` wrote them; infinities are `inf`/`-inf`. Booleans are `0`/`1`.
 */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A finite decimal number as people and peers write it (`12.5`, `-1e3`, ` .5 `), else undefined.
 * Stricter than Number(): '', '0x10', 'Infinity' and '1e999' are not numbers here.
 */
export function parseDecimal(text: string): number | undefined {
  const s = text.trim();
  if (!DECIMAL.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/** A value as a number where it is one: finite numbers, booleans as 1/0, decimal text; else undefined. */
export function numberOf(v: WireValue | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return parseDecimal(v);
  return undefined;
}

const TRUE_WORDS = new Set(['1', 'true', 'on', 'yes']);
const FALSE_WORDS = new Set(['0', 'false', 'off', 'no']);

/** A boolean as people and peers write it (`1`/`0`, `true`/`false`, `on`/`off`, `yes`/`no`, any case), else undefined. */
export function parseBoolWord(text: string): boolean | undefined {
  const s = text.trim().toLowerCase();
  if (TRUE_WORDS.has(s)) return true;
  if (FALSE_WORDS.has(s)) return false;
  return undefined;
}

export function formatValue(v: WireValue): string {
  if (v === null) return 'nan';
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (v === Infinity) return 'inf';
    if (v === -Infinity) return '-inf';
    if (v === 0) return '0';
    return String(v);
  }
  return v;
}

function ansiQuote(s: string): string {
  let out = "$'";
  for (const ch of s) {
    const code = ch.charCodeAt(0);
    if (ch === '\\' || ch === "'") out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + "'";
}

function doubleQuote(s: string): string {
  return '"' + s.replace(/["\\]/g, '\\$&') + '"';
}

/**
 * One token as it goes on the wire: bare when non-empty and free of whitespace, quotes, backslash,
 * `=` and control characters; otherwise in double quotes with `"` and `\` escaped; a string with
 * an ASCII control character other than tab in `$'...'` with escapes.
 */
export function quote(s: string): string {
  if (s !== '' && !NEEDS_QUOTES.test(s)) return s;
  if (CONTROL.test(s)) return ansiQuote(s);
  return doubleQuote(s);
}

/** Like quote(), but always quoted: for free text such as an error message. */
function quoteText(s: string): string {
  return CONTROL.test(s) ? ansiQuote(s) : doubleQuote(s);
}

function checkKey(key: string): string {
  if (!KEY.test(key)) {
    throw new LabwireError(
      'ProtocolError',
      `keyword ${JSON.stringify(key)} cannot be written: a key must be non-empty and hold no whitespace, quote, backslash, '=' or control character`,
    );
  }
  return key;
}

function formatPair(key: string, value: string): string {
  // `k=` rather than `k=""`: shorter, and what CCDLab daemons write (`type=`).
  return `${checkKey(key)}=${value === '' ? '' : quote(value)}`;
}

/**
 * `k=v k2=v2 ...` in the record's order. Entries whose value is undefined are left out, so a
 * result record may carry optional fields.
 */
export function formatPairs(kv: Readonly<Record<string, WireValue | undefined>>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(kv)) {
    if (v !== undefined) parts.push(formatPair(k, formatValue(v)));
  }
  return parts.join(' ');
}

/**
 * One line for a Command: the name, the positional arguments, then `key=value` pairs. Throws
 * LabwireError('ProtocolError') for an invalid key, or for positional arguments without a name
 * (the first would read back as the name).
 */
export function formatCommand(cmd: Command): string {
  const parts: string[] = [];
  if (cmd.name !== null) parts.push(quote(cmd.name));
  else if (cmd.args.length > 0) {
    throw new LabwireError('ProtocolError', 'a command with positional arguments needs a name');
  }
  for (const a of cmd.args) parts.push(quote(a));
  for (const [k, v] of Object.entries(cmd.kwargs)) parts.push(formatPair(k, v));
  return parts.join(' ');
}

/** Builds a Command from a name and typed values, for formatCommand. */
export function makeCommand(
  name: string | null,
  args: readonly WireValue[] = [],
  kwargs: Readonly<Record<string, WireValue | undefined>> = {},
): Command {
  const kw = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(kwargs)) if (v !== undefined) kw[k] = formatValue(v);
  return { name, args: args.map(formatValue), kwargs: kw };
}

/** `ok <command> k=v ...`: the success reply of PROTOCOL.md. */
export function formatOk(command: string, results?: Readonly<Record<string, WireValue | undefined>>): string {
  const pairs = results === undefined ? '' : formatPairs(results);
  return pairs === '' ? `ok ${quote(command)}` : `ok ${quote(command)} ${pairs}`;
}

/** `error <command> code=<Code> message="..."`: the failure reply of PROTOCOL.md. */
export function formatErrorReply(err: LabwireError): string {
  const command = err.command === '' ? '-' : err.command;
  return `error ${quote(command)} code=${err.code} message=${quoteText(err.message)}`;
}

/**
 * The LabwireError an `error <command> code=... message=...` reply carries, or undefined when the
 * command is not an error reply. An unknown code (a newer peer) becomes InternalError with the
 * message kept as it is; a reply without a code (a CCDLab-style `error <text>` notice) becomes
 * InternalError with its text.
 */
export function parseErrorReply(cmd: Command): LabwireError | undefined {
  if (cmd.name !== 'error') return undefined;
  const command = cmd.args[0] ?? '-';
  const code = cmd.kwargs.code;
  const message = cmd.kwargs.message;
  if (code !== undefined && isErrorCode(code)) return new LabwireError(code, message ?? code, command);
  if (code !== undefined) {
    return new LabwireError('InternalError', message ?? `peer error code ${code}`, command);
  }
  return new LabwireError('InternalError', message ?? cmd.args.join(' '), '-');
}

/** `update t=<unix ms> k=v ...`: a push line after `subscribe`. */
export function formatUpdate(t: number, values: Readonly<Record<string, WireValue | undefined>>): string {
  const pairs = formatPairs(values);
  return pairs === '' ? `update t=${formatValue(Math.round(t))}` : `update t=${formatValue(Math.round(t))} ${pairs}`;
}

export type LogLevel = 'info' | 'warning' | 'error' | 'success';

/** `log t=<unix ms> level=<level> message="..."`: the daemon's log as a push line. */
export function formatLog(t: number, level: LogLevel, message: string): string {
  return `log t=${formatValue(Math.round(t))} level=${level} message=${quoteText(message)}`;
}
