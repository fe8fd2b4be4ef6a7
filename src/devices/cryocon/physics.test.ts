import { describe, expect, it } from 'vitest';
import { CryostatModel, DEFAULT_CRYOSTAT, PidState, STEP_S, coolingPowerW, diodeVolts, heatCapacityAt, type HeaterFn } from './physics.js';

const allAt = (t: number) => ({ coldHead: t, stage: t, shield: t, sample: t });
const noHeat: HeaterFn = () => ({});

describe('cryostat physics', () => {
  it('heat capacity falls like T³ at low temperature, with a floor', () => {
    expect(heatCapacityAt(400, 300)).toBeCloseTo(400, 6);
    expect(heatCapacityAt(400, 80) / 400).toBeGreaterThan(0.4);
    expect(heatCapacityAt(400, 80) / 400).toBeLessThan(0.6);
    expect(heatCapacityAt(400, 4)).toBeCloseTo(400 * 0.05, 6);
  });

  it('cooling power is zero at the base, about 1 W a kelvin above it, and saturates', () => {
    expect(coolingPowerW(3, 60, 3)).toBe(0);
    expect(coolingPowerW(4, 60, 3)).toBeCloseTo(1, 1);
    expect(coolingPowerW(300, 60, 3)).toBeGreaterThan(59);
    expect(coolingPowerW(300, 60, 3)).toBeLessThanOrEqual(60);
  });

  it('cools down with the cryocooler and stays still without heat or cooling at ambient', () => {
    const cold = new CryostatModel(DEFAULT_CRYOSTAT, allAt(300));
    cold.advanceTo(4 * 3600, noHeat);
    expect(cold.temperatures.coldHead).toBeLessThan(30);
    expect(cold.temperatures.stage).toBeLessThan(60);
    expect(cold.temperatures.shield).toBeLessThan(100);
    const off = new CryostatModel({ ...DEFAULT_CRYOSTAT, cooler: false }, allAt(300));
    off.advanceTo(3600, noHeat);
    expect(off.temperatures).toEqual(allAt(300));
  });

  it('integrates on a fixed grid: reading it often or seldom gives the same trajectory', () => {
    const a = new CryostatModel(DEFAULT_CRYOSTAT, allAt(300));
    const b = new CryostatModel(DEFAULT_CRYOSTAT, allAt(300));
    a.advanceTo(1000, noHeat);
    for (let t = 0.07; t <= 1000; t += 0.37) b.advanceTo(t, noHeat);
    b.advanceTo(1000, noHeat);
    expect(b.temperatures).toEqual(a.temperatures);
    expect(a.time).toBeCloseTo(1000, 6);
    expect(Number.isInteger(Math.round(a.time / STEP_S))).toBe(true);
  });

  it('heater power warms its node and is reported', () => {
    const m = new CryostatModel({ ...DEFAULT_CRYOSTAT, cooler: false }, allAt(300));
    m.advanceTo(600, () => ({ sample: 5 }));
    expect(m.lastHeaterW.sample).toBe(5);
    expect(m.temperatures.sample).toBeGreaterThan(300);
    expect(m.temperatures.stage).toBeGreaterThan(300);
    expect(m.temperatures.shield).toBeCloseTo(300, 6);
  });

  it('passes the simulated time of each step to the heaters', () => {
    const m = new CryostatModel(DEFAULT_CRYOSTAT, allAt(300));
    const times: number[] = [];
    m.advanceTo(1, (_dt, _t, time) => (times.push(time), {}));
    expect(times.map((t) => Number(t.toFixed(6)))).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('shows a diode-like voltage falling with temperature', () => {
    expect(diodeVolts(300)).toBeCloseTo(0.52, 6);
    expect(diodeVolts(77)).toBeCloseTo(1.0, 6);
    expect(diodeVolts(4)).toBeCloseTo(1.64, 6);
  });
});

describe('PID loop', () => {
  it('is proportional with the integrator off, clamped to 0–100 %', () => {
    const pid = new PidState();
    expect(pid.step(1, 10, 8, { p: 10, i: 0, d: 0 })).toBe(20);
    expect(pid.step(1, 10, 0, { p: 20, i: 0, d: 0 })).toBe(100);
    expect(pid.step(1, 10, 12, { p: 10, i: 0, d: 0 })).toBe(0);
  });

  it('integrates the error over the integral time and does not wind up at a limit', () => {
    const pid = new PidState();
    // P·(e + ∫e/I): 1·(1 + 10·1/10) = 2 after ten seconds of a 1 K error.
    let out = 0;
    for (let i = 0; i < 10; i++) out = pid.step(1, 1, 0, { p: 1, i: 10, d: 0 });
    expect(out).toBeCloseTo(2, 6);
    const sat = new PidState();
    for (let i = 0; i < 1000; i++) sat.step(1, 100, 0, { p: 10, i: 10, d: 0 });
    const wound = sat.integral;
    // Once the error reverses, the output leaves the limit at once instead of after a long wind-down.
    expect(sat.step(1, 0, 1, { p: 10, i: 10, d: 0 })).toBeLessThan(100);
    expect(wound).toBeLessThan(10);
  });

  it('acts on the rate of change of the measurement, not on setpoint steps', () => {
    const pid = new PidState();
    pid.step(1, 10, 5, { p: 1, i: 0, d: 2 });
    expect(pid.step(1, 20, 5, { p: 1, i: 0, d: 2 })).toBe(15);
    expect(pid.step(1, 20, 6, { p: 1, i: 0, d: 2 })).toBeCloseTo(14 - 2, 6);
  });
});
