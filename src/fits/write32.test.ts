/** 32-bit images and the in-place path (prepareImage + finishImage) that the Archon daemon uses. */
import { describe, expect, it } from 'vitest';
import { BLOCK, finishImage, onesSum, prepareImage, readImage, writeImage16, writeImage32 } from './index.js';

describe('a 32-bit unsigned image', () => {
  it('is BITPIX 32 with BZERO 2147483648, big-endian, and reads back exactly', () => {
    const pixels = Uint32Array.from([0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]);
    const file = writeImage32({ width: 3, height: 2, pixels, cards: [{ key: 'OBJECT', value: 'thirty-two' }] });
    expect(file.length % BLOCK).toBe(0);
    expect(onesSum(file)).toBe(0xffffffff);
    const head = Buffer.from(file.subarray(0, BLOCK)).toString('latin1');
    expect(head.slice(80, 160)).toBe('BITPIX  =                   32 / array data type'.padEnd(80));
    expect(head).toContain('BZERO   =           2147483648');
    // Stored value = pixel − 2^31, big-endian: pixel 0 → 0x80000000, pixel 1 → 0x80000001.
    expect(Array.from(file.subarray(BLOCK, BLOCK + 8))).toEqual([0x80, 0, 0, 0, 0x80, 0, 0, 1]);
    const image = readImage(file);
    expect(image.bitpix).toBe(32);
    expect(Array.from(image.pixels)).toEqual(Array.from(pixels));
  });

  it('refuses a size that does not match its pixels', () => {
    expect(() => writeImage32({ width: 2, height: 2, pixels: new Uint32Array(3) })).toThrow(/3 pixels given/);
  });
});

describe('prepareImage + finishImage (samples written straight into the file buffer)', () => {
  it('gives the same bytes as writeImage16 for little-endian samples written into data', () => {
    const pixels = Uint16Array.from({ length: 37 * 11 }, (_, i) => (i * 40503) & 0xffff);
    const cards = [{ key: 'EXPTIME', value: 2.5 }];
    const prepared = prepareImage({ width: 37, height: 11, bitpix: 16, cards });
    expect(prepared.dataOffset % BLOCK).toBe(0);
    expect(prepared.file.byteOffset).toBe(0);
    prepared.data.set(new Uint8Array(pixels.buffer));
    const { file, timings } = finishImage(prepared);
    expect(Buffer.from(file).equals(Buffer.from(writeImage16({ width: 37, height: 11, pixels, cards })))).toBe(true);
    expect(Number.isFinite(timings.convertMs) && Number.isFinite(timings.checksumMs)).toBe(true);
  });

  it('handles an odd pixel count in 16-bit (data not a whole number of 32-bit words)', () => {
    const pixels = Uint16Array.from([65535, 0, 12345]);
    const file = writeImage16({ width: 3, height: 1, pixels });
    expect(onesSum(file)).toBe(0xffffffff);
    expect(Array.from(readImage(file).pixels)).toEqual([65535, 0, 12345]);
  });
});

describe('finishImage with a histogram (one pass: conversion, data sum, histogram)', () => {
  it('fills the histogram and gives the same file as without', async () => {
    const { finishImage: finish, prepareImage: prepare, writeImage16: write16 } = await import('./index.js');
    for (const n of [1, 2, 7, 64]) {
      const pixels = Uint16Array.from({ length: n }, (_, i) => (i * 50_021 + 3) & 0xffff);
      const prepared = prepare({ width: n, height: 1, bitpix: 16 });
      prepared.data.set(new Uint8Array(pixels.buffer));
      const histogram = new Uint32Array(65536);
      const { file } = finish(prepared, { histogram });
      expect(Buffer.from(file).equals(Buffer.from(write16({ width: n, height: 1, pixels })))).toBe(true);
      expect(onesSum(file)).toBe(0xffffffff);
      for (const v of pixels) expect(histogram[v]).toBeGreaterThan(0);
      expect(histogram.reduce((a, b) => a + b, 0)).toBe(n);
    }
  });
});
