/**
 * The MQTT bridge against a real, private Mosquitto (password file + ACL pinning the command
 * topic's user level with %u) and real mqtt.js clients: a Julabo (simulator + daemon + monitor,
 * started from a lab file by startLab as `labwire up` does) commanded over MQTT by a mapped
 * operator, refused for an unmapped user, a viewer, a wrong payload and an out-of-range value;
 * retained commands at bridge start never executed; a broker that refuses the bridge or is not
 * there; a broker restart with the queue bounded while it is away.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { connectAsync, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab, type RunningLab } from '../src/lab/run.js';
import { silentLogger, type Logger } from '../src/util/logger.js';
import { startMqttBridge, type BridgeMonitor } from '../src/bridges/mqtt/index.js';
import { isOwnResponseTopic } from '../src/bridges/mqtt/bridge.js';
import type { PeerState } from '../src/monitor/types.js';
import { labwireAcl, mosquittoAvailable, startPrivateMosquitto, type PrivateMosquitto } from '../src/bridges/mqtt/test-helpers/mosquitto.js';
import { eventually } from './helpers/julabo-lab.js';

const HAVE = mosquittoAvailable();
if (!HAVE) console.warn('mqtt-bridge tests skipped: mosquitto and mosquitto_passwd are not installed (apt-get install mosquitto); CI installs them');

const PASSWORDS = { 'labwire-bridge': 'bridge-pw-123', alice: 'alice-pw-123', vera: 'vera-pw-123', mallory: 'mallory-pw-123' };
type User = keyof typeof PASSWORDS;

let broker: PrivateMosquitto;
let dir: string;
let lab: RunningLab;
const clients: MqttClient[] = [];

async function client(user: User, version: 4 | 5 = 5): Promise<MqttClient> {
  const c = await connectAsync(broker.url, { username: user, password: PASSWORDS[user], protocolVersion: version, reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

interface Reply {
  ok: boolean;
  code?: string;
  message?: string;
  reply?: string;
}

/** Publishes a command as `user` on its own topic and waits for the bridge's answer on the reply topic. */
async function command(user: User, topic: string, payload: string, opts: IClientPublishOptions = {}): Promise<Reply> {
  const c = await client(user);
  const replyTopic = `${topic}/reply`;
  const got = new Promise<Reply>((resolve) => c.on('message', (t, p) => t === replyTopic && resolve(JSON.parse(p.toString()) as Reply)));
  await c.subscribeAsync(replyTopic, { qos: 1 });
  await c.publishAsync(topic, payload, { qos: 1, ...opts });
  return withTimeout(got, 30_000, `no reply on ${replyTopic}`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]).finally(() => clearTimeout(timer));
}

/** The retained message on `topic` as a fresh subscriber sees it (undefined when none within the wait). */
async function retained(topic: string, waitMs = 2000): Promise<string | undefined> {
  const c = await client('vera');
  const got = new Promise<string>((resolve) => c.on('message', (t, p, packet) => t === topic && packet.retain && resolve(p.toString())));
  await c.subscribeAsync(topic, { qos: 1 });
  try {
    return await withTimeout(got, waitMs, 'none');
  } catch {
    return undefined;
  } finally {
    await c.endAsync();
  }
}

/** A logger whose lines the test can read. */
function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream) as unknown as Logger, lines };
}

function auditFile(): Array<{ who: string; command: string; result: string }> {
  const file = path.join(dir, 'chiller-audit.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { who: string; command: string; result: string });
}

describe.skipIf(!HAVE)('MQTT bridge with a private Mosquitto', () => {
  beforeAll(async () => {
    // The ready ACL of the docs, plus two prefixes of the retained-command tests.
    const acl = [fs.readFileSync(new URL('../examples/mqtt/acl', import.meta.url), 'utf8'), labwireAcl('retained5', 'labwire-bridge'), labwireAcl('retained4', 'labwire-bridge')].join('\n');
    broker = await startPrivateMosquitto({ users: PASSWORDS, acl });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-mqtt-'));
    fs.writeFileSync(path.join(dir, 'daemon-tokens.txt'), 'admin mqtt-lab-monitor-token-0123456789 monitor\n');
    fs.writeFileSync(path.join(dir, 'mqtt-password'), `${PASSWORDS['labwire-bridge']}\n`);
    const yaml = [
      'simulators:',
      '  - { name: bath, type: julabo, options: { byteTiming: false } }',
      'daemons:',
      '  - { name: chiller, type: julabo, link: "sim:bath", tokenFile: daemon-tokens.txt, auditFile: chiller-audit.jsonl }',
      'monitor:',
      '  name: room1',
      '  listen: 127.0.0.1:0',
      '  web: 127.0.0.1:0',
      '  peerToken: mqtt-lab-monitor-token-0123456789',
      '  archive: { path: archive.sqlite }',
      'mqtt:',
      `  url: ${broker.url}`,
      '  username: labwire-bridge',
      '  passwordFile: mqtt-password',
      '  users: { alice: operator, vera: viewer }',
      '  discovery: { user: alice }',
      '',
    ].join('\n');
    const config = parseLabConfig(yaml, path.join(dir, 'lab.yaml'), dir);
    lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    await eventually(() => expect(lab.monitor.peer('chiller')?.describe).toBeDefined(), 30_000);
    await eventually(() => expect(lab.mqtt?.stats().connected).toBe(true), 30_000);
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await lab?.close();
    await broker?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes every parameter retained with value, unit and time, and availability', async () => {
    await eventually(async () => {
      const text = await retained('labwire/chiller/temperature');
      expect(text).toBeDefined();
      const p = JSON.parse(text!) as { value: unknown; unit?: string; t: number };
      expect(typeof p.value).toBe('number');
      expect(p.unit).toBe('°C');
      expect(Math.abs(Date.now() - p.t)).toBeLessThan(600_000);
    }, 30_000, 200);
    expect(await retained('labwire/chiller/availability')).toBe('online');
    expect(await retained('labwire/bridge/availability')).toBe('online');
    // Home Assistant discovery: the writable setpoint is a number commanded as the HA user.
    const cfg = JSON.parse((await retained('homeassistant/number/labwire_labwire_chiller/setpoint/config'))!) as Record<string, unknown>;
    expect(cfg).toMatchObject({ state_topic: 'labwire/chiller/setpoint', command_topic: 'labwire/chiller/setpoint/set/alice', unit_of_measurement: '°C', max: 40 });
  }, 60_000);

  it('a setpoint from a broker user mapped to operator is applied, audited as mqtt:<user> and confirmed', async () => {
    const r = await command('alice', 'labwire/chiller/setpoint/set/alice', '23.5');
    expect(r).toMatchObject({ ok: true });
    expect(r.reply).toMatch(/^ok set/);
    await eventually(() => expect(lab.monitor.peer('chiller')?.values.setpoint).toBe(23.5), 30_000, 100);
    // The daemon's own audit names the person through the monitor; so does the monitor's archive.
    await eventually(() => expect(auditFile().find((a) => a.command === 'set setpoint=23.5')).toMatchObject({ who: 'mqtt:alice via room1' }), 15_000, 100);
    const rows = await lab.archive!.auditTrail({ device: 'chiller' });
    expect(rows.find((a) => a.command === 'set setpoint=23.5')).toMatchObject({ who: 'mqtt:alice' });
    // And the new value reaches the retained state topic.
    await eventually(async () => expect(JSON.parse((await retained('labwire/chiller/setpoint'))!)).toMatchObject({ value: 23.5 }), 30_000, 200);
  }, 90_000);

  it('refuses an unmapped broker user, publishes the refusal and audits it', async () => {
    const r = await command('mallory', 'labwire/chiller/setpoint/set/mallory', '12');
    expect(r).toMatchObject({ ok: false, code: 'Unauthorized' });
    expect(r.message).toMatch(/mallory.*not mapped/);
    const rows = await lab.archive!.auditTrail({ device: 'chiller' });
    expect(rows.find((a) => a.who === 'mqtt:mallory')).toMatchObject({ command: 'set setpoint=12' });
    expect(rows.find((a) => a.who === 'mqtt:mallory')?.result).toMatch(/^refused Unauthorized/);
    expect(lab.monitor.peer('chiller')?.values.setpoint).not.toBe(12);
    expect(auditFile().some((a) => a.command.includes('setpoint=12'))).toBe(false);
  }, 60_000);

  it('refuses a viewer, and the broker refuses a user publishing under another user’s name', async () => {
    const r = await command('vera', 'labwire/chiller/setpoint/set/vera', '11');
    expect(r).toMatchObject({ ok: false, code: 'Unauthorized' });
    expect(r.message).toMatch(/needs the operator role/);
    // The ACL (%u) is what makes the user level trustworthy: mallory cannot speak as alice.
    const m = await client('mallory');
    await expect(m.publishAsync('labwire/chiller/setpoint/set/alice', '11', { qos: 1 })).rejects.toThrow(/Not authorized/);
  }, 60_000);

  it('refuses a payload of the wrong type and one out of range, with the daemon’s codes on the reply topic', async () => {
    const wrong = await command('alice', 'labwire/chiller/setpoint/set/alice', 'warm');
    expect(wrong).toMatchObject({ ok: false, code: 'WrongType' });
    const object = await command('alice', 'labwire/chiller/setpoint/set/alice', '{"temperature": 3}');
    expect(object).toMatchObject({ ok: false, code: 'WrongType' });
    const high = await command('alice', 'labwire/chiller/setpoint/set/alice', '{"value": 95}');
    expect(high).toMatchObject({ ok: false, code: 'RangeError' });
    expect(high.message).toMatch(/40/);
    expect(lab.monitor.peer('chiller')?.values.setpoint).not.toBe(95);
  }, 60_000);

  it('answers on an MQTT 5 response topic with the correlation data', async () => {
    const c = await client('alice');
    const responseTopic = 'labwire/chiller/setpoint/set/alice/mine/reply';
    const got = new Promise<{ body: Reply; corr: string | undefined }>((resolve) =>
      c.on('message', (t, p, packet) => t === responseTopic && resolve({ body: JSON.parse(p.toString()) as Reply, corr: packet.properties?.correlationData?.toString() })),
    );
    await c.subscribeAsync(responseTopic, { qos: 1 });
    await c.publishAsync('labwire/chiller/setpoint/set/alice', '21', { qos: 1, properties: { responseTopic, correlationData: Buffer.from('req-7') } });
    const { body, corr } = await withTimeout(got, 30_000, 'no answer on the response topic');
    expect(body).toMatchObject({ ok: true });
    expect(corr).toBe('req-7');
    // A response topic that is not a reply topic (here: a state topic) is not written; the default reply topic is.
    const stateBefore = await retained('labwire/chiller/setpoint');
    const r = await command('alice', 'labwire/chiller/setpoint/set/alice', '21.5', { properties: { responseTopic: 'labwire/chiller/setpoint', correlationData: Buffer.from('x') } });
    expect(r).toMatchObject({ ok: true });
    expect(JSON.parse((await retained('labwire/chiller/setpoint')) ?? stateBefore!)).toHaveProperty('value');
  }, 60_000);

  it('ignores a response topic that is not the sender’s own (another user’s reply topic)', async () => {
    // vera listens on her own reply topic; alice names it as her response topic.
    const v = await client('vera');
    const veraReply = 'labwire/chiller/setpoint/set/vera/reply';
    const seen: Reply[] = [];
    v.on('message', (t, p) => t === veraReply && seen.push(JSON.parse(p.toString()) as Reply));
    await v.subscribeAsync(veraReply, { qos: 1 });
    const r = await command('alice', 'labwire/chiller/setpoint/set/alice', '21', { properties: { responseTopic: veraReply, correlationData: Buffer.from('spoof') } });
    expect(r).toMatchObject({ ok: true }); // answered on alice's own reply topic instead
    // vera's own command is answered after alice's (one bridge connection: in order), so once it
    // is here, anything the bridge published on vera's topic for alice is here too.
    await v.publishAsync('labwire/chiller/setpoint/set/vera', '22', { qos: 1 });
    await eventually(() => expect(seen.length).toBeGreaterThan(0), 30_000, 50);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ ok: false, code: 'Unauthorized' });
    expect(isOwnResponseTopic('labwire/d/p/set/alice', 'labwire/d/p/set/alice/reply')).toBe(true);
    expect(isOwnResponseTopic('labwire/d/p/set/alice', 'labwire/d/p/set/alice/x/y/reply')).toBe(true);
    expect(isOwnResponseTopic('labwire/d/p/set/alice', 'labwire/d/p/set/bob/reply')).toBe(false);
    expect(isOwnResponseTopic('labwire/d/p/set/alice', 'labwire/d/reply')).toBe(false);
    expect(isOwnResponseTopic('labwire/d/p/set/alice', 'labwire/d/p/set/alice//reply')).toBe(false);
    expect(isOwnResponseTopic('labwire/d/p/set/alice', 'labwire/d/p/set/alice/+/reply')).toBe(false);
    expect(isOwnResponseTopic('labwire/d/p/set/alice', 'labwire/d/p/set/alicex/reply')).toBe(false);
  }, 90_000);

  it('refuses a flood of one user beyond 16 waiting commands with IsBusy, and answers every message', async () => {
    const c = await client('alice');
    const topic = 'labwire/chiller/setpoint/set/alice';
    const replies: Reply[] = [];
    c.on('message', (t, p) => t === `${topic}/reply` && replies.push(JSON.parse(p.toString()) as Reply));
    await c.subscribeAsync(`${topic}/reply`, { qos: 1 });
    // The chiller takes commands at its serial pace (≥ 250 ms each): 40 at once cannot all wait.
    await Promise.all(Array.from({ length: 40 }, () => c.publishAsync(topic, '20', { qos: 1 })));
    await eventually(() => expect(replies.length).toBe(40), 60_000, 100);
    const codes = replies.map((r) => (r.ok ? 'ok' : r.code)).join(' ');
    expect(replies.filter((r) => r.code === 'IsBusy').length, codes).toBeGreaterThan(0);
    // Those let through reached the daemon (which may itself say it is busy or rate-limited).
    expect(replies.filter((r) => r.ok).length, codes).toBeGreaterThan(0);
  }, 90_000);

  it('calls a declared command and refuses an undeclared one', async () => {
    const cmds = Object.keys(lab.monitor.peer('chiller')!.describe!.commands);
    const r = await command('alice', 'labwire/chiller/call/no_such_thing/alice', '');
    expect(r).toMatchObject({ ok: false, code: 'NoSuchCommand' });
    const exit = await command('alice', 'labwire/chiller/call/exit/alice', '');
    expect(exit).toMatchObject({ ok: false, code: 'NoSuchCommand' });
    if (cmds.length > 0) expect(r.message).toContain(cmds[0]!);
  }, 60_000);

  for (const version of [5, 4] as const) {
    it(`never executes a command retained on the broker when a bridge starts (MQTT ${version})`, async () => {
      const prefix = `retained${version}`;
      const topic = `${prefix}/chiller/setpoint/set/alice`;
      // A retained command published while no bridge of this prefix runs.
      const alice = await client('alice');
      await alice.publishAsync(topic, '31', { qos: 1, retain: true });
      const bridge = startMqttBridge({
        monitor: lab.monitor,
        url: broker.url,
        username: 'labwire-bridge',
        password: PASSWORDS['labwire-bridge'],
        prefix,
        protocolVersion: version,
        users: { alice: 'operator' },
        logger: silentLogger(),
      });
      try {
        await eventually(() => expect(bridge.stats().connected).toBe(true), 30_000, 50);
        // 3.1.1: the stored command arrives flagged at subscribe; its refusal must not be taken for the next reply.
        if (version === 4) await eventually(() => expect(bridge.stats().retainedIgnored).toBe(1), 30_000, 50);
        // A live command after it is answered: the bridge has had its chance at the retained one.
        const live = await command('alice', topic, '19.5');
        expect(live, JSON.stringify(live)).toMatchObject({ ok: true });
        expect(auditFile().some((x) => x.command === 'set setpoint=31')).toBe(false);
        expect(lab.monitor.peer('chiller')?.values.setpoint).not.toBe(31);
        // 3.1.1 delivers it flagged retained (ignored, counted); MQTT 5 is asked not to send it at all.
        if (version === 4) expect(bridge.stats().retainedIgnored).toBe(1);
        else {
          expect(bridge.stats().retainedIgnored).toBe(0);
          // MQTT 5 (retain as published): one retained while the bridge runs is refused too.
          const r = await command('alice', topic, '32', { retain: true });
          expect(r).toMatchObject({ ok: false, code: 'ProtocolError' });
          expect(r.message).toMatch(/retained command not executed/);
          expect(bridge.stats().retainedIgnored).toBe(1);
          expect(auditFile().some((x) => x.command === 'set setpoint=32')).toBe(false);
        }
      } finally {
        await bridge.close();
        await alice.publishAsync(topic, '', { qos: 1, retain: true });
      }
    }, 90_000);
  }

  it('keeps retrying with a clear error when the broker refuses its password or is not running, without crashing', async () => {
    const wrong = recordingLogger();
    const refused = startMqttBridge({ monitor: lab.monitor, url: broker.url, username: 'labwire-bridge', password: 'not-the-password', prefix: 'labwire', users: {}, backoff: { minMs: 100, maxMs: 400 }, logger: wrong.logger });
    const none = recordingLogger();
    const port = await closedPort();
    const absent = startMqttBridge({ monitor: lab.monitor, url: `mqtt://127.0.0.1:${port}`, prefix: 'labwire', users: {}, backoff: { minMs: 100, maxMs: 400 }, logger: none.logger });
    try {
      await eventually(() => expect(refused.stats().connectionErrors).toBeGreaterThanOrEqual(3), 30_000, 50);
      await eventually(() => expect(absent.stats().connectionErrors).toBeGreaterThanOrEqual(3), 30_000, 50);
      expect(refused.stats().connected).toBe(false);
      expect(refused.stats().lastError).toMatch(/Not authorized|Bad User Name or Password/i);
      expect(wrong.lines.some((l) => l.includes(broker.url) && l.includes('labwire-bridge') && /retrying/.test(l))).toBe(true);
      expect(wrong.lines.some((l) => l.includes('not-the-password'))).toBe(false);
      expect(absent.stats().lastError).toMatch(/ECONNREFUSED/);
      expect(none.lines.some((l) => l.includes(`127.0.0.1:${port}`) && /ECONNREFUSED/.test(l))).toBe(true);
      // The lab's own bridge is unaffected.
      expect(lab.mqtt!.stats().connected).toBe(true);
    } finally {
      await refused.close();
      await absent.close();
    }
  }, 60_000);

  it('reconnects after a broker restart, republishes its retained state, and bounds its queue while the broker is away', async () => {
    const fake = new FakeMonitor(['dev'], 500);
    // A prefix of its own: two bridges on one prefix would both answer every command.
    const bridge = startMqttBridge({ monitor: fake, url: broker.url, username: 'labwire-bridge', password: PASSWORDS['labwire-bridge'], prefix: 'labwire/fake', queue: 100, users: {}, backoff: { minMs: 100, maxMs: 500 }, logger: silentLogger() });
    try {
      await eventually(() => expect(bridge.stats().connected).toBe(true), 30_000, 50);
      fake.update('dev', { p0: 1 });
      await eventually(async () => expect(JSON.parse((await retained('labwire/fake/dev/p0'))!)).toMatchObject({ value: 1, unit: 'V' }), 30_000, 100);
      await broker.stop();
      await eventually(() => expect(bridge.stats().connected).toBe(false), 30_000, 50);
      await eventually(() => expect(lab.mqtt!.stats().connected).toBe(false), 30_000, 50);
      // 1,000 values of 500 topics while the broker is away: at most 100 wait, the rest are dropped and counted.
      for (let i = 0; i < 1000; i++) fake.update('dev', { [`p${i % 500}`]: i });
      expect(bridge.stats().queued).toBeLessThanOrEqual(100);
      expect(bridge.stats().dropped).toBeGreaterThanOrEqual(400);
      // No persistence: the restarted broker has no retained message at all until the bridges republish.
      await broker.start();
      await eventually(() => expect(bridge.stats().connected).toBe(true), 30_000, 50);
      await eventually(() => expect(lab.mqtt!.stats().connected).toBe(true), 30_000, 50);
      await eventually(async () => expect(JSON.parse((await retained('labwire/fake/dev/p499'))!)).toMatchObject({ value: 999 }), 30_000, 100);
      await eventually(async () => expect(JSON.parse((await retained('labwire/fake/dev/p0'))!)).toMatchObject({ value: 500 }), 30_000, 100);
      await eventually(async () => expect(await retained('labwire/chiller/temperature')).toBeDefined(), 30_000, 100);
      expect(await retained('labwire/fake/bridge/availability')).toBe('online');
      expect(await retained('labwire/bridge/availability')).toBe('online');
      await eventually(() => expect(bridge.stats().queued).toBe(0), 30_000, 50);
      // Commands work again through the lab's bridge.
      const again = await command('alice', 'labwire/chiller/setpoint/set/alice', '20');
      expect(again, JSON.stringify(again)).toMatchObject({ ok: true });
    } finally {
      await bridge.close();
    }
  }, 120_000);

  it('keeps no more publishes unacknowledged than the broker’s receive maximum', async () => {
    const small = await startPrivateMosquitto({ users: PASSWORDS, acl: labwireAcl('labwire', 'labwire-bridge'), maxInflight: 20 });
    const fake = new FakeMonitor(['dev'], 500);
    const bridge = startMqttBridge({ monitor: fake, url: small.url, username: 'labwire-bridge', password: PASSWORDS['labwire-bridge'], prefix: 'labwire', users: {}, logger: silentLogger() });
    try {
      await eventually(() => expect(bridge.stats().connected).toBe(true), 30_000, 50);
      expect(bridge.stats().window).toBe(20);
      let most = 0;
      const sample = setInterval(() => (most = Math.max(most, bridge.stats().inflight)), 1);
      for (let round = 0; round < 4; round++) for (let i = 0; i < 500; i++) fake.update('dev', { [`p${i}`]: round });
      await eventually(() => expect(bridge.stats().queued + bridge.stats().inflight).toBe(0), 30_000, 20);
      clearInterval(sample);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(20);
      expect(lab.mqtt!.stats().window).toBe(1000);
    } finally {
      await bridge.close();
      await small.destroy();
    }
  }, 60_000);

  it('says offline on its availability topic when it stops', async () => {
    const fake = new FakeMonitor(['dev2']);
    const bridge = startMqttBridge({ monitor: fake, url: broker.url, username: 'labwire-bridge', password: PASSWORDS['labwire-bridge'], prefix: 'labwire/side', users: {}, logger: silentLogger() });
    await eventually(() => expect(bridge.stats().connected).toBe(true), 30_000, 50);
    await eventually(async () => expect(await retained('labwire/side/bridge/availability')).toBe('online'), 30_000, 100);
    await bridge.close();
    await eventually(async () => expect(await retained('labwire/side/bridge/availability')).toBe('offline'), 30_000, 100);
  }, 60_000);
});

async function closedPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as import('node:net').AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A monitor stand-in with synthetic devices: the bridge sees it only through BridgeMonitor. */
class FakeMonitor extends EventEmitter implements BridgeMonitor {
  readonly name = 'fake';
  private readonly states = new Map<string, PeerState>();

  constructor(devices: string[], nParams = 20) {
    super();
    for (const d of devices) {
      const params: Record<string, { type: 'float'; unit: string; readonly: boolean; description: string }> = {};
      for (let i = 0; i < nParams; i++) params[`p${i}`] = { type: 'float', unit: 'V', readonly: true, description: '' };
      this.states.set(d, {
        name: d,
        protocol: 'labwire',
        host: '127.0.0.1',
        port: 1,
        connected: true,
        since: Date.now(),
        describe: { name: d, type: 'fake', title: 'fake', protocol: 'labwire/1', version: '0', readOnly: true, params, commands: {} },
        values: {},
        ts: {},
      });
    }
  }

  peers(): PeerState[] {
    return [...this.states.values()];
  }

  peer(name: string): PeerState | undefined {
    return this.states.get(name);
  }

  send(): Promise<string> {
    return Promise.reject(new Error('the fake monitor sends nothing'));
  }

  update(device: string, values: Record<string, number>): void {
    const s = this.states.get(device)!;
    const t = Date.now();
    for (const [k, v] of Object.entries(values)) {
      s.values[k] = v;
      s.ts[k] = t;
    }
    this.emit('update', { client: device, t, values });
  }
}
