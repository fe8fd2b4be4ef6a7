/**
 * Keithley 487 picoammeter / voltage source: the DDC (device-dependent command) language, pure.
 * A command is a letter and a number (`R3`, `C1`, `V10.5,0,1`); commands accumulate until `X`
 * executes them. `U` commands make the next read return a status string instead of a reading.
 *
 * Reply layouts (the B0 reading, the U0 status word, the U8 source value) follow what CCDLab's
 * keithley487.py reads at fixed offsets; they are not verified against a 487 manual, so the
 * simulator produces exactly these and the driver parses exactly these.
 */

/** Current ranges by DDC number (R1…R7), full scale in amperes. R0 is autorange. */
export const CURRENT_RANGES = [2e-9, 2e-8, 2e-7, 2e-6, 2e-5, 2e-4, 2e-3] as const;
export const RANGE_NAMES = ['auto', '2nA', '20nA', '200nA', '2uA', '20uA', '200uA', '2mA'] as const;
export type RangeName = (typeof RANGE_NAMES)[number];

/** Voltage source ranges (Vn,r,l: r = 0 or 1) with the largest magnitude each accepts, volts. */
export const SOURCE_RANGES = { '50V': { code: 0, maxVolts: 50.5 }, '500V': { code: 1, maxVolts: 505 } } as const;
export type SourceRange = keyof typeof SOURCE_RANGES;
export const SOURCE_RANGE_NAMES = Object.keys(SOURCE_RANGES) as [SourceRange, ...SourceRange[]];

/** Current limits (Vn,r,l: l = 0 or 1), amperes. */
export const CURRENT_LIMITS = { '25uA': { code: 0, amps: 25e-6 }, '2.5mA': { code: 1, amps: 2.5e-3 } } as const;
export type CurrentLimit = keyof typeof CURRENT_LIMITS;
export const CURRENT_LIMIT_NAMES = Object.keys(CURRENT_LIMITS) as [CurrentLimit, ...CurrentLimit[]];

/** A reading at or above this is the instrument's overflow value. */
export const OVERFLOW_READING = 9.9e37;

export function sourceRangeOf(code: number): SourceRange | undefined {
  return SOURCE_RANGE_NAMES.find((n) => SOURCE_RANGES[n].code === code);
}

export function currentLimitOf(code: number): CurrentLimit | undefined {
  return CURRENT_LIMIT_NAMES.find((n) => CURRENT_LIMITS[n].code === code);
}

/**
 * Why a source voltage cannot be programmed on a range, in words a person can act on; undefined
 * when it can. Checked before anything is sent, so the instrument never sees a value it refuses.
 */
export function sourceVoltageProblem(volts: number, range: SourceRange): string | undefined {
  if (!Number.isFinite(volts)) return `source voltage must be a number of volts, not ${volts}`;
  const max = SOURCE_RANGES[range].maxVolts;
  if (Math.abs(volts) <= max) return undefined;
  const side = volts > 0 ? 'above' : 'below';
  const limit = volts > 0 ? max : -max;
  const hint = range === '50V' && Math.abs(volts) <= SOURCE_RANGES['500V'].maxVolts ? '; select the 500V source range first' : '';
  return `source voltage ${volts} V is ${side} the 487's ${range.replace('V', ' V')} range limit of ${limit} V${hint}`;
}

/** DDC numbers: plain decimal, at most 4 decimals (the 50 V range resolves 1 mV), no exponent. */
export function formatVolts(volts: number): string {
  const s = (Math.round(volts * 10_000) / 10_000).toFixed(4).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

/** Commands the driver sends; each is one message ending with the `X` that executes it. */
export const ddc = {
  reading: 'B0X',
  status: 'U0X',
  errors: 'U1X',
  model: 'U2X',
  sourceValue: 'U8X',
  /** EOI on, bus hold-off on, CR LF terminator: replies the adapter's `++read eoi` can end. */
  setup: 'K0Y0X',
  zeroCheck: (on: boolean): string => `C${on ? 1 : 0}X`,
  zeroCorrect: 'C2X',
  range: (range: RangeName): string => `R${RANGE_NAMES.indexOf(range)}X`,
  operate: (on: boolean): string => `O${on ? 1 : 0}X`,
  source: (volts: number, range: SourceRange, limit: CurrentLimit): string =>
    `V${formatVolts(volts)},${SOURCE_RANGES[range].code},${CURRENT_LIMITS[limit].code}X`,
} as const;

export interface Reading {
  /** Amperes; null on overflow. */
  amps: number | null;
  overflow: boolean;
  /** The reading was taken with zero check on (the input is shorted). */
  zeroCheck: boolean;
}

/** Prefix of a reading: state letter (N normal, O overflow, Z zero check), then `DCA`. */
const READING = /^([NOZ])DCA([+-]\d+(?:\.\d*)?(?:E[+-]?\d+)?)$/;

/** `NDCA-1.2345E-09` → a reading; undefined when the reply is not one. */
export function parseReading(reply: string): Reading | undefined {
  const m = READING.exec(reply.trim());
  if (!m) return undefined;
  const value = Number(m[2]);
  if (!Number.isFinite(value)) return undefined;
  const overflow = m[1] === 'O' || Math.abs(value) >= OVERFLOW_READING;
  return { amps: overflow ? null : value, overflow, zeroCheck: m[1] === 'Z' };
}

export function formatReading(reading: { amps: number; overflow: boolean; zeroCheck: boolean }): string {
  const letter = reading.overflow ? 'O' : reading.zeroCheck ? 'Z' : 'N';
  const value = reading.overflow ? OVERFLOW_READING : reading.amps;
  return `${letter}DCA${formatExp(value)}`;
}

/** `+1.2345E-09`: sign, five significant digits, two-digit exponent. */
export function formatExp(value: number): string {
  const [mantissa, exp] = value.toExponential(4).toUpperCase().split('E') as [string, string];
  const sign = mantissa.startsWith('-') ? '-' : '+';
  const e = Number(exp);
  return `${sign}${mantissa.replace('-', '')}E${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

const SOURCE_VALUE = /^VS=([+-]\d+(?:\.\d*)?(?:E[+-]?\d+)?)$/;

/** `VS=+1.0000E+01` (U8) → volts. */
export function parseSourceValue(reply: string): number | undefined {
  const m = SOURCE_VALUE.exec(reply.trim());
  return m ? Number(m[1]) : undefined;
}

export function formatSourceValue(volts: number): string {
  return `VS=${formatExp(volts)}`;
}

/** The settings the U0 status word carries. */
export interface StatusWord {
  zeroCheck: boolean;
  /** C2 has been executed since the last zero check on. */
  zeroCorrected: boolean;
  operate: boolean;
  autorange: boolean;
  /** 1…7, the fixed range in use (with autorange: the range autorange chose). */
  rangeCode: number;
  sourceRange: SourceRange;
  currentLimit: CurrentLimit;
  /** The source is limiting current (compliance). */
  inLimit: boolean;
}

/**
 * The U0 word is fixed-width so CCDLab's offsets hold: `487` at 0, `C<zc>` at 7–8, `O<op>` at
 * 28–29, `R<auto><range>` at 32–34, `V<range><limit>` at 39–41. The other fields are fillers in
 * the positions of settings labwire does not use, zero-padded.
 */
export function formatStatusWord(s: StatusWord): string {
  const word =
    '487' + 'A0' + 'B0' + `C${s.zeroCheck ? 1 : 0}` + 'F0' + 'G0' + 'J0' + 'K0' + 'M00' + 'N0' + 'P0' + 'Q0' +
    `T${s.zeroCorrected ? 1 : 0}` + `O${s.operate ? 1 : 0}` + `S${s.inLimit ? 1 : 0}` +
    `R${s.autorange ? 1 : 0}${s.rangeCode}` + 'W0' + 'Y0' +
    `V${SOURCE_RANGES[s.sourceRange].code}${CURRENT_LIMITS[s.currentLimit].code}`;
  return word;
}

export const STATUS_WORD_LENGTH = 42;

export function parseStatusWord(reply: string): StatusWord | undefined {
  const w = reply.trim();
  if (w.length !== STATUS_WORD_LENGTH || !w.startsWith('487')) return undefined;
  const at = (i: number, letter: string): string | undefined => (w[i] === letter ? w[i + 1] : undefined);
  const flag = (i: number, letter: string): boolean | undefined => {
    const d = at(i, letter);
    return d === '0' ? false : d === '1' ? true : undefined;
  };
  const zeroCheck = flag(7, 'C');
  const zeroCorrected = flag(26, 'T');
  const operate = flag(28, 'O');
  const inLimit = flag(30, 'S');
  const autorange = flag(32, 'R');
  const rangeCode = Number(w[34]);
  const sourceRange = w[39] === 'V' ? sourceRangeOf(Number(w[40])) : undefined;
  const currentLimit = currentLimitOf(Number(w[41]));
  if (
    zeroCheck === undefined || zeroCorrected === undefined || operate === undefined || inLimit === undefined ||
    autorange === undefined || !(rangeCode >= 1 && rangeCode <= 7) || !sourceRange || !currentLimit
  ) {
    return undefined;
  }
  return { zeroCheck, zeroCorrected, operate, autorange, rangeCode, sourceRange, currentLimit, inLimit };
}

/** DDC error conditions in the U1 word, in order after the `487` prefix; reading U1 clears them. */
export const ERROR_FLAGS = ['IDDC', 'IDDCO', 'interlock', 'sourceConflict', 'calibration', 'trigger'] as const;
export type ErrorFlag = (typeof ERROR_FLAGS)[number];

export const ERROR_TEXT: Record<ErrorFlag, string> = {
  IDDC: 'invalid device-dependent command',
  IDDCO: 'invalid device-dependent command option',
  interlock: 'voltage source interlock open',
  sourceConflict: 'voltage source value conflicts with its range',
  calibration: 'calibration error',
  trigger: 'trigger overrun',
};

export function formatErrorWord(flags: ReadonlySet<ErrorFlag>): string {
  return '487' + ERROR_FLAGS.map((f) => (flags.has(f) ? '1' : '0')).join('');
}

export function parseErrorWord(reply: string): ErrorFlag[] | undefined {
  const m = /^487([01]{6})$/.exec(reply.trim());
  if (!m) return undefined;
  return ERROR_FLAGS.filter((_, i) => m[1]![i] === '1');
}

/** `487A05` (U2): model and firmware revision. */
export function parseModel(reply: string): { model: string; firmware: string } | undefined {
  const m = /^(487)([A-Z]\d{2})$/.exec(reply.trim());
  return m ? { model: m[1]!, firmware: m[2]! } : undefined;
}

/** One parsed DDC command: its letter and the raw argument text (`V` takes `n,r,l`). */
export interface DdcCommand {
  letter: string;
  args: string;
}

/**
 * Cuts a DDC message into commands and `X` executions. Spaces are ignored (DDC allows them);
 * a letter without a number counts as an invalid command.
 */
export function tokenizeDdc(message: string): Array<DdcCommand | 'X'> {
  const out: Array<DdcCommand | 'X'> = [];
  const text = message.replace(/[\s]+/g, '').toUpperCase();
  const re = /([A-Z])([^A-Z]*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    if (m[1] === 'X' && m[2] === '') out.push('X');
    else if (m[1] === 'X') {
      out.push('X');
      out.push({ letter: '?', args: m[2]! });
    } else out.push({ letter: m[1]!, args: m[2]! });
  }
  return out;
}
