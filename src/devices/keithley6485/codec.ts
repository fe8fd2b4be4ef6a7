/**
 * Keithley 6485 picoammeter (SCPI): the requests the driver sends and the replies it accepts, pure.
 * Several queries of one message are answered in one line joined by `;`, so the driver reads all
 * settings in one bus transaction and confirms every write with a read-back in the same message.
 */
import { parseErrorReply } from '../kits/scpi/index.js';

/** Current ranges, full scale in amperes (2 nA … 20 mA). */
export const CURRENT_RANGES = [2e-9, 2e-8, 2e-7, 2e-6, 2e-5, 2e-4, 2e-3, 2e-2] as const;
export const RANGE_NAMES = ['auto', '2nA', '20nA', '200nA', '2uA', '20uA', '200uA', '2mA', '20mA'] as const;
export type RangeName = (typeof RANGE_NAMES)[number];

/** Readings at or above this are the overflow value (+9.9E37); +9.91E37 is NAN. */
export const OVERFLOW = 9.9e37;

/** NPLC bounds: 0.01 to 6 power-line cycles at 60 Hz, 5 at 50 Hz. */
export const NPLC_MIN = 0.01;
export function nplcMax(lineHz: 50 | 60): number {
  return lineHz === 50 ? 5 : 6;
}

/** The front panel's rate keys as NPLC (slow is 6 at 60 Hz, 5 at 50 Hz); anything else is `custom`. */
export const RATES = ['fast', 'medium', 'slow', 'custom'] as const;
export type Rate = (typeof RATES)[number];

export function rateNplc(rate: Exclude<Rate, 'custom'>, lineHz: 50 | 60): number {
  return rate === 'fast' ? 0.1 : rate === 'medium' ? 1 : nplcMax(lineHz);
}

export function rateOf(nplc: number, lineHz: 50 | 60): Rate {
  const named = (['fast', 'medium', 'slow'] as const).find((r) => Math.abs(rateNplc(r, lineHz) - nplc) < 1e-9);
  return named ?? 'custom';
}

export function rangeNameOf(amps: number): RangeName | undefined {
  const i = CURRENT_RANGES.findIndex((r) => Math.abs(r - amps) <= r * 1e-6);
  return i < 0 ? undefined : RANGE_NAMES[i + 1];
}

export function rangeAmpsOf(name: Exclude<RangeName, 'auto'>): number {
  return CURRENT_RANGES[RANGE_NAMES.indexOf(name) - 1]!;
}

export const scpi = {
  identify: '*IDN?',
  read: 'READ?',
  settings: ':CURR:RANG?;:CURR:RANG:AUTO?;:SYST:ZCH?;:SYST:ZCOR?;:CURR:NPLC?;:SYST:ERR:COUN?',
  nextError: ':SYST:ERR?',
  autorange: ':CURR:RANG:AUTO ON;:CURR:RANG?;:CURR:RANG:AUTO?',
  range: (amps: number): string => `:CURR:RANG ${formatNumber(amps)};:CURR:RANG?;:CURR:RANG:AUTO?`,
  zeroCheck: (on: boolean): string => `:SYST:ZCH ${on ? 'ON' : 'OFF'};:SYST:ZCH?`,
  zeroCorrect: (on: boolean): string => `:SYST:ZCOR ${on ? 'ON' : 'OFF'};:SYST:ZCOR?`,
  /** Acquire the offset with the input shorted and subtract it from then on. */
  acquireZero: ':SYST:ZCH ON;:SYST:ZCOR:ACQ;:SYST:ZCOR ON;:SYST:ZCOR?',
  nplc: (n: number): string => `:CURR:NPLC ${formatNumber(n)};:CURR:NPLC?`,
} as const;

/** Shortest exact text of a number for a SCPI parameter (`2e-9` → `2E-9`). */
export function formatNumber(n: number): string {
  return String(n).toUpperCase().replace('E+', 'E');
}

export interface Identity {
  model: string;
  serial: string;
  firmware: string;
}

/** `KEITHLEY INSTRUMENTS INC.,MODEL 6485,1234567,B03 ...` → serial and firmware. */
export function parseIdentity(reply: string): Identity | undefined {
  const m = /^KEITHLEY INSTRUMENTS INC\.,MODEL (6485),([^,;]*),([^,;]*)$/i.exec(reply.trim());
  return m ? { model: m[1]!, serial: m[2]!.trim(), firmware: m[3]!.trim() } : undefined;
}

export interface Reading {
  /** Amperes; null on overflow or NAN. */
  amps: number | null;
  overflow: boolean;
  /** Seconds since power-on, wraps after 99 999.99 s. */
  timestamp: number;
  status: number;
}

const NUMBER = '[+-]?\\d+(?:\\.\\d*)?(?:E[+-]?\\d+)?';
const READING = new RegExp(`^(${NUMBER})A,(${NUMBER}),(${NUMBER})$`, 'i');

/** `+1.040564E-06A,+2.236299E+02,+1.380000E+02` (reading with unit, timestamp, status). */
export function parseReading(reply: string): Reading | undefined {
  const m = READING.exec(reply.trim());
  if (!m) return undefined;
  const value = Number(m[1]);
  const overflow = Math.abs(value) >= OVERFLOW;
  return { amps: overflow ? null : value, overflow, timestamp: Number(m[2]), status: Number(m[3]) };
}

/** Keithley's signed NR3 for readings: `+1.040564E-06`. */
export function formatSigned(value: number): string {
  const [mantissa, exp] = value.toExponential(6).toUpperCase().split('E') as [string, string];
  const e = Number(exp);
  const sign = mantissa.startsWith('-') ? '-' : '+';
  return `${sign}${mantissa.replace('-', '')}E${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

export function formatReading(r: { amps: number; timestamp: number; status: number }): string {
  return `${formatSigned(r.amps)}A,${formatSigned(r.timestamp)},${formatSigned(r.status)}`;
}

function num(text: string | undefined): number | undefined {
  return text !== undefined && new RegExp(`^${NUMBER}$`, 'i').test(text.trim()) ? Number(text) : undefined;
}

function flag(text: string | undefined): boolean | undefined {
  const t = text?.trim();
  return t === '1' ? true : t === '0' ? false : undefined;
}

export interface Settings {
  rangeAmps: number;
  autorange: boolean;
  zeroCheck: boolean;
  zeroCorrect: boolean;
  nplc: number;
  errorCount: number;
}

/** The reply to `scpi.settings`: six fields joined by `;`. */
export function parseSettings(reply: string): Settings | undefined {
  const f = reply.trim().split(';');
  if (f.length !== 6) return undefined;
  const rangeAmps = num(f[0]);
  const autorange = flag(f[1]);
  const zeroCheck = flag(f[2]);
  const zeroCorrect = flag(f[3]);
  const nplc = num(f[4]);
  const errorCount = num(f[5]);
  if (rangeAmps === undefined || rangeNameOf(rangeAmps) === undefined || autorange === undefined || zeroCheck === undefined ||
    zeroCorrect === undefined || nplc === undefined || errorCount === undefined || !Number.isInteger(errorCount)) {
    return undefined;
  }
  return { rangeAmps, autorange, zeroCheck, zeroCorrect, nplc, errorCount };
}

/** `2.000000E-09;0` → range and autorange (the read-back of a range write). */
export function parseRangeReadback(reply: string): { rangeAmps: number; autorange: boolean } | undefined {
  const f = reply.trim().split(';');
  const rangeAmps = num(f[0]);
  const autorange = flag(f[1]);
  if (f.length !== 2 || rangeAmps === undefined || rangeNameOf(rangeAmps) === undefined || autorange === undefined) return undefined;
  return { rangeAmps, autorange };
}

export function parseFlag(reply: string): boolean | undefined {
  return flag(reply);
}

export function parseNumber(reply: string): number | undefined {
  return num(reply);
}

/** A `SYST:ERR?` answer: code and text; code 0 when the queue is empty. */
export function parseError(reply: string): { code: number; text: string } | undefined {
  const e = parseErrorReply(reply);
  return e ? { code: e.code, text: e.message } : undefined;
}
