import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplyTooLongError, fixedLengthSplitter, lineSplitter } from './splitters.js';
import type { ReplySplitter } from './types.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const strs = (replies: Buffer[]): string[] => replies.map((r) => r.toString('latin1'));
const feed = (splitter: ReplySplitter, ...chunks: string[]): string[] => chunks.flatMap((c) => strs(splitter.push(b(c))));

describe('lineSplitter', () => {
  it('splits LF and CR LF replies and drops the CR', () => {
    expect(feed(lineSplitter(), '15.5\n', '03 REMOTE START\r\n')).toEqual(['15.5', '03 REMOTE START']);
  });

  it('keeps the CR when stripCR is false', () => {
    expect(feed(lineSplitter({ stripCR: false }), 'a\r\n')).toEqual(['a\r']);
  });

  it('copes with replies split across chunks, byte by byte', () => {
    const s = lineSplitter();
    expect(feed(s, ...'V 1.02\r\n-08 INVALID COMMAND\r\n'.split(''))).toEqual(['V 1.02', '-08 INVALID COMMAND']);
  });

  it('copes with coalesced replies and keeps the unfinished tail', () => {
    const s = lineSplitter();
    expect(feed(s, 'one\ntwo\r\nthr')).toEqual(['one', 'two']);
    expect(feed(s, 'ee\n')).toEqual(['three']);
  });

  it('supports several and multi-byte terminators; earliest wins, longest at a tie', () => {
    expect(feed(lineSplitter({ terminators: ['\r\n', '\r'] }), 'a\r\nb\rc\r', '\n')).toEqual(['a', 'b', 'c']);
    // A terminator split across chunks.
    expect(feed(lineSplitter({ terminators: ['\r\n'] }), 'a\r', '\nb\r', '\n')).toEqual(['a', 'b']);
    expect(feed(lineSplitter({ terminators: ['\n', '\0'] }), 'x\0y\nz\0')).toEqual(['x', 'y', 'z']);
  });

  it('can skip empty replies', () => {
    expect(feed(lineSplitter({ terminators: ['\r', '\n'] }), 'a\r\nb\n')).toEqual(['a', '', 'b']);
    expect(feed(lineSplitter({ terminators: ['\r', '\n'], skipEmpty: true }), 'a\r\nb\n\n')).toEqual(['a', 'b']);
  });

  it('reset() forgets the unfinished reply', () => {
    const s = lineSplitter();
    feed(s, 'late-rep');
    s.reset();
    expect(feed(s, '42\n')).toEqual(['42']);
  });

  it('takePartial() hands back the unfinished reply and forgets it', () => {
    const s = lineSplitter();
    feed(s, 'a\nhalf');
    expect(s.takePartial().toString()).toBe('half');
    expect(s.takePartial().length).toBe(0);
    expect(feed(s, 'b\n')).toEqual(['b']);
  });

  it('throws once for an overlong reply arriving whole, then carries on', () => {
    const s = lineSplitter({ maxLength: 4 });
    expect(() => s.push(b('12345\n'))).toThrow(ReplyTooLongError);
    expect(s.overflows).toBe(1);
    expect(feed(s, '1234\r\n')).toEqual(['1234']);
  });

  it('throws as soon as an unterminated reply exceeds the limit and skips the rest of it', () => {
    const s = lineSplitter({ maxLength: 4 });
    expect(feed(s, '1234')).toEqual([]);
    expect(feed(s, '\r')).toEqual([]); // could still be "1234" + CR LF
    expect(() => s.push(b('xx'))).toThrow('reply longer than 4 bytes discarded');
    expect(feed(s, 'yyyyyyyyyy')).toEqual([]); // same reply: reported once
    expect(feed(s, 'zz\nok\n')).toEqual(['ok']);
    expect(s.overflows).toBe(1);
  });

  it('rejects nonsense options', () => {
    expect(() => lineSplitter({ terminators: [] })).toThrow(/terminators/);
    expect(() => lineSplitter({ terminators: [''] })).toThrow(/terminators/);
    expect(() => lineSplitter({ maxLength: 0 })).toThrow(/maxLength/);
  });

  it('yields the same replies however the stream is chunked', () => {
    const line = fc.string({ unit: fc.constantFrom(...'abc 12.-'.split('')), maxLength: 10 });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }), (lines, cuts) => {
        const stream = lines.map((l, i) => l + (i % 2 ? '\r\n' : '\n')).join('');
        const s = lineSplitter();
        const out: string[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i += 1) {
          const len = cuts[i % cuts.length] ?? 1;
          out.push(...feed(s, stream.slice(pos, pos + len)));
          pos += len;
        }
        expect(out).toEqual(lines);
      }),
    );
  });
});

describe('fixedLengthSplitter', () => {
  it('cuts fixed-size replies from any chunking', () => {
    const s = fixedLengthSplitter(3);
    expect(feed(s, 'ab', 'cdefg')).toEqual(['abc', 'def']);
    expect(s.takePartial().toString()).toBe('g');
    expect(feed(s, 'xyz')).toEqual(['xyz']);
    expect(() => fixedLengthSplitter(0)).toThrow(/length/);
  });
});
