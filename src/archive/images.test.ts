/**
 * The image index of the SQLite archive: what is specific to the file (reopen, migration). The
 * back-end-neutral tests (add, dedupe, list, get, retention) are in test-helpers/archive-suite.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, openSqliteArchive, type SqliteArchive } from './index.js';
import { IT0, image } from './test-helpers/archive-suite.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-images-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const open: SqliteArchive[] = [];
const dbPath = (): string => path.join(dir, `i${++n}.sqlite`);
async function fresh(file = dbPath()): Promise<SqliteArchive> {
  const a = await openSqliteArchive(file, { batchMs: 5 });
  open.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

const T0 = IT0;

describe('archive: image index', () => {
  it('survives a reopen (the index is in the file)', async () => {
    const file = dbPath();
    const a = await fresh(file);
    const { image: rec } = await a.addImage(image());
    await a.close();
    const b = await fresh(file);
    expect(await b.getImage(rec.id)).toEqual(rec);
    expect((await b.addImage(image())).added).toBe(false);
  });

  it('upgrades an archive of schema version 1: the images table is added, the data kept', async () => {
    const file = dbPath();
    const a = await fresh(file);
    await a.write([{ device: 'dev', name: 'x', t: T0, value: 1 }]);
    await a.close();
    // Make it a version-1 file, as an archive written before the image index.
    const db = new Database(file);
    db.exec('DROP TABLE images; DELETE FROM schema_version WHERE version = 2');
    db.close();
    const b = await fresh(file);
    expect(SCHEMA_VERSION).toBe(2);
    expect(b.database.prepare('SELECT max(version) FROM schema_version').pluck().get()).toBe(2);
    expect((await b.history('dev', 'x', T0 - 1, T0 + 1, 10)).points).toEqual([{ t: T0, v: 1 }]);
    const { added } = await b.addImage(image());
    expect(added).toBe(true);
  });
});
