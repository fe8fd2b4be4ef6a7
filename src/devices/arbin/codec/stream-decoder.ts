/** Frames out of a byte stream that may split, join, garble or pad them. */
import { checksum, CHECKSUM_BYTES, commandNameAt, CTI_PREFIX, CtiFrameError, DEFAULT_MAX_FRAME_BYTES, type FrameErrorReason, type FrameKind, hex16, hexBytes, MIN_FRAME_BYTES, totalFromLength } from './framing.js';

export interface StreamDecoderOptions {
  /** Requests (the server side) or feedback (the client side): the length rules differ. */
  kind: FrameKind;
  /**
   * Accept the pycti spoofer's feedback, which is 2 bytes longer than its dwLen: the checksum sits
   * after two zero bytes. Such a frame is returned as dwLen bytes with the checksum put in its place.
   */
  pyctiTolerance?: boolean;
  maxFrameBytes?: number;
}

export interface StreamDecoderStats {
  frames: number;
  /** Bytes discarded while looking for a frame prefix. */
  garbageBytes: number;
  /** Frames refused for a bad checksum or an impossible length field. */
  badFrames: number;
  /** Frames accepted in pycti tolerance mode. */
  pyctiFrames: number;
}

export interface DecodeResult {
  frames: Buffer[];
  errors: CtiFrameError[];
}

/**
 * Cuts a byte stream into CTI frames: splits coalesced frames, reassembles split ones, and
 * resynchronises on the `DD×7 11` prefix after garbage, a bad checksum or a length that lies.
 * After a bad frame it skips one byte and searches again, so a frame hidden behind a lying
 * length field is still found.
 */
export class CtiStreamDecoder {
  readonly kind: FrameKind;
  private readonly tolerance: boolean;
  private readonly maxFrameBytes: number;
  private buffer: Buffer = Buffer.alloc(0);
  /**
   * Chunks of a frame whose length is known but that has not fully arrived: joined once it has,
   * not on every chunk (a 60 kB channel table in 1 kB reads would otherwise copy 1.8 MB).
   */
  private waiting: Buffer[] = [];
  private waitingLen = 0;
  /** Bytes the frame at the head of the buffer needs; 0 when not known. */
  private need = 0;
  private readonly counters: StreamDecoderStats = { frames: 0, garbageBytes: 0, badFrames: 0, pyctiFrames: 0 };

  constructor(options: StreamDecoderOptions) {
    this.kind = options.kind;
    this.tolerance = options.pyctiTolerance ?? false;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  get stats(): Readonly<StreamDecoderStats> {
    return { ...this.counters };
  }

  /** Bytes held for an unfinished frame. */
  get pending(): number {
    return this.buffer.length + this.waitingLen;
  }

  push(chunk: Uint8Array): DecodeResult {
    const frames: Buffer[] = [];
    const errors: CtiFrameError[] = [];
    if (this.need > 0) {
      if (chunk.length > 0) {
        this.waiting.push(Buffer.from(chunk));
        this.waitingLen += chunk.length;
      }
      if (this.buffer.length + this.waitingLen < this.need) return { frames, errors };
      this.buffer = Buffer.concat([this.buffer, ...this.waiting]);
      this.clearWaiting();
    } else if (chunk.length > 0) {
      this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    }
    for (;;) {
      const buf = this.buffer;
      if (buf.length === 0) break;
      const at = buf.indexOf(CTI_PREFIX);
      if (at < 0) {
        // Keep what could be the start of a prefix split across chunks.
        const keep = partialPrefixLength(buf);
        if (buf.length > keep) this.discard(buf.length - keep, errors);
        break;
      }
      if (at > 0) {
        this.discard(at, errors);
        continue;
      }
      if (buf.length < 12) break;
      const dwLen = buf.readUInt32LE(8);
      const total = totalFromLength(this.kind, dwLen);
      if (total < MIN_FRAME_BYTES || total > this.maxFrameBytes) {
        this.bad(errors, 'length', `${this.kind} length field ${dwLen} (${total} bytes) is impossible; skipping to the next prefix`);
        continue;
      }
      if (buf.length < total) {
        this.need = total;
        break;
      }
      const stored = buf.readUInt16LE(total - CHECKSUM_BYTES);
      const computed = checksum(buf, total - CHECKSUM_BYTES);
      if (stored === computed) {
        frames.push(Buffer.from(buf.subarray(0, total)));
        this.buffer = buf.subarray(total);
        this.counters.frames++;
        continue;
      }
      if (this.tolerance && this.kind === 'feedback' && stored === 0) {
        // pycti: [dwLen bytes ending in 00 00][checksum of the first dwLen bytes].
        if (buf.length < total + CHECKSUM_BYTES) {
          this.need = total + CHECKSUM_BYTES;
          break;
        }
        if (buf.readUInt16LE(total) === checksum(buf, total)) {
          const frame = Buffer.from(buf.subarray(0, total));
          frame.writeUInt16LE(computed, total - CHECKSUM_BYTES);
          frames.push(frame);
          this.buffer = buf.subarray(total + CHECKSUM_BYTES);
          this.counters.frames++;
          this.counters.pyctiFrames++;
          continue;
        }
      }
      this.bad(errors, 'checksum', `checksum ${hex16(stored)} but the bytes sum to ${hex16(computed)} in a ${total}-byte ${commandNameAt(buf)}; skipping to the next prefix`);
    }
    if (this.buffer.length === 0) this.buffer = Buffer.alloc(0);
    return { frames, errors };
  }

  /** Forgets everything buffered. */
  reset(): void {
    this.buffer = Buffer.alloc(0);
    this.clearWaiting();
  }

  /** Returns the buffered bytes of an unfinished frame and forgets them. */
  takePartial(): Buffer {
    const partial = Buffer.concat([this.buffer, ...this.waiting]);
    this.reset();
    return partial;
  }

  private clearWaiting(): void {
    this.waiting = [];
    this.waitingLen = 0;
    this.need = 0;
  }

  private discard(n: number, errors: CtiFrameError[]): void {
    const dropped = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    this.counters.garbageBytes += n;
    const shown = hexBytes(dropped.subarray(0, 12)) + (n > 12 ? ' …' : '');
    errors.push(new CtiFrameError('prefix', `${n} byte(s) without the frame prefix DD DD DD DD DD DD DD 11 discarded: ${shown}`));
  }

  private bad(errors: CtiFrameError[], reason: FrameErrorReason, message: string): void {
    this.counters.badFrames++;
    errors.push(new CtiFrameError(reason, message));
    // Skip this prefix only: the next frame may start inside the bytes a lying length claimed.
    this.buffer = this.buffer.subarray(1);
  }
}

function partialPrefixLength(buf: Buffer): number {
  for (let k = Math.min(CTI_PREFIX.length - 1, buf.length); k > 0; k--) {
    if (buf.subarray(buf.length - k).equals(CTI_PREFIX.subarray(0, k))) return k;
  }
  return 0;
}
