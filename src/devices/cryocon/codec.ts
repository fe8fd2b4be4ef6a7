/**
 * Cryo-con Model 24C / Model 32 remote protocol (SCPI-style, LF-terminated ASCII): pure encoding
 * and decoding, no I/O. Shared by the driver (requests, reply parsing) and the simulator (command
 * matching, reply formatting), so the two cannot drift apart.
 *
 * Facts (reference/cryocon.md): keywords have a short form (the capitals of `INPut`) and a long form
 * and are case-insensitive; `;` separates commands, a keyword after `;` stays in the same
 * subsystem, `;:` starts again at the root; the replies of all queries of one line come back on
 * one line joined by `;`; set commands are never answered; `.......` is a reading outside the
 * sensor's calibration curve and `-------` a sensor fault; the setpoint carries a unit suffix
 * (`123.450K`); ranges and loop types are blank-padded (`HI `, `MAN  `); the heater read-back is a
 * right-aligned percentage (`   0%`); a rejected command answers `NACK`. A request line holds at
 * most 255 characters.
 */
import { LabwireError } from '../../wire/types.js';
import { keywordMatches as scpiKeywordMatches } from '../kits/scpi/keywords.js';
import { parseNumber } from '../kits/scpi/codec.js';

export { formatFloat, parseNumber, parseOnOff, parseQuoted, splitOutsideQuotes, splitReply } from '../kits/scpi/codec.js';
export { shortForm } from '../kits/scpi/keywords.js';

export const CHANNELS = ['A', 'B', 'C', 'D'] as const;
export type Channel = (typeof CHANNELS)[number];

export const LOOPS = [1, 2, 3, 4] as const;
export type LoopNumber = (typeof LOOPS)[number];

/** Display units of an input: kelvin, Celsius, Fahrenheit, or the sensor's own (volts or ohms). */
export const DISPLAY_UNITS = ['K', 'C', 'F', 'S'] as const;
export type DisplayUnit = (typeof DISPLAY_UNITS)[number];

/** Control types; SCALE exists on loops 3 and 4 only. */
export const LOOP_TYPES = ['OFF', 'PID', 'MAN', 'TABLE', 'RAMPP', 'RAMPT', 'SCALE'] as const;
export type LoopType = (typeof LOOP_TYPES)[number];

export function loopTypesFor(loop: LoopNumber): readonly LoopType[] {
  return loop >= 3 ? LOOP_TYPES : LOOP_TYPES.filter((t) => t !== 'SCALE');
}

/** Heater ranges per loop of the 24C: loop 1 three ranges, loop 2 two, loops 3/4 are 0–5/0–10 V outputs. */
export const LOOP_RANGES = {
  1: ['HI', 'MID', 'LOW'],
  2: ['HI', 'LOW'],
  3: ['5V', '10V'],
  4: ['5V', '10V'],
} as const satisfies Record<LoopNumber, readonly string[]>;
export type LoopRange = (typeof LOOP_RANGES)[LoopNumber][number];

/** Types in which the loop drives its output towards the setpoint. */
export const CLOSED_LOOP_TYPES: readonly LoopType[] = ['PID', 'TABLE', 'RAMPP', 'RAMPT'];

/** Input alarm status (`INPut x:ALARm?`): two characters on the wire. */
export const ALARM_CODES = { '--': 'none', SF: 'sensor_fault', HI: 'high', LO: 'low' } as const;
export type AlarmState = (typeof ALARM_CODES)[keyof typeof ALARM_CODES];
export const ALARM_STATES: readonly AlarmState[] = ['none', 'high', 'low', 'sensor_fault'];

/** Heater status texts of `LOOP n:ERRor?` and what each means for the daemon. */
export const HEATER_STATUSES = {
  '--Htr OK--': { key: 'ok', severity: 'ok', meaning: 'heater output OK' },
  '-Overtemp-': { key: 'overtemp', severity: 'warn', meaning: 'the heater output stage is over temperature' },
  OTDisconn: { key: 'otdisconn', severity: 'error', meaning: 'the over-temperature protection has disconnected the heater' },
  'Htr-Low-R': { key: 'lowR', severity: 'error', meaning: 'the heater load resistance is too low: the output is disabled' },
  'Fan Fault': { key: 'fanFault', severity: 'warn', meaning: 'the cooling fan has failed' },
} as const;
export type HeaterStatusText = keyof typeof HEATER_STATUSES;
export type HeaterStatusKey = (typeof HEATER_STATUSES)[HeaterStatusText]['key'];
export const HEATER_STATUS_KEYS = Object.values(HEATER_STATUSES).map((s) => s.key) as [HeaterStatusKey, ...HeaterStatusKey[]];

export function heaterStatusText(key: HeaterStatusKey): HeaterStatusText {
  return (Object.keys(HEATER_STATUSES) as HeaterStatusText[]).find((t) => HEATER_STATUSES[t].key === key) ?? '--Htr OK--';
}

/** What a heater status text means; unknown texts are kept and count as a warning. */
export function heaterStatusInfo(text: string): { ok: boolean; severity: 'ok' | 'warn' | 'error'; meaning: string } {
  // ccdlab turned the spaces into dashes (`--Htr-OK--`): compare without either.
  const norm = (t: string): string => t.replace(/[-\s]+/g, ' ').trim().toLowerCase();
  for (const [t, info] of Object.entries(HEATER_STATUSES)) {
    if (norm(t) === norm(text)) return { ok: info.severity === 'ok', severity: info.severity, meaning: info.meaning };
  }
  return { ok: false, severity: 'warn', meaning: 'heater status not in the reference' };
}

/** The two models labwire knows. The M32's layout (2 inputs, 2 loops) is an assumption, see README. */
export const CRYOCON_MODELS = {
  M24C: {
    /** Model field of `*IDN?` (`Cryo-con,24C,204683,1.01A`). */
    idnModels: ['24C'],
    channels: ['A', 'B', 'C', 'D'],
    loops: [1, 2, 3, 4],
    reference: 'Model 24C user guide (reference/cryocon.md)',
  },
  M32: {
    idnModels: ['32', '32B'],
    channels: ['A', 'B'],
    loops: [1, 2],
    reference: 'assumed: two inputs and two loops with the 24C command set',
  },
} as const satisfies Record<string, { idnModels: readonly string[]; channels: readonly Channel[]; loops: readonly LoopNumber[]; reference: string }>;
export type CryoconModelName = keyof typeof CRYOCON_MODELS;
export const MODEL_NAMES = Object.keys(CRYOCON_MODELS) as [CryoconModelName, ...CryoconModelName[]];

/** Longest request line the controller takes, terminator included. */
export const MAX_LINE_CHARS = 255;
/** The literal reply to a rejected command. */
export const NACK = 'NACK';
/** A reading inside the instrument's range but outside the sensor calibration curve. */
export const OUT_OF_CALIBRATION = '.......';
/** A sensor fault: open, shorted or disconnected. */
export const SENSOR_FAULT = '-------';

// ---------------------------------------------------------------- keywords and splitting (the SCPI kit)

/**
 * Whether `word` names the keyword `pattern`, written the manual's way (`INPut`, `SETPt`, `*IDN`,
 * `FWREV`): case-insensitive, at least the short form and at most the long form. The controller
 * also takes forms in between, as the manual's own `TEMPer?` shows (the kit's `prefix` mode).
 */
export function keywordMatches(pattern: string, word: string): boolean {
  return scpiKeywordMatches(pattern, word, 'prefix');
}

// ---------------------------------------------------------------- reply fields

export function isNack(field: string): boolean {
  return field.trim().toUpperCase() === NACK;
}

/** An input reading: a number in display units, or why there is none. */
export type Reading =
  | { kind: 'value'; value: number }
  /** `-------`: open, shorted or disconnected sensor. */
  | { kind: 'fault' }
  /** `.......`: outside the sensor calibration curve. */
  | { kind: 'uncalibrated' }
  /** `N/A`: the setting does not apply. */
  | { kind: 'na' };

export function parseReading(field: string): Reading | undefined {
  const text = field.trim();
  if (text === SENSOR_FAULT) return { kind: 'fault' };
  if (text === OUT_OF_CALIBRATION) return { kind: 'uncalibrated' };
  if (text.toUpperCase() === 'N/A') return { kind: 'na' };
  const value = parseNumber(text);
  return value === undefined ? undefined : { kind: 'value', value };
}

/**
 * A number with an optional unit suffix: `123.450K`, `-196.150 C`, `0.00V`, `20` (the predecessor
 * simulator sent no unit). The suffix is parsed, never cut by a fixed count of characters.
 */
export function parseSuffixed(field: string): { value: number; unit: string } | undefined {
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z%]{0,3})\s*$/.exec(field);
  if (!m) return undefined;
  const value = Number(m[1]);
  if (!Number.isFinite(value)) return undefined;
  return { value, unit: (m[2] ?? '').toUpperCase() };
}

/** Heater read-back, a right-aligned percentage: `   0%`, ` 45%`, `100%`. */
export function parseHeaterPercent(field: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d*)?)\s*%\s*$/.exec(field);
  return m ? Number(m[1]) : undefined;
}

/** A blank-padded enumeration reply (`HI `, `MAN  `) that must be one of `allowed`. */
export function parsePadded<T extends string>(field: string, allowed: readonly T[]): T | undefined {
  const text = field.trim().toUpperCase();
  return allowed.find((a) => a === text);
}

/** A loop source: `A` or, as the hardware may answer, `CHA`. */
export function parseSource(field: string): Channel | undefined {
  const m = /^\s*(?:CH)?([A-D])\s*$/i.exec(field);
  return m ? (m[1]!.toUpperCase() as Channel) : undefined;
}

export function parseAlarm(field: string): AlarmState | undefined {
  const code = field.trim().toUpperCase();
  return (ALARM_CODES as Record<string, AlarmState>)[code];
}

// ---------------------------------------------------------------- reply formatting (the simulator's side)

/** `HI ` / `MAN  `: ranges are padded to 3 characters, loop types to 5. */
export function formatPadded(value: string, width: number): string {
  return value.padEnd(width, ' ');
}

/** `   0%`: a whole percentage right-aligned in 4 characters, then `%`. */
export function formatHeaterPercent(percent: number): string {
  return `${String(Math.round(Math.min(100, Math.max(0, percent)))).padStart(4, ' ')}%`;
}

// ---------------------------------------------------------------- requests

/** A decimal number for a request: finite, no exponent, at most `decimals` decimals, no `-0`. */
export function formatValue(value: number, decimals = 3): string {
  if (!Number.isFinite(value)) throw new LabwireError('WrongType', `${String(value)} is not a finite number`);
  if (Math.abs(value) >= 1e9) throw new LabwireError('RangeError', `${value} is too large to send to a Cryo-con controller`);
  let text = value.toFixed(decimals);
  if (text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
  return text === '-0' ? '0' : text;
}

/** A quoted string parameter: at most 15 printable ASCII characters, no `"` (the manual's rule). */
export function quoteName(name: string, what = 'name'): string {
  if (name.length > 15) throw new LabwireError('RangeError', `${what} "${name}" is longer than the 15 characters a Cryo-con controller stores`);
  if (!/^[\x20-\x7e]*$/.test(name) || name.includes('"')) {
    throw new LabwireError('WrongType', `${what} "${name}" must be printable ASCII without double quotes`);
  }
  return `"${name}"`;
}

/** One command of a grouped line: its subsystem (`INP A`, `LOOP 1`, `SYST`, or '' for the root) and the rest. */
export interface LineItem {
  group: string;
  command: string;
}

/**
 * Joins commands into one line: the first of each run of the same subsystem is absolute
 * (`:INP A:TEMP?`), the rest relative (`;UNIT?`), a new subsystem starts at the root (`;:LOOP 1:…`).
 */
export function joinCommands(items: readonly LineItem[]): string {
  let line = '';
  let previous: string | undefined;
  for (const item of items) {
    if (previous !== undefined && item.group !== '' && item.group === previous) {
      line += `;${item.command}`;
    } else {
      line += `${line === '' ? '' : ';'}:${item.group === '' ? '' : `${item.group}:`}${item.command}`;
    }
    previous = item.group;
  }
  return line;
}

/** Checks a request line: printable ASCII on one line, within the 255-character limit with its LF. */
export function checkRequestLine(line: string): string {
  const text = line.trim();
  if (text === '') throw new LabwireError('WrongType', 'an empty line is not a Cryo-con command');
  if (!/^[\x20-\x7e]+$/.test(text)) {
    throw new LabwireError('WrongType', `Cryo-con commands are printable ASCII on one line; ${JSON.stringify(line)} contains other characters`);
  }
  if (text.length + 1 > MAX_LINE_CHARS) {
    throw new LabwireError('RangeError', `a Cryo-con request line holds at most ${MAX_LINE_CHARS} characters with its LF; this one has ${text.length + 1}`);
  }
  return text;
}

export function encodeRequest(line: string): Buffer {
  return Buffer.from(`${checkRequestLine(line)}\n`, 'latin1');
}

// ---------------------------------------------------------------- units

/** Rounds away binary noise from unit conversions (−196.15 °C is 77 K, not 77.00000000000003). */
export function round6(value: number): number {
  return Number(value.toFixed(6));
}

/** A temperature in display units to kelvin; undefined for sensor units, which have no fixed relation. */
export function toKelvin(value: number, unit: string): number | undefined {
  switch (unit.toUpperCase()) {
    case 'K':
      return round6(value);
    case 'C':
      return round6(value + 273.15);
    case 'F':
      return round6(((value + 459.67) * 5) / 9);
    default:
      return undefined;
  }
}

export function fromKelvin(kelvin: number, unit: string): number | undefined {
  switch (unit.toUpperCase()) {
    case 'K':
      return kelvin;
    case 'C':
      return kelvin - 273.15;
    case 'F':
      return (kelvin * 9) / 5 - 459.67;
    default:
      return undefined;
  }
}

/** A temperature difference (a rate per minute, a slope) in display units to kelvin. */
export function deltaToKelvin(value: number, unit: string): number | undefined {
  switch (unit.toUpperCase()) {
    case 'K':
    case 'C':
      return round6(value);
    case 'F':
      return round6((value * 5) / 9);
    default:
      return undefined;
  }
}

export function deltaFromKelvin(kelvin: number, unit: string): number | undefined {
  switch (unit.toUpperCase()) {
    case 'K':
    case 'C':
      return kelvin;
    case 'F':
      return (kelvin * 9) / 5;
    default:
      return undefined;
  }
}
