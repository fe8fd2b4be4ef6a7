/**
 * A recording TCP proxy between a daemon and a device simulator for the late-reply scenario: it
 * holds back a share of the chunks the way a slow network, a serial-to-TCP bridge or a busy
 * instrument does, and records every chunk in both directions at its arrival — what the daemon
 * sent (upstream) and what the simulator sent (downstream) — with both clocks, so a test can tell
 * which reply the simulator gave to which request. Real sockets on 127.0.0.1, a seeded random
 * generator, and byte order kept per direction as on a real TCP path: a chunk is released at
 * max(previous release, arrival + delay), so a late reply also holds up everything behind it.
 *
 * `pause()` models a half-open link: both sockets stay open, nothing is forwarded.
 */
import net from 'node:net';
import { seededRandom } from '../../devices/kits/sim/noise-and-clock.js';

export interface DelaySpec {
  /** Share of chunks that are delayed, 0…1. */
  fraction: number;
  /** Delay of a delayed chunk, uniformly distributed, ms. */
  minMs: number;
  maxMs: number;
}

export interface LateReplyProxyOptions {
  target: { host: string; port: number };
  /** Seed of the delay decisions; the same seed gives the same sequence of decisions. */
  seed?: number;
  /** Device → daemon (replies). Default: no delay. */
  downstream?: DelaySpec;
  /** Daemon → device (requests). Default: no delay. */
  upstream?: DelaySpec;
}

export interface ProxyChunk {
  /** Which client connection (1, 2, … in accept order): a reconnect starts a new one. */
  connection: number;
  /** performance.now() at arrival at the proxy. */
  at: number;
  /** Date.now() at arrival at the proxy (the clock of the daemon's update timestamps). */
  wall: number;
  data: Buffer;
  /** How long the proxy held it back beyond its arrival, ms (0 when forwarded at once). */
  heldMs: number;
}

/** One direction of one connection: releases chunks in arrival order, each no earlier than due. */
class Lane {
  private readonly queue: { data: Buffer; due: number }[] = [];
  private lastRelease = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly out: net.Socket,
    private readonly delayOf: () => number,
  ) {}

  /** Returns how long the chunk is held back. */
  push(data: Buffer): number {
    const now = performance.now();
    const due = Math.max(this.lastRelease, now + this.delayOf());
    this.lastRelease = due;
    this.queue.push({ data, due });
    this.pump();
    return due - now;
  }

  private pump(): void {
    if (this.timer) return;
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      const wait = head.due - performance.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.ceil(wait));
        return;
      }
      this.queue.shift();
      if (!this.out.destroyed) this.out.write(head.data);
    }
  }

  /** Forgets what is held back (a paused proxy forwards nothing). */
  drop(): void {
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.lastRelease = 0;
  }
}

export class LateReplyProxy {
  readonly upstream: ProxyChunk[] = [];
  readonly downstream: ProxyChunk[] = [];
  connections = 0;
  private paused = false;
  private readonly random: () => number;
  private readonly sockets = new Set<net.Socket>();
  private readonly lanes = new Set<Lane>();

  private constructor(
    private readonly server: net.Server,
    private readonly options: LateReplyProxyOptions,
  ) {
    this.random = seededRandom(options.seed ?? 1);
  }

  static async start(options: LateReplyProxyOptions): Promise<LateReplyProxy> {
    const server = net.createServer();
    const proxy = new LateReplyProxy(server, options);
    server.on('connection', (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Half-open from now on: connections stay open (new ones are accepted), nothing is forwarded either way. */
  pause(): void {
    this.paused = true;
    for (const lane of this.lanes) lane.drop();
  }

  resume(): void {
    this.paused = false;
  }

  private delay(spec: DelaySpec | undefined): number {
    // Always two draws, so the decisions of one direction do not depend on the other's settings.
    const pick = this.random();
    const amount = this.random();
    if (!spec || pick >= spec.fraction) return 0;
    return spec.minMs + amount * (spec.maxMs - spec.minMs);
  }

  private accept(client: net.Socket): void {
    const connection = ++this.connections;
    const device = net.connect(this.options.target);
    for (const s of [client, device]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        // A close on one side closes the other, as a transparent proxy would.
        client.destroy();
        device.destroy();
      });
    }
    const toDevice = new Lane(device, () => this.delay(this.options.upstream));
    const toClient = new Lane(client, () => this.delay(this.options.downstream));
    this.lanes.add(toDevice);
    this.lanes.add(toClient);
    client.on('close', () => {
      toDevice.drop();
      toClient.drop();
      this.lanes.delete(toDevice);
      this.lanes.delete(toClient);
    });
    const relay = (lane: Lane, record: ProxyChunk[]) => (data: Buffer) => {
      if (this.paused) return;
      const chunk: ProxyChunk = { connection, at: performance.now(), wall: Date.now(), data, heldMs: 0 };
      record.push(chunk);
      chunk.heldMs = lane.push(data);
    };
    client.on('data', relay(toDevice, this.upstream));
    device.on('data', relay(toClient, this.downstream));
  }

  async close(): Promise<void> {
    for (const lane of this.lanes) lane.drop();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
