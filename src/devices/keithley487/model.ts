/**
 * The simulated Keithley 487 behind a GPIB adapter: a DDC interpreter (commands accumulate until
 * `X`; an invalid command or option refuses the whole batch and raises IDDC / IDDCO), the voltage
 * source driving a resistive load with its current limit (compliance), and the picoammeter reading
 * that current with range-dependent noise, overflow beyond the range and ~0 with zero check on.
 */
import { z } from 'zod';
import type { BusInstrumentModel, SimulatorOptions } from '../../daemon/api.js';
import { parseOptions } from '../../daemon/api.js';
import { gaussian, seededRandom } from '../sim-kit.js';
import {
  CURRENT_LIMITS,
  CURRENT_RANGES,
  SOURCE_RANGES,
  currentLimitOf,
  formatErrorWord,
  formatReading,
  formatSourceValue,
  formatStatusWord,
  sourceRangeOf,
  tokenizeDdc,
  type CurrentLimit,
  type DdcCommand,
  type ErrorFlag,
  type SourceRange,
} from './codec.js';

export const keithley487ModelOptionsSchema = z.object({
  seed: z.number().int().optional(),
  timeScale: z.number().positive().optional(),
  /** Resistance between the source output and the picoammeter input, ohms. */
  loadOhms: z.number().positive().default(1e9),
  /** Noise as a fraction of the range's full scale (1e-4 = 0.2 pA on the 2 nA range). */
  noise: z.number().min(0).max(0.1).default(1e-4),
  /** Input offset current before zero correction, amperes. */
  offsetAmps: z.number().default(3e-13),
  /** The source at power-on: off at 0 V, as after L0; on at a voltage for a bench left sourcing (the demo). */
  operate: z.boolean().default(false),
  sourceVolts: z.number().min(-50).max(50).default(0),
  /** Model and firmware as U2 reports them. */
  firmware: z.string().regex(/^[A-Z]\d{2}$/).default('A05'),
}).strict();

export type Keithley487ModelOptions = z.input<typeof keithley487ModelOptionsSchema>;

const TERMINATORS = ['\r\n', '\n\r', '\r', '\n', ''] as const;

/** Over-range by 5 % before a fixed range reads overflow, as Keithley picoammeters do. */
const OVERRANGE = 1.05;

type Pending = { kind: 'reading' } | { kind: 'once'; text: string };

export class Keithley487Model implements BusInstrumentModel {
  private readonly opts: z.output<typeof keithley487ModelOptionsSchema>;
  private readonly normal: () => number;
  // Settings, as after L0 (factory defaults).
  zeroCheck = false;
  zeroCorrected = false;
  autorange = true;
  rangeCode = 1;
  operate = false;
  sourceVolts = 0;
  sourceRange: SourceRange = '50V';
  currentLimit: CurrentLimit = '2.5mA';
  private terminator = 0;
  private output: Pending = { kind: 'reading' };
  private unexecuted: DdcCommand[] = [];
  private readonly errors = new Set<ErrorFlag>();
  private lastOverflow = false;
  private silent = false;
  private garble = 0;
  /** Every executed batch, for tests. */
  readonly executed: string[] = [];

  constructor(options: Keithley487ModelOptions = {}) {
    this.opts = parseOptions(keithley487ModelOptionsSchema, options, 'the keithley487 model');
    this.normal = gaussian(seededRandom(this.opts.seed ?? 487));
    this.operate = this.opts.operate;
    this.sourceVolts = this.opts.sourceVolts;
  }

  /** Instrument switched off: takes nothing, answers nothing. */
  setSilent(on: boolean): void {
    this.silent = on;
  }

  /** Corrupts the next n outputs. */
  garbleNextReplies(n: number): void {
    this.garble = n;
  }

  set loadOhms(ohms: number) {
    this.opts.loadOhms = ohms;
  }

  receive(data: Buffer): void {
    if (this.silent) return;
    for (const t of tokenizeDdc(data.toString('latin1'))) {
      if (t === 'X') this.execute();
      else this.unexecuted.push(t);
    }
  }

  talk(): Buffer | undefined {
    if (this.silent) return undefined;
    const pending = this.output;
    this.output = { kind: 'reading' };
    let text = pending.kind === 'once' ? pending.text : this.readingText();
    if (this.garble > 0) {
      this.garble -= 1;
      text = text.replace(/[0-9]/g, '#').slice(0, Math.max(3, text.length - 5));
    }
    return Buffer.from(text + TERMINATORS[this.terminator], 'latin1');
  }

  clear(): void {
    this.unexecuted = [];
    this.output = { kind: 'reading' };
  }

  statusByte(): number {
    let sb = 0x10 | 0x08;
    if (this.lastOverflow) sb |= 0x01;
    if (this.errors.size > 0) sb |= 0x20;
    if (this.inLimit()) sb |= 0x80;
    return sb;
  }

  /** Current through the load before the meter, amperes (signed), and whether the source limits it. */
  sourceCurrent(): { amps: number; limited: boolean } {
    if (!this.operate) return { amps: 0, limited: false };
    const ideal = this.sourceVolts / this.opts.loadOhms;
    const limit = CURRENT_LIMITS[this.currentLimit].amps;
    return Math.abs(ideal) > limit ? { amps: Math.sign(ideal) * limit, limited: true } : { amps: ideal, limited: false };
  }

  private inLimit(): boolean {
    return this.sourceCurrent().limited;
  }

  private readingText(): string {
    const offset = this.zeroCorrected ? 0 : this.opts.offsetAmps;
    const trueAmps = this.zeroCheck ? 0 : this.sourceCurrent().amps;
    let code = this.rangeCode;
    if (this.autorange) {
      const fit = CURRENT_RANGES.findIndex((r) => Math.abs(trueAmps) <= r);
      code = fit < 0 ? CURRENT_RANGES.length : fit + 1;
      this.rangeCode = code;
    }
    const full = CURRENT_RANGES[code - 1]!;
    // Zero check shorts the input: what remains is a tenth of the noise and the offset.
    const noise = this.normal() * this.opts.noise * full * (this.zeroCheck ? 0.1 : 1);
    const amps = trueAmps + offset + noise;
    const overflow = Math.abs(amps) > full * OVERRANGE;
    this.lastOverflow = overflow;
    return formatReading({ amps, overflow, zeroCheck: this.zeroCheck });
  }

  private statusWord(): string {
    return formatStatusWord({
      zeroCheck: this.zeroCheck,
      zeroCorrected: this.zeroCorrected,
      operate: this.operate,
      autorange: this.autorange,
      rangeCode: this.rangeCode,
      sourceRange: this.sourceRange,
      currentLimit: this.currentLimit,
      inLimit: this.inLimit(),
    });
  }

  /** Validates the whole batch first: one bad command and nothing of it is executed. */
  private execute(): void {
    const batch = this.unexecuted;
    this.unexecuted = [];
    const actions: Array<() => void> = [];
    for (const cmd of batch) {
      const result = this.plan(cmd);
      if (typeof result === 'string') {
        this.errors.add(result);
        return;
      }
      actions.push(result);
    }
    for (const a of actions) a();
    this.executed.push(batch.map((c) => c.letter + c.args).join('') + 'X');
  }

  /** What a command does, or the error it raises. */
  private plan(cmd: DdcCommand): (() => void) | ErrorFlag {
    const n = /^\d+$/.test(cmd.args) ? Number(cmd.args) : undefined;
    const option = (max: number): number | undefined => (n !== undefined && n <= max ? n : undefined);
    switch (cmd.letter) {
      case 'A': case 'D': case 'F': case 'G': case 'J': case 'P': case 'Q': case 'S': case 'T': case 'Z':
        // Display, format and trigger settings labwire does not model: accepted, no effect.
        return option(9) === undefined ? 'IDDCO' : () => {};
      case 'B': {
        return option(4) === undefined ? 'IDDCO' : () => {};
      }
      case 'C': {
        const c = option(2);
        if (c === undefined) return 'IDDCO';
        return () => {
          if (c === 2) {
            // Zero correct takes the offset as seen with the input shorted; needs zero check on.
            if (this.zeroCheck) this.zeroCorrected = true;
            return;
          }
          this.zeroCheck = c === 1;
        };
      }
      case 'K': return option(3) === undefined ? 'IDDCO' : () => {};
      case 'L': {
        const l = option(1);
        if (l === undefined) return 'IDDCO';
        return l === 0 ? () => this.factoryDefaults() : () => {};
      }
      case 'M': return option(255) === undefined ? 'IDDCO' : () => {};
      case 'N': return option(512) === undefined ? 'IDDCO' : () => {};
      case 'O': {
        const o = option(1);
        return o === undefined ? 'IDDCO' : () => { this.operate = o === 1; };
      }
      case 'R': {
        const r = option(10);
        if (r === undefined) return 'IDDCO';
        return () => {
          if (r === 0) this.autorange = true;
          else if (r <= 7) {
            this.autorange = false;
            this.rangeCode = r;
          } else this.autorange = false;
        };
      }
      case 'U': {
        const u = option(9);
        if (u === undefined) return 'IDDCO';
        return () => {
          const text = this.statusString(u);
          if (text !== undefined) this.output = { kind: 'once', text };
        };
      }
      case 'V': return this.planSource(cmd.args);
      case 'W': {
        const w = Number(cmd.args);
        return cmd.args !== '' && Number.isFinite(w) && w >= 0 && w <= 999.999 ? () => {} : 'IDDCO';
      }
      case 'Y': {
        const y = option(4);
        return y === undefined ? 'IDDCO' : () => { this.terminator = y; };
      }
      default:
        return 'IDDC';
    }
  }

  private planSource(args: string): (() => void) | ErrorFlag {
    const parts = args.split(',');
    if (parts.length > 3 || parts[0] === '' || !/^[+-]?\d*\.?\d*$/.test(parts[0]!)) return 'IDDCO';
    const volts = Number(parts[0]);
    const range = parts[1] === undefined ? this.sourceRange : sourceRangeOf(Number(parts[1]));
    const limit = parts[2] === undefined ? this.currentLimit : currentLimitOf(Number(parts[2]));
    if (!Number.isFinite(volts) || !range || !limit || (parts[1] !== undefined && !/^[01]$/.test(parts[1])) || (parts[2] !== undefined && !/^[01]$/.test(parts[2]))) {
      return 'IDDCO';
    }
    if (Math.abs(volts) > SOURCE_RANGES[range].maxVolts) return 'IDDCO';
    return () => {
      this.sourceVolts = volts;
      this.sourceRange = range;
      this.currentLimit = limit;
    };
  }

  private statusString(u: number): string | undefined {
    switch (u) {
      case 0: return this.statusWord();
      case 1: {
        const word = formatErrorWord(this.errors);
        this.errors.clear();
        return word;
      }
      case 2: return `487${this.opts.firmware}`;
      case 8: return formatSourceValue(this.sourceVolts);
      case 9: return `487${this.operate ? 1 : 0}${this.inLimit() ? 1 : 0}`;
      default: return undefined;
    }
  }

  private factoryDefaults(): void {
    this.zeroCheck = false;
    this.zeroCorrected = false;
    this.autorange = true;
    this.rangeCode = 1;
    this.operate = false;
    this.sourceVolts = 0;
    this.sourceRange = '50V';
    this.currentLimit = '2.5mA';
    this.terminator = 0;
  }
}

export function createKeithley487Model(options: SimulatorOptions = {}): Keithley487Model {
  return new Keithley487Model(options as Keithley487ModelOptions);
}
