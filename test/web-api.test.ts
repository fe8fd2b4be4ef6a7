/**
 * The JSON API against a fake monitor and archive (fastify inject): devices, commands and the
 * mapping of device errors to status codes, history validation, CSV, messages, health, the
 * OpenAPI document, and JSON 404s.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createWebApp } from '../src/web/server.js';
import { FakeArchive, FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { silentLogger } from '../src/util/logger.js';

let monitor: FakeMonitor;
let archive: FakeArchive;
let app: FastifyInstance;

beforeEach(async () => {
  archive = new FakeArchive();
  monitor = new FakeMonitor({ archive });
  ({ app } = await createWebApp({ monitor, logger: silentLogger(), uiDir: '/nonexistent' }));
});

afterEach(async () => {
  await app.close();
});

describe('devices', () => {
  it('lists devices with connection state, state, values, units, describe and plots', async () => {
    const res = await app.inject({ url: '/api/devices' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    const [d] = res.json();
    expect(d).toMatchObject({ name: 'chiller', connected: true, state: 'idle', stateText: 'REMOTE STOP', units: { temperature: '°C', setpoint: '°C' } });
    expect(d.values.temperature).toBe(21.5);
    expect(d.describe.params.setpoint.max).toBe(40);
    expect(d.plots[0].id).toBe('temp');
  });

  it('gives one device, its describe, and 404 JSON for an unknown one', async () => {
    expect((await app.inject({ url: '/api/devices/chiller' })).json().name).toBe('chiller');
    expect((await app.inject({ url: '/api/devices/chiller/describe' })).json().type).toBe('julabo');
    const res = await app.inject({ url: '/api/devices/nope/describe' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NoSuchDevice' });
  });

  it('gives the lab status', async () => {
    const res = await app.inject({ url: '/api/status' });
    // Named for what they count: devices with a link up, connections to the monitor's port (CCDLab's nconnected).
    expect(res.json()).toMatchObject({ devicesConnected: 1, clientsConnected: 0, nconnected: 0, clients: { chiller: { connected: true } } });
  });
});

describe('commands', () => {
  const post = (name: string, body: unknown) => app.inject({ method: 'POST', url: `/api/devices/${name}/command`, payload: body as Record<string, unknown> });

  it('sends a set and answers the parsed reply, with the actor passed on', async () => {
    const res = await post('chiller', { line: 'set setpoint=25.5' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'ok', command: 'set', results: { setpoint: 25.5 }, reply: 'ok set setpoint=25.5' });
    expect(monitor.sent[0]).toMatchObject({ client: 'chiller', line: 'set setpoint=25.5', actor: { who: 'web', peer: '127.0.0.1' } });
  });

  it('maps a device validation error to 400 with its code and message', async () => {
    const res = await post('chiller', { line: 'set setpoint=55' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'RangeError', message: expect.stringContaining('above the limit of 40') });
    expect(res.json().reply).toMatch(/^error set code=RangeError/);
  });

  it('maps other device errors to their status codes', async () => {
    const cases: Array<[string, number]> = [
      ['ReadOnly', 403],
      ['IsBusy', 409],
      ['RateLimited', 429],
      ['HardwareError', 502],
      ['Timeout', 504],
    ];
    for (const [code, status] of cases) {
      monitor.onSend = () => `error set code=${code} message="x"`;
      const res = await post('chiller', { line: 'set setpoint=1' });
      expect(res.statusCode, code).toBe(status);
      expect(res.json().code).toBe(code);
    }
  });

  it('answers 503 when the device is down and 404 for an unknown device', async () => {
    monitor.setConnected('chiller', false);
    expect((await post('chiller', { line: 'get_status' })).statusCode).toBe(503);
    expect((await post('nope', { line: 'get_status' })).json().code).toBe('NoSuchDevice');
  });

  it('validates the body', async () => {
    expect((await post('chiller', {})).statusCode).toBe(400);
    expect((await post('chiller', { line: '' })).statusCode).toBe(400);
    expect((await post('chiller', { line: 'get_status\nset setpoint=1' })).statusCode).toBe(400);
    expect((await post('chiller', { line: 'x', extra: 1 })).statusCode).toBe(400);
    const res = await app.inject({ method: 'POST', url: '/api/devices/chiller/command', payload: 'line=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.statusCode).toBe(415);
  });

  it('turns describe and status replies into JSON', async () => {
    monitor.onSend = () => 'status_json {"name":"chiller","values":{"t":1}}';
    expect((await post('chiller', { line: 'get_status format=json' })).json().json).toEqual({ name: 'chiller', values: { t: 1 } });
    monitor.onSend = undefined;
    const res = await post('chiller', { line: 'get_status' });
    expect(res.json()).toMatchObject({ kind: 'status', results: { temperature: 21.5, running: false } });
  });
});

describe('history', () => {
  const now = Date.now();
  beforeEach(async () => {
    const samples = [];
    for (let i = 0; i < 500; i++) samples.push({ device: 'chiller', name: 'temperature', t: now - (500 - i) * 1000, value: 20 + (i % 10) });
    await archive.write(samples);
  });

  it('answers raw points for a short range', async () => {
    const res = await app.inject({ url: `/api/history?device=chiller&name=temperature&from=${now - 60_000}&to=${now}` });
    expect(res.statusCode).toBe(200);
    const h = res.json();
    expect(h.source).toBe('raw');
    expect(h.points.length).toBeGreaterThan(50);
  });

  it('bins when the range holds more than maxPoints, and accepts ISO times', async () => {
    const res = await app.inject({ url: `/api/history?device=chiller&name=temperature&from=${new Date(now - 600_000).toISOString()}&maxPoints=5` });
    expect(res.statusCode).toBe(200);
    const h = res.json();
    expect(h.source).not.toBe('raw');
    expect(h.points.length).toBeLessThanOrEqual(5);
    expect(h.points[0]).toHaveProperty('min');
  });

  it('refuses from > to with a clear 400', async () => {
    const res = await app.inject({ url: `/api/history?device=chiller&name=temperature&from=${now}&to=${now - 1000}` });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'BadRequest', message: expect.stringMatching(/from .* is after to/) });
  });

  it('accepts a huge range', async () => {
    const res = await app.inject({ url: `/api/history?device=chiller&name=temperature&from=0&to=${now + 1e12}&maxPoints=100` });
    expect(res.statusCode).toBe(200);
    expect(res.json().points.length).toBeLessThanOrEqual(100);
  });

  it('validates parameters and knows unknown series', async () => {
    expect((await app.inject({ url: '/api/history?device=chiller' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/history?device=chiller&name=temperature&maxPoints=0' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/history?device=chiller&name=temperature&from=yesterday' })).statusCode).toBe(400);
    const res = await app.inject({ url: '/api/history?device=chiller&name=nope' });
    expect(res.statusCode).toBe(404);
  });

  it('streams CSV', async () => {
    const res = await app.inject({ url: `/api/history.csv?device=chiller&name=temperature&from=${now - 10_500}&to=${now}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/csv/);
    expect(res.headers['content-disposition']).toBe('attachment; filename="chiller.temperature.csv"');
    const lines = res.body.trim().split('\n');
    expect(lines[0]).toBe('time_iso,t_ms,value');
    expect(lines.length).toBe(11);
    expect((await app.inject({ url: `/api/history.csv?device=chiller&name=temperature&from=2&to=1` })).statusCode).toBe(400);
  });

  it('lists series', async () => {
    const res = await app.inject({ url: '/api/series' });
    expect(res.json()).toEqual([expect.objectContaining({ device: 'chiller', name: 'temperature', type: 'number' })]);
  });

  it('answers 503 without an archive', async () => {
    monitor.archive = undefined;
    const res = await app.inject({ url: '/api/series' });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('NoArchive');
  });
});

describe('messages and health', () => {
  it('merges archived and recent messages, filters by level and since', async () => {
    const t0 = Date.now() - 10_000;
    await archive.log({ t: t0, source: 'chiller', level: 'info', message: 'old info' });
    await archive.log({ t: t0 + 1, source: 'chiller', level: 'error', message: 'old error' });
    monitor.message('script', 'warning', 'fresh warning');
    let res = await app.inject({ url: '/api/messages' });
    expect(res.json().map((m: { message: string }) => m.message)).toEqual(['old info', 'old error', 'fresh warning']);
    res = await app.inject({ url: '/api/messages?level=warning' });
    expect(res.json().map((m: { message: string }) => m.message)).toEqual(['old error', 'fresh warning']);
    res = await app.inject({ url: `/api/messages?since=${t0 + 1}&limit=1` });
    expect(res.json().map((m: { message: string }) => m.message)).toEqual(['fresh warning']);
    expect((await app.inject({ url: '/api/messages?level=loud' })).statusCode).toBe(400);
  });

  it('reports health', async () => {
    const res = await app.inject({ url: '/api/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', monitor: { name: 'monitor', readOnly: false }, peers: [{ name: 'chiller', connected: true }], archive: { kind: 'sqlite', pending: 0 } });
    monitor.setConnected('chiller', false);
    expect((await app.inject({ url: '/api/health' })).json().status).toBe('degraded');
  });
});

describe('errors, 404 and OpenAPI', () => {
  it('answers unknown paths with JSON 404 that does not echo the path', async () => {
    for (const url of ['/nope', '/api/nope', '/monitor/<script>alert(1)</script>']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).not.toContain('script');
      expect(res.json().code).toBe('NotFound');
    }
  });

  it('sets security headers', async () => {
    const res = await app.inject({ url: '/api/devices' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });

  it('serves an OpenAPI document that lists the routes', async () => {
    const res = await app.inject({ url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = JSON.parse(res.body);
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/api/devices', '/api/devices/{name}/describe', '/api/devices/{name}/command', '/api/status', '/api/history', '/api/history.csv', '/api/messages', '/api/series', '/api/health', '/api/stream', '/api/ws', '/api/login', '/monitor/status', '/monitor/plot/{client}/{plot}', '/monitor/command']) {
      expect(doc.paths, p).toHaveProperty([p]);
    }
    const cmd = doc.paths['/api/devices/{name}/command'].post;
    expect(cmd.requestBody.content['application/json'].schema.required).toEqual(['line']);
    expect(cmd.parameters).toEqual([expect.objectContaining({ name: 'name', in: 'path', required: true })]);
    expect(cmd['x-role']).toBe('operator');
    const hist = doc.paths['/api/history'].get;
    expect(hist.parameters.map((p: { name: string }) => p.name)).toEqual(['device', 'name', 'from', 'to', 'maxPoints']);
    expect(hist.responses['400'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    // Every $ref resolves.
    const refs = [...res.body.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
    for (const r of refs) expect(doc.components.schemas, r).toHaveProperty([r]);
  });

  it('serves a clear 503 text at / when the UI is not built', async () => {
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build');
  });
});

describe('programmes', () => {
  it('the programme route serves labwire daemons only: a CCDLab peer is a 404 that says why, and nothing is sent to it', async () => {
    await app.close();
    monitor = new FakeMonitor({ archive, peers: [{ name: 'oven', protocol: 'ccdlab', values: { temperature: 80 } }] });
    ({ app } = await createWebApp({ monitor, logger: silentLogger(), uiDir: '/nonexistent' }));
    const res = await app.inject({ url: '/api/devices/oven/programme' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: 'NoProgramme', message: 'oven is a ccdlab peer: setpoint programmes run in labwire daemons only' });
    expect(monitor.sent).toEqual([]);
    expect((await app.inject({ url: '/api/devices/nope/programme' })).json().code).toBe('NoSuchDevice');
  });
});
