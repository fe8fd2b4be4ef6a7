/**
 * The few SCPI rules the simulated 33120A needs (the same file as keithley6485/scpi.ts): headers in long or exact short form
 * (`SYSTem:ZCHeck` = `SYST:ZCH`, never `SYSTe`), optional nodes in brackets, `;` between commands
 * of one message (a leading `:` returns to the root), an error queue with the standard texts.
 *
 * Kept inside the family until the shared SCPI kit (devices/kits/scpi) lands; the matcher is
 * written so that the family's command table moves onto the kit's tree unchanged.
 */

export interface ScpiError {
  code: number;
  text: string;
}

export const SCPI_ERRORS = {
  syntax: { code: -102, text: 'Syntax error' },
  undefinedHeader: { code: -113, text: 'Undefined header' },
  missingParameter: { code: -109, text: 'Missing parameter' },
  illegalValue: { code: -224, text: 'Illegal parameter value' },
  outOfRange: { code: -222, text: 'Data out of range' },
  settingsConflict: { code: -221, text: 'Settings conflict' },
  dataStale: { code: -230, text: 'Data corrupt or stale' },
  queueOverflow: { code: -350, text: 'Queue overflow' },
  interrupted: { code: -410, text: 'Query INTERRUPTED' },
  unterminated: { code: -420, text: 'Query UNTERMINATED' },
} as const satisfies Record<string, ScpiError>;

interface Segment {
  short: string;
  long: string;
  optional: boolean;
}

/** `[:SENSe]:CURRent:RANGe:AUTO` → segments; upper-case letters are the short form. */
export function compileHeader(pattern: string): Segment[] {
  const out: Segment[] = [];
  for (const m of pattern.matchAll(/(\[)?:?([A-Za-z*]+\d?)\]?/g)) {
    const word = m[2]!;
    out.push({ short: word.replace(/[a-z]/g, ''), long: word.toUpperCase(), optional: m[1] === '[' });
  }
  return out;
}

function wordMatches(word: string, seg: Segment): boolean {
  const w = word.toUpperCase();
  return w === seg.short || w === seg.long;
}

function matchFrom(words: string[], wi: number, segs: Segment[], si: number): boolean {
  if (si === segs.length) return wi === words.length;
  const seg = segs[si]!;
  if (wi < words.length && wordMatches(words[wi]!, seg) && matchFrom(words, wi + 1, segs, si + 1)) return true;
  return seg.optional && matchFrom(words, wi, segs, si + 1);
}

export function headerMatches(words: string[], segs: Segment[]): boolean {
  return matchFrom(words, 0, segs, 0);
}

export interface ParsedCommand {
  /** Header words without colons, e.g. ['SYST', 'ZCH']; common commands keep their star: ['*IDN']. */
  words: string[];
  query: boolean;
  /** Comma-separated parameters, trimmed; empty when none. */
  args: string[];
}

/** Splits one message into commands; undefined for a command that is not SCPI at all. */
export function parseMessage(message: string): Array<ParsedCommand | undefined> {
  const out: Array<ParsedCommand | undefined> = [];
  for (const raw of message.split(';')) {
    const text = raw.trim();
    if (text === '') continue;
    const m = /^(:?[*A-Za-z][A-Za-z0-9:*]*)(\?)?(?:\s+(.*))?$/.exec(text);
    if (!m) {
      out.push(undefined);
      continue;
    }
    const words = m[1]!.replace(/^:/, '').split(':');
    if (words.some((w) => w === '')) {
      out.push(undefined);
      continue;
    }
    const args = m[3] === undefined ? [] : m[3].split(',').map((a) => a.trim());
    out.push({ words, query: m[2] === '?', args });
  }
  return out;
}

/** Boolean parameters: ON/OFF/1/0. */
export function parseBool(arg: string | undefined): boolean | undefined {
  const a = arg?.toUpperCase();
  if (a === 'ON' || a === '1') return true;
  if (a === 'OFF' || a === '0') return false;
  return undefined;
}

/** NRf numbers (`2E-9`, `.5`, `+1.0`); undefined for anything else. */
export function parseNrf(arg: string | undefined): number | undefined {
  if (arg === undefined || !/^[+-]?(\d+\.?\d*|\.\d+)(E[+-]?\d+)?$/i.test(arg)) return undefined;
  return Number(arg);
}

/** NR3 as Keithley prints it: `2.000000E-09`. */
export function formatNr3(value: number, digits = 6): string {
  const [mantissa, exp] = value.toExponential(digits).toUpperCase().split('E') as [string, string];
  const e = Number(exp);
  return `${mantissa}E${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** A FIFO of at most `size` errors; the last place reports the overflow. */
export class ErrorQueue {
  private readonly items: ScpiError[] = [];
  constructor(private readonly size = 10) {}

  push(e: ScpiError): void {
    if (this.items.length < this.size - 1) this.items.push(e);
    else if (this.items.length === this.size - 1) this.items.push(SCPI_ERRORS.queueOverflow);
  }

  pop(): ScpiError {
    return this.items.shift() ?? { code: 0, text: 'No error' };
  }

  get count(): number {
    return this.items.length;
  }

  clear(): void {
    this.items.length = 0;
  }
}
