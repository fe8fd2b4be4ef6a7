/** The monitor: peers, lab status, message log, archive feeding, send, and its own labwire port. */
export { startMonitor, Monitor, MONITOR_DEFAULTS, type MonitorEvents } from './monitor.js';
export type { MonitorOptions, PeerConfig } from './options.js';
export type { LabStatus, MonitorActor, MonitorUpdate, MonitorView, PeerState, PeerValue, PlotConfig, ResolvedPlot, SeriesRef } from './types.js';
export { resolvePlot, resolvePlotValue } from './plots.js';
export { lineKind, type LineKind } from './values.js';
