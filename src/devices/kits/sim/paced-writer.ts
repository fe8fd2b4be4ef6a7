/**
 * Replies at the pace of the instrument: a latency before the first character and the serial
 * line's character time after it, in order, per client. A pseudo-terminal delivers bytes at once
 * whatever baud rate is set (TOOLCHAIN.md), so a simulator that wants timing makes it itself.
 */

export interface ByteTiming {
  /** From the request's terminator to the first reply character, ms. */
  latencyMs(): number;
  /** One character on the line, ms (0: no byte timing). 10 bits per character: `10000 / baud`. */
  charTimeMs(): number;
  /** `byte`: each character leaves when its time comes; `reply`: the whole reply when the last one would. */
  granularity: 'byte' | 'reply';
}

/** Character time of an asynchronous serial line with start, data, parity and stop bits. */
export function charTimeMs(baud: number, bitsPerChar = 10): number {
  return (bitsPerChar * 1000) / baud;
}

/** Timing of none: every reply leaves at once. */
export const NO_TIMING: ByteTiming = { latencyMs: () => 0, charTimeMs: () => 0, granularity: 'reply' };

/** One client's output: bytes with the time each may leave. */
export class PacedWriter {
  private pending: { data: Buffer; due: number }[] = [];
  private busyUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly sink: (data: Buffer) => void,
    private readonly timing: ByteTiming,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  write(data: Buffer): void {
    if (this.closed || data.length === 0) return;
    const now = this.clock();
    const latency = this.timing.latencyMs();
    const ct = this.timing.charTimeMs();
    if (latency <= 0 && ct <= 0 && this.pending.length === 0) {
      this.sink(data);
      return;
    }
    const start = Math.max(now + latency, this.busyUntil);
    if (this.timing.granularity === 'byte' && ct > 0) {
      for (let i = 0; i < data.length; i++) this.pending.push({ data: data.subarray(i, i + 1), due: start + (i + 1) * ct });
    } else {
      this.pending.push({ data, due: start + data.length * ct });
    }
    this.busyUntil = this.pending[this.pending.length - 1]!.due;
    this.flushDue();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const next = this.pending[0]?.due;
    if (next === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushDue();
      this.schedule();
    }, Math.max(0, next - this.clock()));
  }

  /** Sends everything due (within half a millisecond: timers are not finer), as one write. */
  private flushDue(): void {
    const now = this.clock();
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.due <= now + 0.5) n++;
    if (n === 0 || this.closed) return;
    const chunks = this.pending.splice(0, n).map((p) => p.data);
    this.sink(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
  }
}
