import { describe, expect, it } from 'vitest';
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

  it('byte granularity: characters leave one by one, in order, no sooner than their time', async () => {
    const { chunks, sink } = collect();
    const start = performance.now();
    const w = new PacedWriter(sink, { latencyMs: () => 5, charTimeMs: () => 4, granularity: 'byte' });
    w.write(Buffer.from('abcd'));
    w.write(Buffer.from('ef'));
    await eventually(() => expect(chunks.map((c) => c.data).join('')).toBe('abcdef'));
    // Six characters after 5 ms of latency at 4 ms each: the last cannot leave before 29 ms.
    expect(chunks.at(-1)!.at - start).toBeGreaterThanOrEqual(28);
    expect(chunks.length).toBeGreaterThan(1);
    w.close();
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
