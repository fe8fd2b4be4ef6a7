/**
 * Small pieces every simulator's physics uses: reproducible noise and fixed-step integration that
 * gives the same result however often the model is read. Shared by device families (not a family).
 */

/** Small seeded PRNG (mulberry32): reproducible noise without a dependency. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a uniform source (Box–Muller). */
export function gaussian(uniform: () => number): () => number {
  return () => {
    const u = Math.max(uniform(), 1e-12);
    const v = uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/**
 * Steps a model on a fixed grid of `stepS` seconds up to a requested time. A jump of many hours
 * (a large time scale, a long idle) is taken in coarser steps up to a bound; beyond that the
 * model has long settled and the rest is skipped, so a read never stalls the event loop.
 */
export class StepClock {
  private steps = 0;

  constructor(
    readonly stepS: number,
    private readonly maxFineSteps = 200_000,
    private readonly maxCoarseFactor = 10,
  ) {}

  /** Simulated seconds integrated so far. */
  get time(): number {
    return this.steps * this.stepS;
  }

  advanceTo(seconds: number, step: (h: number) => void): void {
    const target = Math.floor(seconds / this.stepS + 1e-9);
    let due = target - this.steps;
    if (!(due > 0)) return;
    if (due > this.maxFineSteps) {
      const factor = Math.min(this.maxCoarseFactor, Math.ceil(due / this.maxFineSteps));
      const coarse = Math.min(Math.floor(due / factor), this.maxFineSteps);
      for (let i = 0; i < coarse; i++) step(this.stepS * factor);
      due = Math.min(due - coarse * factor, this.maxFineSteps);
    }
    for (let i = 0; i < due; i++) step(this.stepS);
    this.steps = target;
  }
}
