/**
 * A labwire connection over a byte stream (net.Socket, tls.TLSSocket or any Duplex).
 *
 * Server side (a daemon): every inbound line is emitted as `line`; replies go out with send().
 * Client side: request() pipelines requests and pairs replies with them strictly in order, while
 * push lines (`update`, `log`) and lines nobody asked for are emitted apart and never paired.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { LineFramer } from './framer.js';
import { parseLine } from './tokenize.js';
import { LabwireError, type Command, type Frame, type Reply } from './types.js';

export interface LineConnectionOptions {
  /** Longest accepted inbound line in bytes (default 65536). */
  maxLineLength?: number;
  /** Which inbound lines are push lines, never paired with a request. Default: first token `update` or `log`. */
  isPush?: (cmd: Command, line: string) => boolean;
  /** Default timeout of request() in ms (default 10000); 0 waits for ever. */
  requestTimeoutMs?: number;
  /** Largest binary block a `binary ... size=<n>` reply may announce (default 1 GiB). */
  maxBinaryLength?: number;
  /**
   * Close the connection at the first inbound line over maxLineLength instead of discarding it
   * and reading on (default false). For clients: a peer that floods one reply must cost no more
   * than the limit, not the whole flood read and thrown away.
   */
  closeOnOversize?: boolean;
}

/** An inbound line or binary block over the limit, reported just before the connection closes. */
export interface OversizeInfo {
  kind: 'line' | 'binary';
  /** The request it answered; undefined for a line with no request waiting (a push). */
  command: string | undefined;
  /** The limit in bytes (maxLineLength or maxBinaryLength). */
  limit: number;
  /** The announced size of a binary block. */
  size?: number;
  /** For people: what came, what the limit is, that the connection was closed. */
  message: string;
}

export interface RequestOptions {
  /** Overrides the connection's requestTimeoutMs; 0 waits for ever. */
  timeoutMs?: number;
}

export interface FrameErrorInfo {
  code: 'LineTooLong' | 'ProtocolError';
  message: string;
}

export interface LineConnectionEvents {
  /** Every non-blank inbound line, before it is classified. */
  line: [text: string];
  /** An inbound line that was too long, not UTF-8, or (client side) could not be tokenized. */
  frameError: [error: FrameErrorInfo];
  /** A push line (see isPush). */
  push: [cmd: Command, line: string];
  /** A line that is neither a push nor the reply to a pending request. */
  unsolicited: [cmd: Command, line: string];
  /** The peer finished sending (half-close); the connection may still write. */
  end: [];
  /** An inbound line or binary block over its limit (closeOnOversize, or any binary block): the connection is being closed. */
  oversize: [info: OversizeInfo];
  /** The stream closed; all pending requests have been rejected. */
  close: [hadError?: Error];
}

export function defaultIsPush(cmd: Command): boolean {
  return cmd.name === 'update' || cmd.name === 'log';
}

const BLANK = /^[ \t\r\n\v\f]*$/;
const TERMINATORS = /[\n\r\0]/;

interface Slot {
  /** The command name only: the line may hold a token and must not reach error messages. */
  name: string;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** Settled already (timed out or failed): a reply that still comes is consumed and dropped. */
  done: boolean;
}

/** First word of a request, for error messages. */
function commandName(line: string): string {
  return line.trim().split(/[ \t]+/, 1)[0] ?? '-';
}

function describeDuration(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Bytes for people: `16 MiB`, `700.5 MiB`, `512 bytes`. */
export function formatBytes(n: number): string {
  const units: [number, string][] = [[1 << 30, 'GiB'], [1 << 20, 'MiB'], [1 << 10, 'KiB']];
  for (const [size, unit] of units) if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  return `${n} bytes`;
}

export class LineConnection extends EventEmitter<LineConnectionEvents> {
  private readonly socket: Duplex;
  private readonly framer: LineFramer;
  private readonly isPush: (cmd: Command, line: string) => boolean;
  private readonly requestTimeoutMs: number;
  private readonly maxBinaryLength: number;
  private readonly closeOnOversize: boolean;
  /** Requests awaiting their reply, oldest first; `head` avoids O(n) shifts. */
  private slots: (Slot | undefined)[] = [];
  private head = 0;
  /** A `binary` reply whose bytes are being collected. */
  private binaryReply: { slot: Slot; line: string; command: Command } | null = null;
  private closedFlag = false;
  private lastError: Error | undefined;

  constructor(socket: Duplex, options: LineConnectionOptions = {}) {
    super();
    this.socket = socket;
    this.framer = new LineFramer({ maxLineLength: options.maxLineLength });
    this.isPush = options.isPush ?? defaultIsPush;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.maxBinaryLength = options.maxBinaryLength ?? 1 << 30;
    this.closeOnOversize = options.closeOnOversize ?? false;

    socket.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      // Replies to a chunk of pipelined requests leave in one write instead of one per line.
      const batch = bytes.indexOf(10) !== bytes.lastIndexOf(10);
      if (batch) socket.cork();
      try {
        this.framer.push(bytes, (frame) => this.onFrame(frame));
      } finally {
        if (batch) process.nextTick(() => socket.uncork());
      }
    });
    // Without a listener an 'error' would be thrown; 'close' follows and reports it.
    socket.on('error', (err: Error) => {
      this.lastError ??= err;
    });
    socket.on('end', () => this.emit('end'));
    socket.on('close', () => this.onClose());
    if (socket.destroyed) queueMicrotask(() => this.onClose());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get remoteAddress(): string | undefined {
    return (this.socket as Partial<{ remoteAddress: string }>).remoteAddress;
  }

  get remotePort(): number | undefined {
    return (this.socket as Partial<{ remotePort: number }>).remotePort;
  }

  /** Bytes written but not yet handed to the OS: watch it for slow readers. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** Requests sent and not yet answered (timed-out ones included until their reply comes). */
  get pendingCount(): number {
    return this.slots.length - this.head + (this.binaryReply ? 1 : 0);
  }

  /**
   * Writes one line and its `\n`. Returns false when the stream's buffer is full (wait for
   * 'drain' on the socket) or the connection is closed. Throws if the line holds a terminator,
   * which would turn it into two lines.
   */
  send(line: string): boolean {
    if (TERMINATORS.test(line)) throw new LabwireError('ProtocolError', 'a line must not contain LF, CR or NUL');
    if (this.closedFlag || !this.socket.writable) return false;
    return this.socket.write(line + '\n');
  }

  /** Writes a `binary <kind> size=<n> ...` line and then the n bytes. */
  sendBinary(headerLine: string, data: Buffer): boolean {
    const header = parseLine(headerLine);
    if (header.name !== 'binary' || header.kwargs.size !== String(data.length)) {
      throw new LabwireError('ProtocolError', `a binary header must be 'binary <kind> size=${data.length} ...'`);
    }
    if (TERMINATORS.test(headerLine)) throw new LabwireError('ProtocolError', 'a line must not contain LF, CR or NUL');
    if (this.closedFlag || !this.socket.writable) return false;
    this.socket.write(headerLine + '\n');
    return this.socket.write(data);
  }

  /**
   * Sends a request and resolves with its reply. Replies are paired in order. A request that times
   * out rejects with LabwireError('Timeout') but keeps its place, so that its late reply is consumed
   * and dropped instead of being taken for the reply to a later request. An `error ...` reply
   * resolves like any other: interpreting it is the caller's business.
   */
  request(line: string, options: RequestOptions = {}): Promise<Reply> {
    const name = commandName(line);
    if (this.closedFlag || !this.socket.writable) {
      return Promise.reject(new LabwireError('CommunicationFailed', 'connection is closed', name));
    }
    if (TERMINATORS.test(line)) {
      return Promise.reject(new LabwireError('ProtocolError', 'a request must not contain LF, CR or NUL', name));
    }
    if (BLANK.test(line)) {
      // A blank line gets no reply; waiting for one would shift every later pairing.
      return Promise.reject(new LabwireError('ProtocolError', 'an empty request gets no reply', name));
    }
    return new Promise<Reply>((resolve, reject) => {
      const slot: Slot = { name, resolve, reject, timer: undefined, done: false };
      const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
      if (timeoutMs > 0) {
        slot.timer = setTimeout(() => {
          slot.done = true;
          reject(new LabwireError('Timeout', `no reply to ${name} within ${describeDuration(timeoutMs)}`, name));
        }, timeoutMs);
      }
      this.slots.push(slot);
      this.socket.write(line + '\n');
    });
  }

  /** Ends the stream after the written data is flushed; destroys it if the peer has not closed within `timeoutMs`. */
  close(timeoutMs = 2000): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
      this.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }

  private nextSlot(): Slot | undefined {
    if (this.head >= this.slots.length) return undefined;
    const slot = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head++;
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    return slot;
  }

  private settle(slot: Slot, reply: Reply): void {
    if (slot.done) return;
    slot.done = true;
    clearTimeout(slot.timer);
    slot.resolve(reply);
  }

  private fail(slot: Slot, err: Error): void {
    if (slot.done) return;
    slot.done = true;
    clearTimeout(slot.timer);
    slot.reject(err);
  }

  private onFrame(frame: Frame): void {
    if (frame.kind === 'binary') {
      const pending = this.binaryReply;
      this.binaryReply = null;
      if (pending) this.settle(pending.slot, { line: pending.line, command: pending.command, binary: frame.data });
      return;
    }
    if (frame.kind === 'error') {
      this.emit('frameError', { code: frame.code, message: frame.message });
      // Only replies reach a client in quantity; a bad line while requests wait is taken as the next reply.
      const slot = this.nextSlot();
      if (frame.code === 'LineTooLong' && this.closeOnOversize) {
        const limit = this.framer.maxLineLength;
        const what = slot ? `a reply to ${slot.name}` : 'a line';
        const message = `${what} longer than the limit of ${formatBytes(limit)} (${limit} bytes); connection closed`;
        const err = new LabwireError('LineTooLong', message, slot?.name);
        if (slot) this.fail(slot, err);
        this.emit('oversize', { kind: 'line', command: slot?.name, limit, message });
        // Nothing more is read: the rest of the flood stays in the peer's socket, not in memory.
        this.socket.destroy(err);
        return;
      }
      if (slot) this.fail(slot, new LabwireError(frame.code, `reply to ${slot.name}: ${frame.message}`, slot.name));
      return;
    }
    const text = frame.text;
    if (BLANK.test(text)) return;
    this.emit('line', text);
    // A daemon neither sends requests nor listens for these: skip the parse it does itself.
    if (this.head >= this.slots.length && this.listenerCount('push') === 0 && this.listenerCount('unsolicited') === 0) {
      return;
    }
    let cmd: Command;
    try {
      cmd = parseLine(text);
    } catch (err) {
      const message = `${err instanceof Error ? err.message : String(err)}: ${text.slice(0, 200)}`;
      const slot = this.nextSlot();
      if (slot) this.fail(slot, new LabwireError('ProtocolError', `unreadable reply to ${slot.name}: ${message}`, slot.name));
      else this.emit('frameError', { code: 'ProtocolError', message: `unreadable line: ${message}` });
      return;
    }
    if (this.isPush(cmd, text)) {
      this.emit('push', cmd, text);
      return;
    }
    const slot = this.nextSlot();
    if (!slot) {
      this.emit('unsolicited', cmd, text);
      return;
    }
    if (cmd.name === 'binary') {
      const sizeText = cmd.kwargs.size ?? '';
      const size = /^\d+$/.test(sizeText) ? Number(sizeText) : NaN;
      if (!Number.isSafeInteger(size)) {
        // The bytes that follow cannot be told from lines: the stream is lost.
        const err = new LabwireError('ProtocolError', `binary reply with unusable size '${sizeText}'`, slot.name);
        this.fail(slot, err);
        this.socket.destroy(err);
        return;
      }
      if (size > this.maxBinaryLength) {
        const limit = this.maxBinaryLength;
        const message = `a binary reply to ${slot.name} of ${formatBytes(size)} (${size} bytes) is over the limit of ${formatBytes(limit)} (${limit} bytes); connection closed`;
        const err = new LabwireError('LineTooLong', message, slot.name);
        this.fail(slot, err);
        this.emit('oversize', { kind: 'binary', command: slot.name, limit, size, message });
        this.socket.destroy(err);
        return;
      }
      this.binaryReply = { slot, line: text, command: cmd };
      this.framer.expectBinary(size);
      return;
    }
    this.settle(slot, { line: text, command: cmd });
  }

  private onClose(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const reason = this.lastError ? `connection lost: ${this.lastError.message}` : 'connection closed';
    const pending = this.slots.slice(this.head).filter((s): s is Slot => s !== undefined);
    if (this.binaryReply) pending.unshift(this.binaryReply.slot);
    this.slots = [];
    this.head = 0;
    this.binaryReply = null;
    for (const slot of pending) this.fail(slot, new LabwireError('CommunicationFailed', reason, slot.name));
    this.emit('close', this.lastError);
  }
}
