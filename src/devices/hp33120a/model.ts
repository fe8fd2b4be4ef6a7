/**
 * The simulated HP 33120A behind a GPIB adapter: it keeps the output state and answers queries as
 * the instrument does. A setting the output cannot take is refused with -222 (or -221 for units
 * that do not apply) and the state stays as it was; the simulator does not clip as some firmware
 * does, so a daemon that sent such a value would see its read-back differ.
 * Amplitude and offset are kept as displayed for the load setting; changing the load rescales them.
 */
import { z } from 'zod';
import type { BusInstrumentModel, SimulatorOptions } from '../../daemon/api.js';
import { parseOptions } from '../../daemon/api.js';
import {
  FREQUENCY_MAX,
  FREQUENCY_MIN,
  OUTPUT_RANGE,
  SHAPES,
  UNITS,
  USER_WAVEFORMS,
  formatLoad,
  formatNumber33120,
  fromVpp,
  outputProblem,
  rescaleForLoad,
  toVpp,
  unitsProblem,
  type Load,
  type Output,
  type Shape,
  type Units,
  type UserWaveform,
} from './codec.js';
import { ErrorQueue, SCPI_ERRORS, compileHeader, headerMatches, parseMessage, parseNrf, type ParsedCommand, type ScpiError } from './scpi.js';

export const hp33120aModelOptionsSchema = z.object({
  seed: z.number().int().optional(),
  timeScale: z.number().positive().optional(),
  serial: z.string().default('0'),
  revision: z.string().default('7.0-5.0-1.0'),
}).strict();

export type Hp33120aModelOptions = z.input<typeof hp33120aModelOptionsSchema>;

type Outcome = string | undefined | ScpiError;

interface Entry {
  segments: ReturnType<typeof compileHeader>;
  set?: (args: string[]) => ScpiError | void;
  query?: (args: string[]) => Outcome;
}

/** The state as the instrument keeps it: amplitude in Vpp at the load setting. */
interface State {
  shape: Shape;
  frequency: number;
  vpp: number;
  offset: number;
  units: Units;
  load: Load;
  user: UserWaveform;
}

/** The APPLy node of each shape, long form with the short form in capitals. */
const APPLY_NODES: Record<Shape, string> = { SIN: 'SINusoid', SQU: 'SQUare', TRI: 'TRIangle', RAMP: 'RAMP', NOIS: 'NOISe', DC: 'DC', USER: 'USER' };

/** Factory state after *RST: 1 kHz sine, 100 mVpp, no offset, 50 Ω load, Vpp. */
const RESET: State = { shape: 'SIN', frequency: 1000, vpp: 0.1, offset: 0, units: 'VPP', load: '50', user: 'SINC' };

export class Hp33120aModel implements BusInstrumentModel {
  private readonly opts: z.output<typeof hp33120aModelOptionsSchema>;
  private readonly table: Entry[];
  readonly errors = new ErrorQueue(20);
  state: State = { ...RESET };
  private output: string | undefined;
  private silent = false;
  private garble = 0;

  constructor(options: Hp33120aModelOptions = {}) {
    this.opts = parseOptions(hp33120aModelOptionsSchema, options, 'the hp33120a model');
    this.table = this.commands();
  }

  setSilent(on: boolean): void {
    this.silent = on;
  }

  garbleNextReplies(n: number): void {
    this.garble = n;
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

  private displayed(s: State = this.state): Output {
    const amplitude = fromVpp(s.vpp, s.units, s.shape) ?? s.vpp;
    return { shape: s.shape, frequency: s.frequency, amplitude, offset: s.offset, units: s.units, load: s.load };
  }

  /** Takes a new state if the output can produce it. */
  private adopt(next: State): ScpiError | void {
    const out = this.displayed(next);
    if (unitsProblem(next.units, next.shape, next.load)) return SCPI_ERRORS.settingsConflict;
    if (outputProblem(out)) return SCPI_ERRORS.outOfRange;
    this.state = next;
  }

  /** A number, MIN, MAX or DEF for a parameter; undefined for anything else. */
  private value(arg: string | undefined, min: number, max: number, def: number): number | undefined {
    const a = arg?.toUpperCase();
    if (a === undefined || a === 'DEF') return def;
    if (a === 'MIN') return min;
    if (a === 'MAX') return max;
    return parseNrf(a);
  }

  private amplitudeToVpp(amplitude: number, s: State): number | undefined {
    return toVpp(amplitude, s.units, s.shape);
  }

  private commands(): Entry[] {
    const e = (pattern: string, handlers: Omit<Entry, 'segments'>): Entry => ({ segments: compileHeader(pattern), ...handlers });
    const range = (): { minVpp: number; maxVpp: number; maxPeak: number } => OUTPUT_RANGE[this.state.load];
    const apply = (shape: Shape) => (args: string[]): ScpiError | void => {
      if (args.length > 3) return SCPI_ERRORS.syntax;
      const s = this.state;
      const next: State = { ...s, shape };
      const f = this.value(args[0], FREQUENCY_MIN, FREQUENCY_MAX[shape], 1000);
      const a = args[1] === undefined ? undefined : this.value(args[1], range().minVpp, range().maxVpp, 0.1);
      const o = this.value(args[2], -range().maxPeak, range().maxPeak, 0);
      if (f === undefined || (args[1] !== undefined && a === undefined) || o === undefined) return SCPI_ERRORS.illegalValue;
      if (shape !== 'NOIS' && shape !== 'DC') next.frequency = f;
      if (shape !== 'DC' && a !== undefined) {
        const units = args[1]!.toUpperCase();
        const vpp = units === 'MIN' || units === 'MAX' || units === 'DEF' ? a : this.amplitudeToVpp(a, next);
        if (vpp === undefined) return SCPI_ERRORS.settingsConflict;
        next.vpp = vpp;
      }
      next.offset = o;
      return this.adopt(next);
    };
    return [
      e('*IDN', { query: () => `HEWLETT-PACKARD,33120A,${this.opts.serial},${this.opts.revision}` }),
      e('*RST', { set: () => { this.state = { ...RESET }; } }),
      e('*CLS', { set: () => this.errors.clear() }),
      e('*OPC', { set: () => {}, query: () => '1' }),
      ...SHAPES.map((shape) => e(`APPLy:${APPLY_NODES[shape]}`, { set: apply(shape) })),
      e('APPLy', {
        query: () => {
          const d = this.displayed();
          return `"${d.shape} ${formatNumber33120(d.frequency)},${formatNumber33120(d.amplitude)},${formatNumber33120(d.offset)}"`;
        },
      }),
      e('[SOURce:]FREQuency', {
        set: (args) => {
          const f = this.value(args[0], FREQUENCY_MIN, FREQUENCY_MAX[this.state.shape], 1000);
          if (args.length !== 1 || f === undefined) return args.length === 0 ? SCPI_ERRORS.missingParameter : SCPI_ERRORS.illegalValue;
          return this.adopt({ ...this.state, frequency: f });
        },
        query: () => formatNumber33120(this.state.frequency),
      }),
      e('[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]', {
        set: (args) => {
          if (args.length !== 1) return args.length === 0 ? SCPI_ERRORS.missingParameter : SCPI_ERRORS.illegalValue;
          const a = args[0]!.toUpperCase();
          const limits = range();
          const vpp = a === 'MIN' ? limits.minVpp : a === 'MAX' ? limits.maxVpp - 2 * Math.abs(this.state.offset) : (() => {
            const n = parseNrf(a);
            return n === undefined ? undefined : this.amplitudeToVpp(n, this.state);
          })();
          if (vpp === undefined) return parseNrf(a) === undefined ? SCPI_ERRORS.illegalValue : SCPI_ERRORS.settingsConflict;
          return this.adopt({ ...this.state, vpp });
        },
        query: () => formatNumber33120(this.displayed().amplitude),
      }),
      e('[SOURce:]VOLTage:OFFSet', {
        set: (args) => {
          const o = this.value(args[0], -range().maxPeak + this.state.vpp / 2, range().maxPeak - this.state.vpp / 2, 0);
          if (args.length !== 1 || o === undefined) return args.length === 0 ? SCPI_ERRORS.missingParameter : SCPI_ERRORS.illegalValue;
          return this.adopt({ ...this.state, offset: o });
        },
        query: () => formatNumber33120(this.state.offset),
      }),
      e('[SOURce:]VOLTage:UNIT', {
        set: (args) => {
          const u = args[0]?.toUpperCase() === 'DEF' ? 'VPP' : UNITS.find((n) => n === args[0]?.toUpperCase());
          if (args.length !== 1 || !u) return SCPI_ERRORS.illegalValue;
          return this.adopt({ ...this.state, units: u });
        },
        query: () => this.state.units,
      }),
      e('[SOURce:]FUNCtion[:SHAPe]', {
        set: (args) => {
          const s = SHAPES.find((shape) => headerMatches([args[0] ?? ''], compileHeader(APPLY_NODES[shape])));
          if (args.length !== 1 || !s) return SCPI_ERRORS.illegalValue;
          return this.adopt({ ...this.state, shape: s });
        },
        query: () => this.state.shape,
      }),
      e('[SOURce:]FUNCtion:USER', {
        set: (args) => {
          const w = USER_WAVEFORMS.find((n) => n === args[0]?.toUpperCase());
          if (args.length !== 1 || !w) return SCPI_ERRORS.illegalValue;
          this.state = { ...this.state, user: w };
        },
        query: () => this.state.user,
      }),
      e('OUTPut:LOAD', {
        set: (args) => {
          const a = args[0]?.toUpperCase();
          const load: Load | undefined = a === '50' || a === 'MIN' ? '50' : a === 'INF' || a === 'INFINITY' || a === 'MAX' ? 'INF' : undefined;
          if (args.length !== 1 || !load) return SCPI_ERRORS.illegalValue;
          const s = this.state;
          // The output itself does not change; what it shows refers to the new load.
          if (load === 'INF' && s.units === 'DBM') return SCPI_ERRORS.settingsConflict;
          this.state = { ...s, load, vpp: rescaleForLoad(s.vpp, 'VPP', s.load, load), offset: rescaleForLoad(s.offset, 'VPP', s.load, load) };
        },
        query: () => formatLoad(this.state.load),
      }),
      e('SYSTem:ERRor', {
        query: () => {
          const err = this.errors.pop();
          return `${err.code === 0 ? '+0' : err.code},"${err.text}"`;
        },
      }),
    ];
  }
}

export function createHp33120aModel(options: SimulatorOptions = {}): Hp33120aModel {
  return new Hp33120aModel(options as Hp33120aModelOptions);
}
