/**
 * One client of a line-oriented simulator: its own line buffer (terminators, a 7-bit wire, an
 * overlong line), deafness while a fault says so, and replies through a PacedWriter. The
 * simulator supplies what a line means; SimHost (links/) supplies the socket or PTY.
 */
import type { SimClient, SimSession } from '../../../links/sim-host.js';
import { NO_TIMING, PacedWriter, type ByteTiming } from './paced-writer.js';

export interface LineSessionOptions {
  /** Characters that end a request (`'\n'`, or `'\r\n'` for either CR or LF). */
  terminators: string;
  /** Appended to every reply (`'\n'`, `'\r\n'`). */
  replyTerminator: string;
  /** Longest request kept; a longer one is dropped whole and reported by `onOverflow`. */
  maxLineChars: number;
  /** A 7-bit wire cannot carry the 8th bit. */
  sevenBit?: boolean;
  /** Drop one CR before the LF (`\r\n` lines on an LF-terminated protocol). */
  stripTrailingCr?: boolean;
  /** While true, bytes are ignored (a pulled cable, a unit switched off). */
  deaf?: () => boolean;
  /** Byte timing of this client's replies (e.g. only on a pseudo-terminal standing in for RS-232). */
  timing?: ByteTiming;
  /** A complete, non-blank request line. */
  onLine: (line: string, session: LineSession) => void;
  onOverflow?: (session: LineSession) => void;
  onClose?: (session: LineSession) => void;
}

export class LineSession implements SimSession {
  /** The line in progress, copied out of earlier chunks (never more than `maxLineChars` bytes in all). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overflow = false;
  /** Terminators as bytes: a request is latin-1 on the wire, so a character above U+00FF never ends one. */
  private readonly terminatorBytes: readonly number[];
  private readonly writer: PacedWriter;
  closed = false;

  constructor(
    readonly client: Pick<SimClient, 'kind' | 'write'>,
    private readonly options: LineSessionOptions,
  ) {
    this.writer = new PacedWriter((data) => client.write(data), options.timing ?? NO_TIMING);
    const codes = [...options.terminators].map((c) => c.charCodeAt(0)).filter((c) => c <= 0xff);
    this.terminatorBytes = [...new Set(codes)];
  }

  /**
   * Splits a chunk at its terminators without looking at each byte in JS: a flooding client costs
   * one search per line and one string per complete line, not one per byte.
   */
  receive(chunk: Buffer): void {
    if (this.closed || this.options.deaf?.()) return;
    // Masked before the search: on a 7-bit wire 0x8a is an LF.
    const data = this.options.sevenBit ? without8thBit(chunk) : chunk;
    const nextTerminator = terminatorSearch(data, this.terminatorBytes);
    let start = 0;
    for (;;) {
      const end = nextTerminator(start);
      if (end < 0) {
        this.keep(data, start, data.length);
        return;
      }
      this.endLine(data, start, end);
      start = end + 1;
    }
  }

  /** Holds the start of a line until its terminator comes; a line that grows past the limit is dropped at once. */
  private keep(data: Buffer, from: number, to: number): void {
    if (this.overflow || to === from) return;
    if (this.pendingBytes + (to - from) > this.options.maxLineChars) {
      this.pending = [];
      this.pendingBytes = 0;
      this.overflow = true;
      return;
    }
    // A copy: a slice would keep the whole chunk alive for a few bytes.
    this.pending.push(Buffer.from(data.subarray(from, to)));
    this.pendingBytes += to - from;
  }

  private endLine(data: Buffer, from: number, to: number): void {
    const o = this.options;
    const overflow = this.overflow || this.pendingBytes + (to - from) > o.maxLineChars;
    let line = '';
    if (!overflow) {
      line =
        this.pendingBytes === 0
          ? data.toString('latin1', from, to)
          : Buffer.concat([...this.pending, data.subarray(from, to)]).toString('latin1');
    }
    if (this.pendingBytes > 0) this.pending = [];
    this.pendingBytes = 0;
    this.overflow = false;
    if (overflow) {
      o.onOverflow?.(this);
      return;
    }
    if (o.stripTrailingCr && line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() !== '') o.onLine(line, this);
  }

  /** Sends one reply line (the terminator is added), paced. */
  reply(text: string): void {
    if (this.closed) return;
    this.writer.write(Buffer.from(`${text}${this.options.replyTerminator}`, 'latin1'));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.close();
    this.options.onClose?.(this);
  }
}

/** The chunk as a 7-bit wire delivers it; the chunk itself when no byte has the 8th bit (no copy). */
function without8thBit(chunk: Buffer): Buffer {
  let i = 0;
  while (i < chunk.length && chunk[i]! < 0x80) i++;
  if (i === chunk.length) return chunk;
  const out = Buffer.from(chunk);
  for (; i < out.length; i++) out[i] = out[i]! & 0x7f;
  return out;
}

/**
 * The next terminator at or after a position. With several terminators (CR or LF) each one's next
 * place is remembered, so a chunk is searched once per terminator, not once per line per terminator.
 */
function terminatorSearch(data: Buffer, terminators: readonly number[]): (from: number) => number {
  if (terminators.length === 1) {
    const t = terminators[0]!;
    return (from) => data.indexOf(t, from);
  }
  // -1: none left in this chunk; -2: not searched yet.
  const next = terminators.map(() => -2);
  return (from) => {
    let first = -1;
    for (let k = 0; k < terminators.length; k++) {
      if (next[k] !== -1 && next[k]! < from) next[k] = data.indexOf(terminators[k]!, from);
      const at = next[k]!;
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    return first;
  };
}
