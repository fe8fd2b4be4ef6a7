/**
 * HP / Agilent 33120A function generator: its output limits per shape and load, unit conversions,
 * the requests the driver sends and the replies it accepts, pure. The daemon checks every setting
 * against these limits before sending it, and the simulated instrument refuses by the same rules.
 *
 * Limits from the 33120A User's Guide specifications: sine and square to 15 MHz, triangle and ramp
 * to 100 kHz, arbitrary waveforms to 5 MHz, 100 µHz minimum; 50 mVpp–10 Vpp into 50 Ω and twice
 * that into high impedance; |offset| + Vpp/2 within 5 V (50 Ω) or 10 V (high-Z). The crest factors for Vrms are the waveforms' own (sine 2√2, square 2,
 * triangle and ramp 2√3); noise and arbitrary waveforms are set in Vpp only here.
 */
import { parseErrorReply } from '../kits/scpi/index.js';

export const SHAPES = ['SIN', 'SQU', 'TRI', 'RAMP', 'NOIS', 'DC', 'USER'] as const;
export type Shape = (typeof SHAPES)[number];

export const UNITS = ['VPP', 'VRMS', 'DBM'] as const;
export type Units = (typeof UNITS)[number];

export const LOADS = ['50', 'INF'] as const;
export type Load = (typeof LOADS)[number];

export const USER_WAVEFORMS = ['SINC', 'NEG_RAMP', 'EXP_RISE', 'EXP_FALL', 'CARDIAC', 'VOLATILE'] as const;
export type UserWaveform = (typeof USER_WAVEFORMS)[number];

export const FREQUENCY_MIN = 1e-4;
/** Highest frequency per shape, Hz; noise and DC have no frequency (any value is accepted and kept). */
export const FREQUENCY_MAX: Record<Shape, number> = {
  SIN: 15e6, SQU: 15e6, TRI: 100e3, RAMP: 100e3, USER: 5e6, NOIS: 15e6, DC: 15e6,
};

/** Output range for a load: the smallest and largest Vpp and the largest peak |offset| + Vpp/2. */
export const OUTPUT_RANGE: Record<Load, { minVpp: number; maxVpp: number; maxPeak: number; name: string }> = {
  '50': { minVpp: 0.05, maxVpp: 10, maxPeak: 5, name: '50 Ω' },
  INF: { minVpp: 0.1, maxVpp: 20, maxPeak: 10, name: 'high-Z' },
};

/** Vpp / Vrms per shape; undefined where Vrms is not offered. */
const CREST: Partial<Record<Shape, number>> = { SIN: 2 * Math.SQRT2, SQU: 2, TRI: 2 * Math.sqrt(3), RAMP: 2 * Math.sqrt(3) };

/** The unit word people read in messages. */
export function unitLabel(units: Units): string {
  return units === 'VPP' ? 'Vpp' : units === 'VRMS' ? 'Vrms' : 'dBm';
}

/** Why these units cannot be used with this shape and load; undefined when they can. */
export function unitsProblem(units: Units, shape: Shape, load: Load): string | undefined {
  if (units === 'VPP' || shape === 'DC') return undefined;
  if (CREST[shape] === undefined) return `units ${units} are not defined for the ${shape} shape on the 33120A; use VPP`;
  if (units === 'DBM' && load === 'INF') return 'units DBM need the 50 Ω load setting on the 33120A; set load=50 or use VPP or VRMS';
  return undefined;
}

/** An amplitude in the given units as Vpp; undefined when the units do not apply to the shape. */
export function toVpp(amplitude: number, units: Units, shape: Shape): number | undefined {
  if (units === 'VPP') return amplitude;
  const crest = CREST[shape];
  if (crest === undefined) return undefined;
  const vrms = units === 'VRMS' ? amplitude : Math.sqrt(50 * 1e-3 * 10 ** (amplitude / 10));
  return vrms * crest;
}

export function fromVpp(vpp: number, units: Units, shape: Shape): number | undefined {
  if (units === 'VPP') return vpp;
  const crest = CREST[shape];
  if (crest === undefined) return undefined;
  const vrms = vpp / crest;
  return units === 'VRMS' ? vrms : 10 * Math.log10((vrms * vrms) / 50 / 1e-3);
}

/** Everything that decides whether an output is possible. */
export interface Output {
  shape: Shape;
  frequency: number;
  /** In `units`. */
  amplitude: number;
  offset: number;
  units: Units;
  load: Load;
}

const fmt = (n: number): string => String(Math.round(n * 1e6) / 1e6);

/** Why the instrument cannot produce this output, naming the limit; undefined when it can. */
export function outputProblem(o: Output): string | undefined {
  if (!Number.isFinite(o.frequency) || !Number.isFinite(o.amplitude) || !Number.isFinite(o.offset)) {
    return 'frequency, amplitude and offset must be numbers';
  }
  const range = OUTPUT_RANGE[o.load];
  if (o.shape === 'DC') {
    if (Math.abs(o.offset) > range.maxPeak) {
      return `DC level ${fmt(o.offset)} V is beyond the 33120A's ±${range.maxPeak} V into ${range.name}`;
    }
    return undefined;
  }
  if (o.frequency < FREQUENCY_MIN) return `frequency ${fmt(o.frequency)} Hz is below the 33120A's minimum of ${FREQUENCY_MIN} Hz`;
  const fmax = FREQUENCY_MAX[o.shape];
  if (o.frequency > fmax) return `frequency ${fmt(o.frequency)} Hz is above the 33120A's ${o.shape} limit of ${fmax} Hz`;
  const unitIssue = unitsProblem(o.units, o.shape, o.load);
  if (unitIssue) return unitIssue;
  const vpp = toVpp(o.amplitude, o.units, o.shape)!;
  const shown = `amplitude ${fmt(o.amplitude)} ${unitLabel(o.units)}${o.units === 'VPP' ? '' : ` (${fmt(vpp)} Vpp)`}`;
  if (vpp > range.maxVpp * (1 + 1e-9)) return `${shown} is above the 33120A's limit of ${range.maxVpp} Vpp into ${range.name}`;
  if (vpp < range.minVpp * (1 - 1e-9)) return `${shown} is below the 33120A's minimum of ${range.minVpp} Vpp into ${range.name}`;
  const peak = Math.abs(o.offset) + vpp / 2;
  if (peak > range.maxPeak * (1 + 1e-9)) {
    return `${shown} with offset ${fmt(o.offset)} V peaks at ${fmt(peak)} V, beyond the 33120A's ${range.maxPeak} V into ${range.name}`;
  }
  return undefined;
}

/** Displayed amplitude and offset when the load setting changes: they refer to the load's voltage. */
export function rescaleForLoad(value: number, units: Units, from: Load, to: Load): number {
  if (from === to) return value;
  const factor = to === 'INF' ? 2 : 0.5;
  return units === 'DBM' ? value + 10 * Math.log10(factor * factor) : value * factor;
}

/** `+5.0000000000000E+03`, the 33120A's number format. */
export function formatNumber33120(value: number): string {
  const [mantissa, exp] = value.toExponential(13).toUpperCase().split('E') as [string, string];
  const sign = mantissa.startsWith('-') ? '-' : '+';
  const e = Number(exp);
  return `${sign}${mantissa.replace('-', '')}E${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** A SCPI parameter: the shortest exact text of a number. */
export function param(n: number): string {
  return String(n).toUpperCase().replace('E+', 'E');
}

/** The state the driver reads and every write reads back, in one message. */
export const STATE_QUERY = 'APPL?;:VOLT:UNIT?;:OUTP:LOAD?;:FUNC:USER?';

export const scpi = {
  identify: '*IDN?',
  state: STATE_QUERY,
  nextError: 'SYST:ERR?',
  shape: (s: Shape): string => `FUNC:SHAP ${s};:${STATE_QUERY}`,
  frequency: (hz: number): string => `FREQ ${param(hz)};:${STATE_QUERY}`,
  amplitude: (a: number): string => `VOLT ${param(a)};:${STATE_QUERY}`,
  offset: (v: number): string => `VOLT:OFFS ${param(v)};:${STATE_QUERY}`,
  units: (u: Units): string => `VOLT:UNIT ${u};:${STATE_QUERY}`,
  load: (l: Load): string => `OUTP:LOAD ${l};:${STATE_QUERY}`,
  userWaveform: (w: UserWaveform): string => `FUNC:USER ${w};:${STATE_QUERY}`,
  apply: (s: Shape, hz: number, amplitude: number, offset: number): string =>
    `APPL:${s} ${param(hz)},${param(amplitude)},${param(offset)};:${STATE_QUERY}`,
} as const;

export interface GeneratorState extends Output {
  userWaveform: UserWaveform;
}

const NUM = '[+-]?\\d+(?:\\.\\d*)?(?:E[+-]?\\d+)?';
const APPLY_REPLY = new RegExp(`^"(${SHAPES.join('|')}) (${NUM}),(${NUM}),(${NUM})"$`, 'i');

/** `"SIN +5.0E+03,+3.0E+00,-2.5E+00";VPP;50;SINC` → the state; undefined when any field is off. */
export function parseState(reply: string): GeneratorState | undefined {
  const fields = reply.trim().split(';');
  if (fields.length !== 4) return undefined;
  const m = APPLY_REPLY.exec(fields[0]!);
  const units = UNITS.find((u) => u === fields[1]!.toUpperCase());
  const load = parseLoad(fields[2]!);
  const userWaveform = USER_WAVEFORMS.find((w) => w === fields[3]!.toUpperCase());
  if (!m || !units || !load || !userWaveform) return undefined;
  return {
    shape: m[1]!.toUpperCase() as Shape,
    frequency: Number(m[2]),
    amplitude: Number(m[3]),
    offset: Number(m[4]),
    units,
    load,
    userWaveform,
  };
}

/** `50` or `9.9E+37` (high impedance). */
export function parseLoad(text: string): Load | undefined {
  const n = Number(text.trim());
  if (!/^[+-]?\d/.test(text.trim()) || !Number.isFinite(n)) return undefined;
  if (n >= 9.9e37) return 'INF';
  return n === 50 ? '50' : undefined;
}

export function formatLoad(load: Load): string {
  return load === 'INF' ? '9.9E+37' : '50';
}

/** `HEWLETT-PACKARD,33120A,0,7.0-5.0-1.0`. */
export function parseIdentity(reply: string): { model: string; serial: string; revision: string } | undefined {
  const m = /^HEWLETT-PACKARD,(33120A),([^,;]*),([^,;]*)$/i.exec(reply.trim());
  return m ? { model: m[1]!, serial: m[2]!, revision: m[3]! } : undefined;
}

/** A `SYST:ERR?` answer: code and text; code 0 when the queue is empty. */
export function parseError(reply: string): { code: number; text: string } | undefined {
  const e = parseErrorReply(reply);
  return e ? { code: e.code, text: e.message } : undefined;
}
