/**
 * What the monitor needs of one device it shows: a daemon it connects to itself (Peer), or a
 * device of a lower monitor (RemoteDevice, seen through a MonitorPeer). Everything above the peer
 * layer — the status, `snapshot`, `send`, the archive feed, alarms, the web — works on this.
 */
import type { DescribeDoc } from '../wire/types.js';
import type { PeerConfig } from './options.js';
import type { MonitorActor, PeerState, PeerValue } from './types.js';

export interface LabDevice {
  /** The client name on this monitor: a configured name, or `<monitor peer>/<its device>`. */
  readonly name: string;
  readonly protocol: 'labwire' | 'ccdlab';
  /** Plots, description and per-parameter archive policy. */
  readonly config: Pick<PeerConfig, 'plots' | 'description' | 'archive' | 'overview'>;
  readonly values: Record<string, PeerValue>;
  readonly describe: DescribeDoc | undefined;
  readonly connected: boolean;
  readonly lastError: string | undefined;
  /** Where the monitor connects to reach it (for a device of a lower monitor: that monitor). */
  readonly endpoint: string;
  /** Whether this monitor archives its values (a lower monitor's devices: its peer's `archive`). */
  readonly archived: boolean;
  /**
   * The monitors its values came through, nearest first: empty for the monitor's own peers. A
   * device whose list holds this monitor's own name is a loop and is never shown.
   */
  readonly monitors: readonly string[];
  state(): PeerState;
  /** Forwards one line and resolves with the device's reply line (an `error …` reply included). */
  forward(line: string, command: string, actor?: MonitorActor): Promise<string>;
}
