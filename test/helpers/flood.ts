/**
 * Bounded floods for the listener tests. Lines are written as fast as the socket takes them, but
 * with backpressure, so that the test process itself stays small and its figures mean something;
 * a connection the server closes is replaced until every line is out.
 */
import fs from 'node:fs';
import net from 'node:net';

export interface FloodResult {
  /** Lines written to a socket (a few in flight when the server closed a connection may be lost). */
  sent: number;
  /** Reply lines received. */
  replies: number;
  /** Reply lines matching `FloodOptions.counting` (e.g. the refusals of the flood's own lines). */
  counted: number;
  /** Connections opened in all. */
  connections: number;
  /** A few reply lines, for messages. */
  sample: string[];
}

export interface FloodOptions {
  port: number;
  host?: string;
  /** Source address, e.g. 127.0.0.2 to be another client. */
  localAddress?: string;
  /** Connections writing at the same time (default 1). */
  parallel?: number;
  /** Written once on every new connection before the flood lines (e.g. an auth line). */
  preamble?: string;
  /** Reply lines to count in `FloodResult.counted`. */
  counting?: RegExp;
}

function connect(o: FloodOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: o.port, host: o.host ?? '127.0.0.1', ...(o.localAddress ? { localAddress: o.localAddress } : {}) }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `line` `count` times, then half-closes every connection and waits until the server has closed them. */
export async function flood(line: string, count: number, o: FloodOptions): Promise<FloodResult> {
  const data = Buffer.from(line.endsWith('\n') ? line : `${line}\n`);
  const result: FloodResult = { sent: 0, replies: 0, counted: 0, connections: 0, sample: [] };
  let left = count;
  const worker = async (): Promise<void> => {
    let refusedInARow = 0;
    while (left > 0) {
      let s: net.Socket;
      try {
        s = await connect(o);
        refusedInARow = 0;
      } catch (err) {
        // A busy server may reset a connect (backlog full): try again, within reason.
        if (++refusedInARow > 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      result.connections++;
      let closed = false;
      const done = new Promise<void>((resolve) => s.once('close', () => {
        closed = true;
        resolve();
      }));
      s.on('error', () => undefined);
      let tail = '';
      s.on('data', (d: Buffer) => {
        const text = tail + d.toString('latin1');
        const parts = text.split('\n');
        tail = parts.pop()!;
        result.replies += parts.length;
        for (const p of parts) {
          if (result.sample.length < 5) result.sample.push(p);
          if (o.counting?.test(p)) result.counted++;
        }
      });
      if (o.preamble) s.write(o.preamble);
      while (left > 0 && !closed) {
        left--;
        result.sent++;
        if (!s.write(data)) await Promise.race([new Promise((r) => s.once('drain', r)), done]);
      }
      if (!closed) s.end();
      await done;
    }
  };
  await Promise.all(Array.from({ length: o.parallel ?? 1 }, worker));
  return result;
}

/** Resident memory of a process in MB (Linux). */
export function rssMb(pid: number = process.pid): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Open file descriptors of a process (Linux). */
export function openFds(pid: number = process.pid): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Sizes of a file and its rotated copies (`file.1`, `file.2`, ...). */
export function totalSize(file: string): number {
  let total = fileSize(file);
  for (let i = 1; fs.existsSync(`${file}.${i}`); i++) total += fileSize(`${file}.${i}`);
  return total;
}
