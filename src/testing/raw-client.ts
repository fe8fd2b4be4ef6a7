/**
 * A deliberately dumb line client for black-box tests of servers: raw socket, lines split on \n,
 * no labwire code involved, so a bug in our own LineConnection cannot hide a server bug.
 */
import net from 'node:net';

export class RawClient {
  readonly lines: string[] = [];
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until a line matching `pred` has arrived (searching from `from`), returns it and its index. */
  async waitLine(pred: (line: string) => boolean, timeoutMs = 15_000, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (pred(this.lines[i]!)) return this.lines[i]!;
      if (this.closed) throw new Error(`connection closed; lines so far: ${JSON.stringify(this.lines.slice(-5))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a line; last lines: ${JSON.stringify(this.lines.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends one line and returns the next reply line (push lines `update`/`log` are skipped). */
  async request(line: string, timeoutMs = 15_000): Promise<string> {
    const from = this.lines.length;
    this.write(`${line}\n`);
    return this.waitLine((l) => !l.startsWith('update ') && !l.startsWith('log '), timeoutMs, from);
  }

  /** Collects the next n reply lines (pushes skipped). */
  async replies(n: number, from: number, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.lines.slice(from).filter((l) => !l.startsWith('update ') && !l.startsWith('log '));
      if (r.length >= n) return r.slice(0, n);
      await this.waitLine(() => true, Math.max(1, deadline - Date.now()), this.lines.length).catch((err: Error) => {
        if (Date.now() >= deadline || this.closed) throw err;
      });
    }
  }

  waitClosed(timeoutMs = 15_000): Promise<void> {
    return this.waitLine(() => false, timeoutMs).then(
      () => undefined,
      (err: Error) => {
        if (!this.closed) throw err;
      },
    );
  }

  close(): void {
    this.socket.destroy();
  }
}
