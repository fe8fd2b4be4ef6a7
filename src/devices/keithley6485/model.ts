/**
 * The simulated Keithley 6485 behind a GPIB adapter: a SCPI command table over a picoammeter that
 * sees a constant input current, with noise that scales with the range (and falls with NPLC),
 * overflow beyond 105 % of a fixed range, autorange within its limits, zero check (the input
 * shorted: only the offset remains) and zero correction (the acquired offset subtracted).
 * One message may hold several commands; their query answers come back as one line joined by `;`.
 */
import { z } from 'zod';
import type { BusInstrumentModel, SimulatorOptions } from '../../daemon/api.js';
import { ScpiBusInstrument } from '../kits/sim/scpi-bus-instrument.js';
import { parseOptions } from '../../daemon/api.js';
import { gaussian, seededRandom } from '../sim-kit.js';
import { CURRENT_RANGES, NPLC_MIN, OVERFLOW, formatReading, nplcMax } from './codec.js';
import { SCPI, ScpiError, ScpiStatus, ScpiTree, commonCommands, errorQueueCommands, formatNR3, parseBoolean, parseNumericParam, type ScpiCommandSpec } from '../kits/scpi/index.js';

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
  /** Zero check at power-on: on, as a real 6485 starts; off for a bench left measuring (the demo). */
  zeroCheck: z.boolean().default(true),
  serial: z.string().default('4096485'),
  firmware: z.string().default('B03   Sep 25 2004 10:01:01/A02  /E'),
}).strict();

export type Keithley6485ModelOptions = z.input<typeof keithley6485ModelOptionsSchema>;

const OVERRANGE = 1.05;
const TIMESTAMP_WRAP = 100_000;

const err = (code: number): ScpiError => new ScpiError(code);

/** Keithley prints NR3 unsigned for settings: `2.000000E-09`. */
const nr3 = (v: number): string => formatNR3(v).replace(/^\+/, '');

export class Keithley6485Model extends ScpiBusInstrument implements BusInstrumentModel {
  private readonly opts: z.output<typeof keithley6485ModelOptionsSchema>;
  private readonly normal: () => number;
  private readonly started = Date.now();
  protected readonly tree: ScpiTree;
  readonly status = new ScpiStatus();
  rangeIndex = 0;
  autorange = true;
  ulim: number = CURRENT_RANGES[CURRENT_RANGES.length - 1]!;
  llim: number = CURRENT_RANGES[0]!;
  zeroCheck = true;
  zeroCorrect = false;
  acquiredOffset = 0;
  nplc = 1;
  private buffered: number | undefined;

  constructor(options: Keithley6485ModelOptions = {}) {
    super();
    this.opts = parseOptions(keithley6485ModelOptionsSchema, options, 'the keithley6485 model');
    this.normal = gaussian(seededRandom(this.opts.seed ?? 6485));
    this.tree = new ScpiTree(this.commands(), { onError: this.status.error });
    this.zeroCheck = this.opts.zeroCheck;
  }

  set inputAmps(amps: number) {
    this.opts.inputAmps = amps;
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

  private commands(): ScpiCommandSpec[] {
    const bool = (apply: (on: boolean) => void) => (ctx: { args: string }): ScpiError | void => {
      const b = parseBoolean(ctx.args);
      if (b instanceof ScpiError) return b;
      apply(b);
    };
    const top = CURRENT_RANGES[CURRENT_RANGES.length - 1]!;
    // Any current up to 21 mA names the range that holds it; MIN/MAX/DEF the ends.
    const amps = (ctx: { args: string }): number | ScpiError => {
      const v = parseNumericParam(ctx.args, { min: -0.021, max: 0.021, default: top });
      return v instanceof ScpiError ? v : Math.abs(v) < CURRENT_RANGES[0]! ? CURRENT_RANGES[0]! : Math.abs(v);
    };
    const rangeIndexFor = (v: number): number => Math.max(0, this.rangeFor(v));
    const read = (): string => {
      this.buffered = this.measure();
      return this.readingText(this.buffered);
    };
    return [
      ...commonCommands({
        status: this.status,
        idn: () => `KEITHLEY INSTRUMENTS INC.,MODEL 6485,${this.opts.serial},${this.opts.firmware}`,
        reset: () => this.reset(),
        messageAvailable: () => this.messageAvailable,
      }),
      ...errorQueueCommands(this.status),
      { header: 'INITiate[:IMMediate]', set: () => void (this.buffered = this.measure()) },
      { header: 'FETCh', query: () => (this.buffered === undefined ? err(SCPI.dataCorruptOrStale) : this.readingText(this.buffered)) },
      { header: 'READ', query: read },
      {
        header: 'MEASure[:CURRent][:DC]',
        query: () => {
          this.autorange = true;
          return read();
        },
      },
      {
        header: '[SENSe:]CURRent[:DC]:RANGe[:UPPer]',
        set: (ctx) => {
          const v = amps(ctx);
          if (v instanceof ScpiError) return v;
          this.rangeIndex = rangeIndexFor(v);
          this.autorange = false;
        },
        query: () => nr3(CURRENT_RANGES[this.rangeIndex]!),
      },
      { header: '[SENSe:]CURRent[:DC]:RANGe:AUTO', set: bool((on) => (this.autorange = on)), query: () => (this.autorange ? '1' : '0') },
      {
        header: '[SENSe:]CURRent[:DC]:RANGe:AUTO:ULIMit',
        set: (ctx) => {
          const v = amps(ctx);
          if (v instanceof ScpiError) return v;
          this.ulim = CURRENT_RANGES[rangeIndexFor(v)]!;
          if (this.llim > this.ulim) this.llim = this.ulim;
        },
        query: () => nr3(this.ulim),
      },
      {
        header: '[SENSe:]CURRent[:DC]:RANGe:AUTO:LLIMit',
        set: (ctx) => {
          const v = amps(ctx);
          if (v instanceof ScpiError) return v;
          this.llim = CURRENT_RANGES[rangeIndexFor(v)]!;
          if (this.ulim < this.llim) this.ulim = this.llim;
        },
        query: () => nr3(this.llim),
      },
      {
        header: '[SENSe:]CURRent[:DC]:NPLCycles',
        set: (ctx) => {
          const v = parseNumericParam(ctx.args, { min: NPLC_MIN, max: nplcMax(this.opts.lineHz), default: 1 });
          if (v instanceof ScpiError) return v;
          this.nplc = v;
        },
        query: () => nr3(this.nplc),
      },
      { header: 'SYSTem:ZCHeck[:STATe]', set: bool((on) => (this.zeroCheck = on)), query: () => (this.zeroCheck ? '1' : '0') },
      { header: 'SYSTem:ZCORrect[:STATe]', set: bool((on) => (this.zeroCorrect = on)), query: () => (this.zeroCorrect ? '1' : '0') },
      {
        header: 'SYSTem:ZCORrect:ACQuire',
        // The offset is what the meter reads with the input shorted.
        set: () => {
          if (!this.zeroCheck) return err(SCPI.settingsConflict);
          const saved = this.zeroCorrect;
          this.zeroCorrect = false;
          const r = this.measure();
          this.zeroCorrect = saved;
          this.acquiredOffset = r >= OVERFLOW ? 0 : r;
        },
      },
    ];
  }
}

export function createKeithley6485Model(options: SimulatorOptions = {}): Keithley6485Model {
  return new Keithley6485Model(options as Keithley6485ModelOptions);
}
