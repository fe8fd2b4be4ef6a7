/**
 * The controller's configuration memory (line number → `KEY=VALUE`, what WCONFIG writes and
 * RCONFIG reads) and what applying it means: the CDS/deinterlace geometry of APPLYALL/APPLYCDS and
 * the parameter table of LOADTIMING/LOADPARAMS. Keys and parameter names match case-insensitively
 * (sdss upper-cases whole lines and runs production controllers).
 */

import { MAX_CONFIG_LINE_CHARS, MAX_CONFIG_LINES, MAX_PARAM_VALUE, parseAcf, parseParameter } from '../codec.js';

/** Bytes of one frame buffer with BIGBUF=0 (3 × 512 MB) and BIGBUF=1 (2 × 768 MB). */
export const BUFFER_BYTES = [512 * 1024 * 1024, 768 * 1024 * 1024] as const;

export class ConfigMemory {
  private readonly lines = new Map<number, string>();

  /** Writes one line; returns an error text (for the log) or undefined. */
  write(index: number, text: string): string | undefined {
    if (!(index >= 0 && index < MAX_CONFIG_LINES)) return `WCONFIG line ${index} outside 0..${MAX_CONFIG_LINES - 1}`;
    if (text.length > MAX_CONFIG_LINE_CHARS) return `WCONFIG line ${index} longer than ${MAX_CONFIG_LINE_CHARS} characters`;
    if (!text.includes('=')) return `WCONFIG line ${index} has no '='`;
    this.lines.set(index, text);
    return undefined;
  }

  /** The text of a line, '' for one never written. */
  read(index: number): string {
    return this.lines.get(index) ?? '';
  }

  clear(): void {
    this.lines.clear();
  }

  get size(): number {
    return this.lines.size;
  }

  /** Loads lines 0, 1, 2 .. (the order an ACF upload writes them). */
  load(lines: readonly string[]): void {
    this.clear();
    lines.slice(0, MAX_CONFIG_LINES).forEach((line, i) => this.lines.set(i, line));
  }

  /** The lines in line order. */
  all(): string[] {
    return [...this.lines.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text);
  }

  /** KEY (upper case) → value; a key written twice keeps the higher line. */
  keys(): Map<string, string> {
    const out = new Map<string, string>();
    for (const text of this.all()) {
      const eq = text.indexOf('=');
      out.set(text.slice(0, eq).trim().toUpperCase(), text.slice(eq + 1));
    }
    return out;
  }
}

/** The CDS/deinterlace settings in force (APPLYALL, APPLYCDS). */
export interface AppliedGeometry {
  linecount: number;
  pixelcount: number;
  /** Non-empty TAPLINEn entries. */
  taps: number;
  /** 0 top, 1 bottom, 2 split. */
  framemode: number;
  /** 0 16-bit, 1 32-bit. */
  sampleMode: 0 | 1;
  bigbuf: 0 | 1;
  width: number;
  height: number;
  /** Bytes of one frame. */
  bytes: number;
}

function intKey(keys: Map<string, string>, key: string, min: number, max: number, fallback?: number): number | string {
  const raw = keys.get(key);
  if (raw === undefined || raw.trim() === '') return fallback ?? `${key} missing`;
  const v = Number(raw.trim());
  if (!Number.isInteger(v) || v < min || v > max) return `${key}=${raw} outside ${min}..${max}`;
  return v;
}

/** The geometry a configuration describes, or the reason it cannot be applied. */
export function appliedGeometry(keys: Map<string, string>): AppliedGeometry | string {
  const linecount = intKey(keys, 'LINECOUNT', 1, 65535);
  const pixelcount = intKey(keys, 'PIXELCOUNT', 1, 65535);
  const tapLines = intKey(keys, 'TAPLINES', 0, 256);
  const framemode = intKey(keys, 'FRAMEMODE', 0, 2, 0);
  const sampleMode = intKey(keys, 'SAMPLEMODE', 0, 1, 0);
  const bigbuf = intKey(keys, 'BIGBUF', 0, 1, 0);
  for (const v of [linecount, pixelcount, tapLines, framemode, sampleMode, bigbuf]) if (typeof v === 'string') return v;
  let taps = 0;
  for (let i = 0; i < (tapLines as number); i++) if ((keys.get(`TAPLINE${i}`) ?? '').trim() !== '') taps++;
  if (taps === 0) return 'no TAPLINEn defines a tap';
  const split = framemode === 2;
  if (split && taps % 2 !== 0) return `FRAMEMODE=2 needs an even number of taps, not ${taps}`;
  const width = (pixelcount as number) * (split ? taps / 2 : taps);
  const height = (linecount as number) * (split ? 2 : 1);
  const bytes = width * height * (sampleMode === 1 ? 4 : 2);
  const room = BUFFER_BYTES[bigbuf as 0 | 1];
  if (bytes > room) return `a ${width} x ${height} frame (${bytes} bytes) does not fit a ${room}-byte buffer`;
  return {
    linecount: linecount as number,
    pixelcount: pixelcount as number,
    taps,
    framemode: framemode as number,
    sampleMode: sampleMode as 0 | 1,
    bigbuf: bigbuf as 0 | 1,
    width,
    height,
    bytes,
  };
}

/** One entry of the parameter table. */
export interface Parameter {
  /** As the ACF spells it. */
  name: string;
  value: number;
}

/** `Name=value` of a PARAMETERn line; undefined for an empty one, a string for a bad one. */
export function parseParameterLine(text: string): Parameter | string | undefined {
  if (text.trim() === '') return undefined;
  const p = parseParameter(text);
  if (!p || p.value > MAX_PARAM_VALUE) return `parameter "${text}" is not Name=value with an integer 0..${MAX_PARAM_VALUE}`;
  return p;
}

/** Every PARAMETERn of the configuration: upper-case name → parameter, in list order. */
export function configParameters(keys: Map<string, string>): Map<string, Parameter> | string {
  const out = new Map<string, Parameter>();
  const declared = keys.get('PARAMETERS');
  const count = declared !== undefined && /^\d+$/.test(declared.trim()) ? Number(declared.trim()) : 0;
  for (let i = 0; i < count; i++) {
    const p = parseParameterLine(keys.get(`PARAMETER${i}`) ?? '');
    if (typeof p === 'string') return p;
    if (p) out.set(p.name.toUpperCase(), p);
  }
  return out;
}

/** The `[CONFIG]` section of an ACF as configuration-memory lines (`KEY=VALUE`, `/` in module keys, unquoted). */
export function acfConfigLines(text: string): string[] {
  return parseAcf(text).map((c) => `${c.key}=${c.value}`);
}
