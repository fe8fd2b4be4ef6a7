import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { announcement, startDiscovery, type Discovery } from './discovery.js';
import { AnswerLimiter } from './answer-limiter.js';
import { fakeClock } from '../../testing/fake-clock.js';
import { eventually } from '../../testing/eventually.js';
import { silentLogger } from '../../util/logger.js';

const info = () => ({ port: 10767, equipment_id: 'lab', firmware: 'labwire', description: 'labwire lab lab' });
const DISCOVER = JSON.stringify({ SECoP: 'discover' });

describe('SECoP discovery datagram', () => {
  it('stays within 508 bytes by shortening the description', () => {
    const buf = announcement({ port: 10767, equipment_id: 'lab', firmware: 'labwire', description: 'x'.repeat(2000) });
    expect(buf.length).toBeLessThanOrEqual(508);
    expect(JSON.parse(buf.toString())).toMatchObject({ SECoP: 'node', port: 10767, equipment_id: 'lab' });
  });
});

describe('the answer limiter (token buckets)', () => {
  it('allows the burst per source, refills at its rate, and bounds all sources together', () => {
    const clock = fakeClock(1000);
    const l = new AnswerLimiter({ perSource: { burst: 3, perSecond: 2 }, total: { burst: 5, perSecond: 1 }, maxSources: 10 }, clock.now);
    expect([1, 2, 3, 4].map(() => l.allow('a'))).toEqual([true, true, true, false]);
    clock.tick(500); // one token for a, half of one for the total
    expect(l.allow('a')).toBe(true);
    expect(l.allow('a')).toBe(false);
    // b has its own burst, but the total (5) has 1 left.
    expect(l.allow('b')).toBe(true);
    expect(l.allow('b')).toBe(false);
    clock.tick(1000);
    expect(l.allow('c')).toBe(true);
  });

  it('forgets the oldest source beyond maxSources', () => {
    const clock = fakeClock();
    const l = new AnswerLimiter({ perSource: { burst: 1, perSecond: 0 }, total: { burst: 100, perSecond: 0 }, maxSources: 2 }, clock.now);
    expect(l.allow('a')).toBe(true);
    expect(l.allow('a')).toBe(false);
    l.allow('b');
    l.allow('c'); // a is forgotten
    expect(l.allow('a')).toBe(true);
  });
});

describe('SECoP discovery over real UDP: rate-limited answers', () => {
  const sockets: dgram.Socket[] = [];
  let discovery: Discovery | undefined;
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await discovery?.close();
    discovery = undefined;
  });

  async function clientSocket(address = '127.0.0.1'): Promise<{ socket: dgram.Socket; got: Buffer[] }> {
    const socket = dgram.createSocket('udp4');
    sockets.push(socket);
    const got: Buffer[] = [];
    socket.on('message', (m) => got.push(m));
    await new Promise<void>((r) => socket.bind(0, address, () => r()));
    return { socket, got };
  }

  /** Sends `n` datagrams in batches small enough for the loopback buffers, each batch seen by the node before the next. */
  async function flood(socket: dgram.Socket, d: Discovery, n: number, text = DISCOVER): Promise<void> {
    for (let sent = 0; sent < n; ) {
      const batch = Math.min(50, n - sent);
      const target = d.counts.datagrams + batch;
      for (let i = 0; i < batch; i++) socket.send(text, d.port, '127.0.0.1');
      sent += batch;
      await eventually(() => expect(d.counts.datagrams).toBe(target), 15_000);
    }
  }

  it('a flood of 1,000 requests from one socket gets the per-source burst answered, the rest dropped silently', async () => {
    const clock = fakeClock(0); // frozen: no refill unless the test steps it
    discovery = await startDiscovery('127.0.0.1', 0, info, silentLogger(), { limits: { perSource: { burst: 4, perSecond: 1 }, total: { burst: 100, perSecond: 100 }, maxSources: 16 }, now: clock.now });
    const d = discovery;
    const { socket, got } = await clientSocket();
    await flood(socket, d, 1000);
    expect(d.counts.answered).toBe(4);
    expect(d.counts.limited).toBe(996);
    await eventually(() => expect(got.length).toBe(4), 15_000);
    expect(got.every((g) => (JSON.parse(g.toString()) as { SECoP: string }).SECoP === 'node')).toBe(true);
    // One second later, one token more: exactly one more answer.
    clock.tick(1000);
    await flood(socket, d, 10);
    expect(d.counts.answered).toBe(5);
    await eventually(() => expect(got.length).toBe(5), 15_000);
  });

  it('bounds the answers to all sources together, and never answers what is not a discover request', async () => {
    const clock = fakeClock(0);
    discovery = await startDiscovery('127.0.0.1', 0, info, silentLogger(), { limits: { perSource: { burst: 4, perSecond: 1 }, total: { burst: 6, perSecond: 1 }, maxSources: 16 }, now: clock.now });
    const d = discovery;
    const a = await clientSocket('127.0.0.1');
    const b = await clientSocket('127.0.0.2');
    const c = await clientSocket('127.0.0.3');
    // Announcements of other nodes and other JSON: never answered, never take a token.
    await flood(a.socket, d, 20, JSON.stringify({ SECoP: 'node', port: 1, equipment_id: 'other' }));
    await flood(a.socket, d, 20, '{"hello":1}');
    expect(d.counts.answered).toBe(0);
    await flood(a.socket, d, 100);
    await flood(b.socket, d, 100);
    await flood(c.socket, d, 100);
    expect(d.counts.answered).toBe(6);
    await eventually(() => expect(a.got.length + b.got.length + c.got.length).toBe(6), 15_000);
    expect(a.got.length).toBe(4);
    expect(b.got.length).toBe(2);
    expect(c.got.length).toBe(0);
  });
});
