/**
 * A manual `set` of the parameter a running programme drives (issue 15, defect 3): it used to be
 * accepted and silently undone at the programme's next point. It is refused with IsBusy naming the
 * programme and how to proceed, directly on the daemon's TCP port and through the monitor and the
 * web API alike; after `programme_pause` the set goes through.
 * Real chain: Julabo simulator → daemon → monitor → web, all on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTokenFile } from '../src/server/index.js';
import { RawClient } from '../src/testing/raw-client.js';
import { startWebLab, type WebLab } from '../src/web/test-helpers/web-lab.js';
import { quote } from '../src/wire/format.js';
import { eventually, kv } from './helpers/julabo-lab.js';

const OPERATOR = 'oper-token-0123456789';
let lab: WebLab;
let client: RawClient;

async function webCommand(line: string): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const res = await fetch(`${lab.web.url}api/devices/chiller/command`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
    body: JSON.stringify({ line }),
  });
  return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
}

beforeAll(async () => {
  lab = await startWebLab({
    sim: { running: true, setpoint: 20, initialTemperature: 20, timeScale: 300 },
    chillerOptions: { settleSeconds: 0.3, tolerance: 0.3 },
    programme: { tickMs: 50, minStep: 0.05 },
    web: { tokens: parseTokenFile(`operator ${OPERATOR} otto\n`, 'test') },
  });
  client = await RawClient.connect(lab.daemon.port);
  await eventually(() => expect(lab.monitor.peer('chiller')?.connected).toBe(true), 10_000);
  await eventually(async () => expect(kv(await client.request('get_status')).hw_connected).toBe('1'), 10_000);
}, 30_000);

afterAll(async () => {
  client?.close();
  await lab?.close();
});

describe('a manual set while a programme runs', () => {
  it('is refused with IsBusy naming the programme, on the daemon and through monitor and web; allowed once paused', async () => {
    // Seven points over 70 minutes: the programme is surely still in its first ramps while we try.
    const csv = 'elapsed_minutes,value\n0,20\n10,21\n20,22\n30,23\n40,22\n50,21\n70,20\n';
    const loaded = await client.request(`programme_load param=setpoint name=cycle.csv format=csv data=${quote(csv)}`);
    expect(loaded).toMatch(/^ok programme_load param=setpoint points=7 /);
    expect(await client.request('programme_start')).toBe('ok programme_start state=running');
    expect(kv(await client.request('programme_status'))).toMatchObject({ state: 'running', name: 'cycle.csv' });

    const direct = await client.request('set setpoint=30');
    expect(direct).toMatch(/^error set code=IsBusy message=/);
    expect(direct).toContain('setpoint is driven by programme cycle.csv (point 2 of 7)');
    expect(direct).toContain('programme_pause or programme_stop it first');
    // Nothing was written: the device still has the programme's value, not 30.
    expect(lab.sim.setpoint).not.toBe(30);

    // Through the monitor's forwarding, as the web API does it: the daemon's error reaches the client.
    const web = await webCommand('set setpoint=30');
    expect(web.status).toBe(409);
    expect(web.body.code).toBe('IsBusy');
    expect(web.body.message).toContain('driven by programme cycle.csv');

    expect(await client.request('programme_pause')).toBe('ok programme_pause state=paused');
    expect(await client.request('set setpoint=30')).toBe('ok set setpoint=30');
    expect(lab.sim.setpoint).toBe(30);
    // Paused, the programme writes nothing: the runner says so, and the manual value stays (its
    // ramp moves 0.1 °C a minute, so a sleep here would prove nothing either way).
    expect(kv(await client.request('programme_status'))).toMatchObject({ state: 'paused' });
    expect(lab.sim.setpoint).toBe(30);
    expect(await client.request('programme_stop')).toBe('ok programme_stop state=stopped');
  }, 30_000);
});
