import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addSums, asciiText, encodeChecksum, formatCard, onesSum, writeImage16, BLOCK } from './index.js';

describe('FITS checksum encoding (reference test vectors)', () => {
  it.each([
    [0x00000000, '0000000000000000'],
    [0x00000001, '0000100000000000'],
    [0xffffffff, 'orrrrooooooooooo'],
    [0x12345678, 'N6AGN49EN4AEN49E'],
    [0x7fff0001, '0Rr01Oo00Oo00Oo0'],
    [0x80010001, '0P101P000P000P00'],
  ])('%s → %s', (value, text) => {
    expect(encodeChecksum(value)).toBe(text);
  });

  it('uses only 0–9 A–Z a–z, and the ones\'-complement sum of its characters is the value', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      const text = encodeChecksum(v);
      expect(text).toMatch(/^[0-9A-Za-z]{16}$/);
      // Un-rotated, the 16 characters as four words, minus the 0x30 offsets, sum back to v.
      const work = Array.from({ length: 16 }, (_, k) => text.charCodeAt((k + 1) % 16));
      const words = new Uint8Array(16);
      for (let k = 0; k < 16; k++) words[k] = work[k]! - 0x30;
      expect(onesSum(words)).toBe(v === 0xffffffff ? 0xffffffff : v);
    }));
  });
});

describe('FITS cards (astropy output)', () => {
  it.each([
    [{ key: 'TELESCOP', value: 'T' }, "TELESCOP= 'T       '"],
    [{ key: 'EXPTIME', value: 1e-9 }, 'EXPTIME =                1E-09'],
    [{ key: 'CCDTEMP', value: -100.5 }, 'CCDTEMP =               -100.5'],
    [{ key: 'EMPTYSTR', value: '' }, "EMPTYSTR= ''"],
    [{ key: 'NULLVAL', value: null }, 'NULLVAL ='],
    [{ key: 'COMMENT', value: 'free text comment' }, 'COMMENT free text comment'],
    [{ key: 'ESO DET CHIP TEMP', value: -100.5, comment: 'detector temperature' }, 'HIERARCH ESO DET CHIP TEMP = -100.5 / detector temperature'],
  ])('%j', (card, text) => {
    expect(formatCard(card)).toEqual([text.padEnd(80)]);
  });

  it('a long string takes CONTINUE cards, each piece ending in & but the last', () => {
    expect(formatCard({ key: 'LONGSTR', value: 'This is a long string value that will not fit on a single 80-character card image' })).toEqual([
      "LONGSTR = 'This is a long string value that will not fit on a single &'".padEnd(80),
      "CONTINUE  '80-character card image'".padEnd(80),
    ]);
  });

  it('every card is 80 printable ASCII characters, whatever the text (quotes, non-ASCII, long)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), fc.stringMatching(/^[A-Z][A-Z0-9 ]{0,30}$/), (text, key) => {
      const cards = formatCard({ key, value: text, comment: 'µ°' });
      for (const c of cards) expect(c).toMatch(/^[\x20-\x7e]{80}$/);
    }));
  });

  it('refuses what FITS cannot hold', () => {
    expect(() => formatCard({ key: 'X', value: Number.NaN })).toThrow(/no NaN or infinity/);
  });
});

describe('a 16-bit unsigned image', () => {
  it('is byte for byte the reference file (3 × 2 pixels, sha256 given)', () => {
    const file = writeImage16({
      width: 3,
      height: 2,
      pixels: Uint16Array.from([0, 1, 2, 32768, 65534, 65535]),
      cards: [
        { key: 'DATE-OBS', value: '2026-01-02T03:04:05.678', comment: 'UTC start of exposure' },
        { key: 'OBJECT', value: "O'Brien" },
        { key: 'EXPTIME', value: 1.5, comment: '[s]' },
      ],
    });
    expect(file.length).toBe(5760);
    const text = Buffer.from(file.subarray(0, BLOCK)).toString('latin1');
    expect(text.slice(12 * 80, 13 * 80)).toBe("CHECKSUM= 'XMWOaJVLRJVLXJVL'   / HDU checksum".padEnd(80));
    expect(createHash('sha256').update(file).digest('hex')).toBe('0e9b5da8caaeff2980434dbf297798070ee0786f3d574c0cdccbbb5890cac1cc');
  });

  it('always sums to −0 with a DATASUM that matches its data, and is whole blocks', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.string({ maxLength: 200 }), (w, h, obj) => {
      const pixels = Uint16Array.from({ length: w * h }, (_, i) => (i * 7919) & 0xffff);
      const file = writeImage16({ width: w, height: h, pixels, cards: [{ key: 'OBJECT', value: obj }, { key: 'LABWIRE CHILLER TEMPERATURE', value: 20.5, comment: '°C' }] });
      expect(file.length % BLOCK).toBe(0);
      expect(onesSum(file)).toBe(0xffffffff);
      const head = Buffer.from(file).toString('latin1');
      const end = Math.ceil((head.indexOf('END'.padEnd(80)) + 80) / BLOCK) * BLOCK;
      const datasum = /DATASUM = '(\d+)/.exec(head)![1]!;
      expect(onesSum(file.subarray(end))).toBe(Number(datasum));
    }), { numRuns: 30 });
  });

  it('refuses a size that does not match its pixels, and structural cards given by the caller', () => {
    expect(() => writeImage16({ width: 3, height: 2, pixels: new Uint16Array(5) })).toThrow(/5 pixels given for a 3 × 2 image \(6\)/);
    expect(() => writeImage16({ width: 1, height: 1, pixels: new Uint16Array(1), cards: [{ key: 'BITPIX', value: 8 }] })).toThrow(/BITPIX is written by the FITS writer itself/);
  });

  it('sums a large frame exactly (carries folded)', () => {
    const ones = new Uint8Array(4 * 300_000).fill(0xff);
    expect(onesSum(ones)).toBe(0xffffffff);
    expect(addSums(0xffffffff, 1)).toBe(1);
  });
});

describe('ASCII text in headers', () => {
  it('spells out the signs of units and lab texts, drops accents, and marks what is left', () => {
    expect(asciiText('°C')).toBe('degC');
    expect(asciiText('µA at 5 kΩ')).toBe('uA at 5 kOhm');
    expect(asciiText('±0.1 m²')).toBe('+/-0.1 m2');
    expect(asciiText('Müller’s “chiller” – café')).toBe('Muller\'s "chiller" - cafe');
    expect(asciiText('温度 ✓')).toBe('?? ?');
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => /^[\x20-\x7e]*$/.test(asciiText(s))));
  });
});
