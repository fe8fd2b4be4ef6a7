/**
 * Raw-byte clients for the Julabo tests: a TCP socket and a serial port on a simulator's PTY,
 * both collecting exactly the bytes the simulator sent. Test-only; nothing imports it at runtime.
 */
import net from 'node:net';
import { SerialPort } from 'serialport';

export interface RawClient {
  write(data: string | Buffer): Promise<void>;
  /** All bytes received so far (latin1). */
  readonly received: string;
  /** Waits until `received` contains `count` CR LF line ends, or rejects after `timeoutMs`. */
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  /** Waits `ms` and returns what arrived meanwhile. */
  quiet(ms: number): Promise<string>;
  clear(): void;
  close(): Promise<void>;
  /** Resolves when the peer closed the connection. */
  readonly closed: Promise<void>;
}

function collector(): {
  push(chunk: Buffer): void;
  client: Pick<RawClient, 'received' | 'waitForLines' | 'quiet' | 'clear'>;
} {
  let received = '';
  const waiters = new Set<() => void>();
  const lines = () => received.split('\r\n').slice(0, -1);
  return {
    push(chunk) {
      received += chunk.toString('latin1');
      for (const w of [...waiters]) w();
    },
    client: {
      get received() {
        return received;
      },
      waitForLines(count, timeoutMs = 2000) {
        return new Promise<string[]>((resolve, reject) => {
          const check = () => {
            if (lines().length >= count) {
              clearTimeout(timer);
              waiters.delete(check);
              resolve(lines());
            }
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`expected ${count} lines within ${timeoutMs} ms, got ${JSON.stringify(received)}`));
          }, timeoutMs);
          waiters.add(check);
          check();
        });
      },
      async quiet(ms) {
        const before = received.length;
        await new Promise((r) => setTimeout(r, ms));
        return received.slice(before);
      },
      clear() {
        received = '';
      },
    },
  };
}

function withTransport(
  c: Pick<RawClient, 'received' | 'waitForLines' | 'quiet' | 'clear'>,
  t: Pick<RawClient, 'write' | 'close' | 'closed'>,
): RawClient {
  return {
    get received() {
      return c.received;
    },
    waitForLines: (count, timeoutMs) => c.waitForLines(count, timeoutMs),
    quiet: (ms) => c.quiet(ms),
    clear: () => c.clear(),
    write: t.write,
    close: t.close,
    closed: t.closed,
  };
}

export async function rawTcpClient(port: number, host = '127.0.0.1'): Promise<RawClient> {
  const socket = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  const c = collector();
  socket.on('data', (chunk: Buffer) => c.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return withTransport(c.client, {
    write: (data) => new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve()))),
    close: async () => {
      socket.destroy();
      await closed;
    },
    closed,
  });
}

/** Opens a PTY at 8N1: Linux PTYs ignore framing, and 7E1 re-opens fail with EINVAL. */
export async function rawSerialClient(path: string): Promise<RawClient> {
  const port = new SerialPort({ path, baudRate: 4800, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const c = collector();
  port.on('data', (chunk: Buffer) => c.push(chunk));
  const closed = new Promise<void>((resolve) => port.once('close', () => resolve()));
  return withTransport(c.client, {
    write: (data) =>
      new Promise<void>((resolve, reject) =>
        port.write(data, (err: Error | null | undefined) => (err ? reject(err) : port.drain(() => resolve()))),
      ),
    close: async () => {
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    },
    closed,
  });
}

/** A controllable clock for stepping simulator physics without waiting. */
export function fakeClock(start = 0): { now: () => number; tick: (ms: number) => void } {
  let t = start;
  return { now: () => t, tick: (ms) => (t += ms) };
}
