import { describe, expect, it } from 'vitest';
import { HostLineAssembler, command, dataLine, escapeData, splitTransaction } from './codec.js';
import { transactionSplitter } from './splitter.js';

const VER = 'Prologix GPIB-ETHERNET Controller version 01.06.06.00\r\n';

describe('Prologix codec', () => {
  it('escapes CR, LF, ESC and + as the manual\'s example shows', () => {
    const data = Buffer.from([0, 1, 2, 13, 3, 10, 4, 27, 5, 43, 6]);
    expect([...escapeData(data)]).toEqual([0, 1, 2, 27, 13, 3, 27, 10, 4, 27, 27, 5, 27, 43, 6]);
  });

  it('a data line drops one final terminator and ends with LF; ++ data is escaped', () => {
    expect(dataLine(Buffer.from('*IDN?')).toString('latin1')).toBe('*IDN?\n');
    // A trailing CR or LF is data too (the last bytes of a binary block): escaped, never dropped.
    expect(dataLine(Buffer.from([0x01, 0x0d, 0x0a])).toString('latin1')).toBe('\x01\x1b\r\x1b\n\n');
    expect(dataLine(Buffer.from('++rst')).toString('latin1')).toBe('\x1b+\x1b+rst\n');
    expect(command('addr', 14).toString()).toBe('++addr 14\n');
  });

  it('the assembler tells commands from data, honours escapes and ignores blank lines', () => {
    const a = new HostLineAssembler();
    const lines = a.push(Buffer.from('\r\n++addr 14\r\n\x1b+\x1b+rst\na\x1b\rb\x1b\nc\n++re'));
    expect(lines).toEqual([
      { kind: 'command', name: 'addr', args: ['14'], raw: 'addr 14' },
      { kind: 'data', data: Buffer.from('++rst') },
      { kind: 'data', data: Buffer.from('a\rb\nc') },
    ]);
    expect(a.push(Buffer.from('ad eoi\n'))).toEqual([{ kind: 'command', name: 'read', args: ['eoi'], raw: 'read eoi' }]);
  });

  it('a transaction is everything up to the version line, whatever bytes the reply holds', () => {
    const s = transactionSplitter();
    expect(s.push(Buffer.from('A\rB\nC\n'))).toEqual([]);
    const frames = s.push(Buffer.from(`${VER}${VER.slice(0, 10)}`));
    expect(frames.map((f) => splitTransaction(f))).toEqual([{ reply: Buffer.from('A\rB\nC\n'), version: VER.trim() }]);
    const [silent] = s.push(Buffer.from(VER.slice(10)));
    expect(splitTransaction(silent!).reply.length).toBe(0);
  });
});
