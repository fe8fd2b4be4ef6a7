/**
 * Alarm states across a monitor restart: a threshold alarm on the real Julabo simulator behind a
 * real daemon is raised and acknowledged, the monitor stops, and a new monitor on the same SQLite
 * archive file starts with the alarm acknowledged by the same person — without raising it again,
 * writing a new `raised` row or telling the webhook — and clears it the usual way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteArchive } from '../src/archive/sqlite.js';
import type { AlarmEntry, AlarmHistoryQuery } from '../src/archive/types.js';
import type { AlarmConfig, AlarmState, AlarmTransition } from '../src/monitor/alarms.js';
import { startMonitor, type Monitor, type MonitorOptions } from '../src/monitor/monitor.js';
import { MemoryArchive } from '../src/monitor/test-helpers/memory-archive.js';
import { silentLogger } from '../src/util/logger.js';
import { startHookRecorder } from './helpers/hook-recorder.js';
import { eventually, startJulaboLab } from './helpers/julabo-lab.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const actor = { who: 'alice', peer: 'test' };

/** Long enough that "at once after the restart" and "after the delay" are clearly apart. */
const DELAY_MS = 1500;
const setpointHigh: AlarmConfig = { id: 'setpoint_high', type: 'threshold', param: 'chiller.setpoint', above: 30, hysteresis: 1, delayMs: DELAY_MS, severity: 'critical' };

describe('alarm states survive a monitor restart', () => {
  it('raised and acknowledged, monitor restarted on the same archive file: acknowledged by alice at once, no new raised, then cleared', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-alarm-restart-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'archive.sqlite');

    const hook = await startHookRecorder();
    cleanups.push(() => hook.close());
    const hooked = hook.transitions;

    const julabo = await startJulaboLab({ initialTemperature: 20, setpoint: 20, running: true });
    cleanups.push(() => julabo.close());
    const options = (archive: MonitorOptions['archive']): MonitorOptions => ({
      peers: [{ name: 'chiller', host: '127.0.0.1', port: julabo.port }],
      archive,
      listen: { host: '127.0.0.1', port: 0 },
      alarms: [setpointHigh],
      alarmHooks: [{ type: 'webhook', url: hook.url }],
      logger: silentLogger(),
    });

    // First run: raise and acknowledge.
    const first = await openSqliteArchive(file);
    let firstClosed = false;
    cleanups.push(() => (firstClosed ? undefined : first.close()));
    const m1 = await startMonitor(options(first));
    let m1Closed = false;
    cleanups.push(() => (m1Closed ? undefined : m1.close()));
    await eventually(() => expect(m1.peer('chiller')!.values.setpoint).toBe(20), 10_000);
    expect(await m1.send('chiller', 'set setpoint=35', actor)).toBe('ok set setpoint=35');
    await eventually(() => expect(m1.alarms()[0]!.state).toBe('raised'), DELAY_MS + 5000);
    const acked = m1.acknowledge('setpoint_high', actor);
    expect(acked).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice' });
    await eventually(() => expect(hooked).toEqual(['raised', 'acknowledged']));
    await m1.close();
    m1Closed = true;
    await first.close();
    firstClosed = true;

    // Second run on the same file.
    const second = await openSqliteArchive(file);
    cleanups.push(() => second.close());
    expect((await second.alarmHistory({ id: 'setpoint_high' })).map((e) => e.to)).toEqual(['acknowledged', 'raised']);
    const m2 = await startMonitor(options(second));
    cleanups.push(() => m2.close());
    const transitions: AlarmTransition[] = [];
    m2.on('alarm', (_state: AlarmState, tr: AlarmTransition) => transitions.push(tr));
    // At once, long before the delay could have raised it anew.
    expect(m2.alarms()[0]).toMatchObject({ id: 'setpoint_high', state: 'acknowledged', acknowledgedBy: 'alice', acknowledgedAt: acked.acknowledgedAt, raisedAt: acked.raisedAt });
    const restoredNote = m2.recentMessages().find((e) => e.message.startsWith('alarm setpoint_high restored'));
    expect(restoredNote).toMatchObject({ source: 'alarms', level: 'info' });
    expect(restoredNote!.message).toMatch(/^alarm setpoint_high restored as acknowledged \(by alice at \S+Z, raised at \S+Z\) after a monitor restart$/);

    // The fault still holds; past the delay nothing moves.
    await eventually(() => expect(m2.peer('chiller')!.values.setpoint).toBe(35), 10_000);
    await sleep(DELAY_MS + 300);
    expect(m2.alarms()[0]).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice', value: 35 });
    expect(transitions).toEqual([]);
    expect((await second.alarmHistory({ id: 'setpoint_high' })).map((e) => e.to)).toEqual(['acknowledged', 'raised']);
    expect(hooked).toEqual(['raised', 'acknowledged']);

    // The value comes back below above − hysteresis: cleared through the normal path.
    expect(await m2.send('chiller', 'set setpoint=20', actor)).toBe('ok set setpoint=20');
    await eventually(() => expect(m2.alarms()[0]!.state).toBe('cleared'), 5000);
    expect(transitions.map((t) => [t.from, t.to])).toEqual([['acknowledged', 'cleared']]);
    expect(transitions[0]!.state).toMatchObject({ acknowledgedBy: 'alice', raisedAt: acked.raisedAt });
    const history = await second.alarmHistory({ id: 'setpoint_high' });
    expect(history.map((e) => [e.from, e.to])).toEqual([
      ['acknowledged', 'cleared'],
      ['raised', 'acknowledged'],
      ['pending', 'raised'],
    ]);
    await eventually(() => expect(hooked).toEqual(['raised', 'acknowledged', 'cleared']));
  }, 40_000);
});

describe('restoring alarm states from the archive (no peers reachable)', () => {
  /** Alarms read a disabled client: the monitor needs no connection to restore them. */
  async function monitorOn(archive: MemoryArchive, alarms: AlarmConfig[]): Promise<Monitor> {
    const m = await startMonitor({ peers: [{ name: 'chiller', host: '127.0.0.1', port: 1, enabled: false }], archive, listen: false, alarms, logger: silentLogger() });
    cleanups.push(() => m.close());
    return m;
  }
  const entry = (t: number, id: string, from: string, to: string, who?: string): AlarmEntry => ({ t, id, from, to, severity: 'warning', message: `${id} ${to}`, value: null, ...(who ? { who } : {}) });

  it('restores raised and acknowledged, not cleared ones, ignores ids no longer configured, reads a bounded number of rows', async () => {
    const archive = new MemoryArchive();
    archive.alarms.push(
      entry(1000, 'a', 'pending', 'raised'),
      entry(1100, 'b', 'pending', 'raised'),
      entry(1200, 'b', 'raised', 'acknowledged', 'bob'),
      entry(1300, 'c', 'pending', 'raised'),
      entry(1400, 'c', 'raised', 'cleared'),
      entry(1500, 'gone', 'pending', 'raised'),
    );
    const queries: AlarmHistoryQuery[] = [];
    const read = archive.alarmHistory.bind(archive);
    archive.alarmHistory = (q) => {
      queries.push(q);
      return read(q);
    };
    const def = (id: string): AlarmConfig => ({ id, type: 'threshold', param: 'chiller.temperature', above: 30 });
    const m = await monitorOn(archive, [def('a'), def('b'), def('c')]);
    expect(m.alarms().map((a) => [a.id, a.state, a.raisedAt, a.acknowledgedBy])).toEqual([
      ['a', 'raised', 1000, undefined],
      ['b', 'acknowledged', 1100, 'bob'],
      ['c', 'ok', undefined, undefined],
    ]);
    expect(queries.every((q) => q.id !== undefined && q.limit !== undefined && q.limit <= 10)).toBe(true);
    expect(queries.map((q) => q.id)).toEqual(['a', 'b', 'c']);
    expect(m.recentMessages().filter((e) => e.source === 'alarms').map((e) => e.message.replace(/\(.*\)/, '(…)'))).toEqual([
      'alarm a restored as raised (…) after a monitor restart',
      'alarm b restored as acknowledged (…) after a monitor restart',
    ]);
    // Restoring wrote nothing: no state changed.
    expect(archive.alarms).toHaveLength(6);
  });

  it('an archive that cannot be read is logged and the monitor starts with every alarm ok', async () => {
    const archive = new MemoryArchive();
    archive.alarms.push(entry(1000, 'a', 'pending', 'raised'));
    archive.alarmHistory = () => Promise.reject(new Error('database disk image is malformed'));
    const m = await monitorOn(archive, [{ id: 'a', type: 'threshold', param: 'chiller.temperature', above: 30 }]);
    expect(m.alarms()[0]!.state).toBe('ok');
    expect(m.recentMessages()).toContainEqual(
      expect.objectContaining({ level: 'warning', message: "alarm states not restored after the restart: cannot read the archive's alarm history: database disk image is malformed" }),
    );
  });
});
