/**
 * The lab config's `alarms:` and `alarmHooks:` sections, and the SQLite archive's alarm history.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteArchive } from '../src/archive/sqlite.js';
import { alarmHookOptions, alarmOptions, parseLabConfig } from '../src/config/lab.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const base = `
simulators:
  - { name: bath, type: julabo }
daemons:
  - { name: chiller, type: julabo, link: "sim:bath" }
peers:
  - { name: gauge, host: 127.0.0.1, port: 7010, protocol: ccdlab }
`;

const parse = (text: string): ReturnType<typeof parseLabConfig> => parseLabConfig(base + text, 'lab.yaml', '/tmp');

describe('lab config: alarms', () => {
  it('reads every alarm type and converts durations for the monitor', () => {
    const lab = parse(`
alarms:
  - id: chiller_deviation
    type: deviation
    param: chiller.temperature
    reference: chiller.setpoint
    maxDeviation: 2
    hysteresis: 0.5
    delay: 2m
    clearDelay: 30s
    severity: critical
    activeWhen: chiller.running=1
  - { id: hot, type: threshold, param: chiller.temperature, above: 35 }
  - { id: fast, type: rate, param: chiller.temperature, maxRatePerMinute: 2, window: 5m }
  - { id: gauge_down, type: disconnected, client: gauge, delay: 10s }
  - { id: chiller_error, type: state_error, client: chiller }
alarmHooks:
  - { type: alertmanager, url: "http://127.0.0.1:9093", timeout: 2s, retries: 3, backoff: 1s, maxBackoff: 1m }
  - { type: webhook, url: "https://example.org/hook", minSeverity: critical, headers: { Authorization: "Bearer \${ALARM_TOKEN_FOR_TEST}" } }
`);
    expect(alarmOptions(lab)).toEqual([
      { id: 'chiller_deviation', type: 'deviation', severity: 'critical', param: 'chiller.temperature', reference: 'chiller.setpoint', maxDeviation: 2, hysteresis: 0.5, delayMs: 120_000, clearDelayMs: 30_000, activeWhen: 'chiller.running=1' },
      { id: 'hot', type: 'threshold', severity: 'warning', param: 'chiller.temperature', above: 35 },
      { id: 'fast', type: 'rate', severity: 'warning', param: 'chiller.temperature', maxRatePerMinute: 2, rateWindowMs: 300_000 },
      { id: 'gauge_down', type: 'disconnected', severity: 'warning', client: 'gauge', delayMs: 10_000 },
      { id: 'chiller_error', type: 'state_error', severity: 'warning', client: 'chiller' },
    ]);
    process.env.ALARM_TOKEN_FOR_TEST = 's3cret';
    try {
      expect(alarmHookOptions(lab)).toEqual([
        { type: 'alertmanager', url: 'http://127.0.0.1:9093', timeoutMs: 2000, retries: 3, backoffMs: 1000, maxBackoffMs: 60_000 },
        { type: 'webhook', url: 'https://example.org/hook', minSeverity: 'critical', headers: { Authorization: 'Bearer s3cret' } },
      ]);
    } finally {
      delete process.env.ALARM_TOKEN_FOR_TEST;
    }
  });

  it('no alarms section: none', () => {
    expect(parse('').alarms).toEqual([]);
  });

  const bad: Array<[string, RegExp]> = [
    ['alarms:\n  - { id: x, type: deviation, param: oven.temperature, reference: chiller.setpoint, maxDeviation: 1 }\n', /param "oven\.temperature" names the client "oven", which is not a configured daemon or peer; clients: chiller, gauge/],
    ['alarms:\n  - { id: x, type: threshold, param: chiller.temperature }\n', /a threshold alarm needs above, below or both/],
    ['alarms:\n  - { id: x, type: threshold, param: temperature, above: 3 }\n', /expected <client>\.<param>, e.g\. chiller\.temperature/],
    ['alarms:\n  - { id: x, type: flood, client: chiller }\n', /expected type threshold, deviation, rate, disconnected or state_error/],
    ['alarms:\n  - { id: x, type: disconnected, client: chiller, colour: red }\n', /colour/],
    ['alarms:\n  - { id: x, type: state_error, client: chiller }\n  - { id: x, type: state_error, client: gauge }\n', /the alarm id "x" is used twice/],
    ['alarms:\n  - { id: x, type: state_error, client: chiller, activeWhen: "running=1" }\n', /activeWhen names "running"; write <client>\.<param>/],
    ['alarms:\n  - { id: x, type: state_error, client: chiller, activeWhen: "chiller.running=" }\n', /has no value after '='/],
    ['alarms:\n  - { id: x, type: state_error, client: chiller, delay: soon }\n', /duration/],
    ['alarmHooks:\n  - { type: webhook, url: "not a url" }\n', /expected an http\(s\) URL/],
  ];
  for (const [text, message] of bad) {
    it(`refuses with a file:line message: ${message.source.slice(0, 50)}`, () => {
      expect(() => parse(text)).toThrow(message);
      expect(() => parse(text)).toThrow(/^lab\.yaml: (\d+ problems:\n {2})?\d+:\d+: /);
    });
  }
});

describe('sqlite archive: alarm history', () => {
  it('stores transitions, queries them newest first by id and time, and survives re-opening', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-alarms-'));
    dirs.push(dir);
    const file = path.join(dir, 'a.sqlite');
    const a = await openSqliteArchive(file);
    await a.alarm({ t: 1000, id: 'dev', from: 'pending', to: 'raised', severity: 'critical', message: 'deviates', value: -10 });
    await a.alarm({ t: 2000, id: 'dev', from: 'raised', to: 'acknowledged', severity: 'critical', message: 'ack', value: -9, who: 'alice' });
    await a.alarm({ t: 2500, id: 'other', from: 'pending', to: 'raised', severity: 'info', message: 'x', value: null });
    await a.alarm({ t: 3000, id: 'dev', from: 'acknowledged', to: 'cleared', severity: 'critical', message: 'ok', value: Number.NaN });
    expect((await a.alarmHistory({ id: 'dev' })).map((e) => e.to)).toEqual(['cleared', 'acknowledged', 'raised']);
    expect(await a.alarmHistory({ from: 1500, to: 2600 })).toEqual([
      { t: 2500, id: 'other', from: 'pending', to: 'raised', severity: 'info', message: 'x', value: null },
      { t: 2000, id: 'dev', from: 'raised', to: 'acknowledged', severity: 'critical', message: 'ack', value: -9, who: 'alice' },
    ]);
    expect((await a.alarmHistory({ limit: 1 }))[0]).toMatchObject({ t: 3000, value: null });
    await expect(a.alarmHistory({ from: 5, to: 1 })).rejects.toThrow();
    await a.close();
    // Idempotent table creation: opening again keeps the history; a read-only open reads it.
    const again = await openSqliteArchive(file);
    expect(await again.alarmHistory({})).toHaveLength(4);
    await again.close();
    const ro = await openSqliteArchive(file, { readonly: true });
    expect(await ro.alarmHistory({ id: 'other' })).toHaveLength(1);
    await ro.close();
  });
});
