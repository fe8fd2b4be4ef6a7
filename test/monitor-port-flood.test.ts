/**
 * The monitor's own port under a stranger's flood, and log entries nobody can forge (issue 10
 * §2 and §3): the same LineServer as a daemon's, with the monitor's own meaning of log lines.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDaemon } from '../src/testing/fake-daemon.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import type { MonitorOptions } from '../src/monitor/options.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { silentLogger } from '../src/util/logger.js';
import { sleep } from '../src/testing/eventually.js';
import { flood } from './helpers/flood.js';
import { eventually } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

const VIEWER = 'viewer-token-0123456789';
const OPERATOR = 'operator-token-0123456789';
const TOKENS = [
  { role: 'viewer' as const, token: VIEWER, name: 'vera' },
  { role: 'operator' as const, token: OPERATOR, name: 'otto' },
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(options: Partial<MonitorOptions> = {}): Promise<{ m: Monitor; bath: FakeDaemon; archive: MemoryArchive; client(): Promise<RawClient> }> {
  const bath = new FakeDaemon();
  await bath.start();
  cleanups.push(() => bath.stop());
  const archive = new MemoryArchive();
  const m = await startMonitor({
    peers: [{ name: 'bath', host: '127.0.0.1', port: bath.port }],
    archive,
    listen: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
    ...options,
  });
  cleanups.push(() => m.close());
  await eventually(() => expect(m.peer('bath')!.connected).toBe(true));
  return {
    m,
    bath,
    archive,
    async client() {
      const c = await RawClient.connect(m.port);
      cleanups.push(() => c.close());
      return c;
    },
  };
}

describe('log entries on the monitor port', () => {
  it('need the operator role and carry the authenticated identity, not a name chosen with id', async () => {
    const { m, client } = await setup({ tokens: TOKENS });
    const viewer = await client();
    viewer.write('id name=chiller\n');
    expect(await viewer.request(`auth token=${VIEWER}`)).toBe('ok auth role=viewer');
    expect(await viewer.request('error CHILLER FAULT')).toBe('error error code=Unauthorized message="error needs the operator role; your role is viewer"');
    expect(m.recentMessages().some((e) => e.message === 'CHILLER FAULT')).toBe(false);
    const op = await client();
    op.write('id name=chiller\n');
    expect(await op.request(`auth token=${OPERATOR}`)).toBe('ok auth role=operator');
    expect(await op.request('warning cool-down slow')).toBe('ok warning');
    expect(m.recentMessages(1)[0]).toMatchObject({ source: 'otto (chiller)', level: 'warning', message: 'cool-down slow' });
  });

  it('from an unauthenticated connection that the configuration lets write, are marked anonymous', async () => {
    const { m, client } = await setup({ tokens: TOKENS, anonymousRole: 'operator' });
    const c = await client();
    c.write('id name=chiller\n');
    expect(await c.request('error CHILLER FAULT')).toBe('ok error');
    expect(m.recentMessages(1)[0]).toMatchObject({ source: 'anonymous (chiller)', message: 'CHILLER FAULT' });
  });

  it('are cut at 4000 characters, as over HTTP', async () => {
    const { m, client } = await setup();
    const c = await client();
    expect(await c.request(`info ${'x'.repeat(10_000)}`)).toBe('ok info');
    expect(m.recentMessages(1)[0]!.message).toHaveLength(4001);
    expect(m.recentMessages(1)[0]!.message.endsWith('x…')).toBe(true);
  });
});

describe('the monitor port under a flood', () => {
  it('notices (status lines) are neither answered nor counted by the rate limit; log writes are requests and are', async () => {
    const { client } = await setup({ rateLimit: { perSecond: 5, burst: 5 } });
    const c = await client();
    const from = c.lines.length;
    c.write(`${'ping\n'.repeat(5)}${'status x=1\nstatus_json {}\n'.repeat(10)}id name=script\nping\n`);
    const replies = await c.replies(6, from);
    expect(replies.slice(0, 5)).toEqual(Array(5).fill('pong'));
    expect(replies[5]).toMatch(/^(pong|error ping code=RateLimited .*)$/);
    await sleep(300);
    expect(c.lines.slice(from).filter((l) => /^error status/.test(l))).toEqual([]);
  });

  it('refused sends are audited: the first of a peer and reason in full (cut at 1 KiB), the rest as one summary', async () => {
    const { m, bath, archive, client } = await setup({ tokens: TOKENS });
    const viewer = await client();
    expect(await viewer.request(`auth token=${VIEWER}`)).toBe('ok auth role=viewer');
    const r = await flood(`send bath set setpoint=${'1'.repeat(5000)}`, 500, { port: m.port, preamble: `auth token=${VIEWER}\n` });
    expect(r.sample[1]).toMatch(/^error send code=Unauthorized/);
    expect(await viewer.request('ping')).toBe('pong');
    await sleep(200);
    // During the interval only the first is written …
    expect(archive.audits).toHaveLength(1);
    expect(archive.audits[0]).toMatchObject({ who: 'vera', device: 'bath', result: 'refused Unauthorized: send bath set needs the operator role; your role is viewer' });
    expect(archive.audits[0]!.command).toMatch(/^set setpoint=1+… \(cut: 5013 bytes in all\)$/);
    expect(Buffer.byteLength(archive.audits[0]!.command)).toBeLessThan(1100);
    // … and the rest is counted: the summary comes at the end of the interval, at the latest when the monitor stops.
    await m.close();
    await eventually(() => expect(archive.audits).toHaveLength(2));
    expect(archive.audits[1]).toMatchObject({ who: 'vera', peer: '127.0.0.1', device: 'bath', result: 'refused Unauthorized: 499 more refused requests from 127.0.0.1 (Unauthorized) in the last 10 s' });
    expect(bath.received.filter((l) => l.startsWith('set'))).toEqual([]);
  });
});
