/**
 * Thermal model of an FL1703 with its bath: one lumped heat capacity, loss to ambient, a PI
 * controller whose output is limited by the refrigeration capacity (which falls with bath
 * temperature) and by a small heater. Pure and deterministic; the simulator adds time and noise.
 */
import { StepClock } from '../kits/sim/noise-and-clock.js';

/** About 15 l of water/glycol (the manual gives a 12–17 l filling volume): ~57 kJ/K. */
export const BATH_HEAT_CAPACITY_J_PER_K = 57_000;

/**
 * Heat exchange with the room, W/K. Assumed: an insulated bath with short hoses. Small enough that
 * the unit reaches its −20 °C limit at 22 °C ambient, as the manual's working range implies.
 */
export const AMBIENT_LOSS_W_PER_K = 6;

/** Heating power, W. Assumed: the manual gives no figure; it only matters above ambient. */
export const HEATER_W = 500;

/**
 * Cooling capacity with water/glycol from the manual: 1.70 kW at +20 °C, 0.9–1.0 kW at 0 °C,
 * 0.6–0.75 kW at −10 °C. The −20 °C point is a linear extrapolation; above +20 °C the capacity is
 * held at 1.70 kW rather than guessed upward.
 */
export const COOLING_CAPACITY_POINTS: readonly (readonly [celsius: number, watts: number])[] = [
  [-20, 350],
  [-10, 650],
  [0, 950],
  [20, 1700],
];

export function coolingCapacityW(celsius: number): number {
  const pts = COOLING_CAPACITY_POINTS;
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  if (celsius >= last[0]) return last[1];
  if (celsius <= first[0]) {
    const second = pts[1]!;
    const slope = (second[1] - first[1]) / (second[0] - first[0]);
    return Math.max(0, first[1] + slope * (celsius - first[0]));
  }
  for (let i = 1; i < pts.length; i++) {
    const [t1, w1] = pts[i]!;
    const [t0, w0] = pts[i - 1]!;
    if (celsius <= t1) return w0 + ((w1 - w0) * (celsius - t0)) / (t1 - t0);
  }
  return last[1];
}

/** Controller gains: full cooling power within about 1 K of the setpoint, no steady offset. */
const KP_W_PER_K = 2000;
const TI_S = 120;
/**
 * Integration step in simulated seconds, far below the loop's ~28 s time constant. Steps sit on a
 * fixed grid of simulated time, so the trajectory is the same however often the model is read.
 */
export const STEP_S = 0.5;
/** Beyond this many steps in one go (~28 simulated hours) the model takes coarser steps. */
const MAX_FINE_STEPS = 200_000;
/** Explicit Euler stays stable below 2·C/Kp ≈ 57 s; coarse steps stay well below that. */
const MAX_COARSE_FACTOR = 40;

export interface ThermalInputs {
  running: boolean;
  setpoint: number;
  ambient: number;
  /** External heat into the bath (an experiment's load), W. */
  heatLoadW: number;
  /** Multiplies the cooling capacity (a fouled condenser lowers it). */
  coolingFactor: number;
}

export class ThermalModel {
  /** Bath temperature, °C: the true value, never touched by measurement noise. */
  temperature: number;
  private integral = 0;
  private readonly clock = new StepClock(STEP_S, MAX_FINE_STEPS, MAX_COARSE_FACTOR);
  /** Heat the unit put in (+) or took out (−) in the last step, W. */
  lastPowerW = 0;

  constructor(initialTemperature: number) {
    this.temperature = initialTemperature;
  }

  /** Simulated seconds integrated so far. */
  get time(): number {
    return this.clock.time;
  }

  /** Integrates up to `seconds` of simulated time since the start, on the fixed step grid. */
  advanceTo(seconds: number, inputs: ThermalInputs): void {
    this.clock.advanceTo(seconds, (h) => this.step(h, inputs));
  }

  /** Integrates `seconds` more of simulated time. */
  advance(seconds: number, inputs: ThermalInputs): void {
    if (seconds > 0) this.advanceTo(this.time + seconds, inputs);
  }

  private step(h: number, inputs: ThermalInputs): void {
    const t = this.temperature;
    let power = 0;
    if (inputs.running) {
      const error = inputs.setpoint - t;
      const demand = KP_W_PER_K * (error + this.integral / TI_S);
      const maxCool = coolingCapacityW(t) * inputs.coolingFactor;
      power = Math.min(HEATER_W, Math.max(-maxCool, demand));
      // Conditional integration: no wind-up while the output is pinned at a limit.
      const saturated = power !== demand;
      if (!saturated || Math.sign(error) !== Math.sign(demand)) this.integral += error * h;
    } else {
      this.integral = 0;
    }
    this.lastPowerW = power;
    const loss = AMBIENT_LOSS_W_PER_K * (inputs.ambient - t);
    this.temperature = t + ((power + loss + inputs.heatLoadW) * h) / BATH_HEAT_CAPACITY_J_PER_K;
  }
}
