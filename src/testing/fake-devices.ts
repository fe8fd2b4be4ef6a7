/**
 * Fake instruments for link and driver tests: a line-based device on a real TCP listener, one on the
 * master side of a real PTY, and an in-memory Link for tests that need a fake clock.
 * For tests only: part of labwire/testing, never imported by production code.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { openPtyPair, type PtyPair } from '../links/pty.js';
import type { ExchangeOptions, Link, LinkSpec, ReplySplitter } from '../links/types.js';
import { Exchange } from '../links/exchange.js';
import { afterEach, beforeEach, vi } from 'vitest';

/** What the device does with one request line (terminator stripped): reply bytes, or nothing. */
export type DeviceHandler = (line: string, device: DeviceIo) => string | Buffer | undefined | void;

export interface DeviceIo {
  /** Sends bytes to the client at once (for unsolicited or delayed output). */
  send(data: string | Buffer): void;
}

/** Cuts incoming bytes into lines at CR or LF, as the fake devices read them. */
function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('latin1');
    for (;;) {
      const m = /\r\n|\r|\n/.exec(pending);
      if (!m) return;
      const line = pending.slice(0, m.index);
      pending = pending.slice(m.index + m[0].length);
      onLine(line);
    }
  };
}

export class FakeTcpDevice {
  readonly received: string[] = [];
  connections = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private portNumber = 0;

  constructor(private readonly handler: DeviceHandler) {}

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `tcp://127.0.0.1:${this.portNumber}`;
  }

  get spec(): LinkSpec {
    return { kind: 'tcp', host: '127.0.0.1', port: this.portNumber };
  }

  /** Listens on 127.0.0.1: port 0 the first time, the same port after a stop(). */
  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: this.portNumber, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.portNumber = (server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    this.connections += 1;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    const io: DeviceIo = {
      send: (data) => {
        if (!socket.destroyed) socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
      },
    };
    socket.on(
      'data',
      lineReader((line) => {
        this.received.push(line);
        const reply = this.handler(line, io);
        if (reply !== undefined) io.send(reply);
      }),
    );
  }

  /** Sends bytes to every connected client. */
  broadcast(data: string | Buffer): void {
    for (const s of this.sockets) s.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Drops every client connection (the peer vanishes mid-conversation). */
  dropClients(): void {
    for (const s of this.sockets) s.destroy();
  }

  get clientCount(): number {
    return this.sockets.size;
  }

  /** Stops listening and drops every client; start() again reuses the port. */
  async stop(): Promise<void> {
    this.dropClients();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A line device on the master side of a real PTY; a SerialLink opens `path`. */
export class FakePtyDevice {
  readonly received: string[] = [];
  readonly pty: PtyPair;

  constructor(private readonly handler: DeviceHandler) {
    this.pty = openPtyPair();
    const io: DeviceIo = {
      send: (data) => {
        if (!this.pty.master.destroyed) this.pty.master.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
      },
    };
    this.pty.master.on(
      'data',
      lineReader((line) => {
        this.received.push(line);
        const reply = this.handler(line, io);
        if (reply !== undefined) io.send(reply);
      }),
    );
  }

  get path(): string {
    return this.pty.path;
  }

  send(data: string | Buffer): void {
    this.pty.master.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  close(): void {
    this.pty.close();
  }
}

/**
 * An in-memory Link whose "device" answers through timers, so tests under vi.useFakeTimers see
 * exact times. Records when each write happened (performance.now()).
 */
export class MemoryLink extends EventEmitter implements Link {
  readonly spec: LinkSpec = { kind: 'tcp', host: 'memory', port: 1 };
  readonly description = 'memory://device';
  readonly writes: { at: number; data: string }[] = [];
  isOpen = false;
  /** Makes the next open() calls fail while true. */
  refuse = false;
  opens = 0;

  constructor(private readonly device: (line: string, link: MemoryLink) => void) {
    super();
  }

  open(): Promise<void> {
    this.opens += 1;
    if (this.refuse) return Promise.reject(new Error(`cannot connect to ${this.description}: refused`));
    this.isOpen = true;
    return Promise.resolve();
  }

  write(data: Buffer): Promise<void> {
    if (!this.isOpen) return Promise.reject(new Error('not open'));
    const line = data.toString('latin1');
    this.writes.push({ at: performance.now(), data: line });
    this.device(line.replace(/[\r\n]+$/, ''), this);
    return Promise.resolve();
  }

  /** Device output after `delayMs` (a timer, so fake clocks control it); lost if the connection ends first. */
  replyAfter(delayMs: number, data: string): void {
    const connection = this.opens;
    setTimeout(() => {
      if (this.isOpen && this.opens === connection) this.emit('data', Buffer.from(data, 'latin1'));
    }, delayMs);
  }

  flushInput(): Promise<void> {
    return Promise.resolve();
  }

  /** The device side drops the connection. */
  drop(reason = 'connection reset'): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.emit('close', new Error(reason));
  }

  close(): Promise<void> {
    if (this.isOpen) {
      this.isOpen = false;
      this.emit('close', undefined);
    }
    return Promise.resolve();
  }
}

/** Polls `condition` every 5 ms until true; rejects after `timeoutMs` with `what`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves with the arguments of the next `event`; rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, timeoutMs = 3000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as T);
    };
    emitter.once(event, listener);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * For Exchange tests under vitest's fake timers: installs them around every test of the file and
 * stops the exchanges made in a test after it. Returns the function that makes one over a
 * MemoryLink.
 */
export function fakeTimerExchanges(): (link: MemoryLink, splitter: ReplySplitter, options: ExchangeOptions) => Exchange {
  let made: Exchange[] = [];
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    for (const ex of made) await ex.stop();
    made = [];
    vi.useRealTimers();
  });
  return (link, splitter, options) => {
    const ex = new Exchange(() => link, splitter, options);
    made.push(ex);
    return ex;
  };
}
