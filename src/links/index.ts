/**
 * links/: byte links to hardware (TCP, serial, PTY for simulators), link URLs, reply splitters and
 * the registry of link kinds by URL scheme, the Exchange that serializes and paces requests on one link.
 */
export type {
  ExchangeLike,
  ExchangeOptions,
  Link,
  LinkErrorCode,
  LinkSpec,
  Parity,
  ReplySplitter,
  RequestOptions,
  ResyncProbe,
  SerialLinkSpec,
  SerialSettings,
  TcpLinkSpec,
  WriteHint,
} from './types.js';
export { LinkError } from './types.js';
export type { CreateLinkOptions, LinkKind, LinkParseContext } from './registry.js';
export { createLink, describeLinkSpec, formatLinkSpec, knownLinkSchemes, parseLinkUrl, registerLinkKind } from './registry.js';
export { DEFAULT_SERIAL_SETTINGS, describeSerialSettings } from './url.js';
export type { TcpLinkOptions } from './tcp.js';
export { TcpLink, tcpLinkKind } from './tcp.js';
export { SerialLink, explainSerialOpenError, serialLinkKind } from './serial.js';
export type { LineSplitter, LineSplitterOptions } from './splitters.js';
export { ReplyTooLongError, fixedLengthSplitter, lineSplitter } from './splitters.js';
export type { ExchangeEvents } from './exchange.js';
export { Exchange, describeBytes } from './exchange.js';
export type { PtyPair } from './pty.js';
export { openPtyPair } from './pty.js';
