/**
 * Typed API for an HP 33120A over an Exchange whose link reaches the GPIB bus. Each setting is
 * checked against the output limits for the state the instrument reports just before (shape,
 * units, load, the other values), then sent with a read-back of the whole state in the same
 * message; a read-back that differs from the request fails the set.
 */
import type { ExchangeLike, ExchangeOptions, ReplySplitter } from '../../links/types.js';
import { gpibInstrumentExchange, gpibMessage, gpibReplySplitter } from '../kits/gpib/instrument.js';
import { LabwireError } from '../../wire/types.js';
import {
  outputProblem,
  parseError,
  parseIdentity,
  parseState,
  scpi,
  unitsProblem,
  type GeneratorState,
  type Load,
  type Output,
  type Shape,
  type Units,
  type UserWaveform,
} from './codec.js';

export const encodeRequest = gpibMessage;

export const hp33120aExchangeOptions: ExchangeOptions = gpibInstrumentExchange({
  request: encodeRequest(scpi.identify),
  isAnswer: (reply) => parseIdentity(reply.toString('latin1')) !== undefined,
});

export function hp33120aSplitter(): ReplySplitter {
  return gpibReplySplitter(1024);
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(1e-9, Math.abs(b) * 1e-6);

export class Hp33120aDriver {
  constructor(private readonly exchange: ExchangeLike) {}

  private async query<T>(command: string, what: string, parse: (s: string) => T | undefined): Promise<T> {
    const reply = await this.exchange.request(encodeRequest(command), { validate: (r) => parse(r.toString('latin1')) !== undefined });
    const value = reply === undefined ? undefined : parse(reply.toString('latin1'));
    if (value === undefined) throw new LabwireError('CommunicationFailed', `the 33120A sent no valid ${what}`);
    return value;
  }

  identify(): Promise<{ model: string; serial: string; revision: string }> {
    return this.query(scpi.identify, 'identity', parseIdentity);
  }

  state(): Promise<GeneratorState> {
    return this.query(scpi.state, 'state', parseState);
  }

  nextError(): Promise<{ code: number; text: string }> {
    return this.query(scpi.nextError, 'error queue entry', parseError);
  }

  /** Refuses what the output cannot do, given the instrument's present state and the change. */
  private async check(change: Partial<Output>): Promise<void> {
    const next = { ...(await this.state()), ...change };
    const problem = outputProblem(next);
    if (problem) throw new LabwireError('RangeError', problem);
  }

  private async send(command: string, confirm: (s: GeneratorState) => string | undefined): Promise<GeneratorState> {
    const s = await this.query(command, 'state read-back', parseState);
    const kept = confirm(s);
    if (kept) throw new LabwireError('HardwareError', `the 33120A kept ${kept}; its error queue says why (last_error)`);
    return s;
  }

  async setShape(shape: Shape): Promise<GeneratorState> {
    await this.check({ shape });
    return this.send(scpi.shape(shape), (s) => (s.shape === shape ? undefined : `shape ${s.shape}`));
  }

  async setFrequency(hz: number): Promise<GeneratorState> {
    await this.check({ frequency: hz });
    return this.send(scpi.frequency(hz), (s) => (close(s.frequency, hz) ? undefined : `frequency ${s.frequency} Hz`));
  }

  async setAmplitude(amplitude: number): Promise<GeneratorState> {
    await this.check({ amplitude });
    return this.send(scpi.amplitude(amplitude), (s) => (close(s.amplitude, amplitude) ? undefined : `amplitude ${s.amplitude}`));
  }

  async setOffset(volts: number): Promise<GeneratorState> {
    await this.check({ offset: volts });
    return this.send(scpi.offset(volts), (s) => (close(s.offset, volts) ? undefined : `offset ${s.offset} V`));
  }

  async setUnits(units: Units): Promise<GeneratorState> {
    await this.check({ units });
    return this.send(scpi.units(units), (s) => (s.units === units ? undefined : `units ${s.units}`));
  }

  /** The amplitude and offset shown change with the load (×2 into high-Z); the output does not. */
  async setLoad(load: Load): Promise<GeneratorState> {
    const s = await this.state();
    const problem = unitsProblem(s.units, s.shape, load);
    if (problem) throw new LabwireError('RangeError', problem);
    return this.send(scpi.load(load), (r) => (r.load === load ? undefined : `load ${r.load}`));
  }

  async setUserWaveform(name: UserWaveform): Promise<GeneratorState> {
    return this.send(scpi.userWaveform(name), (s) => (s.userWaveform === name ? undefined : `user waveform ${s.userWaveform}`));
  }

  /** APPLy: shape, frequency, amplitude (in the present units) and offset in one command. */
  async apply(shape: Shape, hz: number, amplitude: number, offset: number): Promise<GeneratorState> {
    await this.check({ shape, frequency: hz, amplitude, offset });
    return this.send(scpi.apply(shape, hz, amplitude, offset), (s) => {
      if (s.shape !== shape) return `shape ${s.shape}`;
      if (shape !== 'NOIS' && shape !== 'DC' && !close(s.frequency, hz)) return `frequency ${s.frequency} Hz`;
      if (shape !== 'DC' && !close(s.amplitude, amplitude)) return `amplitude ${s.amplitude}`;
      return close(s.offset, offset) ? undefined : `offset ${s.offset} V`;
    });
  }
}
