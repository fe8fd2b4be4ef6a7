/**
 * A small, dependency-free SVG line plot for CCDLab's `/monitor/plot/<client>/<plot>`: title,
 * axes with ticks, linear or log scales, one line per series with gaps kept as gaps, a legend
 * for two or more lines. Every piece of text is escaped: names come from configuration and
 * devices.
 */

export interface SvgSeries {
  label: string;
  /** [x, y] points in drawing order; a null y (or a non-positive one on a log axis) breaks the line. */
  points: Array<[number, number | null]>;
}

export interface SvgPlotSpec {
  title: string;
  xlabel: string;
  ylabel?: string;
  width: number;
  height: number;
  xscale?: 'linear' | 'log';
  yscale?: 'linear' | 'log';
  /** x values are unix ms; ticks are written as UTC clock times. */
  xTime: boolean;
  series: SvgSeries[];
  /** Shown in the middle when there is nothing to draw. */
  note?: string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmtNum(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

/** About `count` round ticks covering [min, max]. */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  for (let k = first; k * step <= max + step * 1e-9; k++) out.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000].map((s) => s * 1000);

function timeTicks(min: number, max: number, count = 6): number[] {
  const step = TIME_STEPS.find((s) => (max - min) / s <= count) ?? Math.ceil((max - min) / count / 86_400_000) * 86_400_000;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max; v += step) out.push(v);
  return out;
}

function fmtTime(t: number, span: number): string {
  const iso = new Date(t).toISOString();
  if (span > 2 * 86_400_000) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(11, 19);
}

interface Axis {
  min: number;
  max: number;
  log: boolean;
}

function extent(values: number[], log: boolean): Axis {
  const v = values.filter((x) => Number.isFinite(x) && (!log || x > 0));
  if (v.length === 0) return log ? { min: 1, max: 10, log } : { min: 0, max: 1, log };
  let min = Infinity;
  let max = -Infinity;
  for (const x of v) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (log) {
    min = 10 ** Math.floor(Math.log10(min));
    max = 10 ** Math.ceil(Math.log10(max));
    if (min === max) max = min * 10;
    return { min, max, log };
  }
  if (min === max) {
    const pad = Math.abs(min) * 0.05 || 1;
    return { min: min - pad, max: max + pad, log };
  }
  const pad = (max - min) * 0.05;
  return { min: min - pad, max: max + pad, log };
}

function scale(a: Axis, lo: number, hi: number): (v: number) => number {
  if (a.log) {
    const l0 = Math.log10(a.min);
    const l1 = Math.log10(a.max);
    return (v) => lo + ((Math.log10(v) - l0) / (l1 - l0)) * (hi - lo);
  }
  return (v) => lo + ((v - a.min) / (a.max - a.min)) * (hi - lo);
}

function logTicks(a: Axis): number[] {
  const out: number[] = [];
  for (let e = Math.round(Math.log10(a.min)); e <= Math.round(Math.log10(a.max)); e++) out.push(10 ** e);
  return out;
}

const r1 = (v: number): string => (Math.round(v * 10) / 10).toString();

export function renderSvgPlot(spec: SvgPlotSpec): string {
  const W = Math.max(200, Math.min(4000, Math.round(spec.width)));
  const H = Math.max(120, Math.min(3000, Math.round(spec.height)));
  const xlog = spec.xscale === 'log' && !spec.xTime;
  const ylog = spec.yscale === 'log';
  const legend = spec.series.length >= 2;
  const m = { l: 64, r: 16, t: 28, b: legend ? 58 : 40 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y) || !Number.isFinite(x)) continue;
      xs.push(x);
      ys.push(y);
    }
  }
  const xa = extent(xs, xlog);
  if (spec.xTime && xs.length > 0) {
    xa.min = Infinity;
    xa.max = -Infinity;
    for (const x of xs) {
      if (x < xa.min) xa.min = x;
      if (x > xa.max) xa.max = x;
    }
    if (xa.min === xa.max) {
      xa.min -= 30_000;
      xa.max += 30_000;
    }
  }
  const ya = extent(ys, ylog);
  const sx = scale(xa, m.l, m.l + pw);
  const sy = scale(ya, m.t + ph, m.t);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(spec.title)}" font-family="sans-serif" font-size="11">`);
  out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`);
  // Grid and ticks.
  const xt = spec.xTime ? timeTicks(xa.min, xa.max) : xlog ? logTicks(xa) : niceTicks(xa.min, xa.max);
  const yt = ylog ? logTicks(ya) : niceTicks(ya.min, ya.max);
  out.push('<g stroke="#e3e3e3" stroke-width="1">');
  for (const v of xt) out.push(`<line x1="${r1(sx(v))}" y1="${m.t}" x2="${r1(sx(v))}" y2="${m.t + ph}"/>`);
  for (const v of yt) out.push(`<line x1="${m.l}" y1="${r1(sy(v))}" x2="${m.l + pw}" y2="${r1(sy(v))}"/>`);
  out.push('</g>');
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push('<g fill="#333">');
  const span = xa.max - xa.min;
  for (const v of xt) out.push(`<text x="${r1(sx(v))}" y="${m.t + ph + 14}" text-anchor="middle">${escapeXml(spec.xTime ? fmtTime(v, span) : fmtNum(v))}</text>`);
  for (const v of yt) out.push(`<text x="${m.l - 4}" y="${r1(sy(v) + 4)}" text-anchor="end">${escapeXml(fmtNum(v))}</text>`);
  out.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 30}" text-anchor="middle">${escapeXml(spec.xlabel + (spec.xTime ? ' (UTC)' : ''))}</text>`);
  if (spec.ylabel) out.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.ylabel)}</text>`);
  out.push('</g>');
  // Lines.
  out.push(`<defs><clipPath id="area"><rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}"/></clipPath></defs>`);
  out.push(`<g fill="none" stroke-width="1.5" clip-path="url(#area)">`);
  spec.series.forEach((s, i) => {
    let d = '';
    let pen = false;
    for (const [x, y] of s.points) {
      const ok = y !== null && Number.isFinite(y) && Number.isFinite(x) && (!ylog || y > 0) && (!xlog || x > 0);
      if (!ok) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${r1(sx(x))} ${r1(sy(y))}`;
      pen = true;
    }
    if (d) out.push(`<path d="${d}" stroke="${COLORS[i % COLORS.length]}"/>`);
  });
  out.push('</g>');
  if (legend) {
    let x = m.l;
    const y = H - 12;
    spec.series.forEach((s, i) => {
      out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
      out.push(`<text x="${x + 22}" y="${y}">${escapeXml(s.label)}</text>`);
      x += 30 + s.label.length * 7;
    });
  }
  if (xs.length === 0) {
    out.push(`<text x="${m.l + pw / 2}" y="${m.t + ph / 2}" text-anchor="middle" fill="#888">${escapeXml(spec.note ?? 'no data yet')}</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}
