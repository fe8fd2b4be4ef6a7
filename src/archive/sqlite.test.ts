import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ArchiveError } from './errors.js';
import { openArchive } from './index.js';
import { openSqliteArchive, type SqliteArchive, type SqliteArchiveOptions } from './sqlite.js';
import { archiveSuite, type RollupRow } from './test-helpers/archive-suite.js';
import type { Archive, Sample } from './types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-archive-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
const open: SqliteArchive[] = [];
function dbPath(): string {
  return path.join(dir, `a${++n}.sqlite`);
}
async function fresh(options: SqliteArchiveOptions = {}, file = dbPath()): Promise<SqliteArchive> {
  // A short batch interval keeps the suite fast; the tests that are about the timer set their own.
  const a = await openSqliteArchive(file, { batchMs: 5, ...options });
  open.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

const T0 = Date.UTC(2024, 0, 1); // a Monday, 00:00 UTC
const sample = (name: string, t: number, value: Sample['value'], device = 'dev'): Sample => ({ device, name, t, value });


async function rawRows(a: Archive, device: string, name: string): Promise<Array<[number, number | string | null]>> {
  const db = (a as SqliteArchive).database;
  const row = db.prepare('SELECT id, type FROM series WHERE device = ? AND name = ?').get(device, name) as { id: number; type: string } | undefined;
  if (row === undefined) return [];
  const table = row.type === 'number' ? 'samples' : 'text_samples';
  return db.prepare(`SELECT t_ms, value FROM ${table} WHERE series_id = ? ORDER BY t_ms`).raw().all(row.id) as Array<[number, number | string | null]>;
}

archiveSuite('sqlite', {
  newKey: dbPath,
  async open(options = {}, key = dbPath(), keep = false) {
    const a = await openSqliteArchive(key, { batchMs: 5, ...options });
    if (!keep) open.push(a);
    return a;
  },
  rawRows,
  async rollupRows(a, device, name, tier) {
    const db = (a as SqliteArchive).database;
    const id = db.prepare('SELECT id FROM series WHERE device = ? AND name = ?').pluck().get(device, name) as number | undefined;
    if (id === undefined) return [];
    return db.prepare(`SELECT bin_start_ms, count, min, max, sum FROM rollup_${tier} WHERE series_id = ? ORDER BY bin_start_ms`).all(id) as RollupRow[];
  },
  async minTime(a, table) {
    const col = table === 'samples' || table === 'text_samples' ? 't_ms' : 'bin_start_ms';
    return (a as SqliteArchive).database.prepare(`SELECT min(${col}) FROM ${table}`).pluck().get() as number | null;
  },
});

describe('archive: SQLite only', () => {
  it('opens through the factory', async () => {
    const file = dbPath();
    const a = await openArchive({ kind: 'sqlite', path: file, batchMs: 5 });
    await a.write([sample('p', T0, 4.2)]);
    await a.close();
    const b = await fresh({}, file);
    expect(await rawRows(b, 'dev', 'p')).toEqual([[T0, 4.2]]);
  });
});

describe('archive: faults', () => {
  it('refuses to open an unusable path with the path and the reason', async () => {
    const file = path.join(dir, 'file.txt');
    fs.writeFileSync(file, 'not a directory\n');
    await expect(openSqliteArchive(path.join(file, 'archive.sqlite'))).rejects.toThrow(
      new RegExp(`cannot open archive ${file}/archive\\.sqlite: .*not a directory`),
    );
    await expect(openSqliteArchive(file)).rejects.toThrow(/cannot open archive .*file\.txt: the file is not an SQLite database \(SQLITE_NOTADB\)/);
    await expect(openSqliteArchive(path.join(dir, 'absent.sqlite'), { readonly: true })).rejects.toThrow(/cannot open archive .*absent\.sqlite: no such file/);
    await expect(openSqliteArchive(dir)).rejects.toThrow(/not a regular file/);
    const err = await openSqliteArchive(path.join(file, 'x.sqlite')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as ArchiveError).code).toMatch(/^(EEXIST|ENOTDIR)$/);
    await expect(openArchive({ kind: 'mongo' } as unknown as { kind: 'sqlite'; path: string })).rejects.toThrow(/archive kind "mongo" is not supported \(supported: sqlite, postgres\)/);
  });

  it('a read-only archive serves reads and rejects writes clearly, without crashing', async () => {
    const file = dbPath();
    const w = await fresh({}, file);
    await w.write([sample('x', T0, 1)]);
    await w.close();
    const r = await fresh({ readonly: true }, file);
    expect((await r.history('dev', 'x', T0, T0, 10)).points).toEqual([{ t: T0, v: 1 }]);
    // Not awaited, not caught: must not become an unhandled rejection.
    void r.write([sample('x', T0 + 1, 2)]);
    await expect(r.write([sample('x', T0 + 2, 3)])).rejects.toThrow(/cannot write to archive .*: the database is read-only \(SQLITE_READONLY\)/);
    expect(r.stats().lastError).toMatch(/read-only/);
    expect(r.stats().failed).toBe(2);
  });

  it('a full disk rejects writes with a clear error, keeps going, and recovers when space returns', async () => {
    const a = await fresh({ batchRows: 5000 });
    await a.write(Array.from({ length: 1000 }, (_, i) => sample('f', T0 + i, i)));
    const db = a.database;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`); // the file may not grow any more: SQLITE_FULL
    const big = (from: number): Sample[] => Array.from({ length: 5000 }, (_, i) => sample('f', T0 + from + i, i));
    const err = await a.write(big(10_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as ArchiveError).message).toMatch(/^cannot write to archive .*: database or disk is full \(SQLITE_FULL\)$/);
    expect((err as ArchiveError).code).toBe('SQLITE_FULL');
    expect(a.stats().lastError).toMatch(/database or disk is full/);
    // reads still work, and nothing of the failed batch is visible
    expect((await a.history('dev', 'f', T0, T0 + 100_000, 100_000)).points).toHaveLength(1000);
    // the filter did not advance on the failed batch: after raising the limit the same samples go in
    db.pragma('max_page_count = 1073741823');
    await a.write(big(10_000));
    expect(a.stats().lastError).toBeUndefined();
    expect((await a.history('dev', 'f', T0, T0 + 100_000, 100_000)).points).toHaveLength(6000);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('resynchronises with the database after a batch that another writer made stale', async () => {
    const file = dbPath();
    const a = await fresh({}, file);
    await a.write([sample('o', T0, 1)]);
    const other = new Database(file);
    const id = other.prepare("SELECT id FROM series WHERE name = 'o'").pluck().get() as number;
    other.prepare('INSERT INTO samples (series_id, t_ms, value) VALUES (?, ?, ?)').run(id, T0 + 10, 5);
    other.close();
    await expect(a.write([sample('o', T0 + 10, 2)])).rejects.toThrow(/UNIQUE constraint failed/);
    await a.write([sample('o', T0 + 10, 2), sample('o', T0 + 20, 3)]); // the state now knows T0 + 10
    expect(await rawRows(a, 'dev', 'o')).toEqual([
      [T0, 1],
      [T0 + 10, 5],
      [T0 + 20, 3],
    ]);
  });

  it('a failing transaction rejects every write in it and nothing of them is stored', async () => {
    const a = await fresh({ batchMs: 50 });
    await a.write([sample('z', T0, 1)]);
    a.database.pragma(`max_page_count = ${a.database.pragma('page_count', { simple: true }) as number}`);
    const writes = Array.from({ length: 5 }, (_, k) => a.write(Array.from({ length: 200 }, (_, i) => sample(`z${k}`, T0 + i, i))));
    const results = await Promise.allSettled(writes);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(a.stats().pending).toBe(0);
    a.database.pragma('max_page_count = 1073741823');
    expect((await a.listSeries()).map((s) => s.name)).toEqual(['z']);
  });
});
