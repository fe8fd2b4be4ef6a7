import { describe, expect, it, vi } from 'vitest';
import { batchingSink, type Sink } from './hub.js';

function fakeSink(): Sink & { writes: string[]; full: boolean; drain: () => void; closed: boolean } {
  let drainCb: (() => void) | undefined;
  const s = {
    writes: [] as string[],
    full: false,
    closed: false,
    write(frame: string) {
      s.writes.push(frame);
      return !s.full;
    },
    onDrain(cb: () => void) {
      drainCb = cb;
    },
    close() {
      s.closed = true;
    },
    drain() {
      s.full = false;
      drainCb?.();
    },
  };
  return s;
}

describe('batchingSink', () => {
  it('joins frames written within the delay into one write', () => {
    vi.useFakeTimers();
    try {
      const under = fakeSink();
      const sink = batchingSink(under, 20);
      for (let i = 0; i < 100; i++) expect(sink.write(`f${i};`)).toBe(true);
      expect(under.writes).toEqual([]);
      vi.advanceTimersByTime(20);
      expect(under.writes).toHaveLength(1);
      expect(under.writes[0]).toBe(Array.from({ length: 100 }, (_, i) => `f${i};`).join(''));
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes at once beyond maxBytes, and passes backpressure through until drained', async () => {
    vi.useFakeTimers();
    try {
      const under = fakeSink();
      under.full = true;
      const sink = batchingSink(under, 20, 10);
      expect(sink.write('0123456789ab')).toBe(false); // flushed at once; the socket buffer is full
      expect(under.writes).toEqual(['0123456789ab']);
      const drained = vi.fn();
      sink.onDrain(drained);
      expect(sink.write('x')).toBe(false);
      under.drain();
      expect(drained).toHaveBeenCalledTimes(1);
      expect(sink.write('y')).toBe(true);
      sink.close('bye');
      expect(under.writes.at(-1)).toBe('xy'); // nothing queued is lost on close
      expect(under.closed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
