/**
 * A TCP relay that can freeze: while frozen it holds every byte in both directions but keeps the
 * connections open, which is what a hung daemon (stopped process, wedged event loop) looks like
 * from the outside. Thawing delivers what was held, in order.
 */
import net from 'node:net';
import { once } from 'node:events';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  held: Array<{ to: net.Socket; data: Buffer }>;
}

export class FreezeProxy {
  port = 0;
  private frozen = false;
  private server: net.Server | null = null;
  private readonly pairs = new Set<Pair>();

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {}

  async start(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const p of this.pairs) {
      for (const h of p.held) if (!h.to.destroyed) h.to.write(h.data);
      p.held = [];
    }
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect({ port: this.targetPort, host: this.targetHost });
    const pair: Pair = { client, upstream, held: [] };
    this.pairs.add(pair);
    const relay = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (data: Buffer) => {
        if (this.frozen) pair.held.push({ to, data });
        else to.write(data);
      });
    };
    relay(client, upstream);
    relay(upstream, client);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', end);
    }
  }
}
