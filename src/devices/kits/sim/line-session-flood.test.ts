import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LineSession, type LineSessionOptions } from './line-session.js';
import { seededRandom } from './noise-and-clock.js';

const MIB = 1024 * 1024;

/**
 * A fixed 1 MiB of client bytes: short commands, blank lines (spaces, tabs, a latin-1 NBSP),
 * bytes with the 8th bit set (0x8a and 0x8d become LF and CR on a 7-bit wire), CR, LF and CRLF
 * endings, lines just around the limits and far over them, and one line of 100 KiB.
 */
function floodInput(): Buffer {
  const random = seededRandom(1234);
  const int = (n: number): number => Math.floor(random() * n);
  const bytes: number[] = [];
  const text = (n: number, high: boolean): void => {
    for (let i = 0; i < n; i++) bytes.push(high && random() < 0.1 ? 0x80 + int(128) : 0x20 + int(95));
  };
  let hugeLineWritten = false;
  while (bytes.length < MIB) {
    const kind = random();
    if (!hugeLineWritten && bytes.length > MIB / 2) {
      hugeLineWritten = true;
      text(100 * 1024, true);
      bytes.push(0x0a);
      continue;
    }
    if (kind < 0.55) text(int(40), false);
    else if (kind < 0.7) text(int(40), true);
    else if (kind < 0.8) for (let i = int(4); i > 0; i--) bytes.push([0x20, 0x09, 0xa0][int(3)]!);
    else if (kind < 0.9) text(60 + int(200), random() < 0.5);
    else if (kind < 0.97) text(300 + int(2000), false);
    else bytes.push(0x8a, 0x41, 0x8d);
    const end = random();
    if (end < 0.5) bytes.push(0x0a);
    else if (end < 0.8) bytes.push(0x0d, 0x0a);
    else bytes.push(0x0d);
  }
  return Buffer.from(bytes.slice(0, MIB));
}

/** The wire settings of the kit's users: Julabo (CR or LF, 7 bits), Cryo-con and Archon (LF, CR stripped), a bare CR one. */
const SETTINGS: Record<string, Omit<LineSessionOptions, 'onLine' | 'onOverflow' | 'replyTerminator'>> = {
  julaboLike: { terminators: '\r\n', maxLineChars: 64, sevenBit: true },
  cryoconLike: { terminators: '\n', maxLineChars: 254, stripTrailingCr: true },
  crOnly: { terminators: '\r', maxLineChars: 2048 },
  sevenBitStripCr: { terminators: '\n', maxLineChars: 100, sevenBit: true, stripTrailingCr: true },
};

/** What a session made of the input, in order: lines and refusals of overlong lines. */
function feed(settings: (typeof SETTINGS)[string], chunks: Buffer[]): { events: string[]; lines: number; overflows: number } {
  const events: string[] = [];
  let lines = 0;
  let overflows = 0;
  const session = new LineSession(
    { kind: 'tcp', write: () => undefined },
    {
      ...settings,
      replyTerminator: '\n',
      onLine: (line) => {
        lines++;
        events.push(`L${line}`);
      },
      onOverflow: () => {
        overflows++;
        events.push('O');
      },
    },
  );
  for (const c of chunks) session.receive(c);
  session.close();
  return { events, lines, overflows };
}

function split(input: Buffer, seed: number, maxChunk: number): Buffer[] {
  const random = seededRandom(seed);
  const out: Buffer[] = [];
  for (let at = 0; at < input.length; ) {
    const n = 1 + Math.floor(random() * maxChunk);
    out.push(input.subarray(at, at + n));
    at += n;
  }
  return out;
}

const digest = (events: string[]): string => createHash('sha256').update(events.join('\u0000'), 'latin1').digest('hex');

/** Recorded from the per-byte implementation this one replaced, on the same input. */
const RECORDED: Record<string, { lines: number; overflows: number; sha256: string }> = {
  julaboLike: { lines: 5336, overflows: 1456, sha256: '59f67ae7a8f3509e10a83ffa3dae2937f70a79d49d3047193843ac3929d2d27e' },
  cryoconLike: { lines: 4793, overflows: 586, sha256: 'e19ab1f56468f78d1d1b8732c23bdf5d6352dfb0ffffd825d7b8177de29fe182' },
  crOnly: { lines: 3337, overflows: 86, sha256: '38d2c2dc7326ece687bc0a754fdeb886af4531d9d437c018970a539739289961' },
  sevenBitStripCr: { lines: 4330, overflows: 1202, sha256: '811789c306400bc5b77708a614098795180c8a46782bfadafec83a4958f9a32f' },
};

describe('LineSession under a flood', () => {
  const input = floodInput();

  it.each(Object.keys(SETTINGS))('%s: a 1 MiB chunk gives the same lines and refusals as the per-byte splitter did', (name) => {
    const whole = feed(SETTINGS[name]!, [input]);
    expect({ lines: whole.lines, overflows: whole.overflows, sha256: digest(whole.events) }).toEqual(RECORDED[name]);
  });

  it.each(Object.keys(SETTINGS))('%s: the same bytes in chunks of any size (1 byte to 8 KiB) give the same lines', (name) => {
    const whole = feed(SETTINGS[name]!, [input]);
    const chunked = feed(SETTINGS[name]!, split(input, 99, 8192));
    expect(chunked.events).toEqual(whole.events);
    const prefix = input.subarray(0, 64 * 1024);
    const bytewise = feed(SETTINGS[name]!, split(prefix, 7, 1));
    expect(bytewise.events).toEqual(feed(SETTINGS[name]!, [prefix]).events);
    expect(bytewise.lines).toBeGreaterThan(100);
  });
});
