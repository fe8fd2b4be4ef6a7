/**
 * The frame-buffer memory of the backplane: three 512 MB buffers (BIGBUF=0) or two of 768 MB
 * (BIGBUF=1) at fixed base addresses, their FRAME bookkeeping, the read lock (RBUF) and the write
 * pointer (WBUF), and the bytes FETCH reads. Memory is held only as far as frames have been
 * written; the rest of a buffer reads as zeros.
 */
import { formatFrame, type FrameBuffer } from '../codec.js';
import { BUFFER_BYTES } from './config-memory.js';
import { imageBytes, modelImage, type ImageSpec } from './image-model.js';

/** Base addresses (a Rev F unit's; reference §5): BIGBUF=0 and BIGBUF=1. */
const BASES: readonly (readonly number[])[] = [
  [0xa0000000, 0xc0000000, 0xe0000000],
  [0xa0000000, 0xd0000000],
];

export class SimBuffer {
  info: FrameBuffer;
  /** The buffer's memory from its base, grown as frames need it. */
  memory: Buffer = Buffer.alloc(0);
  /**
   * A whole frame the buffer holds but whose pixels are not made yet: frames nobody could watch
   * being read out (many of them when the host looks after a long pause) cost no pixel model.
   */
  pending: ImageSpec | undefined;

  constructor(n: number, base: number) {
    this.info = {
      n, sample: 0, complete: false, mode: 0, base, frame: 0, width: 0, height: 0, pixels: 0, lines: 0,
      rawBlocks: 0, rawLines: 0, rawOffset: 0, timestamp: 0n, reTimestamp: 0n, feTimestamp: 0n,
    };
  }

  /** Writes a pending frame's pixels into memory. */
  materialize(): void {
    const spec = this.pending;
    if (!spec) return;
    this.pending = undefined;
    const bytes = imageBytes(modelImage(spec));
    this.reserve(bytes.length);
    bytes.copy(this.memory);
  }

  /** Makes room for `bytes` from the base, keeping what is there. */
  reserve(bytes: number): void {
    if (this.memory.length >= bytes) return;
    const grown = Buffer.alloc(bytes);
    this.memory.copy(grown);
    this.memory = grown;
  }
}

export class FrameBuffers {
  buffers: SimBuffer[] = [];
  /** Locked for reading, 0 = none. */
  rbuf = 0;
  /** Being written or last written. */
  wbuf = 1;
  /** No frame has started since boot: the first goes to buffer 1. */
  fresh = true;
  private bigbuf: 0 | 1 = 0;

  constructor() {
    this.reset(0);
  }

  /** Empty buffers (boot, REBOOT, a BIGBUF change). */
  reset(bigbuf: 0 | 1): void {
    this.bigbuf = bigbuf;
    this.buffers = [1, 2, 3].map((n) => new SimBuffer(n, BASES[bigbuf]![n - 1] ?? 0));
    this.rbuf = 0;
    this.wbuf = 1;
    this.fresh = true;
  }

  get bigBuffers(): 0 | 1 {
    return this.bigbuf;
  }

  /** Buffers in use: 3, or 2 with BIGBUF=1. */
  get count(): number {
    return BASES[this.bigbuf]!.length;
  }

  get bufferBytes(): number {
    return BUFFER_BYTES[this.bigbuf];
  }

  buffer(n: number): SimBuffer {
    return this.buffers[n - 1]!;
  }

  /**
   * The buffer the next frame goes to: the next one after WBUF that is not locked; when every
   * other one is locked the deinterlacer reuses the one it was writing (it never stalls).
   */
  pick(): SimBuffer {
    const order: number[] = [];
    for (let i = 0; i < this.count; i++) order.push(this.fresh ? i + 1 : ((this.wbuf - 1 + 1 + i) % this.count) + 1);
    const n = order.find((b) => b !== this.rbuf) ?? this.wbuf;
    this.fresh = false;
    this.wbuf = n;
    return this.buffer(n);
  }

  /** The buffer holding [address, address + bytes), or undefined when the range leaves buffer memory. */
  locate(address: number, bytes: number): { buffer: SimBuffer; offset: number } | undefined {
    for (let n = 1; n <= this.count; n++) {
      const b = this.buffer(n);
      const offset = address - b.info.base;
      if (offset >= 0 && offset + bytes <= this.bufferBytes) return { buffer: b, offset };
    }
    return undefined;
  }

  /** `blocks` × 1024 bytes from `offset` in a buffer (zeros where nothing was written). */
  read(buffer: SimBuffer, offset: number, bytes: number): Buffer {
    buffer.materialize();
    const out = Buffer.alloc(bytes);
    if (offset < buffer.memory.length) buffer.memory.copy(out, 0, offset, Math.min(buffer.memory.length, offset + bytes));
    return out;
  }

  frameBody(timer: bigint): string {
    return formatFrame({ timer, rbuf: this.rbuf, wbuf: this.wbuf, buffers: this.buffers.map((b) => b.info) });
  }
}

