/**
 * What the page's shell reads from the monitor (issue 15): the lab's name in /api/session, the
 * lab file's `overview:` list and the families' key values in describe, and the value an alarm
 * watches, as client and parameter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { labConfigSchema } from '../src/config/lab.js';
import { describeDevice } from '../src/daemon/describe.js';
import { resolveDevice } from '../src/daemon/resolved-device.js';
import { deviceFamilies } from '../src/devices/index.js';
import { AlarmEngine } from '../src/monitor/alarms.js';
import { createWebApp } from '../src/web/server.js';
import { FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { silentLogger } from '../src/util/logger.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe("the lab's name on the page (defect 7)", () => {
  it('is in /api/session, public like the login form', async () => {
    ({ app } = await createWebApp({ monitor: new FakeMonitor(), labName: 'Cryo lab 2', logger: silentLogger(), uiDir: '/nonexistent' }));
    expect((await app.inject({ url: '/api/session' })).json()).toMatchObject({ lab: 'Cryo lab 2', monitor: 'monitor' });
  });
  it("defaults to the monitor's name", async () => {
    ({ app } = await createWebApp({ monitor: new FakeMonitor(), logger: silentLogger(), uiDir: '/nonexistent' }));
    const s = (await app.inject({ url: '/api/session' })).json() as { lab: string; monitor: string };
    expect(s.lab).toBe(s.monitor);
  });
});

describe('key values', () => {
  it('every family with a simulator marks 2–4 key values, and describe carries them', () => {
    for (const [type, family] of Object.entries(deviceFamilies)) {
      const doc = describeDevice(resolveDevice(family.definition), { name: type, version: '0', readOnly: false });
      const keys = Object.entries(doc.params).filter(([, p]) => p.key).map(([k]) => k);
      expect(keys.length, `${type}: ${keys.join(', ')}`).toBeGreaterThanOrEqual(1);
      expect(keys.length, type).toBeLessThanOrEqual(4);
      if (family.loadSimulator) expect(keys.length, type).toBeGreaterThanOrEqual(2);
      for (const [k, p] of Object.entries(doc.params)) if (!keys.includes(k)) expect(p, `${type}.${k}`).not.toHaveProperty('key');
    }
  });

  it('the lab file chooses them per device with overview:', () => {
    const lab = labConfigSchema.parse({
      daemons: [{ name: 'bath', type: 'julabo', link: 'tcp://127.0.0.1:1', overview: ['temperature', 'running'] }],
      peers: [{ name: 'old', host: '127.0.0.1', port: 2, protocol: 'ccdlab', overview: ['T1'] }],
    });
    expect(lab.daemons[0]!.overview).toEqual(['temperature', 'running']);
    expect(lab.peers[0]!.overview).toEqual(['T1']);
    expect(labConfigSchema.safeParse({ daemons: [{ name: 'bath', type: 'julabo', link: 'tcp://127.0.0.1:1', overview: Array.from({ length: 9 }, (_, i) => `p${i}`) }] }).success).toBe(false);
  });
});

describe('the value an alarm watches', () => {
  it('is client and parameter, a dotted parameter kept whole', () => {
    const engine = new AlarmEngine([
      { id: 'hot', type: 'threshold', param: 'cryo.chA.temperature', above: 300 },
      { id: 'off', type: 'disconnected', client: 'cryo' },
    ], 0);
    const [hot, off] = engine.states();
    expect(hot!.watches).toEqual({ client: 'cryo', param: 'chA.temperature' });
    expect(off!).not.toHaveProperty('watches');
  });
});
