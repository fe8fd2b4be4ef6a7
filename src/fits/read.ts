/**
 * Reads a primary-HDU FITS image as write.ts writes it (and as CCD software generally does):
 * the header cards with typed values (HIERARCH names as their words, CONTINUE long strings
 * joined), and the pixels of a 2-D BITPIX 16 or 32 array with its BZERO applied, as true
 * unsigned values. Pure: bytes in, values out; every problem is a FitsFormatError that says what
 * is wrong with the file.
 */
import type { CardValue } from './cards.js';
import { BLOCK } from './write.js';

/** One header entry as read; `comment` is '' when the card has none. */
export interface HeaderCard {
  /** A keyword (`EXPTIME`), the words of a HIERARCH name (`LABWIRE CHILLER TEMPERATURE`), or COMMENT/HISTORY/''. */
  key: string;
  value: CardValue;
  comment: string;
}

export interface FitsHeader {
  cards: HeaderCard[];
  /** Bytes of the header including its padding: the data unit starts here. */
  headerBytes: number;
}

export interface FitsImage {
  header: HeaderCard[];
  width: number;
  height: number;
  bitpix: 16 | 32;
  bzero: number;
  /** Row-major, NAXIS1 (x) fastest, FITS row 1 first; BZERO applied. */
  pixels: Uint16Array | Uint32Array;
  headerBytes: number;
  /** Bytes of pixel data (without padding). */
  dataBytes: number;
}

export class FitsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FitsFormatError';
  }
}

const CARD = 80;

function cardText(bytes: Uint8Array, at: number): string {
  let s = '';
  for (let i = 0; i < CARD; i++) s += String.fromCharCode(bytes[at + i]!);
  return s;
}

/** A quoted string from `text` (starting at its opening quote): the value and what follows. */
function quotedString(text: string): { value: string; rest: string } {
  let value = '';
  let i = 1;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "'") {
      if (text[i + 1] === "'") {
        value += "'";
        i++;
        continue;
      }
      // Trailing spaces in a FITS string carry no meaning; leading ones do.
      return { value: value.replace(/ +$/, ''), rest: text.slice(i + 1) };
    }
    value += ch;
  }
  throw new FitsFormatError(`a string value has no closing quote: ${text.trim()}`);
}

function commentOf(rest: string): string {
  const slash = rest.indexOf('/');
  return slash < 0 ? '' : rest.slice(slash + 1).trim();
}

/** The value field after `= ` (and its comment). */
function parseValue(field: string): { value: CardValue; comment: string; continued: boolean } {
  const trimmed = field.trimStart();
  if (trimmed.startsWith("'")) {
    const { value, rest } = quotedString(trimmed);
    return { value, comment: commentOf(rest), continued: false };
  }
  const slash = trimmed.indexOf('/');
  const text = (slash < 0 ? trimmed : trimmed.slice(0, slash)).trim();
  const comment = slash < 0 ? '' : trimmed.slice(slash + 1).trim();
  if (text === '') return { value: null, comment, continued: false };
  if (text === 'T') return { value: true, comment, continued: false };
  if (text === 'F') return { value: false, comment, continued: false };
  if (/^[+-]?\d+$/.test(text)) return { value: Number(text), comment, continued: false };
  if (/^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$/.test(text)) return { value: Number(text.replace(/[Dd]/, 'E')), comment, continued: false };
  // A complex number or something unusual: kept as its text.
  return { value: text, comment, continued: false };
}

/** Parses the header; throws FitsFormatError when there is no END card or the cards are not ASCII. */
export function readHeader(bytes: Uint8Array): FitsHeader {
  const cards: HeaderCard[] = [];
  /** The string card a CONTINUE card extends, while its value ends with `&`. */
  let open: HeaderCard | undefined;
  for (let at = 0; at + CARD <= bytes.length; at += CARD) {
    for (let i = at; i < at + CARD; i++) {
      const b = bytes[i]!;
      if (b < 0x20 || b > 0x7e) {
        const where = at === 0 ? 'not a FITS header' : `the header has no END card before byte ${at} (a truncated header, or a damaged one)`;
        throw new FitsFormatError(`the header holds a byte that is not printable ASCII (0x${b.toString(16)}) at offset ${i}: ${where}`);
      }
    }
    const text = cardText(bytes, at);
    if (at === 0 && !text.startsWith('SIMPLE  =')) throw new FitsFormatError('the file does not start with SIMPLE =: not a FITS file');
    const key = text.slice(0, 8).trimEnd();
    if (key === 'END') return { cards, headerBytes: Math.ceil((at + CARD) / BLOCK) * BLOCK };
    if (key === 'CONTINUE' && text.slice(8, 10) !== '= ') {
      if (open !== undefined && typeof open.value === 'string') {
        const body = text.slice(8).trimStart();
        if (body.startsWith("'")) {
          const { value, rest } = quotedString(body);
          const more = value.endsWith('&');
          open.value = open.value.slice(0, -1) + value;
          const comment = commentOf(rest);
          if (comment) open.comment = open.comment ? `${open.comment} ${comment}` : comment;
          if (!more) open = undefined;
          continue;
        }
      }
      cards.push({ key, value: text.slice(8).trimEnd(), comment: '' });
      open = undefined;
      continue;
    }
    open = undefined;
    let card: HeaderCard;
    if (key === 'HIERARCH') {
      const eq = text.indexOf('=', 9);
      if (eq < 0) card = { key, value: text.slice(8).trimEnd(), comment: '' };
      else {
        const { value, comment } = parseValue(text.slice(eq + 1));
        card = { key: text.slice(9, eq).trim(), value, comment };
      }
    } else if (text.slice(8, 10) === '= ') {
      const { value, comment } = parseValue(text.slice(10));
      card = { key, value, comment };
    } else {
      // Commentary: COMMENT, HISTORY, a blank keyword, or anything without the value indicator.
      card = { key, value: text.slice(8).trimEnd(), comment: '' };
    }
    cards.push(card);
    if (typeof card.value === 'string' && card.value.endsWith('&') && card.key !== 'COMMENT' && card.key !== 'HISTORY' && card.key !== '') open = card;
  }
  throw new FitsFormatError(`no END card in the first ${bytes.length} bytes: the header is incomplete (a truncated file?)`);
}

/** The value of the first card with this key, or undefined. */
export function headerValue(cards: readonly HeaderCard[], key: string): CardValue | undefined {
  return cards.find((c) => c.key === key)?.value;
}

function integerCard(cards: readonly HeaderCard[], key: string, fallback?: number): number {
  const v = headerValue(cards, key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new FitsFormatError(`${key} is ${v === undefined ? 'missing' : `not an integer (${String(v)})`}`);
  return v;
}

/**
 * Reads a 2-D image of BITPIX 16 or 32. Stored values are signed big-endian; BZERO (2^15 or 2^31
 * for unsigned data, or 0) is added, and a pixel that then falls outside the unsigned range is an
 * error rather than a silently wrapped value.
 */
export function readImage(bytes: Uint8Array): FitsImage {
  const { cards, headerBytes } = readHeader(bytes);
  if (headerValue(cards, 'SIMPLE') !== true) throw new FitsFormatError('SIMPLE is not T: the file does not conform to the FITS standard');
  const bitpix = integerCard(cards, 'BITPIX');
  if (bitpix !== 16 && bitpix !== 32) throw new FitsFormatError(`BITPIX ${bitpix} is not supported (16 or 32-bit integer images only)`);
  const naxis = integerCard(cards, 'NAXIS');
  if (naxis !== 2) throw new FitsFormatError(`NAXIS is ${naxis}: only 2-D images are supported`);
  const width = integerCard(cards, 'NAXIS1');
  const height = integerCard(cards, 'NAXIS2');
  if (width < 1 || height < 1) throw new FitsFormatError(`image size ${width} × ${height} holds no pixels`);
  const bscale = headerValue(cards, 'BSCALE') ?? 1;
  if (bscale !== 1) throw new FitsFormatError(`BSCALE ${String(bscale)} is not supported (only 1)`);
  const bzeroValue = headerValue(cards, 'BZERO') ?? 0;
  if (typeof bzeroValue !== 'number') throw new FitsFormatError(`BZERO is not a number (${String(bzeroValue)})`);
  const bzero = bzeroValue;
  const n = width * height;
  const size = bitpix / 8;
  const dataBytes = n * size;
  const available = bytes.length - headerBytes;
  if (available < dataBytes) {
    throw new FitsFormatError(`the data unit is short: ${width} × ${height} pixels of ${size} bytes need ${dataBytes} bytes after the ${headerBytes}-byte header, the file has ${Math.max(0, available)} (truncated?)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + headerBytes, dataBytes);
  if (bitpix === 16) {
    const pixels = new Uint16Array(n);
    if (bzero === 32768) {
      // The usual case: adding 2^15 to a signed 16-bit value is flipping its top bit.
      for (let i = 0; i < n; i++) pixels[i] = view.getUint16(2 * i) ^ 0x8000;
    } else {
      for (let i = 0; i < n; i++) {
        const v = view.getInt16(2 * i) + bzero;
        if (v < 0 || v > 0xffff || !Number.isInteger(v)) throw new FitsFormatError(`pixel ${i} is ${v} with BZERO ${bzero}: not an unsigned 16-bit value`);
        pixels[i] = v;
      }
    }
    return { header: cards, width, height, bitpix, bzero, pixels, headerBytes, dataBytes };
  }
  const pixels = new Uint32Array(n);
  if (bzero === 2147483648) {
    for (let i = 0; i < n; i++) pixels[i] = (view.getUint32(4 * i) ^ 0x80000000) >>> 0;
  } else {
    for (let i = 0; i < n; i++) {
      const v = view.getInt32(4 * i) + bzero;
      if (v < 0 || v > 0xffffffff || !Number.isInteger(v)) throw new FitsFormatError(`pixel ${i} is ${v} with BZERO ${bzero}: not an unsigned 32-bit value`);
      pixels[i] = v;
    }
  }
  return { header: cards, width, height, bitpix, bzero, pixels, headerBytes, dataBytes };
}
