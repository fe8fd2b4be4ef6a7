/**
 * The lab's state for image headers: the monitor's `snapshot` (every device it sees, values and
 * units from describe) and a daemon started with `lab` (`--lab host:port`) whose handler calls
 * ctx.labState(). A real monitor, two fake daemons and a real daemon, over TCP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LabState } from '../src/daemon/api.js';
import { MonitorLabState, parseLabAddress, parseLabState } from '../src/daemon/lab-state.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import type { MonitorOptions } from '../src/monitor/options.js';
import { FakeDaemon } from '../src/testing/fake-daemon.js';
import { RawClient } from '../src/testing/raw-client.js';
import { eventually } from '../src/testing/eventually.js';
import { silentLogger } from '../src/util/logger.js';
import { parseLine } from '../src/wire/tokenize.js';
import { startBlobDaemon, type BlobDaemon } from './helpers/blob-device.js';
import { labMonitor } from '../src/cli/daemon-cmds.js';

const VIEWER = 'viewer-token-0123456789';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Lab {
  monitor: Monitor;
  bath: FakeDaemon;
  cryo: FakeDaemon;
}

async function lab(options: Partial<MonitorOptions> = {}): Promise<Lab> {
  const bath = new FakeDaemon({ values: { temperature: 18.25 } });
  await bath.start();
  cleanups.push(() => bath.stop());
  const cryo = new FakeDaemon({ values: { temperature: 77.5, setpoint: 77, code: 'say "hi" ü' } });
  await cryo.start();
  cleanups.push(() => cryo.stop());
  const monitor = await startMonitor({
    name: 'labmon',
    peers: [
      { name: 'bath', host: '127.0.0.1', port: bath.port },
      { name: 'cryo', host: '127.0.0.1', port: cryo.port },
    ],
    listen: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
    ...options,
  });
  cleanups.push(() => monitor.close());
  await eventually(() => {
    expect(monitor.peer('bath')?.connected && monitor.peer('cryo')?.connected).toBe(true);
    expect(monitor.peer('bath')?.describe && monitor.peer('cryo')?.describe).toBeDefined();
  });
  return { monitor, bath, cryo };
}

async function blobWithLab(monitorPort: number, token?: string): Promise<BlobDaemon> {
  const d = await startBlobDaemon({ lab: { host: '127.0.0.1', port: monitorPort, ...(token ? { token } : {}) } });
  cleanups.push(() => d.close());
  return d;
}

/** The LabState the daemon's `lab` command (a handler calling ctx.labState()) returned. */
async function labStateVia(port: number): Promise<LabState> {
  const c = await RawClient.connect(port);
  try {
    let reply = '';
    await eventually(async () => {
      reply = await c.request('lab');
      expect(reply).toMatch(/^ok lab json=/);
    });
    return JSON.parse(parseLine(reply).kwargs.json!) as LabState;
  } finally {
    c.close();
  }
}

describe('the monitor’s snapshot', () => {
  it('holds every device with connected flag, values and units from describe', async () => {
    const { monitor, cryo } = await lab();
    const c = await RawClient.connect(monitor.port);
    cleanups.push(() => c.close());
    const reply = await c.request('snapshot');
    expect(reply.startsWith('snapshot_json {')).toBe(true);
    const state = parseLabState(reply.slice('snapshot_json '.length));
    expect(state.source).toBe('monitor labmon');
    expect(Math.abs(state.t - Date.now())).toBeLessThan(60_000);
    expect(state.devices.map((d) => d.name)).toEqual(['bath', 'cryo']);
    const [bath, cry] = state.devices;
    expect(bath).toMatchObject({ connected: true, values: { temperature: 18.25 }, units: { temperature: '°C', setpoint: '°C' } });
    expect(cry).toMatchObject({ connected: true, values: { temperature: 77.5, setpoint: 77, code: 'say "hi" ü' } });
    // A device that went away: connected false, its last values kept.
    await cryo.stop();
    await eventually(() => expect(monitor.peer('cryo')?.connected).toBe(false));
    const after = parseLabState((await c.request('snapshot')).slice('snapshot_json '.length));
    expect(after.devices[1]).toMatchObject({ name: 'cryo', connected: false, values: { temperature: 77.5 } });
  });

  it('needs the viewer role on a monitor with tokens', async () => {
    const { monitor } = await lab({ tokens: [{ role: 'viewer', token: VIEWER, name: 'vera' }] });
    const c = await RawClient.connect(monitor.port);
    cleanups.push(() => c.close());
    expect(await c.request('snapshot')).toMatch(/^error snapshot code=Unauthorized message="snapshot needs the viewer role/);
    expect(await c.request(`auth token=${VIEWER}`)).toBe('ok auth role=viewer');
    expect(await c.request('snapshot')).toMatch(/^snapshot_json \{"t":/);
  });
});

describe('a daemon with --lab', () => {
  it('gives its handlers the lab’s state from the monitor, over one reused connection', async () => {
    const { monitor } = await lab();
    const d = await blobWithLab(monitor.port);
    const state = await labStateVia(d.daemon.port);
    expect(state.error).toBeUndefined();
    expect(state.source).toBe('monitor labmon');
    const byName = Object.fromEntries(state.devices.map((x) => [x.name, x]));
    expect(byName.bath).toMatchObject({ connected: true, values: { temperature: 18.25 }, units: { temperature: '°C' } });
    expect(byName.cryo).toMatchObject({ connected: true, values: { temperature: 77.5, setpoint: 77 }, units: { setpoint: '°C' } });
    for (let i = 0; i < 3; i++) await labStateVia(d.daemon.port);
    const c = await RawClient.connect(monitor.port);
    cleanups.push(() => c.close());
    const conns = parseLine(await c.request('connections')).kwargs;
    expect(conns.names!.split(' ').filter((n) => n === 'daemon_blob')).toHaveLength(1);
  });

  it('authenticates with its lab token; without one it says why and holds this daemon only', async () => {
    const { monitor } = await lab({ tokens: [{ role: 'viewer', token: VIEWER, name: 'vera' }] });
    const withToken = await blobWithLab(monitor.port, VIEWER);
    expect((await labStateVia(withToken.daemon.port)).devices.map((x) => x.name)).toEqual(['bath', 'cryo']);
    const without = await blobWithLab(monitor.port);
    const state = await labStateVia(without.daemon.port);
    expect(state.source).toBe('this daemon only');
    expect(state.error).toMatch(/the lab's monitor at 127\.0\.0\.1:\d+: .*viewer role/);
    expect(state.devices.map((x) => x.name)).toEqual(['blob']);
  });

  it('with the monitor stopped, labState() holds this daemon only with the error; it reconnects when the monitor is back', async () => {
    const { monitor } = await lab();
    const port = monitor.port;
    const d = await blobWithLab(port);
    expect((await labStateVia(d.daemon.port)).devices).toHaveLength(2);
    await monitor.close();
    const state = await labStateVia(d.daemon.port);
    expect(state.source).toBe('this daemon only');
    expect(state.error).toMatch(/the lab's monitor at 127\.0\.0\.1:\d+/);
    expect(state.devices).toHaveLength(1);
    expect(state.devices[0]).toMatchObject({ name: 'blob', connected: true, values: { level: 12.5 }, units: { level: 'mbar' } });
    // A monitor on the same port again: the next ask connects anew.
    const again = await lab({ listen: { host: '127.0.0.1', port } });
    await eventually(async () => expect((await labStateVia(d.daemon.port)).source).toBe('monitor labmon'));
    expect(again.monitor.port).toBe(port);
  });

  it('a monitor that never answers costs at most the bound, then the error', async () => {
    // A listener that accepts and says nothing.
    const net = await import('node:net');
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
    const sockets: import('node:net').Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const source = new MonitorLabState({ monitor: { host: '127.0.0.1', port, timeoutMs: 500 }, name: 'x' });
    cleanups.push(() => source.close());
    await expect(source.get()).rejects.toMatchObject({ code: 'Timeout', message: expect.stringMatching(/^the lab's monitor at 127\.0\.0\.1:\d+: no reply to snapshot/) });
  });

  it('rejects a --lab that is not host:port and a snapshot that is not a lab state', () => {
    expect(parseLabAddress('127.0.0.1:7700')).toEqual({ host: '127.0.0.1', port: 7700 });
    expect(parseLabAddress('[::1]:7700')).toEqual({ host: '::1', port: 7700 });
    expect(() => parseLabAddress('localhost')).toThrow(/is not host:port/);
    expect(() => parseLabAddress('h:99999')).toThrow(/is not host:port/);
    expect(() => parseLabState('{')).toThrow(/not valid JSON/);
    expect(() => parseLabState('{"t":1,"source":"m","devices":[{"name":"x"}]}')).toThrow(/device 0 lacks/);
    expect(parseLabState('{"t":1,"source":"m","devices":[{"name":"x","connected":true,"values":{"a":1,"b":{}},"units":{"a":"K","b":2}}]}').devices[0]).toEqual({ name: 'x', connected: true, values: { a: 1 }, units: { a: 'K' } });
  });
});

describe('labwire daemon --lab', () => {
  it('takes host:port, the token from --lab-token-file or LABWIRE_LAB_TOKEN (never LABWIRE_TOKEN), and TLS flags', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-lab-flag-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'lab-token');
    fs.writeFileSync(file, `${VIEWER}\n`);
    expect(labMonitor({ lab: '10.0.0.5:7700', labTokenFile: file })).toEqual({ host: '10.0.0.5', port: 7700, token: VIEWER });
    const saved = { lab: process.env.LABWIRE_LAB_TOKEN, own: process.env.LABWIRE_TOKEN };
    try {
      delete process.env.LABWIRE_LAB_TOKEN;
      process.env.LABWIRE_TOKEN = 'the-daemons-own-token-0123456789';
      expect(labMonitor({ lab: '127.0.0.1:7700' })).toEqual({ host: '127.0.0.1', port: 7700 });
      process.env.LABWIRE_LAB_TOKEN = 'env-lab-token-0123456789';
      expect(labMonitor({ lab: '127.0.0.1:7700', labTls: true })).toEqual({ host: '127.0.0.1', port: 7700, token: 'env-lab-token-0123456789', tls: {} });
    } finally {
      if (saved.lab === undefined) delete process.env.LABWIRE_LAB_TOKEN;
      else process.env.LABWIRE_LAB_TOKEN = saved.lab;
      if (saved.own === undefined) delete process.env.LABWIRE_TOKEN;
      else process.env.LABWIRE_TOKEN = saved.own;
    }
    expect(() => labMonitor({ lab: 'monitor' })).toThrow(/--lab "monitor" is not host:port/);
    expect(() => labMonitor({ lab: '127.0.0.1:7700', labTokenFile: path.join(dir, 'missing') })).toThrow(/cannot read --lab-token-file/);
  });
});
