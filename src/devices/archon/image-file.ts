/**
 * The Archon daemon's FITS files: where they go (`<dataDir>/<YYYY-MM-DD>/<prefix>-<YYYYMMDD>-
 * <HHMMSS>-f<frame>.fits`, UTC of exposure start), what their header holds (the exposure, then
 * every parameter of every device of the lab state as `HIERARCH LABWIRE <DEVICE> <PARAM>`), how
 * they reach the disk (`.part`, fsync, rename: a reader never sees half a file under the final
 * name), their pixel statistics, and which files may be served (only those inside dataDir).
 */
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile, readdir, realpath, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { asciiText, formatCard, readHeader, readImage, headerValue, type Card, type CardValue } from '../../fits/index.js';
import type { LabState } from '../../daemon/api.js';
import { LabwireError, type WireValue } from '../../wire/types.js';

export const IMAGE_TYPES = ['object', 'bias', 'dark', 'flat'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

export interface ImageMeta {
  /** Unix ms of the exposure start. */
  startMs: number;
  frame: number;
  /** Requested exposure time, s. */
  exptime: number;
  type: ImageType;
  object: string;
  instrument: string;
  /** This daemon's name (a header comment). */
  daemon: string;
}

export interface ImageStats {
  min: number;
  max: number;
  mean: number;
  /** The lower median: the value at sorted position floor((n − 1) / 2). */
  median: number;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `<dataDir>/2026-12-03/archon-20261203-171502-f000012.fits` (UTC of the exposure start). */
export function imagePath(dataDir: string, prefix: string, startMs: number, frame: number): string {
  const d = new Date(startMs);
  const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const stamp = `${day.replace(/-/g, '')}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  return path.join(dataDir, day, `${prefix}-${stamp}-f${pad(frame, 6)}.fits`);
}

/** A lab-state value as a FITS value: missing and non-finite readings become an undefined value. */
function cardValue(v: WireValue): CardValue {
  if (v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  return v;
}

/** A unit for an ASCII card comment: `°C` → `degC`, `µA` → `uA`, `K²` → `K2` (the rest asciiText makes safe). */
export function unitText(unit: string): string {
  return unit.replace(/°/g, 'deg').replace(/[µμ]/g, 'u').replace(/²/g, '2').replace(/³/g, '3').replace(/Ω/g, 'Ohm');
}

/** The words of a HIERARCH name: upper case, printable ASCII, nothing FITS or astropy reads as syntax. */
function keyWord(name: string): string {
  const word = asciiText(name).toUpperCase().replace(/[^A-Z0-9_\-.]/g, '_');
  return word === '' ? '_' : word;
}

/**
 * The header cards after the structural ones: the exposure, then the lab state. A parameter whose
 * card cannot be written (a name too long to leave room for its value) is left out and counted in
 * a COMMENT; two names that come out the same in upper case get a numbered suffix, as FITS forbids
 * duplicate keywords.
 */
export function imageCards(meta: ImageMeta, lab: LabState): Card[] {
  const iso = new Date(meta.startMs).toISOString().replace('Z', '');
  const cards: Card[] = [
    { key: 'DATE-OBS', value: iso, comment: 'UTC start of the exposure' },
    { key: 'DATE', value: new Date().toISOString().replace('Z', ''), comment: 'UTC when the file was written' },
    { key: 'TIMESYS', value: 'UTC' },
    { key: 'EXPTIME', value: meta.exptime, comment: '[s] requested exposure time' },
    { key: 'IMAGETYP', value: meta.type },
    { key: 'OBJECT', value: meta.object },
    { key: 'FRAMENUM', value: meta.frame, comment: 'controller frame number' },
    { key: 'INSTRUME', value: meta.instrument },
    { key: 'ORIGIN', value: 'labwire', comment: `daemon ${meta.daemon}` },
    { key: 'BUNIT', value: 'adu' },
    { key: 'LABSTATE', value: lab.source, comment: 'where the HIERARCH LABWIRE values come from' },
  ];
  if (lab.error) cards.push({ key: 'LABERROR', value: lab.error });
  const used = new Set<string>();
  let skipped = 0;
  for (const device of lab.devices) {
    const dev = keyWord(device.name);
    for (const [param, value] of Object.entries(device.values)) {
      let key = `LABWIRE ${dev} ${keyWord(param)}`;
      for (let n = 2; used.has(key); n++) key = `LABWIRE ${dev} ${keyWord(param)}_${n}`;
      const unit = device.units[param];
      const card: Card = { key, value: cardValue(value), ...(unit ? { comment: `[${unitText(unit)}]` } : {}) };
      try {
        formatCard(card);
      } catch {
        skipped += 1;
        continue;
      }
      used.add(key);
      cards.push(card);
    }
    if (!device.connected) cards.push({ key: `LABWIRE ${dev} CONNECTED`, value: false, comment: 'values are the last known ones' });
  }
  if (skipped > 0) cards.push({ key: 'COMMENT', value: `${skipped} lab-state values left out: their names are too long for a FITS card` });
  return cards;
}

/** Statistics of n samples from their 65 536-bin histogram (as finishImage fills it). */
export function statsFromHistogram(hist: Uint32Array, n: number): ImageStats {
  if (n === 0) return { min: 0, max: 0, mean: 0, median: 0 };
  const half = Math.floor((n - 1) / 2);
  let min = 0;
  while (hist[min] === 0) min++;
  let max = 65535;
  while (hist[max] === 0) max--;
  let seen = 0;
  let sum = 0;
  let median = -1;
  for (let v = min; v <= max; v++) {
    const count = hist[v]!;
    sum += v * count;
    seen += count;
    if (median < 0 && seen > half) median = v;
  }
  return { min, max, mean: sum / n, median };
}

/**
 * Statistics of little-endian unsigned samples (as fetched): 16-bit through a 65 536-bin
 * histogram (exact median), 32-bit by sorting a copy.
 */
export function imageStats(samples: Uint8Array, bitpix: 16 | 32): ImageStats {
  const n = samples.length / (bitpix / 8);
  if (n === 0) return { min: 0, max: 0, mean: 0, median: 0 };
  const view = new DataView(samples.buffer, samples.byteOffset, samples.length);
  if (bitpix === 16) {
    const hist = new Uint32Array(65536);
    for (let i = 0; i < n; i++) hist[view.getUint16(2 * i, true)]! += 1;
    return statsFromHistogram(hist, n);
  }
  const values = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = view.getUint32(4 * i, true);
    values[i] = v;
    sum += v;
  }
  values.sort();
  return { min: values[0]!, max: values[n - 1]!, mean: sum / n, median: values[Math.floor((n - 1) / 2)]! };
}

/**
 * Writes `bytes` as `<file>.part`, fsyncs, renames to `<file>` and fsyncs the folder. On any
 * failure (a full disk) the `.part` is removed and nothing exists under the final name.
 */
export async function writeImageFile(file: string, bytes: Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  // A day folder made now must itself survive a power cut: its parent is synced too.
  const made = await mkdir(dir, { recursive: true });
  if (made !== undefined) await syncDir(path.dirname(dir));
  const part = `${file}.part`;
  try {
    const handle = await open(part, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o644);
    try {
      let at = 0;
      while (at < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, at, bytes.length - at);
        at += bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(part, file);
  } catch (err) {
    await unlink(part).catch(() => undefined);
    throw err;
  }
  // The rename is durable once the folder is synced.
  await syncDir(dir);
}

/** fsync of a folder; one that cannot be synced is no error (not every file system syncs folders). */
async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* nothing to do */
  }
}

/**
 * Removes the `.part` files of this prefix that a daemon killed while writing left behind (they
 * never carry a final name, but would sit in the folder for ever). Returns how many.
 */
export async function removeStaleParts(dataDir: string, prefix: string): Promise<number> {
  let removed = 0;
  const days = await readdir(dataDir, { withFileTypes: true }).catch(() => []);
  for (const day of days) {
    if (!day.isDirectory() || !/^\d{4}-\d{2}-\d{2}$/.test(day.name)) continue;
    for (const name of await readdir(path.join(dataDir, day.name)).catch(() => [] as string[])) {
      if (name.startsWith(`${prefix}-`) && name.endsWith('.fits.part')) {
        await unlink(path.join(dataDir, day.name, name)).then(() => removed++, () => undefined);
      }
    }
  }
  return removed;
}

/**
 * The real path of a FITS file inside `dataDir`, or a RangeError naming the rule: no `..`, no
 * symlink out of the folder, only `.fits` files that exist.
 */
export async function resolveImage(dataDir: string, requested: string): Promise<string> {
  const root = await realpath(dataDir).catch(() => path.resolve(dataDir));
  const candidate = path.resolve(root, requested);
  const refuse = (why: string): LabwireError => new LabwireError('RangeError', `no such image: ${requested} ${why}`);
  if (!candidate.endsWith('.fits')) throw refuse('is not a .fits file');
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw refuse(`does not exist in the image folder ${root}`);
  }
  if (!real.startsWith(root + path.sep)) throw refuse(`is outside the image folder ${root}; only files written there are served`);
  const info = await stat(real);
  if (!info.isFile()) throw refuse('is not a file');
  return real;
}

export interface ImageInfo extends ImageStats {
  path: string;
  t: number;
  frame: number;
  exptime: number;
  type: string;
  object: string;
  width: number;
  height: number;
  bitpix: number;
  bytes: number;
}

/** `image_info` of a file written earlier: its header and statistics read back from disk. */
export async function readImageInfo(file: string): Promise<ImageInfo> {
  const bytes = await readFile(file);
  const header = readHeader(bytes);
  const image = readImage(bytes);
  const le = Buffer.alloc(image.pixels.length * (image.bitpix / 8));
  for (let i = 0; i < image.pixels.length; i++) {
    if (image.bitpix === 16) le.writeUInt16LE(image.pixels[i]!, 2 * i);
    else le.writeUInt32LE(image.pixels[i]!, 4 * i);
  }
  const stats = imageStats(le, image.bitpix);
  const str = (k: string): string => String(headerValue(header.cards, k) ?? '');
  const num = (k: string): number => Number(headerValue(header.cards, k) ?? Number.NaN);
  return {
    path: file,
    t: Date.parse(`${str('DATE-OBS')}Z`),
    frame: num('FRAMENUM'),
    exptime: num('EXPTIME'),
    type: str('IMAGETYP'),
    object: str('OBJECT'),
    width: image.width,
    height: image.height,
    bitpix: image.bitpix,
    bytes: bytes.length,
    ...stats,
  };
}

/** Where a file name of imagePath() says an exposure started (UTC, whole seconds), or undefined. */
export function startFromName(file: string): number | undefined {
  const m = /-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-f\d+\.fits$/.exec(file);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/**
 * The FITS files of the image folder (its date folders) whose exposure started at or after
 * `sinceMs` (by the name's second; files of other names by their modification time), oldest
 * first, at most `limit`; `more` says whether further ones were left out. For a monitor that
 * was away while frames were written: it asks from its newest indexed image on.
 */
export async function listImages(dataDir: string, sinceMs: number, limit: number): Promise<{ paths: string[]; more: boolean }> {
  const root = await realpath(dataDir).catch(() => path.resolve(dataDir));
  const sinceDay = new Date(Math.max(0, Math.floor(sinceMs / 1000) * 1000)).toISOString().slice(0, 10);
  const found: Array<{ file: string; t: number }> = [];
  const days = (await readdir(root, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory() && /^\d{4}-\d{2}-\d{2}$/.test(d.name) && d.name >= sinceDay);
  for (const day of days) {
    for (const name of await readdir(path.join(root, day.name)).catch(() => [] as string[])) {
      if (!name.endsWith('.fits')) continue;
      const file = path.join(root, day.name, name);
      const t = startFromName(name) ?? (await stat(file).then((s) => s.mtimeMs, () => Number.NaN));
      if (t >= Math.floor(sinceMs / 1000) * 1000) found.push({ file, t });
    }
  }
  found.sort((a, b) => a.t - b.t || (a.file < b.file ? -1 : 1));
  return { paths: found.slice(0, limit).map((f) => f.file), more: found.length > limit };
}
