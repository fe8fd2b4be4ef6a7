/**
 * Conditions for waitFor and `labwire wait`: `temperature<15`, `state=idle && pressure<=1e-5`,
 * `chiller.temperature>=19.5, chiller.state=idle`. All terms must hold.
 *
 * Terms are `<name><op><value>` with op one of < <= > >= = == !=. Names are parameter names as
 * they appear in status lines: letters, digits, `_`, `-` and `.` (the monitor's
 * `<client>.<param>`, CCDLab's `cryo-con.temperatureA`). Terms are joined by `&&`, `and` or `,`.
 * A value may be quoted ('...' or "...") to hold spaces, commas or operators.
 */
import { LabwireError, parseDecimal } from '../wire/index.js';

export type ConditionValue = string | number | boolean | null;
export type ConditionValues = Readonly<Record<string, ConditionValue | undefined>>;

export type Operator = '<' | '<=' | '>' | '>=' | '=' | '==' | '!=';

export interface Term {
  name: string;
  op: Operator;
  value: string;
}

export interface Condition {
  /** The text the condition was parsed from. */
  source: string;
  terms: Term[];
  /** The names the condition reads, in order of first use. */
  names: string[];
  test(values: ConditionValues): boolean;
}

/** `/` for the devices of a lower monitor as a monitor above it names them (`room1/chiller.temperature`). */
const NAME = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
const OPERATORS: readonly Operator[] = ['<=', '>=', '==', '!=', '<', '>', '='];

/**
 * A number for numeric strings, numbers and booleans (true = 1); undefined otherwise. Infinities
 * count (`inf` is how an over-range reading goes on the wire); NaN is a missing reading.
 */
function toNumber(v: ConditionValue): number | undefined {
  if (typeof v === 'number') return Number.isNaN(v) ? undefined : v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const s = v.trim();
    const n = parseDecimal(s);
    if (n !== undefined) return n;
    if (/^[+-]?inf(inity)?$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  }
  return undefined;
}

function toBoolean(v: ConditionValue): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : undefined;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0') return false;
  }
  return undefined;
}

/** A missing reading: absent, null, NaN, or the wire's `nan`. */
export function isMissing(v: ConditionValue | undefined): v is null | undefined {
  return v === undefined || v === null || (typeof v === 'number' && Number.isNaN(v)) || (typeof v === 'string' && v.trim().toLowerCase() === 'nan');
}

/**
 * One comparison. Numeric when both sides read as numbers (booleans count as 1/0); otherwise
 * `=`/`!=` compare booleans when both sides are 1/0/true/false and strings else, and `<`/`>` are
 * false. A missing value makes every comparison false, `!=` included: waiting for
 * `temperature!=20` must not end on a lost reading.
 */
export function compare(actual: ConditionValue | undefined, op: Operator, expected: string): boolean {
  if (isMissing(actual)) return false;
  const a = toNumber(actual);
  const e = toNumber(expected);
  if (a !== undefined && e !== undefined) {
    switch (op) {
      case '<':
        return a < e;
      case '<=':
        return a <= e;
      case '>':
        return a > e;
      case '>=':
        return a >= e;
      case '=':
      case '==':
        return a === e;
      case '!=':
        return a !== e;
    }
  }
  if (op !== '=' && op !== '==' && op !== '!=') return false;
  const ab = toBoolean(actual);
  const eb = toBoolean(expected);
  const equal = ab !== undefined && eb !== undefined ? ab === eb : String(actual) === expected;
  return op === '!=' ? !equal : equal;
}

function bad(message: string): never {
  throw new LabwireError('ProtocolError', message);
}

/** Splits at top-level `&&`, `,` and whitespace-delimited `and`, outside quotes. */
function splitTerms(source: string): { text: string; after: string }[] {
  const terms: { text: string; after: string }[] = [];
  let start = 0;
  let after = '';
  let quoteChar = '';
  let quoteAt = -1;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (quoteChar !== '') {
      if (c === quoteChar) quoteChar = '';
      continue;
    }
    if (c === '"' || c === "'") {
      quoteChar = c;
      quoteAt = i;
      continue;
    }
    let sep = '';
    if (c === ',') sep = ',';
    else if (c === '&' && source[i + 1] === '&') sep = '&&';
    else if (/\s/.test(c ?? '')) {
      const m = /^\s+and\s+/i.exec(source.slice(i));
      if (m) sep = m[0];
    }
    if (sep !== '') {
      terms.push({ text: source.slice(start, i), after });
      after = sep.trim();
      i += sep.length - 1;
      start = i + 1;
    }
  }
  if (quoteChar !== '') bad(`condition '${source}' has an unbalanced ${quoteChar} at column ${quoteAt + 1}`);
  terms.push({ text: source.slice(start), after });
  return terms;
}

function parseTerm(raw: string, source: string, after: string, single: boolean): Term {
  const text = raw.trim();
  const where = single ? `condition '${source}'` : `condition '${source}': term '${text}'`;
  if (text === '') {
    bad(after === '' ? `condition '${source}' starts with an empty term` : `condition '${source}' has an empty term after '${after}'`);
  }
  const at = text.search(/[<>=!]/);
  if (at < 0) bad(`${where} has no comparison operator (use <, <=, >, >=, =, == or !=)`);
  const op = OPERATORS.find((o) => text.startsWith(o, at));
  if (op === undefined) bad(`${where} has an unknown operator '${text.slice(at, at + 2)}' (use <, <=, >, >=, =, == or !=)`);
  const name = text.slice(0, at).trim();
  if (name === '') bad(`${where} has no name before '${op}'`);
  if (!NAME.test(name)) {
    if (toNumber(name) !== undefined) {
      bad(`${where} has the number '${name}' where a name belongs; write the name first, e.g. temperature>${name}`);
    }
    bad(`${where}: '${name}' is not a parameter name (letters, digits, _, -, . and /; starting with a letter or _)`);
  }
  let value = text.slice(at + op.length).trim();
  if (value === '') bad(`${where} has no value after '${op}'`);
  const first = value[0];
  if (first === '"' || first === "'") {
    if (value.length < 2 || value[value.length - 1] !== first || value.indexOf(first, 1) !== value.length - 1) {
      bad(`${where} has a badly quoted value ${value}`);
    }
    value = value.slice(1, -1);
  } else if (/^[<>=!]/.test(value)) {
    bad(`${where} has '${op}' followed by '${value[0]}'; use one of <, <=, >, >=, =, == or !=`);
  } else if (/\s/.test(value)) {
    bad(`${where} has a value with spaces (${value}); quote it or join terms with &&, ',' or 'and'`);
  }
  return { name, op, value };
}

/**
 * Parses a condition. Throws LabwireError('ProtocolError') with a message that shows what is
 * wrong, e.g. "condition 'temperature<' has no value after '<'".
 */
export function parseCondition(source: string): Condition {
  if (source.trim() === '') bad('condition is empty');
  const parts = splitTerms(source);
  const terms = parts.map((p) => parseTerm(p.text, source.trim(), p.after, parts.length === 1));
  const names = [...new Set(terms.map((t) => t.name))];
  return {
    source: source.trim(),
    terms,
    names,
    test: (values) => terms.every((t) => compare(Object.hasOwn(values, t.name) ? values[t.name] : undefined, t.op, t.value)),
  };
}
