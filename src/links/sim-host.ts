/**
 * The serving side of a simulator: its wire protocol on TCP (any number of clients) and on
 * pseudo-terminals, with a link-drop switch. A simulator supplies one session per client that
 * receives the client's bytes and writes replies; everything about sockets lives here.
 */
import net from 'node:net';
import { openPtyPair, type PtyPair } from './pty.js';

/** One client of the simulator. */
export interface SimSession {
  receive(chunk: Buffer): void;
  close(): void;
}

export interface SimClient {
  kind: 'tcp' | 'pty';
  /** Sends bytes to the client (dropped silently once it is gone). */
  write(data: Buffer): void;
  /** TCP only: the socket, for faults such as closing mid-reply. */
  socket?: net.Socket;
}

export interface SimHostOptions {
  open(client: SimClient): SimSession;
  /** While true, new TCP clients are refused (a pulled cable). */
  refuse?(): boolean;
}

export class SimHost {
  private readonly servers = new Set<net.Server>();
  private readonly sockets = new Set<net.Socket>();
  private readonly ptys = new Set<PtyPair>();
  private readonly sessions = new Set<SimSession>();

  constructor(private readonly opts: SimHostOptions) {}

  async listenTcp(host: string, port: number): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.servers.add(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('simulator TCP server has no port');
    return address.port;
  }

  async listenPty(): Promise<string> {
    const pty = openPtyPair();
    this.ptys.add(pty);
    const session = this.opts.open({
      kind: 'pty',
      write: (data) => {
        if (!pty.master.destroyed) pty.master.write(data);
      },
    });
    this.sessions.add(session);
    pty.master.on('data', (chunk: Buffer) => session.receive(chunk));
    return pty.path;
  }

  /** Closes every TCP client at once (the cable is pulled); PTYs stay, as a serial port would. */
  dropTcpClients(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.close();
    this.sessions.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    for (const pty of this.ptys) pty.close();
    this.ptys.clear();
    const servers = [...this.servers];
    this.servers.clear();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private accept(socket: net.Socket): void {
    if (this.opts.refuse?.()) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.sockets.add(socket);
    const session = this.opts.open({
      kind: 'tcp',
      socket,
      write: (data) => {
        if (!socket.destroyed) socket.write(data);
      },
    });
    this.sessions.add(session);
    socket.on('data', (chunk: Buffer) => session.receive(chunk));
    // A client that vanishes mid-reply is normal for a simulator; nothing to report.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.sessions.delete(session);
      session.close();
    });
  }
}
