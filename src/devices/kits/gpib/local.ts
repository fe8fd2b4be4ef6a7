/**
 * Buses served in this process, by the endpoint of their bus daemon: a `gpib://` link to a bus
 * daemon running in the same process (`labwire up`, `labwire demo`) uses the bus directly, with
 * no TCP hop and no second labwire parser, and still shares its one adapter connection.
 */
import os from 'node:os';
import type { GpibBusLike } from './bus.js';

const buses = new Map<string, GpibBusLike>();
let sharing = true;

/** Off: every gpib:// link goes through TCP even to a bus of this process (tests of the TCP path, debugging). */
export function setInProcessSharing(on: boolean): void {
  sharing = on;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const ANY = new Set(['0.0.0.0', '::', '[::]', '']);

function key(host: string, port: number): string {
  const h = LOOPBACK.has(host) ? '127.0.0.1' : ANY.has(host) ? '*' : host;
  return `${h}:${port}`;
}

/** Shares a bus under its daemon's listen address; returns the function that withdraws it. */
export function shareBus(host: string, port: number, bus: GpibBusLike): () => void {
  const k = key(host, port);
  buses.set(k, bus);
  return () => {
    if (buses.get(k) === bus) buses.delete(k);
  };
}

/** Whether a host name or address is this machine's own (loopback or one of its interfaces). */
function isThisMachine(host: string): boolean {
  if (LOOPBACK.has(host) || host === os.hostname()) return true;
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === bare) ?? false);
}

/**
 * The bus a daemon of this process serves at host:port, if any. A bus daemon listening on every
 * address serves only links that name this machine: `gpib://otherhost:7020/14` is another
 * machine's bus, even when a local one listens on port 7020 too.
 */
export function localBus(host: string, port: number): GpibBusLike | undefined {
  if (!sharing) return undefined;
  const exact = buses.get(key(host, port));
  if (exact) return exact;
  return isThisMachine(host) ? buses.get(`*:${port}`) : undefined;
}
