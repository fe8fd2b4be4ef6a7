/** The Julabo FL chiller family: codec, driver, simulator, port detection and daemon definition. */
export {
  COMMAND_WORDS,
  STATUS_CODES,
  checkReply,
  checkRequestLine,
  commands,
  deviceError,
  encodeRequest,
  expectsReply,
  formatSetpoint,
  formatStatus,
  looksLikeJulaboVersion,
  parseDeviceError,
  parseMode,
  parseNumber,
  parseStatus,
  stateForStatus,
  statusCodeInfo,
  validators,
} from './codec.js';
export type { DeviceErrorReply, EncodeOptions, JulaboStatus, StatusCodeInfo, StatusKind } from './codec.js';
export { JULABO_SERIAL_DEFAULTS, JulaboDriver, julaboExchangeOptions, julaboSplitter } from './driver.js';
export type { JulaboDriverOptions } from './driver.js';
export {
  CHAR_TIME_MS,
  JULABO_FAULTS,
  JulaboSimulator,
  SIMULATED_VERSION,
  SIM_SETPOINT_MAX,
  SIM_SETPOINT_MIN,
  createJulaboSimulator,
  julaboSimulatorOptionsSchema,
} from './simulator.js';
export type { JulaboFault, JulaboSimulatorHooks, JulaboSimulatorOptions, JulaboSimulatorStats, TranscriptEntry } from './simulator.js';
export { AMBIENT_LOSS_W_PER_K, BATH_HEAT_CAPACITY_J_PER_K, COOLING_CAPACITY_POINTS, HEATER_W, ThermalModel, coolingCapacityW } from './physics.js';
export { detectJulaboPort, probeJulaboPort } from './detect.js';
export type { DetectJulaboOptions, ProbeResult } from './detect.js';
export { JULABO_MODELS, julaboDevice, julaboFamily, julaboOptionsSchema } from './device.js';
export type { JulaboModel, JulaboModelName, JulaboOptions } from './device.js';
