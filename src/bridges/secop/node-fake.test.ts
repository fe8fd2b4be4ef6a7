/**
 * The SECoP node against a fake labwire daemon (src/testing/fake-daemon.ts) over real TCP: the
 * `changed` reply's read-back, and the node's connection limits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDaemon } from '../../testing/fake-daemon.js';
import { eventually } from '../../testing/eventually.js';
import { silentLogger } from '../../util/logger.js';
import { SecopNode } from './node.js';
import { SpecClient } from './test-helpers.js';

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

