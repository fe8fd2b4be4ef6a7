import { describe, expect, it } from 'vitest';
import { BUILTIN_SCHEDULES, Cell, OCV_TABLE, exitConditionText, ocv, parseSchedule, parseScheduleLibrary, stepText } from './battery.js';

const params = { capacityAh: 2, resistanceOhm: 0.05, maxCurrentA: 10 };
const noMv = (): number => 0;

describe('open-circuit voltage', () => {
  it('rises with state of charge through the table points', () => {
    for (const [soc, v] of OCV_TABLE) expect(ocv(soc)).toBeCloseTo(v, 12);
    expect(ocv(0.55)).toBeCloseTo(3.775, 12);
    for (let s = -0.02; s < 1.05; s += 0.01) expect(ocv(s + 0.01)).toBeGreaterThan(ocv(s));
    expect(ocv(-1)).toBe(2.5);
    expect(ocv(2)).toBe(4.5);
  });
});

describe('schedule format', () => {
  it('parses every built-in schedule', () => {
    for (const [name, text] of Object.entries(BUILTIN_SCHEDULES)) expect(parseSchedule(name, text).steps.length).toBeGreaterThan(0);
    expect(parseSchedule('Cycle.sdx', BUILTIN_SCHEDULES['Cycle.sdx']!).repeat).toBe(3);
  });

  it('reads currents, meta variables, limits, durations and defaults', () => {
    const s = parseSchedule('t', 'rest 10m\ncharge 2A to 4.1V for 1h; cv 4.1 until 0.1A; discharge ud3; charge mv_ud16 to 4.0');
    expect(s.steps).toEqual([
      { kind: 'rest', seconds: 600 },
      { kind: 'charge', current: { amps: 2 }, limitV: 4.1, maxSeconds: 3600 },
      { kind: 'cv', volts: 4.1, untilA: 0.1 },
      { kind: 'discharge', current: { mv: 3 }, limitV: 3.0 },
      { kind: 'charge', current: { mv: 16 }, limitV: 4.0 },
    ]);
    expect(parseScheduleLibrary('a.sdx: rest 1 | b.sdx: charge 1; repeat 2').map((x) => [x.name, x.steps.length, x.repeat])).toEqual([
      ['a.sdx', 1, 1],
      ['b.sdx', 1, 2],
    ]);
  });

  it('refuses mistakes with the step that holds them', () => {
    expect(() => parseSchedule('t', 'boil 5')).toThrow('schedule t step 1 ("boil 5"): unknown step "boil"');
    expect(() => parseSchedule('t', 'rest')).toThrow(/rest takes one duration/);
    expect(() => parseSchedule('t', 'charge ud17')).toThrow(/UD17 does not exist/);
    expect(() => parseSchedule('t', 'cv 4.2 to 3')).toThrow(/use "until <amps>"/);
    expect(() => parseSchedule('t', 'repeat 2; rest 1')).toThrow(/repeat must be the last step/);
    expect(() => parseSchedule('t', ' ; ')).toThrow(/has no steps/);
    expect(() => parseScheduleLibrary('no colon here')).toThrow(/not "name: steps"/);
  });

  it('formats step text like a real capture and exit conditions for people', () => {
    const s = parseSchedule('t', 'rest 60; charge 1 to 4.2');
    expect(stepText(s, 0, 1)).toBe('[1] 1: Step_A, Rest');
    expect(stepText(s, 1, 2)).toBe('[2] 2: Step_B, CC Charge');
    expect(exitConditionText(s.steps[1])).toBe('Voltage >= 4.2 V');
    expect(exitConditionText(undefined)).toBe('N/A');
  });
});

describe('cell under a schedule', () => {
  it('CC charge to 4.2 V, CV until 0.05 A, then rest; counters add up', () => {
    const cell = new Cell(params, 0.5);
    cell.start(parseSchedule('Charge.sdx', BUILTIN_SCHEDULES['Charge.sdx']!), noMv);
    expect(cell.current).toBe(1);
    expect(cell.voltage).toBeCloseTo(3.75 + 0.05, 9);
    cell.advance(600, noMv);
    expect(cell.step?.kind).toBe('charge');
    expect(cell.voltage).toBeGreaterThan(3.8);
    // Far enough for the CC phase to end exactly at 4.2 V.
    let guard = 0;
    while (cell.step?.kind === 'charge' && guard++ < 100) cell.advance(60, noMv);
    expect(cell.step?.kind).toBe('cv');
    expect(cell.voltage).toBeCloseTo(4.2, 6);
    cell.advance(30, noMv);
    expect(cell.current).toBeLessThan(1);
    expect(cell.current).toBeGreaterThan(0.05);
    expect(cell.voltage).toBeCloseTo(4.2, 9);
    guard = 0;
    while (cell.step?.kind === 'cv' && guard++ < 1000) cell.advance(10, noMv);
    expect(cell.step?.kind).toBe('rest');
    expect(cell.current).toBe(0);
    const charged = cell.counters.chargeCapacity;
    expect(charged).toBeCloseTo((cell.soc - 0.5) * 2, 9);
    expect(cell.counters.chargeEnergy / charged).toBeGreaterThan(3.8);
    expect(cell.counters.chargeEnergy / charged).toBeLessThan(4.2);
    cell.advance(600, noMv);
    expect(cell.run).toBeUndefined();
    expect(cell.finished).toBe(true);
    expect(cell.lastRun?.stepIndex).toBe(2);
  });

  it('one big jump of the clock ends in the same state as many small ones', () => {
    const schedule = parseSchedule('Cycle.sdx', BUILTIN_SCHEDULES['Cycle.sdx']!);
    const a = new Cell(params, 0.3);
    const b = new Cell(params, 0.3);
    a.start(schedule, noMv);
    b.start(schedule, noMv);
    a.advance(15_000, noMv);
    for (let t = 0; t < 15_000; t += 7.3) b.advance(Math.min(7.3, 15_000 - t), noMv);
    expect(a.run?.stepIndex).toBe(b.run?.stepIndex);
    expect(a.run?.cycle).toBe(b.run?.cycle);
    expect(a.soc).toBeCloseTo(b.soc, 6);
    expect(a.counters.chargeCapacity).toBeCloseTo(b.counters.chargeCapacity, 6);
    expect(a.counters.dischargeCapacity).toBeCloseTo(b.counters.dischargeCapacity, 6);
  });

  it('discharges to the limit and repeats the cycles it was told to', () => {
    const cell = new Cell(params, 0.9);
    cell.start(parseSchedule('c', 'discharge 2 to 3.5; charge 2 to 3.9; repeat 3'), noMv);
    expect(cell.current).toBe(-2);
    cell.advance(100_000, noMv);
    expect(cell.finished).toBe(true);
    expect(cell.lastRun?.cycle).toBe(3);
    expect(cell.counters.dischargeCapacity).toBeGreaterThan(0);
    expect(cell.counters.dischargeEnergy).toBeGreaterThan(0);
  });

  it('takes the current of a meta-variable step from the MV, clamped to the channel range', () => {
    const cell = new Cell({ ...params, maxCurrentA: 3 }, 0.5);
    const mv = [0];
    const read = (ud: number): number => mv[ud - 1] ?? 0;
    cell.start(parseSchedule('MV_Charge.sdx', BUILTIN_SCHEDULES['MV_Charge.sdx']!), read);
    cell.advance(100, read);
    expect(cell.current).toBe(0);
    expect(cell.soc).toBe(0.5);
    mv[0] = 1.5;
    cell.advance(100, read);
    expect(cell.current).toBe(1.5);
    expect(cell.soc).toBeCloseTo(0.5 + (1.5 * 100) / 3600 / 2, 9);
    mv[0] = 1e6;
    cell.advance(1, read);
    expect(cell.current).toBe(3);
  });

  it('stop keeps the run for resume, which restarts the step', () => {
    const cell = new Cell(params, 0.5);
    cell.start(parseSchedule('r', 'rest 100; rest 100'), noMv);
    cell.advance(150, noMv);
    const run = cell.stop()!;
    expect(run.stepIndex).toBe(1);
    expect(cell.run).toBeUndefined();
    cell.resume(run, noMv);
    expect(cell.run?.stepTime).toBe(0);
    expect(cell.run?.testTime).toBe(150);
    cell.advance(99, noMv);
    expect(cell.run).toBeDefined();
    cell.advance(2, noMv);
    expect(cell.finished).toBe(true);
  });
});
