/**
 * A daemon's exposition (`labwire daemon --metrics host:port`): its link's health and request
 * latency, the device's values, its clients and refusals. Counts are read at scrape time; only
 * the latency is observed as it happens (one histogram child, bound once).
 */
import { Histogram, type Registry } from 'prom-client';
import { TokenStore, type TokenEntry } from '../../server/index.js';
import type { Logger } from '../../util/logger.js';
import { startMetricsListener, type MetricsAddress, type MetricsListener } from './http.js';
import { collectedCounter, collectedGauge, newRegistry, valueFamily, type ValueLike } from './registry.js';

/** The part of a running daemon (daemon/daemon.ts Daemon) the metrics read. */
export interface DaemonMetricsSource {
  readonly runner: {
    readonly name: string;
    readonly hwConnected: boolean;
    values(): Array<[string, ValueLike]>;
    units(): Record<string, string>;
    linkHealth(): { up: boolean; reconnects: number; timeouts: number; discarded: number };
    observeLinkLatency(observer: ((ms: number) => void) | undefined): void;
  };
  readonly server: {
    readonly connectionCount: number;
    readonly refusedCounters: { readonly rateLimited: number; readonly connections: number };
  };
}

/** Seconds: a paced serial query (tens of ms) to a slow instrument near its timeout. */
export const LINK_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface DaemonMetrics {
  readonly registry: Registry;
  /** Stops observing the link's latency. */
  detach(): void;
}

export function daemonMetrics(daemon: DaemonMetricsSource): DaemonMetrics {
  const { runner, server } = daemon;
  const device = runner.name;
  const registry = newRegistry('daemon');
  valueFamily(registry, () => {
    // While the link is down the cache holds old values or none: only hw_connected is current.
    const values = runner.hwConnected ? runner.values() : runner.values().filter(([k]) => k === 'hw_connected');
    return [{ device, values, units: runner.units() }];
  });

  collectedGauge(registry, 'labwire_link_up', 'Whether the link to the device is up and serving requests: 1 or 0.', ['device'], (set) => set({ device }, runner.linkHealth().up ? 1 : 0));
  collectedCounter(registry, 'labwire_link_reconnects_total', 'Times the link to the device came up again after it was down.', ['device'], (set) => set({ device }, runner.linkHealth().reconnects));
  collectedCounter(registry, 'labwire_link_timeouts_total', 'Requests to the device (resync probes included) that got no reply in time.', ['device'], (set) => set({ device }, runner.linkHealth().timeouts));
  collectedCounter(
    registry,
    'labwire_link_discarded_replies_total',
    'Replies or bytes the reply pairing discarded: late, unasked or duplicated replies, noise during a resync (decision 0007).',
    ['device'],
    (set) => set({ device }, runner.linkHealth().discarded),
  );
  const latency = new Histogram({
    name: 'labwire_link_request_duration_seconds',
    help: 'Time from writing a request to the device to its accepted reply.',
    labelNames: ['device'],
    buckets: LINK_LATENCY_BUCKETS,
    registers: [registry],
  });
  const child = latency.labels({ device });
  runner.observeLinkLatency((ms) => child.observe(ms / 1000));

  collectedGauge(registry, 'labwire_clients', 'Open client connections of the labwire port.', ['listener'], (set) => set({ listener: 'daemon' }, server.connectionCount));
  collectedCounter(registry, 'labwire_rate_limited_total', 'Requests refused by the rate limit (and connections dropped for flooding) on the labwire port.', ['listener'], (set) => set({ listener: 'daemon' }, server.refusedCounters.rateLimited));
  collectedCounter(registry, 'labwire_connections_refused_total', 'Connections refused by the connection limits of the labwire port.', ['listener'], (set) => set({ listener: 'daemon' }, server.refusedCounters.connections));
  return { registry, detach: () => runner.observeLinkLatency(undefined) };
}

/** The daemon's metrics on a listener of their own; closing it detaches the latency observer. */
export async function serveDaemonMetrics(
  daemon: DaemonMetricsSource,
  address: MetricsAddress,
  opts: { logger: Logger; tokens?: TokenEntry[] },
): Promise<MetricsListener> {
  const metrics = daemonMetrics(daemon);
  let listener: MetricsListener;
  try {
    listener = await startMetricsListener({
      ...address,
      registry: metrics.registry,
      logger: opts.logger,
      label: `daemon "${daemon.runner.name}"`,
      ...(opts.tokens && opts.tokens.length > 0 ? { tokens: new TokenStore(opts.tokens) } : {}),
    });
  } catch (err) {
    metrics.detach();
    throw err;
  }
  opts.logger.info(`daemon "${daemon.runner.name}": metrics at ${listener.url}`);
  return {
    ...listener,
    close: async () => {
      metrics.detach();
      await listener.close();
    },
  };
}
