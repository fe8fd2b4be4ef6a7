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
  private buffer = '';
  private overflow = false;
  private readonly writer: PacedWriter;
  closed = false;

  constructor(
    readonly client: Pick<SimClient, 'kind' | 'write'>,
    private readonly options: LineSessionOptions,
  ) {
    this.writer = new PacedWriter((data) => client.write(data), options.timing ?? NO_TIMING);
  }

  receive(chunk: Buffer): void {
    if (this.closed || this.options.deaf?.()) return;
    const o = this.options;
    for (const byte of chunk) {
      const ch = String.fromCharCode(o.sevenBit ? byte & 0x7f : byte);
      if (o.terminators.includes(ch)) {
        let line = this.buffer;
        if (o.stripTrailingCr) line = line.replace(/\r$/, '');
        const overflow = this.overflow;
        this.buffer = '';
        this.overflow = false;
        if (overflow) o.onOverflow?.(this);
        else if (line.trim() !== '') o.onLine(line, this);
      } else if (!this.overflow) {
        this.buffer += ch;
        if (this.buffer.length > o.maxLineChars) {
          this.buffer = '';
          this.overflow = true;
        }
      }
    }
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
