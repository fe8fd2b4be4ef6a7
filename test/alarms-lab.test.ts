/**
 * A deviation alarm end to end: the real Julabo simulator (sped up) behind a real daemon, the
 * monitor with a SQLite archive, a webhook on a local HTTP server, and a script on the monitor's
 * port. The setpoint goes far from the bath temperature: the alarm raises after its delay, is
 * acknowledged over the protocol, and clears with hysteresis when the bath arrives; every
 * transition is in the archive's alarm history, the message log and the webhook's inbox.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteArchive } from '../src/archive/sqlite.js';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import type { AlarmState, AlarmTransition } from '../src/monitor/alarms.js';
import { startMonitor } from '../src/monitor/monitor.js';
import { silentLogger } from '../src/util/logger.js';
import { parseLine } from '../src/wire/tokenize.js';
import { startHookRecorder } from './helpers/hook-recorder.js';
import { eventually, startJulaboLab } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('alarms in a real lab', () => {
  it('deviation alarm: raised after its delay, acknowledged over the protocol, cleared with hysteresis, all archived', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-alarm-lab-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const archive = await openSqliteArchive(path.join(dir, 'archive.sqlite'));
    cleanups.push(() => archive.close());

    const hook = await startHookRecorder();
    cleanups.push(() => hook.close());
    const hooked = hook.transitions;

    // Sped up 100×: the bath heats by about 0.9 °C per real second.
    const julabo = await startJulaboLab({ initialTemperature: 20, setpoint: 20, running: true, timeScale: 100 });
    cleanups.push(() => julabo.close());
    const m = await startMonitor({
      peers: [{ name: 'chiller', host: '127.0.0.1', port: julabo.port }],
      archive,
      listen: { host: '127.0.0.1', port: 0 },
      alarms: [
        {
          id: 'chiller_deviation',
          type: 'deviation',
          param: 'chiller.temperature',
          reference: 'chiller.setpoint',
          maxDeviation: 2,
          hysteresis: 0.5,
          delayMs: 500,
          severity: 'critical',
          activeWhen: 'chiller.running=1',
        },
      ],
      alarmHooks: [{ type: 'webhook', url: hook.url }],
      logger: silentLogger(),
    });
    cleanups.push(() => m.close());
    const transitions: AlarmTransition[] = [];
    m.on('alarm', (_state: AlarmState, tr: AlarmTransition) => transitions.push(tr));
    await eventually(() => {
      expect(m.peer('chiller')!.values.running).toBe(true);
      expect(m.peer('chiller')!.values.setpoint).toBe(20);
      expect(typeof m.peer('chiller')!.values.temperature).toBe('number');
    }, 10_000);
    expect(m.alarms()).toMatchObject([{ id: 'chiller_deviation', state: 'ok', clients: ['chiller'] }]);

    const c = await RawClient.connect(m.port);
    cleanups.push(() => c.close());
    c.write('id name=alice type=script\n');
    expect(await c.request('alarms')).toBe('ok alarms n=0 ids= states= severities= since= acknowledged_by=');
    expect(await c.request('send chiller set setpoint=25')).toBe('ok set setpoint=25');

    // Pending first, raised after the delay.
    await eventually(() => expect(m.alarms()[0]!.state).toBe('raised'), 5000);
    const pending = transitions.find((t) => t.to === 'pending')!;
    const raised = transitions.find((t) => t.to === 'raised')!;
    expect(raised.t - pending.t).toBeGreaterThanOrEqual(500);
    expect(raised.value!).toBeLessThan(-2);

    const listed = parseLine(await c.request('alarms')).kwargs;
    expect(listed).toMatchObject({ n: '1', ids: 'chiller_deviation', states: 'raised', severities: 'critical', acknowledged_by: '-' });
    const ack = parseLine(await c.request('ack chiller_deviation'));
    expect(ack.kwargs).toMatchObject({ id: 'chiller_deviation', by: 'alice' });
    expect(Math.abs(Number(ack.kwargs.at) - Date.now())).toBeLessThan(30_000);
    expect(m.alarms()[0]).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice' });
    expect(await c.request('ack chiller_deviation')).toMatch(/^error ack code=ProtocolError message="alarm \\"chiller_deviation\\" was already acknowledged by alice/);
    expect(await c.request('ack nope')).toBe('error ack code=NoSuchParameter message="no alarm \\"nope\\"; alarms: chiller_deviation"');
    expect(parseLine(await c.request('alarms')).kwargs).toMatchObject({ n: '1', states: 'acknowledged', acknowledged_by: 'alice' });

    // The bath arrives: the alarm clears only once within maxDeviation − hysteresis.
    await eventually(() => expect(m.alarms()[0]!.state).toBe('cleared'), 15_000);
    const cleared = transitions.find((t) => t.to === 'cleared')!;
    expect(Math.abs(cleared.value!)).toBeLessThanOrEqual(1.5);
    expect(transitions.map((t) => t.to)).toEqual(['pending', 'raised', 'acknowledged', 'cleared']);
    expect(parseLine(await c.request('alarms')).kwargs.n).toBe('0');

    await eventually(async () => {
      const history = await archive.alarmHistory({ id: 'chiller_deviation' });
      expect(history.map((e) => [e.from, e.to]).reverse()).toEqual([
        ['pending', 'raised'],
        ['raised', 'acknowledged'],
        ['acknowledged', 'cleared'],
      ]);
      expect(history[1]).toMatchObject({ who: 'alice', severity: 'critical' });
    });
    expect(m.recentMessages().filter((e) => e.source === 'alarms' && e.level !== 'debug').map((e) => `${e.level} ${e.message.split(':')[0]}`)).toEqual([
      'error alarm chiller_deviation raised',
      'info alarm chiller_deviation acknowledged',
      'success alarm chiller_deviation cleared',
    ]);
    await eventually(() => expect(hooked).toEqual(['raised', 'acknowledged', 'cleared']));
  }, 30_000);

  it('startLab wires the lab config’s alarms into the monitor and the archive', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-alarm-up-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const config = parseLabConfig(
      [
        'simulators:',
        '  - { name: bath-sim, type: julabo, options: { setpoint: 20 } }',
        'daemons:',
        '  - { name: bath, type: julabo, link: "sim:bath-sim" }',
        'alarms:',
        '  - { id: setpoint_high, type: threshold, param: bath.setpoint, above: 30, hysteresis: 1, severity: info }',
        '  - { id: bath_down, type: disconnected, client: bath, delay: 1m }',
        'monitor: { listen: "127.0.0.1:0", web: "127.0.0.1:0" }',
        '',
      ].join('\n'),
      path.join(dir, 'lab.yaml'),
      dir,
    );
    const lab = await startLab(config, silentLogger());
    cleanups.push(() => lab.close());
    await eventually(() => expect(lab.monitor.peer('bath')!.values.setpoint).toBe(20), 10_000);
    expect(lab.monitor.alarms().map((a) => [a.id, a.state])).toEqual([
      ['setpoint_high', 'ok'],
      ['bath_down', 'ok'],
    ]);
    expect(await lab.monitor.send('bath', 'set setpoint=35', { who: 'test', peer: 'local' })).toBe('ok set setpoint=35');
    await eventually(() => expect(lab.monitor.alarms()[0]!.state).toBe('raised'));
    await eventually(async () => expect((await lab.archive!.alarmHistory!({ id: 'setpoint_high' })).map((e) => e.to)).toEqual(['raised']));
    expect(lab.monitor.recentMessages().map((e) => `${e.level} ${e.message}`)).toContain('info alarm setpoint_high raised: bath.setpoint above 30 (35)');
  }, 20_000);
});
