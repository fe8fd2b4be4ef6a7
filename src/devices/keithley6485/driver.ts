/**
 * Typed API for a Keithley 6485 over an Exchange whose link reaches the GPIB bus. Every write goes
 * out with its read-back query in the same message, so a set is confirmed (or shown refused) by
 * one transaction that no other request can come between.
 */
import type { ExchangeLike, ExchangeOptions, ReplySplitter } from '../../links/types.js';
import { gpibInstrumentExchange, gpibMessage, gpibReplySplitter } from '../kits/gpib/instrument.js';
import { LabwireError } from '../../wire/types.js';
import {
  parseError,
  parseFlag,
  parseIdentity,
  parseNumber,
  parseRangeReadback,
  parseReading,
  parseSettings,
  rangeAmpsOf,
  rangeNameOf,
  scpi,
  type Identity,
  type RangeName,
  type Reading,
  type Settings,
} from './codec.js';

export const encodeRequest = gpibMessage;

// A READ? at 6 NPLC with autorange takes a few hundred ms on the instrument: the bus default of 2 s holds.
export const keithley6485ExchangeOptions: ExchangeOptions = gpibInstrumentExchange({
  request: encodeRequest(scpi.identify),
  isAnswer: (reply) => parseIdentity(reply.toString('latin1')) !== undefined,
});

export function keithley6485Splitter(): ReplySplitter {
  return gpibReplySplitter(1024);
}

export class Keithley6485Driver {
  /** `lineHz`: the mains frequency, which sets what `slow` means. */
  constructor(private readonly exchange: ExchangeLike, readonly lineHz: 50 | 60 = 60) {}

  private async query<T>(command: string, what: string, parse: (s: string) => T | undefined): Promise<T> {
    const reply = await this.exchange.request(encodeRequest(command), {
      validate: (r) => parse(r.toString('latin1')) !== undefined,
    });
    const value = reply === undefined ? undefined : parse(reply.toString('latin1'));
    if (value === undefined) throw new LabwireError('CommunicationFailed', `the 6485 sent no valid ${what}`);
    return value;
  }

  identify(): Promise<Identity> {
    return this.query(scpi.identify, 'identity', parseIdentity);
  }

  /** Triggers one reading and returns it (READ?). */
  read(): Promise<Reading> {
    return this.query(scpi.read, 'reading', parseReading);
  }

  settings(): Promise<Settings> {
    return this.query(scpi.settings, 'settings', parseSettings);
  }

  /** The oldest error in the instrument's queue (and removes it); code 0 when empty. */
  nextError(): Promise<{ code: number; text: string }> {
    return this.query(scpi.nextError, 'error queue entry', parseError);
  }

  /** Autorange, or the fixed range that holds `range`; returns the range now in use. */
  async setRange(range: RangeName): Promise<RangeName> {
    const command = range === 'auto' ? scpi.autorange : scpi.range(rangeAmpsOf(range));
    const r = await this.query(command, 'range read-back', parseRangeReadback);
    const applied: RangeName = r.autorange ? 'auto' : rangeNameOf(r.rangeAmps)!;
    if (applied !== range) throw new LabwireError('HardwareError', `the 6485 kept range ${applied} instead of ${range}`);
    return applied;
  }

  async setZeroCheck(on: boolean): Promise<boolean> {
    return this.confirmFlag(scpi.zeroCheck(on), on, 'zero check');
  }

  async setZeroCorrect(on: boolean): Promise<boolean> {
    return this.confirmFlag(scpi.zeroCorrect(on), on, 'zero correct');
  }

  /**
   * Acquires the offset with zero check on and turns zero correction on, then restores zero check
   * to what it was: the sequence the 6485 manual gives (and CCDLab's do_zero_check runs).
   */
  async acquireZero(): Promise<Settings> {
    const before = await this.settings();
    if (!(await this.query(scpi.acquireZero, 'zero correct read-back', parseFlag))) {
      throw new LabwireError('HardwareError', 'the 6485 did not turn zero correction on');
    }
    await this.setZeroCheck(before.zeroCheck);
    return this.settings();
  }

  async setNplc(n: number): Promise<number> {
    const applied = await this.query(scpi.nplc(n), 'NPLC read-back', parseNumber);
    if (Math.abs(applied - n) > Math.max(1e-9, n * 1e-6)) throw new LabwireError('HardwareError', `the 6485 kept NPLC ${applied} instead of ${n}`);
    return applied;
  }

  private async confirmFlag(command: string, wanted: boolean, what: string): Promise<boolean> {
    const applied = await this.query(command, `${what} read-back`, parseFlag);
    if (applied !== wanted) throw new LabwireError('HardwareError', `the 6485 kept ${what} ${applied ? 'on' : 'off'}`);
    return applied;
  }
}
