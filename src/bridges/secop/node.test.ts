/**
 * The SECoP node over real TCP, against simulated Julabo and Cryo-con daemons in-process. The
 * client below is written from the specification only (reference/secop.md §1–§5): it frames LF
 * lines, splits `action specifier data`, and parses data as JSON.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon, type DaemonOptions } from '../../daemon/daemon.js';
import { startDaemonOnPort } from '../../testing/restart-daemon.js';
import { startCryoconLab, type CryoconLab } from '../../../test/helpers/cryocon-lab.js';
import { JulaboSimulator } from '../../devices/julabo/simulator.js';
import { julaboFamily } from '../../devices/julabo/device.js';
import { silentLogger } from '../../util/logger.js';
import { eventually } from '../../testing/eventually.js';
import { SecopNode } from './node.js';
import { SpecClient, type Msg } from './test-helpers.js';

const logger = silentLogger();
let dir: string;
let cryoLab: CryoconLab;
let julaboSim: JulaboSimulator;
let cryo: Daemon;
let julabo: Daemon;
let julaboOptions: DaemonOptions;
let node: SecopNode;
let roNode: SecopNode;
const clients: SpecClient[] = [];
const TOKEN = 'secop-test-token-0123456789';

async function client(port = node.port): Promise<SpecClient> {
  const c = await SpecClient.connect(port);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-secop-'));
  const tokens = [{ role: 'operator' as const, token: TOKEN, name: 'secop', forward: true }];
  cryoLab = await startCryoconLab({ tokens, anonymousRole: 'viewer', auditFile: path.join(dir, 'cryo-audit.jsonl'), logger });
  cryo = cryoLab.daemon;
  julaboSim = new JulaboSimulator({ byteTiming: false, noise: 0, seed: 7 });
  const julaboSimPort = await julaboSim.listenTcp('127.0.0.1', 0);
  julaboOptions = {
    definition: julaboFamily.definition,
    link: { kind: 'tcp', host: '127.0.0.1', port: julaboSimPort },
    name: 'chiller',
    port: 0,
    tokens,
    anonymousRole: 'viewer',
    siteLimits: { setpoint: { min: 5, max: 30 } },
    auditFile: path.join(dir, 'chiller-audit.jsonl'),
    logger,
    version: 'test',
  };
  julabo = await startDaemon(julaboOptions);
  const daemons = [
    { host: '127.0.0.1', port: cryo.port },
    { host: '127.0.0.1', port: julabo.port },
  ];
  node = new SecopNode({ name: 'testlab', daemons, port: 0, token: TOKEN, discoveryPort: 0, logger });
  await node.start();
  // No token, not trusted: a node that only reads.
  roNode = new SecopNode({ name: 'readonly', daemons, port: 0, logger });
  await roNode.start();
  // Both daemons have their instruments before the tests start (status leaves ERROR).
  const probe = await client();
  await eventually(async () => {
    for (const mod of ['cryo', 'chiller']) {
      const r = await probe.request(`read ${mod}:status`, 'reply');
      expect(((r.data as [[number]])[0])[0]).toBeLessThan(400);
    }
  }, 30_000, 200);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await node?.close();
  await roNode?.close();
  await cryoLab?.close();
  await julabo?.close();
  await julaboSim?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Report = [unknown, { t: number }];
type Described = { equipment_id: string; modules: Record<string, { interface_classes: string[]; accessibles: Record<string, { datainfo: Record<string, unknown>; readonly?: boolean }> }> };

describe('SECoP node: identification and description', () => {
  it('answers *IDN? with the 1.x identification', async () => {
    const c = await client();
    const m = await c.request('*IDN?', 'ISSE&SINE2020,SECoP,V2019-09-16,v1.0');
    expect(m.line).toBe('ISSE&SINE2020,SECoP,V2019-09-16,v1.0');
  });

  it('describes one module per device, loop and channel, with classes and datainfo from describe', async () => {
    const c = await client();
    const m = await c.request('describe', 'describing');
    expect(m.specifier).toBe('.');
    const d = m.data as Described;
    expect(d.equipment_id).toBe('testlab');
    const names = Object.keys(d.modules);
    expect(names).toEqual(expect.arrayContaining(['cryo', 'cryo_loop1', 'cryo_loop4', 'cryo_chA', 'cryo_chD', 'chiller']));
    const loop1 = d.modules.cryo_loop1!;
    expect(loop1.interface_classes[0]).toBe('Drivable');
    expect(loop1.accessibles.value!.datainfo).toMatchObject({ type: 'double', unit: 'K' });
    expect(loop1.accessibles.target!.datainfo).toMatchObject({ type: 'double', unit: 'K', min: 0, max: 500 });
    expect(loop1.accessibles.target!.readonly).toBe(false);
    expect(loop1.accessibles.status!.datainfo.type).toBe('tuple');
    expect(loop1.accessibles._type!.datainfo).toMatchObject({ type: 'enum', members: { OFF: 0, PID: 1 } });
    expect(d.modules.cryo_chA!.interface_classes).toEqual(['Readable']);
    expect(d.modules.cryo_chA!.accessibles.value!.readonly).toBe(true);
    // Site limits of the daemon, not the Julabo's class limits (-20..40).
    expect(d.modules.chiller!.accessibles.target!.datainfo).toMatchObject({ type: 'double', min: 5, max: 30 });
    expect(d.modules.cryo!.accessibles._clear_alarm!.datainfo).toMatchObject({ type: 'command', argument: { type: 'enum' } });
    expect(d.modules.chiller!.accessibles.stop!.datainfo).toEqual({ type: 'command' });
    for (const n of names) expect(n).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/);
  });

  it('answers ping and help', async () => {
    const c = await client();
    const p = await c.request('ping abc', 'pong');
    expect(p.specifier).toBe('abc');
    expect(typeof (p.data as Report)[1].t).toBe('number');
    const h = await c.request('help', 'helping');
    expect(typeof h.data).toBe('string');
  });

  it('sends ASCII only: a unit such as °C is a JSON escape', async () => {
    const c = await client();
    const m = await c.request('describe', 'describing');
    expect([...m.line].every((ch) => ch.charCodeAt(0) < 0x7f)).toBe(true);
    expect((m.data as Described).modules.chiller!.accessibles.value!.datainfo.unit).toBe('°C');
  });

  it('deactivate and *IDN? stop the updates', async () => {
    const c = await client();
    const control = await client();
    await control.request('activate', 'active');
    // A change made through another connection: the control client sees it, the tested one not.
    let n = 0;
    const quiet = async (): Promise<void> => {
      const from = c.messages.length;
      const name = `Stage${++n}`;
      const mark = control.messages.length;
      const ch = await control.request(`change cryo_chA:_name "${name}"`, 'changed');
      expect(ch.line).toMatch(/^changed/);
      await control.next((m) => m.action === 'update' && m.specifier === 'cryo_chA:_name' && (m.data as [string])[0] === name, mark);
      await new Promise((r) => setTimeout(r, 300));
      expect(c.messages.slice(from).filter((m) => m.action === 'update' && m.specifier === 'cryo_chA:_name')).toEqual([]);
    };
    const from = c.messages.length;
    await c.request('activate cryo_chA', 'active');
    expect(c.messages.slice(from).some((m) => m.action === 'update' && m.specifier === 'cryo_chA:value')).toBe(true);
    expect((await c.request('deactivate cryo_chA', 'inactive')).specifier).toBe('cryo_chA');
    await quiet();
    // The whole node activated, then one module deactivated: the others still update.
    await c.request('activate', 'active');
    await c.request('deactivate cryo_chA', 'inactive');
    const before = c.messages.length;
    await quiet();
    await control.request('change cryo_chB:_name "Cold2"', 'changed');
    await c.next((m) => m.action === 'update' && m.specifier === 'cryo_chB:_name', before);
    await c.request('activate', 'active');
    await c.request('*IDN?', 'ISSE&SINE2020,SECoP,V2019-09-16,v1.0');
    await quiet();
  }, 30_000);

  it('answers UDP discovery with its port and equipment_id, and ignores other datagrams', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: Buffer[] = [];
    sock.on('message', (m) => got.push(m));
    try {
      sock.send('not json', node.discoveryPort!, '127.0.0.1');
      sock.send(JSON.stringify({ SECoP: 'something else' }), node.discoveryPort!, '127.0.0.1');
      await eventually(() => {
        sock.send(JSON.stringify({ SECoP: 'discover' }), node.discoveryPort!, '127.0.0.1');
        expect(got.length).toBeGreaterThan(0);
      }, 15_000, 300);
      const reply = JSON.parse(got[0]!.toString()) as Record<string, unknown>;
      expect(reply).toMatchObject({ SECoP: 'node', port: node.port, equipment_id: 'testlab' });
      expect(got[0]!.length).toBeLessThanOrEqual(508);
      expect(got.every((g) => (JSON.parse(g.toString()) as { SECoP: string }).SECoP === 'node')).toBe(true);
    } finally {
      sock.close();
    }
  });

  it('reads a value with a timestamp', async () => {
    const c = await client();
    const r = await c.request('read chiller:value', 'reply', 'chiller:value');
    const [v, q] = r.data as Report;
    expect(typeof v).toBe('number');
    expect(q.t).toBeGreaterThan(1e9);
    expect(q.t).toBeLessThan(1e11); // seconds, not milliseconds
  });
});

describe('SECoP node: done means', () => {
  it('activate sends every parameter, then active; change of loop 1 to 77 goes BUSY then IDLE; a limit is a RangeError', async () => {
    const c = await client();
    const from = c.messages.length;
    c.send('activate');
    const active = await c.next((m) => m.action === 'active', from);
    const before = c.messages.slice(from, c.messages.indexOf(active));
    expect(before.some((m) => m.action === 'update' && m.specifier === 'cryo_loop1:value')).toBe(true);
    expect(before.some((m) => m.action === 'update' && m.specifier === 'chiller:status')).toBe(true);
    const mark = c.messages.length;
    const changed = await c.request('change cryo_loop1:target 77', 'changed', 'cryo_loop1:target');
    expect(changed.action).toBe('changed');
    expect((changed.data as Report)[0]).toBe(77);
    const busy = await c.next((m) => m.action === 'update' && m.specifier === 'cryo_loop1:status' && ((m.data as Report)[0] as [number, string])[0] >= 300 && ((m.data as Report)[0] as [number, string])[0] < 400, mark);
    const busyAt = c.messages.indexOf(busy);
    // Side effects go out before the reply (reference §4): the BUSY status precedes `changed`.
    expect(busyAt).toBeLessThan(c.messages.indexOf(changed));
    const idle = await c.next((m) => m.action === 'update' && m.specifier === 'cryo_loop1:status' && ((m.data as Report)[0] as [number, string])[0] === 100, busyAt, 60_000);
    expect(c.messages.indexOf(idle)).toBeGreaterThan(busyAt);
    // Values follow from labwire subscriptions while the loop moves.
    expect(c.messages.slice(mark).filter((m) => m.action === 'update' && m.specifier === 'cryo_loop1:value').length).toBeGreaterThan(1);
    const value = await c.request('read cryo_loop1:value', 'reply', 'cryo_loop1:value');
    expect(Math.abs(((value.data as Report)[0] as number) - 77)).toBeLessThan(0.5);

    // The audit of the daemon names the SECoP peer.
    const audit = fs.readFileSync(path.join(dir, 'cryo-audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"who":"secop:127\.0\.0\.1:\d+ via secop-testlab"/);

    const refused = await c.request('change chiller:target 35', 'changed', 'chiller:target');
    expect(refused.action).toBe('error_change');
    expect((refused.data as [string, string, object])[0]).toBe('RangeError');
  }, 90_000);
});

describe('SECoP node: bad input', () => {
  const errorClass = (m: Msg): string => (m.data as [string, string, object])[0];

  it('a malformed line and an unknown action get ProtocolError; the connection stays', async () => {
    const c = await client();
    const a = await c.request('read', 'reply');
    expect(a.action).toBe('error_read');
    expect(errorClass(a)).toBe('ProtocolError');
    const b = await c.request('frobnicate x:y 1', 'never');
    expect(b.action).toBe('error_frobnicate');
    expect(errorClass(b)).toBe('ProtocolError');
    const from = c.messages.length;
    c.send('\u0001\u0002 {{{');
    const e = await c.next((m) => m.action.startsWith('error_'), from);
    expect(errorClass(e)).toBe('ProtocolError');
    await c.request('*IDN?', 'ISSE&SINE2020,SECoP,V2019-09-16,v1.0');
  });

  it('change with a wrong JSON type, of a read-only parameter, of an unknown one', async () => {
    const c = await client();
    expect(errorClass(await c.request('change cryo_loop1:target "hot"', 'changed'))).toBe('WrongType');
    expect(errorClass(await c.request('change cryo_loop1:target {not json', 'changed'))).toBe('WrongType');
    expect(errorClass(await c.request('change cryo_loop1:target 1e9', 'changed'))).toBe('RangeError');
    expect(errorClass(await c.request('change cryo_loop1:value 3', 'changed'))).toBe('ReadOnly');
    expect(errorClass(await c.request('change cryo_loop1:nothing 3', 'changed'))).toBe('NoSuchParameter');
    expect(errorClass(await c.request('read nomodule:value', 'reply'))).toBe('NoSuchModule');
  });

  it('do on a module without that command is NoSuchCommand; a command with a bad argument WrongType', async () => {
    const c = await client();
    expect(errorClass(await c.request('do cryo_loop1:stop', 'done'))).toBe('NoSuchCommand');
    expect(errorClass(await c.request('do cryo:_clear_alarm "Z"', 'done'))).toBe('WrongType');
    const ok = await c.request('do cryo:_clear_alarm "A"', 'done');
    expect(ok.action).toBe('done');
  });

  it('activate of an unknown module is NoSuchModule', async () => {
    const c = await client();
    const m = await c.request('activate nosuch', 'active');
    expect(m.action).toBe('error_activate');
    expect(errorClass(m)).toBe('NoSuchModule');
  });

  it('a node without a token and without --trusted refuses change and do, and reads', async () => {
    const c = await client(roNode.port);
    expect(errorClass(await c.request('change chiller:target 20', 'changed'))).toBe('Impossible');
    expect(errorClass(await c.request('do chiller:stop', 'done'))).toBe('Impossible');
    expect((await c.request('read chiller:value', 'reply')).action).toBe('reply');
  });

  it('refuses to listen beyond loopback unless trusted', async () => {
    const n = new SecopNode({ name: 'x', daemons: [], host: '0.0.0.0', port: 0, logger });
    await expect(n.start()).rejects.toThrow(/--trusted/);
  });

  it('an over-long line gets error_<action> <specifier> of its request when its first bytes say them, else error_unknown .', async () => {
    const c = await client();
    const long = 'x'.repeat(100 * 1024); // beyond the 64 KiB default
    let from = c.messages.length;
    c.send(`change cryo_loop1:target "${long}"`);
    let e = await c.next((m) => m.action.startsWith('error_'), from, 30_000);
    expect(e.action).toBe('error_change');
    expect(e.specifier).toBe('cryo_loop1:target');
    expect(errorClass(e)).toBe('ProtocolError');
    expect((e.data as [string, string, object])[2]).toEqual({});
    from = c.messages.length;
    c.send(long);
    e = await c.next((m) => m.action.startsWith('error_'), from, 30_000);
    expect(e.action).toBe('error_unknown');
    expect(e.specifier).toBe('.');
    expect(errorClass(e)).toBe('ProtocolError');
    from = c.messages.length;
    c.send(`read ${long}`); // a specifier too long to be one
    e = await c.next((m) => m.action.startsWith('error_'), from, 30_000);
    expect(e.action).toBe('error_read');
    expect(e.specifier).toBe('.');
    expect(c.closed).toBe(false);
  });

  it('a 50 MB line is refused with ProtocolError, the node holds at most the line limit of it, the connection survives and others are served meanwhile', async () => {
    const c = await client();
    const other = await client();
    const overlongBefore = node.counters.overlongLines;
    const chunk = Buffer.alloc(1024 * 1024, 'x'.charCodeAt(0));
    const from = c.messages.length;
    c.socket.write('change cryo_loop1:target ');
    for (let i = 0; i < 50; i++) {
      if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r));
      // Halfway through the line, another client is served as usual.
      if (i === 25) expect((await other.request('read chiller:value', 'reply', 'chiller:value')).action).toBe('reply');
    }
    c.socket.write('\n');
    const e = await c.next((m) => m.action.startsWith('error_'), from, 60_000);
    expect(`${e.action} ${e.specifier}`).toBe('error_change cryo_loop1:target');
    expect(errorClass(e)).toBe('ProtocolError');
    const idn = await c.request('*IDN?', 'ISSE&SINE2020,SECoP,V2019-09-16,v1.0');
    expect(idn.action).toBe('ISSE&SINE2020,SECoP,V2019-09-16,v1.0');
    expect(c.closed).toBe(false);
    // One refusal for the one line (the rest was discarded as it came, not refused again), and
    // the node never held more of an unfinished line than its limit: 50 MB never sat in memory.
    expect(node.counters.overlongLines - overlongBefore).toBe(1);
    expect(node.counters.maxHeldLineBytes).toBeLessThanOrEqual(64 * 1024);
    expect(c.messages.slice(from).filter((m) => m.action.startsWith('error_'))).toHaveLength(1);
  }, 90_000);
});

describe('SECoP node: a client that pipelines and goes', () => {
  const setsApplied = (): number => {
    try {
      return fs.readFileSync(path.join(dir, 'chiller-audit.jsonl'), 'utf8').split('\n').filter((l) => l.includes('setpoint')).length;
    } catch {
      return 0;
    }
  };

  it('after the client disconnects, its queued changes are dropped: at most the one in flight is applied', async () => {
    const before = setsApplied();
    const c = await client();
    const from = c.messages.length;
    let lines = '';
    for (let i = 0; i < 200; i++) lines += `change chiller:target ${10 + (i % 10)}\n`;
    c.socket.write(lines);
    // The first change is through (the queue is real), then the client leaves.
    await c.next((m) => m.action === 'changed', from, 30_000);
    c.close();
    await eventually(() => expect(c.closed).toBe(true), 10_000);
    const atClose = setsApplied();
    expect(atClose).toBeGreaterThan(before);
    // Wait until nothing more is applied for 3 s (the old node applied all 200, one after another).
    let last = setsApplied();
    let stableSince = Date.now();
    const deadline = Date.now() + 60_000;
    while (Date.now() - stableSince < 3000) {
      if (Date.now() > deadline) throw new Error(`changes of the gone client still applied: ${setsApplied() - atClose} after its close`);
      await new Promise((r) => setTimeout(r, 100));
      const now = setsApplied();
      if (now !== last) {
        last = now;
        stableSince = Date.now();
      }
    }
    // The one in flight when the close was seen (and one whose close the node had not seen yet).
    expect(last - atClose).toBeLessThanOrEqual(2);
    // The node still serves: a new client's change is applied.
    const d = await client();
    const r = await d.request('change chiller:target 25', 'changed', 'chiller:target');
    expect(r.action).toBe('changed');
  }, 120_000);

  it('pipelined requests beyond the pending bound are all answered, in order (the socket is paused and resumed)', async () => {
    const c = await client();
    const from = c.messages.length;
    let lines = '';
    for (let i = 0; i < 300; i++) lines += i % 2 === 0 ? 'read chiller:target\n' : 'ping p' + String(i) + '\n';
    c.socket.write(lines);
    await eventually(() => expect(c.messages.length - from).toBeGreaterThanOrEqual(300), 60_000);
    const got = c.messages.slice(from, from + 300);
    got.forEach((m, i) => expect(m.action).toBe(i % 2 === 0 ? 'reply' : 'pong'));
  }, 90_000);
});

describe('SECoP node: a daemon that goes away', () => {
  it('reports CommunicationFailed and recovers by itself when the daemon returns', async () => {
    const c = await client();
    await c.request('activate chiller', 'active');
    const from = c.messages.length;
    await julabo.close();
    const lost = await c.next((m) => m.action === 'error_update' && m.specifier === 'chiller:value', from);
    expect((lost.data as [string])[0]).toBe('CommunicationFailed');
    const status = await c.next((m) => m.action === 'update' && m.specifier === 'chiller:status', from);
    expect(((status.data as Report)[0] as [number])[0]).toBe(400);
    const read = await c.request('read chiller:value', 'reply');
    expect(read.action).toBe('error_read');
    expect((read.data as [string])[0]).toBe('CommunicationFailed');
    // Other daemons' modules are unaffected.
    expect((await c.request('read cryo_chA:value', 'reply')).action).toBe('reply');

    const back = c.messages.length;
    julabo = await startDaemonOnPort(julaboOptions, julabo.port);
    await c.next((m) => m.action === 'update' && m.specifier === 'chiller:status' && ((m.data as Report)[0] as [number])[0] < 400, back, 30_000);
    await eventually(async () => {
      const r = await c.request('read chiller:value', 'reply');
      expect(r.action).toBe('reply');
    }, 30_000, 200);
  }, 90_000);
});
