/**
 * The labwire library: what scripts and other programs import.
 */
export * from './wire/index.js';
export {
  LabwireClient,
  parseCondition,
  type LabwireClientOptions,
  type Update,
  type LogEntry,
  type Values,
  type WaitForOptions,
  type Condition,
} from './client/index.js';
export { startDaemon, type Daemon, type DaemonOptions } from './daemon/daemon.js';
export * from './daemon/api.js';
export { numbered, paramsFor, vector, type ParamBuilders, type ParamOptions } from './daemon/declare.js';
export { resolveDevice, type ResolvedDevice } from './daemon/resolved-device.js';
export { deriveState, type DerivedState, type StateInput } from './daemon/state.js';
export { deviceFamilies, getFamily } from './devices/index.js';
export { parseLinkUrl, formatLinkSpec, registerLinkKind, knownLinkSchemes, type LinkKind } from './links/registry.js';
export type { LinkSpec } from './links/types.js';
export { VERSION } from './version.js';
