/**
 * Prometheus metrics (issue 13 §5): real expositions of a daemon (Julabo simulator + daemon) and
 * of a monitor (peers, SQLite archive, alarms, web server) checked by `promtool check metrics`,
 * counters that follow real faults (a silent device, a dropped link), a scrape during a flood,
 * and the --metrics address.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openArchive } from '../src/archive/index.js';
import { parseMetricsAddress, serveDaemonMetrics, METRICS_CONTENT_TYPE } from '../src/bridges/metrics/index.js';
import { startMonitor } from '../src/monitor/monitor.js';
import { FakeDaemon } from '../src/testing/fake-daemon.js';
import { silentLogger } from '../src/util/logger.js';
import { startWeb } from '../src/web/server.js';
import { RawClient } from '../src/testing/raw-client.js';
import { promtoolCheck, promtoolTest, runPromtool } from '../src/testing/promtool.js';
import { cliInProcess } from './helpers/cli-in-process.js';
import { flood } from './helpers/flood.js';
import { eventually, startJulaboLab } from './helpers/julabo-lab.js';


const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** One sample's value by its full series text, e.g. `labwire_link_up{device="chiller"}`; undefined when absent. */
function sample(body: string, series: string): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

promtoolTest();

describe('daemon metrics', () => {
  it('expose link health, latency and values; promtool passes; a silent device counts timeouts, a dropped link a reconnect', async () => {
    const lab = await startJulaboLab({ initialTemperature: 21, setpoint: 18 }, { silentLinkMs: 8000 });
    cleanups.push(() => lab.close());
    const metrics = await serveDaemonMetrics(lab.daemon, parseMetricsAddress(':0'), { logger: silentLogger() });
    cleanups.push(() => metrics.close());
    expect(metrics.host).toBe('127.0.0.1');

    let body = '';
    await eventually(async () => {
      body = (await scrape(metrics.url)).body;
      expect(sample(body, 'labwire_value{device="chiller",param="setpoint",unit="°C"}')).toBe(18);
      expect(sample(body, 'labwire_link_request_duration_seconds_count{device="chiller"}')).toBeGreaterThan(0);
    }, 15_000);
    const first = await scrape(metrics.url);
    expect(first.status).toBe(200);
    expect(first.type).toBe(METRICS_CONTENT_TYPE);
    body = first.body;
    expect(sample(body, 'labwire_link_up{device="chiller"}')).toBe(1);
    expect(sample(body, 'labwire_value{device="chiller",param="hw_connected",unit=""}')).toBe(1);
    expect(sample(body, 'labwire_link_timeouts_total{device="chiller"}')).toBe(0);
    expect(sample(body, 'labwire_link_reconnects_total{device="chiller"}')).toBe(0);
    expect(sample(body, 'labwire_clients{listener="daemon"}')).toBe(0);
    expect(body).toMatch(/^labwire_value\{device="chiller",param="temperature",unit="°C"\} 2\d(\.\d+)?$/m);
    expect(body).not.toMatch(/param="state_text"/);
    if (runPromtool) expect(promtoolCheck(body)).toEqual({ status: 0, output: '' });

    // A client on the labwire port is counted.
    const c = await lab.client();
    await eventually(async () => expect(sample((await scrape(metrics.url)).body, 'labwire_clients{listener="daemon"}')).toBe(1), 5000);
    c.close();

    // The device stops answering: its timeouts are counted.
    lab.sim.setFault('silence', true);
    await eventually(async () => {
      expect(sample((await scrape(metrics.url)).body, 'labwire_link_timeouts_total{device="chiller"}')).toBeGreaterThanOrEqual(1);
    }, 20_000, 200);
    lab.sim.setFault('silence', false);
    await eventually(async () => expect(sample((await scrape(metrics.url)).body, 'labwire_link_up{device="chiller"}')).toBe(1), 30_000, 200);

    // The link is dropped and comes back: one reconnect (or more, if the silence already cost one).
    const before = sample((await scrape(metrics.url)).body, 'labwire_link_reconnects_total{device="chiller"}')!;
    lab.sim.setFault('linkDrop', true);
    await eventually(async () => {
      const b = (await scrape(metrics.url)).body;
      expect(sample(b, 'labwire_link_up{device="chiller"}')).toBe(0);
      // While the link is down only hw_connected is current.
      expect(sample(b, 'labwire_value{device="chiller",param="setpoint",unit="°C"}')).toBeUndefined();
      expect(sample(b, 'labwire_value{device="chiller",param="hw_connected",unit=""}')).toBe(0);
    }, 20_000, 100);
    lab.sim.setFault('linkDrop', false);
    await eventually(async () => {
      const b = (await scrape(metrics.url)).body;
      expect(sample(b, 'labwire_link_up{device="chiller"}')).toBe(1);
      expect(sample(b, 'labwire_link_reconnects_total{device="chiller"}')).toBe(before + 1);
      expect(sample(b, 'labwire_value{device="chiller",param="setpoint",unit="°C"}')).toBe(18);
    }, 30_000, 200);

    // Garbled replies: the pairing refuses them and discards what follows until it is in step again.
    expect(sample((await scrape(metrics.url)).body, 'labwire_link_discarded_replies_total{device="chiller"}')).toBe(0);
    lab.sim.setFault('garble', true);
    await eventually(async () => {
      expect(sample((await scrape(metrics.url)).body, 'labwire_link_discarded_replies_total{device="chiller"}')).toBeGreaterThanOrEqual(1);
    }, 20_000, 200);
    lab.sim.setFault('garble', false);
    const last = (await scrape(metrics.url)).body;
    if (runPromtool) expect(promtoolCheck(last)).toEqual({ status: 0, output: '' });
  }, 150_000);

  it('with tokens, a scrape needs one', async () => {
    const lab = await startJulaboLab();
    cleanups.push(() => lab.close());
    const tokens = [{ role: 'viewer' as const, token: 'viewer-token-0123456789', name: 'prom' }];
    const metrics = await serveDaemonMetrics(lab.daemon, { host: '127.0.0.1', port: 0 }, { logger: silentLogger(), tokens });
    cleanups.push(() => metrics.close());
    expect((await scrape(metrics.url)).status).toBe(401);
    expect((await scrape(metrics.url, { Authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    const ok = await scrape(metrics.url, { Authorization: 'Bearer viewer-token-0123456789' });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('labwire_link_up{device="chiller"}');
    expect((await scrape(metrics.url.replace('/metrics', '/other'))).status).toBe(404);
  }, 30_000);
});

describe('--metrics address', () => {
  it('binds 127.0.0.1 unless a host is given, and refuses bad addresses clearly', () => {
    expect(parseMetricsAddress('9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseMetricsAddress(':9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseMetricsAddress('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseMetricsAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(parseMetricsAddress('metrics.example.org:9464')).toEqual({ host: 'metrics.example.org', port: 9464 });
    for (const bad of ['', 'localhost', '127.0.0.1:', '127.0.0.1:99999', 'a b:1', 'http://x:1', '[nope]:1', '1.2.3.4:5:6']) {
      expect(() => parseMetricsAddress(bad), bad).toThrow(/--metrics ".*" is not an address to listen on: give host:port, e.g. 127.0.0.1:9464/);
    }
  });

  it('labwire daemon --metrics with a bad address fails before starting anything', async () => {
    const r = await cliInProcess('daemon', 'julabo', '--link', 'tcp://127.0.0.1:9', '--metrics', 'nowhere');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--metrics "nowhere" is not an address to listen on');
  });

  it('an address of no interface is refused with a clear error', async () => {
    const lab = await startJulaboLab();
    cleanups.push(() => lab.close());
    await expect(serveDaemonMetrics(lab.daemon, { host: '192.0.2.1', port: 0 }, { logger: silentLogger() })).rejects.toThrow(
      'daemon "chiller": metrics cannot listen on 192.0.2.1:0: no interface of this machine has that address',
    );
  });
});

async function startMonitorLab(opts: { rateLimit?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-metrics-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const archive = await openArchive({ kind: 'sqlite', path: path.join(dir, 'archive.sqlite') });
  cleanups.push(() => archive.close());
  const julabo = await startJulaboLab({ initialTemperature: 20, setpoint: 20 });
  cleanups.push(() => julabo.close());
  const bath = new FakeDaemon({ values: { temperature: 31.5 } });
  await bath.start();
  cleanups.push(() => bath.stop());
  const m = await startMonitor({
    peers: [
      { name: 'chiller', host: '127.0.0.1', port: julabo.port },
      { name: 'bath', host: '127.0.0.1', port: bath.port },
    ],
    archive,
    alarms: [{ id: 'bath_hot', type: 'threshold', param: 'bath.temperature', above: 30 }],
    listen: { host: '127.0.0.1', port: 0 },
    ...(opts.rateLimit !== undefined ? { rateLimit: { perSecond: opts.rateLimit } } : {}),
    logger: silentLogger(),
  });
  cleanups.push(() => m.close());
  const web = await startWeb({ monitor: m, host: '127.0.0.1', port: 0, logger: silentLogger() });
  cleanups.push(() => web.close());
  await eventually(() => {
    expect(m.peer('chiller')!.connected).toBe(true);
    expect(m.peer('bath')!.connected).toBe(true);
  }, 15_000);
  return { m, web, bath, julabo, archive, url: `${web.url}metrics` };
}

describe('monitor metrics', () => {
  it('expose peer values, peers, archive commits and alarms on GET /metrics; promtool passes', async () => {
    const { url, bath, archive, m, web } = await startMonitorLab();
    let body = '';
    await eventually(async () => {
      const r = await scrape(url);
      expect(r.status).toBe(200);
      expect(r.type).toBe(METRICS_CONTENT_TYPE);
      body = r.body;
      expect(sample(body, 'labwire_value{device="chiller",param="setpoint",unit="°C"}')).toBe(20);
      expect(sample(body, 'labwire_value{device="bath",param="temperature",unit="°C"}')).toBe(31.5);
      expect(sample(body, 'labwire_archive_commit_duration_seconds_count')).toBeGreaterThan(0);
      expect(sample(body, 'labwire_alarm_state{alarm="bath_hot",state="raised"}')).toBe(1);
    }, 15_000, 100);
    expect(sample(body, 'labwire_alarm_state{alarm="bath_hot",state="ok"}')).toBe(0);
    expect(sample(body, 'labwire_value{device="bath",param="running",unit=""}')).toBe(1);
    expect(body).not.toMatch(/param="state"/);
    expect(sample(body, 'labwire_peer_up{peer="chiller",protocol="labwire"}')).toBe(1);
    expect(sample(body, 'labwire_peer_reconnects_total{peer="bath"}')).toBe(0);
    expect(sample(body, 'labwire_clients{listener="monitor"}')).toBe(0);
    expect(sample(body, 'labwire_clients{listener="web_sse"}')).toBe(0);
    // A live stream of the page and a client of the monitor's port are counted.
    const stream = new AbortController();
    const sse = await fetch(`${web.url}api/stream`, { signal: stream.signal });
    expect(sse.status).toBe(200);
    const port = await RawClient.connect(m.port);
    await eventually(async () => {
      const b = (await scrape(url)).body;
      expect(sample(b, 'labwire_clients{listener="web_sse"}')).toBe(1);
      expect(sample(b, 'labwire_clients{listener="monitor"}')).toBe(1);
    }, 10_000, 100);
    stream.abort();
    port.close();
    await eventually(async () => {
      const b = (await scrape(url)).body;
      expect(sample(b, 'labwire_clients{listener="web_sse"}')).toBe(0);
      expect(sample(b, 'labwire_clients{listener="monitor"}')).toBe(0);
    }, 10_000, 100);
    expect(sample(body, 'labwire_build_info{version="' + body.match(/labwire_build_info\{version="([^"]*)"/)![1] + '",role="monitor"}')).toBe(1);
    const stats = archive.stats();
    expect(sample(body, 'labwire_archive_pending_samples')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'labwire_archive_committed_samples_total')).toBeLessThanOrEqual(stats.committed);
    expect(sample(body, 'labwire_archive_failed_samples_total')).toBe(0);
    expect(sample(body, 'labwire_archive_spooled_samples')).toBe(0);
    expect(sample(body, 'labwire_archive_commit_duration_seconds_bucket{le="+Inf"}')).toBe(sample(body, 'labwire_archive_commit_duration_seconds_count'));
    if (runPromtool) expect(promtoolCheck(body)).toEqual({ status: 0, output: '' });

    // The bath cools below the limit: the alarm clears; the bath goes away: its series go, its peer is down.
    bath.set({ temperature: 25 });
    await eventually(async () => expect(sample((await scrape(url)).body, 'labwire_alarm_state{alarm="bath_hot",state="cleared"}')).toBe(1), 10_000, 100);
    await bath.stop();
    await eventually(async () => {
      const b = (await scrape(url)).body;
      expect(sample(b, 'labwire_peer_up{peer="bath",protocol="labwire"}')).toBe(0);
      expect(b).not.toContain('device="bath"');
      expect(sample(b, 'labwire_value{device="chiller",param="setpoint",unit="°C"}')).toBe(20);
    }, 10_000, 100);
    await bath.start();
    await eventually(async () => {
      const b = (await scrape(url)).body;
      expect(sample(b, 'labwire_peer_up{peer="bath",protocol="labwire"}')).toBe(1);
      expect(sample(b, 'labwire_peer_reconnects_total{peer="bath"}')).toBe(1);
    }, 20_000, 100);
    if (runPromtool) expect(promtoolCheck((await scrape(url)).body)).toEqual({ status: 0, output: '' });
  }, 90_000);

  it('a scrape during a peer flood is answered and stays correct', async () => {
    const { url, bath, m } = await startMonitorLab({ rateLimit: 50 });
    // A peer that pushes updates as fast as it can, and a stranger flooding the monitor's port.
    let pushing = true;
    let last = 0;
    const pusher = (async () => {
      for (let i = 1; i <= 200_000 && pushing; i++) {
        last = 40 + (i % 1000) / 100;
        bath.set({ temperature: last });
        if (i % 200 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    const flooding = flood('get_status', 20_000, { port: m.port, parallel: 4, counting: /^error \S+ code=RateLimited message="?rate limit of/ });
    const times: number[] = [];
    let scrapes = 0;
    let done = false;
    const result = flooding.finally(() => {
      done = true;
    });
    for (let i = 0; i < 200 && (!done || scrapes < 3); i++) {
      const started = Date.now();
      const r = await scrape(url);
      times.push(Date.now() - started);
      expect(r.status).toBe(200);
      expect(r.body).toContain('labwire_peer_up{peer="bath",protocol="labwire"} 1');
      scrapes++;
    }
    const floodResult = await result;
    pushing = false;
    await pusher;
    // Generous: a scrape is never held up behind the flood for long.
    expect(Math.max(...times)).toBeLessThan(10_000);
    console.info(`${scrapes} scrapes during the flood (${floodResult.sent} lines, ${floodResult.counted} refused): slowest ${Math.max(...times)} ms`);
    expect(floodResult.counted).toBeGreaterThan(0);
    await eventually(async () => {
      const b = (await scrape(url)).body;
      expect(sample(b, 'labwire_value{device="bath",param="temperature",unit="°C"}')).toBe(last);
      const limited = sample(b, 'labwire_rate_limited_total{listener="monitor"}')!;
      expect(limited).toBeGreaterThanOrEqual(floodResult.counted);
      expect(limited).toBeLessThanOrEqual(floodResult.sent);
      expect(sample(b, 'labwire_clients{listener="monitor"}')).toBe(0);
    }, 20_000, 200);
    if (runPromtool) expect(promtoolCheck((await scrape(url)).body)).toEqual({ status: 0, output: '' });
  }, 120_000);
});
