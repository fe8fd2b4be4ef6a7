/**
 * What the monitor's and the daemon's expositions share: a Registry of our own (never prom-client's
 * global one, whose default Node metrics fail `promtool check metrics`), the device value family,
 * counters copied from counts kept elsewhere, and a histogram read from a cumulative record.
 *
 * Everything is read at scrape time (`collect`): the counts live where the events happen (the
 * Exchange's events, the LineServer, the archive queue), so the hot paths only bump an integer,
 * and a series whose device went away is gone from the next scrape, because each collect starts
 * from an empty family.
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import { VERSION } from '../../version.js';

/** The text format Prometheus scrapes (0.0.4). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export type ValueLike = string | number | boolean | null | undefined;

/** A number to expose, or undefined for what is not one (text, null, NaN): booleans count as 0/1. */
export function numericValue(v: ValueLike): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

export interface DeviceValues {
  device: string;
  values: Iterable<[string, ValueLike]>;
  units: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads once per scrape: prom-client starts every collector of one scrape in the same turn of the
 * event loop, so a value kept until the next turn is one snapshot for all of them — the families
 * of one exposition then agree, and a source such as stats() or health() is built once.
 */
export function perScrape<T>(read: () => T): () => T {
  let cached: { value: T } | undefined;
  return () => {
    if (cached === undefined) {
      cached = { value: read() };
      setImmediate(() => (cached = undefined));
    }
    return cached.value;
  };
}

export function newRegistry(role: 'daemon' | 'monitor'): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'labwire_build_info',
    help: 'Always 1; the labels say which labwire version runs and in which role.',
    labelNames: ['version', 'role'],
    registers: [registry],
  }).set({ version: VERSION, role }, 1);
  processMetrics(registry);
  return registry;
}

const startedAtS = Math.round(Date.now() / 1000 - process.uptime());

/**
 * A few process metrics with their standard names (not prom-client's defaults: three of those
 * are gauges named `_total`, which promtool refuses). Read at scrape time; no timers.
 */
function processMetrics(registry: Registry): void {
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers: [registry],
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since the Unix epoch in seconds.',
    registers: [registry],
  }).set(startedAtS);
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used by JavaScript objects, in bytes.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
}

/** `labwire_value{device,param,unit}`: every numeric value of the devices `source` lists now. */
export function valueFamily(registry: Registry, source: () => Iterable<DeviceValues>): void {
  new Gauge({
    name: 'labwire_value',
    help: 'Latest numeric value of a device parameter (booleans as 0/1; text values are not exposed); only while the device is connected.',
    labelNames: ['device', 'param', 'unit'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of source()) {
        for (const [param, raw] of d.values) {
          const v = numericValue(raw);
          if (v !== undefined) this.set({ device: d.device, param, unit: d.units[param] ?? '' }, v);
        }
      }
    },
  });
}

/** A gauge whose series are all set at scrape time from `read`. */
export function collectedGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (set: (labels: Record<L, string>, value: number) => void) => void,
): void {
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, value) => this.set(labels as never, value));
    },
  });
}

/** A counter copied at scrape time from a count kept elsewhere (monotonic there since start). */
export function collectedCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (set: (labels: Record<L, string>, value: number) => void) => void,
): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, value) => this.inc(labels as never, Math.max(0, value)));
    },
  });
}

/** A cumulative histogram kept elsewhere (ArchiveStats.commit): bounds and counts in ms, exposed in seconds. */
export interface CumulativeRecord {
  readonly bucketsMs: readonly number[];
  readonly counts: readonly number[];
  readonly count: number;
  readonly sumMs: number;
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * prom-client's Histogram can only be fed one observation at a time; this one is read from a
 * record at scrape time. It has the shape Registry expects of a metric (name, help, type, get).
 */
export function recordHistogram(registry: Registry, name: string, help: string, read: () => CumulativeRecord | undefined): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
      const r = read();
      const values: MetricValue[] = [];
      if (r !== undefined) {
        r.bucketsMs.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { le: le / 1000 }, value: r.counts[i] ?? 0 }));
        values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: r.count });
        values.push({ metricName: `${name}_sum`, labels: {}, value: r.sumMs / 1000 });
        values.push({ metricName: `${name}_count`, labels: {}, value: r.count });
      }
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}
