/**
 * The monitor with the real SQLite archive: what a person later finds in the history, the message
 * log and the audit trail after a day of the lab — a command, a killed and restarted daemon (the
 * gap), a CCDLab peer, script messages — and an archive that fails under a running monitor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openArchive, type Archive } from '../src/archive/index.js';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { CcdlabPeer } from '../src/monitor/test-helpers/ccdlab-peer.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(): Promise<{ julabo: JulaboLab; gauge: CcdlabPeer; archive: Archive; m: Monitor; file: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-monitor-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'archive.sqlite');
  const archive = await openArchive({ kind: 'sqlite', path: file });
  cleanups.push(() => archive.close());
  const julabo = await startJulaboLab({ initialTemperature: 20, setpoint: 20 });
  cleanups.push(() => julabo.close());
  const gauge = new CcdlabPeer('pfeiffer', { hw_connected: 1, status: 0, pressure: 3.42041 });
  await gauge.start();
  cleanups.push(() => gauge.stop());
  const m = await startMonitor({
    peers: [
      { name: 'chiller', host: '127.0.0.1', port: julabo.port },
      { name: 'pfeiffer', protocol: 'ccdlab', host: '127.0.0.1', port: gauge.port, archive: { pressure: { heartbeatMs: 500 } } },
    ],
    archive,
    listen: { host: '127.0.0.1', port: 0 },
    logger: silentLogger(),
  });
  cleanups.push(() => m.close());
  await eventually(() => {
    expect(m.peer('chiller')!.connected).toBe(true);
    expect(m.peer('chiller')!.values.setpoint).toBe(20);
    expect(typeof m.peer('chiller')!.values.temperature).toBe('number');
    expect(m.peer('pfeiffer')!.connected).toBe(true);
  }, 10_000);
  return { julabo, gauge, archive, m, file };
}

describe('monitor + SQLite archive', () => {
  it('holds the command, the gap of a killed daemon, the CCDLab peer and the messages', async () => {
    const { julabo, archive, m } = await setup();
    const start = Date.now() - 60_000;
    const c = await RawClient.connect(m.port);
    cleanups.push(() => c.close());
    c.write('id name=cooldown type=script\n');
    expect(await c.request('send chiller set setpoint=12')).toBe('ok set setpoint=12');
    expect(await c.request('info cool-down started')).toBe('ok info');

    // Kill the daemon, then bring it back on the same port.
    const killedAt = Date.now();
    await julabo.daemon.close();
    await eventually(() => expect(m.peer('chiller')!.connected).toBe(false), 2000, 10);
    expect(Date.now() - killedAt).toBeLessThan(2000);
    const again = await julabo.startAgain();
    cleanups.push(() => again.close());
    await eventually(() => {
      expect(m.peer('chiller')!.connected).toBe(true);
      expect(m.peer('chiller')!.values.setpoint).toBe(12);
    }, 10_000);
    await new Promise((r) => setTimeout(r, 1100));
    await archive.flush();
    const end = Date.now() + 1000;

    // The gap: a null point between the values before the kill and those after the restart.
    const sp = await archive.history('chiller', 'setpoint', start, end, 1000);
    expect(sp.source).toBe('raw');
    expect(sp.unit).toBe('°C');
    const values = sp.points.map((p) => p.v);
    const gapAt = sp.points.findIndex((p) => p.v === null && p.t >= killedAt);
    expect(gapAt).toBeGreaterThan(0);
    expect(values.slice(0, gapAt).filter((v) => v !== null)).toEqual([20, 12]);
    expect(values.slice(gapAt + 1)).toContain(12);
    expect(sp.points[gapAt]!.t - killedAt).toBeLessThan(2000);

    // The CCDLab peer: polled and archived, and a constant value still gets heartbeat rows.
    const pressure = await archive.history('pfeiffer', 'pressure', start, end, 1000);
    expect(pressure.points.length).toBeGreaterThanOrEqual(3);
    expect(new Set(pressure.points.map((p) => p.v))).toEqual(new Set([3.42041]));

    // Text series come out as text.
    const state = await archive.history('chiller', 'state', start, end, 1000);
    expect(state.type).toBe('text');

    const audit = await archive.auditTrail({ device: 'chiller' });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ who: 'cooldown', device: 'chiller', command: 'set setpoint=12', before: { setpoint: 20 }, after: { setpoint: 12 }, result: 'ok set setpoint=12' });

    const log = (await archive.messages({ from: start, limit: 1000 })).reverse().map((e) => `${e.source}|${e.level}|${e.message}`);
    expect(log).toEqual(expect.arrayContaining([
      'chiller|info|chiller connected',
      'pfeiffer|info|pfeiffer connected',
      'cooldown|info|send chiller set setpoint=12 → ok set setpoint=12',
      'cooldown|info|cool-down started',
      'chiller|warning|chiller disconnected',
    ]));
    expect(log.filter((x) => x === 'chiller|info|chiller connected')).toHaveLength(2);
    const series = (await archive.listSeries()).map((s) => `${s.device}.${s.name}`);
    expect(series).toEqual(expect.arrayContaining(['chiller.temperature', 'chiller.setpoint', 'chiller.hw_connected', 'pfeiffer.pressure']));
  });

  it('an archive that fails under a running monitor costs no live data: one message, values keep coming', async () => {
    const { julabo, archive, m } = await setup();
    await archive.close();
    expect(await m.send('chiller', 'set setpoint=15', { who: 'tester', peer: 'test' })).toBe('ok set setpoint=15');
    await eventually(() => expect(m.peer('chiller')!.values.setpoint).toBe(15));
    expect(julabo.sim.setpoint).toBe(15);
    await eventually(() => expect(m.recentMessages().filter((e) => e.message.startsWith('archive:'))).toHaveLength(1));
    expect(m.recentMessages().find((e) => e.message.startsWith('archive:'))).toMatchObject({ source: 'monitor', level: 'error' });
    await m.send('chiller', 'set setpoint=16', { who: 'tester', peer: 'test' });
    await eventually(() => expect(m.peer('chiller')!.values.setpoint).toBe(16));
    await new Promise((r) => setTimeout(r, 100));
    expect(m.recentMessages().filter((e) => e.message.startsWith('archive:'))).toHaveLength(1);
    const c = await RawClient.connect(m.port);
    cleanups.push(() => c.close());
    expect(await c.request('get_status')).toMatch(/ chiller\.setpoint=16 /);
    await m.close();
  });
});
