/**
 * The Cryo-con simulator's entry: the parts live in simulator/ (options, controller physics,
 * command table, SCPI dialect, wire); importers keep this path.
 */
export { CryoconSimulator, createCryoconSimulator } from './simulator/simulator.js';
export type { CryoconFault, CryoconSimulatorHooks, CryoconSimulatorStats, ReplyCorruption, TranscriptEntry } from './simulator/simulator.js';
export { HARDWARE_MIN_GAP_MS, cryoconSimulatorOptionsSchema, expandDottedKeys } from './simulator/options.js';
export type { CryoconSimulatorOptions, SensorState } from './simulator/options.js';
export { parseCommand } from './simulator/scpi-tree.js';
