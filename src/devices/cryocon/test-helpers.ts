/**
 * Raw-byte clients for the Cryo-con tests: a TCP socket and a serial port on a simulator's PTY,
 * each collecting exactly the bytes the simulator sent, split into LF-terminated lines.
 * Test-only; nothing imports it at runtime.
 */
import net from 'node:net';
import { SerialPort } from 'serialport';
import type { ExchangeLike, RequestOptions } from '../../links/types.js';
import { LinkError } from '../../links/types.js';
import type { CryoconSimulator } from './simulator.js';

export interface LineClient {
  write(data: string): Promise<void>;
  /** Lines received so far (LF removed). */
  readonly lines: string[];
  /** Waits until `count` lines have arrived, or rejects after `timeoutMs`. */
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  /** Waits `ms` and returns the lines that arrived meanwhile. */
  quiet(ms: number): Promise<string[]>;
  close(): Promise<void>;
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
}

function collector() {
  let buffer = '';
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  return {
    lines,
    push(chunk: Buffer) {
      buffer += chunk.toString('latin1');
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        lines.push(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
      }
      for (const w of [...waiters]) w();
    },
    waitForLines(count: number, timeoutMs = 2000): Promise<string[]> {
      return new Promise<string[]>((resolve, reject) => {
        const check = () => {
          if (lines.length >= count) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve([...lines]);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} lines within ${timeoutMs} ms, got ${JSON.stringify(lines)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async quiet(ms: number): Promise<string[]> {
      const before = lines.length;
      await new Promise((r) => setTimeout(r, ms));
      return lines.slice(before);
    },
  };
}

export async function tcpLineClient(port: number): Promise<LineClient> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  const c = collector();
  let isClosed = false;
  socket.on('data', (chunk: Buffer) => c.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  return {
    lines: c.lines,
    waitForLines: c.waitForLines,
    quiet: c.quiet,
    write: (data) => new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve()))),
    close: async () => {
      socket.destroy();
      await closed;
    },
    closed,
    get isClosed() {
      return isClosed;
    },
  };
}

/** Opens the simulator's PTY at 8N1 (PTYs ignore framing). */
export async function serialLineClient(path: string): Promise<LineClient> {
  const port = new SerialPort({ path, baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const c = collector();
  let isClosed = false;
  port.on('data', (chunk: Buffer) => c.push(chunk));
  const closed = new Promise<void>((resolve) =>
    port.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  return {
    lines: c.lines,
    waitForLines: c.waitForLines,
    quiet: c.quiet,
    write: (data) =>
      new Promise<void>((resolve, reject) =>
        port.write(data, (err: Error | null | undefined) => (err ? reject(err) : port.drain(() => resolve()))),
      ),
    close: async () => {
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    },
    closed,
    get isClosed() {
      return isClosed;
    },
  };
}

/** A controllable clock for stepping simulator physics without waiting. */
export function fakeClock(start = 0): { now: () => number; tick: (ms: number) => void } {
  let t = start;
  return { now: () => t, tick: (ms) => (t += ms) };
}

/**
 * An ExchangeLike that hands each request line to the simulator in-process (no pacing): the driver
 * and the device definition are the subject. Records every line it was given.
 */
export function simExchange(sim: CryoconSimulator): ExchangeLike & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    isUp: true,
    async request(data: Buffer | string, opts?: RequestOptions) {
      const line = data.toString().replace(/\n$/, '');
      lines.push(line);
      const reply = sim.respond(line);
      if (opts?.expectReply === false) return undefined;
      if (reply === undefined) throw new LinkError('Timeout', `no reply to "${line}"`);
      const buf = Buffer.from(reply, 'latin1');
      let accepted: boolean;
      try {
        accepted = opts?.validate ? opts.validate(buf) : true;
      } catch (err) {
        throw new LinkError('CommunicationFailed', `unexpected reply "${reply}" to "${line}": ${(err as Error).message}`);
      }
      if (!accepted) throw new LinkError('CommunicationFailed', `unexpected reply "${reply}" to "${line}"`);
      return buf;
    },
  };
}
