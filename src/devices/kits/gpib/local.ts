/**
 * Buses served in this process, by the endpoint of their bus daemon: a `gpib://` link to a bus
 * daemon running in the same process (`labwire up`, `labwire demo`) uses the bus directly, with
 * no TCP hop and no second labwire parser, and still shares its one adapter connection.
 */
import type { GpibBusLike } from './bus.js';

const buses = new Map<string, GpibBusLike>();

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

/** The bus a daemon of this process serves at host:port, if any (one listening on every address counts). */
export function localBus(host: string, port: number): GpibBusLike | undefined {
  return buses.get(key(host, port)) ?? buses.get(`*:${port}`);
}
