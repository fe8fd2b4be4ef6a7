/**
 * links/: byte links to hardware (TCP, serial, PTY for simulators), link URLs, reply splitters and
 * the Exchange that serializes and paces requests on one link.
 */
import { SerialLink } from './serial.js';
import { TcpLink } from './tcp.js';
import type { Link, LinkSpec } from './types.js';

export interface CreateLinkOptions {
  /** TCP only: give up connecting after this long. Default 5000 ms. */
  connectTimeoutMs?: number;
}

/** A closed Link for the spec; call `open()` (or hand a factory to an Exchange). */
export function createLink(spec: LinkSpec, options: CreateLinkOptions = {}): Link {
  switch (spec.kind) {
    case 'tcp':
      return new TcpLink(spec, options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {});
    case 'serial':
      return new SerialLink(spec);
  }
}

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
  WriteHint,
} from './types.js';
export { LinkError } from './types.js';
export type { SerialLinkSpec, SerialSettings, TcpLinkSpec } from './url.js';
export { DEFAULT_SERIAL_SETTINGS, describeSerialSettings, formatLinkSpec, parseLinkUrl } from './url.js';
export type { TcpLinkOptions } from './tcp.js';
export { TcpLink } from './tcp.js';
export { SerialLink, explainSerialOpenError } from './serial.js';
export type { LineSplitter, LineSplitterOptions } from './splitters.js';
export { ReplyTooLongError, fixedLengthSplitter, lineSplitter } from './splitters.js';
export type { ExchangeEvents } from './exchange.js';
export { Exchange, describeBytes } from './exchange.js';
export type { PtyPair } from './pty.js';
export { openPtyPair } from './pty.js';
