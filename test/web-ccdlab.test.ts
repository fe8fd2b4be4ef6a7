/**
 * CCDLab's HTTP endpoints: /monitor/status, /monitor/plot/<client>/<plot> (SVG; unknown plot → 404)
 * and /monitor/command (real results and status codes).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createWebApp } from '../src/web/server.js';
import { CHILLER_DESCRIBE, FakeArchive, FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { renderSvgPlot, niceTicks } from '../src/web/svg-plot.js';
import { silentLogger } from '../src/util/logger.js';
import { parseTokenFile } from '../src/server/index.js';

let monitor: FakeMonitor;
let archive: FakeArchive;
let app: FastifyInstance;

beforeEach(async () => {
  archive = new FakeArchive();
  monitor = new FakeMonitor({
    archive,
    peers: [
      {
        name: 'chiller',
        describe: CHILLER_DESCRIBE,
        values: { temperature: 21, setpoint: 20 },
        plots: [
          { id: 'temp', name: 'Bath <temperature>', values: ['time', 'temperature', 'setpoint'], ylabel: '°C' },
          { id: 'xy', name: 'T vs setpoint', values: ['setpoint', 'temperature'], yscale: 'log', width: 400, height: 200 },
        ],
      },
      { name: 'absent', connected: false, protocol: 'ccdlab' },
      // Cryo-con's parameter names hold dots; `chiller.temperature` is another client's value.
      { name: 'cryocon', protocol: 'ccdlab', connected: false, plots: [{ id: 'temps', name: 'Cryostat', values: ['time', 'chA.temperature', 'chiller.temperature'] }] },
    ],
  });
  ({ app } = await createWebApp({ monitor, logger: silentLogger(), uiDir: '/nonexistent' }));
});

afterEach(async () => {
  await app.close();
});

describe('/monitor/status', () => {
  it('answers CCDLab-shaped JSON', async () => {
    const res = await app.inject({ url: '/monitor/status' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.clients.chiller).toMatchObject({ host: '127.0.0.1', connected: true, plots: { temp: { name: 'Bath <temperature>' } } });
    // The fake monitor has no labwire port: no connections to count (CCDLab's nconnected).
    expect(body.status).toMatchObject({ nconnected: 0, chiller: { temperature: 21 }, absent: {} });
  });
});

describe('/monitor/plot', () => {
  it('draws an SVG from the archive, escaping text', async () => {
    const now = Date.now();
    const samples = [];
    for (let i = 0; i < 100; i++) {
      samples.push({ device: 'chiller', name: 'temperature', t: now - (100 - i) * 10_000, value: 20 + Math.sin(i / 10) });
      samples.push({ device: 'chiller', name: 'setpoint', t: now - (100 - i) * 10_000, value: 20 });
    }
    await archive.write(samples);
    const res = await app.inject({ url: '/monitor/plot/chiller/temp' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(res.headers['cache-control']).toContain('no-store');
    expect(res.body).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="800" height="300"/);
    expect(res.body).toContain('Bath &lt;temperature&gt;');
    expect(res.body).not.toContain('<temperature>');
    expect((res.body.match(/<path d="M/g) ?? []).length).toBe(2);
    expect(res.body).toContain('>setpoint</text>');
  });

  it('draws dotted parameters of the plot\'s own device and another client\'s value', async () => {
    const now = Date.now();
    const samples = [];
    for (let i = 0; i < 50; i++) {
      samples.push({ device: 'cryocon', name: 'chA.temperature', t: now - (50 - i) * 10_000, value: 4 + i / 100 });
      samples.push({ device: 'chiller', name: 'temperature', t: now - (50 - i) * 10_000, value: 20 + i / 10 });
    }
    await archive.write(samples);
    const res = await app.inject({ url: '/monitor/plot/cryocon/temps' });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('no data yet');
    expect((res.body.match(/<path d="M/g) ?? []).length).toBe(2);
    expect(res.body).toContain('>chA.temperature</text>');
    const status = (await app.inject({ url: '/monitor/status' })).json() as { clients: Record<string, { plots: Record<string, { series: unknown }> }> };
    expect(status.clients.cryocon!.plots.temps!.series).toEqual([
      { device: 'cryocon', name: 'chA.temperature' },
      { device: 'chiller', name: 'temperature' },
    ]);
  });

  it('draws x against y plots and empty plots', async () => {
    const res = await app.inject({ url: '/monitor/plot/chiller/xy' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('width="400" height="200"');
    expect(res.body).toContain('no data yet');
  });

  it('answers 404 (not 500) for an unknown plot or client', async () => {
    const res = await app.inject({ url: '/monitor/plot/chiller/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NoSuchPlot', message: expect.stringContaining('temp, xy') });
    expect((await app.inject({ url: '/monitor/plot/nobody/temp' })).statusCode).toBe(404);
  });

  it('says so without an archive', async () => {
    monitor.archive = undefined;
    const res = await app.inject({ url: '/monitor/plot/chiller/temp' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('no archive');
  });
});

describe('/monitor/command', () => {
  const cmd = (s: string) => app.inject({ method: 'POST', url: `/monitor/command?string=${encodeURIComponent(s)}` });
  const get = (s: string, headers: Record<string, string> = {}) => app.inject({ url: `/monitor/command?string=${encodeURIComponent(s)}`, headers });

  it('GET only reads: a state change without a Bearer token is refused and never reaches the device', async () => {
    // No Origin and no Sec-Fetch-Site: what an <img src> of an older browser sends.
    const read = await get('send chiller get_status');
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ ok: true, client: 'chiller', kind: 'status' });
    for (const line of ['send chiller set setpoint=25', 'send chiller start', 'send chiller frobnicate', 'warning the cryostat is warm']) {
      const res = await get(line);
      expect(res.statusCode, line).toBe(405);
      expect(res.json()).toMatchObject({ code: 'MethodNotAllowed', message: expect.stringContaining('POST') });
    }
    expect(monitor.sent.map((x) => x.line)).toEqual(['get_status']);
    expect(monitor.messages).toEqual([]);
    // A declared read-only command of the device is a read.
    expect((await get('send chiller ping')).statusCode).toBe(200);
  });

  it('GET with a Bearer token may change state (no other site can attach one)', async () => {
    await app.close();
    ({ app } = await createWebApp({ monitor, logger: silentLogger(), uiDir: '/nonexistent', tokens: parseTokenFile('operator oper-token-0123456789 bob', 't') }));
    const res = await get('send chiller set setpoint=25', { authorization: 'Bearer oper-token-0123456789' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ reply: 'ok set setpoint=25' });
    // The same as a logged-in page (a cookie, which a browser attaches to another site's <img>) is refused.
    const login = await app.inject({ method: 'POST', url: '/api/login', payload: { token: 'oper-token-0123456789' } });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    expect((await get('send chiller set setpoint=26', { cookie })).statusCode).toBe(405);
    expect((await get('send chiller get_status', { cookie })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: `/monitor/command?string=${encodeURIComponent('send chiller set setpoint=26')}`, headers: { cookie } })).statusCode).toBe(200);
    expect(monitor.sent.map((x) => x.line)).toEqual(['set setpoint=25', 'get_status', 'set setpoint=26']);
  });

  it('takes the line of a POST from a JSON body too', async () => {
    const res = await app.inject({ method: 'POST', url: '/monitor/command', payload: { string: 'send chiller set setpoint=24' } });
    expect(res.statusCode).toBe(200);
    expect(monitor.sent.at(-1)!.line).toBe('set setpoint=24');
  });

  it('forwards send and answers the device reply', async () => {
    const res = await cmd('send chiller set setpoint=25');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, client: 'chiller', reply: 'ok set setpoint=25' });
    expect(monitor.sent[0]!.line).toBe('set setpoint=25');
    const bad = await cmd('send chiller set setpoint=99');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('RangeError');
    expect((await cmd('send nobody get_status')).statusCode).toBe(404);
    expect((await cmd('send absent get_status')).statusCode).toBe(503);
    expect((await cmd('send chiller')).statusCode).toBe(400);
  });

  it('adds messages to the log', async () => {
    const res = await cmd('warning the cryostat is warm');
    expect(res.statusCode).toBe(200);
    expect(monitor.messages.at(-1)).toMatchObject({ source: 'web', level: 'warning', message: 'the cryostat is warm' });
    await cmd('message plain note');
    expect(monitor.messages.at(-1)).toMatchObject({ level: 'info', message: 'plain note' });
  });

  it('refuses exit and unknown commands with real status codes', async () => {
    expect((await cmd('exit')).statusCode).toBe(403);
    expect((await cmd('reset_plots')).statusCode).toBe(400);
    expect((await cmd('frobnicate')).json().code).toBe('NoSuchCommand');
    expect((await app.inject({ url: '/monitor/command' })).statusCode).toBe(400);
    expect((await cmd('send "unbalanced')).statusCode).toBe(400);
  });
});

describe('renderSvgPlot', () => {
  it('breaks lines at gaps and skips non-positive values on a log axis', () => {
    const svg = renderSvgPlot({
      title: 't',
      xlabel: 'x',
      width: 300,
      height: 200,
      xTime: false,
      yscale: 'log',
      series: [{ label: 'a', points: [[1, 1], [2, 10], [3, null], [4, 100], [5, -1], [6, 1000]] }],
    });
    const d = /<path d="([^"]+)"/.exec(svg)![1]!;
    expect(d.match(/M/g)).toHaveLength(3);
    expect(svg).toContain('>1000</text>');
  });

  it('makes round ticks', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-3, 7, 5)).toEqual([-2, 0, 2, 4, 6]);
  });
});
