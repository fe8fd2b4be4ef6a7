/**
 * A tiny CCDLab-style daemon for monitor tests, written from reference/ccdlab.md §1–§3 with no
 * labwire code in it: lines end at `\n` or `\0`, text is ASCII, `get_id` gets `id name=X type=`,
 * `get_status` gets a `status k=v ...` line, `id name=X type=Y` names the connection, every
 * other line gets no reply at all, and log lines `<type> <text>` go to connections named
 * `monitor`. It can hang (stop answering while the connection stays open), be stopped (every
 * connection dropped, like a killed daemon) and started again on the same port.
 */
import net from 'node:net';
import { once } from 'node:events';

interface Conn {
  socket: net.Socket;
  name: string | undefined;
  type: string | undefined;
}

export class CcdlabPeer {
  /** Every line received, in order, over all connections. */
  readonly received: string[] = [];
  /** The whole reply line to `get_status`; set it to anything (malformed lines included). */
  statusReply: string;
  /** While true, nothing is answered (a hung daemon: the TCP connection stays up). */
  hang = false;
  port = 0;
  private server: net.Server | null = null;
  private readonly conns = new Set<Conn>();

  constructor(readonly name = 'pfeiffer', values: Record<string, string | number> = { hw_connected: 1, status: 0, pressure: 3.42041 }) {
    this.statusReply = CcdlabPeer.statusLine(values);
  }

  /** `status k=v ...` with CCDLab's plain `%s` formatting (no quoting). */
  static statusLine(values: Record<string, string | number>): string {
    return `status ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(' ')}`;
  }

  setValues(values: Record<string, string | number>): void {
    this.statusReply = CcdlabPeer.statusLine(values);
  }

  /** Names of the connections as they identified themselves (`id name=...`). */
  get connectionNames(): (string | undefined)[] {
    return [...this.conns].map((c) => c.name);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  async start(port = this.port): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Drops every connection and stops listening, like a killed daemon. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** CCDLab's `factory.log(msg, type)`: `<type> <msg>` to every connection named `monitor`. */
  log(type: 'info' | 'warning' | 'error' | 'success' | 'message', message: string): void {
    for (const c of this.conns) if (c.name === 'monitor') c.socket.write(`${type} ${message}\n`);
  }

  /** Writes a raw line to every connection (for unsolicited or garbage lines). */
  sendRaw(data: string | Buffer): void {
    for (const c of this.conns) c.socket.write(data);
  }

  private accept(socket: net.Socket): void {
    const conn: Conn = { socket, name: undefined, type: undefined };
    this.conns.add(conn);
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('close', () => this.conns.delete(conn));
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      const parts = buf.split(/[\n\0]/);
      buf = parts.pop() ?? '';
      for (const line of parts) this.handle(conn, line);
    });
  }

  private handle(conn: Conn, line: string): void {
    this.received.push(line);
    const words = line.trim().split(/\s+/);
    const name = words[0] ?? '';
    if (name === 'id') {
      for (const w of words.slice(1)) {
        const i = w.indexOf('=');
        if (i > 0 && w.slice(0, i) === 'name') conn.name = w.slice(i + 1);
        if (i > 0 && w.slice(0, i) === 'type') conn.type = w.slice(i + 1);
      }
      return;
    }
    if (this.hang) return;
    if (name === 'get_id') conn.socket.write(`id name=${this.name} type=\n`);
    else if (name === 'get_status') conn.socket.write(`${this.statusReply}\n`);
  }
}
