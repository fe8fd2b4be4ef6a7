import { describe, expect, it } from 'vitest';
import { COMMIT_BUCKETS_MS, DurationBuckets, WriteQueue } from './queue.js';
import type { Sample } from './types.js';

const s = (t: number): Sample => ({ device: 'd', name: 'n', t, value: t });

describe('commit durations (ArchiveStats.commit, for the metrics histogram)', () => {
  it('counts each duration into every bucket at or above it, cumulatively', () => {
    const b = new DurationBuckets([1, 10, 100]);
    b.observe(1);
    b.observe(5);
    b.observe(100);
    b.observe(150);
    expect(b.snapshot()).toEqual({ bucketsMs: [1, 10, 100], counts: [1, 2, 3], count: 4, sumMs: 256 });
  });

  it('records the time of each committed transaction, not of failed ones', async () => {
    let fail = false;
    const q = new WriteQueue({
      batchMs: 5,
      batchRows: 10,
      maxPending: 100,
      commit: async (batch) => {
        await new Promise((r) => setTimeout(r, 40));
        if (fail) throw new Error('disk on fire');
        return { stored: batch.samples.length, skipped: 0 };
      },
    });
    await q.enqueue({ kind: 'samples', items: [s(1), s(2)] });
    fail = true;
    await q.enqueue({ kind: 'samples', items: [s(3)] }).catch(() => undefined);
    fail = false;
    await q.enqueue({ kind: 'samples', items: [s(4)] });
    const c = q.stats().commit;
    expect(c.count).toBe(2);
    expect(c.bucketsMs).toEqual(COMMIT_BUCKETS_MS);
    // setTimeout never fires early: both took at least 40 ms, so no bucket below 40 ms holds them.
    expect(c.sumMs).toBeGreaterThanOrEqual(78);
    COMMIT_BUCKETS_MS.forEach((le, i) => {
      if (le < 39) expect(c.counts[i], `le ${le}`).toBe(0);
    });
    expect(c.counts.at(-1)).toBeLessThanOrEqual(2);
    await q.close();
  });
});
