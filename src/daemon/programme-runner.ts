/**
 * Runs one setpoint programme inside a daemon (docs/programmes.md). It owns the clock (real time,
 * ticking every `tickMs`), applies the interpolated target through the same path as `set`
 * (validation, audit as who=programme, device read-back), waits at holds for the target's
 * completion contract, and keeps its state in a small JSON file so that a restarted daemon can
 * resume or stop the programme as configured. It lives in the daemon, so it goes on when every
 * client disconnects.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabwireError, type WireValue } from '../wire/types.js';
import type { ParamDecl } from './api.js';
import {
  advance,
  checkLimits,
  elapsedAt,
  nextStep,
  parseProgramme,
  profileVertices,
  planProgramme,
  progressAt,
  targetAt,
  type Plan,
  type Position,
  type Programme,
} from './programme.js';
import type { Actor, LogLevel } from './runner.js';
import type { EffectiveLimits } from './values.js';

export type ProgrammeState = 'none' | 'loaded' | 'running' | 'paused' | 'finished' | 'stopped';
export type RestartPolicy = 'resume' | 'stop';

export interface ProgrammeOptions {
  /** Directory for the state file `<daemon>.programme.json`; none = no persistence. */
  stateDir?: string;
  /** What a restarted daemon does with a programme that was running or paused. Default stop. */
  onRestart?: RestartPolicy;
  /** How often the target is recomputed, ms of real time. Default 1000. */
  tickMs?: number;
  /** A new target is applied only when it differs from the last applied by more than this. Default 0.01. */
  minStep?: number;
}

export const PROGRAMME_DEFAULTS = { onRestart: 'stop', tickMs: 1000, minStep: 0.01 } as const;

/** What the programme runner needs from its DeviceRunner. */
export interface ProgrammeHost {
  readonly name: string;
  readonly readOnly: boolean;
  paramInfo(name: string): { decl: ParamDecl; limits: EffectiveLimits; hasTarget: boolean } | undefined;
  programmableParams(): string[];
  targetSettled(name: string): boolean;
  setParams(raw: Record<string, string>, actor: Actor): Promise<Record<string, WireValue>>;
  log(level: LogLevel, message: string): void;
}

interface Loaded {
  param: string;
  /** What the user calls it (the file's name), for messages; may be empty. */
  name: string;
  format: string;
  data: string;
  loops: number;
  minStep: number;
  programme: Programme;
  plan: Plan;
  integer: boolean;
}

interface SavedState {
  version: 1;
  device: string;
  param: string;
  name?: string;
  format: string;
  data: string;
  loops: number;
  minStep: number;
  state: ProgrammeState;
  pos: Position;
  savedAt: string;
}

/**
 * The programme's own writes carry this actor (compared by identity, so no client can pass for the
 * programme by calling itself "programme").
 */
export const PROGRAMME_ACTOR: Actor = Object.freeze({ who: 'programme', peer: 'daemon' });
/** While running, the position is written at least this often (and at every phase change). */
const SAVE_EVERY_MS = 5000;

export interface LoadRequest {
  param: string;
  /** The programme's name for messages (the CLI and the page send the file's name). */
  name?: string;
  format: string;
  data: string;
  loops?: number;
  minStep?: number;
}

export class ProgrammeRunner {
  private loaded: Loaded | undefined;
  private state: ProgrammeState = 'none';
  private pos: Position = { cycle: 0, phase: 0, phaseMs: 0 };
  private lastTick = 0;
  private timer: NodeJS.Timeout | undefined;
  private applying: Promise<void> | undefined;
  private lastApplied: number | undefined;
  /** In a hold: the exact held value has been applied, so stability now means something. */
  private holdReady = false;
  private lastSaved = 0;
  private lastError = '';
  private closed = false;
  private readonly tickMs: number;
  private readonly minStep: number;
  private readonly onRestart: RestartPolicy;
  private readonly file: string | undefined;

  constructor(private readonly host: ProgrammeHost, opts: ProgrammeOptions = {}) {
    this.tickMs = opts.tickMs ?? PROGRAMME_DEFAULTS.tickMs;
    this.minStep = opts.minStep ?? PROGRAMME_DEFAULTS.minStep;
    this.onRestart = opts.onRestart ?? PROGRAMME_DEFAULTS.onRestart;
    if (!(this.tickMs > 0)) throw new Error(`programme tickMs must be positive, not ${this.tickMs}`);
    if (!(this.minStep >= 0)) throw new Error(`programme minStep must be 0 or more, not ${this.minStep}`);
    if (this.onRestart !== 'resume' && this.onRestart !== 'stop') throw new Error(`programme onRestart must be resume or stop, not ${String(this.onRestart)}`);
    if (opts.stateDir) {
      fs.mkdirSync(opts.stateDir, { recursive: true });
      this.file = path.join(opts.stateDir, `${host.name.replace(/[^\w.-]/g, '_')}.programme.json`);
    }
  }

  get currentState(): ProgrammeState {
    return this.state;
  }

  /** Parses and checks a programme against the parameter's limits; replaces a loaded one that is not running. */
  load(req: LoadRequest): { param: string; points: number; holds: number; loops: number; duration_s: number } {
    const cmd = 'programme_load';
    if (this.state === 'running' || this.state === 'paused') {
      throw new LabwireError('IsBusy', `a programme on ${this.loaded!.param} is ${this.state}; programme_stop it first`, cmd);
    }
    this.loaded = this.compile(req, cmd);
    this.state = 'loaded';
    this.pos = { cycle: 0, phase: 0, phaseMs: 0 };
    this.save(true);
    const steps = this.loaded.programme.steps;
    const points = steps.filter((s) => s.kind === 'point').length;
    this.host.log('info', `programme loaded for ${req.param}: ${points} points, ${steps.length - points} holds, ${this.loaded.loops} loop(s), ${fmt(this.loaded.plan.totalMs / 1000)} s`);
    return { param: req.param, points, holds: steps.length - points, loops: this.loaded.loops, duration_s: round(this.loaded.plan.totalMs / 1000) };
  }

  private compile(req: LoadRequest, cmd: string): Loaded {
    const info = this.host.paramInfo(req.param);
    const allowed = this.host.programmableParams();
    if (!info || !allowed.includes(req.param)) {
      throw new LabwireError('NoSuchParameter', `a programme drives a writable numeric parameter; "${req.param}" is not one. Parameters: ${allowed.join(', ') || 'none'}`, cmd);
    }
    const minStep = req.minStep ?? this.minStep;
    if (!(minStep >= 0)) throw new LabwireError('RangeError', `min_step must be 0 or more, not ${minStep}`, cmd);
    const programme = parseProgramme(req.format, req.data, req.loops);
    const integer = info.decl.type === 'int';
    checkLimits(programme, info.limits, info.decl.unit, integer);
    return { param: req.param, name: req.name ?? '', format: req.format, data: req.data, loops: programme.loops, minStep, programme, plan: planProgramme(programme), integer };
  }

  start(): void {
    const cmd = 'programme_start';
    if (this.host.readOnly) throw new LabwireError('ReadOnly', `daemon "${this.host.name}" is in read-only mode; ${cmd} refused`, cmd);
    if (!this.loaded) throw new LabwireError('ProtocolError', 'no programme loaded; programme_load it first', cmd);
    if (this.state === 'running') throw new LabwireError('IsBusy', `the programme on ${this.loaded.param} is already running`, cmd);
    if (this.state === 'paused') {
      this.host.log('info', `programme on ${this.loaded.param} resumed at ${fmt(this.progress())} %`);
    } else {
      this.pos = { cycle: 0, phase: 0, phaseMs: 0 };
      this.host.log('info', `programme on ${this.loaded.param} started`);
    }
    this.run();
  }

  /** @param by who asked (the connection's name), for the log. */
  pause(by?: string): void {
    const cmd = 'programme_pause';
    if (this.state !== 'running') throw new LabwireError('ProtocolError', `no programme is running (state ${this.state})`, cmd);
    this.tick();
    this.halt();
    this.state = 'paused';
    this.save(true);
    this.host.log('info', `programme on ${this.loaded!.param} paused${byWhom(by)} at ${fmt(this.progress())} %; ${this.loaded!.param} stays at ${this.shownApplied()}`);
  }

  /** @param by who asked (the connection's name), for the log. */
  stop(by?: string): void {
    const cmd = 'programme_stop';
    if (this.state !== 'running' && this.state !== 'paused') throw new LabwireError('ProtocolError', `no programme is running or paused (state ${this.state})`, cmd);
    if (this.state === 'running') this.tick();
    this.halt();
    this.state = 'stopped';
    this.save(true);
    // Somebody asked for it: news, not a warning (issue 15, defect 16).
    this.host.log('info', `programme on ${this.loaded!.param} stopped${byWhom(by)} at ${fmt(this.progress())} %; ${this.loaded!.param} stays at ${this.shownApplied()}`);
  }

  /**
   * Why a manual write of these parameters must be refused: a running programme drives one of them
   * and would undo the write at its next tick (issue 15, defect 3). Undefined when nothing stands
   * in the way; a paused or stopped programme does not (it writes nothing until started again).
   */
  conflictWith(params: readonly string[], command: string): LabwireError | undefined {
    if (this.state !== 'running' || !this.loaded || !params.includes(this.loaded.param)) return undefined;
    const { param, name, plan } = this.loaded;
    const ramps = (phases: Plan['phases']): number => phases.filter((ph) => ph.kind === 'ramp').length;
    const point = ramps(plan.phases.slice(0, this.pos.phase + 1));
    const cycle = plan.loops > 1 ? `, cycle ${Math.min(this.pos.cycle + 1, plan.loops)} of ${plan.loops}` : '';
    const what = name ? `programme ${name}` : 'a programme';
    return new LabwireError(
      'IsBusy',
      `${param} is driven by ${what} (point ${point} of ${ramps(plan.phases)}${cycle}); a manual ${command} would be undone at its next step: ` +
        `programme_pause or programme_stop it first (labwire programme pause|stop <address>)`,
      command,
    );
  }

  status(): Record<string, WireValue> {
    if (!this.loaded) return { state: this.state };
    const plan = this.loaded.plan;
    const finished = this.state === 'finished';
    const ph = plan.phases[this.pos.phase];
    const out: Record<string, WireValue> = {
      state: this.state,
      param: this.loaded.param,
      ...(this.loaded.name ? { name: this.loaded.name } : {}),
      progress: round(progressAt(plan, this.pos, finished), 1),
      elapsed_s: round(elapsedAt(plan, this.pos) / 1000, 1),
      total_s: round(plan.totalMs / 1000, 1),
      cycle: Math.min(this.pos.cycle + 1, plan.loops),
      loops: plan.loops,
      target: round(this.value(targetAt(plan, this.pos))),
      applied: this.lastApplied ?? null,
      phase: ph?.kind === 'hold' && !finished ? 'hold' : 'ramp',
      line: ph?.line ?? null,
    };
    const nx = finished || this.state === 'stopped' ? undefined : nextStep(plan, this.pos);
    if (nx && 'hold' in nx) out.next = 'hold';
    else if (nx) {
      out.next = round(nx.value);
      out.next_in_s = round(nx.inMs / 1000, 1);
    } else out.next = 'end';
    return out;
  }

  /**
   * The loaded programme's shape for a plot: one cycle's vertices as parallel lists (clock seconds
   * since the cycle's start, values, holds) and the number of loops. Holds stop the clock, so a
   * running programme's vertex times are its own clock, not wall time.
   */
  profile(): Record<string, WireValue> {
    if (!this.loaded) throw new LabwireError('ProtocolError', 'no programme loaded; programme_load one first', 'programme_profile');
    const v = profileVertices(this.loaded.plan);
    return {
      param: this.loaded.param,
      loops: this.loaded.plan.loops,
      cycle_s: round(this.loaded.plan.cycleMs / 1000, 3),
      n: v.length,
      t_s: v.map((p) => round(p.ms / 1000, 3)).join(' '),
      values: v.map((p) => this.value(p.value)).join(' '),
      holds: v.map((p) => (p.hold ? 1 : 0)).join(' '),
    };
  }

  /** At daemon start: restores a saved programme; a running one resumes or stops per policy. */
  restore(): void {
    if (!this.file || !fs.existsSync(this.file)) return;
    let saved: SavedState;
    try {
      saved = JSON.parse(fs.readFileSync(this.file, 'utf8')) as SavedState;
      if (saved.version !== 1) throw new Error(`unknown version ${String(saved.version)}`);
    } catch (err) {
      this.host.log('error', `programme state file ${this.file} is unreadable (${(err as Error).message}); no programme restored`);
      return;
    }
    try {
      this.loaded = this.compile({ param: saved.param, ...(saved.name ? { name: saved.name } : {}), format: saved.format, data: saved.data, loops: saved.loops, minStep: saved.minStep }, 'programme_restore');
    } catch (err) {
      this.host.log('error', `the saved programme on ${saved.param} no longer loads (${(err as Error).message}); it is not resumed`);
      this.state = 'none';
      return;
    }
    const phases = this.loaded.plan.phases.length;
    const p = saved.pos;
    const valid = p && Number.isInteger(p.cycle) && Number.isInteger(p.phase) && p.cycle >= 0 && p.cycle < this.loaded.plan.loops && p.phase >= 0 && p.phase < phases && p.phaseMs >= 0;
    this.pos = valid ? { ...p } : { cycle: 0, phase: 0, phaseMs: 0 };
    const wasActive = saved.state === 'running' || saved.state === 'paused';
    if (!wasActive) {
      this.state = saved.state === 'none' ? 'loaded' : saved.state;
      return;
    }
    const where = `${fmt(this.progress())} % done, cycle ${this.pos.cycle + 1}/${this.loaded.plan.loops}`;
    if (this.onRestart === 'stop' || !valid) {
      this.state = 'stopped';
      this.save(true);
      this.host.log(
        'warning',
        `a programme on ${saved.param} was ${saved.state} when the daemon stopped (${where}); ` +
          (valid ? 'onRestart=stop, so it is STOPPED' : 'its saved position is invalid, so it is STOPPED') +
          ` and ${saved.param} stays where it is. programme_start runs it again from the beginning.`,
      );
      return;
    }
    if (saved.state === 'paused') {
      this.state = 'paused';
      this.host.log('warning', `a paused programme on ${saved.param} was restored (${where}); programme_start resumes it`);
      return;
    }
    this.host.log('warning', `resuming the programme on ${saved.param} after a daemon restart (${where}; onRestart=resume)`);
    this.run();
  }

  /** At daemon stop: writes the position and stops the clock, leaving the saved state as it was. */
  close(): void {
    if (this.closed) return;
    this.save(true);
    this.closed = true;
    this.halt();
  }

  private run(): void {
    this.state = 'running';
    this.lastTick = Date.now();
    this.holdReady = false;
    this.lastApplied = undefined;
    this.save(true);
    this.halt();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.tick();
  }

  private halt(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.state !== 'running' || !this.loaded || this.closed) return;
    const now = Date.now();
    const dt = now - this.lastTick;
    this.lastTick = now;
    const plan = this.loaded.plan;
    const before = this.pos;
    const { pos, done } = advance(plan, this.pos, dt, () => this.holdReady && !this.applying && this.host.targetSettled(this.loaded!.param));
    const phaseChanged = pos.phase !== before.phase || pos.cycle !== before.cycle;
    if (phaseChanged) this.holdReady = false;
    this.pos = pos;
    const target = this.value(targetAt(plan, pos));
    if (done) {
      // Finished once the last value is on the device; until then every tick tries again.
      this.apply(target, true, () => {
        if (this.state !== 'running' || this.closed) return;
        this.state = 'finished';
        this.halt();
        this.save(true);
        this.host.log('success', `programme on ${this.loaded!.param} finished at ${target}`);
      });
      return;
    }
    const ph = plan.phases[pos.phase]!;
    if (ph.kind === 'hold') {
      if (!this.holdReady) this.apply(target, true, () => (this.holdReady = true));
    } else {
      // A dwell's value is a vertex of the profile: applied exactly, even when the ramp before it
      // ended within minStep of it (34.96 is not the 35 °C the file asks for).
      this.apply(target, phaseChanged || ph.from === ph.to);
    }
    this.save(phaseChanged);
  }

  /** Applies a target through `set` unless it is within minStep of the last applied (force: unless equal). */
  private apply(value: number, force: boolean, then?: () => void): void {
    const loaded = this.loaded!;
    // One write at a time; a forced one (hold, end) is tried again at the next tick.
    if (this.applying) return;
    const last = this.lastApplied;
    if (last !== undefined && (force ? last === value : Math.abs(value - last) <= loaded.minStep)) {
      then?.();
      return;
    }
    this.applying = this.host
      .setParams({ [loaded.param]: String(value) }, PROGRAMME_ACTOR)
      .then(
        (applied) => {
          const v = applied[loaded.param];
          this.lastApplied = value;
          if (typeof v === 'number' && Math.abs(v - value) > loaded.minStep) this.lastApplied = v;
          this.lastError = '';
          then?.();
        },
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          // Logged once per distinct failure; the next tick tries again.
          if (message !== this.lastError) this.host.log('warning', `programme could not set ${loaded.param}=${value}: ${message}; retrying`);
          this.lastError = message;
        },
      )
      .finally(() => {
        this.applying = undefined;
      });
  }

  /**
   * The last applied value for people: to the programme's resolution (minStep 0.01 → 2 decimals;
   * a ramp's interpolated 26.123456789 is 26.12), with the unit.
   */
  private shownApplied(): string {
    const v = this.lastApplied;
    if (v === undefined || !this.loaded) return 'its value';
    const step = this.loaded.minStep;
    const decimals = step > 0 ? Math.min(6, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9))) : 6;
    const unit = this.host.paramInfo(this.loaded.param)?.decl.unit;
    return `${round(v, decimals)}${unit ? ` ${unit}` : ''}`;
  }

  private value(v: number): number {
    return this.loaded?.integer ? Math.round(v) : Number(v.toPrecision(10));
  }

  private progress(): number {
    return this.loaded ? progressAt(this.loaded.plan, this.pos, this.state === 'finished') : 0;
  }

  private save(force: boolean): void {
    if (!this.file || this.closed || !this.loaded) return;
    const now = Date.now();
    if (!force && now - this.lastSaved < SAVE_EVERY_MS) return;
    this.lastSaved = now;
    const doc: SavedState = {
      version: 1,
      device: this.host.name,
      param: this.loaded.param,
      ...(this.loaded.name ? { name: this.loaded.name } : {}),
      format: this.loaded.format,
      data: this.loaded.data,
      loops: this.loaded.loops,
      minStep: this.loaded.minStep,
      state: this.state,
      pos: this.pos,
      savedAt: new Date(now).toISOString(),
    };
    const tmp = `${this.file}.tmp`;
    try {
      fs.writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
      fs.renameSync(tmp, this.file);
    } catch (err) {
      if (`save:${(err as Error).message}` !== this.lastError) this.host.log('error', `cannot write programme state ${this.file}: ${(err as Error).message}`);
      this.lastError = `save:${(err as Error).message}`;
    }
  }
}

function round(v: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function byWhom(by: string | undefined): string {
  return by ? ` by ${by}` : '';
}

function fmt(v: number): string {
  return String(round(v, 1));
}
