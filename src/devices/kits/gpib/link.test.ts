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
import { localBus } from './local.js';

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
});
