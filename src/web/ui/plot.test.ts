import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../devices/kits/sim/noise-and-clock.js';
import { TimeColumns, alignSeries, historyMaxPoints, type PlotRow } from './plot.js';

/**
 * The time plot's redraw as it was before TimeColumns (every frame rebuilt from the history and
 * all live rows): the behaviour the incremental columns must reproduce frame by frame.
 */
class RebuildingColumns {
  private hist: PlotRow[];
  private rows: PlotRow[] = [];
  drawn = 0;
  constructor(
    series: number,
    private readonly windowS: number,
    private readonly maxRows: number,
  ) {
    this.hist = Array.from({ length: series + 1 }, () => []);
  }
  setHistory(hist: PlotRow[]): void {
    this.hist = hist;
  }
  push(row: PlotRow): void {
    this.rows.push(row);
    if (this.rows.length > this.maxRows) this.rows = this.rows.slice(-this.maxRows / 2);
  }
  frame(now: number, current: Array<number | null>): PlotRow[] {
    const lastHist = this.hist[0]!.length ? (this.hist[0]![this.hist[0]!.length - 1] as number) : -Infinity;
    const cutoff = now - this.windowS;
    this.rows = this.rows.filter((r) => (r[0] as number) >= cutoff);
    const fresh = this.rows.filter((r) => (r[0] as number) > lastHist);
    const cols = this.hist.map((c, i) => [...c, ...fresh.map((r) => r[i]!)]);
    const last = cols[0]!.length ? (cols[0]![cols[0]!.length - 1] as number) : -Infinity;
    if (current.some((v) => v !== null) && now > last) cols.forEach((c, i) => c.push(i === 0 ? now : current[i - 1]!));
    this.drawn = cols[0]!.filter((_x, j) => cols.slice(1).some((c) => typeof c[j] === 'number')).length;
    return cols;
  }
}

/** Aligned history columns of `n` rows ending at `endS`, with some gaps (null) in it. */
function history(random: () => number, series: number, n: number, endS: number): PlotRow[] {
  const cols: PlotRow[] = Array.from({ length: series + 1 }, () => []);
  for (let k = 0; k < n; k++) {
    cols[0]!.push(endS - (n - k) * 3);
    for (let i = 1; i <= series; i++) cols[i]!.push(random() < 0.1 ? null : Math.round(random() * 100));
  }
  return cols;
}

describe('TimeColumns', () => {
  it.each([
    ['in order', 1, 0],
    ['times out of order at times', 2, 0.05],
  ])('draws frame by frame what rebuilding every frame drew (%s, with history, window and row limit)', (_name, seed, disorder) => {
    const random = seededRandom(seed);
    const series = 2;
    const windowS = 300;
    const maxRows = 400;
    const inc = new TimeColumns(series, windowS, maxRows);
    const ref = new RebuildingColumns(series, windowS, maxRows);
    const current: Array<number | null> = [null, null];
    let now = 10_000;
    let frames = 0;
    for (let step = 0; step < 6000; step++) {
      const what = random();
      if (what < 0.8) {
        // An update of one series (sometimes to a gap), stamped a little before now, sometimes out of order.
        current[Math.floor(random() * series)] = random() < 0.05 ? null : Math.round(random() * 1000) / 10;
        const t = now - (random() < disorder ? random() * 400 : random() * 0.5);
        const row = [t, ...current];
        inc.push(row.slice());
        ref.push(row.slice());
      } else if (what < 0.998) {
        now += random() * 3;
        expect(inc.frame(now, current)).toEqual(ref.frame(now, current));
        expect(inc.drawn).toBe(ref.drawn);
        frames++;
      } else {
        // The archive's history arrives (late, and again): it overlaps the live rows already there.
        const h = history(random, series, 50 + Math.floor(random() * 100), now - random() * 200);
        inc.setHistory(h);
        ref.setHistory(h.map((c) => c.slice()));
      }
    }
    expect(frames).toBeGreaterThan(500);
  });

  it('keeps its column arrays between frames and only appends what came since', () => {
    const inc = new TimeColumns(1, 3600, 20_000);
    const hist: PlotRow[] = [[], []];
    for (let k = 0; k < 5000; k++) {
      hist[0]!.push(k);
      hist[1]!.push(k % 7 === 0 ? null : k);
    }
    inc.setHistory(hist);
    const first = inc.frame(5000, [1]);
    expect(first[0]).toHaveLength(5001);
    expect(inc.drawn).toBe(5000 - Math.ceil(5000 / 7) + 1);
    inc.push([5001, 2]);
    const second = inc.frame(5002, [2]);
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[1]);
    expect(second[0]!.slice(-3)).toEqual([4999, 5001, 5002]);
    expect(second[1]!.slice(-3)).toEqual([4999, 2, 2]);
    // The history handed in is not appended to.
    expect(hist[0]).toHaveLength(5000);
  });

  it('lets live rows leave the window from the front while the history stays, and holds the current value to now', () => {
    const inc = new TimeColumns(1, 100, 1000);
    inc.setHistory([[1, 2], [10, 20]]);
    for (let t = 10; t <= 200; t += 10) inc.push([t, t]);
    const cols = inc.frame(205, [200]);
    expect(cols[0]).toEqual([1, 2, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 205]);
    expect(cols[1]).toEqual([10, 20, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 200]);
    expect(inc.frame(235, [null])[0]).toEqual([1, 2, 140, 150, 160, 170, 180, 190, 200]);
    expect(inc.drawn).toBe(9);
  });

  it('forgets the oldest half when more than the row limit came between frames', () => {
    const inc = new TimeColumns(1, 1e9, 10);
    for (let t = 1; t <= 8; t++) inc.push([t, t]);
    inc.frame(8.5, [8]);
    for (let t = 9; t <= 11; t++) inc.push([t, t]);
    expect(inc.frame(11.5, [11])[0]).toEqual([7, 8, 9, 10, 11, 11.5]);
  });
});

describe('card plot history', () => {
  it('asks for raw samples while they fit two per pixel: an hour of ~700 samples at card width comes back raw', () => {
    // An hour of 5-second samples (709 in the issue) in a 360 px card at phone width and a 480 px card.
    expect(historyMaxPoints(360)).toBeGreaterThanOrEqual(709);
    expect(historyMaxPoints(480)).toBeGreaterThanOrEqual(709);
    expect(historyMaxPoints(100_000)).toBe(10_000);
  });

  it('aligns series at their own timestamps: the other series have no point there (undefined), gaps stay null', () => {
    const a = [[0, 0], [10, 10], [20, null], [30, 30]] as Array<[number, number | null]>;
    const b = [[5, 1], [15, 2]] as Array<[number, number | null]>;
    expect(alignSeries([a, b])).toEqual([
      [0, 5, 10, 15, 20, 30],
      [0, undefined, 10, undefined, null, 30],
      [undefined, 1, undefined, 2, undefined, undefined],
    ]);
  });
});
