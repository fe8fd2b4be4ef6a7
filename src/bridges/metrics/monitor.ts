/**
 * The monitor's exposition (GET /metrics on its web server): device values of every connected
 * peer, peer link health, clients of the labwire port and of the web streams, refusals, the
 * archive's queue, commits and spool, and alarm states. Read from MonitorView at scrape time.
 */
import type { Registry } from 'prom-client';
import type { ArchiveStats } from '../../archive/types.js';
import type { AlarmStatus, MonitorView } from '../../monitor/types.js';
import { collectedCounter, collectedGauge, newRegistry, perScrape, recordHistogram, valueFamily, type DeviceValues } from './registry.js';

export const ALARM_STATES: readonly AlarmStatus[] = ['ok', 'pending', 'raised', 'acknowledged', 'cleared'];

export interface MonitorMetricsOptions {
  /** Live web streams now (the Hub's stats). */
  streams?: () => { sse: number; ws: number };
  /** Token checks of the web refused while the address backs off after wrong tokens. */
  webRefused?: () => number;
}

function* peerValues(monitor: MonitorView): Iterable<DeviceValues> {
  for (const p of monitor.peers()) {
    // A disconnected peer's values are old: its series go until it answers again (labwire_peer_up says why).
    if (!p.connected) continue;
    const units: Record<string, string | undefined> = {};
    for (const [k, d] of Object.entries(p.describe?.params ?? {})) units[k] = d.unit;
    yield { device: p.name, values: Object.entries(p.values), units };
  }
}

export function monitorMetrics(monitor: MonitorView, options: MonitorMetricsOptions = {}): Registry {
  const registry = newRegistry('monitor');
  const health = perScrape(() => monitor.health?.());
  valueFamily(registry, () => peerValues(monitor));

  collectedGauge(registry, 'labwire_peer_up', 'Whether the peer (daemon, CCDLab daemon or monitor) is connected and answering: 1 or 0.', ['peer', 'protocol'], (set) => {
    for (const p of monitor.peers()) set({ peer: p.name, protocol: p.protocol }, p.connected ? 1 : 0);
    // A lower monitor's own link is no device of peers(): from health, also while it never connected.
    for (const p of health()?.peers ?? []) if (p.protocol === 'monitor') set({ peer: p.name, protocol: p.protocol }, p.connected ? 1 : 0);
  });
  collectedCounter(registry, 'labwire_peer_reconnects_total', 'Times the peer came back (connected and answering) after it was lost.', ['peer'], (set) => {
    for (const p of health()?.peers ?? []) set({ peer: p.name }, p.reconnects);
  });
  collectedCounter(registry, 'labwire_peer_timeouts_total', 'Liveness probes and forwarded requests the peer left unanswered in time.', ['peer'], (set) => {
    for (const p of health()?.peers ?? []) set({ peer: p.name }, p.timeouts);
  });

  collectedGauge(registry, 'labwire_clients', 'Open client connections: the labwire port (listener monitor) and the live web streams (web_sse, web_ws).', ['listener'], (set) => {
    const port = health()?.port;
    if (port) set({ listener: 'monitor' }, port.connections);
    const s = options.streams?.();
    if (s) {
      set({ listener: 'web_sse' }, s.sse);
      set({ listener: 'web_ws' }, s.ws);
    }
  });
  collectedCounter(registry, 'labwire_rate_limited_total', 'Requests refused by a rate limit: the labwire port (monitor), token checks of the web while the address backs off (web).', ['listener'], (set) => {
    const port = health()?.port;
    if (port) set({ listener: 'monitor' }, port.rateLimited);
    const web = options.webRefused?.();
    if (web !== undefined) set({ listener: 'web' }, web);
  });
  collectedCounter(registry, 'labwire_connections_refused_total', 'Connections refused by the connection limits of the labwire port.', ['listener'], (set) => {
    const port = health()?.port;
    if (port) set({ listener: 'monitor' }, port.connectionsRefused);
  });

  // The archive: one stats() per scrape for every family, none of them on the write path.
  const stats = perScrape((): ArchiveStats | undefined => {
    try {
      return monitor.archive?.stats();
    } catch {
      return undefined;
    }
  });
  const archiveGauge = (name: string, help: string, read: (s: NonNullable<ReturnType<typeof stats>>) => number): void =>
    collectedGauge(registry, name, help, [], (set) => {
      const s = stats();
      if (s) set({}, read(s));
    });
  const archiveCounter = (name: string, help: string, read: (s: NonNullable<ReturnType<typeof stats>>) => number): void =>
    collectedCounter(registry, name, help, [], (set) => {
      const s = stats();
      if (s) set({}, read(s));
    });
  archiveGauge('labwire_archive_pending_samples', 'Samples accepted by the archive and not yet committed (its write queue).', (s) => s.pending);
  archiveGauge('labwire_archive_spooled_samples', 'Samples waiting in the local spool while the database is unavailable.', (s) => s.spooled ?? 0);
  archiveGauge('labwire_archive_degraded', 'Whether the archive is degraded (spooling, or its last write failed): 1 or 0.', (s) => (s.state === 'degraded' || s.lastError !== undefined ? 1 : 0));
  archiveCounter('labwire_archive_committed_samples_total', 'Samples committed to the archive since start.', (s) => s.committed);
  archiveCounter('labwire_archive_failed_samples_total', 'Samples whose write was rejected (failed transaction, full queue) since start.', (s) => s.failed ?? 0);
  recordHistogram(registry, 'labwire_archive_commit_duration_seconds', 'Duration of each committed archive transaction.', () => stats()?.commit);

  collectedGauge(registry, 'labwire_alarm_state', 'Alarm state: 1 for the state the alarm is in, 0 for the others.', ['alarm', 'state'], (set) => {
    for (const a of monitor.alarms?.() ?? []) for (const st of ALARM_STATES) set({ alarm: a.id, state: st }, a.state === st ? 1 : 0);
  });
  return registry;
}
