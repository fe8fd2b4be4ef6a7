/**
 * Connection slots of one listener: at most `max` sockets in all and `perAddress` from one
 * address (docs/decisions/0008), freed when a socket closes. Shared by the line server, the
 * daemons' metrics listener and the SECoP node, so a stranger cannot take every descriptor of the
 * process through any one of them.
 */
import type net from 'node:net';

export class ConnectionSlots {
  private readonly sockets = new Set<net.Socket>();
  private readonly perAddressCount = new Map<string, number>();

  constructor(
    readonly max: number,
    readonly perAddress: number,
  ) {}

  get size(): number {
    return this.sockets.size;
  }

  /** Takes a slot for the socket and returns undefined, or returns why it is refused (the caller closes it). */
  take(socket: net.Socket): string | undefined {
    const address = socket.remoteAddress ?? '?';
    const fromThere = this.perAddressCount.get(address) ?? 0;
    if (this.sockets.size >= this.max) return `connection limit of ${this.max} reached; try again later`;
    if (fromThere >= this.perAddress) return `limit of ${this.perAddress} connections from ${address} reached; close one or try again later`;
    this.sockets.add(socket);
    this.perAddressCount.set(address, fromThere + 1);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const n = (this.perAddressCount.get(address) ?? 1) - 1;
      if (n > 0) this.perAddressCount.set(address, n);
      else this.perAddressCount.delete(address);
    });
    return undefined;
  }

  [Symbol.iterator](): IterableIterator<net.Socket> {
    return this.sockets.values();
  }
}
