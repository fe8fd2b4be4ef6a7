/** A controllable clock for stepping simulator physics without waiting (labwire/testing). */
export function fakeClock(start = 0): { now: () => number; tick: (ms: number) => void } {
  let t = start;
  return { now: () => t, tick: (ms) => (t += ms) };
}
