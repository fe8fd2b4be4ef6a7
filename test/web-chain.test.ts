/**
 * The web server on the real chain: Julabo simulator → daemon → monitor → SQLite archive → web,
 * over real HTTP on 127.0.0.1. Commands reach the simulator and the audit trail, device
 * validation errors come back as 400, live updates arrive by SSE, history and plots come from
 * the archive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebLab, type WebLab } from '../src/web/test-helpers/web-lab.js';
import { openSse, type SseClient } from '../src/web/test-helpers/clients.js';
import { eventually } from './helpers/julabo-lab.js';

let lab: WebLab;
const sse: SseClient[] = [];

beforeAll(async () => {
  lab = await startWebLab();
  await eventually(async () => {
    const d = (await (await fetch(`${lab.web.url}api/devices`)).json()) as Array<{ connected: boolean; describe: unknown; values: { setpoint?: number } }>;
    expect(d[0]!.connected).toBe(true);
    expect(d[0]!.describe).toBeTruthy();
    expect(d[0]!.values.setpoint).toBeTypeOf('number');
  }, 10_000);
});

afterAll(async () => {
  for (const c of sse) c.close();
  await lab?.close();
});

const post = (line: string, base = lab.web.url) =>
  fetch(`${base}api/devices/chiller/command`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ line }) });

describe('web on the real chain', () => {
  it('lists the chiller with units, limits and plots', async () => {
    const [d] = await (await fetch(`${lab.web.url}api/devices`)).json();
    expect(d).toMatchObject({ name: 'chiller', connected: true, units: { temperature: '°C', setpoint: '°C' }, plots: [{ id: 'temperature' }] });
    expect(d.describe.params.setpoint).toMatchObject({ min: -20, max: 40, readonly: false });
    expect(d.state).toBeTypeOf('string');
  });

  it('sets a setpoint: the simulator follows, SSE reports it, the audit trail has it', async () => {
    const stream = await openSse(`${lab.web.url}api/stream`);
    sse.push(stream);
    await stream.next((e) => e.event === 'snapshot');
    const t0 = performance.now();
    const res = await post('set setpoint=12.5');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: 'ok', command: 'set', results: { setpoint: 12.5 } });
    expect(lab.sim.setpoint).toBe(12.5);
    const upd = await stream.next((e) => e.event === 'update' && (e.data as { values: Record<string, unknown> }).values.setpoint === 12.5, 3000);
    expect(upd.at - t0).toBeLessThan(2000);
    await eventually(async () => {
      const trail = await lab.archive.auditTrail({ device: 'chiller' });
      const e = trail.find((a) => a.command.includes('setpoint=12.5'));
      expect(e).toBeDefined();
      expect(e!.who).toBe('web');
      expect(e!.after).toMatchObject({ setpoint: 12.5 });
    }, 5000);
  });

  it('returns the daemon validation error for an out-of-range setpoint as 400', async () => {
    const res = await post('set setpoint=55');
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.code).toBe('RangeError');
    expect(body.message).toMatch(/40/);
    expect(body.reply).toMatch(/^error set code=RangeError/);
    expect(lab.sim.setpoint).toBe(12.5);
  });

  it('answers unknown commands and unknown devices', async () => {
    expect((await post('frobnicate')).status).toBe(400);
    const res = await fetch(`${lab.web.url}monitor/command?string=${encodeURIComponent('send nobody get_status')}`);
    expect(res.status).toBe(404);
  });

  it('serves history and an SVG plot from the archive', async () => {
    await lab.archive.flush();
    await eventually(async () => {
      const res = await fetch(`${lab.web.url}api/history?device=chiller&name=setpoint&from=${Date.now() - 600_000}`);
      expect(res.status).toBe(200);
      const h = await res.json();
      expect(h.points.length).toBeGreaterThan(0);
    }, 5000);
    const series = await (await fetch(`${lab.web.url}api/series`)).json();
    expect(series).toEqual(expect.arrayContaining([expect.objectContaining({ device: 'chiller', name: 'temperature' })]));
    const svg = await fetch(`${lab.web.url}monitor/plot/chiller/temperature`);
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await svg.text()).toContain('<path d="M');
    expect((await fetch(`${lab.web.url}monitor/plot/chiller/nope`)).status).toBe(404);
  });

  it('reports health', async () => {
    const h = await (await fetch(`${lab.web.url}api/health`)).json();
    expect(h).toMatchObject({ status: 'ok', peers: [{ name: 'chiller', connected: true }], archive: { kind: 'sqlite' } });
  });
});

describe('read-only monitor on the real chain', () => {
  let ro: WebLab;
  beforeAll(async () => {
    ro = await startWebLab({ readOnly: true });
  });
  afterAll(async () => {
    await ro?.close();
  });

  it('refuses a set with 403 and leaves the simulator alone', async () => {
    await eventually(async () => expect(ro.monitor.peer('chiller')?.connected).toBe(true), 10_000);
    const res = await post('set setpoint=30', ro.web.url);
    expect(res.status).toBe(403);
    expect((await res.json()).code).toBe('ReadOnly');
    expect(ro.sim.setpoint).not.toBe(30);
    expect((await (await fetch(`${ro.web.url}api/session`)).json()).readOnly).toBe(true);
  });
});
