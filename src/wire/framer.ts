/**
 * Cutting a byte stream into labwire frames (PROTOCOL.md "Framing"): lines ending in LF or NUL
 * (CCDLab accepts both), a CR right before the terminator dropped, a bounded line length, UTF-8
 * text, and blocks of raw bytes announced by a `binary ... size=<n>` line.
 */
import type { Frame } from './types.js';

export interface LineFramerOptions {
  /** Longest accepted line in bytes, not counting the terminator or a CR before it. Default 65536. */
  maxLineLength?: number;
}

export const DEFAULT_MAX_LINE_LENGTH = 65536;

const LF = 0x0a;
const NUL = 0x00;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/**
 * A push-driven framer. Frames are produced one at a time while a chunk is examined, and handed to
 * the `onFrame` callback before the next byte is looked at: a consumer that sees a `binary` reply
 * line can call expectBinary() from inside the callback and the bytes that follow in the very same
 * chunk are collected raw.
 *
 * Errors are frames, never exceptions: a too-long or non-UTF-8 line yields one error frame and the
 * framer carries on with the next line, including complete lines already buffered (CCDLab's framer
 * stopped there). An exception thrown by `onFrame` propagates out of push(); the bytes not yet
 * examined stay buffered and are handled by the next push() (pass an empty Buffer to continue).
 */
export class LineFramer {
  readonly maxLineLength: number;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  /** The chunk being examined and how far. */
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Next LF / NUL at or after pos in buf, or -1 when buf has none left. */
  private lfAt = -1;
  private nulAt = -1;

  /** Start of a line that did not end in an earlier chunk (copies, at most maxLineLength + 1 bytes). */
  private parts: Buffer[] = [];
  private partLen = 0;
  /** After a LineTooLong: skipping bytes up to the next terminator. */
  private discarding = false;

  /** Bytes still to collect in binary mode; -1 in line mode. */
  private binaryLeft = -1;
  private binaryParts: Buffer[] = [];

  private busy = false;

  constructor(options: LineFramerOptions = {}) {
    const max = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxLineLength must be a positive integer, not ${max}`);
    this.maxLineLength = max;
  }

  /** Bytes held for a line not yet ended; never more than maxLineLength + 1. */
  get bufferedLength(): number {
    return this.partLen;
  }

  /** True while collecting a binary block. */
  get inBinary(): boolean {
    return this.binaryLeft >= 0;
  }

  /**
   * Switches to binary mode: the next `n` bytes after the line just handed out are emitted as one
   * `{kind:'binary'}` frame, then line mode resumes. Call it from `onFrame` while handling the
   * announcing line. Throws when a line is half received or a block is already being collected.
   */
  expectBinary(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`binary size must be a non-negative integer, not ${n}`);
    if (this.binaryLeft >= 0) throw new Error('expectBinary() while a binary block is still being collected');
    if (this.partLen > 0 || this.discarding) throw new Error('expectBinary() in the middle of a line');
    this.binaryLeft = n;
  }

  /**
   * Examines a chunk and returns the frames it completed, in order; each is also handed to
   * `onFrame` as soon as it is complete (see the class comment).
   */
  push(chunk: Buffer, onFrame?: (frame: Frame) => void): Frame[] {
    if (this.busy) throw new Error('LineFramer.push() called from inside onFrame');
    const frames: Frame[] = [];
    const emit = (frame: Frame): void => {
      frames.push(frame);
      onFrame?.(frame);
    };
    if (this.pos < this.buf.length) {
      this.buf = chunk.length === 0 ? this.buf.subarray(this.pos) : Buffer.concat([this.buf.subarray(this.pos), chunk]);
    } else {
      this.buf = chunk;
    }
    this.pos = 0;
    this.lfAt = this.buf.indexOf(LF);
    this.nulAt = this.buf.indexOf(NUL);
    this.busy = true;
    try {
      this.run(emit);
    } finally {
      this.busy = false;
      if (this.pos >= this.buf.length) {
        this.buf = EMPTY;
        this.pos = 0;
      }
    }
    return frames;
  }

  private nextTerminator(): number {
    const { buf, pos } = this;
    if (this.lfAt >= 0 && this.lfAt < pos) this.lfAt = buf.indexOf(LF, pos);
    if (this.nulAt >= 0 && this.nulAt < pos) this.nulAt = buf.indexOf(NUL, pos);
    if (this.lfAt < 0) return this.nulAt;
    if (this.nulAt < 0) return this.lfAt;
    return Math.min(this.lfAt, this.nulAt);
  }

  private tooLong(): Frame {
    return {
      kind: 'error',
      code: 'LineTooLong',
      message: `line longer than ${this.maxLineLength} bytes; discarded up to its end`,
    };
  }

  // Every branch moves `pos` past what it consumed before emitting, so that an exception thrown by
  // the consumer leaves the framer ready to continue.
  private run(emit: (frame: Frame) => void): void {
    const buf = this.buf;
    for (;;) {
      if (this.binaryLeft === 0) {
        const data = Buffer.concat(this.binaryParts);
        this.binaryParts = [];
        this.binaryLeft = -1;
        emit({ kind: 'binary', data });
        continue;
      }
      if (this.pos >= buf.length) return;

      if (this.binaryLeft > 0) {
        const take = Math.min(this.binaryLeft, buf.length - this.pos);
        const piece = buf.subarray(this.pos, this.pos + take);
        this.pos += take;
        this.binaryLeft -= take;
        // A view of part of a chunk would pin the whole chunk until the block completes.
        this.binaryParts.push(this.binaryLeft > 0 && take < buf.length ? Buffer.from(piece) : piece);
        continue;
      }

      const term = this.nextTerminator();
      if (this.discarding) {
        if (term < 0) {
          this.pos = buf.length;
          return;
        }
        this.pos = term + 1;
        this.discarding = false;
        continue;
      }

      if (term < 0) {
        const rest = buf.subarray(this.pos);
        const total = this.partLen + rest.length;
        this.pos = buf.length;
        // One more byte than the limit may still be the CR of a CR LF; anything beyond cannot be.
        const last = rest[rest.length - 1];
        if (total > this.maxLineLength + 1 || (total === this.maxLineLength + 1 && last !== CR)) {
          this.parts = [];
          this.partLen = 0;
          this.discarding = true;
          emit(this.tooLong());
        } else {
          this.parts.push(Buffer.from(rest));
          this.partLen = total;
        }
        return;
      }

      const piece = buf.subarray(this.pos, term);
      this.pos = term + 1;
      let bytes = piece;
      if (this.partLen > 0) {
        this.parts.push(piece);
        bytes = Buffer.concat(this.parts);
        this.parts = [];
        this.partLen = 0;
      }
      if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
      if (bytes.length > this.maxLineLength) {
        emit(this.tooLong());
        continue;
      }
      let text: string;
      try {
        text = this.decoder.decode(bytes);
      } catch {
        emit({ kind: 'error', code: 'ProtocolError', message: 'line is not valid UTF-8' });
        continue;
      }
      emit({ kind: 'line', text });
    }
  }
}
