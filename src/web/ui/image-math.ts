/**
 * The arithmetic of showing a CCD frame on the page, free of the DOM so that it is unit-tested:
 * display limits (IRAF's zscale, or the data's extremes), the asinh stretch, a histogram of the
 * pixels (unsigned 16-bit, or 32-bit for controllers sampling that wide), and the mapping to 8-bit
 * grey RGBA for a canvas (FITS row 1 drawn at the bottom).
 * Facts: shared/reference/fits.md §8 and §10.4 (astropy's ZScaleInterval defaults).
 */

export interface Limits {
  vmin: number;
  vmax: number;
}

export interface ZScaleOptions {
  /** Pixels sampled at a fixed stride (default 1000). */
  samples?: number;
  /** Slope divisor: smaller shows more contrast (default 0.25). */
  contrast?: number;
  /** At most this share of the samples may be rejected before the fit is given up (default 0.5). */
  maxReject?: number;
  /** The fit needs at least this many points (default 5). */
  minPixels?: number;
  /** Points further than krej × σ from the line are rejected (default 2.5). */
  krej?: number;
  /** Fit/reject rounds (default 5). */
  maxIterations?: number;
}

/** Up to `n` finite values taken at a fixed stride over the whole frame, sorted ascending. */
export function strideSample(values: ArrayLike<number>, n: number): Float64Array {
  const stride = Math.max(1, Math.floor(values.length / n));
  const picked: number[] = [];
  for (let i = 0; i < values.length && picked.length < n; i += stride) {
    const v = values[i]!;
    if (Number.isFinite(v)) picked.push(v);
  }
  return Float64Array.from(picked).sort();
}

/** Median of values sorted ascending (mean of the middle two for an even count). */
export function sortedMedian(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Least-squares line y = intercept + slope · i through the points i not marked bad. */
function fitLine(y: Float64Array, bad: Uint8Array): { slope: number; intercept: number } {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < y.length; i++) {
    if (bad[i]) continue;
    n++;
    sx += i;
    sy += y[i]!;
    sxx += i * i;
    sxy += i * y[i]!;
  }
  const det = n * sxx - sx * sx;
  if (n === 0) return { slope: 0, intercept: 0 };
  if (det === 0) return { slope: 0, intercept: sy / n };
  const slope = (n * sxy - sx * sy) / det;
  return { slope, intercept: (sy - slope * sx) / n };
}

/**
 * IRAF's zscale limits: a line fitted to the sorted sample (value against rank) with iterative
 * rejection of outliers (each rejected point also masks its neighbours, ~1 % of the sample); the
 * slope divided by the contrast, around the sample's median, bounds the limits, which never
 * leave the sample's range. Falls back to the sample's extremes when too few points survive.
 */
export function zscale(values: ArrayLike<number>, options: ZScaleOptions = {}): Limits {
  const nSamples = options.samples ?? 1000;
  const contrast = options.contrast ?? 0.25;
  const maxReject = options.maxReject ?? 0.5;
  const minPixels = options.minPixels ?? 5;
  const krej = options.krej ?? 2.5;
  const maxIterations = options.maxIterations ?? 5;

  const s = strideSample(values, nSamples);
  const n = s.length;
  if (n === 0) return { vmin: 0, vmax: 0 };
  let vmin = s[0]!;
  let vmax = s[n - 1]!;

  const minGood = Math.max(minPixels, Math.floor(n * maxReject));
  const grow = Math.max(1, Math.floor(n * 0.01));
  // A rejected point at j masks the points j − back … j − back + grow − 1 (a window of `grow`).
  const back = Math.floor((grow - 1) / 2);
  let bad = new Uint8Array(n);
  let good = n;
  let lastGood = n + 1;
  let fit = { slope: 0, intercept: 0 };
  for (let round = 0; round < maxIterations; round++) {
    if (good >= lastGood || good < minGood) break;
    fit = fitLine(s, bad);
    // Residuals and their spread over the points still in.
    const resid = new Float64Array(n);
    let sum = 0;
    let sum2 = 0;
    for (let i = 0; i < n; i++) {
      resid[i] = s[i]! - (fit.intercept + fit.slope * i);
      if (!bad[i]) {
        sum += resid[i]!;
        sum2 += resid[i]! * resid[i]!;
      }
    }
    const mean = sum / good;
    const sigma = Math.sqrt(Math.max(0, sum2 / good - mean * mean));
    const threshold = krej * sigma;
    const marked = Uint8Array.from(bad);
    for (let i = 0; i < n; i++) if (resid[i]! < -threshold || resid[i]! > threshold) marked[i] = 1;
    const grown = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      if (!marked[j]) continue;
      const from = Math.max(0, j - back);
      const to = Math.min(n - 1, j - back + grow - 1);
      for (let i = from; i <= to; i++) grown[i] = 1;
    }
    bad = grown;
    lastGood = good;
    good = 0;
    for (let i = 0; i < n; i++) if (!bad[i]) good++;
  }
  if (good >= minGood) {
    const slope = contrast > 0 ? fit.slope / contrast : fit.slope;
    const centre = Math.floor((n - 1) / 2);
    const median = sortedMedian(s);
    vmin = Math.max(vmin, median - (centre - 1) * slope);
    vmax = Math.min(vmax, median + (n - centre) * slope);
  }
  return { vmin, vmax };
}

/** Smallest and largest finite value. */
export function minMax(values: ArrayLike<number>): Limits {
  let vmin = Infinity;
  let vmax = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < vmin) vmin = v;
    if (v > vmax) vmax = v;
  }
  return vmin > vmax ? { vmin: 0, vmax: 0 } : { vmin, vmax };
}

/** astropy's asinh stretch of x in 0…1: asinh(x / a) / asinh(1 / a); a = 0.1 by default. */
export function asinhStretch(x: number, a = 0.1): number {
  return Math.asinh(x / a) / Math.asinh(1 / a);
}

export type StretchName = 'zscale' | 'asinh';
export const STRETCHES: readonly StretchName[] = ['zscale', 'asinh'];

/**
 * What each choice means: `zscale` is linear between zscale limits (the usual look of a CCD
 * frame); `asinh` stretches between the data's extremes, so faint structure and bright stars
 * show at once.
 */
export function displayLimits(pixels: ArrayLike<number>, stretch: StretchName): Limits {
  return stretch === 'zscale' ? zscale(pixels) : minMax(pixels);
}

/** Grey level (0–255) of one value: normalised between the limits (clamped), stretched, rounded. */
export function greyLevel(v: number, limits: Limits, stretch: StretchName): number {
  const span = limits.vmax - limits.vmin;
  let x = span > 0 ? (v - limits.vmin) / span : v >= limits.vmax ? 1 : 0;
  x = x < 0 ? 0 : x > 1 ? 1 : x;
  return Math.round((stretch === 'asinh' ? asinhStretch(x) : x) * 255);
}

/** The grey level of every 16-bit value: mapping a 16-bit frame is then one lookup per pixel. */
export function greyTable(limits: Limits, stretch: StretchName): Uint8Array {
  const table = new Uint8Array(65536);
  for (let v = 0; v < 65536; v++) table[v] = greyLevel(v, limits, stretch);
  return table;
}

/** Unsigned pixels as the pixel route gives them: 16-bit, or 32-bit (BITPIX 32). */
export type Pixels = Uint16Array | Uint32Array;

export interface GreyImage {
  width: number;
  height: number;
  /** RGBA, row 0 at the top of the canvas. */
  rgba: Uint8ClampedArray<ArrayBuffer>;
}

/**
 * RGBA for a canvas from row-major pixels (FITS order: the first row is the bottom one, as DS9
 * shows it, so rows are flipped). Frames wider or taller than `maxSide` are decimated by a whole
 * step so the browser's memory stays bounded; the canvas scales them anyway.
 */
export function toGrey(pixels: Pixels, width: number, height: number, limits: Limits, stretch: StretchName, maxSide = 2048): GreyImage {
  if (pixels.length < width * height) throw new RangeError(`${pixels.length} pixels for a ${width} × ${height} frame`);
  const table = pixels instanceof Uint16Array ? greyTable(limits, stretch) : undefined;
  const step = Math.max(1, Math.ceil(Math.max(width, height) / maxSide));
  const w = Math.ceil(width / step);
  const h = Math.ceil(height / step);
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let row = 0; row < h; row++) {
    const src = (height - 1 - row * step) * width;
    let o = row * w * 4;
    for (let col = 0; col < w; col++) {
      const v = pixels[src + col * step]!;
      const g = table ? table[v]! : greyLevel(v, limits, stretch);
      rgba[o] = g;
      rgba[o + 1] = g;
      rgba[o + 2] = g;
      rgba[o + 3] = 255;
      o += 4;
    }
  }
  return { width: w, height: h, rgba };
}

export interface Histogram {
  /** Lowest value of bin 0 and the width of each bin (bins cover lo … lo + bins × binWidth). */
  lo: number;
  binWidth: number;
  counts: Uint32Array;
}

/** Histogram of integer pixels over their own range, at most `bins` bins, each a whole number of values wide. */
export function histogram(pixels: Pixels, bins = 256): Histogram {
  if (pixels.length === 0) return { lo: 0, binWidth: 1, counts: new Uint32Array(0) };
  const { vmin, vmax } = minMax(pixels);
  const binWidth = Math.max(1, Math.ceil((vmax - vmin + 1) / bins));
  const n = Math.floor((vmax - vmin) / binWidth) + 1;
  const counts = new Uint32Array(n);
  for (let i = 0; i < pixels.length; i++) counts[Math.floor((pixels[i]! - vmin) / binWidth)]!++;
  return { lo: vmin, binWidth, counts };
}

/** Bar heights 0…1 on a log scale (log10(1 + count) over the largest), so rare values stay visible. */
export function logHeights(counts: ArrayLike<number>): Float64Array {
  let top = 0;
  for (let i = 0; i < counts.length; i++) top = Math.max(top, Math.log10(1 + counts[i]!));
  const out = new Float64Array(counts.length);
  if (top === 0) return out;
  for (let i = 0; i < counts.length; i++) out[i] = Math.log10(1 + counts[i]!) / top;
  return out;
}

/** Where a value falls across a histogram, 0…1 (for marking the display limits on it). */
export function histogramPosition(h: Histogram, value: number): number {
  const span = h.counts.length * h.binWidth;
  if (span <= 0) return 0;
  return Math.min(1, Math.max(0, (value - h.lo) / span));
}

export interface PixelFrame {
  width: number;
  height: number;
  bitpix: 16 | 32;
  pixels: Pixels;
}

/**
 * The body of `GET /api/images/:id/pixels` (little-endian unsigned, 16- or 32-bit by
 * X-Image-Bitpix, row-major) with its size headers, checked: a missing or absurd size, an
 * unknown sample width, or fewer bytes than the size needs, is an error that says which; extra
 * bytes are ignored.
 */
export function parsePixels(body: ArrayBuffer, headers: { get(name: string): string | null }): PixelFrame {
  const width = Number(headers.get('X-Image-Width'));
  const height = Number(headers.get('X-Image-Height'));
  const bitpixText = headers.get('X-Image-Bitpix');
  const bitpix = bitpixText === null ? 16 : Number(bitpixText);
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new Error(`the pixel answer has no usable size (X-Image-Width ${headers.get('X-Image-Width') ?? 'missing'}, X-Image-Height ${headers.get('X-Image-Height') ?? 'missing'})`);
  }
  if (bitpix !== 16 && bitpix !== 32) throw new Error(`the page shows 16- and 32-bit frames; this one has BITPIX ${bitpixText}`);
  const bytesPer = bitpix / 8;
  const need = width * height * bytesPer;
  if (body.byteLength < need) throw new Error(`the pixel data has ${body.byteLength} bytes; a ${width} × ${height} frame of ${bitpix}-bit pixels needs ${need}`);
  // Read as little-endian explicitly, whatever the machine's own order.
  const view = new DataView(body, 0, need);
  const n = width * height;
  if (bitpix === 16) {
    const pixels = new Uint16Array(n);
    for (let i = 0; i < n; i++) pixels[i] = view.getUint16(2 * i, true);
    return { width, height, bitpix, pixels };
  }
  const pixels = new Uint32Array(n);
  for (let i = 0; i < n; i++) pixels[i] = view.getUint32(4 * i, true);
  return { width, height, bitpix, pixels };
}
