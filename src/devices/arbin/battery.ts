/**
 * The simulator's physics and schedules: one lithium-ion cell per channel (open-circuit voltage
 * against state of charge, a series resistance) driven by a tiny schedule format with CC charge,
 * CV charge, CC discharge and rest steps. Pure and deterministic; time is simulated seconds.
 *
 * The integrator is event-driven and exact for the piecewise-linear OCV curve: within one segment
 * a CC step moves the OCV linearly and a CV step makes the current decay exponentially, so a step
 * ends exactly when its limit is reached however far the clock jumps (large time scales cost
 * nothing).
 */

/** (state of charge, OCV in V) for a generic NMC/graphite cell; slightly beyond 0…1 for abuse. */
export const OCV_TABLE: ReadonlyArray<readonly [number, number]> = [
  [-0.02, 2.5],
  [0, 3.0],
  [0.05, 3.45],
  [0.1, 3.55],
  [0.2, 3.62],
  [0.3, 3.67],
  [0.4, 3.71],
  [0.5, 3.75],
  [0.6, 3.8],
  [0.7, 3.87],
  [0.8, 3.95],
  [0.9, 4.05],
  [1.0, 4.18],
  [1.05, 4.5],
];

const SOC_MIN = OCV_TABLE[0]![0];
const SOC_MAX = OCV_TABLE[OCV_TABLE.length - 1]![0];

/** Index of the OCV segment holding `soc` (moving up: the segment above a breakpoint). */
function segmentAt(soc: number, upward: boolean): number {
  const last = OCV_TABLE.length - 2;
  for (let i = 0; i <= last; i++) {
    const hi = OCV_TABLE[i + 1]![0];
    if (upward ? soc < hi : soc <= hi) return i;
  }
  return last;
}

export function ocv(soc: number): number {
  const s = Math.min(SOC_MAX, Math.max(SOC_MIN, soc));
  const i = segmentAt(s, true);
  const [s0, v0] = OCV_TABLE[i]!;
  const [s1, v1] = OCV_TABLE[i + 1]!;
  return v0 + ((v1 - v0) * (s - s0)) / (s1 - s0);
}

// ---------------------------------------------------------------------------------------------
// Schedules

/** A current in A, or the value of a meta variable MV_UD<k> (read while the step runs). */
export type CurrentSource = { amps: number } | { mv: number };

export type Step =
  | { kind: 'rest'; seconds: number }
  | { kind: 'charge' | 'discharge'; current: CurrentSource; limitV: number; maxSeconds?: number }
  | { kind: 'cv'; volts: number; untilA: number; maxSeconds?: number };

export interface Schedule {
  name: string;
  steps: Step[];
  /** Times the steps run in total (the cycle count). */
  repeat: number;
}

export const DEFAULT_CHARGE_LIMIT_V = 4.2;
export const DEFAULT_DISCHARGE_LIMIT_V = 3.0;
export const DEFAULT_CV_CUTOFF_A = 0.05;

/**
 * Schedules every simulator knows. `MV_Charge.sdx` charges at the current given by MV_UD1, which
 * starts at 0 A: set it with SET_MV while the test runs.
 */
export const BUILTIN_SCHEDULES: Readonly<Record<string, string>> = {
  'Rest.sdx': 'rest 3600',
  'Charge.sdx': 'charge 1 to 4.2; cv 4.2 until 0.05; rest 600',
  'Discharge.sdx': 'discharge 1 to 3.0; rest 600',
  'Cycle.sdx': 'charge 1 to 4.2; cv 4.2 until 0.05; rest 600; discharge 1 to 3.0; rest 600; repeat 3',
  'MV_Charge.sdx': 'charge ud1 to 4.2; cv 4.2 until 0.05; rest 600',
};

/** `90`, `90s`, `15m`, `2h` → seconds. */
function parseDurationS(text: string, where: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|min|h)?$/i.exec(text);
  if (!m) throw new Error(`${where}: "${text}" is not a duration such as 600, 10m or 2h`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  return unit === 'h' ? n * 3600 : unit === 's' ? n : n * 60;
}

function parseNumberIn(text: string | undefined, unit: string, where: string): number {
  const m = text === undefined ? null : new RegExp(`^(\\d+(?:\\.\\d+)?)${unit}?$`, 'i').exec(text);
  if (!m) throw new Error(`${where}: expected a number of ${unit}, got "${text ?? ''}"`);
  return Number(m[1]);
}

/**
 * The tiny schedule format: steps separated by `;` or new lines.
 *
 *     rest <duration>
 *     charge <amps | udK> [to <volts>] [for <duration>]     CC charge until the voltage reaches the limit (4.2 V)
 *     discharge <amps | udK> [to <volts>] [for <duration>]  CC discharge down to the limit (3.0 V)
 *     cv <volts> [until <amps>] [for <duration>]           constant voltage until the current falls to 0.05 A
 *     repeat <n>                                           last: run all steps n times
 */
export function parseSchedule(name: string, text: string): Schedule {
  const parts = text
    .split(/[;\n]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const steps: Step[] = [];
  let repeat = 1;
  parts.forEach((part, i) => {
    const where = `schedule ${name} step ${i + 1} ("${part}")`;
    const words = part.split(/\s+/);
    const verb = words[0]!.toLowerCase();
    const opts = new Map<string, string>();
    for (let j = 2; j < words.length; j += 2) {
      const key = words[j]!.toLowerCase();
      if (!['to', 'for', 'until'].includes(key) || words[j + 1] === undefined) throw new Error(`${where}: unexpected "${words.slice(j).join(' ')}"`);
      opts.set(key, words[j + 1]!);
    }
    const maxSeconds = opts.has('for') ? parseDurationS(opts.get('for')!, where) : undefined;
    switch (verb) {
      case 'rest':
        if (words.length !== 2) throw new Error(`${where}: rest takes one duration, e.g. rest 600`);
        steps.push({ kind: 'rest', seconds: parseDurationS(words[1]!, where) });
        break;
      case 'charge':
      case 'discharge': {
        const src = words[1];
        if (src === undefined) throw new Error(`${where}: say the current, e.g. ${verb} 1 or ${verb} ud1`);
        const mv = /^(?:mv_?)?ud(\d{1,2})$/i.exec(src);
        let current: CurrentSource;
        if (mv) {
          const k = Number(mv[1]);
          if (k < 1 || k > 16) throw new Error(`${where}: meta variable UD${k} does not exist (UD1 … UD16)`);
          current = { mv: k };
        } else current = { amps: parseNumberIn(src, 'A', where) };
        if (opts.has('until')) throw new Error(`${where}: ${verb} ends at a voltage: use "to <volts>"`);
        const limitV = opts.has('to') ? parseNumberIn(opts.get('to'), 'V', where) : verb === 'charge' ? DEFAULT_CHARGE_LIMIT_V : DEFAULT_DISCHARGE_LIMIT_V;
        steps.push({ kind: verb, current, limitV, ...(maxSeconds !== undefined ? { maxSeconds } : {}) });
        break;
      }
      case 'cv': {
        const volts = parseNumberIn(words[1], 'V', where);
        if (opts.has('to')) throw new Error(`${where}: cv ends at a current: use "until <amps>"`);
        const untilA = opts.has('until') ? parseNumberIn(opts.get('until'), 'A', where) : DEFAULT_CV_CUTOFF_A;
        steps.push({ kind: 'cv', volts, untilA, ...(maxSeconds !== undefined ? { maxSeconds } : {}) });
        break;
      }
      case 'repeat': {
        if (i !== parts.length - 1) throw new Error(`${where}: repeat must be the last step`);
        const n = Number(words[1]);
        if (words.length !== 2 || !Number.isInteger(n) || n < 1 || n > 100_000) throw new Error(`${where}: repeat takes a count from 1 to 100000`);
        repeat = n;
        break;
      }
      default:
        throw new Error(`${where}: unknown step "${verb}"; steps are rest, charge, discharge, cv and repeat`);
    }
  });
  if (steps.length === 0) throw new Error(`schedule ${name} has no steps`);
  return { name, steps, repeat };
}

/** `name: steps | name2: steps` (the simulator's `schedules` option) → schedules by name. */
export function parseScheduleLibrary(text: string): Schedule[] {
  return text
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry) => {
      const colon = entry.indexOf(':');
      if (colon <= 0) throw new Error(`schedule entry "${entry}" is not "name: steps"`);
      return parseSchedule(entry.slice(0, colon).trim(), entry.slice(colon + 1));
    });
}

const STEP_KIND_TEXT = { rest: 'Rest', charge: 'CC Charge', discharge: 'CC Discharge', cv: 'CV Charge' } as const;

/** The record's step text, in the form of a real capture: `[1] 1: Step_A, Rest`. */
export function stepText(schedule: Schedule, stepIndex: number, cycle: number): string {
  const step = schedule.steps[stepIndex];
  if (!step) return '';
  const letter = stepIndex < 26 ? String.fromCharCode(65 + stepIndex) : String(stepIndex + 1);
  return `[${cycle}] ${stepIndex + 1}: Step_${letter}, ${STEP_KIND_TEXT[step.kind]}`;
}

export function exitConditionText(step: Step | undefined): string {
  if (!step) return 'N/A';
  const time = (s: number | undefined): string => (s === undefined ? '' : ` or Step_Time >= ${s} s`);
  switch (step.kind) {
    case 'rest':
      return `Step_Time >= ${step.seconds} s`;
    case 'charge':
      return `Voltage >= ${step.limitV} V${time(step.maxSeconds)}`;
    case 'discharge':
      return `Voltage <= ${step.limitV} V${time(step.maxSeconds)}`;
    case 'cv':
      return `Current <= ${step.untilA} A${time(step.maxSeconds)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// One cell

export interface CellParams {
  capacityAh: number;
  resistanceOhm: number;
  /** The channel's current range, A: CV and MV-driven steps are clamped to it. */
  maxCurrentA: number;
}

export interface CellCounters {
  chargeCapacity: number;
  dischargeCapacity: number;
  chargeEnergy: number;
  dischargeEnergy: number;
}

export interface RunState {
  schedule: Schedule;
  stepIndex: number;
  /** 1-based cycle number. */
  cycle: number;
  stepTime: number;
  testTime: number;
}

/** What a step does at this moment. */
interface Drive {
  current: number;
  /** Seconds until the step's own end condition, Infinity if none applies in this segment. */
  untilEnd: number;
  /** Seconds until the drive must be worked out again (the OCV leaves its segment, CV leaves its current limit). */
  untilChange: number;
  /** Advances by dt ≤ min(untilEnd, untilChange); returns the charge moved, Ah (+ charge). */
  advance(dt: number): number;
  /** The step has ended already (limit met at its start). */
  done: boolean;
  /** Set while a CV step holds its voltage. */
  cvVolts?: number;
}

/** Guard against schedules whose steps all end at once, repeated very often. */
const MAX_EVENTS_PER_ADVANCE = 200_000;

export class Cell {
  soc: number;
  current = 0;
  readonly counters: CellCounters = { chargeCapacity: 0, dischargeCapacity: 0, chargeEnergy: 0, dischargeEnergy: 0 };
  run: RunState | undefined;
  /** The run that ended last (finished or stopped): its times and step stay on display. */
  lastRun: RunState | undefined;
  /** Set when the schedule ran to its end. */
  finished = false;

  constructor(
    readonly params: CellParams,
    initialSoc: number,
  ) {
    this.soc = initialSoc;
  }

  get voltage(): number {
    return ocv(this.soc) + this.current * this.params.resistanceOhm;
  }

  /** dV/dt now, V/s (zero in CV and at rest). */
  get dvdt(): number {
    if (this.current === 0 || this.run?.schedule.steps[this.run.stepIndex]?.kind === 'cv') return 0;
    return (this.slope(this.current > 0) * this.current) / (3600 * this.params.capacityAh);
  }

  get step(): Step | undefined {
    return this.run?.schedule.steps[this.run.stepIndex];
  }

  resetCounters(): void {
    this.counters.chargeCapacity = 0;
    this.counters.dischargeCapacity = 0;
    this.counters.chargeEnergy = 0;
    this.counters.dischargeEnergy = 0;
  }

  /** Starts a schedule from its first step. */
  start(schedule: Schedule, mv: (ud: number) => number): void {
    this.resetCounters();
    this.finished = false;
    this.lastRun = undefined;
    this.run = { schedule, stepIndex: 0, cycle: 1, stepTime: 0, testTime: 0 };
    this.current = this.drive(mv).current;
  }

  /** Stops the test where it is; returns the run for a later resume. */
  stop(): RunState | undefined {
    const run = this.run;
    if (run) this.lastRun = { ...run };
    this.run = undefined;
    this.current = 0;
    return run;
  }

  /** Continues a stopped run from the start of the step it was in. */
  resume(run: RunState, mv: (ud: number) => number): void {
    this.finished = false;
    this.run = { ...run, stepTime: 0 };
    this.current = this.drive(mv).current;
  }

  /** Runs the physics and the schedule forward by `seconds` of simulated time. */
  advance(seconds: number, mv: (ud: number) => number): void {
    let left = seconds;
    for (let events = 0; events < MAX_EVENTS_PER_ADVANCE; events++) {
      const run = this.run;
      if (!run) {
        this.current = 0;
        return;
      }
      const d = this.drive(mv);
      this.current = d.current;
      if (d.done) {
        this.nextStep();
        continue;
      }
      if (left <= 0) return;
      const dt = Math.min(left, d.untilEnd, d.untilChange);
      const v0 = this.voltage;
      const ah = d.advance(dt);
      // CC: the voltage moves linearly, so the mean of both ends is exact; CV: the voltage is fixed.
      const v1 = ocv(this.soc) + d.current * this.params.resistanceOhm;
      this.count(ah, d.cvVolts !== undefined ? d.cvVolts * ah : ((v0 + v1) / 2) * ah);
      run.stepTime += dt;
      run.testTime += dt;
      left -= dt;
      if (dt >= d.untilEnd) this.nextStep();
    }
  }

  private count(ah: number, energy: number): void {
    if (ah >= 0) {
      this.counters.chargeCapacity += ah;
      this.counters.chargeEnergy += energy;
    } else {
      this.counters.dischargeCapacity -= ah;
      this.counters.dischargeEnergy -= energy;
    }
  }

  private nextStep(): void {
    const run = this.run!;
    if (run.stepIndex + 1 < run.schedule.steps.length) {
      run.stepIndex++;
      run.stepTime = 0;
    } else if (run.cycle < run.schedule.repeat) {
      run.cycle++;
      run.stepIndex = 0;
      run.stepTime = 0;
    } else {
      this.lastRun = { ...run };
      this.run = undefined;
      this.current = 0;
      this.finished = true;
    }
  }

  /** OCV slope of the segment the SOC is in, moving up or down. */
  private slope(upward: boolean): number {
    const i = segmentAt(this.soc, upward);
    const [s0, v0] = OCV_TABLE[i]!;
    const [s1, v1] = OCV_TABLE[i + 1]!;
    return (v1 - v0) / (s1 - s0);
  }

  /** Seconds until the SOC leaves its segment at a constant current. */
  private segmentTime(current: number): number {
    if (current === 0) return Infinity;
    const rate = current / (3600 * this.params.capacityAh);
    const i = segmentAt(this.soc, current > 0);
    if (current > 0) {
      const hi = OCV_TABLE[i + 1]![0];
      return this.soc >= SOC_MAX ? Infinity : Math.max((hi - this.soc) / rate, 1e-9);
    }
    const lo = OCV_TABLE[i]![0];
    return this.soc <= SOC_MIN ? Infinity : Math.max((this.soc - lo) / -rate, 1e-9);
  }

  private moveCharge(ah: number): number {
    this.soc = Math.min(SOC_MAX, Math.max(SOC_MIN, this.soc + ah / this.params.capacityAh));
    return ah;
  }

  private drive(mv: (ud: number) => number): Drive {
    const run = this.run!;
    const step = run.schedule.steps[run.stepIndex]!;
    const { resistanceOhm: r, maxCurrentA: imax, capacityAh: cap } = this.params;
    const byTime = (max: number | undefined): number => (max === undefined ? Infinity : Math.max(0, max - run.stepTime));
    const constant = (current: number, untilEnd: number, untilChange = Infinity): Drive => ({
      current,
      untilEnd,
      untilChange: Math.min(untilChange, this.segmentTime(current)),
      advance: (dt) => this.moveCharge((current * dt) / 3600),
      done: untilEnd <= 0,
    });
    switch (step.kind) {
      case 'rest':
        return constant(0, byTime(step.seconds));
      case 'charge':
      case 'discharge': {
        const sign = step.kind === 'charge' ? 1 : -1;
        const raw = 'amps' in step.current ? step.current.amps : mv(step.current.mv);
        const amps = Math.min(imax, Math.max(0, Number.isFinite(raw) ? raw : 0));
        const current = sign * amps;
        // The terminal voltage reaches the limit when the OCV reaches limit − I·R.
        const target = step.limitV - current * r;
        const here = ocv(this.soc);
        const reached = sign > 0 ? here >= target : here <= target;
        let untilEnd = byTime(step.maxSeconds);
        if (reached) untilEnd = 0;
        else if (current !== 0) {
          const k = this.slope(sign > 0);
          untilEnd = Math.min(untilEnd, Math.max(((target - here) / k) * ((3600 * cap) / current), 0));
        }
        return constant(current, untilEnd);
      }
      case 'cv': {
        const here = ocv(this.soc);
        const x0 = step.volts - here;
        const ideal = x0 / r;
        const byTimeLeft = byTime(step.maxSeconds);
        if (ideal <= step.untilA) return { ...constant(Math.max(0, ideal), 0), done: true };
        if (ideal > imax) {
          // Current-limited until the OCV is within imax·R of the CV voltage: a CC phase.
          const k = this.slope(true);
          const untilCv = Math.max(((step.volts - imax * r - here) / k) * ((3600 * cap) / imax), 1e-9);
          return constant(imax, byTimeLeft, untilCv);
        }
        // x = V − OCV decays as e^(−t/τ) with τ = 3600·C·R / k inside one segment.
        const k = this.slope(true);
        const tau = (3600 * cap * r) / k;
        const [, vHi] = OCV_TABLE[segmentAt(this.soc, true) + 1]!;
        const untilCutoff = tau * Math.log(x0 / (step.untilA * r));
        const untilSegment = step.volts > vHi ? Math.max(tau * Math.log(x0 / (step.volts - vHi)), 1e-9) : Infinity;
        const untilEnd = Math.min(byTimeLeft, Math.max(untilCutoff, 0));
        return {
          current: ideal,
          untilEnd,
          untilChange: untilSegment,
          cvVolts: step.volts,
          advance: (dt) => {
            const x = x0 * Math.exp(-dt / tau);
            const ah = ((x0 - x) / k) * cap;
            this.moveCharge(ah);
            this.current = x / r;
            return ah;
          },
          done: untilEnd <= 0,
        };
      }
    }
  }
}
