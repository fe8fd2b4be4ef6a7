/**
 * The gpib:// link under a family's ordinary Exchange and line splitter: through the bus daemon
 * over TCP and through the bus shared in-process, against the simulated adapter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Exchange } from '../../../links/exchange.js';
import { lineSplitter } from '../../../links/splitters.js';
import { LinkError } from '../../../links/types.js';
import { startGpibBench, type GpibBench } from '../../prologix/test-helpers/bench.js';
import { eventually } from '../../../testing/eventually.js';
import { GpibLink, parseGpibUrl } from './link.js';
import { localBus, shareBus } from './local.js';
import { gpibLinkKind } from './link.js';

let bench: GpibBench | undefined;
const exchanges: Exchange[] = [];
afterEach(async () => {
  await Promise.all(exchanges.splice(0).map((e) => e.stop()));
  await bench?.close();
  bench = undefined;
});

async function instrumentExchange(b: GpibBench, address: number, useLocalBus: boolean): Promise<{ ex: Exchange; links: GpibLink[] }> {
  const links: GpibLink[] = [];
  const ex = new Exchange(
    () => {
      const l = new GpibLink({ kind: 'gpib', host: '127.0.0.1', port: b.port, address }, { useLocalBus });
      links.push(l);
      return l;
    },
    lineSplitter(),
    { timeoutMs: 2000, resyncQuietMs: 50, resyncProbe: { request: '*IDN?\n', isAnswer: (r) => r.toString().startsWith('TEST INSTRUMENTS') } },
  );
  exchanges.push(ex);
  void ex.start();
  await eventually(() => expect(ex.isUp).toBe(true));
  return { ex, links };
}

describe('gpib:// URLs', () => {
  it('parse host, port and address and refuse what is not one', () => {
    expect(parseGpibUrl('gpib://127.0.0.1:7020/14')).toEqual({ kind: 'gpib', host: '127.0.0.1', port: 7020, address: 14 });
    expect(parseGpibUrl('gpib://[::1]:7020/22')).toMatchObject({ host: '::1', address: 22 });
    expect(() => parseGpibUrl('gpib://host:7020/31')).toThrow(/address 31 is out of range 1–30/);
    expect(() => parseGpibUrl('gpib://host/14')).toThrow(/expected gpib:\/\/host:port\/ADDR/);
  });
});

describe.each([
  ['through the bus daemon over TCP', false],
  ['through the bus shared in-process', true],
])('a gpib link %s', (_label, useLocalBus) => {
  it('carries queries and writes under an ordinary Exchange; a silent instrument is that Exchange\'s timeout', async () => {
    bench = await startGpibBench();
    expect(localBus('127.0.0.1', bench.port)).toBeDefined();
    const { ex, links } = await instrumentExchange(bench, 14, useLocalBus);
    expect(links[0]!.description).toBe(`gpib://127.0.0.1:${bench.port}/14`);
    expect((await ex.request('*IDN?\n'))!.toString()).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
    await ex.request(':SYST:ZCH ON\n', { expectReply: false });
    expect((await ex.request('ECHO? a+b\x1bc\n'))!.toString('latin1')).toBe('a+b\x1bc');
    // The adapter got each message once, its terminator replaced by the bus's ++eos (LF).
    expect(bench.instruments.get(14)!.received.map((d) => d.toString('latin1'))).toEqual(['*IDN?\n', ':SYST:ZCH ON\n', 'ECHO? a+b\x1bc\n']);
    bench.sim.setInstrumentFault(14, 'off', true);
    const err = await ex.request('*IDN?\n', { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinkError);
    expect((err as LinkError).code).toBe('Timeout');
    bench.sim.setInstrumentFault(14, 'off', false);
    await eventually(() => expect(ex.isInStep).toBe(true));
    expect((await ex.request('ECHO? back\n'))!.toString()).toBe('back');
    expect(links[0]!.isOpen).toBe(true);
  });

  it('an adapter that is away is not an instrument\'s silence: the link goes down with the bus\'s reason, and comes back', async () => {
    bench = await startGpibBench();
    const { ex } = await instrumentExchange(bench, 14, useLocalBus);
    const downs: string[] = [];
    ex.on('down', (reason) => downs.push(reason));
    bench.sim.setFault('linkDrop', true);
    await eventually(() => expect(bench!.daemon.runner.hwConnected).toBe(false));
    await ex.request('*IDN?\n').catch(() => undefined);
    await eventually(() => expect(downs.some((d) => /the bus could not carry it: CommunicationFailed/.test(d))).toBe(true));
    expect(downs.some((d) => /no reply/.test(d))).toBe(false);
    bench.sim.setFault('linkDrop', false);
    await eventually(async () => expect((await ex.request('*IDN?\n'))!.toString()).toBe('TEST INSTRUMENTS,MODEL14,0,1.0'), 30_000, 200);
  }, 60_000);

  it('a silent instrument costs only its own asker: a healthy one behind the same bus never times out', async () => {
    // An instrument takes tens of ms to answer through a real adapter (64–101 ms measured).
    bench = await startGpibBench({ latencyMs: 60 });
    const silent = await instrumentExchange(bench, 14, useLocalBus);
    const healthy = await instrumentExchange(bench, 15, useLocalBus);
    bench.sim.setInstrumentFault(14, 'off', true);
    // Each round, the healthy query is queued just behind a transaction to the silent instrument:
    // it waits for that read to time out on the adapter, and must still be answered in its own 2 s.
    for (let round = 0; round < 3; round++) {
      await eventually(() => expect(silent.ex.isInStep).toBe(true));
      const reads = (): number => bench!.sim.adapter.executed.filter((l) => /^read( |$)/.test(l)).length;
      const before = reads();
      const lost = silent.ex.request('*IDN?\n').catch((err: unknown) => err);
      // The silent instrument's read is under way on the adapter: the healthy query queues behind it.
      await eventually(() => expect(reads()).toBeGreaterThan(before), 15_000, 2);
      expect((await healthy.ex.request(`ECHO? n${round}\n`))!.toString()).toBe(`n${round}`);
      expect(await lost).toMatchObject({ code: 'Timeout' });
      // The probes of the silent one's resync stay silent too: let it give up on them.
      bench.sim.setInstrumentFault(14, 'off', false);
      await eventually(() => expect(silent.ex.isInStep).toBe(true));
      bench.sim.setInstrumentFault(14, 'off', true);
    }
  }, 60_000);
});

describe('gpib links to a bus daemon that requires tokens', () => {
  const tokens = [{ name: 'k6485', token: 'operator-token-0123', role: 'operator' as const }];

  it('authenticate with LABWIRE_BUS_TOKEN; without it the link goes down naming the cause, never a silent instrument', async () => {
    bench = await startGpibBench({ daemon: { tokens, anonymousRole: 'none' } });
    const spec = { kind: 'gpib' as const, host: '127.0.0.1', port: bench.port, address: 14 };
    const downs: string[] = [];
    const without = new Exchange(() => new GpibLink(spec, { useLocalBus: false }), lineSplitter(), { timeoutMs: 2000, initialBackoffMs: 200 });
    exchanges.push(without);
    without.on('down', (reason) => downs.push(reason));
    void without.start();
    await without.request('*IDN?\n').catch(() => undefined);
    await eventually(() => expect(downs.some((d) => /refused it: .*Unauthorized|not authenticated|LABWIRE_BUS_TOKEN/.test(d))).toBe(true));
    process.env.LABWIRE_BUS_TOKEN = 'operator-token-0123';
    try {
      const withToken = new Exchange(() => gpibLinkKind.create(spec, {}) as GpibLink, lineSplitter(), { timeoutMs: 2000 });
      exchanges.push(withToken);
      void withToken.start();
      await eventually(() => expect(withToken.isUp).toBe(true));
      // The test bench shares its bus in-process; a real other-host daemon is reached over TCP,
      // which is what the token is for: check both paths answer.
      expect((await withToken.request('*IDN?\n'))!.toString()).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
      const tcp = new Exchange(() => new GpibLink(spec, { useLocalBus: false, token: process.env.LABWIRE_BUS_TOKEN }), lineSplitter(), { timeoutMs: 2000 });
      exchanges.push(tcp);
      void tcp.start();
      await eventually(() => expect(tcp.isUp).toBe(true));
      expect((await tcp.request('*IDN?\n'))!.toString()).toBe('TEST INSTRUMENTS,MODEL14,0,1.0');
    } finally {
      delete process.env.LABWIRE_BUS_TOKEN;
    }
  });
});

describe('in-process buses', () => {
  it('one listening on every address serves links naming this machine only, never another host', () => {
    const bus = {} as Parameters<typeof shareBus>[2];
    const withdraw = shareBus('0.0.0.0', 47020, bus);
    try {
      expect(localBus('127.0.0.1', 47020)).toBe(bus);
      expect(localBus('localhost', 47020)).toBe(bus);
      expect(localBus('otherlab-pc.example', 47020)).toBeUndefined();
      expect(localBus('192.0.2.50', 47020)).toBeUndefined();
      expect(localBus('127.0.0.1', 47021)).toBeUndefined();
    } finally {
      withdraw();
    }
    expect(localBus('127.0.0.1', 47020)).toBeUndefined();
  });
});
