/**
 * The demo's lab definition (`labwire demo`, issue 15): its Julabo part started in-process as
 * `labwire up` starts it, with real simulators, daemons, monitor and web on loopback.
 * - Defect 14: the README's alarm step (`start`, `set setpoint=38`) raises julabo_hot within
 *   seconds at the default --time-scale, not after three minutes.
 * - Defect 5: anonymous visitors of the demo are operators (set, commands, programmes) but not
 *   admins; and in a lab run by `up`/`demo`, `exit` on a daemon or the monitor is refused with a
 *   clear error instead of answering `ok exit` and staying up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ANONYMOUS_ROLE, DemoTimeScaleError, demoLabConfig } from '../src/cli/demo-lab.js';
import type { LabConfig } from '../src/config/lab.js';
import { startLab, type RunningLab } from '../src/lab/run.js';
import { RawClient } from '../src/testing/raw-client.js';
import { silentLogger } from '../src/util/logger.js';
import { assertBuilt, runCli } from './helpers/cli.js';
import { eventually, kv } from './helpers/julabo-lab.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-demo-lab-'));
const clients: RawClient[] = [];
const labs: RunningLab[] = [];

/** The demo as `labwire demo` builds it (default time scale), reduced to its chiller. */
function demoChiller(dir: string): LabConfig {
  const full = demoLabConfig({ basePort: 0, timeScale: 10, data: dir, web: 0, monitor: 0 });
  return {
    ...full,
    simulators: full.simulators.filter((s) => s.name === 'julabo-sim'),
    daemons: full.daemons.filter((d) => d.name === 'julabo'),
    alarms: full.alarms.filter((a) => a.id.startsWith('julabo')),
  };
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

let demo: RunningLab;

beforeAll(async () => {
  demo = await startLab(demoChiller(path.join(tmp, 'demo')), silentLogger());
  labs.push(demo);
}, 30_000);

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const l of labs.splice(0)) await l.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the demo lab', () => {
  it('runs the Julabo bath 30× the default time scale with a 2 s alarm delay, so julabo_hot trips within seconds', () => {
    // What makes the README's alarm step quick is the configuration, not a stopwatch: a bath
    // 10 × 30 times faster than real (12 → 35 °C in about 10 s instead of over half an hour)
    // and an alarm that waits 2 s above 35 °C.
    const config = demoLabConfig({ basePort: 0, timeScale: 10, data: path.join(tmp, 'config'), web: 0, monitor: 0 });
    expect(config.simulators.find((s) => s.name === 'julabo-sim')?.timeScale).toBe(10 * 30);
    const hot = config.alarms.find((a) => a.id === 'julabo_hot');
    expect(hot).toMatchObject({ type: 'threshold', param: 'julabo.temperature', above: 35 });
    expect(hot?.delay).toBe('2s');
    // The rest of the lab runs at the time scale given.
    expect(config.simulators.find((s) => s.name === 'cryocon-sim')?.timeScale).toBe(10);
  });

  it('raises julabo_hot after the README\'s set setpoint=38 (smoke test)', async () => {
    const julabo = await connect(demo.daemons[0]!.daemon.port);
    await eventually(async () => expect(kv(await julabo.request('get_status')).hw_connected).toBe('1'), 15_000);
    expect(await julabo.request('start')).toMatch(/^ok start/);
    expect(await julabo.request('set setpoint=38')).toBe('ok set setpoint=38');
    // About 10 s by design (see above); the deadline only bounds a loaded machine.
    await eventually(() => expect(demo.monitor.alarms().find((a) => a.id === 'julabo_hot')?.state).toBe('raised'), 90_000, 200);
    expect(await julabo.request('set setpoint=20')).toBe('ok set setpoint=20');
  }, 120_000);

  it('refuses a --time-scale whose Julabo simulator would exceed the simulators\' limit, saying the largest allowed', async () => {
    const at = (timeScale: number): LabConfig => demoLabConfig({ basePort: 0, timeScale, data: path.join(tmp, 'scale'), web: 0, monitor: 0 });
    expect(at(1e6 / 30).simulators.find((s) => s.name === 'julabo-sim')?.timeScale).toBeCloseTo(1e6);
    expect(() => at(40_000)).toThrow(DemoTimeScaleError);
    expect(() => at(40_000)).toThrow(/at most 33333/);
    assertBuilt();
    const r = await runCli(['demo', '--time-scale', '40000', '--data', path.join(tmp, 'too-fast')], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--time-scale 40000 is too large: at most 33333/);
  }, 40_000);

  it('gives anonymous visitors the operator role: they set and run programmes, but cannot exit', async () => {
    expect(DEMO_ANONYMOUS_ROLE).toBe('operator');
    const julabo = await connect(demo.daemons[0]!.daemon.port);
    expect(await julabo.request('programme_status')).toMatch(/^ok programme_status /);
    expect(await julabo.request('exit')).toMatch(/^error exit code=Unauthorized message=.*needs the admin role/);
    const monitor = await connect(demo.monitor.port);
    expect(await monitor.request('exit')).toMatch(/^error exit code=Unauthorized /);
    // The page's anonymous user is an operator too: its exit is refused, its set goes through.
    const post = (line: string): Promise<Response> =>
      fetch(`${demo.web.url}api/devices/julabo/command`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ line }) });
    expect((await post('exit')).status).toBe(403);
    expect((await post('set setpoint=21')).status).toBe(200);
    expect(await julabo.request('ping')).toBe('pong');
  });
});

describe('exit in a lab run by labwire up', () => {
  it('is refused on a daemon and on the monitor (also through send) with what to do instead; everything stays up', async () => {
    // As `labwire up` with a lab file that sets no roles: anonymous connections are admin.
    const config = demoChiller(path.join(tmp, 'up'));
    const lab = await startLab(
      { ...config, name: 'bench lab', daemons: config.daemons.map(({ anonymousRole: _r, ...d }) => d), monitor: { ...config.monitor, anonymousRole: undefined } },
      silentLogger(),
    );
    labs.push(lab);
    const julabo = await connect(lab.daemons[0]!.daemon.port);
    const refused = await julabo.request('exit');
    expect(refused).toMatch(/^error exit code=Disabled message=/);
    expect(refused).toContain('daemon \\"julabo\\" is part of the lab \\"bench lab\\"');
    expect(refused).toContain('stop the lab instead');
    expect(await julabo.request('ping')).toBe('pong');

    const monitor = await connect(lab.monitor.port);
    const viaMonitor = await monitor.request('exit');
    expect(viaMonitor).toMatch(/^error exit code=Disabled message=.*monitor .*stop the lab instead/);
    await eventually(async () => expect(await monitor.request('send julabo exit')).toMatch(/^error exit code=Disabled .*daemon \\"julabo\\"/), 15_000);
    expect(await monitor.request('ping')).toBe('pong');
    expect(await julabo.request('ping')).toBe('pong');
  }, 30_000);
});
