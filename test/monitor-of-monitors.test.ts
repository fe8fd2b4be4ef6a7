/**
 * Monitors of monitors (docs/monitor.md "Several monitors", decision 0023), all on loopback with
 * ports chosen by the OS: a Julabo simulator + daemon under monitor room1, a fake daemon under
 * monitor room2, and a top monitor over both (peers with protocol monitor). The top shows every
 * device below as <room>/<device> live; send through the top (its port and the web API) sets a
 * value on a daemon below, whose audit names the end user; a viewer at the top cannot set; a
 * lower monitor going away marks its devices disconnected and its return recovers them. Then the
 * faults: a loop (A lists B lists A), a lower monitor that floods updates, one that stops answering.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../src/daemon/daemon.js';
import { startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import type { MonitorOptions } from '../src/monitor/options.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { FreezeProxy } from '../src/monitor/test-helpers/freeze-proxy.js';
import { FakeDaemon } from '../src/testing/fake-daemon.js';
import { CcdlabPeer } from '../src/monitor/test-helpers/ccdlab-peer.js';
import { RawClient } from '../src/testing/raw-client.js';
import { LabwireClient } from '../src/client/index.js';
import { openSse } from '../src/web/test-helpers/clients.js';
import { parseTokenFile } from '../src/server/index.js';
import { labConfigJsonSchema, parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import { silentLogger } from '../src/util/logger.js';
import { monitorMetrics } from '../src/bridges/metrics/monitor.js';
import { promtoolCheck, runPromtool } from '../src/testing/promtool.js';
import { startWeb, type WebServer } from '../src/web/index.js';
import { freePort } from '../src/testing/free-port.js';
import { eventually, sleep } from '../src/testing/eventually.js';

const ROOM1_TOKEN = 'room1-to-daemon-token-0123456789';
const TOP_TOKEN = 'top-to-rooms-token-0123456789';
const PLAIN_TOKEN = 'not-forward-token-0123456789';
const OTTO = 'otto-token-0123456789';
const VERA = 'vera-token-0123456789';

const logger = silentLogger();
/** Short intervals, generous timeouts: a busy two-core machine must not make a live peer look hung. */
const timing: Partial<MonitorOptions> = { ccdlabPollMs: 200, peerTimeoutMs: 2000 };
const LONG = 30_000;

interface AuditLine {
  who: string;
  command: string;
  result: string;
}


describe('a top monitor over two lower monitors', () => {
  let dir: string;
  let auditFile: string;
  let julabo: JulaboLab;
  let daemon: Daemon;
  let bath: FakeDaemon;
  let room1: Monitor;
  let room2: Monitor | undefined;
  let room2Port: number;
  let top: Monitor;
  let topArchive: MemoryArchive;
  let web: WebServer;
  const clients: RawClient[] = [];

  const roomTokens = parseTokenFile([`admin ${TOP_TOKEN} top forward`, `admin ${PLAIN_TOKEN} plain`].join('\n'), 'room-tokens');
  const topTokens = parseTokenFile([`operator ${OTTO} otto`, `viewer ${VERA} vera`].join('\n'), 'top-tokens');

  const audit = (): AuditLine[] =>
    fs.existsSync(auditFile)
      ? fs.readFileSync(auditFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as AuditLine)
      : [];

  const startRoom2 = (port: number): Promise<Monitor> =>
    startMonitor({ name: 'room2', peers: [{ name: 'bath', host: '127.0.0.1', port: bath.port }], listen: { host: '127.0.0.1', port }, tokens: roomTokens, logger, ...timing });

  async function client(port: number, token?: string): Promise<RawClient> {
    const c = await RawClient.connect(port);
    clients.push(c);
    if (token !== undefined) expect(await c.request(`auth token=${token}`)).toMatch(/^ok auth/);
    return c;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-mom-'));
    auditFile = path.join(dir, 'chiller-audit.jsonl');
    julabo = await startJulaboLab({}, { tokens: parseTokenFile(`admin ${ROOM1_TOKEN} room1 forward`, 'daemon-tokens'), auditFile, refusalSummaryMs: 0, logger });
    daemon = julabo.daemon;
    bath = new FakeDaemon({ values: { temperature: 20 } });
    await bath.start();
    room1 = await startMonitor({ name: 'room1', peers: [{ name: 'chiller', host: '127.0.0.1', port: daemon.port, token: ROOM1_TOKEN }], listen: { host: '127.0.0.1', port: 0 }, tokens: roomTokens, refusalSummaryMs: 0, logger, ...timing });
    room2 = await startRoom2(0);
    room2Port = room2.port;
    topArchive = new MemoryArchive();
    top = await startMonitor({
      name: 'top',
      peers: [
        { name: 'room1', protocol: 'monitor', host: '127.0.0.1', port: room1.port, token: TOP_TOKEN },
        { name: 'room2', protocol: 'monitor', host: '127.0.0.1', port: room2Port, token: TOP_TOKEN },
      ],
      archive: topArchive,
      listen: { host: '127.0.0.1', port: 0 },
      tokens: topTokens,
      logger,
      ...timing,
    });
    web = await startWeb({ monitor: top, port: 0, tokens: topTokens, logger });
    await eventually(() => {
      expect(top.peer('room1/chiller')?.connected).toBe(true);
      expect(top.peer('room2/bath')?.connected).toBe(true);
      expect(top.peer('room1/chiller')?.describe).toBeDefined();
    }, LONG);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await web?.close();
    await top?.close();
    await room2?.close();
    await room1?.close();
    await bath?.stop();
    await julabo?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows every device below under <monitor>/<device>, with structured origin, units and state', async () => {
    const chiller = top.peer('room1/chiller')!;
    expect(chiller.via).toEqual({ monitor: 'room1', device: 'chiller' });
    expect(top.peer('room2/bath')!.via).toEqual({ monitor: 'room2', device: 'bath' });
    // The describe came through room1 (send chiller describe): units and types of the real daemon.
    expect(chiller.describe?.params.temperature?.unit).toBe('°C');
    // Values the daemon had not read yet when room1 was first asked arrive as they come.
    await eventually(() => {
      expect(typeof top.peer('room1/chiller')!.values.temperature).toBe('number');
      expect(top.peer('room1/chiller')!.values.state).toBeDefined();
    }, LONG);
    // Nothing else: the lower monitors themselves are links, not devices.
    expect(top.peers().map((p) => p.name).sort()).toEqual(['room1/chiller', 'room2/bath']);
    expect(top.monitors().map((m) => [m.name, m.connected, m.lowerName])).toEqual([['room1', true, 'room1'], ['room2', true, 'room2']]);
    // Its own port and snapshot say the same, with the monitors each device came through.
    const c = await client(top.port, VERA);
    expect(await c.request('get_status')).toMatch(/ room1\/chiller=1 .*room1\/chiller\.temperature=/);
    const snap = JSON.parse((await c.request('snapshot')).replace(/^snapshot_json /, '')) as { devices: Array<{ name: string; monitors?: string[]; units: Record<string, string> }> };
    expect(snap.devices.find((d) => d.name === 'room1/chiller')).toMatchObject({ monitors: ['room1'], units: { temperature: '°C' } });
  });

  it('a value change below appears above, and subscribers of the top see it', async () => {
    const sub = await client(top.port, VERA);
    expect(await sub.request('subscribe room2/bath')).toBe('ok subscribe');
    bath.set({ temperature: 14.25 });
    await eventually(() => expect(top.peer('room2/bath')?.values.temperature).toBe(14.25), LONG);
    await sub.waitLine((l) => l.startsWith('update ') && l.includes('room2/bath.temperature=14.25'), LONG);
  });

  it('the page\'s live stream carries the devices below and their changes', async () => {
    const sse = await openSse(`${web.url}api/stream`, { authorization: `Bearer ${VERA}` });
    try {
      const snap = await sse.next((e) => e.event === 'snapshot', LONG);
      expect(snap.data).toMatchObject({ monitor: 'top' });
      const devices = (snap.data as { devices: Array<{ name: string; connected: boolean; via?: unknown; units: Record<string, string> }> }).devices;
      expect(devices.find((d) => d.name === 'room1/chiller')).toMatchObject({ connected: true, via: { monitor: 'room1', device: 'chiller' }, units: { temperature: '°C' } });
      bath.set({ temperature: 15.75 });
      const upd = await sse.next((e) => e.event === 'update' && (e.data as { client: string }).client === 'room2/bath', LONG);
      expect(upd.data).toMatchObject({ client: 'room2/bath', values: { temperature: 15.75 } });
    } finally {
      sse.close();
    }
  });

  it('does not archive the devices of a lower monitor by default (the lower monitor does)', () => {
    expect(topArchive.samples.filter((s) => s.device.startsWith('room'))).toEqual([]);
  });

  it('send through the top sets a value on the daemon below; the daemon audit names the end user', async () => {
    const c = await client(top.port, OTTO);
    expect(await c.request('send room1/chiller set setpoint=12.5')).toMatch(/^ok set/);
    await eventually(() => expect(top.peer('room1/chiller')?.values.setpoint).toBe(12.5), LONG);
    await eventually(() => expect(audit().find((a) => a.command === 'set setpoint=12.5')).toMatchObject({ who: 'otto via top via room1' }), LONG);
    // The top's own trail has it under the person too.
    expect((await topArchive.auditTrail({ device: 'room1/chiller' })).some((r) => r.who === 'otto' && r.command === 'set setpoint=12.5')).toBe(true);
  });

  it('the web API of the top forwards too, under the person from the Bearer token', async () => {
    const res = await fetch(`${web.url}api/devices/${encodeURIComponent('room1/chiller')}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${OTTO}` },
      body: JSON.stringify({ line: 'set setpoint=13.5' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await eventually(() => expect(audit().find((a) => a.command === 'set setpoint=13.5')).toMatchObject({ who: 'otto via top via room1' }), LONG);
    const one = await fetch(`${web.url}api/devices/${encodeURIComponent('room2/bath')}`, { headers: { authorization: `Bearer ${VERA}` } });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ name: 'room2/bath', via: { monitor: 'room2', device: 'bath' }, connected: true });
  });

  it('a viewer at the top cannot set, by port or by web; nothing reaches the daemon', async () => {
    const c = await client(top.port, VERA);
    expect(await c.request('send room1/chiller set setpoint=3')).toMatch(/^error send code=Unauthorized/);
    const res = await fetch(`${web.url}api/devices/${encodeURIComponent('room1/chiller')}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${VERA}` },
      body: JSON.stringify({ line: 'set setpoint=4' }),
    });
    expect(res.status).toBe(403);
    await sleep(300);
    expect(audit().some((a) => a.command === 'set setpoint=3' || a.command === 'set setpoint=4')).toBe(false);
  });

  it('the lower monitor never raises a role: `as` with role viewer cannot set, and only forward tokens may use `as`', async () => {
    const trusted = await client(room1.port, TOP_TOKEN);
    expect(await trusted.request('as user=mallory role=viewer send chiller set setpoint=5')).toMatch(/^error send code=Unauthorized/);
    expect(await trusted.request('as user=mallory role=viewer send chiller get_setpoint')).not.toMatch(/^error as/);
    const plain = await client(room1.port, PLAIN_TOKEN);
    expect(await plain.request('as user=otto role=admin send chiller set setpoint=6')).toMatch(/^error as code=Unauthorized .*not marked forward/);
    await sleep(300);
    expect(audit().some((a) => a.command === 'set setpoint=5' || a.command === 'set setpoint=6')).toBe(false);
  });

  it('a device disconnected below is shown disconnected above, and back', async () => {
    const port = bath.port;
    await bath.stop();
    await eventually(() => expect(top.peer('room2/bath')?.connected).toBe(false), LONG);
    await bath.start(port);
    await eventually(() => expect(top.peer('room2/bath')?.connected).toBe(true), LONG);
  });

  it('a lower monitor going away marks all its devices disconnected; its return recovers them', async () => {
    await room2!.close();
    room2 = undefined;
    await eventually(() => {
      expect(top.peer('room2/bath')?.connected).toBe(false);
      expect(top.monitors().find((m) => m.name === 'room2')?.connected).toBe(false);
    }, LONG);
    // The other room is not affected.
    expect(top.peer('room1/chiller')?.connected).toBe(true);
    const c = await client(top.port, OTTO);
    expect(await c.request('send room2/bath set setpoint=11')).toMatch(/^error send code=CommunicationFailed/);
    expect(await c.request('send room1 get_status')).toMatch(/^error send code=ProtocolError .*is a monitor: send to one of its devices, room1\/chiller/);
    room2 = await startRoom2(room2Port);
    await eventually(() => expect(top.peer('room2/bath')?.connected).toBe(true), LONG);
    // A script waits on the top for a device below, by its qualified name.
    const script = new LabwireClient({ host: '127.0.0.1', port: top.port, token: VERA });
    await script.connect();
    try {
      const waited = script.waitFor('room2/bath.temperature<10', { timeoutMs: LONG });
      bath.set({ temperature: 9.5 });
      expect((await waited)['room2/bath.temperature']).toBe(9.5);
    } finally {
      await script.close();
    }
    await eventually(() => expect(top.peer('room2/bath')?.values.temperature).toBe(9.5), LONG);
  });
});

describe('faults', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  async function fake(values: Record<string, number>): Promise<FakeDaemon> {
    const d = new FakeDaemon({ values });
    await d.start();
    cleanups.push(() => d.stop());
    return d;
  }

  async function monitor(options: Partial<MonitorOptions> & Pick<MonitorOptions, 'peers'>): Promise<Monitor> {
    const m = await startMonitor({ listen: { host: '127.0.0.1', port: 0 }, logger, ...timing, ...options });
    cleanups.push(() => m.close());
    return m;
  }

  it('a loop (A lists B lists A) shows each device once and is said in the log', async () => {
    const da = await fake({ level: 1 });
    const db = await fake({ level: 2 });
    const portB = await freePort();
    const a = await monitor({ name: 'A', peers: [{ name: 'a1', host: '127.0.0.1', port: da.port }, { name: 'B', protocol: 'monitor', host: '127.0.0.1', port: portB }] });
    const b = await monitor({ name: 'B', listen: { host: '127.0.0.1', port: portB }, peers: [{ name: 'b1', host: '127.0.0.1', port: db.port }, { name: 'A', protocol: 'monitor', host: '127.0.0.1', port: a.port }] });
    await eventually(() => {
      expect(a.peer('B/b1')?.connected).toBe(true);
      expect(b.peer('A/a1')?.connected).toBe(true);
    }, LONG);
    // Changes keep flowing both ways while the loop stays cut.
    da.set({ level: 11 });
    db.set({ level: 22 });
    await eventually(() => {
      expect(b.peer('A/a1')?.values.level).toBe(11);
      expect(a.peer('B/b1')?.values.level).toBe(22);
    }, LONG);
    await sleep(1000);
    expect(a.peers().map((p) => p.name).sort()).toEqual(['B/b1', 'a1']);
    expect(b.peers().map((p) => p.name).sort()).toEqual(['A/a1', 'b1']);
    expect(a.recentMessages().some((e) => e.message.includes('device "A/a1" left out') && e.message.includes('a loop'))).toBe(true);
  });

  it('three levels: the top shows mid/room/x with the monitors it came through, and sets it through both', async () => {
    const d = await fake({ setpoint: 20 });
    const tokens = parseTokenFile(`admin ${TOP_TOKEN} upper forward\noperator ${OTTO} otto`, 'tokens');
    const room = await monitor({ name: 'room', tokens, peers: [{ name: 'x', host: '127.0.0.1', port: d.port }] });
    const mid = await monitor({ name: 'mid', tokens, peers: [{ name: 'room', protocol: 'monitor', host: '127.0.0.1', port: room.port, token: TOP_TOKEN }] });
    const top = await monitor({ name: 'top', tokens, peers: [{ name: 'mid', protocol: 'monitor', host: '127.0.0.1', port: mid.port, token: TOP_TOKEN }] });
    await eventually(() => expect(top.peer('mid/room/x')?.connected).toBe(true), LONG);
    expect(top.peer('mid/room/x')?.via).toEqual({ monitor: 'mid', device: 'room/x' });
    expect(top.labState().devices.find((x) => x.name === 'mid/room/x')?.monitors).toEqual(['mid', 'room']);
    const c = await RawClient.connect(top.port);
    cleanups.push(() => c.close());
    expect(await c.request(`auth token=${OTTO}`)).toMatch(/^ok auth/);
    expect(await c.request('send mid/room/x set setpoint=12')).toMatch(/^ok set/);
    await eventually(() => expect(top.peer('mid/room/x')?.values.setpoint).toBe(12), LONG);
    // The middle monitor ran it as the person, not as the top's token.
    const trail = (m: Monitor): string[] => m.recentMessages().map((e) => `${e.source}: ${e.message}`);
    expect(trail(mid).some((t) => t.startsWith('otto via top: send room/x set setpoint=12'))).toBe(true);
    expect(trail(room).some((t) => t.startsWith('otto via top via mid: send x set setpoint=12'))).toBe(true);
    // A device of the room going away below is followed all the way up.
    await d.stop();
    await eventually(() => expect(top.peer('mid/room/x')?.connected).toBe(false), LONG);
  });

  it('follows devices coming and going below: a lower monitor restarted with other daemons', async () => {
    const dx = await fake({ level: 1 });
    const dy = await fake({ level: 2 });
    let lower = await startMonitor({ name: 'lower', listen: { host: '127.0.0.1', port: 0 }, logger, ...timing, peers: [{ name: 'x', host: '127.0.0.1', port: dx.port }] });
    const port = lower.port;
    cleanups.push(() => lower.close());
    const top = await monitor({ name: 'top', peers: [{ name: 'low', protocol: 'monitor', host: '127.0.0.1', port }] });
    await eventually(() => expect(top.peer('low/x')?.connected).toBe(true), LONG);
    const events: Array<[string, boolean]> = [];
    top.on('peer', (p: { name: string; connected: boolean }) => events.push([p.name, p.connected]));
    await lower.close();
    lower = await startMonitor({ name: 'lower', listen: { host: '127.0.0.1', port }, logger, ...timing, peers: [{ name: 'y', host: '127.0.0.1', port: dy.port }] });
    await eventually(() => {
      expect(top.peer('low/y')?.connected).toBe(true);
      expect(top.peer('low/x')).toBeUndefined();
    }, LONG);
    expect(top.peers().map((p) => p.name)).toEqual(['low/y']);
    expect(events).toContainEqual(['low/x', false]);
    expect(top.recentMessages().some((e) => e.message === 'low/x removed: monitor low no longer lists it')).toBe(true);
  });

  it('a device removed below and added again hands its describe to the page again', async () => {
    const dx = await fake({ level: 1 });
    let lower = await startMonitor({ name: 'lower', listen: { host: '127.0.0.1', port: 0 }, logger, ...timing, peers: [{ name: 'x', host: '127.0.0.1', port: dx.port }] });
    const port = lower.port;
    cleanups.push(() => lower.close());
    const top = await monitor({ name: 'top', peers: [{ name: 'low', protocol: 'monitor', host: '127.0.0.1', port }] });
    await eventually(() => expect(top.peer('low/x')?.describe).toBeDefined(), LONG);
    await lower.close();
    lower = await startMonitor({ name: 'lower', listen: { host: '127.0.0.1', port }, logger, ...timing, peers: [] });
    await eventually(() => expect(top.peer('low/x')).toBeUndefined(), LONG);
    const events: Array<{ name: string; describe?: unknown }> = [];
    top.on('peer', (p: { name: string; describe?: unknown }) => events.push(p));
    await lower.close();
    lower = await startMonitor({ name: 'lower', listen: { host: '127.0.0.1', port }, logger, ...timing, peers: [{ name: 'x', host: '127.0.0.1', port: dx.port }] });
    await eventually(() => expect(top.peer('low/x')?.describe).toBeDefined(), LONG);
    // What a page gets: the device is added without a describe, then its describe follows.
    await eventually(() => expect(events.some((e) => e.name === 'low/x' && e.describe !== undefined)).toBe(true), LONG);
  }, 90_000);

  it('a lower monitor with the same name is refused (a loop, or two monitors left at the default name)', async () => {
    const d = await fake({ level: 1 });
    const lower = await monitor({ name: 'monitor', peers: [{ name: 'x', host: '127.0.0.1', port: d.port }] });
    const upper = await monitor({ name: 'monitor', peers: [{ name: 'low', protocol: 'monitor', host: '127.0.0.1', port: lower.port }] });
    await eventually(() => expect(upper.recentMessages().some((e) => e.message.includes('give every monitor its own monitor.name'))).toBe(true), LONG);
    expect(upper.peers()).toEqual([]);
  });

  it('a lower monitor that floods updates does not stall the top: its port answers and the last value wins', async () => {
    // A stand-in lower monitor: answers the handshake, then writes updates as fast as the socket takes them.
    let floods = 0;
    let stop = false;
    const server = net.createServer((socket) => {
      let buf = '';
      socket.on('error', () => undefined);
      socket.on('data', (data: Buffer) => {
        buf += data.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          const name = line.split(' ')[0];
          if (name === 'get_id') socket.write('id name=flood type=monitor protocol=labwire/1 version=test\n');
          else if (name === 'subscribe') socket.write('ok subscribe\n');
          else if (name === 'ping') socket.write('pong\n');
          else if (name === 'snapshot') {
            socket.write(`snapshot_json ${JSON.stringify({ t: Date.now(), source: 'monitor flood', devices: [{ name: 'dev', connected: true, values: { v: 0 }, units: { v: 'V' } }, { name: 'two words', connected: true, values: {}, units: {} }, { name: 'a.b', connected: true, values: {}, units: {} }] })}\n`);
            let i = 0;
            const pump = (): void => {
              while (!stop && !socket.destroyed) {
                i++;
                floods++;
                const more = socket.write(`update t=${Date.now()} dev.v=${i}\n`);
                if (i % 500 === 0) {
                  setImmediate(pump);
                  return;
                }
                if (!more) {
                  socket.once('drain', pump);
                  return;
                }
              }
              if (!socket.destroyed) socket.write(`update t=${Date.now()} dev.v=-1\n`);
            };
            setImmediate(pump);
          } else if (name === 'send') socket.write('ok ping\n');
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    const archive = new MemoryArchive();
    const top = await monitor({ name: 'top', archive, peers: [{ name: 'flood', protocol: 'monitor', host: '127.0.0.1', port, archiveDevices: true }] });
    const updates: number[] = [];
    top.on('update', (u: { client: string }) => {
      if (u.client === 'flood/dev') updates.push(Date.now());
    });
    await eventually(() => expect(top.peer('flood/dev')?.connected).toBe(true), LONG);
    // Names no monitor of ours sends are left out, said once.
    expect(top.peers().map((p) => p.name)).toEqual(['flood/dev']);
    expect(top.recentMessages().filter((e) => / left out: client name "(two words|a\.b)" may not hold/.test(e.message))).toHaveLength(2);
    const c = await RawClient.connect(top.port);
    cleanups.push(() => c.close());
    // The top's port keeps answering during the flood.
    for (let i = 0; i < 5; i++) {
      expect(await c.request('get_status', 10_000)).toMatch(/^status .*flood\/dev=1/);
      await sleep(100);
    }
    await eventually(() => expect(floods).toBeGreaterThan(20_000), LONG);
    stop = true;
    await eventually(() => expect(top.peer('flood/dev')?.values.v).toBe(-1), LONG);
    // Coalesced: far fewer update events (and archive rows) than updates received.
    // archive: true on this peer: the values are archived here, the last one included.
    await eventually(() => expect(archive.series('flood/dev', 'v').at(-1)?.value).toBe(-1), LONG);
    expect(updates.length).toBeLessThan(floods / 10);
    expect(archive.series('flood/dev', 'v').length).toBeLessThan(floods / 10);
  }, 60_000);

  /** A lower monitor over a CCDLab gauge and a labwire daemon; the top's token there is not marked forward. */
  async function ccdlabBelow(): Promise<{ gauge: CcdlabPeer; top: Monitor }> {
    const gauge = new CcdlabPeer('pfeiffer', { hw_connected: 1, status: 0, pressure: 3.42 });
    await gauge.start();
    cleanups.push(() => gauge.stop());
    const d = await fake({ level: 1 });
    const lowTokens = parseTokenFile(`admin ${PLAIN_TOKEN} plain`, 'low-tokens');
    // The gauge first: the top describes devices in the lower monitor's order.
    const lower = await monitor({
      name: 'lower',
      tokens: lowTokens,
      peers: [
        { name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: gauge.port },
        { name: 'x', host: '127.0.0.1', port: d.port },
      ],
    });
    const top = await monitor({
      name: 'top',
      tokens: parseTokenFile([`operator ${OTTO} otto`, `viewer ${VERA} vera`].join('\n'), 'top-tokens'),
      peers: [{ name: 'low', protocol: 'monitor', host: '127.0.0.1', port: lower.port, token: PLAIN_TOKEN }],
    });
    await eventually(() => {
      expect(top.peer('low/gauge')?.connected).toBe(true);
      expect(top.peer('low/x')?.describe).toBeDefined();
    }, LONG);
    return { gauge, top };
  }

  it('a CCDLab device below keeps its protocol above: a viewer cannot run its raw lines (describe, programme_status …) through a non-forward token', async () => {
    const { top } = await ccdlabBelow();
    expect(top.peer('low/gauge')?.protocol).toBe('ccdlab');
    expect(top.peer('low/x')?.protocol).toBe('labwire');
    expect(top.labState().devices.find((x) => x.name === 'low/gauge')?.protocol).toBe('ccdlab');
    const viewer = await RawClient.connect(top.port);
    cleanups.push(() => viewer.close());
    expect(await viewer.request(`auth token=${VERA}`)).toMatch(/^ok auth/);
    // labwire's own reads; to CCDLab raw lines for the instrument (lineKind), which the lower monitor would run with the top's admin token.
    for (const line of ['describe', 'programme_status', 'programme_profile']) {
      expect(await viewer.request(`send low/gauge ${line}`, 10_000)).toMatch(/^error send code=Unauthorized/);
    }
    // To a labwire device below they stay reads.
    expect(await viewer.request('send low/x describe', 10_000)).toMatch(/^describe /);
    expect(await viewer.request('send low/x programme_status', 10_000)).not.toMatch(/code=Unauthorized/);
  }, 60_000);

  it('the top asks describe of labwire devices below only: a CCDLab device gets no describe line', async () => {
    const { gauge, top } = await ccdlabBelow();
    // The gauge comes first below, so its describe (if any) went before x's, which is here.
    expect(gauge.received.filter((l) => /^\s*describe\b/.test(l))).toEqual([]);
    const low = top.monitors()[0]!;
    expect(low.connected).toBe(true);
    expect(top.peer('low/gauge')?.describe).toBeUndefined();
  }, 60_000);

  it('metrics: a lower monitor\'s own link has its series (up, reconnects), also one that never connected; its devices keep their protocol', async () => {
    const gauge = new CcdlabPeer('pfeiffer', { hw_connected: 1, status: 0, pressure: 3.42 });
    await gauge.start();
    cleanups.push(() => gauge.stop());
    const d = await fake({ level: 1 });
    const peers: MonitorOptions['peers'] = [
      { name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: gauge.port },
      { name: 'x', host: '127.0.0.1', port: d.port },
    ];
    let lower = await startMonitor({ name: 'lower', listen: { host: '127.0.0.1', port: 0 }, logger, ...timing, peers });
    const port = lower.port;
    cleanups.push(() => lower.close());
    const nobody = await freePort();
    const top = await monitor({
      name: 'top',
      peers: [
        { name: 'low', protocol: 'monitor', host: '127.0.0.1', port },
        { name: 'dead', protocol: 'monitor', host: '127.0.0.1', port: nobody },
      ],
    });
    const scrape = (): Promise<string> => monitorMetrics(top).metrics();
    await eventually(async () => {
      const text = await scrape();
      expect(text).toMatch(/^labwire_peer_up\{peer="low",protocol="monitor"\} 1$/m);
      expect(text).toMatch(/^labwire_peer_up\{peer="low\/gauge",protocol="ccdlab"\} 1$/m);
      expect(text).toMatch(/^labwire_peer_up\{peer="low\/x",protocol="labwire"\} 1$/m);
    }, LONG);
    const first = await scrape();
    expect(first).toMatch(/^labwire_peer_up\{peer="dead",protocol="monitor"\} 0$/m);
    expect(first).toMatch(/^labwire_peer_reconnects_total\{peer="low"\} 0$/m);
    expect(first).toMatch(/^labwire_peer_reconnects_total\{peer="dead"\} 0$/m);
    expect(first).toMatch(/^labwire_peer_timeouts_total\{peer="low"\} \d+$/m);
    if (runPromtool) expect(promtoolCheck(first)).toEqual({ status: 0, output: '' });
    await lower.close();
    await eventually(async () => expect(await scrape()).toMatch(/^labwire_peer_up\{peer="low",protocol="monitor"\} 0$/m), LONG);
    lower = await startMonitor({ name: 'lower', listen: { host: '127.0.0.1', port }, logger, ...timing, peers });
    await eventually(async () => {
      const text = await scrape();
      expect(text).toMatch(/^labwire_peer_up\{peer="low",protocol="monitor"\} 1$/m);
      expect(text).toMatch(/^labwire_peer_reconnects_total\{peer="low"\} 1$/m);
    }, LONG);
  }, 90_000);

  it('a lower monitor that stops answering marks its devices disconnected without stalling the top; it recovers', async () => {
    const d = await fake({ level: 1 });
    const lower = await monitor({ name: 'lower', peers: [{ name: 'x', host: '127.0.0.1', port: d.port }] });
    const proxy = new FreezeProxy(lower.port);
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const top = await monitor({ name: 'top', peers: [{ name: 'low', protocol: 'monitor', host: '127.0.0.1', port: proxy.port }] });
    await eventually(() => expect(top.peer('low/x')?.connected).toBe(true), LONG);
    proxy.freeze();
    await eventually(() => expect(top.peer('low/x')?.connected).toBe(false), LONG);
    const c = await RawClient.connect(top.port);
    cleanups.push(() => c.close());
    expect(await c.request('get_status', 10_000)).toMatch(/low\/x=0/);
    proxy.thaw();
    d.set({ level: 7 });
    await eventually(() => {
      expect(top.peer('low/x')?.connected).toBe(true);
      expect(top.peer('low/x')?.values.level).toBe(7);
    }, LONG);
  }, 60_000);
});

describe('the lab file', () => {
  const parse = (peer: string): ReturnType<typeof parseLabConfig> => parseLabConfig(`name: top\nmonitor: { name: top }\npeers:\n  - ${peer}\n`, 'lab.yaml', '/tmp');

  it('lists a lower monitor with protocol monitor; archive is off unless asked for', () => {
    const lab = parse('{ name: room1, host: 127.0.0.1, port: 7100, protocol: monitor }');
    expect(lab.peers[0]).toMatchObject({ name: 'room1', protocol: 'monitor' });
    expect(lab.peers[0]!.archive).toBeUndefined();
    expect(parse('{ name: room1, host: 127.0.0.1, port: 7100, protocol: monitor, archive: true }').peers[0]!.archive).toBe(true);
    expect(JSON.stringify(labConfigJsonSchema())).toContain('"monitor"');
  });

  it('an alarm cannot name a lower monitor as if it were a device', () => {
    const yaml = 'name: top\nmonitor: { name: top }\npeers:\n  - { name: room1, host: 127.0.0.1, port: 7100, protocol: monitor }\nalarms:\n  - { id: hot, type: threshold, param: room1.temperature, above: 30 }\n';
    expect(() => parseLabConfig(yaml, 'lab.yaml', '/tmp')).toThrow(/names the client "room1", which is not a configured daemon or peer/);
  });

  it('refuses archive on a peer that is not a monitor, with its line', () => {
    expect(() => parse('{ name: bath, host: 127.0.0.1, port: 7001, archive: true }')).toThrow(/lab\.yaml: 4:\d+: peers\.0\.archive: archive is an option of peers with protocol monitor/);
  });
});

describe('two labs started from lab files (labwire up), one watching the other', () => {
  it('the top lab shows the room lab\'s chiller, its web sets it as the person, and archives nothing of it by default', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-mom-labs-'));
    const roomDir = path.join(dir, 'room1');
    const topDir = path.join(dir, 'top');
    fs.mkdirSync(roomDir);
    fs.mkdirSync(topDir);
    fs.writeFileSync(path.join(roomDir, 'daemon-tokens.txt'), 'admin room1-monitor-token-0123456789 monitor\n');
    fs.writeFileSync(path.join(roomDir, 'monitor-tokens.txt'), `admin ${TOP_TOKEN} top forward\noperator local-token-0123456789 local\n`);
    fs.writeFileSync(path.join(topDir, 'monitor-tokens.txt'), `operator ${OTTO} otto\nviewer ${VERA} vera\n`);
    const roomYaml = [
      'name: room one',
      'simulators:',
      '  - { name: bath, type: julabo, options: { byteTiming: false } }',
      'daemons:',
      '  - { name: chiller, type: julabo, link: "sim:bath", tokenFile: daemon-tokens.txt, auditFile: chiller-audit.jsonl }',
      'monitor:',
      '  name: room1',
      '  listen: 127.0.0.1:0',
      '  web: 127.0.0.1:0',
      '  tokenFile: monitor-tokens.txt',
      '  peerToken: room1-monitor-token-0123456789',
      '  archive: { path: archive.sqlite }',
      '',
    ].join('\n');
    const roomLab = await startLab({ ...parseLabConfig(roomYaml, path.join(roomDir, 'lab.yaml'), roomDir), data: path.join(roomDir, 'data') }, logger);
    try {
      const topYaml = [
        'name: the building',
        'peers:',
        `  - { name: room1, host: 127.0.0.1, port: ${roomLab.monitor.port}, protocol: monitor, token: ${TOP_TOKEN} }`,
        'monitor:',
        '  name: top',
        '  listen: 127.0.0.1:0',
        '  web: 127.0.0.1:0',
        '  tokenFile: monitor-tokens.txt',
        '  archive: { path: archive.sqlite }',
        '',
      ].join('\n');
      const topLab = await startLab({ ...parseLabConfig(topYaml, path.join(topDir, 'lab.yaml'), topDir), data: path.join(topDir, 'data') }, logger);
      try {
        await eventually(() => {
          expect(topLab.monitor.peer('room1/chiller')?.connected).toBe(true);
          expect(topLab.monitor.peer('room1/chiller')?.describe).toBeDefined();
        }, LONG);
        const send = (token: string, line: string) =>
          fetch(`${topLab.web.url}api/devices/${encodeURIComponent('room1/chiller')}/command`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ line }),
          });
        expect((await send(VERA, 'set setpoint=16.5')).status).toBe(403);
        const res = await send(OTTO, 'set setpoint=17.5');
        expect(res.status, await res.clone().text()).toBe(200);
        await eventually(() => expect(topLab.monitor.peer('room1/chiller')?.values.setpoint).toBe(17.5), LONG);
        const auditRows = (): AuditLine[] => fs.readFileSync(path.join(roomDir, 'chiller-audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditLine);
        await eventually(() => expect(auditRows().find((a) => a.command === 'set setpoint=17.5')).toMatchObject({ who: 'otto via top via room1' }), LONG);
        expect(auditRows().some((a) => a.command === 'set setpoint=16.5')).toBe(false);
        // The room archives its chiller; the top (archive: false by default) does not.
        await eventually(async () => expect((await roomLab.archive!.listSeries()).some((x) => x.device === 'chiller' && x.name === 'setpoint')).toBe(true), LONG);
        expect((await topLab.archive!.listSeries()).filter((x) => x.device.includes('chiller'))).toEqual([]);
      } finally {
        await topLab.close();
      }
    } finally {
      await roomLab.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
