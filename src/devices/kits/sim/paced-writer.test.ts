import { describe, expect, it, vi } from 'vitest';
import { eventually } from '../../../testing/eventually.js';
import { PacedWriter, charTimeMs } from './paced-writer.js';

function collect() {
  const chunks: { at: number; data: string }[] = [];
  return { chunks, sink: (d: Buffer) => chunks.push({ at: performance.now(), data: d.toString('latin1') }) };
}

describe('PacedWriter', () => {
  it('writes at once without timing', () => {
    const { chunks, sink } = collect();
    const w = new PacedWriter(sink, { latencyMs: () => 0, charTimeMs: () => 0, granularity: 'reply' });
    w.write(Buffer.from('a\n'));
    w.write(Buffer.from('b\n'));
    expect(chunks.map((c) => c.data)).toEqual(['a\n', 'b\n']);
  });

  it('byte granularity: characters leave one by one, in order, no sooner than their time', () => {
    // A fake clock and fake timers: on a busy machine a real timer that fires late sends every
    // byte then due in one write, which says nothing about the pacing.
    vi.useFakeTimers();
    try {
      let now = 1000;
      const chunks: { at: number; data: string }[] = [];
      const w = new PacedWriter((d) => chunks.push({ at: now, data: d.toString('latin1') }), { latencyMs: () => 5, charTimeMs: () => 4, granularity: 'byte' }, () => now);
      w.write(Buffer.from('abcd'));
      w.write(Buffer.from('ef'));
      for (let step = 0; step < 40 && chunks.map((c) => c.data).join('') !== 'abcdef'; step++) {
        now += 1;
        vi.advanceTimersByTime(1);
      }
      // Six characters after 5 ms of latency at 4 ms each: character i leaves at 5 + 4 i ms.
      expect(chunks).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((data, i) => ({ data, at: 1000 + 5 + 4 * (i + 1) })));
      w.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('reply granularity: the whole reply when its last character would arrive; close drops what is pending', async () => {
    const { chunks, sink } = collect();
    const w = new PacedWriter(sink, { latencyMs: () => 1, charTimeMs: () => charTimeMs(9600), granularity: 'reply' });
    w.write(Buffer.from('0123456789\n'));
    await eventually(() => expect(chunks.map((c) => c.data)).toEqual(['0123456789\n']));
    w.write(Buffer.from('late\n'));
    w.close();
    await new Promise((r) => setTimeout(r, 30));
    expect(chunks).toHaveLength(1);
  });
});
