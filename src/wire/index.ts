/** The labwire line protocol: tokens, formatting, framing and connections (PROTOCOL.md). */
export * from './types.js';
export { tokenize, parseLine, lineBody, type Token } from './tokenize.js';
export {
  formatValue,
  parseDecimal,
  quote,
  formatPairs,
  formatCommand,
  makeCommand,
  formatOk,
  formatErrorReply,
  parseErrorReply,
  formatUpdate,
  formatLog,
  type LogLevel,
} from './format.js';
export { LineFramer, DEFAULT_MAX_LINE_LENGTH, type LineFramerOptions } from './framer.js';
export {
  LineConnection,
  defaultIsPush,
  formatBytes,
  type LineConnectionOptions,
  type OversizeInfo,
  type LineConnectionEvents,
  type RequestOptions,
  type FrameErrorInfo,
} from './connection.js';
