import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Archive, ArchiveStats } from '../../archive/types.js';
import type { AlarmState, MonitorHealth, MonitorView, PeerState } from '../../monitor/types.js';
import { promtoolCheck, promtoolTest, runPromtool } from '../../testing/promtool.js';
import { monitorMetrics } from './monitor.js';

promtoolTest();

function view(peers: PeerState[], stats: ArchiveStats & { spooled?: number; state?: string }, alarms: Partial<AlarmState>[], health?: MonitorHealth): MonitorView {
  const v = Object.assign(new EventEmitter(), {
    name: 'room1',
    readOnly: false,
    archive: { kind: 'postgres', stats: () => stats } as unknown as Archive,
    peers: () => peers,
    alarms: () => alarms as AlarmState[],
    ...(health ? { health: () => health } : {}),
  });
  return v as unknown as MonitorView;
}

const peer = (p: Partial<PeerState>): PeerState => ({ name: 'x', protocol: 'labwire', host: '127.0.0.1', port: 1, connected: true, since: 0, values: {}, ts: {}, ...p });

describe('monitor metrics from a MonitorView', () => {
  it('expose numbers only, connected peers only, the spool and the alarm states', async () => {
    const m = view(
      [
        peer({ name: 'chiller', values: { temperature: 20.5, running: true, state: 'idle', t: Number.NaN, none: null }, describe: { params: { temperature: { unit: '°C' } } } as unknown as PeerState['describe'] }),
        peer({ name: 'gauge', protocol: 'ccdlab', values: { pressure: 3.4e-7 } }),
        peer({ name: 'gone', connected: false, values: { temperature: 99 } }),
      ],
      { pending: 3, committed: 10, skipped: 0, failed: 4, state: 'degraded', spooled: 120, commit: { bucketsMs: [10, 100], counts: [1, 2], count: 3, sumMs: 250 } },
      [{ id: 'hot', state: 'acknowledged' }],
      { peers: [{ name: 'chiller', protocol: 'labwire', connected: true, reconnects: 2, timeouts: 5 }], port: { connections: 1, rateLimited: 7, connectionsRefused: 0 } },
    );
    const text = await monitorMetrics(m, { streams: () => ({ sse: 2, ws: 1 }) }).metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('labwire_') && !l.startsWith('labwire_build_info'));
    expect(lines).toEqual([
      'labwire_value{device="chiller",param="temperature",unit="°C"} 20.5',
      'labwire_value{device="chiller",param="running",unit=""} 1',
      'labwire_value{device="gauge",param="pressure",unit=""} 3.4e-7',
      'labwire_peer_up{peer="chiller",protocol="labwire"} 1',
      'labwire_peer_up{peer="gauge",protocol="ccdlab"} 1',
      'labwire_peer_up{peer="gone",protocol="labwire"} 0',
      'labwire_peer_reconnects_total{peer="chiller"} 2',
      'labwire_peer_timeouts_total{peer="chiller"} 5',
      'labwire_clients{listener="monitor"} 1',
      'labwire_clients{listener="web_sse"} 2',
      'labwire_clients{listener="web_ws"} 1',
      'labwire_rate_limited_total{listener="monitor"} 7',
      'labwire_connections_refused_total{listener="monitor"} 0',
      'labwire_archive_pending_samples 3',
      'labwire_archive_spooled_samples 120',
      'labwire_archive_degraded 1',
      'labwire_archive_committed_samples_total 10',
      'labwire_archive_failed_samples_total 4',
      'labwire_archive_commit_duration_seconds_bucket{le="0.01"} 1',
      'labwire_archive_commit_duration_seconds_bucket{le="0.1"} 2',
      'labwire_archive_commit_duration_seconds_bucket{le="+Inf"} 3',
      'labwire_archive_commit_duration_seconds_sum 0.25',
      'labwire_archive_commit_duration_seconds_count 3',
      'labwire_alarm_state{alarm="hot",state="ok"} 0',
      'labwire_alarm_state{alarm="hot",state="pending"} 0',
      'labwire_alarm_state{alarm="hot",state="raised"} 0',
      'labwire_alarm_state{alarm="hot",state="acknowledged"} 1',
      'labwire_alarm_state{alarm="hot",state="cleared"} 0',
    ]);
    if (runPromtool) expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
  });

  it('a series of a peer that went away is gone from the next scrape', async () => {
    const peers = [peer({ name: 'a', values: { v: 1 } }), peer({ name: 'b', values: { v: 2 } })];
    const registry = monitorMetrics(view(peers, { pending: 0, committed: 0, skipped: 0 }, []));
    expect(await registry.metrics()).toContain('labwire_value{device="b",param="v",unit=""} 2');
    peers.pop();
    const text = await registry.metrics();
    expect(text).toContain('labwire_value{device="a",param="v",unit=""} 1');
    expect(text).not.toContain('device="b"');
    expect(text).not.toContain('peer="b"');
  });

  it('a lower monitor\'s own link has labwire_peer_up with protocol monitor, from health, also while down', async () => {
    const m = view([peer({ name: 'room1/gauge', protocol: 'ccdlab', values: { pressure: 1 } })], { pending: 0, committed: 0, skipped: 0 }, [], {
      peers: [{ name: 'room1', protocol: 'monitor', connected: false, reconnects: 0, timeouts: 3 }],
    });
    const text = await monitorMetrics(m).metrics();
    expect(text).toContain('labwire_peer_up{peer="room1/gauge",protocol="ccdlab"} 1');
    expect(text).toContain('labwire_peer_up{peer="room1",protocol="monitor"} 0');
    expect(text).toContain('labwire_peer_timeouts_total{peer="room1"} 3');
  });
});
