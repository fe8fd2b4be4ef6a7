/**
 * A primary-HDU FITS image of unsigned 16-bit pixels (a CCD frame): BITPIX 16 with BZERO 32768,
 * big-endian, padded to 2880-byte blocks, with DATASUM and CHECKSUM computed over the final bytes.
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

const STRUCTURAL = new Set(['SIMPLE', 'BITPIX', 'NAXIS', 'NAXIS1', 'NAXIS2', 'EXTEND', 'BZERO', 'BSCALE', 'DATASUM', 'CHECKSUM', 'END']);

function padded(length: number): number {
  return Math.ceil(length / BLOCK) * BLOCK;
}

/** Stored value = pixel − 32768 (the top bit flipped), big-endian. */
function encodePixels(pixels: Uint16Array): Uint8Array {
  const out = new Uint8Array(padded(pixels.length * 2));
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]! ^ 0x8000;
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  }
  return out;
}

function headerBytes(lines: readonly string[]): Uint8Array {
  const text = [...lines, 'END'.padEnd(CARD)].join('');
  const out = new Uint8Array(padded(text.length)).fill(0x20);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

export function writeImage16(image: Image16): Uint8Array {
  const { width, height, pixels } = image;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new RangeError(`image size ${width} × ${height} must be whole numbers of pixels above 0`);
  }
  if (pixels.length !== width * height) throw new RangeError(`${pixels.length} pixels given for a ${width} × ${height} image (${width * height})`);
  for (const c of image.cards ?? []) {
    if (STRUCTURAL.has(c.key)) throw new RangeError(`${c.key} is written by the FITS writer itself; leave it out of the cards`);
  }
  const data = encodePixels(pixels);
  const datasum = onesSum(data);
  const lines: string[] = [
    ...formatCard({ key: 'SIMPLE', value: true, comment: 'conforms to FITS standard' }),
    ...formatCard({ key: 'BITPIX', value: 16, comment: 'array data type' }),
    ...formatCard({ key: 'NAXIS', value: 2, comment: 'number of array dimensions' }),
    ...formatCard({ key: 'NAXIS1', value: width }),
    ...formatCard({ key: 'NAXIS2', value: height }),
    ...formatCard({ key: 'EXTEND', value: true }),
    ...formatCard({ key: 'BZERO', value: 32768, comment: 'offset data range to that of unsigned short' }),
    ...formatCard({ key: 'BSCALE', value: 1 }),
  ];
  const cards = image.cards ?? [];
  if (cards.some((c) => formatCard(c).length > 1) && !cards.some((c) => c.key === 'LONGSTRN')) {
    lines.push(...formatCard({ key: 'LONGSTRN', value: 'OGIP 1.0', comment: 'CONTINUE cards hold long strings' }));
  }
  for (const c of cards) lines.push(...formatCard(c));
  lines.push(...formatCard({ key: 'DATASUM', value: String(datasum), comment: 'data unit checksum' }));
  const checksumAt = lines.length;
  lines.push(...formatCard({ key: 'CHECKSUM', value: '0'.repeat(16), comment: 'HDU checksum' }));
  const header = headerBytes(lines);
  // The encoding makes the whole HDU sum to −0: it is written into the zeros, quote in column 11.
  const encoded = encodeChecksum(~addSums(onesSum(header), datasum) >>> 0);
  const at = checksumAt * CARD + 11;
  for (let i = 0; i < 16; i++) header[at + i] = encoded.charCodeAt(i);
  const file = new Uint8Array(header.length + data.length);
  file.set(header, 0);
  file.set(data, header.length);
  return file;
}
