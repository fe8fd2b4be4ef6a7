/**
 * SCPI data on the wire, both directions, no I/O: splitting lines and parameter lists outside
 * quotes, numbers (NR1/NR2/NR3, with units and MIN/MAX/DEF), booleans, enumerations of keywords,
 * quoted strings. A parser returns an ScpiError value for bad input so a simulator can queue it
 * and a driver can name it.
 */
import { keywordMatches } from './keywords.js';
import { SCPI, ScpiError } from './errors.js';

/** SCPI's "overflow" number (9.9E37), also a high-impedance load of a function generator. */
export const SCPI_INFINITY = 9.9e37;
/** SCPI's "not a number" (9.91E37). */
export const SCPI_NAN = 9.91e37;

// ---------------------------------------------------------------- splitting

/** Splits at `sep` outside double quotes (strings may hold `;` and `,`). */
export function splitOutsideQuotes(text: string, sep = ';'): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * The fields of one reply line joined by `;`. A trailing `;` ends the list rather than adding an
 * empty field; padding inside fields is kept for the parsers.
 */
export function splitReply(line: string, sep = ';'): string[] {
  const text = line.replace(/\r$/, '');
  if (text.trim() === '') return [];
  const fields = splitOutsideQuotes(text, sep);
  if (fields.length > 1 && fields[fields.length - 1]!.trim() === '') fields.pop();
  return fields;
}

/** The parameters of one command (`APPL:SIN 5 KHZ, 3.0, -2.5`), trimmed; none for blank text. */
export function splitParams(args: string): string[] {
  if (args.trim() === '') return [];
  return splitOutsideQuotes(args, ',').map((p) => p.trim());
}

// ---------------------------------------------------------------- numbers

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A plain decimal number; undefined for anything else (no `Infinity`, no hex, no empty field). */
export function parseNumber(field: string): number | undefined {
  const text = field.trim();
  if (!NUMBER_RE.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Floats with fixed decimals as many instruments print them (`20.806670`), never `-0.000`. */
export function formatFloat(value: number, decimals = 6): string {
  const text = value.toFixed(decimals);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

/** NR1: a signed integer as SCPI prints it (`+5`, `-12`); `signed: false` drops the plus. */
export function formatNR1(value: number, signed = false): string {
  const n = Math.round(value);
  return n >= 0 && signed ? `+${n}` : String(n === 0 ? 0 : n);
}

/** NR3: `+1.040564E-06` (mantissa digits after the point, sign always, two-digit exponent at least). */
export function formatNR3(value: number, digits = 6): string {
  if (!Number.isFinite(value)) return formatNR3(SCPI_NAN, digits);
  const [mantissa, exponent] = value.toExponential(digits).split('e') as [string, string];
  const sign = mantissa.startsWith('-') ? '-' : '+';
  const expSign = exponent.startsWith('-') ? '-' : '+';
  const expDigits = exponent.replace(/^[+-]/, '').padStart(2, '0');
  return `${sign}${mantissa.replace(/^-/, '')}E${expSign}${expDigits}`;
}

/** A decimal number for a request: finite, no exponent, at most `decimals` decimals, no `-0`. */
export function formatDecimal(value: number, decimals = 3): string | ScpiError {
  if (!Number.isFinite(value)) return new ScpiError(SCPI.dataTypeError, `${String(value)} is not a finite number`);
  let text = value.toFixed(decimals);
  if (text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
  return text === '-0' ? '0' : text;
}

/** What a numeric parameter accepts. */
export interface NumericSpec {
  min: number;
  max: number;
  /** Value of `DEF`; without it `DEF` is refused. */
  default?: number;
  /** Unit suffixes and their factor to the base unit, upper case: `{ V: 1, MV: 1e-3 }`. */
  units?: Readonly<Record<string, number>>;
  integer?: boolean;
  /** Take the number even when it is outside [min, max] (instruments that clip do so themselves). */
  clip?: boolean;
}

/**
 * A numeric parameter: `2E-9`, `20 mV`, `MIN`, `MAXimum`, `DEF`. Errors are the ones an SCPI
 * instrument queues: -109 missing, -104 not a number, -131 unknown unit, -222 out of range.
 */
export function parseNumericParam(text: string, spec: NumericSpec): number | ScpiError {
  const t = text.trim();
  if (t === '') return new ScpiError(SCPI.missingParameter);
  if (keywordMatches('MINimum', t)) return spec.min;
  if (keywordMatches('MAXimum', t)) return spec.max;
  if (keywordMatches('DEFault', t)) return spec.default ?? new ScpiError(SCPI.illegalParameterValue, 'Illegal parameter value; DEF is not defined here');
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z%]*)$/.exec(t);
  if (!m) return new ScpiError(SCPI.dataTypeError);
  let value = Number(m[1]);
  const unit = m[2]!.toUpperCase();
  if (unit !== '') {
    const factor = spec.units?.[unit];
    if (factor === undefined) return new ScpiError(spec.units ? SCPI.invalidSuffix : SCPI.suffixNotAllowed);
    value *= factor;
  }
  if (!Number.isFinite(value)) return new ScpiError(SCPI.numericDataError);
  if (spec.integer && !Number.isInteger(value)) value = Math.round(value);
  if (!spec.clip && (value < spec.min || value > spec.max)) return new ScpiError(SCPI.dataOutOfRange);
  return spec.clip ? Math.min(spec.max, Math.max(spec.min, value)) : value;
}

// ---------------------------------------------------------------- booleans and words

/** `ON`/`OFF` only (some instruments, e.g. the Cryo-con, take no digits). */
export function parseOnOff(field: string): boolean | undefined {
  const text = field.trim().toUpperCase();
  if (text === 'ON') return true;
  if (text === 'OFF') return false;
  return undefined;
}

/** An SCPI boolean parameter: `ON`, `OFF`, `1`, `0` (any other number: non-zero is true). */
export function parseBoolean(field: string): boolean | ScpiError {
  const text = field.trim();
  if (text === '') return new ScpiError(SCPI.missingParameter);
  const word = parseOnOff(text);
  if (word !== undefined) return word;
  const n = parseNumber(text);
  if (n === undefined) return new ScpiError(SCPI.dataTypeError);
  return Math.round(n) !== 0;
}

/** A boolean reply: `1`/`0` (SCPI) or `ON`/`OFF`. */
export function parseBooleanReply(field: string): boolean | undefined {
  const v = parseBoolean(field);
  return typeof v === 'boolean' ? v : undefined;
}

/** A boolean as SCPI answers it (`1`/`0`), or as words. */
export function formatBoolean(value: boolean, style: 'digit' | 'word' = 'digit'): string {
  if (style === 'word') return value ? 'ON' : 'OFF';
  return value ? '1' : '0';
}

/**
 * A character parameter from a set of keywords written the manual's way (`SINusoid`, `SQUare`):
 * returns the keyword as declared, -224 for anything else.
 */
export function parseEnumParam<T extends string>(field: string, allowed: readonly T[], mode: 'strict' | 'prefix' = 'strict'): T | ScpiError {
  const text = field.trim();
  if (text === '') return new ScpiError(SCPI.missingParameter);
  return allowed.find((a) => keywordMatches(a, text, mode)) ?? new ScpiError(SCPI.illegalParameterValue);
}

// ---------------------------------------------------------------- strings

/** A double-quoted string (`"Cold stage"`), SCPI's doubled quotes undone; unquoted text is taken trimmed. */
export function parseQuoted(field: string): string {
  const text = field.trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) return text.slice(1, -1).split('""').join('"');
  return text;
}

/** Whether text is one double-quoted string parameter. */
export function isQuoted(field: string): boolean {
  return /^\s*"(?:[^"]|"")*"\s*$/.test(field);
}

/** A string parameter, quoted the SCPI way (inner `"` doubled). */
export function quoteString(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}
