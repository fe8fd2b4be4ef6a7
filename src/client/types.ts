/** The public option, event and value types of the labwire client (re-exported by client.ts). */
import type { Command, OversizeInfo } from '../wire/index.js';

export interface TlsOptions {
  /** Trusted CA certificate(s), PEM; default: the system's. */
  ca?: string | Buffer;
  /** Default true: the client verifies the daemon's certificate. */
  rejectUnauthorized?: boolean;
  /** Name to verify the certificate against; default the host when it is a name. */
  servername?: string;
  /** A client certificate (PEM) for daemons that require one; goes with `key`. */
  cert?: string | Buffer;
  /** The private key of `cert` (PEM). */
  key?: string | Buffer;
}

export interface LabwireClientOptions {
  host: string;
  port: number;
  /** `true` for TLS with the system's CAs. */
  tls?: TlsOptions | boolean;
  /** Sent as `auth token=...` after every connect; never logged or put in messages. */
  token?: string;
  /** Sends `id name=<name> type=client` after every connect, so the daemon's logs name this peer. */
  name?: string;
  /** Keep reconnecting after a failure or a lost connection (default true). */
  reconnect?: boolean;
  /** Default timeout of each request (default 10000 ms). */
  requestTimeoutMs?: number;
  /** connect() rejects when not connected within this time; also bounds each connection attempt. */
  connectTimeoutMs?: number;
  /** Delay between attempts: starts at initialMs (250) and doubles up to maxMs (5000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Longest accepted reply or push line in bytes (default 8 MiB: a describe document can be long).
   * A longer line fails its request with LineTooLong and drops the connection (an `oversize`
   * event says so); nothing beyond the limit is buffered. Reconnecting follows as after any loss.
   */
  maxLineLength?: number;
  /** Largest binary reply accepted (default 1 GiB); a larger one is refused like a too-long line. */
  maxBinaryLength?: number;
  /** Which inbound lines are pushes (default: `update` and `log`). */
  isPush?: (cmd: Command, line: string) => boolean;
}

/** One `update` push: the daemon's time (unix ms) and the values that changed, as sent. */
export interface Update {
  t: number;
  values: Record<string, string>;
}

/** One `log` push, or a CCDLab notice line (`info <text>` ...) when isPush lets those through. */
export interface LogEntry {
  t: number;
  level: string;
  message: string;
  /** Who logged it, when the peer says (a monitor: the client's name, `alarms`, a script's name). */
  source?: string;
}

/** Current values as waitFor sees them: numbers, booleans and strings; null for a missing reading. */
export type Values = Record<string, string | number | boolean | null>;

export interface WaitForOptions {
  /** Reject with LabwireError('Timeout') after this long; default: wait for ever. */
  timeoutMs?: number;
  /** The condition must hold this long without a break (default 0: the first time it holds). */
  stableForMs?: number;
  signal?: AbortSignal;
  /** Poll interval when the peer cannot push updates (a CCDLab daemon); default 1000 ms. */
  pollMs?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

export interface LabwireClientEvents {
  /** Connected and, with a token, authenticated; subscriptions restored. */
  connected: [];
  /** An established connection was lost (not emitted by close()). */
  disconnected: [reason: string];
  /** A connection attempt failed; the next one follows after delayMs. */
  reconnecting: [info: { attempt: number; delayMs: number; error: Error }];
  /** Reconnecting stopped for good (e.g. the token was refused). */
  reconnectFailed: [error: Error];
  update: [update: Update];
  log: [entry: LogEntry];
  /** Every push line, including those handled as update or log. */
  push: [cmd: Command, line: string];
  /** A line that is neither a push nor a reply. */
  unsolicited: [cmd: Command, line: string];
  /** A reply or push over maxLineLength (or a binary reply over maxBinaryLength): the connection is dropped. */
  oversize: [info: OversizeInfo];
  /** close() was called. */
  close: [];
}
