/**
 * Reading a labwire line into a Command (PROTOCOL.md "Tokens").
 *
 * The quoting rules are those of Python's `shlex.split` in POSIX mode, which is what CCDLab's
 * `command.py` uses, so anything a CCDLab peer or a person at `nc` types reads the same here:
 * - ASCII whitespace (space, tab, CR, LF, VT, FF) separates tokens; `#` is an ordinary character.
 * - '...' groups text literally.
 * - "..." groups text; inside it a backslash escapes only `"` and `\` and is kept before any other
 *   character (`"C:\data"` stays `C:\data`, as in shlex).
 * - Outside quotes a backslash takes the next character literally.
 * - Adjacent pieces concatenate: `'it''s'` is `its`, `k="x y"` is `k=x y`.
 *
 * One extension, because a value may hold a newline, CR or NUL and no line may (they end it):
 * `$'...'` is ANSI-C quoting as in bash. Inside it `\n`, `\r`, `\t`, `\xHH`, `\\`, `\'` and `\"`
 * are escapes; a backslash before anything else is kept. The formatter writes control characters
 * only this way. Choosing `$'...'` rather than giving `\n` a meaning inside "..." keeps typed
 * Windows paths such as `"C:\new\run.fits"` reading as shlex reads them. CCDLab's shlex reads
 * `$'a'` as `$a`; no CCDLab peer sends `$'`, and a CCDLab peer could not carry such values anyway.
 */
import { LabwireError, type Command } from './types.js';

/** One token with where it sits in the line. */
export interface Token {
  /** The token with quotes and escapes removed. */
  text: string;
  /** Index in `text` of the first `=` that was neither quoted nor escaped; -1 if none. */
  eq: number;
  /** Offsets of the token's raw text in the line (start inclusive, end exclusive). */
  start: number;
  end: number;
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\v' || c === '\f';
}

const HEX2 = /^[0-9a-fA-F]{2}$/;
const LEADING_SPACE = /^[ \t\r\n\v\f]+/;

function fail(message: string): never {
  throw new LabwireError('ProtocolError', message);
}

/**
 * Splits a line into tokens, at most `limit` of them (the rest of the line is then not examined).
 * Throws LabwireError('ProtocolError') on an unbalanced quote or a trailing lone backslash: such a
 * line has no safe reading.
 */
export function tokenize(line: string, limit = Infinity): Token[] {
  const tokens: Token[] = [];
  const n = line.length;
  let i = 0;
  while (tokens.length < limit) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n) return tokens;
    const start = i;
    let text = '';
    let eq = -1;
    while (i < n) {
      const c = line[i] as string;
      if (isSpace(c)) break;
      if (c === "'") {
        const close = line.indexOf("'", i + 1);
        if (close < 0) fail(`unbalanced single quote at column ${i + 1}`);
        text += line.slice(i + 1, close);
        i = close + 1;
      } else if (c === '"') {
        const open = i;
        i++;
        let closed = false;
        while (i < n) {
          const d = line[i] as string;
          if (d === '"') {
            closed = true;
            i++;
            break;
          }
          const e = line[i + 1];
          if (d === '\\' && (e === '"' || e === '\\')) {
            text += e;
            i += 2;
          } else {
            text += d;
            i++;
          }
        }
        if (!closed) fail(`unbalanced double quote at column ${open + 1}`);
      } else if (c === '$' && line[i + 1] === "'") {
        const open = i;
        i += 2;
        let closed = false;
        while (i < n) {
          const d = line[i] as string;
          if (d === "'") {
            closed = true;
            i++;
            break;
          }
          if (d !== '\\') {
            text += d;
            i++;
            continue;
          }
          const e = line[i + 1];
          if (e === undefined) break;
          if (e === 'n') text += '\n';
          else if (e === 'r') text += '\r';
          else if (e === 't') text += '\t';
          else if (e === '\\' || e === "'" || e === '"') text += e;
          else if (e === 'x' && HEX2.test(line.slice(i + 2, i + 4))) {
            text += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
            i += 2;
          } else text += d + e;
          i += 2;
        }
        if (!closed) fail(`unbalanced $' quote at column ${open + 1}`);
      } else if (c === '\\') {
        if (i + 1 >= n) fail('line ends with a lone backslash');
        text += line[i + 1];
        i += 2;
      } else {
        if (c === '=' && eq < 0) eq = text.length;
        text += c;
        i++;
      }
    }
    tokens.push({ text, eq, start, end: i });
  }
  return tokens;
}

/**
 * Parses one line into a Command.
 *
 * A token is a keyword argument when it holds an unquoted `=` with a non-empty key before the first
 * one; the value is the rest and may be empty or hold more `=`. A repeated key: the last wins. The
 * first other token is the name, later ones are positional arguments.
 *
 * Two deliberate differences from CCDLab, which classifies after unquoting: a quoted `=` ("k=v",
 * k\=v) does not make a keyword, so any string can be sent as a positional argument; and
 * `k=v name` has the name `name`, where CCDLab gives no name and the positional `name`.
 */
export function parseLine(line: string): Command {
  const kwargs: Record<string, string> = Object.create(null) as Record<string, string>;
  const args: string[] = [];
  let name: string | null = null;
  for (const tok of tokenize(line)) {
    if (tok.eq > 0) {
      kwargs[tok.text.slice(0, tok.eq)] = tok.text.slice(tok.eq + 1);
    } else if (name === null) {
      name = tok.text;
    } else {
      args.push(tok.text);
    }
  }
  return { name, args, kwargs };
}

/**
 * The raw rest of a line after its first `skip` tokens, quotes and escapes kept, leading
 * whitespace removed: the JSON of `status_json {...}` and `describe {...}`, or the line a monitor
 * forwards with `send <client> <line ...>`. Returns '' when the line has no more tokens.
 */
export function lineBody(line: string, skip = 1): string {
  if (skip <= 0) return line.replace(LEADING_SPACE, '');
  const last = tokenize(line, skip)[skip - 1];
  if (last === undefined) return '';
  return line.slice(last.end).replace(LEADING_SPACE, '');
}

