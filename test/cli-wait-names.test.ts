/**
 * `labwire wait` with a misspelt name (issue 15, defect 12): it used to wait out the whole
 * --timeout (30 min by default) and exit 1. The real CLI, against a real daemon (Julabo simulator)
 * and a real monitor on loopback, now exits 2 at once with a suggestion from the device's describe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { silentLogger } from '../src/util/logger.js';
import { assertBuilt, runCli } from './helpers/cli.js';
import { eventually, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';

let lab: JulaboLab;
let monitor: Monitor;
let daemonAddr: string;
let monitorAddr: string;

beforeAll(async () => {
  assertBuilt();
  lab = await startJulaboLab({}, { name: 'julabo' });
  daemonAddr = `127.0.0.1:${lab.port}`;
  monitor = await startMonitor({ peers: [{ name: 'julabo', host: '127.0.0.1', port: lab.port }], listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
  monitorAddr = `127.0.0.1:${monitor.port}`;
  await eventually(() => expect(monitor.peer('julabo')?.connected).toBe(true), 15_000);
}, 30_000);

afterAll(async () => {
  await monitor?.close();
  await lab?.close();
});

describe('labwire wait checks the names of its condition', () => {
  it('an unknown parameter of a daemon: exit 2 at once with the closest name', async () => {
    // The default --timeout is 30 minutes; the run's own bound is 20 s.
    const r = await runCli(['wait', daemonAddr, 'temprature<0'], { timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('labwire: unknown parameter temprature of julabo; did you mean temperature? (condition temprature<0)\n');
    expect(r.stdout).toBe('');
  });

  it('through a monitor: device.param checked against that device\'s describe, and unknown devices', async () => {
    const param = await runCli(['wait', monitorAddr, 'julabo.temprature<0 and julabo.state=idle'], { timeoutMs: 20_000 });
    expect(param.code).toBe(2);
    expect(param.stderr).toContain('unknown parameter temprature of julabo; did you mean temperature?');
    const device = await runCli(['wait', monitorAddr, 'julbo.temperature<0'], { timeoutMs: 20_000 });
    expect(device.code).toBe(2);
    expect(device.stderr).toContain('unknown device julbo; did you mean julabo?');
  });

  it('known names still wait as before: met exits 0, not met in time exits 1', async () => {
    const met = await runCli(['wait', monitorAddr, 'julabo.hw_connected=1', '--timeout', '10s'], { timeoutMs: 20_000 });
    expect(met.stderr).toBe('');
    expect(met.code).toBe(0);
    const notMet = await runCli(['wait', daemonAddr, 'temperature<-99', '--timeout', '2s'], { timeoutMs: 20_000 });
    expect(notMet.code).toBe(1);
    expect(notMet.stderr).toMatch(/^not met: /);
  });
});
