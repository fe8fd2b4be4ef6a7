/**
 * The simulated HP 33120A behind a GPIB adapter: it keeps the output state and answers queries as
 * the instrument does. A setting the output cannot take is refused with -222 (or -221 for units
 * that do not apply) and the state stays as it was; the simulator does not clip as some firmware
 * does, so a daemon that sent such a value would see its read-back differ.
 * Amplitude and offset are kept as displayed for the load setting; changing the load rescales them.
 */
import { z } from 'zod';
import type { BusInstrumentModel, SimulatorOptions } from '../../daemon/api.js';
import { ScpiBusInstrument } from '../kits/sim/scpi-bus-instrument.js';
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
import { SCPI, ScpiError, ScpiStatus, ScpiTree, commonCommands, errorQueueCommands, parseEnumParam, parseNumericParam, splitParams, type ScpiCommandSpec } from '../kits/scpi/index.js';

export const hp33120aModelOptionsSchema = z.object({
  seed: z.number().int().optional(),
  timeScale: z.number().positive().optional(),
  serial: z.string().default('0'),
  revision: z.string().default('7.0-5.0-1.0'),
}).strict();

export type Hp33120aModelOptions = z.input<typeof hp33120aModelOptionsSchema>;

const err = (code: number): ScpiError => new ScpiError(code);

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

export class Hp33120aModel extends ScpiBusInstrument implements BusInstrumentModel {
  private readonly opts: z.output<typeof hp33120aModelOptionsSchema>;
  protected readonly tree: ScpiTree;
  /** HP prints signed error numbers (`+0,"No error"`) and keeps up to 20. */
  readonly status = new ScpiStatus({ signedErrors: true, queueCapacity: 20 });
  state: State = { ...RESET };

  constructor(options: Hp33120aModelOptions = {}) {
    super();
    this.opts = parseOptions(hp33120aModelOptionsSchema, options, 'the hp33120a model');
    this.tree = new ScpiTree(this.commands(), { onError: this.status.error });
  }

  private displayed(s: State = this.state): Output {
    const amplitude = fromVpp(s.vpp, s.units, s.shape) ?? s.vpp;
    return { shape: s.shape, frequency: s.frequency, amplitude, offset: s.offset, units: s.units, load: s.load };
  }

  /** Takes a new state if the output can produce it. */
  private adopt(next: State): ScpiError | void {
    const out = this.displayed(next);
    if (unitsProblem(next.units, next.shape, next.load)) return err(SCPI.settingsConflict);
    if (outputProblem(out)) return err(SCPI.dataOutOfRange);
    this.state = next;
  }

  private amplitudeToVpp(amplitude: number, s: State): number | undefined {
    return toVpp(amplitude, s.units, s.shape);
  }

  private commands(): ScpiCommandSpec[] {
    const range = (): { minVpp: number; maxVpp: number; maxPeak: number } => OUTPUT_RANGE[this.state.load];
    // Numbers here are checked against the whole output by adopt(); the parameter parser only reads them.
    const number = (text: string, min: number, max: number, def: number): number | ScpiError =>
      parseNumericParam(text, { min, max, default: def, clip: true, units: { HZ: 1, KHZ: 1e3, MHZ: 1e6, V: 1, MV: 1e-3 } }) ;
    const raw = (text: string): number | ScpiError => parseNumericParam(text, { min: -Infinity, max: Infinity, units: { HZ: 1, KHZ: 1e3, MHZ: 1e6, V: 1, MV: 1e-3 } });
    const isKeyword = (text: string): boolean => /^(MIN|MINIMUM|MAX|MAXIMUM|DEF|DEFAULT)$/i.test(text.trim());
    const apply = (shape: Shape) => (ctx: { args: string }): ScpiError | void => {
      const p = ctx.args.trim() === '' ? [] : splitParams(ctx.args);
      if (p.length > 3) return err(SCPI.parameterNotAllowed);
      const next: State = { ...this.state, shape };
      const f = p[0] === undefined ? 1000 : isKeyword(p[0]) ? number(p[0], FREQUENCY_MIN, FREQUENCY_MAX[shape], 1000) : raw(p[0]);
      if (f instanceof ScpiError) return f;
      if (shape !== 'NOIS' && shape !== 'DC') next.frequency = f;
      if (p[1] !== undefined && shape !== 'DC') {
        if (isKeyword(p[1])) {
          const a = number(p[1], range().minVpp, range().maxVpp, 0.1);
          if (a instanceof ScpiError) return a;
          next.vpp = a;
        } else {
          const a = raw(p[1]);
          if (a instanceof ScpiError) return a;
          const vpp = this.amplitudeToVpp(a, next);
          if (vpp === undefined) return err(SCPI.settingsConflict);
          next.vpp = vpp;
        }
      }
      const o = p[2] === undefined ? 0 : isKeyword(p[2]) ? number(p[2], -range().maxPeak, range().maxPeak, 0) : raw(p[2]);
      if (o instanceof ScpiError) return o;
      next.offset = o;
      return this.adopt(next);
    };
    const shapeWords = SHAPES.map((shape) => APPLY_NODES[shape]);
    return [
      ...commonCommands({
        status: this.status,
        idn: () => `HEWLETT-PACKARD,33120A,${this.opts.serial},${this.opts.revision}`,
        reset: () => void (this.state = { ...RESET }),
        messageAvailable: () => this.messageAvailable,
      }),
      ...errorQueueCommands(this.status),
      ...SHAPES.map((shape) => ({ header: `APPLy:${APPLY_NODES[shape]}`, set: apply(shape) })),
      {
        header: 'APPLy',
        query: () => {
          const d = this.displayed();
          return `"${d.shape} ${formatNumber33120(d.frequency)},${formatNumber33120(d.amplitude)},${formatNumber33120(d.offset)}"`;
        },
      },
      {
        header: '[SOURce:]FREQuency',
        set: (ctx) => {
          const f = isKeyword(ctx.args) ? number(ctx.args, FREQUENCY_MIN, FREQUENCY_MAX[this.state.shape], 1000) : raw(ctx.args);
          return f instanceof ScpiError ? f : this.adopt({ ...this.state, frequency: f });
        },
        query: () => formatNumber33120(this.state.frequency),
      },
      {
        header: '[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]',
        set: (ctx) => {
          if (isKeyword(ctx.args)) {
            const max = range().maxVpp - 2 * Math.abs(this.state.offset);
            const a = number(ctx.args, range().minVpp, max, 0.1);
            return a instanceof ScpiError ? a : this.adopt({ ...this.state, vpp: a });
          }
          const a = raw(ctx.args);
          if (a instanceof ScpiError) return a;
          const vpp = this.amplitudeToVpp(a, this.state);
          return vpp === undefined ? err(SCPI.settingsConflict) : this.adopt({ ...this.state, vpp });
        },
        query: () => formatNumber33120(this.displayed().amplitude),
      },
      {
        header: '[SOURce:]VOLTage:OFFSet',
        set: (ctx) => {
          const peak = range().maxPeak - this.state.vpp / 2;
          const o = isKeyword(ctx.args) ? number(ctx.args, -peak, peak, 0) : raw(ctx.args);
          return o instanceof ScpiError ? o : this.adopt({ ...this.state, offset: o });
        },
        query: () => formatNumber33120(this.state.offset),
      },
      {
        header: '[SOURce:]VOLTage:UNIT',
        set: (ctx) => {
          const u = parseEnumParam(ctx.args, [...UNITS, 'DEFault'] as const);
          if (u instanceof ScpiError) return u;
          return this.adopt({ ...this.state, units: u === 'DEFault' ? 'VPP' : u });
        },
        query: () => this.state.units,
      },
      {
        header: '[SOURce:]FUNCtion[:SHAPe]',
        set: (ctx) => {
          const word = parseEnumParam(ctx.args, shapeWords);
          if (word instanceof ScpiError) return word;
          return this.adopt({ ...this.state, shape: SHAPES[shapeWords.indexOf(word)]! });
        },
        query: () => this.state.shape,
      },
      {
        header: '[SOURce:]FUNCtion:USER',
        set: (ctx) => {
          const w = parseEnumParam(ctx.args, USER_WAVEFORMS);
          if (w instanceof ScpiError) return w;
          this.state = { ...this.state, user: w };
        },
        query: () => this.state.user,
      },
      {
        header: 'OUTPut:LOAD',
        set: (ctx) => {
          const a = ctx.args.trim().toUpperCase();
          const load: Load | undefined = a === '50' || a === 'MIN' ? '50' : a === 'INF' || a === 'INFINITY' || a === 'MAX' ? 'INF' : undefined;
          if (!load) return err(SCPI.illegalParameterValue);
          const s = this.state;
          if (load === 'INF' && s.units === 'DBM') return err(SCPI.settingsConflict);
          // The output itself does not change; what it shows refers to the new load.
          this.state = { ...s, load, vpp: rescaleForLoad(s.vpp, 'VPP', s.load, load), offset: rescaleForLoad(s.offset, 'VPP', s.load, load) };
        },
        query: () => formatLoad(this.state.load),
      },
    ];
  }
}

export function createHp33120aModel(options: SimulatorOptions = {}): Hp33120aModel {
  return new Hp33120aModel(options as Hp33120aModelOptions);
}
