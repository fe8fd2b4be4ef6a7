/** Moved to kits/sim/ (decision 0011); kept so importers on other branches keep compiling. */
export { StepClock, gaussian, seededRandom } from './kits/sim/noise-and-clock.js';
