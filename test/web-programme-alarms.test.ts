/**
 * Programmes and alarms through the web API over real HTTP, against the real chain (Julabo
 * simulator → daemon → monitor with an alarm → SQLite archive → web): roles, the programme view
 * with its profile, limit errors, acknowledgement, the `alarm` live events and the archived
 * history.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTokenFile } from '../src/server/index.js';
import { startWebLab, type WebLab } from '../src/web/test-helpers/web-lab.js';
import { openSse, type SseClient } from '../src/web/test-helpers/clients.js';
import { quote } from '../src/wire/format.js';
import type { AlarmEvent } from '../src/web/views.js';
import { eventually } from './helpers/julabo-lab.js';

const VIEWER = 'view-token-0123456789';
const OPERATOR = 'oper-token-0123456789';

let lab: WebLab;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies of many shapes, checked by toMatchObject
type Body = any;

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${lab.web.url}${path.replace(/^\//, '')}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const command = (line: string, token = OPERATOR) => call('POST', '/api/devices/chiller/command', token, { line });

beforeAll(async () => {
  lab = await startWebLab({
    sim: { running: true, setpoint: 20, initialTemperature: 20, timeScale: 300 },
    chillerOptions: { settleSeconds: 0.3, tolerance: 0.3 },
    programme: { tickMs: 50, minStep: 0.05 },
    alarms: [{ id: 'bath_hot', type: 'threshold', param: 'chiller.temperature', above: 24, hysteresis: 2, delayMs: 300, severity: 'critical' }],
    web: { tokens: parseTokenFile(`viewer ${VIEWER} vera\noperator ${OPERATOR} otto\n`, 'test') },
  });
  await eventually(() => expect(lab.monitor.peer('chiller')?.connected).toBe(true), 10_000);
}, 30_000);

afterAll(async () => {
  await lab?.close();
});

describe('programmes on the web API', () => {
  it('a viewer reads the programme; only an operator loads one; the profile comes back for a plot', async () => {
    expect(await call('GET', '/api/devices/chiller/programme', VIEWER)).toEqual({ status: 200, body: { status: { state: 'none' }, profile: null } });
    const load = `programme_load param=setpoint format=csv data=${quote('elapsed_minutes,value\n0,15\n0.1,35\n0.2,15\n')} loop=3`;
    expect((await command(load, VIEWER)).status).toBe(403);
    const ok = await command(load);
    expect(ok.status).toBe(200);
    expect(ok.body.results).toMatchObject({ param: 'setpoint', points: '3', loops: '3', state: 'loaded' });
    const view = await call('GET', '/api/devices/chiller/programme', VIEWER);
    expect(view.status).toBe(200);
    expect(view.body.status).toMatchObject({ state: 'loaded', param: 'setpoint', progress: 0, total_s: 36, loops: 3 });
    expect(view.body.profile).toEqual({
      param: 'setpoint',
      loops: 3,
      cycleS: 12,
      points: [
        { t: 0, value: 15, hold: false },
        { t: 6, value: 35, hold: false },
        { t: 12, value: 15, hold: false },
      ],
    });
    // Reading a programme is a read: it is not logged or audited as a command (pages poll it).
    expect(lab.monitor.recentMessages().filter((m) => m.message.includes('programme_status') || m.message.includes('programme_profile'))).toEqual([]);
  });

  it('a point outside the limits is refused with its line, and the loaded programme stays', async () => {
    const bad = await command(`programme_load param=setpoint format=csv data=${quote('0,20\n1,30\n2,55\n')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'RangeError', message: 'line 3: 55 °C is above the FL1703 limit of 40 °C' });
    expect((await call('GET', '/api/devices/chiller/programme', VIEWER)).body.profile.loops).toBe(3);
  });

  it('an unknown device is a 404', async () => {
    const r = await call('GET', '/api/devices/nope/programme', VIEWER);
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('NoSuchDevice');
  });
});

describe('alarms on the web API', () => {
  let sse: SseClient;

  afterAll(() => sse?.close());

  it('lists the configured alarm; ack refuses unknown ids, alarms that are not raised and viewers', async () => {
    const list = await call('GET', '/api/alarms', VIEWER);
    expect(list.status).toBe(200);
    expect(list.body).toEqual([expect.objectContaining({ id: 'bath_hot', type: 'threshold', severity: 'critical', state: 'ok', clients: ['chiller'] })]);
    expect(await call('POST', '/api/alarms/nope/ack', OPERATOR)).toMatchObject({ status: 404, body: { code: 'NoSuchAlarm' } });
    expect(await call('POST', '/api/alarms/bath_hot/ack', OPERATOR)).toMatchObject({ status: 409, body: { code: 'NotRaised' } });
    expect((await call('POST', '/api/alarms/bath_hot/ack', VIEWER)).status).toBe(403);
  });

  it('raises after its delay, is acknowledged by an operator, clears past the hysteresis: live events and archived history', async () => {
    sse = await openSse(`${lab.web.url}api/stream`, { authorization: `Bearer ${VIEWER}` });
    const snap = await sse.next((e) => e.event === 'snapshot');
    expect((snap.data as { alarms: Array<{ id: string }> }).alarms.map((a) => a.id)).toEqual(['bath_hot']);

    expect((await command('set setpoint=30')).status).toBe(200);
    const raised = await sse.next((e) => e.event === 'alarm' && (e.data as AlarmEvent).state.state === 'raised', 20_000);
    expect(raised.data).toMatchObject({ state: { id: 'bath_hot', severity: 'critical' }, transition: { from: 'pending', to: 'raised' } });

    const ack = await call('POST', '/api/alarms/bath_hot/ack', OPERATOR);
    expect(ack).toMatchObject({ status: 200, body: { id: 'bath_hot', state: 'acknowledged', acknowledgedBy: 'otto' } });
    const acked = await sse.next((e) => e.event === 'alarm' && (e.data as AlarmEvent).state.state === 'acknowledged', 5000);
    expect(acked.data).toMatchObject({ transition: { from: 'raised', to: 'acknowledged', who: 'otto' } });
    expect(await call('POST', '/api/alarms/bath_hot/ack', OPERATOR)).toMatchObject({ status: 409 });

    expect((await command('set setpoint=18')).status).toBe(200);
    const cleared = await sse.next((e) => e.event === 'alarm' && (e.data as AlarmEvent).state.state === 'cleared', 20_000);
    // Hysteresis: it clears only once the temperature is 2 K below the threshold.
    expect((cleared.data as AlarmEvent).state.value).toBeLessThanOrEqual(22);

    const history = await eventually(async () => {
      const h = await call('GET', '/api/alarms/history?id=bath_hot', VIEWER);
      expect(h.body.map((e: { to: string }) => e.to)).toEqual(['cleared', 'acknowledged', 'raised']);
      return h.body;
    }, 5000);
    expect(history[1]).toMatchObject({ who: 'otto', severity: 'critical' });
    // The same as CSV, oldest first, for a spreadsheet (the predecessor's alarm log).
    const csv = await fetch(`${lab.web.url}api/alarms/history.csv?id=bath_hot`, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="alarms-bath_hot.csv"');
    const rows = (await csv.text()).trimEnd().split('\n');
    expect(rows[0]).toBe('time_iso,t_ms,alarm,from,to,severity,value,who,message');
    expect(rows.slice(1).map((r) => r.split(',').slice(2, 6).join(' '))).toEqual(['bath_hot pending raised critical', 'bath_hot raised acknowledged critical', 'bath_hot acknowledged cleared critical']);
    expect(rows[2]!.split(',')[7]).toBe('otto');
    const bad = await call('GET', '/api/alarms/history?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z', VIEWER);
    expect(bad).toMatchObject({ status: 400, body: { code: 'BadRequest' } });
  }, 45_000);
});
