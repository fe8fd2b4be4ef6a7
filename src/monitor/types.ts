/**
 * What the monitor offers to the layers above it (web, bridges, `labwire up`). The web knows the
 * monitor only through MonitorView; it never reaches into peers or the archive's internals.
 */
import type { EventEmitter } from 'node:events';
import type { DescribeDoc } from '../wire/types.js';
import type { Archive, ImageRecord, LogEntry, LogLevel } from '../archive/types.js';
import type { AlarmState } from './alarms.js';
import type { Role } from '../server/index.js';

export type { AlarmState, AlarmTransition, AlarmConfig, AlarmSeverity, AlarmStatus, AlarmType } from './alarms.js';

export type PeerValue = string | number | boolean | null;

/** One configured peer: a labwire daemon (subscribed) or a CCDLab daemon (polled every second). */
export interface PeerState {
  /** The client name from the lab config; status keys are `<name>.<param>`. */
  name: string;
  protocol: 'labwire' | 'ccdlab';
  host: string;
  port: number;
  description?: string;
  /** Connected and answering. */
  connected: boolean;
  /** Unix ms of the last connect or disconnect. */
  since: number;
  lastError?: string;
  /** labwire peers: their self-description (parameters, units, limits, commands). */
  describe?: DescribeDoc;
  /**
   * A device of a lower monitor (`peers[]` with `protocol: monitor`): the monitor peer's name and
   * the device's name there. The client name is `<monitor>/<device>`; read these, never split it.
   */
  via?: { monitor: string; device: string };
  /** Latest values (CCDLab peers: as sent, numbers parsed when they look like numbers). */
  values: Record<string, PeerValue>;
  /** Unix ms of each value's last update. */
  ts: Record<string, number>;
}

/** CCDLab's plot definition: the first value is the abscissa (usually `time`). */
export interface PlotConfig {
  id: string;
  name: string;
  values: string[];
  xlabel?: string;
  ylabel?: string;
  xscale?: 'linear' | 'log';
  yscale?: 'linear' | 'log';
  width?: number;
  height?: number;
}

/** One plotted series: a parameter of a device, as two fields (a parameter name may hold dots). */
export interface SeriesRef {
  device: string;
  name: string;
}

/**
 * A plot as the monitor serves it: CCDLab's definition plus its values resolved once, by the
 * monitor that knows the clients and their parameters, so no reader splits `chA.temperature`.
 */
export interface ResolvedPlot extends PlotConfig {
  /** The abscissa; null for time. */
  x: SeriesRef | null;
  /** The plotted values after the abscissa, in order. */
  series: SeriesRef[];
}

export interface MonitorUpdate {
  client: string;
  t: number;
  values: Record<string, PeerValue>;
}

/** Who asked, for the message log and the audit trail. */
export interface MonitorActor {
  who: string;
  peer: string;
  /**
   * The end user's role where the monitor forwards for a person (web, monitor port): a labwire
   * daemon that trusts the monitor records `who` and applies the lower of this and its own role.
   */
  role?: Role | null;
}

/**
 * What became of a message-log entry or audit row: committed to the archive, or not — with the
 * reason when an archive is configured and failed; without one when the monitor has no archive.
 */
export type LogReceipt = { stored: true } | { stored: false; reason?: string };

/** The aggregated lab status (`get_status format=json` of the monitor, `/monitor/status`). */
export interface LabStatus {
  /** CCDLab's name: connections to the monitor's port (clientsConnected), kept for CCDLab peers. */
  nconnected: number;
  /** Connections to the monitor's labwire port (scripts, the CLI, CCDLab tools). */
  clientsConnected: number;
  /** Devices whose link from the monitor is up. */
  devicesConnected: number;
  clients: Record<string, { connected: boolean; values: Record<string, PeerValue> }>;
  /** Present while the archive is degraded (spooling to a local file: decision 0022). */
  archive?: { state: 'degraded'; spooled: number; text: string };
}

/** Counters of the monitor's links and port since start, for metrics (MonitorView.health). */
export interface MonitorHealth {
  peers: Array<{
    name: string;
    /** `monitor`: a lower monitor's own link (its devices are listed by peers() with their own protocol). */
    protocol: 'labwire' | 'ccdlab' | 'monitor';
    connected: boolean;
    /** Times the peer came back (connected and answering) after its first time. */
    reconnects: number;
    /** Liveness probes and forwarded requests it left unanswered in time. */
    timeouts: number;
  }>;
  /** The monitor's own labwire port, when it listens. */
  port?: { connections: number; rateLimited: number; connectionsRefused: number };
}

/**
 * Events: `update` (MonitorUpdate) for every change of any peer's values, `message` (LogEntry)
 * for every new message-log entry, `peer` (PeerState) when a peer connects, disconnects or
 * re-describes itself, `alarm` (AlarmState, AlarmTransition) for every alarm state change,
 * `image` (ImageRecord) for every newly indexed image.
 */
export interface MonitorView extends EventEmitter {
  readonly name: string;
  readonly readOnly: boolean;
  readonly archive: Archive | undefined;
  peers(): PeerState[];
  peer(name: string): PeerState | undefined;
  plots(client: string): ResolvedPlot[];
  /** The parameters the lab file chose for the page's overview of this client (undefined: none chosen). */
  overview?(client: string): string[] | undefined;
  status(): LabStatus;
  /**
   * Sends one labwire line to a peer and resolves with the peer's own reply line (an `error ...`
   * reply resolves too: it is the device's answer). Rejects with LabwireError NoSuchParameter-free
   * codes: `CommunicationFailed` when the peer is down, `ProtocolError` for an unknown client name,
   * `ReadOnly` when the monitor is read-only and the line would change state.
   */
  send(client: string, line: string, actor: MonitorActor): Promise<string>;
  /**
   * Adds an entry to the message log (shown live and archived). Settles once the archive has
   * committed it, or with the reason it is not stored; never rejects.
   */
  message(source: string, level: LogLevel, text: string): Promise<LogReceipt>;
  /** Newest last. */
  recentMessages(limit?: number): LogEntry[];
  /** Counters of links and port (optional: views without them leave it out). */
  health?(): MonitorHealth;
  /** Every configured alarm with its state (optional: views without alarms leave it out). */
  alarms?(): AlarmState[];
  /**
   * Acknowledges a raised alarm; returns its new state. Throws LabwireError
   * `NoSuchParameter` for an unknown id, `ProtocolError` when the alarm is not raised.
   */
  acknowledge?(id: string, actor: MonitorActor): AlarmState;
  /**
   * The bytes of an image file from the daemon that wrote it (`image path=<p>`, a binary reply on
   * a connection of its own, at most imageMaxBytes). Rejects with LabwireError: `CommunicationFailed`
   * when the device is down or the link dropped during the transfer, `ProtocolError` for an
   * unknown client or one that is no image source, `LineTooLong` when the file is over the limit,
   * or the daemon's own error.
   */
  fetchImage?(client: string, path: string): Promise<Buffer>;
}

export type { ImageRecord };
