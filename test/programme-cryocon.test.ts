/**
 * A programme on another device family: a Cryo-con loop setpoint ramp with a hold until stable,
 * in a real daemon with the simulated controller behind it (3000× fast physics).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon/daemon.js';
import { cryoconFamily } from '../src/devices/cryocon/device.js';
import { CryoconSimulator } from '../src/devices/cryocon/simulator.js';
import { silentLogger } from '../src/util/logger.js';
import { quote } from '../src/wire/format.js';
import { eventually, kv } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

let sim: CryoconSimulator;
let daemon: Daemon;
let c: RawClient;

beforeAll(async () => {
  sim = new CryoconSimulator({ noise: 0, timeScale: 3000 });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  daemon = await startDaemon({
    definition: cryoconFamily.definition,
    options: { settleSeconds: 0.5 },
    link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
    name: 'cryo',
    port: 0,
    logger: silentLogger(),
    version: 'test',
    programme: { tickMs: 50, minStep: 0.1 },
  });
  c = await RawClient.connect(daemon.port);
  await eventually(async () => {
    const s = kv(await c.request('get_status'));
    expect(s.hw_connected).toBe('1');
    expect(s.state).not.toBe('busy');
  }, 10_000);
});

afterAll(async () => {
  c.close();
  await daemon.close();
  await sim.close();
});

it('ramps loop1.setpoint down, holds until input A is stable, then finishes the profile', async () => {
  const start = Number(kv(await c.request('get_status'))['loop1.setpoint']);
  const yaml = ['points:', `  - {minutes: 0, value: ${start}}`, '  - {minutes: 0.005, value: 280}', '  - hold: {until: stable}', '  - {minutes: 0.01, value: 275}', ''].join('\n');
  expect(await c.request(`programme_load param=loop1.setpoint format=yaml data=${quote(yaml)}`)).toMatch(/^ok programme_load param=loop1.setpoint points=3 holds=1 loops=1 duration_s=0.6 state=loaded$/);
  expect(await c.request('programme_start')).toBe('ok programme_start state=running');
  await eventually(async () => expect(kv(await c.request('programme_status'))).toMatchObject({ phase: 'hold', target: '280' }), 10_000, 20);
  const left = await eventually(async () => {
    const s = kv(await c.request('programme_status'));
    expect(s.phase).not.toBe('hold');
    return kv(await c.request('get_status'));
  }, 20_000, 20);
  // Leaving the hold means input A reached 280 K and held it for the settle time.
  expect(Math.abs(Number(left['loop1.temperature']) - 280)).toBeLessThan(0.5);
  await eventually(async () => expect(kv(await c.request('programme_status')).state).toBe('finished'), 10_000, 50);
  expect(Number(kv(await c.request('get_status'))['loop1.setpoint'])).toBe(275);
}, 30_000);
