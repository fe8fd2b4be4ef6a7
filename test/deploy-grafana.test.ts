/**
 * The Grafana dashboard against what really answers it: every SQL query of the dashboard (panels,
 * the template variable, annotations), interpolated the way Grafana does, runs against a fresh
 * database whose schema the PostgreSQL archive itself created, after two monitors (origins)
 * wrote samples, text values, alarms and log lines through the archive — and must return rows of
 * the shape its panel expects. Prometheus expressions: PromQL syntax through `promtool check
 * rules`. The provisioning files: every data source the dashboard names is provisioned.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { openPostgresArchive, type PostgresArchive } from '../src/archive/postgres.js';
import { freshDatabase, postgresAvailable, POSTGRES_SKIP_MESSAGE, type FreshDatabase } from '../src/archive/test-helpers/postgres.js';
import { interpolatePromql, interpolateSql, type GrafanaScope } from './helpers/grafana.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const grafana = path.join(root, 'deploy/grafana');

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  rawSql?: string;
  format?: string;
  expr?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  repeat?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  datasource: { type: string; uid: string };
  query: string;
  multi: boolean;
  includeAll: boolean;
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations: { list: Array<{ name: string; datasource: { type: string; uid: string }; target?: Target; builtIn?: number }> };
}

const dashboard = JSON.parse(fs.readFileSync(path.join(grafana, 'dashboards/labwire.json'), 'utf8')) as Dashboard;
const datasources = (parseYaml(fs.readFileSync(path.join(grafana, 'provisioning/datasources/labwire.yaml'), 'utf8')) as { datasources: Array<{ uid: string; type: string; jsonData?: { database?: string } }> }).datasources;
const PG_UID = datasources.find((d) => d.type === 'grafana-postgresql-datasource')!.uid;

/** Panels in order, with the row each belongs to (a row owns the panels after it until the next row). */
function panelsWithRows(): Array<{ panel: Panel; row: Panel | undefined }> {
  const out: Array<{ panel: Panel; row: Panel | undefined }> = [];
  let row: Panel | undefined;
  for (const p of dashboard.panels) {
    if (p.type === 'row') {
      row = p;
      for (const inner of p.panels ?? []) out.push({ panel: inner, row });
      continue;
    }
    out.push({ panel: p, row });
  }
  return out;
}
const targets = panelsWithRows().flatMap(({ panel, row }) => (panel.targets ?? []).map((t) => ({ panel, row, target: t })));

describe('dashboard structure and provisioning', () => {
  it('every panel and query names a provisioned data source, of the right type', () => {
    const byUid = new Map(datasources.map((d) => [d.uid, d.type]));
    for (const { panel, target } of targets) {
      const ds = target.datasource ?? panel.datasource;
      expect(byUid.get(ds!.uid), `${panel.title} ${target.refId}`).toBe(ds!.type);
      expect(target.rawSql !== undefined || target.expr !== undefined, panel.title).toBe(true);
      if (ds!.type === 'prometheus') expect(target.expr, panel.title).toBeDefined();
      else expect(target.rawSql, panel.title).toBeDefined();
    }
    for (const v of dashboard.templating.list) expect(byUid.get(v.datasource.uid)).toBe(v.datasource.type);
    for (const a of dashboard.annotations.list.filter((x) => !x.builtIn)) expect(byUid.get(a.datasource.uid)).toBe(a.datasource.type);
    expect(datasources.find((d) => d.uid === PG_UID)!.jsonData?.database).toBe('labwire');
  });

  it('unique panel ids, panels inside the 24-column grid', () => {
    const ids = panelsWithRows().map((p) => p.panel.id).concat(dashboard.panels.filter((p) => p.type === 'row').map((p) => p.id));
    expect(new Set(ids).size).toBe(ids.length);
    for (const { panel } of panelsWithRows()) expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
  });

  it('one row per device: a row repeated by the device variable, whose panels all filter by it; link health and the alarm history rows', () => {
    const rows = dashboard.panels.filter((p) => p.type === 'row');
    const repeated = rows.filter((r) => r.repeat !== undefined);
    expect(repeated.map((r) => r.repeat)).toEqual(['device']);
    const device = dashboard.templating.list.find((v) => v.name === 'device')!;
    expect(device.type).toBe('query');
    expect(device.multi && device.includeAll).toBe(true);
    const inRow = targets.filter((t) => t.row === repeated[0]);
    expect(inRow.length).toBeGreaterThanOrEqual(3);
    for (const t of inRow) expect(t.target.rawSql ?? t.target.expr, t.panel.title).toMatch(/\$device\b/);
    expect(rows.map((r) => r.title)).toEqual(expect.arrayContaining(['Link health', 'Alarm history']));
    const health = targets.filter((t) => t.row?.title === 'Link health');
    expect(health.every((t) => t.target.datasource.type === 'prometheus')).toBe(true);
    expect(health.map((t) => t.target.expr).join(' ')).toMatch(/labwire_link_up/);
    const alarms = targets.filter((t) => t.row?.title === 'Alarm history');
    expect(alarms.map((t) => t.target.rawSql ?? '').join(' ')).toMatch(/FROM alarms/);
  });

  it('the dashboards provider loads the folder compose.yaml mounts', () => {
    const provider = (parseYaml(fs.readFileSync(path.join(grafana, 'provisioning/dashboards/labwire.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> }).providers[0]!;
    const compose = fs.readFileSync(path.join(root, 'deploy/compose.yaml'), 'utf8');
    expect(compose).toContain(`./grafana/dashboards:${provider.options.path}:ro`);
    expect(compose).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
  });
});

const hasPromtool = await run('promtool', ['--version']).then(() => true, () => false);
if (!hasPromtool) console.warn('promtool is not installed: the PromQL of the dashboard is not checked (Debian package prometheus)');

describe.skipIf(!hasPromtool)('Prometheus expressions', () => {
  it('every one is valid PromQL (promtool checks them as recording rules)', async () => {
    const prom = targets.filter((t) => t.target.expr !== undefined);
    expect(prom.length).toBeGreaterThan(5);
    const scope: GrafanaScope = { from: Date.now() - 6 * 3_600_000, to: Date.now(), intervalMs: 15_000, vars: { device: ['room1/chiller'] }, multi: { device: true } };
    const rules = prom.map((t, i) => ({ record: `labwire:dashboard_panel_${t.panel.id}_${t.target.refId}_${i}`, expr: interpolatePromql(t.target.expr!, scope) }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-promql-'));
    try {
      const file = path.join(dir, 'panels.rules.yml');
      fs.writeFileSync(file, toYaml({ groups: [{ name: 'dashboard', rules }] }));
      const r = await run('promtool', ['check', 'rules', file]).catch((err: { stdout: string; stderr: string }) => {
        throw new Error(`promtool: ${err.stdout}${err.stderr}`);
      });
      expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
      // The check can fail: a broken expression is refused.
      fs.writeFileSync(file, toYaml({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'rate(labwire_link_up[' }] }] }));
      await expect(run('promtool', ['check', 'rules', file])).rejects.toThrow();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const pgUp = await postgresAvailable();
if (!pgUp) console.warn(POSTGRES_SKIP_MESSAGE);

describe.skipIf(!pgUp)('every SQL query against the real archive schema', () => {
  let db: FreshDatabase;
  let client: pg.Client;
  const archives: PostgresArchive[] = [];
  const now = Date.now();
  const HOUR = 3_600_000;

  beforeAll(async () => {
    db = await freshDatabase('deploy_grafana');
    // Two monitors share the database, as in a lab of several rooms.
    for (const [origin, device, late] of [['room1', 'chiller', 0], ['room2', 'cryo', 1000]] as const) {
      const a = await openPostgresArchive({ url: db.url, origin, batchMs: 20 });
      archives.push(a);
      a.configureSeries(device, 'temperature', { unit: '°C', type: 'number' });
      a.configureSeries(device, 'state_text', { type: 'text' });
      const samples = [];
      // Three hours every 10 s: raw samples, and 1-minute and 1-hour rollups maintained on write.
      for (let t = now - 3 * HOUR; t < now - 1000; t += 10_000) {
        samples.push({ device, name: 'temperature', t, value: 20 + Math.sin(t / 600_000) });
        samples.push({ device, name: 'setpoint', t, value: 20 });
      }
      samples.push({ device, name: 'state_text', t: now - 2 * HOUR, value: 'cooling' });
      samples.push({ device, name: 'state_text', t: now - HOUR, value: 'stable' });
      await a.write(samples);
      await a.log({ t: now - 30 * 60_000, source: device, level: 'warning', message: 'link slow' });
      await a.log({ t: now - 20 * 60_000, source: device, level: 'info', message: 'fine again' });
      await a.alarm({ t: now - 40 * 60_000 + late, id: `${device}_hot`, from: 'ok', to: 'pending', severity: 'warning', message: 'above 35', value: 35.5 });
      await a.alarm({ t: now - 39 * 60_000 + late, id: `${device}_hot`, from: 'pending', to: 'raised', severity: 'warning', message: 'above 35 for 30 s', value: 36 });
      await a.alarm({ t: now - 10 * 60_000 + late, id: `${device}_hot`, from: 'raised', to: 'acknowledged', severity: 'warning', message: 'acknowledged by "otto"', value: null, who: 'otto' });
      await a.flush();
    }
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  }, 120_000);

  afterAll(async () => {
    await client?.end().catch(() => undefined);
    for (const a of archives) await a.close().catch(() => undefined);
    await db?.drop();
  });

  const variable = dashboard.templating.list.find((v) => v.name === 'device')!;
  const scopeFor = (device: string | string[], intervalMs: number): GrafanaScope => ({ from: now - 6 * HOUR, to: now, intervalMs, vars: { device }, multi: { device: variable.multi || variable.includeAll } });

  let devices: string[] = [];
  it('the device variable lists every device of every monitor as origin/device', async () => {
    const r = await client.query(interpolateSql(variable.query, scopeFor([], 1000)));
    // Grafana takes the first column, whatever its name.
    const first = r.fields[0]!.name;
    devices = r.rows.map((row: Record<string, string>) => row[first]!);
    expect(devices).toEqual(['room1/chiller', 'room2/cryo']);
  });

  const sqlTargets = targets.filter((t) => t.target.rawSql !== undefined);
  it('there are SQL panels in the device rows and outside', () => {
    expect(sqlTargets.filter((t) => t.row?.repeat === 'device').length).toBeGreaterThanOrEqual(3);
    expect(sqlTargets.filter((t) => t.row?.repeat === undefined).length).toBeGreaterThanOrEqual(3);
  });

  for (const { panel, row, target } of sqlTargets) {
    it(`${row?.title ?? '(top)'} / ${panel.title} (${target.refId}): rows of the panel's shape`, async () => {
      expect(devices.length).toBe(2);
      // A repeated row: one copy per device, its $device that one value. Elsewhere: All.
      const selections = row?.repeat === 'device' ? devices.map((d) => [d]) : [devices];
      // The interval Grafana gives decides raw samples, 1-minute or 1-hour rollups: try each.
      const intervals = /\$__interval_ms/.test(target.rawSql!) ? [1000, 60_000, HOUR] : [20_000];
      for (const selection of selections) {
        for (const intervalMs of intervals) {
          const sql = interpolateSql(target.rawSql!, scopeFor(row?.repeat === 'device' ? selection[0]! : selection, intervalMs));
          const r = await client.query(sql).catch((err: Error) => {
            throw new Error(`${panel.title}: ${err.message}\n${sql}`);
          });
          expect(r.rows.length, `${panel.title} at ${intervalMs} ms for ${selection.join(',')}:\n${sql}`).toBeGreaterThan(0);
          const columns = r.fields.map((f) => f.name);
          if (target.format === 'time_series') {
            expect(columns).toEqual(['time', 'metric', 'value']);
            for (const row of r.rows as Array<{ time: Date; metric: string; value: number }>) {
              expect(row.time).toBeInstanceOf(Date);
              expect(row.time.getTime()).toBeGreaterThanOrEqual(now - 6 * HOUR - HOUR);
              expect(typeof row.value).toBe('number');
            }
            // One device's row shows that device's series only.
            const metrics = new Set((r.rows as Array<{ metric: string }>).map((x) => x.metric));
            expect([...metrics].sort()).toEqual(['setpoint', 'temperature [°C]']);
          }
          if (columns.includes('time')) for (const x of r.rows as Array<{ time: unknown }>) expect(x.time).toBeInstanceOf(Date);
        }
      }
    });
  }

  it('the values panel uses raw samples, then the 1-minute, then the 1-hour rollups as the interval grows', async () => {
    const values = sqlTargets.find((t) => t.row?.repeat === 'device' && t.target.format === 'time_series')!;
    const count = async (intervalMs: number): Promise<number> => (await client.query(interpolateSql(values.target.rawSql!, scopeFor('room1/chiller', intervalMs)))).rows.length;
    const raw = await count(1000);
    const minute = await count(60_000);
    const hour = await count(HOUR);
    // Two series over three hours: every 10 s, every minute, every hour.
    expect(raw).toBeGreaterThan(2 * 1000);
    expect(minute).toBeGreaterThanOrEqual(2 * 178);
    expect(minute).toBeLessThanOrEqual(2 * 182);
    expect(hour).toBeGreaterThanOrEqual(2 * 3);
    expect(hour).toBeLessThanOrEqual(2 * 4);
  });

  it('the alarm history shows every transition, newest first; the annotations the raised ones', async () => {
    const history = sqlTargets.find((t) => /FROM alarms/.test(t.target.rawSql!) && t.target.format === 'table' && /LIMIT/.test(t.target.rawSql!))!;
    const r = await client.query(interpolateSql(history.target.rawSql!, scopeFor(devices, 20_000)));
    // room2's transitions are 1 s after room1's.
    expect(r.rows.map((x: { origin: string; alarm: string; to: string }) => `${x.origin} ${x.alarm} ${x.to}`)).toEqual([
      'room2 cryo_hot acknowledged', 'room1 chiller_hot acknowledged', 'room2 cryo_hot raised', 'room1 chiller_hot raised', 'room2 cryo_hot pending', 'room1 chiller_hot pending',
    ]);
    expect(r.rows[0].who).toBe('otto');
    const annotation = dashboard.annotations.list.find((a) => a.target?.rawSql !== undefined)!;
    const a = await client.query(interpolateSql(annotation.target!.rawSql!, scopeFor(devices, 20_000)));
    expect(a.fields.map((f) => f.name)).toEqual(['time', 'text', 'tags']);
    expect(a.rows.map((x: { text: string }) => x.text).sort()).toEqual(['room1/chiller_hot: pending → raised — above 35 for 30 s', 'room2/cryo_hot: pending → raised — above 35 for 30 s']);
    // The count of raised alarms per monitor: both rooms' alarms apart, named origin/alarm.
    const counts = sqlTargets.find((t) => /count\(\*\) AS raised/.test(t.target.rawSql!))!;
    const c = await client.query(interpolateSql(counts.target.rawSql!, scopeFor(devices, 20_000)));
    expect(c.rows.map((x: { alarm: string; raised: string | number }) => `${x.alarm} ${x.raised}`).sort()).toEqual(['room1/chiller_hot 1', 'room2/cryo_hot 1']);
  });

  it('a query of a column the schema does not have fails (the check is real)', async () => {
    await expect(client.query(interpolateSql('SELECT room FROM alarms WHERE $__unixEpochFilter(t_ms)', scopeFor(devices, 1000)))).rejects.toThrow(/column "room" does not exist/);
  });
});
