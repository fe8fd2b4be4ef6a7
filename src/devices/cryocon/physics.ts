/**
 * A cryostat for the Cryo-con simulator: four lumped thermal nodes on a two-stage cryocooler.
 *
 *   ambient (room) ── each node, through its own parasitic conductance
 *   coldHead  ── cooled by the second stage (power rises with temperature), warmed by loop 2
 *   stage     ── sample stage on a weak link to the cold head, warmed by loop 1
 *   sample    ── mounted on the stage through a weaker link (lags the stage)
 *   shield    ── radiation shield on the first stage
 *
 * Heat capacities fall as T³ at low temperature (Debye-like, floored so the model stays stable),
 * the coolers give ~1 W just above their base temperature and saturate when warm. All figures are
 * assumptions chosen to look like a small GM-cooled cryostat: 300 K → 77 K on the stage in the
 * order of an hour. Pure and deterministic; the simulator adds the clock, the loops and noise.
 */
import { StepClock } from '../kits/sim/noise-and-clock.js';

export const NODES = ['coldHead', 'stage', 'shield', 'sample'] as const;
export type NodeName = (typeof NODES)[number];

export interface CryostatParams {
  /** Room temperature, K: where everything ends up without cooling. */
  ambient: number;
  /** The cryocooler runs. */
  cooler: boolean;
  /** Second stage: cooling power saturates at this, W. */
  coolerPowerW: number;
  /** Second stage: no cooling power at or below this, K. */
  baseTemperature: number;
  /** First stage (shield): saturated cooling power, W, and base temperature, K. */
  shieldCoolerPowerW: number;
  shieldBaseTemperature: number;
  /** Heat capacity of each node at 300 K, J/K. */
  heatCapacity: Record<NodeName, number>;
  /** Parasitic conductance of each node to the room, W/K (radiation, wiring, supports). */
  ambientLink: Record<NodeName, number>;
  /** Stage ↔ cold head, W/K. */
  stageLink: number;
  /** Sample ↔ stage, W/K. */
  sampleLink: number;
}

export const DEFAULT_CRYOSTAT: CryostatParams = {
  ambient: 300,
  cooler: true,
  coolerPowerW: 60,
  baseTemperature: 3,
  shieldCoolerPowerW: 100,
  shieldBaseTemperature: 25,
  heatCapacity: { coldHead: 200, stage: 400, shield: 2000, sample: 50 },
  ambientLink: { coldHead: 0.05, stage: 0.01, shield: 0.2, sample: 0.002 },
  stageLink: 0.2,
  sampleLink: 0.5,
};

/** Debye-like temperature of the heat-capacity curve, K (copper-like: ½ of the 300 K value at ~80 K). */
const THETA_K = 80;
/** Heat capacities never fall below this fraction of the 300 K value (keeps the explicit step stable). */
const CAPACITY_FLOOR = 0.05;
/** How fast the coolers saturate with temperature above their base, K. */
const COOLER_SCALE_K = 60;
const SHIELD_COOLER_SCALE_K = 80;

function debye(t: number): number {
  const x = Math.max(t, 0) / THETA_K;
  const x3 = x * x * x;
  return x3 / (1 + x3);
}
const DEBYE_300 = debye(300);

/** Heat capacity at `t` K of a node whose capacity at 300 K is `c300` J/K. */
export function heatCapacityAt(c300: number, t: number): number {
  return c300 * Math.max(CAPACITY_FLOOR, debye(t) / DEBYE_300);
}

/** Cooling power of a stage at `t` K: 0 at the base, about 1 W a kelvin above it, saturating at `maxW`. */
export function coolingPowerW(t: number, maxW: number, baseK: number, scaleK = COOLER_SCALE_K): number {
  if (t <= baseK) return 0;
  return maxW * (1 - Math.exp(-(t - baseK) / scaleK));
}

/**
 * Integration step, simulated seconds. The fastest node (the cold head near its base, ~10 J/K
 * against ~1.3 W/K) has a time constant of several seconds; loops with large gains are limited by
 * their output clamp. Steps lie on a fixed grid of simulated time, so the trajectory does not
 * depend on how often the model is read.
 */
export const STEP_S = 0.2;
/** Beyond this many steps in one go (~11 simulated hours) the model takes coarser steps. */
const MAX_FINE_STEPS = 200_000;
const MAX_COARSE_FACTOR = 10;

/** Heater power into each node for the next step, from the current temperatures (the control loops). */
export type HeaterFn = (dtS: number, temperatures: Readonly<Record<NodeName, number>>, timeS: number) => Partial<Record<NodeName, number>>;

export class CryostatModel {
  readonly params: CryostatParams;
  /** True node temperatures, K. */
  readonly temperatures: Record<NodeName, number>;
  /** Heater power that went into each node in the last step, W. */
  readonly lastHeaterW: Record<NodeName, number> = { coldHead: 0, stage: 0, shield: 0, sample: 0 };
  private readonly stepClock = new StepClock(STEP_S, MAX_FINE_STEPS, MAX_COARSE_FACTOR);
  /** Simulated time of the step being integrated (advances within advanceTo). */
  private clock = 0;

  constructor(params: CryostatParams, initial: Record<NodeName, number>) {
    this.params = params;
    this.temperatures = { ...initial };
  }

  /** Simulated seconds integrated so far. */
  get time(): number {
    return this.stepClock.time;
  }

  /** Integrates up to `seconds` of simulated time since the start. */
  advanceTo(seconds: number, heaters: HeaterFn): void {
    this.stepClock.advanceTo(seconds, (h) => this.step(h, heaters));
    this.clock = this.stepClock.time;
  }

  private step(h: number, heaters: HeaterFn): void {
    const p = this.params;
    const t = this.temperatures;
    this.clock += h;
    const power = heaters(h, t, this.clock);
    const flow: Record<NodeName, number> = { coldHead: 0, stage: 0, shield: 0, sample: 0 };
    for (const node of NODES) {
      const heater = Math.max(0, power[node] ?? 0);
      this.lastHeaterW[node] = heater;
      flow[node] += heater + p.ambientLink[node] * (p.ambient - t[node]);
    }
    const stageToHead = p.stageLink * (t.stage - t.coldHead);
    flow.stage -= stageToHead;
    flow.coldHead += stageToHead;
    const sampleToStage = p.sampleLink * (t.sample - t.stage);
    flow.sample -= sampleToStage;
    flow.stage += sampleToStage;
    if (p.cooler) {
      flow.coldHead -= coolingPowerW(t.coldHead, p.coolerPowerW, p.baseTemperature);
      flow.shield -= coolingPowerW(t.shield, p.shieldCoolerPowerW, p.shieldBaseTemperature, SHIELD_COOLER_SCALE_K);
    }
    for (const node of NODES) {
      // An explicit step must never carry a node through 0 K.
      t[node] = Math.max(0.1, t[node] + (flow[node] * h) / heatCapacityAt(p.heatCapacity[node], t[node]));
    }
  }
}

/**
 * State of one PID loop between steps. The law (an assumption; the vendor's is not in the
 * reference): output % = P·(e + ∫e dt / I + D·de/dt), derivative on the measurement, I = 0 turns
 * the integrator off, output clamped to 0–100 % with conditional integration against wind-up.
 */
export class PidState {
  integral = 0;
  private previous: number | undefined;

  reset(): void {
    this.integral = 0;
    this.previous = undefined;
  }

  step(dtS: number, setpoint: number, measured: number, gains: { p: number; i: number; d: number }): number {
    const error = setpoint - measured;
    const derivative = this.previous === undefined || dtS <= 0 ? 0 : -(measured - this.previous) / dtS;
    this.previous = measured;
    const proposed = gains.i > 0 ? this.integral + error * dtS : 0;
    const unclamped = gains.p * (error + (gains.i > 0 ? proposed / gains.i : 0) + gains.d * derivative);
    const output = Math.min(100, Math.max(0, unclamped));
    // Integrate only while the output is free, or when the error drives it back off a limit.
    const saturated = output !== unclamped;
    if (!saturated || Math.sign(error) !== Math.sign(unclamped - output)) this.integral = proposed;
    return output;
  }
}


/**
 * A silicon-diode-like sensor curve for display in sensor units (S): volts against kelvin, monotone
 * falling (about 1.64 V at 4 K, 1.0 V at 77 K, 0.52 V at 300 K). Illustrative, not a calibration.
 */
export function diodeVolts(kelvin: number): number {
  const t = Math.max(0, kelvin);
  if (t >= 77) return 1.0 - ((t - 77) * 0.48) / 223;
  return 1.0 + ((77 - t) * 0.64) / 73;
}
