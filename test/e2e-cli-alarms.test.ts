/**
 * `labwire alarms …` as a separate process against an in-process monitor with one threshold
 * alarm on a Julabo daemon's setpoint (simulator behind it): the table, acknowledging with a
 * token, and --watch printing every transition as it happens.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMonitor, type Monitor } from '../src/monitor/monitor.js';
import { silentLogger } from '../src/util/logger.js';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';
import { eventually, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import type { RawClient } from '../src/testing/raw-client.js';

const OPERATOR = 'otto-operator-token-0123';
const LOCAL_ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)/;

let lab: JulaboLab;
let chiller: RawClient;
let m: Monitor;
let addr = '';
let dir = '';
const procs: CliProcess[] = [];

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-cli-alarms-'));
  lab = await startJulaboLab({ timeScale: 600, initialTemperature: 20, setpoint: 20 });
  chiller = await lab.client();
  m = await startMonitor({
    peers: [{ name: 'chiller', host: '127.0.0.1', port: lab.port }],
    listen: { host: '127.0.0.1', port: 0 },
    tokens: [{ role: 'operator', token: OPERATOR, name: 'otto' }],
    anonymousRole: 'viewer',
    alarms: [{ id: 'setpoint_high', type: 'threshold', param: 'chiller.setpoint', above: 30, severity: 'warning' }],
    logger: silentLogger(),
  });
  addr = `127.0.0.1:${m.port}`;
  await eventually(() => expect(m.peer('chiller')!.values.setpoint).toBe(20), 10_000);
}, 20_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await m?.close();
  await lab?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('labwire alarms', () => {
  it('lists, acknowledges (who is the token name) and --watch prints raised, acknowledged and cleared', async () => {
    const empty = await runCli(['alarms', addr]);
    expect(empty).toMatchObject({ code: 0, stdout: 'no active alarms\n', stderr: '' });

    const watch = new CliProcess(['alarms', addr, '--watch']);
    procs.push(watch);
    await watch.waitFor(/^no active alarms$/m);

    expect(await chiller.request('set setpoint=35')).toBe('ok set setpoint=35');
    await eventually(() => expect(m.alarms()[0]!.state).toBe('raised'), 10_000);
    const raised = await watch.waitFor(new RegExp(`^(${LOCAL_ISO.source})  \\[warning\\] alarm setpoint_high raised: .*$`, 'm'));
    expect(Math.abs(Date.parse(raised[1]!) - Date.now())).toBeLessThan(30_000);

    const table = await runCli(['alarms', addr]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATE\s+SEVERITY\s+SINCE\s+ACKNOWLEDGED BY$/);
    expect(lines[1]).toMatch(new RegExp(`^setpoint_high\\s+raised\\s+warning\\s+${LOCAL_ISO.source}\\s+-$`));
    expect(lines).toHaveLength(2);
    const json = JSON.parse((await runCli(['alarms', addr, '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(json).toEqual([{ id: 'setpoint_high', state: 'raised', severity: 'warning', since: m.alarms()[0]!.raisedAt, acknowledgedBy: null }]);

    // Acknowledging needs the operator role: refused anonymously, done with the token.
    const refused = await runCli(['alarms', 'ack', addr, 'setpoint_high']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^labwire: Unauthorized: ack needs the operator role/);
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${OPERATOR}\n`);
    const acked = await runCli(['alarms', 'ack', addr, 'setpoint_high', '--token-file', tokenFile]);
    expect(acked.stderr).toBe('');
    expect(acked.code).toBe(0);
    expect(acked.stdout).toMatch(new RegExp(`^acknowledged setpoint_high by otto \\(cli\\) at ${LOCAL_ISO.source}\\n$`));
    expect(m.alarms()[0]).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'otto (cli)' });
    await watch.waitFor(/\[info\] alarm setpoint_high acknowledged: /);
    expect((await runCli(['alarms', addr])).stdout).toMatch(/^setpoint_high\s+acknowledged\s+warning\s+\S+\s+otto_\(cli\)$/m);

    const again = await runCli(['alarms', 'ack', addr, 'setpoint_high'], { env: { LABWIRE_TOKEN: OPERATOR } });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^labwire: ProtocolError: alarm "setpoint_high" was already acknowledged by otto \(cli\)/);
    const unknown = await runCli(['alarms', 'ack', addr, 'nope'], { env: { LABWIRE_TOKEN: OPERATOR } });
    expect(unknown).toMatchObject({ code: 2, stderr: 'labwire: NoSuchParameter: no alarm "nope"; alarms: setpoint_high\n' });

    expect(await chiller.request('set setpoint=20')).toBe('ok set setpoint=20');
    await watch.waitFor(/\[success\] alarm setpoint_high cleared: /, 10_000);
    expect((await runCli(['alarms', addr])).stdout).toBe('no active alarms\n');

    // The transitions in order, each once.
    const transitions = [...watch.stdout.matchAll(/alarm setpoint_high (\w+):/g)].map((x) => x[1]);
    expect(transitions).toEqual(['raised', 'acknowledged', 'cleared']);
    expect(await watch.stop()).toBe(0);
    expect(watch.stderr).toBe('');
  }, 60_000);
});
