/** The image index of the archive (contract §3 of issue 12): add, dedupe, list, get, retention, migration. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, openSqliteArchive, type SqliteArchive } from './index.js';
import { ArchiveQueryError, type ImageInfo } from './types.js';

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

const T0 = Date.UTC(2026, 11, 3, 17, 0, 0);
function image(over: Partial<ImageInfo> = {}): ImageInfo {
  return {
    t: T0,
    device: 'ccd',
    path: '/data/2026-12-03/archon-20261203-170000-f000001.fits',
    frame: 1,
    exptime: 1.5,
    type: 'dark',
    object: '',
    width: 512,
    height: 512,
    bitpix: 16,
    bytes: 527040,
    min: 980,
    max: 65535,
    mean: 1012.25,
    median: 1003,
    ...over,
  };
}

describe('archive: image index', () => {
  it('adds an image and gives it back by id and in the list, every field as given', async () => {
    const a = await fresh();
    const { image: rec, added } = await a.addImage(image());
    expect(added).toBe(true);
    expect(rec).toEqual({ ...image(), id: rec.id });
    expect(await a.getImage(rec.id)).toEqual(rec);
    expect(await a.listImages({})).toEqual([rec]);
    expect(await a.getImage(rec.id + 100)).toBeUndefined();
  });

  it('keeps one row per (device, path): a second add returns the first record, unchanged', async () => {
    const a = await fresh();
    const first = await a.addImage(image());
    const again = await a.addImage(image({ exptime: 99 }));
    expect(again.added).toBe(false);
    expect(again.image).toEqual(first.image);
    // The same path from another device is another image.
    const other = await a.addImage(image({ device: 'ccd2' }));
    expect(other.added).toBe(true);
    expect(other.image.id).not.toBe(first.image.id);
    expect(await a.listImages({})).toHaveLength(2);
  });

  it('lists newest exposure first, by device, by time range, at most limit', async () => {
    const a = await fresh();
    for (let i = 0; i < 10; i++) await a.addImage(image({ t: T0 + i * 1000, frame: i, path: `/d/f${i}.fits`, device: i % 2 === 0 ? 'ccd' : 'guider' }));
    const all = await a.listImages({});
    expect(all.map((r) => r.frame)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect((await a.listImages({ device: 'guider' })).map((r) => r.frame)).toEqual([9, 7, 5, 3, 1]);
    expect((await a.listImages({ from: T0 + 2000, to: T0 + 4000 })).map((r) => r.frame)).toEqual([4, 3, 2]);
    expect((await a.listImages({ limit: 3 })).map((r) => r.frame)).toEqual([9, 8, 7]);
    expect(await a.listImages({ device: 'nobody' })).toEqual([]);
  });

  it('stores missing numbers as null and reads them back as null', async () => {
    const a = await fresh();
    const info = image({ frame: null, exptime: null, bytes: null, min: null, max: null, mean: null, median: null, type: '', object: 'M42 "core"' });
    const { image: rec } = await a.addImage(info);
    expect(await a.getImage(rec.id)).toEqual({ ...info, id: rec.id });
  });

  it('refuses entries it cannot hold and bad queries, with the reason', async () => {
    const a = await fresh();
    await expect(a.addImage(image({ path: '' }))).rejects.toThrow(/path must be a non-empty string/);
    await expect(a.addImage(image({ device: '' }))).rejects.toThrow(ArchiveQueryError);
    await expect(a.addImage(image({ width: 0 }))).rejects.toThrow(/width must be an integer above 0/);
    await expect(a.addImage(image({ mean: Number.NaN }))).rejects.toThrow(/mean must be a number or null/);
    await expect(a.addImage(image({ t: Number.POSITIVE_INFINITY }))).rejects.toThrow(/t must be unix milliseconds/);
    await expect(a.listImages({ limit: 0 })).rejects.toThrow(/limit must be an integer/);
    await expect(a.listImages({ from: 10, to: 5 })).rejects.toThrow(ArchiveQueryError);
    await expect(a.getImage(1.5)).rejects.toThrow(/integer/);
    expect(await a.listImages({})).toEqual([]);
  });

  it('survives a reopen (the index is in the file)', async () => {
    const file = dbPath();
    const a = await fresh(file);
    const { image: rec } = await a.addImage(image());
    await a.close();
    const b = await fresh(file);
    expect(await b.getImage(rec.id)).toEqual(rec);
    expect((await b.addImage(image())).added).toBe(false);
  });

  it('retention removes index rows older than imagesMs and keeps the rest; without it, keeps all', async () => {
    const a = await fresh();
    const DAY = 86_400_000;
    for (let i = 0; i < 5; i++) await a.addImage(image({ t: T0 - i * DAY, path: `/d/${i}.fits`, frame: i }));
    await a.applyRetention({ rawMs: DAY }, T0);
    expect(await a.listImages({})).toHaveLength(5);
    await a.applyRetention({ imagesMs: 2.5 * DAY }, T0);
    expect((await a.listImages({})).map((r) => r.frame)).toEqual([0, 1, 2]);
    await expect(a.applyRetention({ imagesMs: -1 })).rejects.toThrow(/imagesMs must be a duration/);
  });

  it('never gives an id twice, even after retention emptied the index', async () => {
    const a = await fresh();
    const first = (await a.addImage(image({ t: T0 - 10 * 86_400_000, path: '/d/old.fits' }))).image;
    await a.applyRetention({ imagesMs: 86_400_000 }, T0);
    expect(await a.listImages({})).toEqual([]);
    const next = (await a.addImage(image({ path: '/d/new.fits' }))).image;
    expect(next.id).toBeGreaterThan(first.id);
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
