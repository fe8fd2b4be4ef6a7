import { describe, expect, it } from 'vitest';
import { ArchiveError } from './errors.js';
import { WriteQueue, type Batch } from './queue.js';
import type { Sample } from './types.js';

const s = (t: number): Sample => ({ device: 'd', name: 'n', t, value: t });

const write = (q: WriteQueue, items: Sample[]): Promise<void> => q.enqueue({ kind: 'samples', items });

function queue(commit: (b: Batch) => Promise<{ stored: number; skipped: number }> | { stored: number; skipped: number }, batchRows = 10, maxPending = 1000) {
  return new WriteQueue({ batchMs: 5, batchRows, maxPending, commit });
}

describe('write queue', () => {
  it('settles a write only after the asynchronous commit of its batch, in order', async () => {
    const events: string[] = [];
    let release: () => void = () => {};
    const q = queue(async (b) => {
      events.push(`commit ${b.samples.length}`);
      await new Promise<void>((r) => (release = r));
      events.push('committed');
      return { stored: b.samples.length, skipped: 0 };
    });
    const p = write(q, [s(1), s(2)]);
    await new Promise((r) => setTimeout(r, 30));
    expect(events).toEqual(['commit 2']);
    expect(q.stats().pending).toBe(2);
    const later = write(q, [s(3)]).then(() => events.push('second acked'));
    p.then(() => events.push('first acked'));
    release();
    await new Promise((r) => setTimeout(r, 30));
    release();
    await later;
    expect(events).toEqual(['commit 2', 'committed', 'first acked', 'commit 1', 'committed', 'second acked']);
    expect(q.stats()).toMatchObject({ pending: 0, committed: 3, batches: 2 });
  });

  it('splits a large write, rejects it whole when a part fails, and goes on', async () => {
    let calls = 0;
    const q = queue((b) => {
      if (++calls === 2) throw new ArchiveError('boom');
      return { stored: b.samples.length, skipped: 0 };
    });
    const big = write(q, Array.from({ length: 35 }, (_, i) => s(i)));
    const next = write(q, [s(100)]);
    await expect(big).rejects.toThrow('boom');
    await next;
    expect(calls).toBe(3); // 10 ok, 10 failed, the other 15 dropped, then the next write
    expect(q.stats()).toMatchObject({ pending: 0, committed: 11, failed: 25 });
    expect(q.stats().lastError).toBeUndefined();
  });

  it('wraps foreign errors and never leaves an unhandled rejection', async () => {
    const q = queue(() => {
      throw new Error('disk on fire');
    });
    void write(q, [s(1)]); // ignored on purpose
    await q.flush();
    expect(q.stats().lastError).toBe('archive write failed: disk on fire');
    await q.close();
    await expect(write(q, [s(2)])).rejects.toThrow('archive is closed');
  });
});
