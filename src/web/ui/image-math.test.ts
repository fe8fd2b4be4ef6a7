import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  asinhStretch,
  displayLimits,
  greyTable,
  histogram,
  histogramPosition,
  logHeights,
  minMax,
  parsePixels,
  sortedMedian,
  strideSample,
  toGrey,
  zscale,
} from './image-math.js';

/** The 100 × 100 frame of reference/fits.md §10.4: pixel k = 1000 + (k mod 100). */
function rampFrame(hot: boolean): Uint16Array {
  const px = new Uint16Array(10_000);
  for (let k = 0; k < px.length; k++) px[k] = 1000 + (k % 100);
  if (hot) px.fill(60000, 0, 50);
  return px;
}

/** A deterministic noisy bias with a bright pixel every 997 (MINSTD generator: exact in doubles, as in the numpy script). */
function noisyFrame(): Uint16Array {
  const px = new Uint16Array(256 * 256);
  let st = 12345;
  for (let i = 0; i < px.length; i++) {
    st = (st * 48271) % 2147483647;
    px[i] = i % 997 === 0 ? 50000 : 1000 + (Math.floor(st / 256) % 100);
  }
  return px;
}

const headers = (h: Record<string, string>): { get(name: string): string | null } => ({ get: (n) => h[n] ?? null });

describe('zscale', () => {
  it('gives the reference limits of fits.md §10.4 (astropy defaults)', () => {
    const hot = zscale(rampFrame(true));
    expect(hot.vmin).toBe(1000);
    expect(hot.vmax).toBeCloseTo(1250.1725940506228, 9);
    expect(zscale(rampFrame(false))).toEqual({ vmin: 1000, vmax: 1090 });
  });

  it('ignores bright outliers in a noisy frame (numpy port of the same algorithm: 1253.1832896995543)', () => {
    const lim = zscale(noisyFrame());
    expect(lim.vmin).toBe(1000);
    expect(lim.vmax).toBeCloseTo(1253.1832896995543, 9);
    // min/max would be dominated by the bright pixels.
    expect(minMax(noisyFrame()).vmax).toBe(50000);
  });

  it('handles flat, tiny and empty frames', () => {
    expect(zscale(new Uint16Array(10).fill(5))).toEqual({ vmin: 5, vmax: 5 });
    expect(zscale(Array.from({ length: 20 }, (_, i) => i))).toEqual({ vmin: 0, vmax: 19 });
    expect(zscale([])).toEqual({ vmin: 0, vmax: 0 });
    expect(zscale([7])).toEqual({ vmin: 7, vmax: 7 });
  });

  it('skips values that are not finite', () => {
    const lim = zscale([NaN, 1, 2, Infinity, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(Number.isFinite(lim.vmin) && Number.isFinite(lim.vmax)).toBe(true);
    expect(lim.vmin).toBeGreaterThanOrEqual(1);
    expect(lim.vmax).toBeLessThanOrEqual(10);
  });

  it('always lies within the sample and in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 1, maxLength: 3000 }), (vals) => {
        const px = Uint16Array.from(vals);
        const { vmin, vmax } = zscale(px);
        const s = strideSample(px, 1000);
        expect(vmin).toBeGreaterThanOrEqual(s[0]!);
        expect(vmax).toBeLessThanOrEqual(s[s.length - 1]!);
        expect(vmin).toBeLessThanOrEqual(vmax);
      }),
      { numRuns: 200 },
    );
  });

  it('samples at a fixed stride, at most n values, sorted', () => {
    const s = strideSample(Array.from({ length: 10_000 }, (_, i) => 10_000 - i), 1000);
    expect(s.length).toBe(1000);
    expect(s[0]).toBe(10_000 - 9990);
    expect(s[999]).toBe(10_000);
    expect(sortedMedian([1, 2, 3, 4])).toBe(2.5);
    expect(sortedMedian([1, 2, 3])).toBe(2);
    expect(sortedMedian([])).toBeNaN();
  });
});

describe('asinh stretch', () => {
  it('gives the reference values of fits.md §10.4 (a = 0.1)', () => {
    expect(asinhStretch(0)).toBe(0);
    expect(asinhStretch(0.1)).toBeCloseTo(0.2939653260048424, 12);
    expect(asinhStretch(0.5)).toBeCloseTo(0.7712696419200371, 12);
    expect(asinhStretch(1)).toBeCloseTo(1, 12);
  });

  it('is increasing on 0…1', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
      if (a < b) expect(asinhStretch(a)).toBeLessThanOrEqual(asinhStretch(b));
    }));
  });
});

describe('grey mapping', () => {
  it('maps the limits to 0 and 255, clamps beyond them, and is linear for zscale', () => {
    const t = greyTable({ vmin: 1000, vmax: 1255 }, 'zscale');
    expect(t[0]).toBe(0);
    expect(t[1000]).toBe(0);
    expect(t[1100]).toBe(100);
    expect(t[1255]).toBe(255);
    expect(t[65535]).toBe(255);
  });

  it('lifts faint values with asinh', () => {
    const lin = greyTable({ vmin: 0, vmax: 1000 }, 'zscale');
    const ash = greyTable({ vmin: 0, vmax: 1000 }, 'asinh');
    expect(ash[100]).toBe(Math.round(0.2939653260048424 * 255));
    expect(ash[100]!).toBeGreaterThan(lin[100]!);
    expect(ash[1000]).toBe(255);
  });

  it('shows a flat frame without dividing by zero', () => {
    const t = greyTable({ vmin: 5, vmax: 5 }, 'zscale');
    expect(t[4]).toBe(0);
    expect(t[5]).toBe(255);
  });

  it('draws FITS row 1 at the bottom of the canvas', () => {
    // 2 × 2: bottom row (FITS row 1) dark, top row bright.
    const g = toGrey(Uint16Array.from([0, 0, 255, 255]), 2, 2, { vmin: 0, vmax: 255 }, 'zscale');
    expect(g.width).toBe(2);
    expect(Array.from(g.rgba)).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
  });

  it('decimates frames larger than the canvas limit, keeping the orientation', () => {
    const w = 10;
    const h = 6;
    const px = new Uint16Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = y * 10 + x;
    const g = toGrey(px, w, h, { vmin: 0, vmax: 255 }, 'zscale', 4);
    expect([g.width, g.height]).toEqual([4, 2]);
    // Top-left of the canvas = last FITS row, first column.
    expect(g.rgba[0]).toBe(50);
    expect(g.rgba[4]).toBe(53);
    // Second canvas row = FITS row 6 − 3 = index 2.
    expect(g.rgba[4 * 4]).toBe(20);
  });

  it('refuses fewer pixels than the size says', () => {
    expect(() => toGrey(new Uint16Array(3), 2, 2, { vmin: 0, vmax: 1 }, 'zscale')).toThrow(/3 pixels for a 2 × 2/);
  });

  it('chooses zscale limits or the extremes by the stretch', () => {
    expect(displayLimits(rampFrame(true), 'asinh')).toEqual({ vmin: 1000, vmax: 60000 });
    expect(displayLimits(rampFrame(false), 'zscale')).toEqual({ vmin: 1000, vmax: 1090 });
  });
});

describe('histogram of 16-bit pixels', () => {
  it('counts every pixel once, over the data range', () => {
    const h = histogram(rampFrame(true), 256);
    const total = h.counts.reduce((a, b) => a + b, 0);
    expect(total).toBe(10_000);
    expect(h.lo).toBe(1000);
    expect(h.counts.length * h.binWidth).toBeGreaterThan(60000 - 1000);
    expect(h.counts.length).toBeLessThanOrEqual(256);
    expect(h.counts[h.counts.length - 1]).toBe(50);
  });

  it('uses one bin per value for a narrow range', () => {
    const h = histogram(Uint16Array.from([3, 3, 4, 7]), 256);
    expect(h).toEqual({ lo: 3, binWidth: 1, counts: Uint32Array.from([2, 1, 0, 0, 1]) });
    expect(histogram(new Uint16Array(0)).counts.length).toBe(0);
    expect(histogram(Uint16Array.from([0, 65535]), 256).counts.length).toBe(256);
  });

  it('scales bars by log counts and places limits across it', () => {
    const hts = logHeights([0, 9, 99, 999]);
    expect(Array.from(hts)).toEqual([0, 1 / 3, 2 / 3, 1]);
    expect(Array.from(logHeights([0, 0]))).toEqual([0, 0]);
    const h = histogram(Uint16Array.from([0, 99]), 100);
    expect(histogramPosition(h, 50)).toBeCloseTo(0.5, 9);
    expect(histogramPosition(h, -10)).toBe(0);
    expect(histogramPosition(h, 1e6)).toBe(1);
  });
});

describe('the pixel answer', () => {
  it('reads little-endian uint16 with the size headers', () => {
    const body = Uint8Array.from([0x01, 0x00, 0xff, 0xff, 0x00, 0x80, 0x34, 0x12, 0xee]).buffer;
    const f = parsePixels(body, headers({ 'X-Image-Width': '2', 'X-Image-Height': '2', 'X-Image-Bitpix': '16' }));
    expect([f.width, f.height, f.bitpix]).toEqual([2, 2, 16]);
    expect(Array.from(f.pixels)).toEqual([1, 65535, 32768, 0x1234]);
  });

  it('reads 32-bit frames too', () => {
    const body = Uint8Array.from([0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff]).buffer;
    const f = parsePixels(body, headers({ 'X-Image-Width': '2', 'X-Image-Height': '1', 'X-Image-Bitpix': '32' }));
    expect(f.pixels).toBeInstanceOf(Uint32Array);
    expect(Array.from(f.pixels)).toEqual([1, 4294967295]);
    const g = toGrey(f.pixels, 2, 1, { vmin: 1, vmax: 4294967295 }, 'zscale');
    expect([g.rgba[0], g.rgba[4]]).toEqual([0, 255]);
    expect(histogram(f.pixels, 256).counts.reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('says what is wrong with a bad answer', () => {
    const four = new ArrayBuffer(8);
    expect(() => parsePixels(four, headers({ 'X-Image-Height': '2' }))).toThrow(/X-Image-Width missing/);
    expect(() => parsePixels(four, headers({ 'X-Image-Width': '-2', 'X-Image-Height': '2' }))).toThrow(/no usable size/);
    expect(() => parsePixels(four, headers({ 'X-Image-Width': '3', 'X-Image-Height': '2' }))).toThrow(/has 8 bytes; a 3 × 2 frame of 16-bit pixels needs 12/);
    expect(() => parsePixels(four, headers({ 'X-Image-Width': '2', 'X-Image-Height': '2', 'X-Image-Bitpix': '32' }))).toThrow(/needs 16/);
    expect(() => parsePixels(four, headers({ 'X-Image-Width': '2', 'X-Image-Height': '2', 'X-Image-Bitpix': '-32' }))).toThrow(/BITPIX -32/);
  });
});
