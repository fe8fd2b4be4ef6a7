/**
 * The SECoP node against a fake labwire daemon (src/testing/fake-daemon.ts) over real TCP: the
 * `changed` reply's read-back, and the node's connection limits.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDaemon } from '../../testing/fake-daemon.js';
import { eventually } from '../../testing/eventually.js';
import { silentLogger } from '../../util/logger.js';
import { SecopNode } from './node.js';
import { SpecClient, type Msg } from './test-helpers.js';
import { MAX_HANDSHAKE_BYTES, OP, WsDecoder, acceptKey, encodeFrame } from './websocket.js';

const logger = silentLogger();
const IDN = 'ISSE&SINE2020,SECoP,V2019-09-16,v1.0';
let fake: FakeDaemon;
const nodes: SecopNode[] = [];
const clients: SpecClient[] = [];

async function node(extra: Partial<ConstructorParameters<typeof SecopNode>[0]> = {}): Promise<SecopNode> {
  const n = new SecopNode({ name: 'fakelab', daemons: [{ host: '127.0.0.1', port: fake.port }], port: 0, trusted: true, logger, ...extra });
  nodes.push(n);
  await n.start();
  return n;
}

async function client(port: number, localAddress?: string): Promise<SpecClient> {
  const c = await SpecClient.connect(port, localAddress);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  // An instrument that keeps one decimal of a setpoint, and a daemon whose status follows its next poll.
  fake = new FakeDaemon({ values: { setpoint: 20 }, readBack: (k, v) => (k === 'setpoint' && typeof v === 'number' ? Math.round(v * 10) / 10 : v), statusLagsSet: true });
  await fake.start();
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const n of nodes) await n.close();
  await fake?.stop();
});

describe('SECoP change: the changed reply carries the read-back', () => {
  it('change 27.004 of an instrument that rounds is answered with 27.0 (the set reply), not the cached value', async () => {
    const n = await node();
    const c = await client(n.port);
    const before = await c.request('read fake:target', 'reply', 'fake:target');
    expect((before.data as [number])[0]).toBe(20);
    const changed = await c.request('change fake:target 27.004', 'changed', 'fake:target');
    expect(changed.line).toMatch(/^changed /);
    const [value, qualifiers] = changed.data as [number, { t: number }];
    expect(value).toBe(27);
    expect(qualifiers.t).toBeGreaterThan(1e9);
    expect(fake.received).toContain('set setpoint=27.004');
    // A refused change still gets the daemon's error class.
    const refused = await c.request('change fake:target 41', 'changed', 'fake:target');
    expect((refused.data as [string])[0]).toBe('RangeError');
  });
});

describe('SECoP connection limits', () => {
  it('refuses the connection beyond the per-address limit and beyond the total, serves the others, and reuses a freed slot', async () => {
    const n = await node({ maxConnectionsPerAddress: 3, maxConnections: 5 });
    const served = async (c: SpecClient): Promise<void> => {
      const m = await c.request('*IDN?', IDN);
      expect(m.line).toBe(IDN);
    };
    const mine = [await client(n.port), await client(n.port), await client(n.port)];
    for (const c of mine) await served(c);
    // The fourth from the same address is closed by the node.
    const fourth = await client(n.port);
    await eventually(() => expect(fourth.closed).toBe(true), 15_000);
    expect(n.counters.refusedConnections).toBe(1);
    // Those already connected, and other addresses, are still served.
    for (const c of mine) await served(c);
    const other = await client(n.port, '127.0.0.2');
    await served(other);
    const third = await client(n.port, '127.0.0.3');
    await served(third);
    // Five in all: a sixth from yet another address is refused by the total.
    const sixth = await client(n.port, '127.0.0.4');
    await eventually(() => expect(sixth.closed).toBe(true), 15_000);
    expect(n.counters.refusedConnections).toBe(2);
    // A freed slot is taken again (once the node has seen the close).
    mine[0]!.close();
    const again = await eventually(async () => {
      const c = await client(n.port);
      // Refused (the node had not seen the close yet) or served: whichever comes first.
      c.send('*IDN?');
      await eventually(() => expect(c.closed || c.messages.some((m) => m.line === IDN)).toBe(true), 10_000);
      expect(c.closed).toBe(false);
      return c;
    }, 20_000, 100);
    await served(again);
    expect(again.closed).toBe(false);
  }, 60_000);
});

describe('SECoP check and logging (optional requests of the reference)', () => {
  const errorClass = (m: { data: unknown }): string => (m.data as [string])[0];

  it('check validates a change or a command against the describe without applying it', async () => {
    const n = await node();
    const c = await client(n.port);
    const d = (await c.request('describe', 'describing')).data as { modules: Record<string, { accessibles: Record<string, { checkable?: boolean }> }> };
    expect(d.modules.fake!.accessibles.target!.checkable).toBe(true);
    expect(d.modules.fake!.accessibles.value!.checkable).toBeUndefined();
    const sets = (): number => fake.received.filter((l) => l.includes('set ')).length;
    const before = sets();
    const ok = await c.request('check fake:target 12.5', 'checked', 'fake:target');
    expect(ok.line).toMatch(/^checked fake:target \[12\.5,\{\}\]$/);
    expect(errorClass(await c.request('check fake:target 41', 'checked'))).toBe('RangeError');
    expect(errorClass(await c.request('check fake:target "hot"', 'checked'))).toBe('WrongType');
    expect(errorClass(await c.request('check fake:value 3', 'checked'))).toBe('NotCheckable');
    expect(errorClass(await c.request('check fake:nothing 3', 'checked'))).toBe('NoSuchParameter');
    expect(errorClass(await c.request('check nosuch:target 3', 'checked'))).toBe('NoSuchModule');
    expect((await c.request('check fake:_start', 'checked', 'fake:_start')).line).toBe('checked fake:_start [null,{}]');
    expect(errorClass(await c.request('check fake:_start 3', 'checked'))).toBe('WrongType');
    expect(sets()).toBe(before);
  });

  it('logging <module> <level> sends the device\'s log lines from that level up; "off" stops them', async () => {
    const n = await node();
    const c = await client(n.port);
    const quiet = await client(n.port);
    expect((await c.request('logging fake "info"', 'logging', 'fake')).line).toBe('logging fake "info"');
    let mark = c.messages.length;
    // The node's subscription carries the daemon's log pushes.
    await eventually(() => {
      fake.log('warning', 'pump pressure low');
      expect(c.messages.slice(mark).some((m) => m.line === 'log fake:info "pump pressure low"')).toBe(true);
    }, 15_000, 200);
    fake.log('error', 'pump stopped');
    await c.next((m) => m.line === 'log fake:error "pump stopped"', mark);
    await c.request('logging fake "error"', 'logging', 'fake');
    mark = c.messages.length;
    fake.log('info', 'just info');
    fake.log('error', 'second error');
    await c.next((m) => m.line === 'log fake:error "second error"', mark);
    expect(c.messages.slice(mark).some((m) => m.line.includes('just info'))).toBe(false);
    await c.request('logging fake "off"', 'logging', 'fake');
    expect(quiet.messages.some((m) => m.action === 'log')).toBe(false);
    expect(errorClass(await c.request('logging fake "loud"', 'logging'))).toBe('WrongType');
    expect(errorClass(await c.request('logging nosuch "info"', 'logging'))).toBe('NoSuchModule');
  });
});

/** A WebSocket client from RFC 6455: the upgrade, masked TEXT frames out, SECoP messages in. */
class WsClient {
  readonly messages: Msg[] = [];
  readonly frames: Array<{ opcode: number; data: Buffer }> = [];
  closed = false;
  private constructor(readonly socket: net.Socket) {}

  static async connect(port: number): Promise<{ client: WsClient; response: string }> {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const key = randomBytes(16).toString('base64');
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const c = new WsClient(socket);
    const decoder = new WsDecoder(16 * 1024 * 1024, false);
    let head = '';
    let upgraded = false;
    let response = '';
    const done = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        let rest = chunk;
        if (!upgraded) {
          head += chunk.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          response = head.slice(0, end);
          upgraded = true;
          rest = Buffer.from(head.slice(end + 4), 'latin1');
          resolve();
        }
        for (const f of decoder.push(rest)) {
          c.frames.push(f);
          if (f.opcode === OP.text) c.messages.push(SpecClient.parse(f.data.toString('utf8')));
        }
      });
      socket.on('close', () => {
        c.closed = true;
        resolve();
      });
    });
    await done;
    expect(response).toContain(`Sec-WebSocket-Accept: ${acceptKey(key)}`);
    return { client: c, response };
  }

  sendFrame(opcode: number, text: string | Buffer, fin = true): void {
    const frame = encodeFrame(opcode, Buffer.isBuffer(text) ? text : Buffer.from(text), randomBytes(4));
    if (!fin) frame[0] = frame[0]! & 0x7f;
    this.socket.write(frame);
  }

  async request(text: string, replyAction: string): Promise<Msg> {
    const from = this.messages.length;
    this.sendFrame(OP.text, text);
    const action = text.split(' ')[0]!;
    return eventually(() => {
      const m = this.messages.slice(from).find((x) => x.action === replyAction || x.action === `error_${action}`);
      if (!m) throw new Error(`no reply to ${text}`);
      return m;
    }, 15_000);
  }
}

describe('SECoP node on its own (labwire secop): a daemon restarted with another describe', () => {
  it('has its modules rebuilt: the new limit in describe, check and change', async () => {
    const bath = new FakeDaemon({ values: { setpoint: 5 } });
    await bath.start();
    try {
      const n = await node({ name: 'solo', daemons: [{ host: '127.0.0.1', port: bath.port }] });
      const c = await client(n.port);
      type Doc = { modules: Record<string, { accessibles: Record<string, { datainfo: { max?: number } }> }> };
      const max = async (): Promise<number | undefined> => ((await c.request('describe', 'describing')).data as Doc).modules.fake!.accessibles.target!.datainfo.max;
      expect(await max()).toBe(40);
      await bath.stop();
      bath.setpointMax = 60;
      await bath.start();
      await eventually(async () => expect(await max()).toBe(60), 30_000, 200);
      expect((await c.request('check fake:target 50', 'checked', 'fake:target')).action).toBe('checked');
      await eventually(async () => expect((await c.request('change fake:target 50', 'changed', 'fake:target')).line).toMatch(/^changed fake:target \[50,/), 15_000, 200);
      expect(((await c.request('check fake:target 61', 'checked', 'fake:target')).data as [string])[0]).toBe('RangeError');
    } finally {
      await bath.stop();
    }
  }, 60_000);
});

describe('SECoP over WebSocket (first bytes GET /)', () => {
  it('upgrades, answers each TEXT frame as one SECoP message, in frames of its own', async () => {
    const n = await node();
    const { client: w, response } = await WsClient.connect(n.port);
    expect(response.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    expect((await w.request('*IDN?', IDN)).action).toBe(IDN);
    const d = await w.request('describe', 'describing');
    expect(Object.keys((d.data as { modules: object }).modules)).toEqual(['fake']);
    // A line ending is optional; a fragmented message is one message.
    expect((await w.request('read fake:value\n', 'reply')).specifier).toBe('fake:value');
    const from = w.messages.length;
    w.sendFrame(OP.text, 'ping a', false);
    w.sendFrame(OP.continuation, 'b');
    await eventually(() => expect(w.messages.slice(from).some((m) => m.action === 'pong' && m.specifier === 'ab')).toBe(true), 15_000);
    // Protocol errors as on TCP.
    expect((await w.request('frobnicate', 'never')).action).toBe('error_frobnicate');
    // WebSocket ping → pong with the same data.
    w.sendFrame(OP.ping, 'hi');
    await eventually(() => expect(w.frames.some((f) => f.opcode === OP.pong && f.data.toString() === 'hi')).toBe(true), 15_000);
    // Updates are frames too.
    await w.request('activate fake', 'active');
    const mark = w.messages.length;
    fake.set({ temperature: 21.5 });
    await eventually(() => expect(w.messages.slice(mark).some((m) => m.action === 'update' && m.specifier === 'fake:value' && (m.data as [number])[0] === 21.5)).toBe(true), 15_000);
    // The plain line protocol on the same port is unchanged.
    const c = await client(n.port);
    expect((await c.request('*IDN?', IDN)).line).toBe(IDN);
  });

  it('a message over the line limit gets ProtocolError and a close 1009; an unmasked frame a close 1002; others go on', async () => {
    const n = await node({ maxLineLength: 1024 });
    const { client: big } = await WsClient.connect(n.port);
    big.sendFrame(OP.text, 'x'.repeat(5000));
    await eventually(() => expect(big.closed).toBe(true), 15_000);
    expect(big.messages.some((m) => m.action === 'error_unknown' && (m.data as [string])[0] === 'ProtocolError')).toBe(true);
    const close = big.frames.find((f) => f.opcode === OP.close);
    expect(close?.data.readUInt16BE(0)).toBe(1009);
    expect(n.counters.maxHeldLineBytes).toBe(0);
    const { client: bare } = await WsClient.connect(n.port);
    bare.socket.write(encodeFrame(OP.text, Buffer.from('*IDN?')));
    await eventually(() => expect(bare.closed).toBe(true), 15_000);
    expect(bare.frames.find((f) => f.opcode === OP.close)?.data.readUInt16BE(0)).toBe(1002);
    const { client: ok } = await WsClient.connect(n.port);
    expect((await ok.request('*IDN?', IDN)).action).toBe(IDN);
    // Not an upgrade: a 400 and the connection closed.
    const raw = net.connect(n.port, '127.0.0.1');
    let text = '';
    raw.on('data', (d: Buffer) => (text += d.toString()));
    raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => expect(text).toMatch(/^HTTP\/1\.1 400 /), 15_000);
    raw.destroy();
  });

  /**
   * A client that keeps its side open and sending after the node refused its handshake (400) or
   * closed the WebSocket (1002, 1009): the node reads none of it and cuts the connection itself.
   */
  async function keepsSending(port: number, preamble: Buffer[], expectFirst: (received: Buffer) => boolean): Promise<void> {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = Buffer.alloc(0);
    let closed = false;
    s.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
    s.on('error', () => undefined);
    s.on('close', () => (closed = true));
    await new Promise((r) => s.once('connect', r));
    for (const p of preamble) s.write(p);
    await eventually(() => expect(expectFirst(received)).toBe(true), 15_000);
    // The server's FIN has come; this client does not end its side and keeps writing.
    // It learns of the node's close by a reset to one of its writes: bounded, about 15 s at most.
    const junk = Buffer.alloc(256 * 1024, 0x41);
    for (let i = 0; i < 600 && !closed && !s.destroyed; i++) {
      s.write(junk);
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(closed).toBe(true);
    s.destroy();
  }

  it('a flood of pings from a client that reads nothing costs it its connection, not the node its memory', async () => {
    const n = await node({ maxQueuedOutput: 256 * 1024 });
    const { client: w } = await WsClient.connect(n.port);
    // The client stops reading: every pong the node owes it queues up on the node's side.
    w.socket.pause();
    const ping = Buffer.concat(Array.from({ length: 1000 }, () => encodeFrame(OP.ping, Buffer.alloc(125, 0x70), randomBytes(4))));
    // At most 400 × 131 kB sent: the queue bound plus what the two kernels buffer is far below.
    for (let i = 0; i < 400 && !w.closed && n.counters.cutOffPeers === 0; i++) {
      if (!w.socket.write(ping)) await new Promise((r) => setTimeout(r, 10));
    }
    await eventually(() => expect(n.counters.cutOffPeers).toBe(1), 15_000);
    await eventually(() => expect(w.closed).toBe(true), 15_000);
    // The node still serves others.
    const c = await client(n.port);
    expect((await c.request('*IDN?', IDN)).line).toBe(IDN);
  }, 60_000);

  it('after a 400, a 1002 or a 1009 the node reads no more of a half-open client that keeps sending, and closes it', async () => {
    const n = await node({ maxLineLength: 1024 });
    const key = randomBytes(16).toString('base64');
    const upgrade = Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const has = (b: Buffer, text: string): boolean => b.includes(Buffer.from(text, 'latin1'));
    const closeCode = (b: Buffer, code: number): boolean => {
      const at = b.indexOf(Buffer.from([0x88, 0x02]));
      return at >= 0 && b.length >= at + 4 && b.readUInt16BE(at + 2) === code;
    };
    await keepsSending(n.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], (b) => has(b, 'HTTP/1.1 400 '));
    await keepsSending(n.port, [upgrade, encodeFrame(OP.text, Buffer.from('*IDN?'))], (b) => closeCode(b, 1002));
    // A frame head that declares 1 GiB.
    await keepsSending(n.port, [upgrade, Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0])], (b) => closeCode(b, 1009));
    // Only the handshakes and the first frames were ever held, not the megabytes after them.
    expect(n.counters.maxHeldWsBytes).toBeLessThanOrEqual(MAX_HANDSHAKE_BYTES);
    // The node still serves others.
    const c = await client(n.port);
    expect((await c.request('*IDN?', IDN)).line).toBe(IDN);
  }, 60_000);
});

