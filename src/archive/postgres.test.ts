/**
 * The PostgreSQL archive against the machine's real server: the conformance suite (unchanged, as
 * for SQLite), then what is PostgreSQL's own: partitions, idempotent samples, migrations under
 * concurrent starts, several origins on one database, and faults (connection lost mid-batch,
 * server unreachable, wrong password on a private cluster).
 * One database per test file (freshDatabase); each store of the suite is a schema of it.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ArchiveError } from './errors.js';
import { openArchive } from './index.js';
import { MIGRATIONS, SCHEMA_VERSION, openPostgresArchive, redactUrl, type PostgresArchive, type PostgresArchiveOptions } from './postgres.js';
import { archiveSuite, type RollupRow } from './test-helpers/archive-suite.js';
import { freshDatabase, postgresAvailable, POSTGRES_SKIP_MESSAGE, type FreshDatabase } from './test-helpers/postgres.js';
import { PRIVATE_POSTGRES_SKIP_MESSAGE, privatePostgresAvailable, startPrivatePostgres } from './test-helpers/private-postgres.js';
import type { Archive, Sample } from './types.js';

const ok = await postgresAvailable();
if (!ok) console.warn(POSTGRES_SKIP_MESSAGE);

let db: FreshDatabase | undefined;
let admin: pg.Client | undefined;
if (ok) {
  db = await freshDatabase('archive');
  admin = new pg.Client({ connectionString: db.url });
  admin.on('error', () => undefined);
  await admin.connect();
}
afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await db?.drop();
});

let n = 0;
const open: Archive[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

/** A URL whose connections work in schema `key` (search_path), so each store starts empty. */
function urlOf(key: string): string {
  const u = new URL(db!.url);
  u.searchParams.set('options', `-c search_path=${key}`);
  return u.toString();
}

async function newSchema(): Promise<string> {
  const key = `s${++n}`;
  await admin!.query(`CREATE SCHEMA ${key}`);
  return key;
}

const created = new Set<string>();
async function pgOpen(options: Partial<PostgresArchiveOptions> = {}, key?: string, keep = false): Promise<PostgresArchive> {
  const k = key ?? (await newSchema());
  if (key !== undefined && !created.has(key)) {
    await admin!.query(`CREATE SCHEMA IF NOT EXISTS ${key}`);
  }
  created.add(k);
  const a = await openPostgresArchive({ url: urlOf(k), origin: 'room1', batchMs: 5, ...options });
  if (!keep) open.push(a);
  return a;
}

/** Rows seen by another connection (committed ones only). */
async function sql<R extends pg.QueryResultRow>(a: Archive, text: string, params: unknown[] = []): Promise<R[]> {
  return (await (a as PostgresArchive).pool.query<R>(text, params)).rows;
}

async function seriesId(a: Archive, device: string, name: string): Promise<{ id: number; type: string } | undefined> {
  const rows = await sql<{ id: number; type: string }>(a, 'SELECT id, type FROM series WHERE origin = $1 AND device = $2 AND name = $3', [(a as PostgresArchive).origin, device, name]);
  return rows[0];
}

async function rawRows(a: Archive, device: string, name: string): Promise<Array<[number, number | string | null]>> {
  const s = await seriesId(a, device, name);
  if (s === undefined) return [];
  const rows = await sql<{ t_ms: number; value: number | string | null }>(a, `SELECT t_ms, value FROM ${s.type === 'number' ? 'samples' : 'text_samples'} WHERE series_id = $1 ORDER BY t_ms`, [s.id]);
  return rows.map((r) => [r.t_ms, r.value]);
}

const T0 = Date.UTC(2024, 0, 1);
const sample = (name: string, t: number, value: Sample['value'], device = 'dev'): Sample => ({ device, name, t, value });

if (ok) {
  archiveSuite('postgres', {
    newKey: () => `s${++n}`,
    open: (options = {}, key, keep) => pgOpen(options, key, keep),
    rawRows,
    async rollupRows(a, device, name, tier) {
      const s = await seriesId(a, device, name);
      if (s === undefined) return [];
      return sql<RollupRow>(a, `SELECT bin_start_ms, count, min, max, sum FROM rollup_${tier} WHERE series_id = $1 ORDER BY bin_start_ms`, [s.id]);
    },
    async minTime(a, table) {
      const col = table === 'samples' || table === 'text_samples' ? 't_ms' : 'bin_start_ms';
      return (await sql<{ m: number | null }>(a, `SELECT min(${col}) AS m FROM ${table}`))[0]!.m;
    },
  });
} else {
  describe.skip(`postgres archive: ${POSTGRES_SKIP_MESSAGE}`, () => {
    it('skipped', () => undefined);
  });
}

describe.skipIf(!ok)('postgres archive: its own', () => {
  it('opens through openArchive, and refuses a password inside the URL saying where to put it', async () => {
    const key = await newSchema();
    const a = await openArchive({ kind: 'postgres', url: urlOf(key), origin: 'room1', batchMs: 5 });
    open.push(a);
    expect(a.kind).toBe('postgres');
    await a.write([sample('x', T0, 1)]);
    expect(await rawRows(a, 'dev', 'x')).toEqual([[T0, 1]]);
    const withPassword = 'postgres://labwire:s3cret@127.0.0.1:1/labwire';
    const err = await openArchive({ kind: 'postgres', url: withPassword, origin: 'room1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as Error).message).toMatch(/holds a password: put it in monitor\.archive\.passwordFile or monitor\.archive\.password/);
    expect((err as Error).message).not.toContain('s3cret');
    expect(redactUrl(withPassword)).toBe('postgres://labwire@127.0.0.1:1/labwire');
  });

  it('stores samples in monthly partitions created on demand; retention drops whole ones and trims the edge', async () => {
    const a = await pgOpen({ batchRows: 10_000 });
    const DAY = 86_400_000;
    const s: Sample[] = [];
    for (let t = T0; t < T0 + 100 * DAY; t += 3_600_000) s.push(sample('p', t, t / DAY)); // Jan to early April
    await a.write(s);
    const parts = async (): Promise<string[]> =>
      (await sql<{ name: string }>(a, "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass ORDER BY 1")).map((r) => r.name);
    expect(await parts()).toEqual(['samples_p202401', 'samples_p202402', 'samples_p202403', 'samples_p202404']);
    const now = Date.UTC(2024, 2, 15); // raw kept for 30 days: cut at Feb 14
    await a.applyRetention({ rawMs: 30 * DAY }, now);
    expect(await parts()).toEqual(['samples_p202402', 'samples_p202403', 'samples_p202404']);
    const min = (await sql<{ m: number }>(a, 'SELECT min(t_ms) AS m FROM samples'))[0]!.m;
    expect(min).toBe(now - 30 * DAY);
    // The rollups stay (their own limits), so a year's plot still reaches back to January.
    const h = await a.history('dev', 'p', T0, T0 + 100 * DAY, 100);
    expect(h.source).toBe('1h');
    expect(h.points[0]!.t).toBeLessThanOrEqual(T0);
    expect(h.points.reduce((sum, x) => sum + x.n!, 0)).toBe(s.length);
    // A late sample for a dropped month re-creates its partition.
    await a.write([sample('q', T0 + 1000, 7)]);
    expect(await rawRows(a, 'dev', 'q')).toEqual([[T0 + 1000, 7]]);
  });

  it('stores a batch written twice once, rollups included (a spool replay after a crash)', async () => {
    const key = await newSchema();
    const batch = Array.from({ length: 500 }, (_, i) => sample('d', T0 + i * 1000, i % 7));
    const a = await pgOpen({}, key);
    await a.write(batch);
    await a.close();
    // A new process (no filter state in memory) replays the same batch.
    const b = await pgOpen({}, key);
    await b.write(batch);
    expect(b.stats()).toMatchObject({ committed: 0 });
    expect(await rawRows(b, 'dev', 'd')).toHaveLength(500);
    const bins = await sql<{ n: number }>(b, 'SELECT sum(count)::bigint AS n FROM rollup_1m');
    expect(bins[0]!.n).toBe(500);
    const h = await b.history('dev', 'd', T0, T0 + 500_000, 1);
    expect(h.points[0]!.n).toBe(500);
  });

  it('a sample another writer stored already is kept once and counted once (the fast path falls back)', async () => {
    const a = await pgOpen();
    await a.write([sample('o', T0, 1)]);
    const s = (await seriesId(a, 'dev', 'o'))!;
    await sql(a, 'INSERT INTO samples (series_id, t_ms, value) VALUES ($1, $2, 5)', [s.id, T0 + 10]);
    await a.write([sample('o', T0 + 10, 2), sample('o', T0 + 20, 3)]);
    expect(await rawRows(a, 'dev', 'o')).toEqual([
      [T0, 1],
      [T0 + 10, 5],
      [T0 + 20, 3],
    ]);
    // The rollup holds what the archive inserted (the other writer's row is not its to count).
    const bins = await sql<{ count: number; sum: number }>(a, 'SELECT count, sum FROM rollup_1m WHERE series_id = $1', [s.id]);
    expect(bins).toEqual([{ count: 2, sum: 4 }]);
    expect(a.stats()).toMatchObject({ committed: 2, skipped: 1 });
  });

  it('migrates once when several monitors start at once on an empty database', async () => {
    const key = await newSchema();
    const all = await Promise.all(['a', 'b', 'c', 'd'].map((origin) => pgOpen({ origin }, key)));
    const versions = await sql<{ version: number }>(all[0]!, 'SELECT version FROM schema_version ORDER BY version');
    expect(versions).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    // ... and create a partition at once without clashing.
    await Promise.all(all.map((a, i) => a.write([sample('x', Date.UTC(2025, 5, 1) + i, i)])));
    expect((await sql<{ n: number }>(all[0]!, 'SELECT count(*)::int AS n FROM samples'))[0]!.n).toBe(4);
  });

  it('two monitors on one database write the same device name without clashing and read each other', async () => {
    const key = await newSchema();
    const room1 = await pgOpen({ origin: 'room1' }, key);
    const room2 = await pgOpen({ origin: 'room2' }, key);
    room1.configureSeries('julabo', 'temperature', { unit: '°C' });
    await room1.write([sample('temperature', T0, 20, 'julabo'), sample('temperature', T0 + 1000, 21, 'julabo')]);
    await room2.write([sample('temperature', T0, 30, 'julabo'), sample('state', T0, 'idle', 'julabo')]);
    const list1 = await room1.listSeries();
    expect(list1.map((s) => [s.device, s.name, s.origin])).toEqual([
      ['julabo', 'temperature', undefined],
      ['room2/julabo', 'state', 'room2'],
      ['room2/julabo', 'temperature', 'room2'],
    ]);
    expect((await room1.history('julabo', 'temperature', T0, T0 + 10_000, 100)).points).toEqual([
      { t: T0, v: 20 },
      { t: T0 + 1000, v: 21 },
    ]);
    const other = await room1.history('room2/julabo', 'temperature', T0, T0 + 10_000, 100);
    expect(other.points).toEqual([{ t: T0, v: 30 }]);
    expect((await room2.history('room1/julabo', 'temperature', T0, T0 + 10_000, 100)).unit).toBe('°C');
    expect((await room2.history('room2/julabo', 'state', T0, T0 + 1, 10).catch((e: Error) => e.message))).toMatch(/unknown series room2\/julabo\.state/);
    let csv = '';
    for await (const c of room2.exportCsv('room1/julabo', 'temperature', T0, T0 + 10_000)) csv += c;
    expect(csv.trimEnd().split('\n')).toHaveLength(3);
    // A device name holding a slash is not mistaken for another origin's.
    await room1.write([sample('v', T0, 5, 'room2/julabo')]);
    expect((await room1.history('room2/julabo', 'v', T0, T0, 10)).points).toEqual([{ t: T0, v: 5 }]);
  });
});

describe.skipIf(!ok)('postgres archive: log, audit, alarms and images of several origins (decision 0028)', () => {
  const audit = (device: string, t: number) => ({ t, who: 'ann', peer: 'cli', device, command: 'set x 1', before: { x: 0 }, after: { x: 1 }, result: 'ok' });
  const alarm = (id: string, t: number) => ({ t, id, from: 'ok', to: 'raised', severity: 'warning', message: `${id} raised`, value: 3 });
  const image = (device: string, t: number) => ({
    t, device, path: 'data/img-0001.fits', frame: 1, exptime: 1, type: 'light', object: 'm31', width: 4, height: 4, bitpix: 16, bytes: 2880, min: 0, max: 9, mean: 4, median: 4,
  });

  it('two monitors write the same alarm id, log source, audit device and image path; each reads all, the other origin qualified', async () => {
    const key = await newSchema();
    const r1 = await pgOpen({ origin: 'room1' }, key);
    const r2 = await pgOpen({ origin: 'room2' }, key);
    for (const [a, dt] of [[r1, 0], [r2, 1]] as const) {
      a.log({ t: T0 + dt, source: 'chiller', level: 'warning', message: `hot ${dt}` });
      a.audit(audit('chiller', T0 + dt));
      await a.alarm(alarm('chiller-hot', T0 + dt));
      await a.flush();
    }
    const i1 = await r1.addImage(image('cam', T0));
    const i2 = await r2.addImage(image('cam', T0 + 1));
    expect(i1.added && i2.added).toBe(true);
    expect(i1.image.id).not.toBe(i2.image.id);
    expect((await r2.addImage(image('cam', T0 + 1))).added).toBe(false); // still unique per origin

    expect((await r1.messages({})).map((e) => [e.source, e.origin])).toEqual([['room2/chiller', 'room2'], ['chiller', undefined]]);
    expect((await r2.messages({})).map((e) => [e.source, e.origin])).toEqual([['chiller', undefined], ['room1/chiller', 'room1']]);
    expect((await r1.messages({ source: 'chiller' })).map((e) => e.message)).toEqual(['hot 0']);
    expect((await r1.messages({ source: 'room2/chiller' })).map((e) => e.message)).toEqual(['hot 1']);
    expect((await r1.auditTrail({})).map((e) => [e.device, e.origin])).toEqual([['room2/chiller', 'room2'], ['chiller', undefined]]);
    expect((await r1.auditTrail({ device: 'room2/chiller' })).map((e) => e.t)).toEqual([T0 + 1]);
    expect((await r2.auditTrail({ device: 'chiller' })).map((e) => e.t)).toEqual([T0 + 1]);
    expect((await r1.alarmHistory({})).map((e) => [e.id, e.origin])).toEqual([['room2/chiller-hot', 'room2'], ['chiller-hot', undefined]]);
    expect((await r2.alarmHistory({ id: 'room1/chiller-hot' })).map((e) => e.t)).toEqual([T0]);
    expect((await r2.alarmHistory({ id: 'chiller-hot' })).map((e) => e.t)).toEqual([T0 + 1]);
    expect((await r1.listImages({})).map((e) => [e.device, e.origin])).toEqual([['room2/cam', 'room2'], ['cam', undefined]]);
    expect((await r1.listImages({ device: 'room2/cam' })).map((e) => e.id)).toEqual([i2.image.id]);
    expect(await r1.getImage(i2.image.id)).toMatchObject({ device: 'room2/cam', origin: 'room2' });
    expect(await r2.getImage(i2.image.id)).not.toHaveProperty('origin');
    // Stored structured: the plain name and the origin in columns of their own.
    expect(await sql(r1, 'SELECT origin, alarm FROM alarms ORDER BY t_ms')).toEqual([{ origin: 'room1', alarm: 'chiller-hot' }, { origin: 'room2', alarm: 'chiller-hot' }]);
  });

  it('a version 1 database upgrades at open: its rows belong to the upgrading monitor', async () => {
    const key = await newSchema();
    const c = new pg.Client({ connectionString: urlOf(key) });
    await c.connect();
    try {
      await c.query(MIGRATIONS[0]!.sql);
      await c.query('CREATE TABLE schema_version (version integer PRIMARY KEY, applied_ms bigint NOT NULL); INSERT INTO schema_version VALUES (1, 0)');
      await c.query(`INSERT INTO log (t_ms, source, level, message) VALUES (${T0}, 'chiller', 'info', 'old')`);
      await c.query(`INSERT INTO alarms (t_ms, alarm, from_state, to_state, severity, message) VALUES (${T0}, 'chiller-hot', 'ok', 'raised', 'warning', 'old')`);
      await c.query(`INSERT INTO images (t_ms, device, path, type, object, width, height, bitpix, indexed_ms) VALUES (${T0}, 'cam', 'data/img-0001.fits', 'light', 'm31', 4, 4, 16, 0)`);
    } finally {
      await c.end();
    }
    const r1 = await pgOpen({ origin: 'room1' }, key);
    expect((await sql<{ v: number }>(r1, 'SELECT max(version) AS v FROM schema_version'))[0]!.v).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(2);
    expect((await r1.messages({})).map((e) => e.source)).toEqual(['chiller']);
    expect((await r1.alarmHistory({ id: 'chiller-hot' })).map((e) => e.message)).toEqual(['old']);
    expect((await r1.addImage(image('cam', T0))).added).toBe(false); // the old row, now room1's
    const r2 = await pgOpen({ origin: 'room2' }, key);
    expect((await r2.alarmHistory({})).map((e) => e.id)).toEqual(['room1/chiller-hot']);
    expect((await r2.addImage(image('cam', T0))).added).toBe(true);
  });

  it('retention deletes only its own origin: a partition another origin still has rows in stays, its rows too', async () => {
    const key = await newSchema();
    const DAY = 86_400_000;
    const r1 = await pgOpen({ origin: 'room1', batchRows: 10_000 }, key);
    const r2 = await pgOpen({ origin: 'room2', batchRows: 10_000 }, key);
    for (const a of [r1, r2]) {
      const s: Sample[] = [];
      for (let t = T0; t < T0 + 100 * DAY; t += 3_600_000) s.push(sample('p', t, 1));
      await a.write(s);
      a.log({ t: T0, source: 'chiller', level: 'info', message: 'x' });
      a.audit(audit('chiller', T0));
      await a.flush();
      await a.addImage(image('cam', T0));
    }
    const parts = async (): Promise<string[]> =>
      (await sql<{ name: string }>(r1, "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass ORDER BY 1")).map((r) => r.name);
    const minOf = async (a: PostgresArchive): Promise<number> => (await rawRows(a, 'dev', 'p'))[0]![0];
    const counts = async (): Promise<unknown[]> => sql(r1, "SELECT (SELECT count(*)::int FROM log) AS log, (SELECT count(*)::int FROM audit) AS audit, (SELECT count(*)::int FROM images) AS images");
    const now = Date.UTC(2024, 2, 15);
    const policy = { rawMs: 30 * DAY, minuteMs: 30 * DAY, hourMs: 30 * DAY, logMs: DAY, auditMs: DAY, imagesMs: DAY };
    await r1.applyRetention(policy, now);
    expect(await parts()).toEqual(['samples_p202401', 'samples_p202402', 'samples_p202403', 'samples_p202404']); // room2 still has rows in January
    expect(await minOf(r1)).toBeGreaterThanOrEqual(now - 30 * DAY);
    expect(await minOf(r2)).toBe(T0);
    expect((await r2.history('dev', 'p', T0, T0 + 100 * DAY, 100)).points[0]!.t).toBeLessThanOrEqual(T0);
    expect(await counts()).toEqual([{ log: 1, audit: 1, images: 1 }]);
    expect((await r1.messages({})).map((e) => e.source)).toEqual(['room2/chiller']);
    await r2.applyRetention(policy, now);
    expect(await parts()).toEqual(['samples_p202402', 'samples_p202403', 'samples_p202404']); // now nobody's: dropped whole
    expect(await minOf(r2)).toBeGreaterThanOrEqual(now - 30 * DAY);
    expect(await counts()).toEqual([{ log: 0, audit: 0, images: 0 }]);
    await r1.write([sample('p', T0 + 200 * DAY, 1)]); // the archive still writes after another's drop
    expect((await rawRows(r1, 'dev', 'p')).at(-1)).toEqual([T0 + 200 * DAY, 1]);
  });
});

describe.skipIf(!ok)('postgres archive: faults', () => {
  it('an unreachable server rejects open with UNAVAILABLE and the URL', async () => {
    const err = await openPostgresArchive({ url: 'postgres://labwire@127.0.0.1:1/labwire', origin: 'room1', connectTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as ArchiveError).code).toBe('UNAVAILABLE');
    expect((err as Error).message).toMatch(/^cannot open archive postgres:\/\/labwire@127\.0\.0\.1:1\/labwire: .*ECONNREFUSED/);
  });

  it('connections killed mid-batch: the write rejects UNAVAILABLE, nothing half-written stays, and it works again', async () => {
    const a = await pgOpen({ batchRows: 200_000, batchMs: 5 });
    await a.write([sample('k', T0, 0)]);
    const big = Array.from({ length: 200_000 }, (_, i) => sample('k', T0 + 1 + i, i));
    const writing = a.write(big);
    // Kill the archive's connections from another client while the batch is being written.
    const appName = 'labwire room1';
    let killed = 0;
    const deadline = Date.now() + 30_000;
    let settledWrite = false;
    void writing.then(
      () => (settledWrite = true),
      () => (settledWrite = true),
    );
    while (killed === 0 && !settledWrite && Date.now() < deadline) {
      const r = await admin!.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND state <> 'idle'`,
        [appName],
      );
      killed = r.rows[0]!.n;
      if (killed === 0) await new Promise((r2) => setTimeout(r2, 5));
    }
    expect(killed).toBeGreaterThan(0);
    const err = await writing.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as ArchiveError).code).toBe('UNAVAILABLE');
    expect((err as Error).message).toMatch(/^cannot write to archive postgres:\/\/postgres@127\.0\.0\.1:5432\//);
    // Nothing of the batch: its transaction never committed.
    expect(await rawRows(a, 'dev', 'k')).toEqual([[T0, 0]]);
    expect((await sql<{ n: number }>(a, 'SELECT coalesce(sum(count), 0)::bigint AS n FROM rollup_1h'))[0]!.n).toBe(1);
    // The pool reconnects by itself: the same samples go in on the next write.
    await a.write(big.slice(0, 1000));
    expect(await rawRows(a, 'dev', 'k')).toHaveLength(1001);
    expect(a.stats().lastError).toBeUndefined();
  }, 60_000);
});

describe.skipIf(!ok)('postgres archive: the database dropped', () => {
  it('dropped mid-batch: the write rejects UNAVAILABLE naming the URL, and once the database is back (empty) the archive makes its schema again', async () => {
    const own = await freshDatabase('dropped');
    const maint = new pg.Client({ connectionString: db!.url });
    maint.on('error', () => undefined);
    await maint.connect();
    try {
      const a = await openPostgresArchive({ url: own.url, origin: 'room1', batchMs: 5, batchRows: 200_000 });
      try {
        await a.write([sample('k', T0, 0)]);
        const big = Array.from({ length: 200_000 }, (_, i) => sample('k', T0 + 1 + i, i));
        const writing = a.write(big);
        let done = false;
        void writing.then(
          () => (done = true),
          () => (done = true),
        );
        // DROP DATABASE … WITH (FORCE) while the batch's transaction is open.
        const deadline = Date.now() + 30_000;
        let active = 0;
        while (active === 0 && !done && Date.now() < deadline) {
          const r = await maint.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state <> 'idle'", [own.name]);
          active = r.rows[0]!.n;
          if (active === 0) await new Promise((r2) => setTimeout(r2, 5));
        }
        expect(active).toBeGreaterThan(0);
        await maint.query(`DROP DATABASE "${own.name}" WITH (FORCE)`);
        const err = await writing.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ArchiveError);
        expect((err as ArchiveError).code).toBe('UNAVAILABLE');
        expect((err as Error).message).toContain(`cannot write to archive ${own.url}`);
        // While it is gone: UNAVAILABLE (the spool's cue), with the reason.
        const gone = await a.write([sample('k', T0 + 500_000, 1)]).catch((e: unknown) => e);
        expect((gone as ArchiveError).code).toBe('UNAVAILABLE');
        expect((gone as Error).message).toMatch(/does not exist \(3D000\)/);
        // Back, empty: the next write makes the schema again and is stored.
        await maint.query(`CREATE DATABASE "${own.name}"`);
        await a.write([sample('k', T0 + 600_000, 2)]);
        expect((await a.history('dev', 'k', T0, T0 + 1_000_000, 10)).points).toEqual([{ t: T0 + 600_000, v: 2 }]);
      } finally {
        await a.close();
      }
    } finally {
      await maint.end().catch(() => undefined);
      await own.drop();
    }
  }, 90_000);
});

const privateOk = ok && privatePostgresAvailable();
if (ok && !privateOk) console.warn(PRIVATE_POSTGRES_SKIP_MESSAGE);

describe.skipIf(!privateOk)('postgres archive: authentication', () => {
  it('a wrong password gives AUTH naming the URL without the password; the right one opens', async () => {
    const server = await startPrivatePostgres({ password: 'right-one' });
    try {
      const err = await openPostgresArchive({ url: server.url, password: 'wrong-one', origin: 'room1' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArchiveError);
      expect((err as ArchiveError).code).toBe('AUTH');
      expect((err as Error).message).toContain(`cannot open archive ${server.url}: `);
      expect((err as Error).message).toMatch(/password authentication failed/);
      expect((err as Error).message).not.toContain('wrong-one');
      const a = await openPostgresArchive({ url: server.url, password: 'right-one', origin: 'room1', batchMs: 5 });
      await a.write([sample('x', T0, 1)]);
      expect((await a.history('dev', 'x', T0, T0, 10)).points).toEqual([{ t: T0, v: 1 }]);
      await a.close();
    } finally {
      await server.destroy();
    }
  }, 120_000);
});
