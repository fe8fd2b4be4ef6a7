/**
 * The GPIB bench of the CCDLab lab end to end with the real instrument families: the simulated
 * adapter with a Keithley 6485 at 14, a Keithley 487 at 15 and an HP 33120A at 22 (models found
 * through the registry), the bus daemon, three labwire instrument daemons on gpib:// links, and
 * CCDLab-style clients on the bus daemon's port, all at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BusInstrumentModel } from '../../daemon/api.js';
import { startDaemon, type Daemon } from '../../daemon/daemon.js';
import { eventually } from '../../testing/eventually.js';
import { kv } from '../../../test/helpers/julabo-lab.js';
import { recordingLogger } from '../../testing/log-sink.js';
import { RawClient } from '../../testing/raw-client.js';
import { getFamily } from '../index.js';
import { parseGpibUrl } from '../kits/gpib/link.js';
import { setInProcessSharing } from '../kits/gpib/local.js';
import { startGpibBench, type GpibBench } from './test-helpers/bench.js';

const BENCH: Array<[number, string]> = [[14, 'keithley6485'], [15, 'keithley487'], [22, 'hp33120a']];

let bench: GpibBench | undefined;
const daemons: Daemon[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  setInProcessSharing(true);
  for (const c of clients.splice(0)) c.close();
  await Promise.all(daemons.splice(0).map((d) => d.close()));
  await bench?.close();
  bench = undefined;
});

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

async function startBench(): Promise<{ bench: GpibBench; ports: Record<string, number>; logs: ReturnType<typeof recordingLogger> }> {
  const models = new Map<number, BusInstrumentModel>();
  for (const [address, type] of BENCH) models.set(address, (await getFamily(type).loadBusInstrument!())({ seed: address }));
  bench = await startGpibBench({ addresses: [], models, readTimeoutMs: 500 });
  const logs = recordingLogger('warn');
  const ports: Record<string, number> = {};
  for (const [address, type] of BENCH) {
    const d = await startDaemon({
      definition: getFamily(type).definition,
      link: parseGpibUrl(`gpib://127.0.0.1:${bench.port}/${address}`),
      name: type,
      port: 0,
      logger: logs.logger,
      version: 'test',
    });
    daemons.push(d);
    ports[type] = d.port;
  }
  for (const port of Object.values(ports)) {
    const c = await client(port);
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
  }
  return { bench, ports, logs };
}

describe('the GPIB bench with the real instrument families', () => {
  it('nc on the bus daemon: set_addr 14 then ?$*IDN? answers the 6485\'s identity', async () => {
    const { bench: b } = await startBench();
    const c = await client(b.port);
    c.write('set_addr 14\n');
    expect(await c.request('?$*IDN?')).toMatch(/^KEITHLEY INSTRUMENTS INC\.,MODEL 6485,/);
  });

  it('instrument daemons work through the bus: a 6485 current, a 33120A frequency set, an out-of-range 487 voltage refused', async () => {
    const { ports } = await startBench();
    const k6485 = await client(ports.keithley6485!);
    await eventually(async () => expect(Number.isFinite(Number(kv(await k6485.request('get_status')).current))).toBe(true));
    const hp = await client(ports.hp33120a!);
    expect(await hp.request('set frequency=1234')).toMatch(/^ok set frequency=1234/);
    const k487 = await client(ports.keithley487!);
    expect(await k487.request('set source_range=500V')).toMatch(/^ok set/);
    expect(await k487.request('set source_voltage=600')).toMatch(/^error set code=RangeError message=".*505/);
  });

  it.each([
    ['in-process (one labwire up)', true],
    ['over TCP (separate processes)', false],
  ])('1,000 transactions from the three instrument daemons (%s) and two CCDLab clients interleaved: every reply to its own asker', async (_how, inProcess) => {
    setInProcessSharing(inProcess);
    const { bench: b, logs, ports } = await startBench();
    // In-process the daemons use the bus directly; otherwise each holds a labwire connection to it.
    expect(b.daemon.server.connectionCount).toBe(inProcess ? 0 : 3);
    const busStatus = await client(b.port);
    const before = Number(kv(await busStatus.request('get_status')).transactions);
    const ccdlab = await Promise.all([14, 22].map(async (address) => {
      const c = await client(b.port);
      c.write(`set_addr ${address}\n`);
      return { c, address };
    }));
    const perClient = 400;
    // The instrument daemons are kept busy too: every set is written and confirmed by its read-back.
    const sets = async (port: number, param: string, values: number[]): Promise<string[]> => {
      const c = await client(port);
      const wrong: string[] = [];
      for (const v of values) {
        const reply = await c.request(`set ${param}=${v}`, 30_000);
        if (!reply.startsWith(`ok set ${param}=${v}`)) wrong.push(`${param}=${v}: ${reply}`);
      }
      return wrong;
    };
    const daemonWork = Promise.all([
      sets(ports.hp33120a!, 'frequency', Array.from({ length: 60 }, (_, i) => 1000 + i)),
      sets(ports.keithley487!, 'source_voltage', Array.from({ length: 60 }, (_, i) => (i % 40) - 20)),
    ]);
    const results = await Promise.all(ccdlab.map(async ({ c, address }) => {
      const from = c.lines.length;
      c.write('?$*IDN?\n'.repeat(perClient));
      const replies = await c.replies(perClient, from, 120_000);
      const want = address === 14 ? /^KEITHLEY INSTRUMENTS INC\.,MODEL 6485,/ : /^HEWLETT-PACKARD,33120A,/;
      return replies.filter((r) => !want.test(r));
    }));
    expect(results.flat()).toEqual([]);
    expect((await daemonWork).flat()).toEqual([]);
    // The daemons keep polling meanwhile; wait until the bus has carried 1,000 transactions.
    await eventually(async () => {
      const r = kv(await busStatus.request('bus_status'));
      const total = [14, 15, 22].reduce((n, a) => n + Number(r[`a${a}_transactions`] ?? 0), 0);
      expect(total - before).toBeGreaterThanOrEqual(1000);
    }, 60_000, 200);
    for (const port of Object.values(daemonPorts())) {
      const s = kv(await (await client(port)).request('get_status'));
      expect(s.hw_connected).toBe('1');
      expect(s.state).not.toBe('error');
    }
    // A reply that reached the wrong asker would fail its shape check and be logged by that daemon.
    expect(logs.records.filter((r) => r.level >= 40).map((r) => r.msg)).toEqual([]);
  }, 180_000);
});

function daemonPorts(): number[] {
  return daemons.map((d) => d.port);
}
