/** The image model: pure and reproducible, with the features a viewer and a test can recognise. */
import { describe, expect, it } from 'vitest';
import { hotColumn, IMAGE_MODEL, imageBytes, modelImage, stampedFrame, testStars, type ImageSpec } from './image-model.js';

const base: ImageSpec = { width: 128, height: 96, sampleMode: 0, frame: 5, exposureMs: 1000, shutterOpen: false, seed: 3 };

function mean(p: ArrayLike<number>, pick: (i: number) => boolean = () => true): number {
  let sum = 0;
  let n = 0;
  for (let i = 2; i < p.length; i++) {
    if (!pick(i)) continue;
    sum += p[i]!;
    n++;
  }
  return sum / n;
}

function median(p: ArrayLike<number>, pick: (i: number) => boolean = () => true): number {
  const v: number[] = [];
  for (let i = 2; i < p.length; i++) if (pick(i)) v.push(p[i]!);
  v.sort((a, b) => a - b);
  return v[v.length >> 1]!;
}

describe('modelImage', () => {
  it('is a pure function of its spec: the same pixels every time, other pixels for another frame or seed', () => {
    const a = modelImage(base);
    expect(a).toBeInstanceOf(Uint16Array);
    expect(a.length).toBe(128 * 96);
    expect(Buffer.from(modelImage(base).buffer).equals(Buffer.from(a.buffer))).toBe(true);
    expect(Buffer.from(modelImage({ ...base, frame: 6 }).buffer).equals(Buffer.from(a.buffer))).toBe(false);
    expect(Buffer.from(modelImage({ ...base, seed: 4 }).buffer).equals(Buffer.from(a.buffer))).toBe(false);
  });

  it('stamps the frame number in the first pixels (16-bit: low and high halves; 32-bit: pixel 0)', () => {
    expect(stampedFrame(modelImage({ ...base, frame: 70_000 }))).toBe(70_000);
    const wide = modelImage({ ...base, sampleMode: 1, frame: 123_456_789 });
    expect(wide).toBeInstanceOf(Uint32Array);
    expect(stampedFrame(wide)).toBe(123_456_789);
  });

  it('sits at the bias level with read noise, a hot column, dark current growing with time, and stars', () => {
    const bias = modelImage({ ...base, exposureMs: 0 });
    const hot = hotColumn(base.width);
    const notSpecial = (i: number) => i % base.width !== hot;
    // Median: the stars would pull a mean of so small a frame up.
    expect(median(bias, notSpecial)).toBeGreaterThan(IMAGE_MODEL.biasAdu);
    expect(median(bias, notSpecial)).toBeLessThan(IMAGE_MODEL.biasAdu + IMAGE_MODEL.gradientAdu);
    expect(median(bias, (i) => i % base.width === hot)).toBeGreaterThan(median(bias, notSpecial) + IMAGE_MODEL.hotColumnOffsetAdu * 0.8);
    const longDark = modelImage({ ...base, exposureMs: 600_000 });
    const hotGain = median(longDark, (i) => i % base.width === hot) - median(bias, (i) => i % base.width === hot);
    expect(hotGain).toBeCloseTo((IMAGE_MODEL.hotColumnElectronsPerS * 600) / IMAGE_MODEL.gainElectronsPerAdu, -2);
    for (const star of testStars(base.width, base.height, base.seed)) {
      const i = Math.round(star.y) * base.width + Math.round(star.x);
      expect(bias[i]!).toBeGreaterThan(IMAGE_MODEL.biasAdu + star.peakAdu * 0.4);
    }
  });

  it('is brighter in the centre than in the corners with the shutter open (flat illumination, vignetting), and clips at 65 535', () => {
    const flat = modelImage({ ...base, exposureMs: 10_000, shutterOpen: true });
    const dark = modelImage({ ...base, exposureMs: 10_000 });
    expect(mean(flat)).toBeGreaterThan(mean(dark) + 10_000);
    const at = (x: number, y: number) => flat[y * base.width + x]!;
    expect(at(64, 48)).toBeGreaterThan(at(3, 93) + 2000);
    const saturated = modelImage({ ...base, exposureMs: 1_000_000, shutterOpen: true });
    expect(Math.max(...saturated.subarray(2))).toBe(65535);
    expect(Math.max(...modelImage({ ...base, sampleMode: 1, exposureMs: 1_000_000, shutterOpen: true }).subarray(1))).toBeGreaterThan(65535);
  });

  it('as memory bytes: little-endian, row-major', () => {
    const p = modelImage(base);
    const bytes = imageBytes(p);
    expect(bytes.length).toBe(p.length * 2);
    for (const i of [0, 1, 500, p.length - 1]) expect(bytes.readUInt16LE(i * 2)).toBe(p[i]);
    const wide = modelImage({ ...base, sampleMode: 1 });
    expect(imageBytes(wide).readUInt32LE(400 * 4)).toBe(wide[400]);
  });
});
