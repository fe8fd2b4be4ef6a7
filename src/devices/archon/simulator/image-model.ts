/**
 * What the simulated CCD sees: a pure function of the frame's description, so a test can
 * recompute the exact pixels of frame N. Modelling choices (not controller facts): a bias level
 * with a slight ramp, dark current × time, a hot column, a test pattern that is always there (a
 * gradient and a few Gaussian "stars" at positions fixed by the seed), flat illumination with
 * vignetting and pixel-to-pixel response when the shutter is open, shot noise and read noise as
 * one Gaussian (Poisson approximated), and the frame number stamped in the first pixels so frames
 * can be told apart.
 */
import { gaussian, seededRandom } from '../../kits/sim/index.js';

export interface ImageSpec {
  width: number;
  height: number;
  /** 0: 16-bit pixels (Uint16Array), 1: 32-bit (Uint32Array). */
  sampleMode: 0 | 1;
  /** Frame number stamped in the first pixels (the controller's BUFnFRAME of this frame). */
  frame: number;
  /** Integration time, ms. */
  exposureMs: number;
  shutterOpen: boolean;
  seed: number;
}

/** The detector's constants. */
export const IMAGE_MODEL = {
  biasAdu: 1000,
  /** Bias rises this much from the first row to the last. */
  biasRampAdu: 8,
  gainElectronsPerAdu: 1.5,
  readNoiseElectrons: 5,
  darkElectronsPerS: 0.02,
  hotColumnElectronsPerS: 40,
  hotColumnOffsetAdu: 300,
  /** The hot column sits at this fraction of the width. */
  hotColumnAt: 0.37,
  /** Test-pattern gradient across the columns, ADU at the last column. */
  gradientAdu: 150,
  stars: 6,
  /** Flat illumination at the centre with the shutter open, electrons per pixel per second. */
  flatElectronsPerS: 3000,
  /** Relative fall-off at the corners. */
  vignetting: 0.3,
  /** Pixel response non-uniformity, relative standard deviation. */
  prnu: 0.01,
} as const;

export interface Star {
  x: number;
  y: number;
  peakAdu: number;
  sigma: number;
}

/** The stars of the test pattern: fixed by the seed and the size, the same in every frame. */
export function testStars(width: number, height: number, seed: number): Star[] {
  const rnd = seededRandom((seed ^ 0x5eed57a2) >>> 0);
  const stars: Star[] = [];
  for (let i = 0; i < IMAGE_MODEL.stars; i++) {
    stars.push({
      x: 4 + rnd() * Math.max(1, width - 8),
      y: 4 + rnd() * Math.max(1, height - 8),
      peakAdu: 3000 + Math.floor(rnd() * 17000),
      sigma: 1.2 + rnd() * 1.8,
    });
  }
  return stars;
}

/** A fixed pseudo-random number in [0, 1) per pixel (integer hash), for PRNU without a per-pixel generator. */
function pixelHash(x: number, y: number, seed: number): number {
  let h = Math.imul(x, 0x27d4eb2d) ^ Math.imul(y, 0x165667b1) ^ Math.imul(seed, 0x9e3779b9);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Column of the hot column for a width. */
export function hotColumn(width: number): number {
  return Math.min(width - 1, Math.floor(width * IMAGE_MODEL.hotColumnAt));
}

/** 65 536 standard normal samples from a fixed seed, drawn from by 16-bit indices. */
const NORMAL_TABLE: Float64Array = (() => {
  const g = gaussian(seededRandom(0x6a09e667));
  const table = new Float64Array(65536);
  for (let i = 0; i < table.length; i++) table[i] = g();
  return table;
})();

/**
 * Standard normal samples for the noise of a frame: an inlined mulberry32 whose 32 bits pick two
 * entries of NORMAL_TABLE. A 4096 × 4096 frame needs 16 million samples; Box–Muller for each
 * took most of a second, a table look-up is several times faster and noise needs no more.
 */
class NormalSource {
  private state: number;
  private spare = -1;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    if (this.spare >= 0) {
      const v = NORMAL_TABLE[this.spare]!;
      this.spare = -1;
      return v;
    }
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t = (t ^ (t >>> 14)) >>> 0;
    this.spare = t >>> 16;
    return NORMAL_TABLE[t & 0xffff]!;
  }
}

/** The frame number as stamped: pixels 0 and 1 hold its low and high 16 bits (16-bit), pixel 0 all of it (32-bit). */
export function stampedFrame(pixels: Uint16Array | Uint32Array): number {
  if (pixels instanceof Uint32Array) return pixels[0] ?? 0;
  return ((pixels[0] ?? 0) + (pixels[1] ?? 0) * 65536) >>> 0;
}

/** The pixels of one frame, row-major, `height` rows of `width`. */
export function modelImage(spec: ImageSpec): Uint16Array | Uint32Array {
  const { width, height } = spec;
  const n = width * height;
  const max = spec.sampleMode === 1 ? 0xffffffff : 0xffff;
  const pixels = spec.sampleMode === 1 ? new Uint32Array(n) : new Uint16Array(n);
  const m = IMAGE_MODEL;
  const seconds = Math.max(0, spec.exposureMs) / 1000;
  const noise = new NormalSource((Math.imul(spec.seed, 0x01000193) ^ Math.imul(spec.frame, 0x9e3779b1)) >>> 0);
  const hot = hotColumn(width);
  const darkE = m.darkElectronsPerS * seconds;
  const hotE = m.hotColumnElectronsPerS * seconds;
  const flatE = spec.shutterOpen ? m.flatElectronsPerS * seconds : 0;
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const r2max = cx * cx + cy * cy || 1;
  const readVar = m.readNoiseElectrons * m.readNoiseElectrons;
  const gradientStep = width > 1 ? m.gradientAdu / (width - 1) : 0;
  const rampStep = height > 1 ? m.biasRampAdu / (height - 1) : 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const bias = m.biasAdu + rampStep * y;
    const dy = y - cy;
    for (let x = 0; x < width; x++) {
      let electrons = darkE;
      if (flatE > 0) {
        const dx = x - cx;
        const illumination = 1 - m.vignetting * ((dx * dx + dy * dy) / r2max);
        electrons += flatE * illumination * (1 + m.prnu * (pixelHash(x, y, spec.seed) * 2 - 1) * Math.sqrt(3));
      }
      let adu = bias + gradientStep * x;
      if (x === hot) {
        electrons += hotE;
        adu += m.hotColumnOffsetAdu;
      }
      adu += (electrons + Math.sqrt(electrons + readVar) * noise.next()) / m.gainElectronsPerAdu;
      const v = Math.round(adu);
      pixels[row + x] = v < 0 ? 0 : v > max ? max : v;
    }
  }
  for (const star of testStars(width, height, spec.seed)) addStar(pixels, width, height, star, max);
  if (spec.sampleMode === 1) pixels[0] = spec.frame >>> 0;
  else {
    if (n > 0) pixels[0] = spec.frame & 0xffff;
    if (n > 1) pixels[1] = (spec.frame >>> 16) & 0xffff;
  }
  return pixels;
}

function addStar(pixels: Uint16Array | Uint32Array, width: number, height: number, star: Star, max: number): void {
  const reach = Math.ceil(star.sigma * 4);
  const x0 = Math.max(0, Math.floor(star.x) - reach);
  const x1 = Math.min(width - 1, Math.floor(star.x) + reach);
  const y0 = Math.max(0, Math.floor(star.y) - reach);
  const y1 = Math.min(height - 1, Math.floor(star.y) + reach);
  const k = -1 / (2 * star.sigma * star.sigma);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - star.x;
      const dy = y - star.y;
      const v = pixels[y * width + x]! + Math.round(star.peakAdu * Math.exp((dx * dx + dy * dy) * k));
      pixels[y * width + x] = v > max ? max : v;
    }
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The pixels as the controller's memory holds them: little-endian, row-major. On a little-endian
 * host this is a view of the same memory (a 4096 × 4096 frame is not copied), else a swapped copy.
 */
export function imageBytes(pixels: Uint16Array | Uint32Array): Buffer {
  const bytes = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const copy = Buffer.from(bytes);
  if (pixels instanceof Uint32Array) copy.swap32();
  else copy.swap16();
  return copy;
}
