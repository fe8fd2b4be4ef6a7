import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCK, FitsFormatError, formatCard, headerValue, readHeader, readImage, writeImage16, type Card } from './index.js';

/** A header of the given cards (80-column lines) padded to a block, then `data`. */
function rawFile(lines: string[], data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const text = [...lines.map((l) => l.padEnd(80)), 'END'.padEnd(80)].join('');
  const header = new Uint8Array(Math.ceil(text.length / BLOCK) * BLOCK).fill(0x20);
  for (let i = 0; i < text.length; i++) header[i] = text.charCodeAt(i);
  const out = new Uint8Array(header.length + Math.ceil(data.length / BLOCK) * BLOCK);
  out.set(header);
  out.set(data, header.length);
  return out;
}

const structural32 = (w: number, h: number, bzero: number): string[] => [
  'SIMPLE  =                    T',
  'BITPIX  =                   32',
  'NAXIS   =                    2',
  `NAXIS1  = ${String(w).padStart(20)}`,
  `NAXIS2  = ${String(h).padStart(20)}`,
  `BZERO   = ${String(bzero).padStart(20)}`,
];

describe('FITS reader', () => {
  it('reads back what writeImage16 wrote: every pixel, every card value, HIERARCH and CONTINUE', () => {
    const card = fc.oneof(
      fc.record({ key: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,7}$/), value: fc.oneof(fc.integer(), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e30, max: 1e30 }), fc.stringMatching(/^[ -~]{0,150}$/)) }),
      fc.record({ key: fc.stringMatching(/^LABWIRE [A-Z]{1,10} [A-Z_]{1,12}$/), value: fc.oneof(fc.integer(), fc.stringMatching(/^[!-~][ -~]{0,200}$/)) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 30 }), fc.array(card, { maxLength: 12 }), fc.integer(), (w, h, cards, seed) => {
        const unique = cards.filter((c, i) => cards.findIndex((d) => d.key === c.key) === i && !['SIMPLE', 'BITPIX', 'NAXIS', 'NAXIS1', 'NAXIS2', 'EXTEND', 'BZERO', 'BSCALE', 'DATASUM', 'CHECKSUM', 'END', 'LONGSTRN', 'CONTINUE', 'COMMENT', 'HISTORY', 'HIERARCH'].includes(c.key));
        const pixels = new Uint16Array(w * h);
        let x = seed >>> 0;
        for (let i = 0; i < pixels.length; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          pixels[i] = i === 0 ? 0 : i === 1 ? 65535 : x >>> 16;
        }
        const file = writeImage16({ width: w, height: h, pixels, cards: unique as Card[] });
        const img = readImage(file);
        expect(img.width).toBe(w);
        expect(img.height).toBe(h);
        expect(img.bitpix).toBe(16);
        expect(img.pixels).toBeInstanceOf(Uint16Array);
        expect(Array.from(img.pixels)).toEqual(Array.from(pixels));
        for (const c of unique) {
          const got = headerValue(img.header, c.key);
          if (typeof c.value === 'string') expect(got).toBe(c.value.replace(/ +$/, ''));
          else if (typeof c.value === 'number' && !Number.isInteger(c.value)) expect(got).toBeCloseTo(c.value, 10);
          else expect(got).toBe(c.value === 0 ? 0 : c.value); // -0 is written as 0
        }
        expect(headerValue(img.header, 'BZERO')).toBe(32768);
        expect(typeof headerValue(img.header, 'CHECKSUM')).toBe('string');
      }),
      { numRuns: 150 },
    );
  });

  it('joins a CONTINUE string and keeps its comment', () => {
    const value = 'This is a long string value that will not fit on a single 80-character card image';
    const file = rawFile(['SIMPLE  =                    T', ...formatCard({ key: 'LONGSTR', value, comment: 'note' }), 'COMMENT   free text']);
    const { cards } = readHeader(file);
    expect(cards.find((c) => c.key === 'LONGSTR')).toEqual({ key: 'LONGSTR', value, comment: 'note' });
    expect(cards.find((c) => c.key === 'COMMENT')).toEqual({ key: 'COMMENT', value: '  free text', comment: '' });
  });

  it('types values: logicals, integers, reals with D exponents, undefined, quotes in strings, comments', () => {
    const file = rawFile([
      'SIMPLE  =                    T / conforms',
      'A       =                    F',
      'B       =                  -42 / an integer',
      'C       =             1.5D+02',
      "D       = 'it''s    '          / quoted",
      'E       =',
      'HIERARCH LABWIRE CHILLER TEMPERATURE = 20.5 / degC',
    ]);
    const { cards, headerBytes } = readHeader(file);
    expect(headerBytes).toBe(BLOCK);
    expect(cards).toEqual([
      { key: 'SIMPLE', value: true, comment: 'conforms' },
      { key: 'A', value: false, comment: '' },
      { key: 'B', value: -42, comment: 'an integer' },
      { key: 'C', value: 150, comment: '' },
      { key: 'D', value: "it's", comment: 'quoted' },
      { key: 'E', value: null, comment: '' },
      { key: 'LABWIRE CHILLER TEMPERATURE', value: 20.5, comment: 'degC' },
    ]);
  });

  it('reads BITPIX 32 with BZERO 2^31 as true unsigned values', () => {
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setInt32(0, -2147483648); // 0
    view.setInt32(4, 2147483647); // 4294967295
    const img = readImage(rawFile(structural32(2, 1, 2147483648), data));
    expect(img.bitpix).toBe(32);
    expect(img.pixels).toBeInstanceOf(Uint32Array);
    expect(Array.from(img.pixels)).toEqual([0, 4294967295]);
  });

  it('refuses a file without END, a short data unit, a wrong start, unsupported BITPIX and negative unsigned pixels', () => {
    const good = writeImage16({ width: 10, height: 10, pixels: new Uint16Array(100) });
    expect(() => readHeader(good.slice(0, 80 * 5))).toThrow(/no END card/);
    expect(() => readImage(good.slice(0, BLOCK + 100))).toThrow(/data unit is short.*need 200 bytes.*has 100/);
    expect(() => readImage(new TextEncoder().encode('hello'.padEnd(2880)))).toThrow(/not a FITS file/);
    expect(() => readImage(rawFile(['SIMPLE  =                    T', 'BITPIX  =                  -32', 'NAXIS   =                    2']))).toThrow(/BITPIX -32 is not supported/);
    const data = new Uint8Array(4);
    new DataView(data.buffer).setInt32(0, -5);
    expect(() => readImage(rawFile(structural32(1, 1, 0), data))).toThrow(FitsFormatError);
    const bad = good.slice();
    bad[100] = 0x0a;
    expect(() => readHeader(bad)).toThrow(/not printable ASCII/);
  });

  it('any damage gives a FitsFormatError, never another exception or a wrong image', () => {
    const good = writeImage16({ width: 7, height: 5, pixels: Uint16Array.from({ length: 35 }, (_, i) => i * 1000), cards: [{ key: 'OBJECT', value: 'x'.repeat(120) }] });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: good.length }), (at, byte, cut) => {
        const bad = good.slice(0, Math.max(cut, at + 1));
        bad[at] = byte;
        try {
          const img = readImage(bad);
          // What still reads is a whole image of the declared size.
          expect(img.pixels.length).toBe(img.width * img.height);
        } catch (err) {
          expect(err).toBeInstanceOf(FitsFormatError);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6000 }), (bytes) => {
        expect(() => readImage(bytes)).toThrow(FitsFormatError);
      }),
    );
  });
});
