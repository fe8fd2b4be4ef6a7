import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ArchonReplySplitter,
  BLOCK_BYTES,
  FRAME_KEYS,
  blocksFor,
  completeFrameAfter,
  encodeRequest,
  fetchCommand,
  formatBlock,
  formatFailure,
  formatFrame,
  formatId,
  formatReply,
  geometryOf,
  moduleTypeName,
  parseAcf,
  parseFetchCommand,
  parseFrame,
  parseKeyValues,
  parseParameter,
  parseReply,
  parseRequest,
  parseWconfig,
  powerStateName,
  replyId,
  statusName,
  wconfigCommands,
  type FrameInfo,
} from './codec.js';

describe('ids and requests', () => {
  it('formats ids as two upper-case hex digits and refuses others', () => {
    expect(formatId(0)).toBe('00');
    expect(formatId(0xab)).toBe('AB');
    expect(() => formatId(256)).toThrow(/0…255/);
    expect(encodeRequest(10, 'STATUS')).toBe('>0ASTATUS\n');
    expect(() => encodeRequest(1, 'A\nB')).toThrow(/one line/);
  });

  it('parses request lines as the controller does, CR dropped, ids of either case', () => {
    expect(parseRequest('>0aFRAME\r')).toEqual({ id: 10, idText: '0a', command: 'FRAME' });
    expect(parseRequest('>FF')).toEqual({ id: 255, idText: 'FF', command: '' });
    expect(parseRequest('0ASTATUS')).toBeUndefined();
    expect(parseRequest('>G1STATUS')).toBeUndefined();
    expect(parseRequest('>1')).toBeUndefined();
  });
});

describe('replies', () => {
  it('parses the three reply forms', () => {
    expect(parseReply(Buffer.from('<1FVALID=1 COUNT=5 '))).toEqual({ kind: 'ok', id: 0x1f, body: 'VALID=1 COUNT=5' });
    expect(parseReply(Buffer.from('<1F'))).toEqual({ kind: 'ok', id: 0x1f, body: '' });
    expect(parseReply(Buffer.from('?2A'))).toEqual({ kind: 'failed', id: 0x2a });
    const block = parseReply(formatBlock(7, Buffer.from([1, 2, 3])));
    expect(block.kind).toBe('block');
    if (block.kind === 'block') {
      expect(block.id).toBe(7);
      expect(block.payload.length).toBe(1024);
      expect([...block.payload.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
    }
    expect(() => parseReply(Buffer.from('<1fX'))).toThrow(/message id/);
    expect(() => parseReply(Buffer.from('hello'))).toThrow(/no Archon reply/);
    expect(replyId(Buffer.from('?0C'))).toBe(12);
    expect(replyId(Buffer.from('garbage'))).toBeUndefined();
    expect(formatReply(3, 'X=1')).toBe('<03X=1\n');
    expect(formatFailure(3)).toBe('?03\n');
  });

  it('splits text replies and binary blocks however the stream is cut', () => {
    const payload = Buffer.alloc(1024);
    // A payload that spells a header and line ends: blocks are cut by position, never by content.
    payload.write('<05:\n<05\n?05\n', 100, 'latin1');
    for (let i = 200; i < 1024; i += 1) payload[i] = i & 0xff;
    const stream = Buffer.concat([
      Buffer.from(formatReply(4, 'A=1 B/C=2')),
      formatBlock(5, payload),
      formatBlock(5, payload),
      Buffer.from(formatReply(6)),
      Buffer.from(formatFailure(7)),
    ]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const splitter = new ArchonReplySplitter();
        const replies: Buffer[] = [];
        let from = 0;
        for (const p of [...points, stream.length]) {
          replies.push(...splitter.push(Buffer.from(stream.subarray(from, p))).map((b) => Buffer.from(b)));
          from = p;
        }
        expect(replies.map((r) => parseReply(r).kind)).toEqual(['ok', 'block', 'block', 'ok', 'failed']);
        expect(replies[1]!.length).toBe(BLOCK_BYTES);
        expect(Buffer.compare(replies[2]!.subarray(4), payload)).toBe(0);
        expect(parseReply(replies[0]!)).toEqual({ kind: 'ok', id: 4, body: 'A=1 B/C=2' });
      }),
    );
  });

  it('a FETCH stream cut mid-block: the cut block is joined, the blocks after it are views of the chunk, not copies', () => {
    const blocks = Buffer.concat(Array.from({ length: 70 }, (_, i) => formatBlock(9, Buffer.alloc(1024, i))));
    const splitter = new ArchonReplySplitter();
    const first = splitter.push(Buffer.from(blocks.subarray(0, 65536)));
    const chunk = Buffer.from(blocks.subarray(65536));
    const second = splitter.push(chunk);
    expect(first.length + second.length).toBe(70);
    expect(second[0]!.buffer).not.toBe(chunk.buffer);
    expect(second.slice(1).every((b) => b.buffer === chunk.buffer)).toBe(true);
    expect([...first, ...second].map((b) => b[4])).toEqual(Array.from({ length: 70 }, (_, i) => i));
  });

  it('refuses an endless line and forgets partial replies on reset', () => {
    const splitter = new ArchonReplySplitter();
    expect(splitter.push(Buffer.from('<01VALID'))).toEqual([]);
    expect(splitter.takePartial().toString()).toBe('<01VALID');
    expect(() => splitter.push(Buffer.alloc(70_000, 0x41))).toThrow(/without a line end/);
    expect(splitter.push(Buffer.from('<02\n')).map(String)).toEqual(['<02']);
  });
});

describe('bodies and FRAME', () => {
  it('splits KEY=VALUE bodies at the first = and renames keys as CCDLab did', () => {
    const kv = parseKeyValues('VALID=1  MOD2/TEMP=31.5 X=a=b junk ');
    expect([...kv]).toEqual([['VALID', '1'], ['MOD2/TEMP', '31.5'], ['X', 'a=b']]);
    expect(statusName('MOD11/HEATERAP')).toBe('MOD11_HEATERAP');
    expect(moduleTypeName(2)).toBe('AD');
    expect(moduleTypeName(42)).toBe('type42');
    expect(powerStateName(4)).toBe('on');
    expect(powerStateName(9)).toBe('unknown');
  });

  it('lists the 60 FRAME keys in field-major order and round-trips a state', () => {
    expect(FRAME_KEYS).toHaveLength(60);
    expect(FRAME_KEYS.slice(0, 7)).toEqual(['TIMER', 'RBUF', 'WBUF', 'BUF1SAMPLE', 'BUF2SAMPLE', 'BUF3SAMPLE', 'BUF1COMPLETE']);
    expect(FRAME_KEYS.slice(18, 24)).toEqual(['BUF1WIDTH', 'BUF1HEIGHT', 'BUF2WIDTH', 'BUF2HEIGHT', 'BUF3WIDTH', 'BUF3HEIGHT']);
    expect(FRAME_KEYS.at(-1)).toBe('BUF3FEBTIMESTAMP');
    const info: FrameInfo = {
      timer: 0x1234_5678_9abcn,
      rbuf: 0,
      wbuf: 2,
      buffers: [1, 2, 3].map((n) => ({
        n, sample: 0, complete: n !== 3, mode: 0, base: 0xa0000000 + (n - 1) * 0x20000000, frame: n === 2 ? 8 : n === 1 ? 7 : 0,
        width: 512, height: 512, pixels: 256, lines: 512, rawBlocks: 0, rawLines: 0, rawOffset: 0,
        timestamp: BigInt(n) * 1000n, reTimestamp: 5n, feTimestamp: 9n,
      })),
    };
    const body = formatFrame(info);
    expect(body.split(' ').map((p) => p.split('=')[0])).toEqual(FRAME_KEYS);
    expect(body).toContain('BUF1BASE=2684354560');
    expect(body).toContain('TIMER=0000123456789ABC');
    expect(parseFrame(body)).toEqual(info);
    expect(completeFrameAfter(info, 7)?.n).toBe(2);
    expect(completeFrameAfter(info, 8)).toBeUndefined();
    expect(() => parseFrame('VALID=1')).toThrow(/no FRAME/);
  });
});

describe('FETCH and the ACF', () => {
  it('builds and parses FETCH commands', () => {
    expect(fetchCommand(0xa0000000, 512)).toBe('FETCHA000000000000200');
    expect(parseFetchCommand('FETCHA000000000000200')).toEqual({ address: 0xa0000000, blocks: 512 });
    expect(parseFetchCommand('FETCH12')).toBeUndefined();
    expect(blocksFor(512 * 512 * 2)).toBe(512);
    expect(blocksFor(1025)).toBe(2);
  });

  it('reads the [CONFIG] section of an ACF: backslash keys, quotes removed, other sections skipped', () => {
    const acf = [
      '[SYSTEM]', 'BACKPLANE_TYPE=1',
      '[CONFIG]', 'LINECOUNT=512', 'PIXELCOUNT=256', 'FRAMEMODE=0', 'TAPLINES=3', 'TAPLINE0="AD1L, 1, 1000"', 'TAPLINE1="AD2R, 1, 1000"', 'TAPLINE2=',
      'MOD5\\CLAMP1=0.5', 'PARAMETER1="Exposures=0"', 'CONSTANT2=',
      '[MODE_FAST]', 'LINECOUNT=1',
    ].join('\r\n');
    const config = parseAcf(acf);
    expect(config).toContainEqual({ key: 'MOD5/CLAMP1', value: '0.5' });
    expect(config).toContainEqual({ key: 'TAPLINE0', value: 'AD1L, 1, 1000' });
    expect(config).toContainEqual({ key: 'CONSTANT2', value: '' });
    expect(config.filter((c) => c.key === 'LINECOUNT')).toHaveLength(1);
    expect(geometryOf(config)).toMatchObject({ width: 512, height: 512, taps: 2, sampleMode: 0 });
    expect(geometryOf([...config.filter((c) => c.key !== 'FRAMEMODE'), { key: 'FRAMEMODE', value: '2' }])).toMatchObject({ width: 256, height: 1024 });
    const cmds = wconfigCommands(config);
    expect(cmds[0]).toBe('WCONFIG0000LINECOUNT=512');
    expect(parseWconfig(cmds[5]!)).toEqual({ line: 5, key: 'TAPLINE1', value: 'AD2R, 1, 1000' });
    expect(parseParameter('Exposures=0')).toEqual({ name: 'Exposures', value: 0 });
    expect(parseParameter('bad')).toBeUndefined();
    expect(() => parseAcf('[CONFIG]\nNOEQUALS')).toThrow(/line 2/);
    expect(() => parseAcf('[SYSTEM]\nA=1')).toThrow(/no \[CONFIG\]/);
  });
});
