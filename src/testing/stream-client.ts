/**
 * A raw byte-stream client for simulator tests, over a TCP socket or a serial port (a simulator's
 * PTY): it collects exactly the bytes the peer sent and cuts them into lines at a given line end.
 * For tests only: part of labwire/testing, never imported by production code.
 */
import net from 'node:net';
import { SerialPort } from 'serialport';

export interface StreamClientOptions {
  /** Where a line ends; lines are cut at this exact sequence only. */
  lineEnd: '\r\n' | '\n';
}

export interface SerialStreamClientOptions extends StreamClientOptions {
  baudRate: number;
}

export interface StreamClient {
  write(data: string | Buffer): Promise<void>;
  /** All bytes received since the start or the last clear() (latin1). */
  readonly received: string;
  /** Complete lines received since the start or the last clear(), line end removed. */
  readonly lines: readonly string[];
  /** Waits until `lines` holds `count` lines and returns them, or rejects after `timeoutMs`. */
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  /** Waits `ms` and returns the bytes that arrived meanwhile. */
  quiet(ms: number): Promise<string>;
  /** Waits `ms` and returns the lines completed meanwhile. */
  quietLines(ms: number): Promise<string[]>;
  /** Forgets everything received so far, including a partial line. */
  clear(): void;
  close(): Promise<void>;
  /** Resolves when the connection closed, from either side. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
}

interface Transport {
  write(data: string | Buffer): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the transport closed. */
  closed: Promise<void>;
}

/** Wires a transport's incoming bytes into a StreamClient; `subscribe` hands over the data listener. */
function streamClient(lineEnd: string, subscribe: (onData: (chunk: Buffer) => void) => void, t: Transport): StreamClient {
  let received = '';
  let pending = '';
  let lines: string[] = [];
  let isClosed = false;
  const waiters = new Set<() => void>();
  void t.closed.then(() => (isClosed = true));
  subscribe((chunk) => {
    const text = chunk.toString('latin1');
    received += text;
    pending += text;
    let i: number;
    while ((i = pending.indexOf(lineEnd)) >= 0) {
      lines.push(pending.slice(0, i));
      pending = pending.slice(i + lineEnd.length);
    }
    for (const w of [...waiters]) w();
  });
  const after = async <T>(ms: number, since: () => T): Promise<T> => {
    await new Promise((r) => setTimeout(r, ms));
    return since();
  };
  return {
    write: t.write,
    close: t.close,
    closed: t.closed,
    get isClosed() {
      return isClosed;
    },
    get received() {
      return received;
    },
    get lines() {
      return lines;
    },
    waitForLines(count, timeoutMs = 15_000) {
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
          reject(new Error(`expected ${count} lines within ${timeoutMs} ms, got ${JSON.stringify(received)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    quiet(ms) {
      const before = received.length;
      return after(ms, () => received.slice(before));
    },
    quietLines(ms) {
      const before = lines.length;
      return after(ms, () => lines.slice(before));
    },
    clear() {
      received = '';
      pending = '';
      lines = [];
    },
  };
}

export async function tcpStreamClient(port: number, opts: StreamClientOptions & { host?: string }): Promise<StreamClient> {
  const socket = net.connect({ host: opts.host ?? '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  // Errors end in 'close', which is what the tests watch.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return streamClient(opts.lineEnd, (onData) => socket.on('data', onData), {
    write: (data) => new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve()))),
    close: async () => {
      socket.destroy();
      await closed;
    },
    closed,
  });
}

/** Opens at 8N1 whatever the device uses: Linux PTYs ignore framing, and 7E1 re-opens fail with EINVAL. */
export async function serialStreamClient(path: string, opts: SerialStreamClientOptions): Promise<StreamClient> {
  const port = new SerialPort({ path, baudRate: opts.baudRate, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const closed = new Promise<void>((resolve) => port.once('close', () => resolve()));
  return streamClient(opts.lineEnd, (onData) => port.on('data', onData), {
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
