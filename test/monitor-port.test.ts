/**
 * The monitor's own labwire port, black-box over TCP (PROTOCOL.md "The monitor as a node"): a raw
 * line client, no labwire code on the test side except where the LabwireClient itself is the
 * subject (waitFor through the monitor).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LabwireClient } from '../src/client/index.js';
import { FakeDaemon } from '../src/testing/fake-daemon.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import type { MonitorOptions } from '../src/monitor/options.js';
import type { LogEntry } from '../src/archive/types.js';
import { CcdlabPeer } from '../src/monitor/test-helpers/ccdlab-peer.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

const VIEWER = 'viewer-token-0123456789';
const OPERATOR = 'operator-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const TOKENS = [
  { role: 'viewer' as const, token: VIEWER, name: 'vera' },
  { role: 'operator' as const, token: OPERATOR, name: 'otto' },
  { role: 'admin' as const, token: ADMIN, name: 'ada' },
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Setup {
  m: Monitor;
  bath: FakeDaemon;
  gauge: CcdlabPeer;
  archive: MemoryArchive;
  client(): Promise<RawClient>;
}

async function setup(options: Partial<MonitorOptions> = {}): Promise<Setup> {
  const bath = new FakeDaemon();
  await bath.start();
  cleanups.push(() => bath.stop());
  const gauge = new CcdlabPeer('pfeiffer');
  await gauge.start();
  cleanups.push(() => gauge.stop());
  const archive = new MemoryArchive();
  const m = await startMonitor({
    peers: [
      { name: 'bath', host: '127.0.0.1', port: bath.port },
      { name: 'gauge', protocol: 'ccdlab', host: '127.0.0.1', port: gauge.port },
      { name: 'absent', host: '127.0.0.1', port: 9 },
    ],
    archive,
    listen: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
    ccdlabPollMs: 100,
    ...options,
  });
  cleanups.push(() => m.close());
  await eventually(() => expect(m.peer('bath')!.connected && m.peer('gauge')!.connected).toBe(true));
  return {
    m,
    bath,
    gauge,
    archive,
    async client() {
      const c = await RawClient.connect(m.port);
      cleanups.push(() => c.close());
      return c;
    },
  };
}

describe('reads', () => {
  it('get_id names the monitor', async () => {
    const { client, m } = await setup({ name: 'lab-monitor', version: '9.9.9' });
    const c = await client();
    expect(await c.request('get_id')).toBe('id name=lab-monitor type=monitor protocol=labwire/1 version=9.9.9');
    expect(m.port).toBeGreaterThan(0);
  });

  it('get_status aggregates every client in CCDLab naming; clients_connected (= CCDLab\'s nconnected) counts connections to the port, devices_connected the devices up', async () => {
    const { client } = await setup();
    const c = await client();
    await client();
    expect(await c.request('get_status')).toBe(
      'status nconnected=2 clients_connected=2 devices_connected=2 bath=1 bath.temperature=20 bath.setpoint=20 bath.state=idle bath.running=1 ' +
        'gauge=1 gauge.hw_connected=1 gauge.status=0 gauge.pressure=3.42041 absent=0',
    );
  });

  it('get_status format=json nests the values; an unknown format is a WrongType error', async () => {
    const { client } = await setup();
    const c = await client();
    const line = await c.request('get_status format=json');
    expect(line.startsWith('status_json ')).toBe(true);
    const doc = JSON.parse(line.slice('status_json '.length)) as Record<string, unknown>;
    expect(doc).toMatchObject({
      nconnected: 1,
      clients_connected: 1,
      devices_connected: 2,
      connected: { bath: true, gauge: true, absent: false },
      bath: { temperature: 20, setpoint: 20, state: 'idle', running: true },
      gauge: { hw_connected: 1, status: 0, pressure: 3.42041 },
      absent: {},
    });
    expect(typeof doc.t).toBe('number');
    expect(await c.request('get_status format=xml')).toBe('error get_status code=WrongType message="unknown status format \\"xml\\": expected text or json"');
  });

  it('a LabwireClient reads the monitor as CCDLab naming and waits for a condition through it', async () => {
    const { m, bath } = await setup();
    const client = new LabwireClient({ host: '127.0.0.1', port: m.port, reconnect: false });
    cleanups.push(() => client.close());
    await client.connect();
    const status = await client.status();
    expect(status.values).toMatchObject({ 'bath.temperature': 20, 'gauge.pressure': 3.42041, 'connected.bath': true });
    const waiting = client.waitFor('bath.temperature < 15', { timeoutMs: 5000, pollMs: 50 });
    setTimeout(() => bath.set({ temperature: 14 }), 100);
    expect((await waiting)['bath.temperature']).toBe(14);
  });

  it('clients and connections answer one ok line each', async () => {
    const { client, bath, gauge } = await setup();
    const c = await client();
    c.write('id name=script1 type=script\n');
    expect(await c.request('clients')).toBe(
      `ok clients names="bath gauge absent" connected="bath gauge" endpoints="127.0.0.1:${bath.port} 127.0.0.1:${gauge.port} 127.0.0.1:9" protocols="labwire ccdlab labwire"`,
    );
    const d = await client();
    const line = await d.request('connections');
    expect(line).toMatch(/^ok connections n=2 names="script1 anonymous2" peers="127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+"$/);
  });

  it('help lists the commands; an unknown command gets NoSuchCommand; ping gets pong', async () => {
    const { client } = await setup();
    const c = await client();
    expect(await c.request('help')).toMatch(/^ok help commands="get_id get_status send clients connections snapshot message info warning error success debug subscribe unsubscribe auth ping help exit as"$/);
    expect(await c.request('frobnicate')).toMatch(/^error frobnicate code=NoSuchCommand message="unknown command \\"frobnicate\\"; the monitor knows: get_id, /);
    expect(await c.request('ping')).toBe('pong');
  });
});

describe('protocol behaviour', () => {
  it('answers pipelined requests in order, a slow send included', async () => {
    const { client, bath } = await setup();
    const c = await client();
    bath.statusDelayMs = 200;
    const from = c.lines.length;
    c.write('send bath get_status\nping\nget_id\nsend bath set setpoint=12\nclients\n');
    const replies = await c.replies(5, from);
    expect(replies[0]).toMatch(/^status hw_connected=1 temperature=20/);
    expect(replies.slice(1, 4)).toEqual(['pong', expect.stringMatching(/^id name=monitor type=monitor/), 'ok set setpoint=12']);
    expect(replies[4]).toMatch(/^ok clients/);
  });

  it('handles one request of a connection at a time: get_status after a send shows the new value', async () => {
    const { client } = await setup();
    const c = await client();
    const from = c.lines.length;
    c.write('send bath set setpoint=12\nget_status\n');
    const [set, status] = await c.replies(2, from);
    expect(set).toBe('ok set setpoint=12');
    expect(status).toMatch(/ bath\.setpoint=12 /);
  });

  it('takes notices without a reply and answers an unparseable line with ProtocolError', async () => {
    const { client } = await setup();
    const c = await client();
    const from = c.lines.length;
    c.write('id name=script type=script\nstatus a=1\nstatus_json {}\nget_id\n');
    expect(await c.replies(1, from)).toEqual([expect.stringMatching(/^id name=monitor/)]);
    expect(await c.request('send bath set x="open')).toBe('error - code=ProtocolError message="unbalanced double quote at column 17"');
    expect(await c.request('ping')).toBe('pong');
  });

  it('replies before closing when the client half-closes (nc -q1)', async () => {
    const { client } = await setup();
    const c = await client();
    c.socket.end('get_id\n');
    await c.waitClosed();
    expect(c.lines).toEqual([expect.stringMatching(/^id name=monitor type=monitor/)]);
  });

  it('rate-limits per address', async () => {
    const { client } = await setup({ rateLimit: { perSecond: 1, burst: 3 } });
    const c = await client();
    const from = c.lines.length;
    c.write('ping\nping\nping\nping\n');
    const replies = await c.replies(4, from);
    expect(replies.slice(0, 3)).toEqual(['pong', 'pong', 'pong']);
    expect(replies[3]).toMatch(/^error ping code=RateLimited/);
  });
});

describe('send', () => {
  it('forwards the rest of the line as typed, quotes kept, and returns the device’s own reply', async () => {
    const { client, bath } = await setup();
    const c = await client();
    expect(await c.request('send bath start "a b"   k="x y"')).toBe('ok start args="a b" k="x y"');
    expect(bath.received).toContain('start "a b"   k="x y"');
    expect(await c.request('send bath set setpoint=99')).toBe('error set code=RangeError message="setpoint 99 °C is above the limit of 40 °C"');
    expect(await c.request('send bath nosuch')).toBe('error nosuch code=NoSuchCommand message="no command nosuch"');
  });

  it('answers an unknown client with ProtocolError naming the clients', async () => {
    const { client } = await setup();
    const c = await client();
    expect(await c.request('send nope set x=1')).toBe('error send code=ProtocolError message="unknown client \\"nope\\"; clients: bath, gauge, absent"');
    expect(await c.request('send')).toBe('error send code=ProtocolError message="send needs a client and a line: send <client> <line ...>"');
    expect(await c.request('send absent get_status')).toMatch(/^error send code=CommunicationFailed message="client \\"absent\\" \(127\.0\.0\.1:9\) is not connected/);
  });

  it('sends a CCDLab peer its command without waiting for a reply it never sends', async () => {
    const { client, gauge } = await setup();
    const c = await client();
    expect(await c.request('send gauge LOOP 1:PGAIN 2000')).toBe('ok send client=gauge reply=none note="CCDLab daemons do not answer commands; sent without waiting"');
    await eventually(() => expect(gauge.received).toContain('LOOP 1:PGAIN 2000'));
    expect(await c.request('send gauge get_status')).toBe('status hw_connected=1 status=0 pressure=3.42041');
  });
});

describe('messages from scripts', () => {
  it('are stored with the sender’s id name as the source and answered ok <level>', async () => {
    const { client, m, archive } = await setup();
    const c = await client();
    const seen: LogEntry[] = [];
    m.on('message', (e: LogEntry) => seen.push(e));
    c.write('id name=cooldown-script type=script\n');
    expect(await c.request('info cool-down started at "20 °C"')).toBe('ok info');
    expect(await c.request('message plain')).toBe('ok message');
    expect(await c.request('warning slow')).toBe('ok warning');
    expect(await c.request('error failed')).toBe('ok error');
    expect(await c.request('success done')).toBe('ok success');
    expect(await c.request('debug detail')).toBe('ok debug');
    expect(await c.request('info')).toBe('error info code=ProtocolError message="info needs a text: info <text>"');
    expect(seen.map((e) => [e.source, e.level, e.message])).toEqual([
      ['cooldown-script', 'info', 'cool-down started at "20 °C"'],
      ['cooldown-script', 'info', 'plain'],
      ['cooldown-script', 'warning', 'slow'],
      ['cooldown-script', 'error', 'failed'],
      ['cooldown-script', 'success', 'done'],
      ['cooldown-script', 'debug', 'detail'],
    ]);
    await eventually(() => expect(archive.logs.filter((e) => e.source === 'cooldown-script')).toHaveLength(6));
    const anon = await client();
    expect(await anon.request('info who am i')).toBe('ok info');
    expect(m.recentMessages(1)[0]).toMatchObject({ source: 'anonymous2', message: 'who am i' });
  });
});

describe('subscribe', () => {
  it('pushes aggregated changes, connection flags and log lines to subscribers', async () => {
    const { client, bath, gauge, m } = await setup();
    const c = await client();
    expect(await c.request('subscribe')).toBe('ok subscribe');
    bath.set({ temperature: 14.5 });
    expect(await c.waitLine((l) => l.startsWith('update ') && l.includes('bath.temperature'))).toMatch(/^update t=\d+ bath\.temperature=14\.5$/);
    gauge.setValues({ hw_connected: 1, status: 0, pressure: 2 });
    expect(await c.waitLine((l) => l.includes('gauge.pressure'))).toMatch(/^update t=\d+ gauge\.pressure=2$/);
    m.message('script', 'warning', 'look "here"');
    expect(await c.waitLine((l) => l.startsWith('log '))).toMatch(/^log t=\d+ level=warning message="look \\"here\\"" source=script$/);
    await bath.stop();
    expect(await c.waitLine((l) => l.includes(' bath=0'))).toMatch(/^update t=\d+ bath=0$/);
  });

  it('filters by client or <client>.<param>, and refuses unknown clients', async () => {
    const { client, bath, gauge } = await setup();
    const c = await client();
    expect(await c.request('subscribe bath.setpoint gauge')).toBe('ok subscribe');
    expect(await c.request('subscribe nope.x')).toMatch(/^error subscribe code=NoSuchParameter message="cannot subscribe to nope\.x: no such client/);
    expect(await c.request('subscribe bath.setpoint gauge')).toBe('ok subscribe');
    const from = c.lines.length;
    bath.set({ temperature: 11, setpoint: 11 });
    gauge.setValues({ hw_connected: 1, status: 0, pressure: 5 });
    await c.waitLine((l) => l.includes('gauge.pressure=5'), 15_000, from);
    const updates = c.lines.slice(from).filter((l) => l.startsWith('update'));
    expect(updates.map((l) => l.replace(/t=\d+ /, ''))).toEqual(['update bath.setpoint=11', 'update gauge.pressure=5']);
    expect(await c.request('unsubscribe')).toBe('ok unsubscribe');
  });

  it('gives a CCDLab MONITOR above it (id name=monitor, no subscribe) the log as CCDLab lines', async () => {
    const { client, m } = await setup();
    const c = await client();
    c.write('id name=monitor\n');
    expect(await c.request('ping')).toBe('pong');
    m.message('bath', 'warning', 'low level');
    expect(await c.waitLine((l) => l.startsWith('warning'))).toBe('warning bath: low level');
  });
});

describe('roles and read-only mode', () => {
  it('without a token only ping, help, get_id and auth are open', async () => {
    const { client } = await setup({ tokens: TOKENS });
    const c = await client();
    expect(await c.request('ping')).toBe('pong');
    expect(await c.request('get_id')).toMatch(/^id name=monitor/);
    expect(await c.request('help')).toMatch(/^ok help/);
    expect(await c.request('get_status')).toBe('error get_status code=Unauthorized message="get_status needs the viewer role; authenticate first with auth token=<token>"');
    expect(await c.request('send bath get_status')).toMatch(/^error send code=Unauthorized/);
    expect(await c.request('info hello')).toMatch(/^error info code=Unauthorized/);
    expect(await c.request('auth token=wrong-token-000000')).toBe('error auth code=Unauthorized message="unknown token"');
  });

  it('a viewer reads and sends reads; state changes need an operator (refusals audited); exit needs an admin', async () => {
    const { client, bath, m, archive } = await setup({ tokens: TOKENS });
    const c = await client();
    expect(await c.request(`auth token=${VIEWER}`)).toBe('ok auth role=viewer');
    expect(await c.request('get_status')).toMatch(/^status nconnected=1 clients_connected=1 devices_connected=\d bath=1/);
    expect(await c.request('send bath get_status')).toMatch(/^status hw_connected=1/);
    expect(await c.request('send bath set setpoint=12')).toBe('error send code=Unauthorized message="send bath set needs the operator role; your role is viewer"');
    expect(await c.request('send bath exit')).toBe('error send code=Unauthorized message="send bath exit needs the admin role; your role is viewer"');
    // Writing to the message log needs the operator role (test/monitor-port-flood.test.ts).
    expect(await c.request('info from vera')).toBe('error info code=Unauthorized message="info needs the operator role; your role is viewer"');
    expect(bath.received).not.toContain('set setpoint=12');
    // The first refusal of an address and reason per interval is audited in full, later ones are
    // counted into a summary at the end of the interval (test/monitor-port-flood.test.ts).
    await eventually(() => expect(archive.audits.map((a) => [a.who, a.device, a.command, a.result])).toEqual([
      ['vera', 'bath', 'set setpoint=12', 'refused Unauthorized: send bath set needs the operator role; your role is viewer'],
    ]));
    expect(await c.request(`auth token=${OPERATOR}`)).toBe('ok auth role=operator');
    expect(await c.request('send bath set setpoint=12')).toBe('ok set setpoint=12');
    expect(await c.request('exit')).toBe('error exit code=Unauthorized message="exit needs the admin role; your role is operator"');
    const exits: string[] = [];
    m.on('exit', (why: string) => exits.push(why));
    expect(await c.request(`auth token=${ADMIN}`)).toBe('ok auth role=admin');
    expect(await c.request('exit')).toBe('ok exit');
    await eventually(() => expect(exits).toEqual([expect.stringMatching(/^exit requested by ada from 127\.0\.0\.1:\d+$/)]));
    await eventually(() => expect(archive.audits.at(-1)).toMatchObject({ who: 'ada', device: 'monitor', command: 'exit', result: 'ok exit' }));
  });

  it('the audit trail names the token and the connection', async () => {
    const { client, archive } = await setup({ tokens: TOKENS });
    const c = await client();
    c.write('id name=cooldown type=script\n');
    await c.request(`auth token=${OPERATOR}`);
    expect(await c.request('send bath set setpoint=15')).toBe('ok set setpoint=15');
    await eventually(() => expect(archive.audits).toHaveLength(1));
    expect(archive.audits[0]).toMatchObject({ who: 'otto (cooldown)', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), device: 'bath', command: 'set setpoint=15', before: { setpoint: 20 }, after: { setpoint: 15 }, result: 'ok set setpoint=15' });
  });

  it('anonymousRole viewer opens reads to CCDLab tools that cannot send a token', async () => {
    const { client } = await setup({ tokens: TOKENS, anonymousRole: 'viewer' });
    const c = await client();
    expect(await c.request('get_status')).toMatch(/^status nconnected=1/);
    expect(await c.request('send bath set setpoint=12')).toMatch(/^error send code=Unauthorized/);
  });

  it('read-only mode refuses state-changing sends and still forwards reads', async () => {
    const { client, bath } = await setup({ readOnly: true });
    const c = await client();
    expect(await c.request('send bath set setpoint=12')).toBe('error send code=ReadOnly message="the monitor is read-only: \\"set\\" would change bath, and only reads are forwarded"');
    expect(await c.request('send gauge LOOP 1:PGAIN 2000')).toMatch(/^error send code=ReadOnly/);
    expect(await c.request('send bath get_status')).toMatch(/^status hw_connected=1/);
    expect(bath.received).not.toContain('set setpoint=12');
  });
});
