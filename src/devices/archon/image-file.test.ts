/**
 * The Archon's FITS files without a controller: header cards from a large and unfriendly lab
 * state (fitsverify clean, astropy reads the values back), file names, statistics, the .part
 * discipline on a full disk, and which paths may be served.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../daemon/api.js';
import { writeImage16 } from '../../fits/index.js';
import { imageCards, imagePath, imageStats, listImages, readImageInfo, removeStaleParts, resolveImage, writeImageFile, type ImageMeta } from './image-file.js';
import { astropyCheck, fitsverify } from './test-helpers/fits-check.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'archon-files-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const META: ImageMeta = { startMs: Date.UTC(2026, 11, 3, 17, 15, 2, 345), frame: 12, exptime: 1.5, type: 'dark', object: "O'Brien – Ñandú", instrument: 'STA Archon', daemon: 'cam' };

/** Five devices × 100 parameters, with every kind of value and name that could break a header. */
function bigLab(): LabState {
  const devices = Array.from({ length: 5 }, (_, d) => {
    const values: Record<string, string | number | boolean | null> = {};
    const units: Record<string, string> = {};
    for (let i = 0; i < 100; i++) {
      const name = `p${i}.value`;
      switch (i % 6) {
        case 0: values[name] = i * 1.25; units[name] = '°C'; break;
        case 1: values[name] = i; break;
        case 2: values[name] = i % 4 === 0; break;
        case 3: values[name] = `it's "quoted" µ° ${'long text '.repeat(i % 12)}`; break;
        case 4: values[name] = null; break;
        default: values[name] = i % 5 === 0 ? Number.NaN : -1e-12 * i;
      }
    }
    return { name: d === 0 ? 'chiller' : `dev-${d}`, connected: d !== 4, values, units };
  });
  // Names that collide in upper case, and one too long for any card.
  devices[0]!.values.Temp = 1;
  devices[0]!.values.TEMP = 2;
  devices[0]!.values['x'.repeat(90)] = 3;
  return { t: Date.now(), source: 'monitor 127.0.0.1:7700', devices };
}

describe('Archon FITS header from the lab state', () => {
  it('500 parameters with quotes, non-ASCII, NaN, null and long strings: fitsverify clean, astropy reads them back', async () => {
    const lab = bigLab();
    const cards = imageCards(META, lab);
    const pixels = Uint16Array.from({ length: 64 * 32 }, (_, i) => (i * 977) & 0xffff);
    const file = path.join(dir, 'big.fits');
    await writeImageFile(file, writeImage16({ width: 64, height: 32, pixels, cards }));
    await fitsverify(file);
    const expected: Record<string, unknown> = {
      'DATE-OBS': '2026-12-03T17:15:02.345',
      EXPTIME: 1.5,
      IMAGETYP: 'dark',
      OBJECT: "O'Brien - Nandu",
      FRAMENUM: 12,
      LABSTATE: 'monitor 127.0.0.1:7700',
      'LABWIRE CHILLER P0.VALUE': 0,
      'LABWIRE CHILLER P1.VALUE': 1,
      'LABWIRE CHILLER P2.VALUE': false,
      'LABWIRE CHILLER P8.VALUE': true,
      'LABWIRE CHILLER P3.VALUE': `it's "quoted" udeg ${'long text '.repeat(3)}`.trimEnd(),
      'LABWIRE CHILLER P9.VALUE': `it's "quoted" udeg ${'long text '.repeat(9)}`.trimEnd(),
      'LABWIRE DEV-2 P11.VALUE': -1e-12 * 11,
      'LABWIRE CHILLER TEMP': 1,
      'LABWIRE CHILLER TEMP_2': 2,
      'LABWIRE DEV-4 CONNECTED': false,
    };
    expect(await astropyCheck(file, pixels, 64, 32, expected)).toBe('ok');
    // The card comment carries the unit; the too-long name is left out and counted.
    const text = fs.readFileSync(file, 'latin1');
    expect(text).toContain('HIERARCH LABWIRE CHILLER P0.VALUE = 0 / [degC]');
    expect(text).toMatch(/COMMENT 1 lab-state values left out/);
    expect(cards.filter((c) => c.key.startsWith('LABWIRE')).length).toBeGreaterThan(500);
  }, 60_000);

  it('the check itself fails on a wrong value (so a pass means something)', async () => {
    const pixels = new Uint16Array(4);
    const file = path.join(dir, 'small.fits');
    await writeImageFile(file, writeImage16({ width: 2, height: 2, pixels, cards: imageCards(META, bigLab()) }));
    expect(await astropyCheck(file, pixels, 2, 2, { EXPTIME: 2 })).toBe('EXPTIME: 1.5 != 2');
  }, 60_000);
});

describe('Archon image files', () => {
  it('names files by UTC date, time and frame', () => {
    expect(imagePath('/data', 'cam', META.startMs, 12)).toBe('/data/2026-12-03/cam-20261203-171502-f000012.fits');
  });

  it('statistics: min, max, mean, lower median of 16- and 32-bit samples', () => {
    const values = [5, 1, 65535, 3, 3, 0];
    const le16 = Buffer.alloc(values.length * 2);
    values.forEach((v, i) => le16.writeUInt16LE(v, 2 * i));
    expect(imageStats(le16, 16)).toEqual({ min: 0, max: 65535, mean: 65547 / 6, median: 3 });
    const le32 = Buffer.alloc(8);
    le32.writeUInt32LE(0xffffffff, 0);
    le32.writeUInt32LE(7, 4);
    expect(imageStats(le32, 32)).toEqual({ min: 7, max: 0xffffffff, mean: (0xffffffff + 7) / 2, median: 7 });
  });

  it('a full disk leaves neither the file nor its .part', async () => {
    const file = path.join(dir, 'full', 'x.fits');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.symlinkSync('/dev/full', `${file}.part`);
    await expect(writeImageFile(file, new Uint8Array(2880 * 4))).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(fs.existsSync(file)).toBe(false);
    expect(() => fs.lstatSync(`${file}.part`)).toThrow();
  });

  it('writes into a new day folder, lists files from a time on, and removes only its own stale .part files', async () => {
    const root = path.join(dir, 'days');
    const t0 = Date.UTC(2026, 11, 3, 23, 59, 58);
    const files = [0, 1, 3].map((k, i) => imagePath(root, 'cam', t0 + k * 1000, i + 1));
    for (const f of files) await writeImageFile(f, new Uint8Array(2880));
    expect(new Set(files.map((f) => path.basename(path.dirname(f))))).toEqual(new Set(['2026-12-03', '2026-12-04']));
    expect((await listImages(root, t0 + 1000, 10)).paths).toEqual(files.slice(1).map((f) => fs.realpathSync(f)));
    expect(await listImages(root, 0, 2)).toEqual({ paths: files.slice(0, 2).map((f) => fs.realpathSync(f)), more: true });
    fs.writeFileSync(`${files[0]}.part`, 'half');
    const other = path.join(path.dirname(files[0]!), 'other-20261203-235958-f000001.fits.part');
    fs.writeFileSync(other, 'not ours');
    expect(await removeStaleParts(root, 'cam')).toBe(1);
    expect(fs.existsSync(`${files[0]}.part`)).toBe(false);
    expect(fs.existsSync(other)).toBe(true);
    expect(fs.existsSync(files[0]!)).toBe(true);
  });

  it('serves only existing .fits files inside the folder, and reads their info back', async () => {
    const file = path.join(dir, '2026-12-03', 'cam-20261203-171502-f000012.fits');
    const pixels = Uint16Array.from([1, 2, 3, 40000]);
    await writeImageFile(file, writeImage16({ width: 2, height: 2, pixels, cards: imageCards(META, { t: 0, source: 'this daemon only', devices: [] }) }));
    expect(await resolveImage(dir, '2026-12-03/cam-20261203-171502-f000012.fits')).toBe(fs.realpathSync(file));
    expect(await resolveImage(dir, file)).toBe(fs.realpathSync(file));
    await expect(resolveImage(dir, '../etc/passwd')).rejects.toThrow(/not a \.fits file/);
    await expect(resolveImage(dir, '../x.fits')).rejects.toThrow(/does not exist|outside/);
    await expect(resolveImage(dir, 'nope.fits')).rejects.toThrow(/does not exist/);
    const info = await readImageInfo(file);
    expect(info).toMatchObject({ t: META.startMs, frame: 12, exptime: 1.5, type: 'dark', width: 2, height: 2, bitpix: 16, min: 1, max: 40000, median: 2 });
    expect(info.bytes).toBe(fs.statSync(file).size);
  });
});
