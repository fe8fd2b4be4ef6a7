/**
 * The monitor against small peers on loopback: the fake labwire daemon of the client tests and a
 * CCDLab-style daemon that answers only get_id and get_status. Short poll and timeout intervals
 * keep it fast; the timing-sensitive cases with a real daemon are in test/monitor-*.test.ts.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDaemon } from '../testing/fake-daemon.js';
import { silentLogger } from '../util/logger.js';
import type { LogEntry } from '../archive/types.js';
import { LabwireError } from '../wire/types.js';
import { startMonitor, type Monitor } from './monitor.js';
import type { MonitorOptions, PeerConfig } from './options.js';
import type { MonitorUpdate, PeerState } from './types.js';
import { CcdlabPeer } from './test-helpers/ccdlab-peer.js';
import { FreezeProxy } from './test-helpers/freeze-proxy.js';
import { MemoryArchive } from './test-helpers/memory-archive.js';
import { eventually as until, sleep } from '../testing/eventually.js';

const actor = { who: 'tester', peer: '127.0.0.1:1' };
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function fake(values: ConstructorParameters<typeof FakeDaemon>[0] = {}): Promise<FakeDaemon> {
  const d = new FakeDaemon({ ...values, values: { code: '0110', ...values.values } });
  await d.start();
  cleanups.push(() => d.stop());
  return d;
}

async function ccdlab(name?: string, values?: Record<string, string | number>): Promise<CcdlabPeer> {
  const p = new CcdlabPeer(name, values);
  await p.start();
  cleanups.push(() => p.stop());
  return p;
}

async function monitor(peers: PeerConfig[], options: Partial<MonitorOptions> = {}): Promise<{ m: Monitor; archive: MemoryArchive }> {
  const archive = new MemoryArchive();
  const m = await startMonitor({ peers, archive, listen: false, logger: silentLogger(), ccdlabPollMs: 100, peerTimeoutMs: 400, ...options });
  cleanups.push(() => m.close());
  return { m, archive };
}

const peerOf = (m: Monitor, name: string): PeerState => m.peer(name)!;
const connected = (m: Monitor, name: string): Promise<void> => until(() => expect(peerOf(m, name).connected).toBe(true));
const messages = (m: Monitor): string[] => m.recentMessages().map((e) => `${e.source}|${e.level}|${e.message}`);

describe('labwire peers', () => {
  it('identifies, subscribes, describes and reads the status; values are typed by describe', async () => {
    const d = await fake();
    const { m, archive } = await monitor([{ name: 'bath', host: '127.0.0.1', port: d.port, archive: { temperature: { deadband: 0.05 } } }], { heartbeatMs: 30_000 });
    await connected(m, 'bath');
    expect(d.received.slice(0, 4)).toEqual(['id name=monitor type=monitor', expect.stringMatching(/^subscribe log_since=\d+$/), 'describe', 'get_status format=json']);
    const p = peerOf(m, 'bath');
    expect(p.protocol).toBe('labwire');
    expect(p.describe?.params.temperature?.unit).toBe('°C');
    expect(p.values).toEqual({ temperature: 20, setpoint: 20, state: 'idle', running: true, code: '0110' });
    expect(archive.policies.get('bath.temperature')).toEqual({ unit: '°C', type: 'number', deadband: 0.05, heartbeatMs: 30_000 });
    expect(archive.policies.get('bath.code')).toEqual({ type: 'text', heartbeatMs: 30_000 });
    expect(archive.policies.get('bath.running')).toEqual({ type: 'number', heartbeatMs: 30_000 });
    expect(messages(m)).toContain('bath|info|bath connected');
  });

  it('turns pushed updates into update events, archive samples (booleans as 0/1) and new values', async () => {
    const d = await fake();
    const { m, archive } = await monitor([{ name: 'bath', host: '127.0.0.1', port: d.port }]);
    await connected(m, 'bath');
    const updates: MonitorUpdate[] = [];
    m.on('update', (u: MonitorUpdate) => updates.push(u));
    d.set({ temperature: 14.5, running: false, code: '0111' });
    await until(() => expect(updates).toHaveLength(1));
    expect(updates[0]).toMatchObject({ client: 'bath', values: { temperature: 14.5, running: false, code: '0111' } });
    expect(peerOf(m, 'bath').values).toMatchObject({ temperature: 14.5, running: false, code: '0111' });
    await until(() => expect(archive.series('bath', 'running').map((s) => s.value)).toEqual([1, 0]));
    expect(archive.series('bath', 'code').map((s) => s.value)).toEqual(['0110', '0111']);
    // The same value again is no change.
    d.set({ temperature: 14.5 });
    d.set({ temperature: 14.4 });
    await until(() => expect(updates).toHaveLength(2));
    expect(updates[1]!.values).toEqual({ temperature: 14.4 });
  });

  it('puts the daemon’s log lines into the message log with the peer as source', async () => {
    const d = await fake();
    const { m, archive } = await monitor([{ name: 'bath', host: '127.0.0.1', port: d.port }]);
    await connected(m, 'bath');
    const seen: LogEntry[] = [];
    m.on('message', (e: LogEntry) => seen.push(e));
    d.log('warning', 'low level');
    await until(() => expect(seen.map((e) => [e.source, e.level, e.message])).toEqual([['bath', 'warning', 'low level']]));
    await until(() => expect(archive.logs.some((e) => e.message === 'low level')).toBe(true));
  });

  it('authenticates with its token; a refused token leaves the peer down with the reason', async () => {
    const d = await fake({ token: 'secret-token-123' });
    const bad = await fake({ token: 'other-token-4567' });
    const { m } = await monitor([
      { name: 'good', host: '127.0.0.1', port: d.port, token: 'secret-token-123' },
      { name: 'bad', host: '127.0.0.1', port: bad.port, token: 'secret-token-123' },
    ]);
    await connected(m, 'good');
    expect(d.received[0]).toBe('auth token=secret-token-123');
    await until(() => expect(peerOf(m, 'bad').lastError).toMatch(/token refused/));
    expect(peerOf(m, 'bad').connected).toBe(false);
    await until(() => expect(messages(m).filter((x) => x.startsWith('bad|'))).toEqual([expect.stringMatching(/^bad\|error\|bad: token refused; trying again every 30 s$/)]));
  });

  it('reconnects with back-off when the daemon comes back, and gives the gap a null sample', async () => {
    const d = await fake();
    const { m, archive } = await monitor([{ name: 'bath', host: '127.0.0.1', port: d.port }]);
    await connected(m, 'bath');
    const states: boolean[] = [];
    m.on('peer', (s: PeerState) => states.push(s.connected));
    await d.stop();
    await until(() => expect(peerOf(m, 'bath').connected).toBe(false), 1000);
    await until(() => expect(archive.series('bath', 'temperature').at(-1)?.value).toBeNull());
    // Strings get no null: a gap in a text series is not a value.
    expect(archive.series('bath', 'state').every((s) => s.value !== null)).toBe(true);
    expect(archive.series('bath', 'running').at(-1)?.value).toBeNull();
    d.values.temperature = 17;
    await d.start(d.port);
    await connected(m, 'bath');
    await until(() => expect(archive.series('bath', 'temperature').map((s) => s.value)).toEqual([20, null, 17]));
    expect(states).toEqual([false, true]);
    expect(messages(m).filter((x) => x.startsWith('bath|'))).toEqual(['bath|info|bath connected', 'bath|warning|bath disconnected', 'bath|info|bath connected']);
  });

  it('says so when a CCDLab daemon is configured as labwire, and starts over instead of mis-pairing replies', async () => {
    const p = await ccdlab();
    const { m } = await monitor([{ name: 'wrong', host: '127.0.0.1', port: p.port }], { sendTimeoutMs: 200 });
    await until(() => expect(peerOf(m, 'wrong').lastError).toMatch(/answered subscribe with "status hw_connected=1 .*": not a labwire daemon\? \(a CCDLab daemon needs protocol ccdlab\)/));
    await until(() => expect(p.received.filter((l) => l.startsWith('subscribe')).length).toBeGreaterThanOrEqual(2));
    expect(peerOf(m, 'wrong').connected).toBe(false);
    expect(messages(m).filter((x) => x.includes('cannot start monitoring'))).toEqual([
      expect.stringMatching(/^wrong\|warning\|wrong: cannot start monitoring 127\.0\.0\.1:\d+: it answered subscribe with .*not a labwire daemon/),
    ]);
  });

  it('marks a hung daemon down after the peer timeout and brings it back when it answers', async () => {
    const d = await fake();
    const proxy = new FreezeProxy(d.port);
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const { m, archive } = await monitor([{ name: 'bath', host: '127.0.0.1', port: proxy.port }], { ccdlabPollMs: 100, peerTimeoutMs: 300 });
    await connected(m, 'bath');
    proxy.freeze();
    const frozenAt = Date.now();
    await until(() => expect(peerOf(m, 'bath').connected).toBe(false), 2000);
    expect(Date.now() - frozenAt).toBeLessThan(1500);
    expect(peerOf(m, 'bath').lastError).toMatch(/no reply .* within 300 ms/);
    await until(() => expect(archive.series('bath', 'temperature').at(-1)?.value).toBeNull());
    d.values.temperature = 11;
    proxy.thaw();
    await connected(m, 'bath');
    await until(() => expect(archive.series('bath', 'temperature').at(-1)?.value).toBe(11));
  });
});

describe('CCDLab peers', () => {
  it('are polled every poll interval, identified as monitor, and matched by host:port, not by name', async () => {
    const p = await ccdlab('pfeiffer-daemon', { hw_connected: 1, status: '0110', pressure: 3.42041, temperatureA: 'nan', err: '--Htr-OK--' });
    const { m, archive } = await monitor([{ name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: p.port }]);
    await connected(m, 'gauge');
    expect(p.received[0]).toBe('id name=monitor type=monitor');
    expect(p.connectionNames).toEqual(['monitor']);
    expect(peerOf(m, 'gauge').values).toEqual({ hw_connected: 1, status: '0110', pressure: 3.42041, temperatureA: null, err: '--Htr-OK--' });
    const polls = p.received.filter((l) => l === 'get_status').length;
    // Polled again and again (however slowly a loaded machine runs the timers)...
    await until(() => expect(p.received.filter((l) => l === 'get_status').length - polls).toBeGreaterThanOrEqual(3));
    // ...and never faster than the poll interval (100 ms here) allows: one poll in flight at a time.
    const t0 = Date.now();
    const n0 = p.received.filter((l) => l === 'get_status').length;
    await sleep(450);
    expect(p.received.filter((l) => l === 'get_status').length - n0).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / 100) + 1);
    await until(() => expect(archive.series('gauge', 'pressure').map((s) => s.value)).toEqual([3.42041]));
    p.setValues({ hw_connected: 1, status: '0110', pressure: 2.5, temperatureA: 'nan', err: '--Htr-OK--' });
    await until(() => expect(archive.series('gauge', 'pressure').map((s) => s.value)).toEqual([3.42041, 2.5]));
    expect(archive.series('gauge', 'status').map((s) => s.value)).toEqual(['0110']);
  });

  it('store their unsolicited info|warning|error|success|message lines as log entries', async () => {
    const p = await ccdlab();
    const { m } = await monitor([{ name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: p.port }]);
    await connected(m, 'gauge');
    p.log('info', 'WARNING value out of range: LOOP 1:PGAIN 2000 from connection monitor');
    p.log('error', 'pump failed code=5');
    p.log('message', 'hello');
    await until(() => expect(messages(m).filter((x) => x.startsWith('gauge|') && !x.endsWith('connected'))).toEqual([
      'gauge|info|WARNING value out of range: LOOP 1:PGAIN 2000 from connection monitor',
      'gauge|error|pump failed code=5',
      'gauge|info|hello',
    ]));
    expect(peerOf(m, 'gauge').connected).toBe(true);
  });

  it('survive malformed status lines: a rate-limited warning, the last good values kept', async () => {
    const p = await ccdlab();
    const { m, archive } = await monitor([{ name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: p.port }]);
    await connected(m, 'gauge');
    const good = { ...peerOf(m, 'gauge').values };
    for (const bad of ['status hw_connected=1 pressure="unterminated', 'status hw_connected=1 oops pressure=1', 'id name=x type=', 'st\u00e4tus', 'status']) {
      p.statusReply = bad;
      await sleep(150);
      expect(peerOf(m, 'gauge').values).toEqual(good);
      expect(peerOf(m, 'gauge').connected).toBe(true);
    }
    p.statusReply = 'x'.repeat(70_000);
    await sleep(150);
    p.sendRaw(Buffer.from([0xff, 0xfe, 0x0a]));
    await until(() => expect(messages(m).filter((x) => x.includes('malformed status')).length).toBeGreaterThanOrEqual(1));
    await sleep(150);
    const warnings = messages(m).filter((x) => x.includes('malformed status'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^gauge\|warning\|gauge: malformed status ignored, keeping the last good values: .*unbalanced double quote/);
    expect(peerOf(m, 'gauge').values).toEqual(good);
    p.setValues({ hw_connected: 1, status: 0, pressure: 1.25 });
    await until(() => expect(peerOf(m, 'gauge').values.pressure).toBe(1.25));
    await until(() => expect(archive.series('gauge', 'pressure').at(-1)?.value).toBe(1.25));
  });

  it('count as down when a poll is not answered within the peer timeout, and come back', async () => {
    const p = await ccdlab();
    const { m, archive } = await monitor([{ name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: p.port }], { ccdlabPollMs: 100, peerTimeoutMs: 300 });
    await connected(m, 'gauge');
    p.hang = true;
    const hungAt = Date.now();
    await until(() => expect(peerOf(m, 'gauge').connected).toBe(false), 2000);
    expect(Date.now() - hungAt).toBeLessThan(1000);
    expect(messages(m)).toContain('gauge|warning|gauge disconnected');
    await until(() => expect(archive.series('gauge', 'pressure').at(-1)?.value).toBeNull());
    p.hang = false;
    await connected(m, 'gauge');
    await until(() => expect(archive.series('gauge', 'pressure').map((s) => s.value)).toEqual([3.42041, null, 3.42041]));
  });

  it('reconnect after the daemon was killed and restarted on the same port', async () => {
    const p = await ccdlab();
    const { m } = await monitor([{ name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: p.port }]);
    await connected(m, 'gauge');
    await p.stop();
    await until(() => expect(peerOf(m, 'gauge').connected).toBe(false), 1000);
    await p.start(p.port);
    await connected(m, 'gauge');
    expect(p.connectionNames).toEqual(['monitor']);
  });
});

describe('send', () => {
  it('returns the device’s own reply line, error replies included, and audits state changes', async () => {
    const d = await fake();
    const { m, archive } = await monitor([{ name: 'bath', host: '127.0.0.1', port: d.port }]);
    await connected(m, 'bath');
    expect(await m.send('bath', 'get_id', actor)).toBe('id name=fake type=fake protocol=labwire/1 version=0.0.0');
    expect(await m.send('bath', 'set setpoint=12', actor)).toBe('ok set setpoint=12');
    expect(await m.send('bath', 'set setpoint=99', actor)).toBe('error set code=RangeError message="setpoint 99 °C is above the limit of 40 °C"');
    expect(await m.send('bath', 'start "a b" k="x y"', actor)).toBe('ok start args="a b" k="x y"');
    await until(() => expect(archive.audits).toHaveLength(3));
    expect(archive.audits[0]).toMatchObject({ who: 'tester', peer: '127.0.0.1:1', device: 'bath', command: 'set setpoint=12', before: { setpoint: 20 }, after: { setpoint: 12 }, result: 'ok set setpoint=12' });
    expect(archive.audits[1]).toMatchObject({ command: 'set setpoint=99', before: { setpoint: 12 }, after: { setpoint: 12 }, result: expect.stringMatching(/^error set code=RangeError/) });
    expect(archive.audits[2]).toMatchObject({ command: 'start "a b" k="x y"', before: {}, after: {} });
    expect(messages(m)).toContain('tester|info|send bath set setpoint=12 → ok set setpoint=12');
    expect(messages(m).some((x) => x.startsWith('tester|warning|send bath set setpoint=99 → error set'))).toBe(true);
  });

  it('refuses an unknown client, a disabled one, an empty line and lines it does not forward', async () => {
    const d = await fake();
    const { m } = await monitor([
      { name: 'bath', host: '127.0.0.1', port: d.port },
      { name: 'off', host: '127.0.0.1', port: 1, enabled: false },
    ]);
    await connected(m, 'bath');
    const refused = async (client: string, line: string): Promise<LabwireError> => {
      const err = await m.send(client, line, actor).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(LabwireError);
      return err as LabwireError;
    };
    expect(await refused('nope', 'get_status')).toMatchObject({ code: 'ProtocolError', command: 'send', message: 'unknown client "nope"; clients: bath' });
    expect((await refused('off', 'get_status')).message).toMatch(/"off" is disabled in the config/);
    expect(m.peers().map((p) => p.name)).toEqual(['bath']);
    expect((await refused('bath', '   ')).code).toBe('ProtocolError');
    expect((await refused('bath', 'auth token=x')).message).toMatch(/does not forward "auth"/);
    expect((await refused('bath', 'unsubscribe')).message).toMatch(/does not forward "unsubscribe"/);
    expect((await refused('bath', 'info hi')).message).toMatch(/does not forward "info"/);
    expect((await refused('bath', 'set x="open')).message).toMatch(/unbalanced/);
    expect((await refused('bath', 'set x=1\nexit')).message).toMatch(/line break/);
    expect(d.received.filter((l) => l.startsWith('auth') || l === 'unsubscribe')).toEqual([]);
  });

  it('rejects CommunicationFailed for a peer that is down and ReadOnly for writes in read-only mode', async () => {
    const d = await fake();
    const { m, archive } = await monitor([
      { name: 'bath', host: '127.0.0.1', port: d.port },
      { name: 'gone', host: '127.0.0.1', port: 9 },
    ], { readOnly: true });
    await connected(m, 'bath');
    await expect(m.send('gone', 'get_status', actor)).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/"gone" \(127\.0\.0\.1:9\) is not connected/) });
    await expect(m.send('bath', 'set setpoint=12', actor)).rejects.toMatchObject({ code: 'ReadOnly' });
    await expect(m.send('bath', 'exit', actor)).rejects.toMatchObject({ code: 'ReadOnly' });
    expect(await m.send('bath', 'get_status', actor)).toMatch(/^status hw_connected=1/);
    expect(d.received).not.toContain('set setpoint=12');
    await until(() => expect(archive.audits.map((a) => [a.device, a.command, a.result.replace(/:.*/, '')])).toEqual([
      ['bath', 'set setpoint=12', 'refused ReadOnly'],
      ['bath', 'exit', 'refused ReadOnly'],
    ]));
  });

  it('passes a CCDLab peer its commands verbatim without waiting; get_status is answered', async () => {
    const p = await ccdlab();
    const { m, archive } = await monitor([{ name: 'cryo', protocol: 'ccdlab', host: '127.0.0.1', port: p.port }]);
    await connected(m, 'cryo');
    expect(await m.send('cryo', 'LOOP 1:PGAIN 2000', actor)).toBe('ok send client=cryo reply=none note="CCDLab daemons do not answer commands; sent without waiting"');
    expect(await m.send('cryo', 'get_status', actor)).toBe(p.statusReply);
    expect(await m.send('cryo', 'get_id', actor)).toBe('id name=pfeiffer type=');
    expect(p.received).toContain('LOOP 1:PGAIN 2000');
    await until(() => expect(archive.audits.map((a) => a.command)).toEqual(['LOOP 1:PGAIN 2000']));
    // Polling goes on undisturbed.
    const before = p.received.length;
    await until(() => expect(p.received.length).toBeGreaterThan(before));
    expect(peerOf(m, 'cryo').connected).toBe(true);
  });

  it('resolves Timeout when the device does not reply in time', async () => {
    const d = await fake();
    const { m } = await monitor([{ name: 'bath', host: '127.0.0.1', port: d.port }], { sendTimeoutMs: 200 });
    await connected(m, 'bath');
    await expect(m.send('bath', 'hang', actor)).rejects.toMatchObject({ code: 'Timeout', command: 'send', message: 'no reply from bath within 200 ms' });
  });
});

describe('archive failures', () => {
  it('never break live data: one message per streak, values keep flowing', async () => {
    const d = await fake();
    const { m, archive } = await monitor([{ name: 'bath', host: '127.0.0.1', port: d.port }]);
    await connected(m, 'bath');
    archive.failWith = new Error('SQLITE_FULL: database or disk is full');
    const updates: MonitorUpdate[] = [];
    m.on('update', (u: MonitorUpdate) => updates.push(u));
    for (let i = 1; i <= 5; i++) {
      d.set({ temperature: 20 - i });
      await until(() => expect(updates).toHaveLength(i));
    }
    expect(peerOf(m, 'bath').values.temperature).toBe(15);
    expect(await m.send('bath', 'set setpoint=10', actor)).toBe('ok set setpoint=10');
    await until(() => expect(messages(m).filter((x) => x.includes('archive:')).length).toBeGreaterThanOrEqual(1));
    await sleep(20);
    expect(messages(m).filter((x) => x.includes('archive:'))).toEqual(['monitor|error|archive: SQLITE_FULL: database or disk is full']);
    archive.failWith = undefined;
    d.set({ temperature: 14 });
    await until(() => expect(messages(m).at(-1)).toBe('monitor|info|archive: writing again'));
    await until(() => expect(archive.series('bath', 'temperature').at(-1)?.value).toBe(14));
  });
});

describe('lifecycle and config', () => {
  it('close flushes the archive without closing it, and writes the gap', async () => {
    const d = await fake();
    const archive = new MemoryArchive();
    const m = await startMonitor({ peers: [{ name: 'bath', host: '127.0.0.1', port: d.port }], archive, listen: false, logger: silentLogger() });
    await connected(m, 'bath');
    await m.close();
    expect(archive.closed).toBe(false);
    expect(archive.flushes).toBeGreaterThan(0);
    expect(archive.series('bath', 'temperature').map((s) => s.value)).toEqual([20, null]);
    expect(archive.logs.at(-1)?.message).toBe('monitor stopped');
    await until(() => expect(d.connections.size).toBe(0));
    await m.close();
  });

  it('works without an archive and without a port', async () => {
    const d = await fake();
    const m = await startMonitor({ peers: [{ name: 'bath', host: '127.0.0.1', port: d.port }], listen: false, logger: silentLogger() });
    cleanups.push(() => m.close());
    await connected(m, 'bath');
    expect(m.port).toBe(0);
    expect(m.archive).toBeUndefined();
    expect(m.status()).toMatchObject({ nconnected: 0, clients: { bath: { connected: true, values: { temperature: 20 } } } });
  });

  it('hands the archive an unchanged value again after its series’ heartbeat, and no more often', async () => {
    const d = await fake();
    const p = await ccdlab();
    const { m, archive } = await monitor([
      { name: 'bath', host: '127.0.0.1', port: d.port },
      { name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: p.port, archive: { pressure: { heartbeatMs: 60_000 } } },
      { name: 'gone', host: '127.0.0.1', port: 9 },
    ], { heartbeatMs: 400 });
    await connected(m, 'bath');
    await connected(m, 'gauge');
    expect(archive.policies.get('gauge.pressure')).toEqual({ heartbeatMs: 60_000 });
    // At least three heartbeats (however long a loaded machine takes), never closer than 400 ms.
    await until(() => expect(archive.series('bath', 'temperature').length).toBeGreaterThanOrEqual(3), 15_000);
    const times = archive.series('bath', 'temperature').map((s) => s.t);
    expect(archive.series('bath', 'temperature').every((s) => s.value === 20)).toBe(true);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(400);
    // A change counts as written: the heartbeat starts again from it.
    d.set({ temperature: 19 });
    await until(() => expect(archive.series('bath', 'temperature').at(-1)?.value).toBe(19), 15_000);
    expect(archive.series('gauge', 'pressure')).toHaveLength(1);
    expect(archive.samples.some((s) => s.device === 'gone')).toBe(false);
  });

  it('keeps a bounded message buffer, newest last', async () => {
    const { m } = await monitor([], { messageBuffer: 3 });
    for (let i = 1; i <= 5; i++) m.message('script', 'info', `m${i}`);
    expect(m.recentMessages().map((e) => e.message)).toEqual(['m3', 'm4', 'm5']);
    expect(m.recentMessages(1).map((e) => e.message)).toEqual(['m5']);
  });

  it('lists plots and peers as configured', async () => {
    const plots = [{ id: 't', name: 'Temperature', values: ['time', 'temperature'] }];
    const { m } = await monitor([{ name: 'bath', host: '127.0.0.1', port: 9, plots, description: 'the bath' }]);
    expect(m.plots('bath')).toEqual([{ ...plots[0], x: null, series: [{ device: 'bath', name: 'temperature' }] }]);
    expect(m.plots('nope')).toEqual([]);
    expect(m.peers()).toMatchObject([{ name: 'bath', protocol: 'labwire', host: '127.0.0.1', port: 9, description: 'the bath', connected: false, values: {} }]);
    expect(m.peer('nope')).toBeUndefined();
  });

  it.each([
    [[{ name: 'a.b', host: 'h', port: 1 }], /may not hold a dot/],
    [[{ name: 'a', host: 'h', port: 1 }, { name: 'a', host: 'h', port: 2 }], /used twice/],
    [[{ name: 'a', host: 'h', port: 0 }], /port 0/],
    [[{ name: 'nconnected', host: 'h', port: 1 }], /reserved/],
    [[{ name: 'a', host: 'h', port: 1, protocol: 'secop' }], /protocol "secop"/],
    [[{ name: 'a', host: 'h', port: 1, archive: { t: { deadband: -1 } } }], /a\.t: deadband must be a number >= 0/],
    [[{ name: 'a', host: 'h', port: 1, archive: { t: { heartbeatMs: 0 } } }], /a\.t: heartbeatMs must be a positive number/],
  ])('refuses a bad peer config %#', async (peers, message) => {
    await expect(startMonitor({ peers: peers as PeerConfig[], listen: false, logger: silentLogger() })).rejects.toThrow(message);
  });

  it('fails loudly when its port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    await expect(startMonitor({ peers: [], listen: { host: '127.0.0.1', port }, logger: silentLogger() })).rejects.toThrow(/already in use/);
  });
});
