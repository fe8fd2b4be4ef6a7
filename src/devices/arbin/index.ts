/** The Arbin battery cycler family (MITS Pro CTI): codec, driver, simulator and daemon definition. */
export * from './codec.js';
export { PASSWORD_VARIABLE, USERNAME_VARIABLE, parseDotEnv, resolveCredentials } from './credentials.js';
export type { CredentialSources } from './credentials.js';
export {
  BUILTIN_SCHEDULES,
  Cell,
  DEFAULT_CHARGE_LIMIT_V,
  DEFAULT_CV_CUTOFF_A,
  DEFAULT_DISCHARGE_LIMIT_V,
  OCV_TABLE,
  exitConditionText,
  ocv,
  parseSchedule,
  parseScheduleLibrary,
  stepText,
} from './battery.js';
export type { CellCounters, CellParams, CurrentSource, RunState, Schedule, Step } from './battery.js';
export { ARBIN_REPLY_TIMEOUT_MS, ArbinDriver, DRIVER_COMMANDS, MV_MIN_INTERVAL_MS, arbinExchangeOptions, arbinSplitter } from './driver.js';
export type { ArbinDriverOptions, ArbinSession, StartTestOptions } from './driver.js';
export { ArbinSimulator, arbinSimulatorOptionsSchema, createArbinSimulator, toPyctiFrame } from './simulator.js';
export type {
  ArbinSession as ArbinSimulatorSession,
  ArbinSimulatorHooks,
  ArbinSimulatorOptions,
  ArbinSimulatorStats,
  ArbinTranscriptEntry,
  ChannelFault,
} from './simulator.js';
export { ARBIN_PARAM_CHANNELS, arbinDevice, arbinFamily, arbinOptionsSchema, arbinParams, arbinStateOverride, channelValues, recordResult } from './device.js';
export type { ArbinOptions } from './device.js';
