/** Prometheus metrics of the monitor and of each daemon (docs/metrics.md, decision 0025). */
export { monitorMetrics, ALARM_STATES, type MonitorMetricsOptions } from './monitor.js';
export { daemonMetrics, serveDaemonMetrics, LINK_LATENCY_BUCKETS, type DaemonMetrics, type DaemonMetricsSource } from './daemon.js';
export { startMetricsListener, parseMetricsAddress, METRICS_DEFAULT_HOST, type MetricsAddress, type MetricsListener, type MetricsListenerOptions } from './http.js';
export { METRICS_CONTENT_TYPE, numericValue } from './registry.js';
