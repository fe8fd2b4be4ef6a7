/** The JSON shapes of devices and the live snapshot, shared by the API, the streams and the page. */
import type { LogEntry } from '../archive/types.js';
import type { AlarmState, AlarmTransition, LabStatus, MonitorView, PeerState, ResolvedPlot } from '../monitor/types.js';
import type { DescribeDoc } from '../wire/types.js';

/** A peer as the monitor knows it, plus what the page needs beside it. */
export interface DeviceView extends Omit<PeerState, 'describe'> {
  /** `state` and `state_text` of the device, when it reports them. */
  state: string | null;
  stateText: string | null;
  /** Unit of each parameter that has one (from describe). */
  units: Record<string, string>;
  describe: DescribeDoc | null;
  plots: ResolvedPlot[];
  /** The parameters the lab file chose for the overview (`overview:` on the device); absent: the family's key values. */
  overview?: string[];
}

export function deviceView(monitor: MonitorView, p: PeerState): DeviceView {
  const units: Record<string, string> = {};
  if (p.describe) for (const [k, d] of Object.entries(p.describe.params)) if (d.unit) units[k] = d.unit;
  const state = p.values.state;
  const stateText = p.values.state_text;
  const v: DeviceView = {
    name: p.name,
    protocol: p.protocol,
    host: p.host,
    port: p.port,
    connected: p.connected,
    since: p.since,
    state: state === undefined || state === null ? null : String(state),
    stateText: stateText === undefined || stateText === null ? null : String(stateText),
    values: p.values,
    ts: p.ts,
    units,
    describe: p.describe ?? null,
    plots: monitor.plots(p.name),
  };
  const overview = monitor.overview?.(p.name);
  if (overview !== undefined) v.overview = overview;
  if (p.description !== undefined) v.description = p.description;
  if (p.lastError !== undefined) v.lastError = p.lastError;
  if (p.via !== undefined) v.via = { ...p.via };
  return v;
}

export interface Snapshot {
  t: number;
  monitor: string;
  readOnly: boolean;
  devices: DeviceView[];
  status: LabStatus;
  messages: LogEntry[];
  /** Every configured alarm with its state (empty when the monitor has none). */
  alarms: AlarmState[];
}

/** The `alarm` live event: the alarm's new state and the change that led to it. */
export interface AlarmEvent {
  state: AlarmState;
  transition: { t: number; from: string; to: string; message: string; who?: string };
}

export function alarmEvent(state: AlarmState, tr: AlarmTransition): AlarmEvent {
  const transition: AlarmEvent['transition'] = { t: tr.t, from: tr.from, to: tr.to, message: tr.message };
  if (tr.who !== undefined) transition.who = tr.who;
  return { state, transition };
}

export function snapshot(monitor: MonitorView, messages = 200): Snapshot {
  return {
    t: Date.now(),
    monitor: monitor.name,
    readOnly: monitor.readOnly,
    devices: monitor.peers().map((p) => deviceView(monitor, p)),
    status: monitor.status(),
    messages: monitor.recentMessages(messages),
    alarms: monitor.alarms?.() ?? [],
  };
}
