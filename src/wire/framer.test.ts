import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineFramer } from './framer.js';
import type { Frame } from './types.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function lines(frames: Frame[]): string[] {
  return frames.map((f) => (f.kind === 'line' ? f.text : f.kind === 'error' ? `!${f.code}` : `#${f.data.toString('latin1')}`));
}

describe('LineFramer: lines', () => {
  it('ends lines at LF or NUL and drops one CR before the terminator', () => {
    const f = new LineFramer();
    expect(lines(f.push(b('get_id\nget_id\r\nget_id\0get_id\r\0a\rb\n\r\r\n')))).toEqual([
      'get_id',
      'get_id',
      'get_id',
      'get_id',
      'a\rb',
      '\r',
    ]);
  });

  it('keeps empty lines (the connection ignores them) and holds back an unterminated tail', () => {
    const f = new LineFramer();
    expect(lines(f.push(b('\n\0x\nrest')))).toEqual(['', '', 'x']);
    expect(f.bufferedLength).toBe(4);
    expect(lines(f.push(b('\n')))).toEqual(['rest']);
    expect(f.bufferedLength).toBe(0);
  });

  it('gives the same lines however the stream is cut', () => {
    const text = 'get_id\r\nset a="x y"\0\nstatus k=v °C 😀\n' + 'z'.repeat(100) + '\n';
    const whole = lines(new LineFramer().push(b(text)));
    const bytes = b(text);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((x, y) => x - y);
        const f = new LineFramer();
        const out: Frame[] = [];
        let prev = 0;
        for (const p of [...points, bytes.length]) {
          out.push(...f.push(bytes.subarray(prev, p)));
          prev = p;
        }
        expect(lines(out)).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('handles many coalesced lines in one chunk in order', () => {
    const many = Array.from({ length: 5000 }, (_, i) => `l${i}`);
    const out = new LineFramer().push(b(many.join('\n') + '\n'));
    expect(lines(out)).toEqual(many);
  });

  it('decodes UTF-8 split across chunks', () => {
    const bytes = b('t=°C😀\n');
    const f = new LineFramer();
    const out: Frame[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...f.push(bytes.subarray(i, i + 1)));
    expect(lines(out)).toEqual(['t=°C😀']);
  });

  it('reports invalid UTF-8 and carries on with the lines after it', () => {
    const f = new LineFramer();
    const out = f.push(Buffer.concat([b('ok1\n'), Buffer.from([0x66, 0xff, 0xfe, 0x0a]), b('ok2\n\xef\xbb\xbfbom\n')]));
    expect(out[1]).toEqual({ kind: 'error', code: 'ProtocolError', message: 'line is not valid UTF-8' });
    expect(lines(out)).toEqual(['ok1', '!ProtocolError', 'ok2', '\xef\xbb\xbfbom']);
    // A real BOM is kept, so text reads back exactly.
    expect(lines(f.push(Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0x0a])))).toEqual(['\ufeffa']);
  });
});

describe('LineFramer: line length limit', () => {
  it('accepts exactly the limit, with or without CR', () => {
    const f = new LineFramer({ maxLineLength: 8 });
    expect(lines(f.push(b('12345678\n12345678\r\n123456789\nok\n')))).toEqual(['12345678', '12345678', '!LineTooLong', 'ok']);
  });

  it('answers a line without terminator at once and buffers nothing of it', () => {
    const f = new LineFramer({ maxLineLength: 1024 });
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    const first = f.push(big.subarray(0, 64 * 1024));
    expect(first).toEqual([{ kind: 'error', code: 'LineTooLong', message: 'line longer than 1024 bytes; discarded up to its end' }]);
    expect(f.bufferedLength).toBe(0);
    for (let off = 64 * 1024; off < big.length; off += 64 * 1024) {
      expect(f.push(big.subarray(off, off + 64 * 1024))).toEqual([]);
      expect(f.bufferedLength).toBe(0);
    }
    expect(lines(f.push(b('tail of the long line\nget_id\n')))).toEqual(['get_id']);
  });

  it('emits one error for a long line that grows over several chunks', () => {
    const f = new LineFramer({ maxLineLength: 10 });
    expect(lines(f.push(b('123456')))).toEqual([]);
    expect(lines(f.push(b('7890\r')))).toEqual([]);
    expect(f.bufferedLength).toBe(11);
    expect(lines(f.push(b('2')))).toEqual(['!LineTooLong']);
    expect(lines(f.push(b('345\0x\n')))).toEqual(['x']);
  });

  it('holds limit+1 bytes only when the last may be the CR of CR LF', () => {
    const f = new LineFramer({ maxLineLength: 4 });
    expect(lines(f.push(b('1234\r')))).toEqual([]);
    expect(lines(f.push(b('\n')))).toEqual(['1234']);
    expect(lines(f.push(b('1234\r')))).toEqual([]);
    expect(lines(f.push(b('x\n')))).toEqual(['!LineTooLong']);
    expect(lines(f.push(b('12345')))).toEqual(['!LineTooLong']);
  });
});

describe('LineFramer: binary blocks', () => {
  function consumer(f: LineFramer): { out: string[]; onFrame: (fr: Frame) => void } {
    const out: string[] = [];
    return {
      out,
      onFrame: (fr) => {
        out.push(...lines([fr]));
        if (fr.kind === 'line' && fr.text.startsWith('binary')) {
          f.expectBinary(Number(/size=(\d+)/.exec(fr.text)?.[1]));
        }
      },
    };
  }

  it('collects bytes announced in the same chunk, terminators and all', () => {
    const f = new LineFramer();
    const c = consumer(f);
    f.push(b('binary image size=5\n\n\0\r\nxafter\n'), c.onFrame);
    expect(c.out).toEqual(['binary image size=5', '#\n\0\r\nx', 'after']);
  });

  it('collects bytes split over many chunks', () => {
    const f = new LineFramer();
    const c = consumer(f);
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));
    const stream = Buffer.concat([b('binary fits size=3000 w=10\n'), data, b('next\n')]);
    for (let off = 0; off < stream.length; off += 7) f.push(stream.subarray(off, off + 7), c.onFrame);
    expect(c.out[0]).toBe('binary fits size=3000 w=10');
    expect(c.out[1]).toBe('#' + data.toString('latin1'));
    expect(c.out[2]).toBe('next');
    expect(c.out).toHaveLength(3);
  });

  it('handles a zero-length block and a block ending a chunk', () => {
    const f = new LineFramer();
    const c = consumer(f);
    f.push(b('binary x size=0\nbinary y size=2\nab'), c.onFrame);
    f.push(b('z\n'), c.onFrame);
    expect(c.out).toEqual(['binary x size=0', '#', 'binary y size=2', '#ab', 'z']);
  });

  it('refuses misuse', () => {
    const f = new LineFramer();
    expect(() => f.expectBinary(-1)).toThrow(RangeError);
    expect(() => f.expectBinary(1.5)).toThrow(RangeError);
    f.push(b('partial'));
    expect(() => f.expectBinary(3)).toThrow(/middle of a line/);
    const g = new LineFramer();
    g.expectBinary(2);
    expect(g.inBinary).toBe(true);
    expect(() => g.expectBinary(2)).toThrow(/still being collected/);
    expect(lines(g.push(b('xyz\n')))).toEqual(['#xy', 'z']);
  });
});

describe('LineFramer: exceptions from the consumer', () => {
  it('propagates them and keeps the rest of the chunk for the next push', () => {
    const f = new LineFramer();
    const seen: string[] = [];
    const onFrame = (fr: Frame): void => {
      if (fr.kind === 'line' && fr.text === 'boom') throw new Error('consumer failed');
      seen.push(...lines([fr]));
    };
    expect(() => f.push(b('a\nboom\nb\nc'), onFrame)).toThrow('consumer failed');
    expect(seen).toEqual(['a']);
    f.push(Buffer.alloc(0), onFrame);
    expect(seen).toEqual(['a', 'b']);
    f.push(b('\n'), onFrame);
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('refuses re-entrant push', () => {
    const f = new LineFramer();
    expect(() => f.push(b('x\n'), () => f.push(b('y\n')))).toThrow(/inside onFrame/);
  });
});
