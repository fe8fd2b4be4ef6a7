/**
 * The whole lab in one command, as real processes: `labwire demo` and `labwire up lab.yaml`
 * start simulators, daemons, the monitor, the archive and the web page; SIGTERM stops them
 * cleanly with every buffered sample flushed to the archive.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceFamilies } from '../src/devices/index.js';
import { DEMO_BENCH, DEMO_BUS } from '../src/cli/demo-lab.js';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';
import { eventually } from './helpers/julabo-lab.js';

const procs: CliProcess[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-lab-'));

beforeAll(() => assertBuilt());
afterAll(async () => {
  for (const p of procs) await p.stop();
});

interface Health {
  peers: Array<{ name: string; connected: boolean }>;
  archive: { pending: number; committed: number };
}

async function getJson<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

describe('labwire demo', () => {
  it('starts every family with a simulator, serves the page, takes a setpoint, and flushes the archive on SIGTERM', async () => {
    const data = path.join(tmp, 'demo');
    const demo = new CliProcess(['demo', '--port', '0', '--web', '0', '--monitor', '0', '--data', data, '--time-scale', '60']);
    procs.push(demo);
    const web = (await demo.waitFor(/web page\s+(http:\/\/127\.0\.0\.1:\d+\/)/, 30_000))[1]!;
    // Every family with a simulator on its own, the bus adapter excepted: it carries the GPIB bench.
    const families = [
      ...Object.entries(deviceFamilies).filter(([t, f]) => f.loadSimulator && t !== DEMO_BUS.type).map(([t]) => t),
      DEMO_BUS.name,
      ...DEMO_BENCH.map((b) => b.name),
    ];
    await eventually(async () => {
      const { body } = await getJson<Health>(`${web}api/health`);
      expect(body.peers.map((p) => p.name).sort()).toEqual([...families].sort());
      expect(body.peers.every((p) => p.connected)).toBe(true);
    }, 30_000, 250);
    // The demo configures alarms a newcomer can see: every daemon's link, and the chiller's bath.
    const alarms = await getJson<Array<{ id: string }>>(`${web}api/alarms`);
    expect(alarms.body.map((a) => a.id).sort()).toEqual(['julabo_hot', ...families.map((f) => `${f}_link`)].sort());
    const page = await fetch(web);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script/);

    const set = await getJson<Record<string, unknown>>(`${web}api/devices/julabo/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ line: 'set setpoint=12.5' }),
    });
    expect(set.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500)); // let samples flow in
    const before = (await getJson<Health>(`${web}api/health`)).body.archive;
    expect(await demo.stop()).toBe(0);

    const db = new Database(path.join(data, 'archive.sqlite'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = (db.prepare('SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM text_samples) AS n').get() as { n: number }).n;
      // Everything acknowledged and everything still queued at that moment is on disk.
      expect(rows).toBeGreaterThanOrEqual(before.committed + before.pending);
      const audit = db.prepare("SELECT command, result FROM audit WHERE device = 'julabo'").all() as Array<{ command: string; result: string }>;
      expect(audit.some((a) => a.command.includes('set setpoint=12.5') && a.result.startsWith('ok'))).toBe(true);
    } finally {
      db.close();
    }
  }, 90_000);
});

describe('labwire up', () => {
  it('starts what lab.yaml describes; the monitor forwards commands; stops cleanly', async () => {
    const dir = path.join(tmp, 'up');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'lab.yaml');
    fs.writeFileSync(
      file,
      [
        'name: test lab',
        'simulators:',
        '  - { name: bath-sim, type: julabo, timeScale: 60, options: { setpoint: 20 } }',
        'daemons:',
        '  - name: bath',
        '    type: julabo',
        '    link: sim:bath-sim',
        '    limits: { setpoint: { min: 5, max: 30 } }',
        '    plots: [{ id: temp, values: [time, temperature, setpoint] }]',
        'monitor:',
        '  listen: 127.0.0.1:0',
        '  web: 127.0.0.1:0',
        '',
      ].join('\n'),
    );
    const up = new CliProcess(['up', file]);
    procs.push(up);
    const monitorPort = (await up.waitFor(/monitor\s+127\.0\.0\.1:(\d+)/, 30_000))[1]!;
    const web = (await up.waitFor(/web page\s+(http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const monitor = `127.0.0.1:${monitorPort}`;
    await eventually(async () => expect((await runCli(['send', monitor, 'get_status'])).stdout).toMatch(/ bath=1 bath\.hw_connected=1 /), 30_000, 250);
    expect((await runCli(['send', monitor, 'send', 'bath', 'set', 'setpoint=11'])).stdout).toBe('ok set setpoint=11\n');
    const refused = await runCli(['send', monitor, 'send', 'bath', 'set', 'setpoint=31']);
    expect(refused.stderr).toBe('labwire: RangeError: setpoint 31 °C is above the site limit of 30 °C\n');
    expect((await fetch(`${web}monitor/plot/bath/temp`)).headers.get('content-type')).toMatch(/svg/);
    expect(fs.existsSync(path.join(dir, 'labwire-data', 'archive.sqlite'))).toBe(true);
    expect(await up.stop()).toBe(0);
  }, 90_000);

  it('an unwritable archive path: a clear error, and the lab still serves live data', async () => {
    const dir = path.join(tmp, 'noarchive');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a-file'), 'not a directory');
    const file = path.join(dir, 'lab.yaml');
    fs.writeFileSync(file, [
      'simulators: [{ name: s, type: julabo }]',
      'daemons: [{ name: bath, type: julabo, link: "sim:s" }]',
      'monitor: { listen: "127.0.0.1:0", web: "127.0.0.1:0", archive: { path: a-file/archive.sqlite } }',
      '',
    ].join('\n'));
    const up = new CliProcess(['up', file]);
    procs.push(up);
    const archiveLine = (await up.waitFor(/archive\s+(NONE .*)$/m, 30_000))[1]!;
    expect(archiveLine).toMatch(/cannot open archive .*a-file.*live data only/);
    const web = (await up.waitFor(/web page\s+(http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    await eventually(async () => {
      const { body } = await getJson<{ values?: unknown; connected: boolean }>(`${web}api/devices/bath`);
      expect(body.connected).toBe(true);
    }, 30_000, 250);
    const history = await getJson<{ code: string }>(`${web}api/history?device=bath&name=temperature&from=0&to=${Date.now()}`);
    expect(history.status).toBe(503);
    expect(history.body.code).toBe('NoArchive');
    const messages = await getJson<{ messages: Array<{ message: string }> } | Array<{ message: string }>>(`${web}api/messages`);
    expect(JSON.stringify(messages.body)).toMatch(/no archive: cannot open archive/);
    expect(await up.stop()).toBe(0);
  }, 60_000);

  it('killed with SIGKILL during ingest, the archive opens cleanly and holds everything acknowledged', async () => {
    const dir = path.join(tmp, 'kill');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'lab.yaml');
    fs.writeFileSync(file, [
      'simulators: [{ name: s, type: julabo, timeScale: 60, options: { noise: 0.05 } }]',
      'daemons: [{ name: bath, type: julabo, link: "sim:s" }]',
      'monitor: { listen: "127.0.0.1:0", web: "127.0.0.1:0" }',
      '',
    ].join('\n'));
    const up = new CliProcess(['up', file]);
    procs.push(up);
    const web = (await up.waitFor(/web page\s+(http:\/\/127\.0\.0\.1:\d+\/)/, 30_000))[1]!;
    let committed = 0;
    await eventually(async () => {
      committed = (await getJson<Health>(`${web}api/health`)).body.archive.committed;
      expect(committed).toBeGreaterThan(20);
    }, 30_000, 250);
    up.proc.kill('SIGKILL');
    await new Promise((r) => up.proc.once('exit', r));
    const db = new Database(path.join(dir, 'labwire-data', 'archive.sqlite'));
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = (db.prepare('SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM text_samples) AS n').get() as { n: number }).n;
      expect(rows).toBeGreaterThanOrEqual(committed);
    } finally {
      db.close();
    }
  }, 60_000);

  it('reports a mistake in lab.yaml with file, line and what is expected, and exits 2', async () => {
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(file, 'daemons:\n  - name: bath\n    type: julabo\n    link: sim:nowhere\n');
    const r = await runCli(['up', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`labwire: ${file}: 4:11: daemons.0.link: no simulator named "nowhere"; simulators: none\n`);
  });

  it('prints the JSON Schema of lab.yaml for editors', async () => {
    const r = await runCli(['config', 'schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['simulators', 'daemons', 'peers', 'monitor']));
  });
});
