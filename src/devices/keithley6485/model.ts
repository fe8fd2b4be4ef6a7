/**
 * The simulated Keithley 6485 behind a GPIB adapter: a SCPI command table over a picoammeter that
 * sees a constant input current, with noise that scales with the range (and falls with NPLC),
 * overflow beyond 105 % of a fixed range, autorange within its limits, zero check (the input
 * shorted: only the offset remains) and zero correction (the acquired offset subtracted).
 * One message may hold several commands; their query answers come back as one line joined by `;`.
 */
import { z } from 'zod';
import type { BusInstrumentModel, SimulatorOptions } from '../../daemon/api.js';
import { parseOptions } from '../../daemon/api.js';
import { gaussian, seededRandom } from '../sim-kit.js';
import { CURRENT_RANGES, NPLC_MIN, OVERFLOW, formatReading, nplcMax } from './codec.js';
import { ErrorQueue, SCPI_ERRORS, compileHeader, formatNr3, headerMatches, parseBool, parseMessage, parseNrf, type ParsedCommand, type ScpiError } from './scpi.js';

export const keithley6485ModelOptionsSchema = z.object({
  seed: z.number().int().optional(),
  timeScale: z.number().positive().optional(),
  /** The current flowing into the input, amperes. */
  inputAmps: z.number().default(1.5e-9),
  /** Noise at 1 NPLC as a fraction of the range's full scale. */
  noise: z.number().min(0).max(0.1).default(1e-4),
  /** Input offset current (what zero correction removes), amperes. */
  offsetAmps: z.number().default(2e-13),
  lineHz: z.union([z.literal(50), z.literal(60)]).default(60),
  serial: z.string().default('4096485'),
  firmware: z.string().default('B03   Sep 25 2004 10:01:01/A02  /E'),
}).strict();

export type Keithley6485ModelOptions = z.input<typeof keithley6485ModelOptionsSchema>;

const OVERRANGE = 1.05;
const TIMESTAMP_WRAP = 100_000;

type Outcome = string | undefined | ScpiError;

interface Entry {
  segments: ReturnType<typeof compileHeader>;
  set?: (args: string[]) => ScpiError | void;
  query?: (args: string[]) => Outcome;
}

export class Keithley6485Model implements BusInstrumentModel {
  private readonly opts: z.output<typeof keithley6485ModelOptionsSchema>;
  private readonly normal: () => number;
  private readonly started = Date.now();
  private readonly table: Entry[];
  readonly errors = new ErrorQueue();
  rangeIndex = 0;
  autorange = true;
  ulim: number = CURRENT_RANGES[CURRENT_RANGES.length - 1]!;
  llim: number = CURRENT_RANGES[0]!;
  zeroCheck = true;
  zeroCorrect = false;
  acquiredOffset = 0;
  nplc = 1;
  private buffered: number | undefined;
  private output: string | undefined;
  private silent = false;
  private garble = 0;

  constructor(options: Keithley6485ModelOptions = {}) {
    this.opts = parseOptions(keithley6485ModelOptionsSchema, options, 'the keithley6485 model');
    this.normal = gaussian(seededRandom(this.opts.seed ?? 6485));
    this.table = this.commands();
  }

  setSilent(on: boolean): void {
    this.silent = on;
  }

  garbleNextReplies(n: number): void {
    this.garble = n;
  }

  set inputAmps(amps: number) {
    this.opts.inputAmps = amps;
  }

  receive(data: Buffer): void {
    if (this.silent) return;
    if (this.output !== undefined) {
      this.output = undefined;
      this.errors.push(SCPI_ERRORS.interrupted);
    }
    const answers: string[] = [];
    for (const cmd of parseMessage(data.toString('latin1'))) {
      if (!cmd) {
        this.errors.push(SCPI_ERRORS.syntax);
        break;
      }
      const result = this.run(cmd);
      if (typeof result === 'string') answers.push(result);
      else if (result) {
        this.errors.push(result);
        // A command error ends the message (IEEE 488.2); an execution error only its own command.
        if (result.code <= -100 && result.code > -200) break;
      }
    }
    if (answers.length > 0) this.output = answers.join(';');
  }

  talk(): Buffer | undefined {
    if (this.silent) return undefined;
    let out = this.output;
    this.output = undefined;
    if (out === undefined) {
      this.errors.push(SCPI_ERRORS.unterminated);
      return undefined;
    }
    if (this.garble > 0) {
      this.garble -= 1;
      out = out.replace(/[0-9]/g, '#').slice(0, Math.max(2, out.length - 4));
    }
    return Buffer.from(out + '\n', 'latin1');
  }

  clear(): void {
    this.output = undefined;
  }

  statusByte(): number {
    return (this.output !== undefined ? 0x10 : 0) | (this.errors.count > 0 ? 0x04 : 0);
  }

  private run(cmd: ParsedCommand): Outcome {
    const entry = this.table.find((e) => headerMatches(cmd.words, e.segments) && (cmd.query ? e.query : e.set));
    if (!entry) return SCPI_ERRORS.undefinedHeader;
    if (cmd.query) return entry.query!(cmd.args);
    return entry.set!(cmd.args) ?? undefined;
  }

  private rangeFor(amps: number): number {
    return CURRENT_RANGES.findIndex((r) => amps <= r * (1 + 1e-9));
  }

  /** One reading as the instrument takes it now; sets the range when autoranging. */
  private measure(): number {
    const input = this.zeroCheck ? 0 : this.opts.inputAmps;
    if (this.autorange) {
      const lo = Math.max(0, this.rangeFor(this.llim));
      const hi = Math.max(lo, this.rangeFor(this.ulim));
      const fit = this.rangeFor(Math.abs(input));
      this.rangeIndex = Math.min(hi, Math.max(lo, fit < 0 ? hi : fit));
    }
    const full = CURRENT_RANGES[this.rangeIndex]!;
    const noise = (this.normal() * this.opts.noise * full) / Math.sqrt(this.nplc) * (this.zeroCheck ? 0.1 : 1);
    const amps = input + this.opts.offsetAmps + noise - (this.zeroCorrect ? this.acquiredOffset : 0);
    return Math.abs(amps) > full * OVERRANGE ? OVERFLOW : amps;
  }

  private timestamp(): number {
    const s = ((Date.now() - this.started) / 1000) * (this.opts.timeScale ?? 1);
    return Math.round((s % TIMESTAMP_WRAP) * 100) / 100;
  }

  private readingText(amps: number): string {
    return formatReading({ amps, timestamp: this.timestamp(), status: amps >= OVERFLOW ? 1 : 0 });
  }

  private reset(): void {
    this.rangeIndex = 0;
    this.autorange = true;
    this.ulim = CURRENT_RANGES[CURRENT_RANGES.length - 1]!;
    this.llim = CURRENT_RANGES[0]!;
    this.zeroCheck = true;
    this.zeroCorrect = false;
    this.nplc = 1;
    this.buffered = undefined;
  }

  private commands(): Entry[] {
    const e = (pattern: string, handlers: Omit<Entry, 'segments'>): Entry => ({ segments: compileHeader(pattern), ...handlers });
    const bool = (apply: (on: boolean) => ScpiError | void) => (args: string[]): ScpiError | void => {
      const b = parseBool(args[0]);
      if (args.length === 0) return SCPI_ERRORS.missingParameter;
      if (b === undefined || args.length > 1) return SCPI_ERRORS.illegalValue;
      return apply(b);
    };
    const amps = (args: string[]): number | ScpiError => {
      if (args.length === 0) return SCPI_ERRORS.missingParameter;
      const a = args[0]!.toUpperCase();
      if (a === 'MIN') return CURRENT_RANGES[0]!;
      if (a === 'MAX' || a === 'DEF') return CURRENT_RANGES[CURRENT_RANGES.length - 1]!;
      const v = parseNrf(a);
      if (v === undefined) return SCPI_ERRORS.illegalValue;
      if (Math.abs(v) > 0.021) return SCPI_ERRORS.outOfRange;
      return Math.abs(v);
    };
    const rangeIndexFor = (v: number): number => Math.max(0, this.rangeFor(v));
    const read = (): Outcome => {
      this.buffered = this.measure();
      return this.readingText(this.buffered);
    };
    return [
      e('*IDN', { query: () => `KEITHLEY INSTRUMENTS INC.,MODEL 6485,${this.opts.serial},${this.opts.firmware}` }),
      e('*RST', { set: () => this.reset() }),
      e('*CLS', { set: () => this.errors.clear() }),
      e('*OPC', { set: () => {}, query: () => '1' }),
      e('*STB', { query: () => String(this.statusByte()) }),
      e('INITiate[:IMMediate]', { set: () => { this.buffered = this.measure(); } }),
      e('FETCh', {
        query: () => (this.buffered === undefined ? SCPI_ERRORS.dataStale : this.readingText(this.buffered)),
      }),
      e('READ', { query: read }),
      e('MEASure[:CURRent[:DC]]', {
        query: () => {
          this.autorange = true;
          return read();
        },
      }),
      e('[:SENSe[1]]:CURRent[:DC]:RANGe[:UPPer]', {
        set: (args) => {
          const v = amps(args);
          if (typeof v !== 'number') return v;
          this.rangeIndex = rangeIndexFor(v);
          this.autorange = false;
        },
        query: () => formatNr3(CURRENT_RANGES[this.rangeIndex]!),
      }),
      e('[:SENSe[1]]:CURRent[:DC]:RANGe:AUTO', {
        set: bool((on) => { this.autorange = on; }),
        query: () => (this.autorange ? '1' : '0'),
      }),
      e('[:SENSe[1]]:CURRent[:DC]:RANGe:AUTO:ULIMit', {
        set: (args) => {
          const v = amps(args);
          if (typeof v !== 'number') return v;
          this.ulim = CURRENT_RANGES[rangeIndexFor(v)]!;
          if (this.llim > this.ulim) this.llim = this.ulim;
        },
        query: () => formatNr3(this.ulim),
      }),
      e('[:SENSe[1]]:CURRent[:DC]:RANGe:AUTO:LLIMit', {
        set: (args) => {
          const v = amps(args);
          if (typeof v !== 'number') return v;
          this.llim = CURRENT_RANGES[rangeIndexFor(v)]!;
          if (this.ulim < this.llim) this.ulim = this.llim;
        },
        query: () => formatNr3(this.llim),
      }),
      e('[:SENSe[1]]:CURRent[:DC]:NPLCycles', {
        set: (args) => {
          if (args.length === 0) return SCPI_ERRORS.missingParameter;
          const v = parseNrf(args[0]);
          if (v === undefined) return SCPI_ERRORS.illegalValue;
          if (v < NPLC_MIN || v > nplcMax(this.opts.lineHz)) return SCPI_ERRORS.outOfRange;
          this.nplc = v;
        },
        query: () => formatNr3(this.nplc),
      }),
      e('SYSTem:ZCHeck[:STATe]', {
        set: bool((on) => { this.zeroCheck = on; }),
        query: () => (this.zeroCheck ? '1' : '0'),
      }),
      e('SYSTem:ZCORrect[:STATe]', {
        set: bool((on) => { this.zeroCorrect = on; }),
        query: () => (this.zeroCorrect ? '1' : '0'),
      }),
      e('SYSTem:ZCORrect:ACQuire', {
        // The offset is what the meter reads with the input shorted.
        set: () => {
          if (!this.zeroCheck) return SCPI_ERRORS.settingsConflict;
          const saved = this.zeroCorrect;
          this.zeroCorrect = false;
          const r = this.measure();
          this.zeroCorrect = saved;
          this.acquiredOffset = r >= OVERFLOW ? 0 : r;
        },
      }),
      e('SYSTem:ERRor[:NEXT]', {
        query: () => {
          const err = this.errors.pop();
          return `${err.code},"${err.text}"`;
        },
      }),
      e('SYSTem:ERRor:COUNt', { query: () => String(this.errors.count) }),
      e('SYSTem:ERRor:CLEar', { set: () => this.errors.clear() }),
    ];
  }
}

export function createKeithley6485Model(options: SimulatorOptions = {}): Keithley6485Model {
  return new Keithley6485Model(options as Keithley6485ModelOptions);
}
