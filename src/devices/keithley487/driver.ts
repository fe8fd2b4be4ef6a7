/**
 * Typed API for a Keithley 487 over an Exchange whose link reaches the GPIB bus. Every write is
 * followed by a status word read (U0X), so a set is confirmed by the instrument's own settings, and
 * a refused batch (IDDC / IDDCO) shows as the error word, never as silence. Values the 487 would
 * refuse are refused here first, with the limit named.
 */
import type { ExchangeLike, ExchangeOptions, ReplySplitter } from '../../links/types.js';
import { gpibInstrumentExchange, gpibMessage, gpibReplySplitter } from '../kits/gpib/instrument.js';
import { LabwireError } from '../../wire/types.js';
import {
  CURRENT_RANGES,
  ERROR_TEXT,
  RANGE_NAMES,
  ddc,
  parseErrorWord,
  parseModel,
  parseReading,
  parseSourceValue,
  parseStatusWord,
  sourceVoltageProblem,
  type CurrentLimit,
  type ErrorFlag,
  type RangeName,
  type Reading,
  type SourceRange,
  type StatusWord,
} from './codec.js';

/** A DDC message with its LF (stripped by the GPIB link; the adapter ends the message itself). */
export const encodeRequest = gpibMessage;

/**
 * A query through the adapter costs 60–100 ms; 2 s covers a slow bus. U2X is the resync probe: its
 * `487A05` answer has a shape no other reply shares.
 */
export const keithley487ExchangeOptions: ExchangeOptions = gpibInstrumentExchange({
  request: encodeRequest(ddc.model),
  isAnswer: (reply) => parseModel(reply.toString('latin1')) !== undefined,
});

/** Replies end with CR LF (Y0); the CR is dropped. */
export function keithley487Splitter(): ReplySplitter {
  return gpibReplySplitter(256);
}

function checked<T>(what: string, parse: (s: string) => T | undefined) {
  return {
    validate: (reply: Buffer): boolean => parse(reply.toString('latin1')) !== undefined,
    parse: (reply: Buffer | undefined): T => {
      const v = reply === undefined ? undefined : parse(reply.toString('latin1'));
      if (v === undefined) throw new LabwireError('CommunicationFailed', `the 487 sent no valid ${what}`);
      return v;
    },
  };
}

const READING = checked('reading', parseReading);
const STATUS = checked('status word (U0)', parseStatusWord);
const ERRORS = checked('error word (U1)', parseErrorWord);
const MODEL = checked('model word (U2)', parseModel);
const SOURCE = checked('source value (U8)', parseSourceValue);

export class Keithley487Driver {
  constructor(private readonly exchange: ExchangeLike) {}

  private async query<T>(command: string, c: ReturnType<typeof checked<T>>): Promise<T> {
    return c.parse(await this.exchange.request(encodeRequest(command), { validate: c.validate }));
  }

  private async write(command: string): Promise<void> {
    await this.exchange.request(encodeRequest(command), { expectReply: false });
  }

  /** Model and firmware (U2X); also sets EOI and CR LF so replies end where the adapter reads. */
  async identify(): Promise<{ model: string; firmware: string }> {
    await this.write(ddc.setup);
    return this.query(ddc.model, MODEL);
  }

  reading(): Promise<Reading> {
    return this.query(ddc.reading, READING);
  }

  status(): Promise<StatusWord> {
    return this.query(ddc.status, STATUS);
  }

  /** Error conditions since the last read; reading clears them on the instrument. */
  errors(): Promise<ErrorFlag[]> {
    return this.query(ddc.errors, ERRORS);
  }

  sourceVoltage(): Promise<number> {
    return this.query(ddc.sourceValue, SOURCE);
  }

  /** Sends a batch, then proves it was taken: a raised IDDC/IDDCO fails the call with its meaning. */
  private async apply(command: string): Promise<StatusWord> {
    await this.write(command);
    const errors = await this.errors();
    if (errors.length > 0) {
      throw new LabwireError('HardwareError', `the 487 refused ${command}: ${errors.map((e) => `${e} (${ERROR_TEXT[e]})`).join(', ')}`);
    }
    return this.status();
  }

  async setZeroCheck(on: boolean): Promise<boolean> {
    return (await this.apply(ddc.zeroCheck(on))).zeroCheck;
  }

  /**
   * Zero correction as the manual has it: zero check on, correct, zero check back to what it was.
   * Returns whether the instrument reports the correction taken.
   */
  async zeroCorrect(): Promise<boolean> {
    const before = await this.status();
    await this.apply(ddc.zeroCheck(true));
    await this.apply(ddc.zeroCorrect);
    return (await this.apply(ddc.zeroCheck(before.zeroCheck))).zeroCorrected;
  }

  async setRange(range: RangeName): Promise<StatusWord> {
    return this.apply(ddc.range(range));
  }

  async setOperate(on: boolean): Promise<boolean> {
    return (await this.apply(ddc.operate(on))).operate;
  }

  /** Programs value, range and current limit in one V command; refuses values beyond the range first. */
  async setSource(volts: number, range: SourceRange, limit: CurrentLimit): Promise<{ volts: number; status: StatusWord }> {
    const problem = sourceVoltageProblem(volts, range);
    if (problem) throw new LabwireError('RangeError', problem);
    const status = await this.apply(ddc.source(volts, range, limit));
    return { volts: await this.sourceVoltage(), status };
  }
}

/** The range in use as a name: `auto` while autoranging. */
export function rangeName(status: StatusWord): RangeName {
  return status.autorange ? 'auto' : RANGE_NAMES[status.rangeCode]!;
}

/** Full scale of the range in use, amperes. */
export function rangeAmps(status: StatusWord): number {
  return CURRENT_RANGES[status.rangeCode - 1]!;
}
