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
import { DEMO_ANONYMOUS_ROLE, demoLabConfig } from '../src/cli/demo-lab.js';
import type { LabConfig } from '../src/config/lab.js';
import { startLab, type RunningLab } from '../src/lab/run.js';
import { RawClient } from '../src/testing/raw-client.js';
import { silentLogger } from '../src/util/logger.js';
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
  it('raises julabo_hot within seconds of the README\'s set setpoint=38', async () => {
    const julabo = await connect(demo.daemons[0]!.daemon.port);
    await eventually(async () => expect(kv(await julabo.request('get_status')).hw_connected).toBe('1'), 15_000);
    expect(await julabo.request('start')).toMatch(/^ok start/);
    expect(await julabo.request('set setpoint=38')).toBe('ok set setpoint=38');
    const setAt = Date.now();
    // A generous bound for a loaded machine; by design it is about 10 s (30 × the demo's pace).
    await eventually(() => expect(demo.monitor.alarms().find((a) => a.id === 'julabo_hot')?.state).toBe('raised'), 60_000, 200);
    const took = Date.now() - setAt;
    expect(took).toBeLessThan(60_000);
    expect(await julabo.request('set setpoint=20')).toBe('ok set setpoint=20');
  }, 90_000);

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
