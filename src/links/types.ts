/**
 * Types of the byte links to hardware. A Link moves bytes and says when it is up or down; an
 * Exchange puts one serialized, paced request/reply queue on top of a Link; a ReplySplitter cuts
 * the byte stream into replies the way one device family frames them (node-serialport's split of
 * binding / stream / parser).
 */
import type { EventEmitter } from 'node:events';

export type Parity = 'none' | 'even' | 'odd' | 'mark' | 'space';

/**
 * Names one link to hardware. `kind` is the URL scheme of the link kind that parsed it (tcp,
 * serial, or one a family or kit registered, such as gpib); the other fields belong to that kind.
 * Open on purpose: links/ cannot list kinds that device kits add.
 */
export interface LinkSpec {
  kind: string;
  [field: string]: unknown;
}

export interface TcpLinkSpec extends LinkSpec {
  kind: 'tcp';
  host: string;
  port: number;
}

export interface SerialLinkSpec extends LinkSpec {
  kind: 'serial';
  path: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: Parity;
  stopBits: 1 | 1.5 | 2;
  rtscts: boolean;
}

/** The line settings of a serial link: everything of its spec but the device path. */
export type SerialSettings = Pick<SerialLinkSpec, 'baudRate' | 'dataBits' | 'parity' | 'stopBits' | 'rtscts'>;

/** What the Exchange knows about a write: whether a reply is awaited, and how long it waits for one. */
export interface WriteHint {
  expectReply: boolean;
  timeoutMs: number;
}

/**
 * A byte transport. Events: `data` (Buffer), `close` (Error | undefined: why it closed).
 * `open` rejects with an Error whose message names the endpoint when the device cannot be reached.
 */
export interface Link extends EventEmitter {
  readonly spec: LinkSpec;
  /** Human-readable endpoint, e.g. `tcp://127.0.0.1:5050` or `/dev/ttyUSB0 4800 7E1`. */
  readonly description: string;
  open(): Promise<void>;
  /**
   * Sends bytes. Byte-stream links ignore `hint`; a message link (an instrument behind a GPIB bus)
   * needs it to know whether to address the instrument to talk after the write.
   */
  write(data: Buffer, hint?: WriteHint): Promise<void>;
  /** Drop bytes the OS holds for reading (serial: tcflush; tcp: nothing beyond our buffers). */
  flushInput(): Promise<void>;
  close(): Promise<void>;
  readonly isOpen: boolean;
}

/**
 * Cuts a byte stream into replies. Stateful; `reset()` forgets a partial reply after a timeout.
 * `push` may throw to report a corrupt frame (bad checksum, overlong line): the Exchange then fails
 * the request in flight with CommunicationFailed and the error's message, and resynchronises.
 */
export interface ReplySplitter {
  push(chunk: Buffer): Buffer[];
  reset(): void;
  /**
   * Optional: returns the bytes of an unfinished reply and forgets them. The Exchange calls it
   * before each write, so a fragment nobody asked for is reported as stray instead of silently
   * becoming the head of the next reply.
   */
  takePartial?(): Buffer;
}

/**
 * A query whose answer can come from that query only: what the Exchange sends to prove a link is
 * in step again after a timeout or a reply that cannot be right (Julabo `version`, Cryo-con
 * `*IDN?`, Arbin CTI `CONNECT`). Its answer must have a shape no other request accepts, so that
 * even a misplaced probe answer can never pass for another request's reply.
 */
export interface ResyncProbe {
  /** The request bytes with their terminator (strings are UTF-8 encoded). */
  request: Buffer | string;
  /**
   * Optional: makes the request anew for every probe (used instead of `request`). A protocol with
   * message ids (Archon) gives each probe a fresh id, so that a late reply to an earlier probe can
   * never pass for the answer to this one.
   */
  makeRequest?: () => Buffer | string;
  /** True only for the probe's own answer; anything else is discarded as stray. */
  isAnswer(reply: Buffer): boolean;
  /** How long to wait for the answer; default the exchange's timeoutMs. */
  timeoutMs?: number;
}

export interface ExchangeOptions {
  /** Minimum time between the starts of two consecutive requests (Julabo: 250 ms). */
  minGapMs?: number;
  /** Minimum time between a reply and the next request (Julabo: 10 ms). */
  gapAfterReplyMs?: number;
  /** Default reply timeout. */
  timeoutMs?: number;
  /**
   * Out of step (after a timeout, a reply that cannot be right, or bytes nobody asked for), the
   * line must be silent this long before the probe (or, without one, the next request) is sent.
   * Default: timeoutMs, so a reply up to one timeout late is drained, not paired.
   */
  resyncQuietMs?: number;
  /** The query that proves the link in step again; without one, silence alone has to do. */
  resyncProbe?: ResyncProbe;
  /**
   * How long the link may stay out of step (no reply taken since the first unanswered request was
   * written) before it counts as failed: the link is closed, 'down' is emitted, queued requests
   * fail, and the exchange reconnects. Detects the half-open link (socket or port open, nothing
   * answered) and a line that never falls silent. Default: timeoutMs + 2 × (resyncQuietMs + the
   * probe's timeout); at least timeoutMs + resyncQuietMs + the probe's timeout (one full resync).
   */
  silentLinkMs?: number;
  /** Reconnect back-off: first delay, factor 2, capped at maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called after every (re)connect before any queued request; a throw counts as a failed connect. */
  onConnect?: (exchange: ExchangeLike) => Promise<void>;
}

export interface RequestOptions {
  /** false: a set-only command that the device never answers (Julabo `out_…`). Default true. */
  expectReply?: boolean;
  timeoutMs?: number;
  /**
   * Rejects a reply that cannot belong to this request (returns false or throws): the request fails
   * with CommunicationFailed, the reply is never returned, and the link resynchronises.
   */
  validate?: (reply: Buffer) => boolean;
  /**
   * A request answered by several frames (the Archon FETCH: one binary block per 1024 bytes).
   * Called for each reply the validate accepted; true = more frames of this request follow. The
   * request then stays in flight and its timeout restarts with every frame, so `timeoutMs` is the
   * longest silence allowed between two frames, not the time for the whole answer. The request
   * resolves with the last frame (the one for which `more` returned false); the caller keeps what
   * it needs of the others inside `more`, so the Exchange holds no frame. A throw from `more`
   * counts like a refused frame: the request fails and the link resynchronises.
   */
  more?: (reply: Buffer) => boolean;
}

/** The part of an Exchange a driver needs; lets drivers be unit-tested against a fake. */
export interface ExchangeLike {
  request(data: Buffer | string, options?: RequestOptions): Promise<Buffer | undefined>;
  readonly isUp: boolean;
}

export type LinkErrorCode = 'CommunicationFailed' | 'Timeout' | 'Closed';

/**
 * Why a request did not get its reply. links/ imports nothing of labwire, so this is its own
 * class; the daemon maps the code one-to-one onto the protocol's error codes.
 */
export class LinkError extends Error {
  readonly code: LinkErrorCode;
  constructor(code: LinkErrorCode, message: string) {
    super(message);
    this.name = 'LinkError';
    this.code = code;
  }
}
