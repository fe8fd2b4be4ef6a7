/**
 * Alarm hooks against a real HTTP server on 127.0.0.1:0: delivery (webhook and Alertmanager v2),
 * a hook that hangs (timeout, retry, the engine goes on), a hook that answers 500 (retried with
 * back-off, logged).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmEngine, type AlarmTransition } from '../src/monitor/alarms.js';
import { AlarmHook } from '../src/monitor/hooks.js';
import { startMonitor } from '../src/monitor/monitor.js';
import { CcdlabPeer } from '../src/monitor/test-helpers/ccdlab-peer.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually } from './helpers/julabo-lab.js';

interface Received {
  t: number;
  path: string;
  body: unknown;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A server that answers each request with `respond(n)` (n counts from 0); 'hang' never answers. */
async function server(respond: (n: number) => number | 'hang'): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const hanging: http.ServerResponse[] = [];
  const srv = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const n = received.length;
      received.push({ t: Date.now(), path: req.url ?? '', body: JSON.parse(text) as unknown });
      const r = respond(n);
      if (r === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(r, { 'content-type': 'text/plain' });
      res.end(r >= 300 ? 'boom' : 'ok');
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const r of hanging) r.destroy();
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, received };
}

/** pending, raised, acknowledged, cleared of one deviation alarm. */
function transitions(): AlarmTransition[] {
  const engine = new AlarmEngine([{ id: 'chiller_deviation', type: 'deviation', param: 'chiller.temperature', reference: 'chiller.setpoint', maxDeviation: 2, severity: 'critical' }], 0);
  return [
    ...engine.update('chiller', { temperature: 20, setpoint: 30 }, 1000),
    engine.acknowledge('chiller_deviation', 'alice', 2000),
    ...engine.update('chiller', { temperature: 30 }, 3000),
  ];
}

describe('alarm hooks', () => {
  it('a webhook gets one JSON POST per transition; pending is not sent', async () => {
    const { url, received } = await server(() => 200);
    const logs: string[] = [];
    const hook = new AlarmHook({ type: 'webhook', url: `${url}/hook` }, 'lab-monitor', (_l, text) => logs.push(text));
    cleanups.push(() => hook.close());
    for (const tr of transitions()) hook.notify(tr);
    await eventually(() => expect(received).toHaveLength(3));
    expect(received.map((r) => r.path)).toEqual(['/hook', '/hook', '/hook']);
    expect(received.map((r) => (r.body as { transition: { to: string } }).transition.to)).toEqual(['raised', 'acknowledged', 'cleared']);
    expect(received[1]!.body).toMatchObject({ monitor: 'lab-monitor', alarm: 'chiller_deviation', transition: { who: 'alice', at: new Date(2000).toISOString() }, state: { state: 'acknowledged', acknowledgedBy: 'alice' } });
    await eventually(() => expect(hook.stats).toMatchObject({ delivered: 3, failed: 0, dropped: 0 }));
    expect(logs).toEqual([]);
  });

  it('Alertmanager v2: POST /api/v2/alerts with labels, annotations, startsAt, and endsAt on clear', async () => {
    const { url, received } = await server(() => 200);
    const hook = new AlarmHook({ type: 'alertmanager', url: `${url}/` }, 'monitor', () => undefined);
    cleanups.push(() => hook.close());
    for (const tr of transitions()) hook.notify(tr);
    await eventually(() => expect(received).toHaveLength(3));
    expect(received.every((r) => r.path === '/api/v2/alerts')).toBe(true);
    const [raised, acked, cleared] = received.map((r) => (r.body as Array<Record<string, unknown>>)[0]!);
    expect(raised).toEqual({
      labels: { alertname: 'chiller_deviation', severity: 'critical', client: 'chiller', monitor: 'monitor' },
      annotations: { summary: 'chiller.temperature deviates from chiller.setpoint by more than 2', description: 'chiller.temperature deviates from chiller.setpoint by more than 2 (-10)' },
      startsAt: new Date(1000).toISOString(),
    });
    expect(acked).toMatchObject({ annotations: { acknowledged_by: 'alice' }, startsAt: new Date(1000).toISOString() });
    expect(acked!.endsAt).toBeUndefined();
    expect(cleared).toMatchObject({ startsAt: new Date(1000).toISOString(), endsAt: new Date(3000).toISOString() });
  });

  it('Alertmanager: firing alerts are sent again every resendMs until they clear', async () => {
    const { url, received } = await server(() => 200);
    const hook = new AlarmHook({ type: 'alertmanager', url, resendMs: 100 }, 'monitor', () => undefined);
    cleanups.push(() => hook.close());
    const [, raised, , cleared] = transitions();
    hook.notify(raised!);
    await eventually(() => expect(received.length).toBeGreaterThanOrEqual(3));
    hook.notify(cleared!);
    await eventually(() => expect((received.at(-1)!.body as Array<{ endsAt?: string }>)[0]!.endsAt).toBe(new Date(3000).toISOString()));
    const n = received.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(received.length).toBe(n);
    expect(received.slice(0, -1).every((r) => (r.body as Array<{ endsAt?: string }>)[0]!.endsAt === undefined)).toBe(true);
  });

  it('a hook that answers 500 is retried with growing back-off, logged, and delivered when it recovers', async () => {
    const { url, received } = await server((n) => (n < 3 ? 500 : 200));
    const logs: string[] = [];
    const hook = new AlarmHook({ type: 'webhook', url, backoffMs: 50, maxBackoffMs: 120, retries: 5 }, 'monitor', (level, text) => logs.push(`${level} ${text}`));
    cleanups.push(() => hook.close());
    hook.notify(transitions()[1]!);
    await eventually(() => expect(hook.stats.delivered).toBe(1), 3000);
    expect(received).toHaveLength(4);
    const gaps = received.slice(1).map((r, i) => r.t - received[i]!.t);
    expect(gaps[0]).toBeGreaterThanOrEqual(45);
    expect(gaps[1]).toBeGreaterThanOrEqual(95);
    expect(gaps[2]).toBeGreaterThanOrEqual(115);
    expect(logs.slice(0, 3)).toEqual([
      `warning alarm hook webhook ${url}: chiller_deviation raised attempt 1 failed: HTTP 500: boom; retrying in 50 ms`,
      `warning alarm hook webhook ${url}: chiller_deviation raised attempt 2 failed: HTTP 500: boom; retrying in 100 ms`,
      `warning alarm hook webhook ${url}: chiller_deviation raised attempt 3 failed: HTTP 500: boom; retrying in 120 ms`,
    ]);
    expect(logs[3]).toBe(`info alarm hook webhook ${url}: delivered chiller_deviation raised after 4 attempts`);
  });

  it('a hook that always fails gives up after its retries, and the next notification still goes', async () => {
    const { url, received } = await server((n) => (n < 3 ? 503 : 200));
    const logs: string[] = [];
    const hook = new AlarmHook({ type: 'webhook', url, backoffMs: 10, retries: 2 }, 'monitor', (_l, text) => logs.push(text));
    cleanups.push(() => hook.close());
    const [, raised, , cleared] = transitions();
    hook.notify(raised!);
    hook.notify(cleared!);
    await eventually(() => expect(hook.stats).toMatchObject({ delivered: 1, failed: 1 }));
    expect(received.map((r) => (r.body as { transition: { to: string } }).transition.to)).toEqual(['raised', 'raised', 'raised', 'cleared']);
    expect(logs.some((l) => l.endsWith('attempt 3 failed: HTTP 503: boom; giving up'))).toBe(true);
  });

  it('a bounded queue drops the oldest and says so', async () => {
    const { url } = await server(() => 'hang');
    const logs: string[] = [];
    const hook = new AlarmHook({ type: 'webhook', url, queueSize: 2, timeoutMs: 5000 }, 'monitor', (_l, text) => logs.push(text));
    cleanups.push(() => hook.close());
    const trs = transitions();
    hook.notify(trs[0]!); // pending: not for hooks
    hook.notify(trs[1]!);
    hook.notify(trs[2]!);
    hook.notify(trs[3]!);
    expect(hook.stats).toMatchObject({ dropped: 0, queued: 2 });
    hook.notify(trs[1]!);
    // The first is in flight; of the waiting ones the oldest (acknowledged) goes.
    expect(hook.stats).toMatchObject({ dropped: 1, queued: 2 });
    expect(logs).toEqual([`alarm hook webhook ${url}: queue full, dropped chiller_deviation acknowledged`]);
  });

  it('a hook that hangs: the monitor keeps evaluating, the hook times out and retries', async () => {
    const { url, received } = await server((n) => (n < 2 ? 'hang' : 200));
    const peer = new CcdlabPeer('oven', { temperature: 20 });
    await peer.start();
    cleanups.push(() => peer.stop());
    const archive = new MemoryArchive();
    const m = await startMonitor({
      peers: [{ name: 'oven', protocol: 'ccdlab', host: '127.0.0.1', port: peer.port }],
      archive,
      listen: false,
      ccdlabPollMs: 50,
      alarms: [{ id: 'oven_hot', type: 'threshold', param: 'oven.temperature', above: 100, hysteresis: 5 }],
      alarmHooks: [{ type: 'webhook', url, timeoutMs: 1000, backoffMs: 50, retries: 3 }],
      logger: silentLogger(),
    });
    cleanups.push(() => m.close());
    await eventually(() => expect(m.peer('oven')!.values.temperature).toBe(20));
    peer.setValues({ temperature: 150 });
    await eventually(() => expect(m.alarms()[0]!.state).toBe('raised'));
    // While the hook hangs, the alarm still clears and raises again at once.
    peer.setValues({ temperature: 20 });
    await eventually(() => expect(m.alarms()[0]!.state).toBe('cleared'));
    peer.setValues({ temperature: 150 });
    await eventually(() => expect(m.alarms()[0]!.state).toBe('raised'));
    // All of that while the hook's first notification was still hanging.
    expect(m.alarmHookStats()[0]).toMatchObject({ delivered: 0, queued: 2 });
    expect(received.length).toBe(1);
    await eventually(() => expect(m.alarmHookStats()[0]).toMatchObject({ delivered: 3, failed: 0 }), 5000);
    expect(received.length).toBe(5); // two timed-out attempts, then raised, cleared, raised
    const texts = m.recentMessages().map((e) => e.message);
    expect(texts.filter((t) => t.includes('attempt') && t.includes('no answer within 1000 ms'))).toHaveLength(2);
    expect(archive.alarms.map((a) => a.to)).toEqual(['raised', 'cleared', 'raised']);
  });
});
