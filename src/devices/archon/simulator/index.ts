/** The Archon simulator: the family's `loadSimulator` imports `createArchonSimulator` from here. */
export { ArchonSimulator, createArchonSimulator, ARCHON_FAULTS, ARCHON_UNIT_FAULTS, type ArchonFault, type ArchonSimulatorStats, type TranscriptEntry } from './simulator.js';
export { archonSimulatorOptionsSchema, type ArchonSimulatorOptions } from './options.js';
export { modelImage, imageBytes, stampedFrame, testStars, hotColumn, IMAGE_MODEL, type ImageSpec } from './image-model.js';
export { DEMO_ACF, demoAcf } from '../demo-acf.js';
