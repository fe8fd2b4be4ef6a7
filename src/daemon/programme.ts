/**
 * Setpoint programmes, pure: parsing CSV and YAML profiles, checking them against a parameter's
 * limits, and the plan the ProgrammeRunner walks (docs/programmes.md). No timers, no I/O.
 *
 * A programme is a list of points (elapsed minutes, value) with optional "hold until stable"
 * steps between them, repeated `loops` times. Between two points the target ramps linearly; two
 * points at the same time make a step. A hold waits for the parameter's completion contract
 * (its target idle) before the programme clock moves on.
 */
import { LineCounter, parseDocument, isMap, isSeq, type Node as YamlNode } from 'yaml';
import { LabwireError } from '../wire/types.js';
import { parseDecimal } from '../wire/format.js';
import type { EffectiveLimits } from './values.js';

export type ProgrammeFormat = 'csv' | 'yaml';
export const PROGRAMME_FORMATS: readonly ProgrammeFormat[] = ['csv', 'yaml'];
/** Refuses absurd inputs before they cost memory or time. */
export const MAX_POINTS = 10_000;
export const MAX_LOOPS = 10_000;

export type ProgrammeStep =
  | { kind: 'point'; minutes: number; value: number; line: number }
  | { kind: 'hold'; line: number };

export interface Programme {
  format: ProgrammeFormat;
  steps: ProgrammeStep[];
  loops: number;
}

/** One phase of the plan: a ramp (ms = 0 is a step) or a hold until the target is stable. */
export type Phase =
  | { kind: 'ramp'; from: number; to: number; ms: number; line: number }
  | { kind: 'hold'; value: number; line: number };

export interface Plan {
  phases: Phase[];
  loops: number;
  /** Clock time of one cycle (holds not counted). */
  cycleMs: number;
  totalMs: number;
}

/** Where a running programme is: which cycle, which phase, and how far into a ramp. */
export interface Position {
  cycle: number;
  phase: number;
  phaseMs: number;
}

const CMD = 'programme_load';

function fail(code: 'ProtocolError' | 'WrongType' | 'RangeError', message: string): never {
  throw new LabwireError(code, message, CMD);
}


export function parseProgramme(format: string, text: string, loopsOverride?: number): Programme {
  let p: Programme;
  if (format === 'csv') p = parseCsv(text);
  else if (format === 'yaml') p = parseYaml(text);
  else fail('ProtocolError', `unknown programme format "${format}": expected csv or yaml`);
  if (loopsOverride !== undefined) p.loops = checkLoops(loopsOverride, 'loop');
  checkStructure(p);
  return p;
}

function checkLoops(n: unknown, where: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_LOOPS) {
    fail('WrongType', `${where}: loop must be a whole number from 1 to ${MAX_LOOPS}, not ${JSON.stringify(n)}`);
  }
  return n;
}

/**
 * `elapsed_minutes,value` per line; a first row of non-numeric cells is a header; blank lines and
 * lines starting with # are skipped. Rows must be sorted by time; equal times make a step.
 */
export function parseCsv(text: string): Programme {
  const steps: ProgrammeStep[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  let seenRow = false;
  let previous: { minutes: number; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const cells = raw.split(/[,;\t]/).map((c) => c.trim());
    const first = !seenRow;
    seenRow = true;
    if (first && cells.every((c) => parseDecimal(c) === undefined)) continue; // header
    if (cells.length !== 2) fail('ProtocolError', `line ${line}: expected 2 columns (elapsed_minutes,value), got ${cells.length}: "${raw}"`);
    const names = ['elapsed_minutes', 'value'];
    const nums = cells.map((c, col) => {
      const v = parseDecimal(c);
      if (v === undefined) fail('WrongType', `line ${line}, column ${col + 1} (${names[col]}): "${c}" is not a number`);
      return v;
    });
    const [minutes, value] = nums as [number, number];
    if (minutes < 0) fail('RangeError', `line ${line}: elapsed_minutes ${minutes} is negative`);
    if (previous && minutes < previous.minutes) {
      fail('ProtocolError', `line ${line}: elapsed_minutes ${minutes} comes after ${previous.minutes} on line ${previous.line}; rows must be sorted by time (equal times make a step)`);
    }
    previous = { minutes, line };
    steps.push({ kind: 'point', minutes, value, line });
    if (steps.length > MAX_POINTS) fail('ProtocolError', `line ${line}: more than ${MAX_POINTS} points`);
  }
  if (steps.length === 0) fail('ProtocolError', 'empty programme: no points (expected lines of elapsed_minutes,value)');
  return { format: 'csv', steps, loops: 1 };
}

/**
 * ```yaml
 * loop: 3
 * points:
 *   - {minutes: 0, value: 15}
 *   - {minutes: 5, value: 35}
 *   - hold: {until: stable}
 * ```
 */
export function parseYaml(text: string): Programme {
  if (text.trim() === '') fail('ProtocolError', 'empty programme: no points');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: unknown): number => {
    const range = (node as YamlNode | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : 0;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    fail('ProtocolError', `line ${lineCounter.linePos(e.pos[0]).line}: YAML error: ${e.message.split('\n', 1)[0]}`);
  }
  if (!isMap(doc.contents)) fail('ProtocolError', 'a YAML programme is a mapping with "points" (and optional "loop")');
  const root = doc.contents;
  for (const pair of root.items) {
    const key = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    if (key !== 'points' && key !== 'loop') fail('ProtocolError', `line ${lineOf(pair.key)}: unknown key "${key}"; keys: points, loop`);
  }
  const loopNode = root.get('loop', true);
  const loops = loopNode === undefined ? 1 : checkLoops((loopNode as { value?: unknown }).value, `line ${lineOf(loopNode)}`);
  const points = root.get('points', true);
  if (!isSeq(points)) fail('ProtocolError', 'a YAML programme needs "points", a list of {minutes, value} and {hold: {until: stable}}');
  if (points.items.length > MAX_POINTS) fail('ProtocolError', `more than ${MAX_POINTS} points`);
  const steps: ProgrammeStep[] = [];
  let previous: { minutes: number; line: number } | undefined;
  for (const item of points.items) {
    const line = lineOf(item);
    const obj: unknown = (item as { toJSON?: () => unknown }).toJSON?.() ?? item;
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      fail('ProtocolError', `line ${line}: a point is {minutes, value} or {hold: {until: stable}}`);
    }
    const rec = obj as Record<string, unknown>;
    if ('hold' in rec) {
      const hold = rec.hold as Record<string, unknown> | null;
      if (Object.keys(rec).length !== 1 || typeof hold !== 'object' || hold === null || hold.until !== 'stable' || Object.keys(hold).length !== 1) {
        fail('ProtocolError', `line ${line}: a hold is written {hold: {until: stable}}`);
      }
      steps.push({ kind: 'hold', line });
      continue;
    }
    const extra = Object.keys(rec).filter((k) => k !== 'minutes' && k !== 'value');
    if (extra.length > 0) fail('ProtocolError', `line ${line}: unknown key "${extra[0]}"; a point is {minutes, value}`);
    const num = (k: 'minutes' | 'value'): number => {
      const v = rec[k];
      if (v === undefined) fail('ProtocolError', `line ${line}: the point has no ${k}`);
      if (typeof v !== 'number' || !Number.isFinite(v)) fail('WrongType', `line ${line}, ${k}: ${JSON.stringify(v)} is not a number`);
      return v;
    };
    const minutes = num('minutes');
    const value = num('value');
    if (minutes < 0) fail('RangeError', `line ${line}: minutes ${minutes} is negative`);
    if (previous && minutes < previous.minutes) {
      fail('ProtocolError', `line ${line}: minutes ${minutes} comes after ${previous.minutes} on line ${previous.line}; points must be sorted by time (equal times make a step)`);
    }
    previous = { minutes, line };
    steps.push({ kind: 'point', minutes, value, line });
  }
  if (!steps.some((s) => s.kind === 'point')) fail('ProtocolError', 'empty programme: no points');
  return { format: 'yaml', steps, loops };
}

function checkStructure(p: Programme): void {
  const first = p.steps[0];
  if (first?.kind === 'hold') fail('ProtocolError', `line ${first.line}: a hold must follow a point (it holds that point's value)`);
}

/**
 * Every point must be within the parameter's effective limits; the whole programme is refused
 * otherwise, naming the first offending line.
 */
export function checkLimits(p: Programme, limits: EffectiveLimits, unit: string | undefined, integer = false): void {
  const u = unit ? ` ${unit}` : '';
  for (const s of p.steps) {
    if (s.kind !== 'point') continue;
    if (integer && !Number.isInteger(s.value)) fail('WrongType', `line ${s.line}: ${s.value} is not a whole number`);
    if (limits.min !== undefined && s.value < limits.min.value) {
      fail('RangeError', `line ${s.line}: ${s.value}${u} is below the ${limits.min.source} limit of ${limits.min.value}${u}`);
    }
    if (limits.max !== undefined && s.value > limits.max.value) {
      fail('RangeError', `line ${s.line}: ${s.value}${u} is above the ${limits.max.source} limit of ${limits.max.value}${u}`);
    }
  }
}

/** Turns the steps into phases: a 0 ms ramp to the first point, then a ramp (or step) per pair. */
export function planProgramme(p: Programme): Plan {
  const phases: Phase[] = [];
  let last: { minutes: number; value: number } | undefined;
  for (const s of p.steps) {
    if (s.kind === 'hold') {
      phases.push({ kind: 'hold', value: last!.value, line: s.line });
      continue;
    }
    const from = last?.value ?? s.value;
    const ms = last ? Math.round((s.minutes - last.minutes) * 60_000) : 0;
    phases.push({ kind: 'ramp', from, to: s.value, ms, line: s.line });
    last = s;
  }
  const cycleMs = phases.reduce((a, ph) => a + (ph.kind === 'ramp' ? ph.ms : 0), 0);
  return { phases, loops: p.loops, cycleMs, totalMs: cycleMs * p.loops };
}

/** One vertex of a profile: clock time since the cycle's start, value, and whether a hold waits there. */
export interface ProfileVertex {
  ms: number;
  value: number;
  hold: boolean;
}

/**
 * The vertices of one cycle, for drawing the profile: the first point at 0, the end of every ramp
 * (a step gives two vertices at one time) and every hold (at the time it starts; its length is
 * not known in advance).
 */
export function profileVertices(plan: Plan): ProfileVertex[] {
  const out: ProfileVertex[] = [];
  let ms = 0;
  for (const ph of plan.phases) {
    if (ph.kind === 'hold') {
      out.push({ ms, value: ph.value, hold: true });
      continue;
    }
    if (out.length === 0) out.push({ ms: 0, value: ph.from, hold: false });
    ms += ph.ms;
    if (ph.ms === 0 && out[out.length - 1]!.value === ph.to && !out[out.length - 1]!.hold) continue;
    out.push({ ms, value: ph.to, hold: false });
  }
  return out;
}

/** The target at a position: linear within a ramp, the held value in a hold. */
export function targetAt(plan: Plan, pos: Position): number {
  const ph = plan.phases[Math.min(pos.phase, plan.phases.length - 1)]!;
  if (ph.kind === 'hold') return ph.value;
  if (ph.ms <= 0 || pos.phaseMs >= ph.ms) return ph.to;
  return ph.from + ((ph.to - ph.from) * Math.max(0, pos.phaseMs)) / ph.ms;
}

/** Programme clock time done at a position (holds not counted). */
export function elapsedAt(plan: Plan, pos: Position): number {
  let ms = pos.cycle * plan.cycleMs;
  for (let i = 0; i < pos.phase && i < plan.phases.length; i++) {
    const ph = plan.phases[i]!;
    if (ph.kind === 'ramp') ms += ph.ms;
  }
  const cur = plan.phases[pos.phase];
  if (cur?.kind === 'ramp') ms += Math.min(pos.phaseMs, cur.ms);
  return ms;
}

/** Percent done: by clock time, or by phases when the programme has no duration (steps and holds only). */
export function progressAt(plan: Plan, pos: Position, finished: boolean): number {
  if (finished) return 100;
  if (plan.totalMs > 0) return Math.min(100, (100 * elapsedAt(plan, pos)) / plan.totalMs);
  const n = plan.phases.length * plan.loops;
  return n === 0 ? 100 : (100 * (pos.cycle * plan.phases.length + pos.phase)) / n;
}

/**
 * Moves a position on by `dtMs` of clock time. Ramps consume time; a hold is left only when
 * `stable(phase)` says so (the caller checks the completion contract). Returns the new position
 * and whether the programme is done.
 */
export function advance(plan: Plan, pos: Position, dtMs: number, stable: (phase: Phase) => boolean): { pos: Position; done: boolean } {
  let { cycle, phase, phaseMs } = pos;
  let left = Math.max(0, dtMs);
  for (let guard = 0; guard < plan.phases.length * 2 + 2; guard++) {
    const ph = plan.phases[phase]!;
    if (ph.kind === 'hold') {
      if (!stable(ph)) return { pos: { cycle, phase, phaseMs: 0 }, done: false };
    } else {
      phaseMs += left;
      if (phaseMs < ph.ms) return { pos: { cycle, phase, phaseMs }, done: false };
      left = phaseMs - ph.ms;
    }
    // This phase is complete: on to the next, the next cycle, or the end.
    phaseMs = 0;
    phase++;
    if (phase >= plan.phases.length) {
      if (cycle + 1 >= plan.loops) return { pos: { cycle, phase: plan.phases.length - 1, phaseMs: lastMs(plan) }, done: true };
      cycle++;
      phase = 0;
    }
    // A hold is checked once per call: its stability is about the value applied before it.
    if (plan.phases[phase]!.kind === 'hold') return { pos: { cycle, phase, phaseMs: 0 }, done: false };
  }
  return { pos: { cycle, phase, phaseMs }, done: false };
}

function lastMs(plan: Plan): number {
  const ph = plan.phases[plan.phases.length - 1];
  return ph?.kind === 'ramp' ? ph.ms : 0;
}

/** What comes next, for status: the value at the end of the current ramp or the next phase. */
export function nextStep(plan: Plan, pos: Position): { value: number; inMs: number } | { hold: true } | undefined {
  const ph = plan.phases[pos.phase];
  if (!ph) return undefined;
  if (ph.kind === 'ramp' && pos.phaseMs < ph.ms) return { value: ph.to, inMs: ph.ms - pos.phaseMs };
  let phase = pos.phase + 1;
  if (phase >= plan.phases.length) {
    if (pos.cycle + 1 >= plan.loops) return undefined;
    phase = 0;
  }
  const nx = plan.phases[phase]!;
  if (nx.kind === 'hold') return { hold: true };
  return { value: nx.to, inMs: nx.ms };
}
