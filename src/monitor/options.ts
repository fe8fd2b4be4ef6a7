/**
 * Options of the monitor and of each configured peer (the lab config's `monitor:` section maps
 * onto these).
 */
import type { Archive } from '../archive/types.js';
import { LISTENER_DEFAULTS, type ListenerLimitOptions, type Role, type TokenEntry } from '../server/index.js';
import type { Logger } from '../util/logger.js';
import type { AlarmConfig } from './alarms.js';
import type { AlarmHookConfig } from './hooks.js';
import type { PlotConfig } from './types.js';

export interface PeerConfig {
  /** The client name: status keys are `<name>.<param>`. Matched by host:port, never by what the daemon calls itself. */
  name: string;
  /**
   * labwire daemons are subscribed to; CCDLab daemons are polled with `get_status` (default
   * labwire); `monitor`: another monitor, whose devices are shown here as `<name>/<device>`.
   */
  protocol?: 'labwire' | 'ccdlab' | 'monitor';
  host: string;
  port: number;
  /** Sent as `auth token=...` after every connect (labwire peers). */
  token?: string;
  /**
   * TLS to the peer. The daemon's certificate is verified (against `ca`, default the system's CAs,
   * and against `servername`, default the host); `cert`/`key` are the monitor's client certificate
   * for daemons that require one.
   */
  tls?: PeerTlsConfig;
  /**
   * Longest reply or push line accepted from this peer, and largest binary reply (default 16 MiB):
   * a longer one drops the connection with a log line naming the peer and the limit; it is then
   * retried as after any lost connection.
   */
  maxReplyBytes?: number;
  description?: string;
  plots?: PlotConfig[];
  /** The parameters the page's overview shows for this device (default: the family's key values from describe). */
  overview?: string[];
  /** false: left out entirely, as CCDLab's `enabled = False` (default true). */
  enabled?: boolean;
  /**
   * `protocol: monitor` only: whether this monitor archives the lower monitor's devices too
   * (default false: the lower monitor archives what it sees, and two monitors writing one shared
   * PostgreSQL would store every sample twice under two names). docs/decisions/0023.
   */
  archiveDevices?: boolean;
  /** Per-parameter archive policy; overrides the daemon's `describe` hints and the monitor's default heartbeat. */
  archive?: Record<string, { deadband?: number; heartbeatMs?: number }>;
}

export interface PeerTlsConfig {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  /** Default true. false skips verification: for tests only, it lets an impostor in. */
  rejectUnauthorized?: boolean;
}

/** TLS of a listener: its certificate and key; with `ca`, clients must present a certificate issued by it. */
export interface ListenerTlsConfig {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer;
}

/** The limits of the monitor's own port are every listener's (ListenerLimitOptions), with the same defaults. */
export interface MonitorOptions extends ListenerLimitOptions {
  /** Name in `get_id` and in the `id` line sent to labwire peers (default `monitor`). */
  name?: string;
  peers: PeerConfig[];
  /** Where history, the message log and the audit trail go; the caller opens and closes it. */
  archive?: Archive;
  /** The monitor's own labwire port: default 127.0.0.1:7100; `false` for none. */
  listen?: { host?: string; port?: number } | false;
  /** TLS for the monitor's own port; with `ca`, clients must present a certificate issued by it. */
  tls?: ListenerTlsConfig;
  tokens?: TokenEntry[];
  /** Role of connections without a token: default admin without tokens, none with tokens (as daemons). */
  anonymousRole?: Role | 'none';
  /** Refuse every state-changing `send`. */
  readOnly?: boolean;
  /** Set inside a lab run by `labwire up`/`demo`: `exit` on the monitor's port is refused with this text (the lab stops as a whole). */
  exitRefusal?: string;
  logger: Logger;
  /** Poll interval of CCDLab peers, and the liveness check interval of labwire peers (default 1000 ms). */
  ccdlabPollMs?: number;
  /** A peer that does not answer a poll or ping within this long counts as down (default 2000 ms). */
  peerTimeoutMs?: number;
  /** How long a `send` waits for the device's reply (default 10000 ms). */
  sendTimeoutMs?: number;
  /** Entries of the message log kept in memory (default 1000). */
  messageBuffer?: number;
  /**
   * Default archive heartbeat of every series (default 60000 ms): a value is stored at least this
   * often even without change. Daemons push changes only, so the monitor hands the archive a
   * value again when it has handed over nothing of that series for its heartbeat.
   */
  heartbeatMs?: number;
  /** Version in `get_id` (default the package version). */
  version?: string;
  /** Largest image file fetched from a daemon for the web (`image path=…`, a binary reply); default 1 GiB. */
  imageMaxBytes?: number;
  /** How long fetching one image file may take (default 300000 ms). */
  imageFetchTimeoutMs?: number;
  /** Alarms evaluated on every update of the values they read (docs/alarms.md). */
  alarms?: AlarmConfig[];
  /** Where alarm transitions are sent besides the log and the archive: webhooks, Alertmanager. */
  alarmHooks?: AlarmHookConfig[];
}

export const MONITOR_DEFAULTS = {
  name: 'monitor',
  host: '127.0.0.1',
  port: 7100,
  ccdlabPollMs: 1000,
  peerTimeoutMs: 2000,
  sendTimeoutMs: 10_000,
  messageBuffer: 1000,
  heartbeatMs: 60_000,
  ...LISTENER_DEFAULTS,
  /** Longest reply from a peer: a big device's describe fits many times over. */
  peerMaxReplyBytes: 16 * 1024 * 1024,
  /** Largest image file fetched for the web: on a connection of its own, apart from maxReplyBytes. */
  imageMaxBytes: 1024 * 1024 * 1024,
  imageFetchTimeoutMs: 300_000,
} as const;
