import { describe, expect, it } from 'vitest';
import type { ImageRecord } from '../archive/types.js';
import { writeImage16 } from '../fits/index.js';
import { ImageFileCache, downloadName } from './images.js';

const rec = (id: number): ImageRecord => ({ id, t: 0, device: 'ccd', path: `/d/${id}.fits`, frame: id, exptime: 1, type: 'dark', object: '', width: 4, height: 2, bitpix: 16, bytes: null, min: null, max: null, mean: null, median: null });
const file = (v: number): Buffer => Buffer.from(writeImage16({ width: 4, height: 2, pixels: new Uint16Array(8).fill(v) }));

describe('image file cache', () => {
  it('one transfer for requests that overlap or follow, least recently used files go first', async () => {
    const asked: number[] = [];
    const cache = new ImageFileCache(async (img) => {
      asked.push(img.id);
      await new Promise((r) => setTimeout(r, 5));
      return file(img.id);
    }, 2, 1 << 30);
    const [a, b] = await Promise.all([cache.file(rec(1)), cache.pixels(rec(1))]);
    expect(a.bytes.equals(file(1))).toBe(true);
    expect(Array.from(b.pixels)).toEqual(new Array(8).fill(1));
    await cache.file(rec(2));
    await cache.file(rec(1)); // 1 is now the most recent
    await cache.file(rec(3)); // evicts 2
    await cache.file(rec(1));
    await cache.file(rec(2));
    expect(asked).toEqual([1, 2, 3, 2]);
    expect(cache.fetches).toBe(4);
  });

  it('a failed transfer is not kept: the next request tries again', async () => {
    let fail = true;
    const cache = new ImageFileCache(async (img) => {
      if (fail) throw new Error('link dropped');
      return file(img.id);
    }, 4, 1 << 30);
    await expect(cache.file(rec(1))).rejects.toThrow(/link dropped/);
    fail = false;
    expect((await cache.file(rec(1))).bytes.equals(file(1))).toBe(true);
  });

  it('keeps under its byte budget (but always the newest file)', async () => {
    const cache = new ImageFileCache(async (img) => file(img.id), 10, 6000);
    for (let i = 1; i <= 4; i++) await cache.file(rec(i));
    // Each file is 5760 bytes: only the newest fits.
    await cache.file(rec(4));
    expect(cache.fetches).toBe(4);
    await cache.file(rec(3));
    expect(cache.fetches).toBe(5);
  });

  it('download names are the basename, with only safe characters', () => {
    expect(downloadName('/data/2026-12-03/archon-20261203-170000-f000001.fits')).toBe('archon-20261203-170000-f000001.fits');
    expect(downloadName('C:\\img\\a b"c.fits')).toBe('a_b_c.fits');
    expect(downloadName('/data/..')).toBe('image.fits');
    expect(downloadName('/')).toBe('image.fits');
  });
});
