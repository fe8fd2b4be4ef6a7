/** The labwire client library for scripts, the CLI, the monitor and the bridges. */
export {
  LabwireClient,
  parseUpdate,
  convertValue,
  type LabwireClientOptions,
  type LabwireClientEvents,
  type TlsOptions,
  type Update,
  type LogEntry,
  type Values,
  type WaitForOptions,
  type RequestOptions,
} from './client.js';
export {
  parseCondition,
  compare,
  isMissing,
  type Condition,
  type ConditionValue,
  type ConditionValues,
  type Operator,
  type Term,
} from './condition.js';
