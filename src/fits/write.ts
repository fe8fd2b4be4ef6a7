/**
 * Primary-HDU FITS images of unsigned integer pixels (CCD frames): BITPIX 16 with BZERO 32768 or
 * BITPIX 32 with BZERO 2147483648, big-endian, padded to 2880-byte blocks, with DATASUM and
 * CHECKSUM computed over the final bytes.
 *
 * Two ways in. `writeImage16`/`writeImage32` take pixels as typed arrays and return the file.
 * For large frames `prepareImage` lays the whole file out first (the header size depends on the
 * cards only, not on the sums), hands out the data region for the caller to fill with
 * little-endian samples straight from the source (an Archon FETCH), and `finishImage` converts
 * them in place and fills in the sums: one buffer for the whole file, no copy of the frame.
 */
import { addSums, encodeChecksum, onesSum } from './checksum.js';
import { CARD, formatCard, type Card } from './cards.js';

export const BLOCK = 2880;

export interface Image16 {
  width: number;
  height: number;
  /** Row-major, NAXIS1 (x) fastest: pixel (1,1) first, as FITS stores it. */
  pixels: Uint16Array;
  /** Cards after the structural ones (DATE-OBS, EXPTIME, OBJECT, HIERARCH lab state …). */
  cards?: readonly Card[];
}

export interface Image32 {
  width: number;
  height: number;
  pixels: Uint32Array;
  cards?: readonly Card[];
}

export interface ImageLayout {
  width: number;
  height: number;
  /** 16: unsigned 16-bit pixels, 32: unsigned 32-bit pixels. */
  bitpix: 16 | 32;
  cards?: readonly Card[];
}

/** A FITS file laid out in one buffer, waiting for its pixels. */
export interface PreparedImage {
  readonly layout: ImageLayout;
  /** The whole file: header, data, zero padding. Its byteOffset is 0 (typed views of it are aligned). */
  readonly file: Uint8Array;
  /** Where the data starts in `file` (a multiple of 2880). */
  readonly dataOffset: number;
  /** width × height × bytes per pixel. */
  readonly dataBytes: number;
  /** file[dataOffset, dataOffset + dataBytes): to be filled with little-endian unsigned samples. */
  readonly data: Uint8Array;
  /** Card index of CHECKSUM and the header bytes, for finishImage. */
  readonly checksumCard: number;
  readonly datasumCard: number;
}

const STRUCTURAL = new Set(['SIMPLE', 'BITPIX', 'NAXIS', 'NAXIS1', 'NAXIS2', 'EXTEND', 'BZERO', 'BSCALE', 'DATASUM', 'CHECKSUM', 'END']);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function padded(length: number): number {
  return Math.ceil(length / BLOCK) * BLOCK;
}

function headerLines(layout: ImageLayout): { lines: string[]; datasumAt: number; checksumAt: number } {
  const { width, height, bitpix } = layout;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new RangeError(`image size ${width} × ${height} must be whole numbers of pixels above 0`);
  }
  if (bitpix !== 16 && bitpix !== 32) throw new RangeError(`BITPIX ${String(bitpix)}: only unsigned 16- and 32-bit images are written`);
  for (const c of layout.cards ?? []) {
    if (STRUCTURAL.has(c.key)) throw new RangeError(`${c.key} is written by the FITS writer itself; leave it out of the cards`);
  }
  const lines: string[] = [
    ...formatCard({ key: 'SIMPLE', value: true, comment: 'conforms to FITS standard' }),
    ...formatCard({ key: 'BITPIX', value: bitpix, comment: 'array data type' }),
    ...formatCard({ key: 'NAXIS', value: 2, comment: 'number of array dimensions' }),
    ...formatCard({ key: 'NAXIS1', value: width }),
    ...formatCard({ key: 'NAXIS2', value: height }),
    ...formatCard({ key: 'EXTEND', value: true }),
    bitpix === 16
      ? formatCard({ key: 'BZERO', value: 32768, comment: 'offset data range to that of unsigned short' })[0]!
      : formatCard({ key: 'BZERO', value: 2147483648, comment: 'offset data range to that of unsigned long' })[0]!,
    ...formatCard({ key: 'BSCALE', value: 1 }),
  ];
  const cards = layout.cards ?? [];
  if (cards.some((c) => formatCard(c).length > 1) && !cards.some((c) => c.key === 'LONGSTRN')) {
    lines.push(...formatCard({ key: 'LONGSTRN', value: 'OGIP 1.0', comment: 'CONTINUE cards hold long strings' }));
  }
  for (const c of cards) lines.push(...formatCard(c));
  const datasumAt = lines.length;
  // Both sums have a fixed width, so the header's size does not depend on their values.
  lines.push(...formatCard({ key: 'DATASUM', value: '0'.repeat(10), comment: 'data unit checksum' }));
  const checksumAt = lines.length;
  lines.push(...formatCard({ key: 'CHECKSUM', value: '0'.repeat(16), comment: 'HDU checksum' }));
  lines.push('END'.padEnd(CARD));
  return { lines, datasumAt, checksumAt };
}

/** Lays out the file; throws RangeError for a size or card the writer cannot make. */
export function prepareImage(layout: ImageLayout): PreparedImage {
  const { lines, datasumAt, checksumAt } = headerLines(layout);
  const dataOffset = padded(lines.length * CARD);
  const dataBytes = layout.width * layout.height * (layout.bitpix / 8);
  // new Uint8Array: zero-filled (the data padding must be zeros) and never a slice of a pool.
  const file = new Uint8Array(dataOffset + padded(dataBytes));
  file.fill(0x20, 0, dataOffset);
  let at = 0;
  for (const line of lines) {
    for (let i = 0; i < CARD; i++) file[at + i] = line.charCodeAt(i);
    at += CARD;
  }
  return { layout, file, dataOffset, dataBytes, data: file.subarray(dataOffset, dataOffset + dataBytes), checksumCard: checksumAt, datasumCard: datasumAt };
}

/** How long each step of finishImage took. */
export interface FinishTimings {
  /** LE unsigned → BE signed with the BZERO offset, in place. */
  convertMs: number;
  /** DATASUM and CHECKSUM. */
  checksumMs: number;
}

/**
 * Converts the little-endian unsigned samples in `data` in place to FITS (top bit flipped,
 * big-endian) and writes DATASUM and CHECKSUM. Call once; returns the file bytes.
 */
export function finishImage(image: PreparedImage): { file: Uint8Array; timings: FinishTimings } {
  const t0 = performance.now();
  const { data, file, layout } = image;
  const n = layout.width * layout.height;
  if (layout.bitpix === 16) {
    if (LITTLE_ENDIAN_HOST) {
      const words = new Uint16Array(file.buffer, file.byteOffset + image.dataOffset, n);
      for (let i = 0; i < n; i++) words[i]! ^= 0x8000;
      Buffer.from(data.buffer, data.byteOffset, data.length).swap16();
    } else {
      for (let i = 0; i < data.length; i += 2) {
        const lo = data[i]!;
        data[i] = data[i + 1]! ^ 0x80;
        data[i + 1] = lo;
      }
    }
  } else if (LITTLE_ENDIAN_HOST) {
    const words = new Uint32Array(file.buffer, file.byteOffset + image.dataOffset, n);
    for (let i = 0; i < n; i++) words[i] = (words[i]! ^ 0x80000000) >>> 0;
    Buffer.from(data.buffer, data.byteOffset, data.length).swap32();
  } else {
    for (let i = 0; i < data.length; i += 4) {
      const b0 = data[i]!;
      const b1 = data[i + 1]!;
      data[i] = data[i + 3]! ^ 0x80;
      data[i + 1] = data[i + 2]!;
      data[i + 2] = b1;
      data[i + 3] = b0;
    }
  }
  const t1 = performance.now();
  // The zero padding adds nothing to the sum; the data rounded up to whole words is what counts.
  const datasum = onesSum(file.subarray(image.dataOffset, image.dataOffset + Math.ceil(image.dataBytes / 4) * 4));
  writeCard(file, image.datasumCard, formatCard({ key: 'DATASUM', value: String(datasum), comment: 'data unit checksum' })[0]!);
  const header = file.subarray(0, image.dataOffset);
  // The encoding makes the whole HDU sum to −0: it is written into the zeros, quote in column 11.
  const encoded = encodeChecksum(~addSums(onesSum(header), datasum) >>> 0);
  const at = image.checksumCard * CARD + 11;
  for (let i = 0; i < 16; i++) file[at + i] = encoded.charCodeAt(i);
  const t2 = performance.now();
  return { file, timings: { convertMs: t1 - t0, checksumMs: t2 - t1 } };
}

function writeCard(file: Uint8Array, index: number, line: string): void {
  const at = index * CARD;
  for (let i = 0; i < CARD; i++) file[at + i] = line.charCodeAt(i);
}

function checkPixels(width: number, height: number, count: number): void {
  if (count !== width * height) throw new RangeError(`${count} pixels given for a ${width} × ${height} image (${width * height})`);
}

export function writeImage16(image: Image16): Uint8Array {
  const prepared = prepareImage({ width: image.width, height: image.height, bitpix: 16, cards: image.cards ?? [] });
  checkPixels(image.width, image.height, image.pixels.length);
  const view = new DataView(prepared.file.buffer, prepared.dataOffset, prepared.dataBytes);
  for (let i = 0; i < image.pixels.length; i++) view.setUint16(2 * i, image.pixels[i]!, true);
  return finishImage(prepared).file;
}

/** Unsigned 32-bit pixels: BITPIX 32, BZERO 2147483648 (stored value = pixel − 2³¹). */
export function writeImage32(image: Image32): Uint8Array {
  const prepared = prepareImage({ width: image.width, height: image.height, bitpix: 32, cards: image.cards ?? [] });
  checkPixels(image.width, image.height, image.pixels.length);
  const view = new DataView(prepared.file.buffer, prepared.dataOffset, prepared.dataBytes);
  for (let i = 0; i < image.pixels.length; i++) view.setUint32(4 * i, image.pixels[i]!, true);
  return finishImage(prepared).file;
}
