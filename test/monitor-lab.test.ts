/**
 * The monitor in a small real lab: a simulated Julabo behind a real daemon, a CCDLab-style daemon,
 * and scripts on the monitor's port — real sockets on loopback, default timing where the timing
 * is what is tested (a killed daemon shows as down within 2 s).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../src/daemon/daemon.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import type { PeerState } from '../src/monitor/types.js';
import { CcdlabPeer } from '../src/monitor/test-helpers/ccdlab-peer.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { silentLogger } from '../src/util/logger.js';
import { parseLine } from '../src/wire/tokenize.js';
import { eventually, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

/** The pairs of a `status ...` line. */
const kv = (line: string): Record<string, string> => ({ ...parseLine(line).kwargs });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Lab {
  julabo: JulaboLab;
  gauge: CcdlabPeer;
  m: Monitor;
  archive: MemoryArchive;
  script(name: string): Promise<RawClient>;
}

async function lab(): Promise<Lab> {
  const julabo = await startJulaboLab({ initialTemperature: 20, setpoint: 20 });
  cleanups.push(() => julabo.close());
  const gauge = new CcdlabPeer('pfeiffer', { hw_connected: 1, status: 0, pressure: 3.42041, simulator: 1 });
  await gauge.start();
  cleanups.push(() => gauge.stop());
  const archive = new MemoryArchive();
  const m = await startMonitor({
    peers: [
      { name: 'chiller', host: '127.0.0.1', port: julabo.port, description: 'Julabo FL1703' },
      { name: 'pfeiffer', protocol: 'ccdlab', host: '127.0.0.1', port: gauge.port },
    ],
    archive,
    listen: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
  });
  cleanups.push(() => m.close());
  await eventually(() => {
    const chiller = m.peer('chiller')!;
    expect(chiller.connected).toBe(true);
    expect(chiller.values.hw_connected).toBe(true);
    expect(typeof chiller.values.temperature).toBe('number');
    expect(chiller.values.setpoint).toBe(20);
    expect(m.peer('pfeiffer')!.connected).toBe(true);
  }, 10_000);
  return {
    julabo,
    gauge,
    m,
    archive,
    async script(name: string) {
      const c = await RawClient.connect(m.port);
      cleanups.push(() => c.close());
      c.write(`id name=${name} type=script\n`);
      return c;
    },
  };
}

describe('monitor with a real Julabo daemon and a CCDLab peer', () => {
  it('aggregates both into one lab status and archives both', async () => {
    const { m, script, archive } = await lab();
    const c = await script('reader');
    const status = kv(await c.request('get_status'));
    expect(status).toMatchObject({ nconnected: '1', chiller: '1', 'chiller.hw_connected': '1', 'chiller.setpoint': '20', pfeiffer: '1', 'pfeiffer.pressure': '3.42041', 'pfeiffer.simulator': '1' });
    expect(Number(status['chiller.temperature'])).toBeCloseTo(20, 0);
    expect(status['chiller.state']).toMatch(/^(idle|busy|stabilizing)$/);
    const doc = JSON.parse((await c.request('get_status format=json')).slice('status_json '.length)) as Record<string, Record<string, unknown>>;
    expect(doc.chiller).toMatchObject({ hw_connected: true, setpoint: 20, version: 'JULABO FL1703 V 1.02' });
    expect(doc.pfeiffer).toMatchObject({ pressure: 3.42041 });
    expect(m.peer('chiller')!.describe?.params.setpoint).toMatchObject({ unit: '°C', min: -20, max: 40 });
    await eventually(() => {
      expect(archive.series('chiller', 'setpoint').map((s) => s.value)).toContain(20);
      expect(archive.series('chiller', 'hw_connected').map((s) => s.value)).toContain(1);
      expect(archive.series('pfeiffer', 'pressure').map((s) => s.value)).toEqual([3.42041]);
    });
    expect(archive.policies.get('chiller.temperature')).toMatchObject({ unit: '°C', heartbeatMs: 60_000 });
  });

  it('send chiller set setpoint=12: the device’s reply, the simulator changed, the audit written', async () => {
    const { julabo, m, script, archive } = await lab();
    const c = await script('cooldown');
    expect(await c.request('send chiller set setpoint=12')).toBe('ok set setpoint=12');
    expect(julabo.sim.setpoint).toBe(12);
    await eventually(() => expect(m.peer('chiller')!.values.setpoint).toBe(12));
    await eventually(() => expect(archive.audits).toHaveLength(1));
    expect(archive.audits[0]).toMatchObject({
      who: 'cooldown',
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      device: 'chiller',
      command: 'set setpoint=12',
      before: { setpoint: 20 },
      after: { setpoint: 12 },
      result: 'ok set setpoint=12',
    });
    expect(await c.request('send chiller set setpoint=55')).toBe('error set code=RangeError message="setpoint 55 °C is above the FL1703 limit of 40 °C"');
    expect(julabo.sim.setpoint).toBe(12);
    expect(m.recentMessages().map((e) => e.message)).toContain('send chiller set setpoint=12 → ok set setpoint=12');
    // Before the daemon's first reading the setpoint was missing (null): that is archived too.
    await eventually(() => expect(archive.series('chiller', 'setpoint').map((s) => s.value).filter((v) => v !== null)).toEqual([20, 12]));
  });

  it('a killed daemon shows as down within 2 s, is logged, leaves a gap, and is back when it returns', async () => {
    const { julabo, m, archive } = await lab();
    const states: PeerState[] = [];
    m.on('peer', (s: PeerState) => states.push(s));
    const killedAt = Date.now();
    await julabo.daemon.close();
    await eventually(() => expect(m.peer('chiller')!.connected).toBe(false), 2000, 10);
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect(m.peer('pfeiffer')!.connected).toBe(true);
    expect(m.recentMessages().map((e) => `${e.source}|${e.level}|${e.message}`)).toContain('chiller|warning|chiller disconnected');
    await eventually(() => expect(archive.series('chiller', 'temperature').at(-1)?.value).toBeNull());
    const gap = archive.series('chiller', 'temperature').at(-1)!;
    expect(gap.t).toBeGreaterThanOrEqual(killedAt);
    expect(gap.t - killedAt).toBeLessThan(2000);
    // The status shows it down without its old values.
    const c = await RawClient.connect(m.port);
    cleanups.push(() => c.close());
    const status = kv(await c.request('get_status'));
    expect(status.chiller).toBe('0');
    expect(status['chiller.temperature']).toBeUndefined();

    // The daemon returns on the same port.
    const again: Daemon = await julabo.startAgain();
    cleanups.push(() => again.close());
    await eventually(() => {
      expect(m.peer('chiller')!.connected).toBe(true);
      expect(typeof m.peer('chiller')!.values.temperature).toBe('number');
    }, 10_000);
    expect(states.map((s) => s.connected)).toEqual([false, true]);
    expect(m.recentMessages().filter((e) => e.source === 'chiller' && / (dis)?connected$/.test(e.message)).map((e) => e.message)).toEqual([
      'chiller connected',
      'chiller disconnected',
      'chiller connected',
    ]);
    await eventually(() => {
      const temps = archive.series('chiller', 'temperature');
      const nullAt = temps.findIndex((s) => s.value === null && s.t >= killedAt);
      expect(nullAt).toBeGreaterThan(0);
      expect(temps.slice(nullAt + 1).some((s) => typeof s.value === 'number')).toBe(true);
    }, 10_000);
    expect(archive.logs.map((e) => e.message)).toContain('chiller disconnected');
  });

  it('a CCDLab peer is polled every second, its log lines stored, its malformed status survived', async () => {
    const { gauge, m, archive } = await lab();
    const polls = (): number => gauge.received.filter((l) => l === 'get_status').length;
    const first = polls();
    await new Promise((r) => setTimeout(r, 2100));
    expect(polls() - first).toBeGreaterThanOrEqual(2);
    expect(polls() - first).toBeLessThanOrEqual(3);
    gauge.log('warning', 'pressure rising');
    await eventually(() => expect(archive.logs.map((e) => `${e.source}|${e.level}|${e.message}`)).toContain('pfeiffer|warning|pressure rising'));
    gauge.statusReply = 'status hw_connected=1 pressure=="broken';
    await eventually(() => expect(m.recentMessages().some((e) => e.source === 'pfeiffer' && e.message.includes('malformed status'))).toBe(true), 3000);
    expect(m.peer('pfeiffer')!.values.pressure).toBe(3.42041);
    expect(m.peer('pfeiffer')!.connected).toBe(true);
    gauge.setValues({ hw_connected: 1, status: 0, pressure: 1.5, simulator: 1 });
    await eventually(() => expect(archive.series('pfeiffer', 'pressure').map((s) => s.value)).toEqual([3.42041, 1.5]), 3000);
  });

  it('script messages sent to the monitor land in the message log and the archive', async () => {
    const { m, script, archive } = await lab();
    const c = await script('cooldown');
    expect(await c.request('info cool-down to 12 °C started')).toBe('ok info');
    expect(await c.request('success reached 12 °C')).toBe('ok success');
    expect(m.recentMessages(2).map((e) => [e.source, e.level, e.message])).toEqual([
      ['cooldown', 'info', 'cool-down to 12 °C started'],
      ['cooldown', 'success', 'reached 12 °C'],
    ]);
    await eventually(() => expect(archive.logs.filter((e) => e.source === 'cooldown').map((e) => e.message)).toEqual(['cool-down to 12 °C started', 'reached 12 °C']));
    expect(await c.request('send nope get_status')).toBe('error send code=ProtocolError message="unknown client \\"nope\\"; clients: chiller, pfeiffer"');
  });
});
