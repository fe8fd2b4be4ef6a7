/**
 * The controller inside the simulated Cryo-con: inputs (units, names, calibration, alarms with
 * hysteresis or latch, running statistics), loops (PID, manual, ramps, heater ranges and loads)
 * driving heaters on the cryostat model of physics.ts, and how the unit shows values. No wire here:
 * the command table (commands.ts) reads and changes this state.
 */
import {
  CHANNELS,
  CRYOCON_MODELS,
  LOOP_RANGES,
  OUT_OF_CALIBRATION,
  SENSOR_FAULT,
  deltaToKelvin,
  formatFloat,
  fromKelvin,
  loopTypesFor,
  parseSuffixed,
  toKelvin,
  type Channel,
  type CryoconModelName,
  type DisplayUnit,
  type HeaterStatusKey,
  type LoopNumber,
  type LoopType,
} from '../codec.js';
import { CryostatModel, DEFAULT_CRYOSTAT, NODES, PidState, diodeVolts, type NodeName } from '../physics.js';
import { gaussian, seededRandom } from '../../kits/sim/noise-and-clock.js';
import { CHANNEL_DEFAULTS, LOOP_DEFAULTS, type ParsedOptions, type SensorState } from './options.js';

export interface ChannelState {
  node: NodeName;
  units: DisplayUnit;
  name: string;
  sensor: SensorState;
  calibrationMin: number;
  calibrationMax: number;
  alarmHigh: number;
  alarmLow: number;
  alarmDeadband: number;
  alarmHighEnabled: boolean;
  alarmLowEnabled: boolean;
  alarmLatch: boolean;
  alarmAudio: boolean;
  /** Asserted alarm (`HI`/`LO`), kept with hysteresis or latched. */
  alarm: 'HI' | 'LO' | undefined;
  stats: Stats;
}

/** Running statistics of the true temperature since the last reset: min, max, variance, linear fit. */
export class Stats {
  n = 0;
  min = Infinity;
  max = -Infinity;
  private sum = 0;
  private sumSq = 0;
  private sumT = 0;
  private sumTT = 0;
  private sumTK = 0;
  start = 0;

  reset(at: number): void {
    this.n = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.sum = this.sumSq = this.sumT = this.sumTT = this.sumTK = 0;
    this.start = at;
  }

  add(timeS: number, kelvin: number): void {
    const t = (timeS - this.start) / 60;
    this.n++;
    this.min = Math.min(this.min, kelvin);
    this.max = Math.max(this.max, kelvin);
    this.sum += kelvin;
    this.sumSq += kelvin * kelvin;
    this.sumT += t;
    this.sumTT += t * t;
    this.sumTK += t * kelvin;
  }

  get mean(): number {
    return this.n > 0 ? this.sum / this.n : NaN;
  }

  get variance(): number {
    if (this.n === 0) return NaN;
    return Math.max(0, this.sumSq / this.n - this.mean ** 2);
  }

  /** Slope of the least-squares line, K per minute. */
  get slope(): number {
    const d = this.n * this.sumTT - this.sumT * this.sumT;
    return this.n > 1 && d > 1e-9 * this.n * this.sumTT ? (this.n * this.sumTK - this.sumT * this.sum) / d : 0;
  }

  /** Intercept of the least-squares line at the reset, K. */
  get offset(): number {
    return this.n > 0 ? (this.sum - this.slope * this.sumT) / this.n : NaN;
  }
}

export interface LoopState {
  source: Channel;
  type: LoopType;
  /** Target setpoint, K. */
  setpoint: number;
  range: string;
  /** Display units of the source per minute. */
  rate: number;
  pgain: number;
  igain: number;
  dgain: number;
  pman: number;
  maxPower: number;
  maxSetpoint: number;
  load: 25 | 50;
  heats: NodeName | 'none';
  heaterStatus: HeaterStatusKey;
  pid: PidState;
  /** Ramp setpoint while a RAMPP/RAMPT ramp runs, K. */
  rampSetpoint: number | undefined;
  /** Output of the last step, %. */
  output: number;
}

export class CryoconController {
  readonly model: CryoconModelName;
  readonly cryostat: CryostatModel;
  private readonly noise: () => number;
  private readonly startedAt: number;
  private offsetS = 0;
  readonly channels = new Map<Channel, ChannelState>();
  readonly loops = new Map<LoopNumber, LoopState>();
  controlOn: boolean;
  systemName: string;
  lockout = false;
  remoteLed = true;
  displayFilter = 1;
  powerUpControl = false;

  constructor(
    readonly options: ParsedOptions,
    private readonly now: () => number,
  ) {
    const o = options;
    this.model = o.model;
    this.noise = gaussian(seededRandom(o.seed));
    this.controlOn = o.control;
    this.systemName = o.name;
    const c = o.cryostat;
    const params = {
      ...DEFAULT_CRYOSTAT,
      ...Object.fromEntries(Object.entries(c).filter(([k]) => !['initialTemperature', 'initial', 'heatCapacity', 'ambientLink'].includes(k))),
      heatCapacity: { ...DEFAULT_CRYOSTAT.heatCapacity, ...c.heatCapacity },
      ambientLink: { ...DEFAULT_CRYOSTAT.ambientLink, ...c.ambientLink },
    };
    const start = c.initialTemperature ?? params.ambient;
    const initial = Object.fromEntries(NODES.map((n) => [n, c.initial?.[n] ?? start])) as Record<NodeName, number>;
    this.cryostat = new CryostatModel(params, initial);
    this.startedAt = this.now();

    const spec = CRYOCON_MODELS[this.model];
    const extra = [
      ...Object.keys(o.channels).filter((k) => !(spec.channels as readonly string[]).includes(k)).map((k) => `channels.${k}`),
      ...Object.keys(o.loops).filter((k) => !(spec.loops as readonly number[]).includes(Number(k))).map((k) => `loops.${k}`),
    ];
    if (extra.length > 0) {
      throw new Error(`invalid options for the cryocon simulator: ${extra.join(', ')}: the ${this.model} has inputs ${spec.channels.join(', ')} and loops ${spec.loops.join(', ')}`);
    }
    for (const ch of spec.channels) {
      const given = o.channels[ch] ?? {};
      const d = CHANNEL_DEFAULTS[ch];
      const stats = new Stats();
      stats.add(0, initial[given.node ?? d.node]);
      this.channels.set(ch, {
        node: given.node ?? d.node,
        units: (given.units as DisplayUnit | undefined) ?? 'K',
        name: given.name ?? d.name,
        sensor: given.sensor ?? 'ok',
        calibrationMin: given.calibrationMin ?? 1.4,
        calibrationMax: given.calibrationMax ?? 500,
        alarmHigh: given.alarmHigh ?? 400,
        alarmLow: given.alarmLow ?? 0,
        alarmDeadband: given.alarmDeadband ?? 1,
        alarmHighEnabled: given.alarmHighEnabled ?? false,
        alarmLowEnabled: given.alarmLowEnabled ?? false,
        alarmLatch: given.alarmLatch ?? false,
        alarmAudio: given.alarmAudio ?? false,
        alarm: undefined,
        stats,
      });
    }
    for (const n of spec.loops) {
      const given = o.loops[String(n) as '1'] ?? {};
      const d = LOOP_DEFAULTS[n];
      const type = (given.type as LoopType | undefined) ?? d.type;
      if (!loopTypesFor(n).includes(type)) throw new Error(`invalid options for the cryocon simulator: loops.${n}.type: ${type} exists on loops 3 and 4 only`);
      const range = given.range ?? d.range;
      if (!(LOOP_RANGES[n] as readonly string[]).includes(range)) {
        throw new Error(`invalid options for the cryocon simulator: loops.${n}.range: loop ${n} has ranges ${LOOP_RANGES[n].join(', ')}`);
      }
      if (given.source && !spec.channels.includes(given.source as never)) {
        throw new Error(`invalid options for the cryocon simulator: loops.${n}.source: the ${this.model} has inputs ${spec.channels.join(', ')}`);
      }
      this.loops.set(n, {
        source: given.source ?? d.source,
        type,
        setpoint: given.setpoint ?? 300,
        range,
        rate: given.rate ?? 10,
        pgain: given.pgain ?? 10,
        igain: given.igain ?? 60,
        dgain: given.dgain ?? 0,
        pman: given.pman ?? 0,
        maxPower: given.maxPower ?? 100,
        maxSetpoint: given.maxSetpoint ?? 500,
        load: (given.load as 25 | 50 | undefined) ?? 50,
        heats: given.heats ?? d.heats,
        heaterStatus: given.heaterStatus ?? 'ok',
        pid: new PidState(),
        rampSetpoint: undefined,
        output: 0,
      });
    }
    for (const ch of this.channels.values()) this.evaluateAlarm(ch);
  }

  /** Runs the physics forward by simulated seconds without waiting (tests). */
  advance(seconds: number): void {
    this.sync();
    if (seconds > 0) this.offsetS += seconds;
    this.sync();
  }

  /** A loop starts afresh: no integral wind-up, no ramp in progress. */
  restartLoop(l: LoopState): void {
    l.pid.reset();
    l.rampSetpoint = undefined;
  }

  /** `A`, `CHA`, `0` (inputs are also numbered from zero), lists `A,B,C,D`; loops `1`…`4`. */
  parseSelector(kind: 'channel' | 'loop', text: string): (Channel | LoopNumber)[] | undefined {
    const out: (Channel | LoopNumber)[] = [];
    for (const raw of text.split(',')) {
      const t = raw.trim().toUpperCase();
      if (kind === 'channel') {
        const m = /^(?:CH)?([A-D])$/.exec(t);
        const ch = m ? (m[1] as Channel) : /^[0-3]$/.test(t) ? CHANNELS[Number(t)] : undefined;
        if (!ch || !this.channels.has(ch)) return undefined;
        out.push(ch);
      } else {
        const n = /^[1-4]$/.test(t) ? (Number(t) as LoopNumber) : undefined;
        if (!n || !this.loops.has(n)) return undefined;
        out.push(n);
      }
    }
    return out.length > 0 ? out : undefined;
  }

  channelState(ch: Channel | undefined): ChannelState {
    const s = ch ? this.channels.get(ch) : undefined;
    if (!s) throw new Error(`the simulated ${this.model} has no input ${String(ch)}`);
    return s;
  }

  loopState(n: LoopNumber | undefined): LoopState {
    const s = n ? this.loops.get(n) : undefined;
    if (!s) throw new Error(`the simulated ${this.model} has no loop ${String(n)}`);
    return s;
  }

  /** The reading of an input as the unit formats it, in its display units. */
  reading(ch: ChannelState): string {
    if (ch.sensor === 'fault') return SENSOR_FAULT;
    const t = this.cryostat.temperatures[ch.node] + this.options.noise * this.noise();
    if (ch.sensor === 'uncalibrated' || t < ch.calibrationMin || t > ch.calibrationMax) return OUT_OF_CALIBRATION;
    return formatFloat(this.display(t, ch.units));
  }

  /** A temperature in kelvin shown in display units (sensor units: a diode's volts). */
  display(kelvin: number, units: DisplayUnit): number {
    return fromKelvin(kelvin, units) ?? diodeVolts(kelvin);
  }

  /** Display units to kelvin (sensor units: read back on the diode curve). */
  fromDisplay(value: number, units: string): number | undefined {
    const k = toKelvin(value, units);
    if (k !== undefined) return k;
    if (units !== 'S' && units !== 'V') return undefined;
    // Invert the monotone diode curve by bisection.
    let lo = 0;
    let hi = 1000;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (diodeVolts(mid) > value) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  }

  formatSetpoint(kelvin: number, units: DisplayUnit): string {
    if (units === 'S') return `${diodeVolts(kelvin).toFixed(5)}V`;
    return `${(fromKelvin(kelvin, units) ?? kelvin).toFixed(3)}${units}`;
  }

  /** Setpoint argument: a number in the source's display units, or with its own unit suffix. */
  parseSetpointArg(args: string, units: DisplayUnit): number | undefined {
    const p = parseSuffixed(args);
    if (!p) return undefined;
    const unit = p.unit === '' ? units : p.unit;
    return this.fromDisplay(p.value, unit);
  }

  sourceUnits(loop: LoopState): DisplayUnit {
    return this.channels.get(loop.source)?.units ?? 'K';
  }

  /** Full-scale heater power of a loop, W: loop 1 HI/MID/LOW = 1/0.1/0.01 × load; loop 2 HI/LOW into 50 Ω; loops 3/4 5 or 10 V into 50 Ω. */
  maxPowerW(n: LoopNumber, l: LoopState): number {
    const factor: Record<string, number> =
      n === 1 ? { HI: 1, MID: 0.1, LOW: 0.01 } : n === 2 ? { HI: 0.5, LOW: 0.05 } : { '10V': 100 / 50 / 50, '5V': 25 / 50 / 50 };
    const load = n === 1 ? l.load : 50;
    return (factor[l.range] ?? 0) * load;
  }

  heaterEnabled(l: LoopState): boolean {
    return l.heaterStatus !== 'otdisconn' && l.heaterStatus !== 'lowR';
  }

  isRamping(l: LoopState): boolean {
    return (l.type === 'RAMPP' || l.type === 'RAMPT') && this.controlOn && l.rampSetpoint !== undefined && l.rampSetpoint !== l.setpoint;
  }

  evaluateAlarm(ch: ChannelState): void {
    if (ch.sensor === 'fault') return;
    const t = this.cryostat.temperatures[ch.node];
    const high = ch.alarmHighEnabled && t > ch.alarmHigh;
    const low = ch.alarmLowEnabled && t < ch.alarmLow;
    if (high) ch.alarm = 'HI';
    else if (low) ch.alarm = 'LO';
    else if (!ch.alarmLatch) {
      if (ch.alarm === 'HI' && (!ch.alarmHighEnabled || t < ch.alarmHigh - ch.alarmDeadband)) ch.alarm = undefined;
      if (ch.alarm === 'LO' && (!ch.alarmLowEnabled || t > ch.alarmLow + ch.alarmDeadband)) ch.alarm = undefined;
    }
  }

  alarmCode(ch: ChannelState): string {
    if (ch.sensor === 'fault') return 'SF';
    return ch.alarm ?? '--';
  }

  readonly heaters = (dt: number, temps: Readonly<Record<NodeName, number>>, time: number): Partial<Record<NodeName, number>> => {
    const power: Partial<Record<NodeName, number>> = {};
    for (const ch of this.channels.values()) {
      if (ch.sensor === 'ok') ch.stats.add(time, temps[ch.node]);
      this.evaluateAlarm(ch);
    }
    for (const [n, l] of this.loops) {
      l.output = this.loopOutput(l, dt, temps);
      if (l.heats !== 'none' && l.output > 0) power[l.heats] = (power[l.heats] ?? 0) + (l.output / 100) * this.maxPowerW(n, l);
    }
    return power;
  };

  loopOutput(l: LoopState, dt: number, temps: Readonly<Record<NodeName, number>>): number {
    if (!this.controlOn || !this.heaterEnabled(l) || l.type === 'OFF' || l.type === 'SCALE') {
      l.pid.reset();
      l.rampSetpoint = undefined;
      return 0;
    }
    if (l.type === 'MAN') return Math.min(l.pman, l.maxPower);
    const src = this.channels.get(l.source);
    const measured = src ? temps[src.node] : undefined;
    // A loop whose input has no valid reading turns its heater off.
    if (!src || measured === undefined || src.sensor !== 'ok' || measured < src.calibrationMin || measured > src.calibrationMax) {
      l.pid.reset();
      return 0;
    }
    let target = l.setpoint;
    if (l.type === 'RAMPP' || l.type === 'RAMPT') {
      const ratePerS = (deltaToKelvin(l.rate, src.units) ?? l.rate) / 60;
      const from = l.rampSetpoint ?? measured;
      const step = ratePerS * dt;
      l.rampSetpoint = Math.abs(target - from) <= step ? target : from + Math.sign(target - from) * step;
      target = l.rampSetpoint;
    }
    return Math.min(l.maxPower, l.pid.step(dt, target, measured, { p: l.pgain, i: l.igain, d: l.dgain }));
  }

  /** Brings the physics up to the clock; every query and state change calls this first. */
  sync(): void {
    const simulatedS = ((this.now() - this.startedAt) / 1000) * this.options.timeScale + this.offsetS;
    this.cryostat.advanceTo(simulatedS, this.heaters);
  }

  powerOf(n: LoopNumber): number {
    const l = this.loopState(n);
    return this.heaterEnabled(l) ? (l.output / 100) * this.maxPowerW(n, l) : 0;
  }
}
