/** The Cryo-con Model 24C / 32 family: codec, driver, cryostat simulator and daemon definition. */
export {
  ALARM_CODES,
  ALARM_STATES,
  CHANNELS,
  CLOSED_LOOP_TYPES,
  CRYOCON_MODELS,
  DISPLAY_UNITS,
  HEATER_STATUSES,
  LOOP_RANGES,
  LOOP_TYPES,
  LOOPS,
  MAX_LINE_CHARS,
  MODEL_NAMES,
  NACK,
  OUT_OF_CALIBRATION,
  SENSOR_FAULT,
  checkRequestLine,
  deltaFromKelvin,
  deltaToKelvin,
  encodeRequest,
  formatFloat,
  formatHeaterPercent,
  formatPadded,
  formatValue,
  fromKelvin,
  heaterStatusInfo,
  isNack,
  joinCommands,
  keywordMatches,
  loopTypesFor,
  parseAlarm,
  parseHeaterPercent,
  parseNumber,
  parseOnOff,
  parsePadded,
  parseQuoted,
  parseReading,
  parseSource,
  parseSuffixed,
  quoteName,
  splitReply,
  toKelvin,
} from './codec.js';
export type { AlarmState, Channel, CryoconModelName, DisplayUnit, HeaterStatusKey, LineItem, LoopNumber, LoopRange, LoopType, Reading } from './codec.js';
export { CRYOCON_SERIAL_DEFAULTS, CryoconDriver, SENSOR_STATES, cryoconExchangeOptions, cryoconSplitter } from './driver.js';
export type { ChannelReadout, CryoconDriverOptions, CryoconIdentity, CryoconReadout, LoopReadout, SensorState } from './driver.js';
export {
  CryoconSimulator,
  HARDWARE_MIN_GAP_MS,
  createCryoconSimulator,
  cryoconSimulatorOptionsSchema,
  expandDottedKeys,
  parseCommand,
} from './simulator.js';
export type { CryoconFault, CryoconSimulatorHooks, CryoconSimulatorOptions, CryoconSimulatorStats, ReplyCorruption, TranscriptEntry } from './simulator.js';
export { CryostatModel, DEFAULT_CRYOSTAT, NODES, PidState, coolingPowerW, diodeVolts, heatCapacityAt } from './physics.js';
export type { CryostatParams, NodeName } from './physics.js';
export { cryoconDevice, cryoconFamily, cryoconOptionsSchema, cryoconStateOverride, readoutToParams } from './device.js';
export type { CryoconOptions } from './device.js';
