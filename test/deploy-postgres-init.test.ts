/**
 * deploy/postgres/initdb/10-grafana-reader.sh, the postgres image's init script that makes
 * Grafana's read-only role, run the way the image runs it (psql as POSTGRES_USER, a superuser,
 * before any labwire table exists) against a private cluster with password authentication. Then
 * the monitor creates its schema as `labwire` through the real archive, and `grafana`, logging in
 * with the password from its secret file, can read every table the dashboard queries — partitions
 * created later included — and write none.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresArchive } from '../src/archive/postgres.js';
import { PRIVATE_POSTGRES_SKIP_MESSAGE, privatePostgresAvailable, startPrivatePostgres, type PrivatePostgres } from '../src/archive/test-helpers/private-postgres.js';
import { interpolateSql } from './helpers/grafana.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const available = privatePostgresAvailable() && (await run('psql', ['--version']).then(() => true, () => false));
if (!available) console.warn(`${PRIVATE_POSTGRES_SKIP_MESSAGE} (or psql missing): the Grafana reader role script is not tested`);

describe.skipIf(!available)('the postgres image init script: Grafana reads, never writes', () => {
  let cluster: PrivatePostgres;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-pginit-'));
  const ADMIN_PW = 'admin-password-for-the-test';
  const LABWIRE_PW = 'labwire-password-for-the-test';
  const GRAFANA_PW = "grafana pw with ' and spaces";
  const client = (user: string, password: string, database = 'labwire'): pg.Client =>
    new pg.Client({ host: '127.0.0.1', port: cluster.port, user, password, database, connectionTimeoutMillis: 10_000 });

  beforeAll(async () => {
    cluster = await startPrivatePostgres({ password: ADMIN_PW });
    // What the postgres image does with POSTGRES_USER/POSTGRES_DB: that user is a superuser and owns the database.
    const admin = client('postgres', ADMIN_PW, 'postgres');
    await admin.connect();
    await admin.query(`CREATE ROLE labwire SUPERUSER LOGIN PASSWORD '${LABWIRE_PW}'`);
    await admin.query('CREATE DATABASE labwire OWNER labwire');
    await admin.end();
  }, 120_000);
  afterAll(async () => {
    await cluster?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('creates the role from the secret file; the archive made later by labwire is readable by it, not writable', async () => {
    const secret = path.join(tmp, 'grafana-pg-password');
    fs.writeFileSync(secret, `${GRAFANA_PW}\n`);
    await run('sh', [path.join(root, 'deploy/postgres/initdb/10-grafana-reader.sh')], {
      env: { ...process.env, POSTGRES_USER: 'labwire', POSTGRES_DB: 'labwire', GRAFANA_PG_PASSWORD_FILE: secret, PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGPASSWORD: LABWIRE_PW },
    });

    // The monitor's first start: the archive creates its schema and a monthly partition as labwire.
    const archive = await openPostgresArchive({ url: `postgres://labwire@127.0.0.1:${cluster.port}/labwire`, password: LABWIRE_PW, origin: 'room1', batchMs: 20 });
    const now = Date.now();
    try {
      await archive.write(Array.from({ length: 100 }, (_, i) => ({ device: 'chiller', name: 'temperature', t: now - i * 10_000, value: 20 + i / 100 })));
      await archive.write([{ device: 'chiller', name: 'state_text', t: now - 5000, value: 'stable' }]);
      await archive.alarm({ t: now - 60_000, id: 'chiller_hot', from: 'pending', to: 'raised', severity: 'warning', message: 'hot', value: 36 });
      await archive.log({ t: now - 60_000, source: 'chiller', level: 'error', message: 'link lost' });
      await archive.flush();
    } finally {
      await archive.close();
    }

    const grafana = client('grafana', GRAFANA_PW);
    await grafana.connect();
    try {
      // Every SQL query of the dashboard, as Grafana's data source would run it.
      const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'deploy/grafana/dashboards/labwire.json'), 'utf8')) as {
        panels: Array<{ title: string; targets?: Array<{ rawSql?: string }> }>;
        templating: { list: Array<{ query: string }> };
      };
      const queries = [...dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => (t.rawSql ? [t.rawSql] : []))), ...dashboard.templating.list.map((v) => v.query)];
      expect(queries.length).toBeGreaterThan(5);
      for (const sql of queries) {
        const text = interpolateSql(sql, { from: now - 3_600_000, to: now, intervalMs: 1000, vars: { device: ['room1/chiller'] }, multi: { device: true } });
        await grafana.query(text);
      }
      const rows = await grafana.query('SELECT count(*)::int AS n FROM samples');
      expect(rows.rows[0].n).toBe(100);
      for (const write of ["INSERT INTO alarms (t_ms, alarm, from_state, to_state, severity, message) VALUES (1, 'x', 'ok', 'raised', 'info', 'forged')", 'DELETE FROM samples', 'UPDATE series SET unit = 1', 'DROP TABLE log']) {
        await expect(grafana.query(write), write).rejects.toThrow(/permission denied|must be owner/);
      }
    } finally {
      await grafana.end();
    }
    // And a wrong password is refused: the role really has the secret file's password.
    const wrong = client('grafana', 'not the password');
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
    await wrong.end().catch(() => undefined);
  }, 120_000);
});
