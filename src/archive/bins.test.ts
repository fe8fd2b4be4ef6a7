import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOUR_MS, MINUTE_MS, binCount, chooseTier, floorTo, planBins, tierCovers } from './bins.js';

describe('bins', () => {
  it('floors to a width, also below zero', () => {
    expect(floorTo(125_000, MINUTE_MS)).toBe(120_000);
    expect(floorTo(120_000, MINUTE_MS)).toBe(120_000);
    expect(floorTo(-1, MINUTE_MS)).toBe(-MINUTE_MS);
  });

  it('plans bins that never exceed maxPoints and are whole multiples of the tier (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4e12 }),
        fc.integer({ min: 0, max: 5e11 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.constantFrom(MINUTE_MS, HOUR_MS),
        (from, span, maxPoints, tier) => {
          const to = from + span;
          const plan = planBins(from, to, maxPoints, tier);
          expect(plan.binMs % tier).toBe(0);
          const lo = floorTo(from, tier);
          const hi = floorTo(to, tier);
          expect(binCount(lo, hi, plan.binMs, plan.origin)).toBeLessThanOrEqual(maxPoints);
          expect(plan.bins).toBeLessThanOrEqual(maxPoints);
          // not needlessly coarse: one tier width less would exceed maxPoints (or it is the tier itself)
          if (plan.binMs > tier && plan.origin === 0) {
            expect(binCount(lo, hi, plan.binMs - tier)).toBeGreaterThan(Math.floor(maxPoints / 2));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('uses the tier itself when its bins fit', () => {
    expect(planBins(0, HOUR_MS - 1, 60, MINUTE_MS)).toEqual({ binMs: MINUTE_MS, origin: 0, bins: 60, tierRows: 60 });
    expect(planBins(0, HOUR_MS, 60, MINUTE_MS).binMs).toBe(2 * MINUTE_MS);
    expect(planBins(30_000, 90_000, 1, MINUTE_MS)).toEqual({ binMs: 2 * MINUTE_MS, origin: 0, bins: 1, tierRows: 2 });
  });

  it('prefers minutes for short ranges, hours for long ones, and a tier that reaches back', () => {
    const all = { '1m': true, '1h': true } as const;
    expect(chooseTier(0, 86_400_000, 1000, all)).toBe('1m');
    expect(chooseTier(0, 30 * 86_400_000, 1000, all)).toBe('1m');
    expect(chooseTier(0, 60 * 86_400_000, 1000, all)).toBe('1h');
    expect(chooseTier(0, 365 * 86_400_000, 50_000, all)).toBe('1h'); // too many minute rows
    expect(chooseTier(0, 86_400_000, 1000, { '1m': false, '1h': true })).toBe('1h');
    expect(chooseTier(0, 365 * 86_400_000, 1000, { '1m': true, '1h': false })).toBe('1m');
  });

  it('knows whether a tier covers the start of a range', () => {
    expect(tierCovers(undefined, 0, 0)).toBe(false);
    expect(tierCovers(1000, 0, 0)).toBe(true); // a series that starts after `from`
    expect(tierCovers(5 * HOUR_MS, 0, 0)).toBe(false); // cut by retention while another tier reaches back
    expect(tierCovers(5 * HOUR_MS, 6 * HOUR_MS, 0)).toBe(true); // the range starts after the cut
  });
});
