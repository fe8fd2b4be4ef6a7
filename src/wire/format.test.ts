import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatCommand,
  formatErrorReply,
  formatLog,
  formatOk,
  formatPairs,
  formatUpdate,
  formatValue,
  makeCommand,
  parseErrorReply,
  quote,
  numberOf,
  parseBoolWord,
  parseDecimal,
} from './format.js';
import { parseLine } from './tokenize.js';
import { LabwireError, type Command } from './types.js';

function plain(cmd: Command): { name: string | null; args: string[]; kwargs: Record<string, string> } {
  return { name: cmd.name, args: cmd.args, kwargs: { ...cmd.kwargs } };
}

function kw(entries: [string, string][]): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of entries) out[k] = v;
  return out;
}

describe('formatValue', () => {
  it.each([
    [1, '1'],
    [-2.5, '-2.5'],
    [0.1, '0.1'],
    [1e21, '1e+21'],
    [5e-7, '5e-7'],
    [-0, '0'],
    [NaN, 'nan'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [true, '1'],
    [false, '0'],
    [null, 'nan'],
    ['a b', 'a b'],
    ['', ''],
  ] as const)('%s → %j', (v, text) => {
    expect(formatValue(v)).toBe(text);
  });

  it('writes every finite double so that it reads back exactly', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const back = Number(formatValue(n));
        return back === n || (n === 0 && back === 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('quote', () => {
  it.each([
    ['abc', 'abc'],
    ['°C', '°C'],
    ['1:SETPT', '1:SETPT'],
    ['#1', '#1'],
    ['$5', '$5'],
    ['', '""'],
    ['a b', '"a b"'],
    ['k=v', '"k=v"'],
    ["it's", '"it\'s"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['C:\\x', '"C:\\\\x"'],
    ['tab\there', '"tab\there"'],
    ['\u00a0', '"\u00a0"'],
    ['a\nb', "$'a\\nb'"],
    ["a\r\n\0'\\\x1b\x7f", "$'a\\r\\n\\x00\\'\\\\\\x1b\\x7f'"],
  ])('%j → %s', (s, quoted) => {
    expect(quote(s)).toBe(quoted);
    expect(parseLine(quoted).name).toBe(s);
  });
});

describe('formatCommand', () => {
  it('writes name, positionals, then keywords', () => {
    const cmd: Command = { name: 'send', args: ['cryo con', 'set'], kwargs: kw([['temperature', '-100'], ['note', '']]) };
    expect(formatCommand(cmd)).toBe('send "cryo con" set temperature=-100 note=');
  });

  it('writes a keyword-only command and an empty one', () => {
    expect(formatCommand({ name: null, args: [], kwargs: kw([['k', 'v']]) })).toBe('k=v');
    expect(formatCommand({ name: null, args: [], kwargs: kw([]) })).toBe('');
  });

  it('refuses keys that could not be read back', () => {
    for (const key of ['', 'a b', 'a=b', 'a"b', "a'b", 'a\\b', 'a\nb', 'a\0b', 'a\x01']) {
      expect(() => formatCommand({ name: 'set', args: [], kwargs: kw([[key, '1']]) })).toThrow(LabwireError);
    }
  });

  it('refuses positionals without a name', () => {
    expect(() => formatCommand({ name: null, args: ['x'], kwargs: kw([]) })).toThrow(/needs a name/);
  });

  it('round-trips any command: parseLine(formatCommand(x)) equals x', () => {
    const text = fc.string({ unit: 'binary', maxLength: 20 });
    // eslint-disable-next-line no-control-regex -- the key rule of format.ts, controls included
    const key = fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }).filter((k) => /^[^\s"'\\=\x00-\x1f\x7f]+$/.test(k));
    const command = fc.record({
      name: text,
      args: fc.array(text, { maxLength: 5 }),
      kwargs: fc.dictionary(key, text, { maxKeys: 5 }),
    });
    fc.assert(
      fc.property(command, ({ name, args, kwargs }) => {
        const cmd: Command = { name, args, kwargs: kw(Object.entries(kwargs)) };
        const line = formatCommand(cmd);
        expect(line).not.toMatch(/[\n\r\0]/);
        expect(plain(parseLine(line))).toEqual(plain(cmd));
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips strings built from the characters that matter', () => {
    const special = fc.constantFrom(' ', '\t', '\n', '\r', '\0', '"', "'", '\\', '=', '$', '#', 'a', 'é', '😀', '\x7f', '\x1b', 'x');
    const text = fc.array(special, { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(text, fc.array(text, { maxLength: 3 }), text, (name, args, value) => {
        const cmd: Command = { name, args, kwargs: kw([['k', value]]) };
        expect(plain(parseLine(formatCommand(cmd)))).toEqual(plain(cmd));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('pairs and replies', () => {
  it('formats typed pairs and skips undefined', () => {
    expect(formatPairs({ a: 1.5, b: true, c: null, d: 'x y', e: undefined, f: '' })).toBe('a=1.5 b=1 c=nan d="x y" f=');
  });

  it('makes a Command from typed values', () => {
    const cmd = makeCommand('ramp', [20, true], { rate: 0.5, unit: '°C', skip: undefined });
    expect(plain(cmd)).toEqual({ name: 'ramp', args: ['20', '1'], kwargs: { rate: '0.5', unit: '°C' } });
    expect(Object.getPrototypeOf(cmd.kwargs)).toBeNull();
  });

  it('formats ok replies', () => {
    expect(formatOk('subscribe')).toBe('ok subscribe');
    expect(formatOk('set', { setpoint: 20 })).toBe('ok set setpoint=20');
    expect(formatOk('set', {})).toBe('ok set');
  });

  it('formats and parses error replies', () => {
    const err = new LabwireError('RangeError', 'setpoint 55 °C is above the FL1703 limit of 40 °C', 'set');
    const line = formatErrorReply(err);
    expect(line).toBe('error set code=RangeError message="setpoint 55 °C is above the FL1703 limit of 40 °C"');
    const back = parseErrorReply(parseLine(line));
    expect(back).toBeInstanceOf(LabwireError);
    expect(back?.code).toBe('RangeError');
    expect(back?.command).toBe('set');
    expect(back?.message).toBe(err.message);
  });

  it('formats an error for an unparseable line and a message with a newline', () => {
    const line = formatErrorReply(new LabwireError('ProtocolError', 'bad\nline'));
    expect(line).toBe("error - code=ProtocolError message=$'bad\\nline'");
    expect(parseErrorReply(parseLine(line))?.message).toBe('bad\nline');
  });

  it('maps unknown codes to InternalError and keeps the message', () => {
    const err = parseErrorReply(parseLine('error frob code=FancyNewCode message="it broke"'));
    expect(err?.code).toBe('InternalError');
    expect(err?.message).toBe('it broke');
    expect(err?.command).toBe('frob');
  });

  it('reads a CCDLab-style error notice and ignores other lines', () => {
    const err = parseErrorReply(parseLine('error something went wrong'));
    expect(err?.code).toBe('InternalError');
    expect(err?.message).toBe('something went wrong');
    expect(parseErrorReply(parseLine('ok set'))).toBeUndefined();
  });

  it('formats push lines', () => {
    expect(formatUpdate(1700000000123.4, { temperature: 20.5, state: 'idle' })).toBe(
      'update t=1700000000123 temperature=20.5 state=idle',
    );
    expect(formatLog(5, 'warning', 'pump "A" slow')).toBe('log t=5 level=warning message="pump \\"A\\" slow"');
    expect(plain(parseLine(formatLog(5, 'info', 'x')))).toEqual({ name: 'log', args: [], kwargs: { t: '5', level: 'info', message: 'x' } });
  });
});

describe('parseDecimal', () => {
  it.each([
    ['12.5', 12.5],
    [' -1e3 ', -1000],
    ['.5', 0.5],
    ['+7', 7],
    ['3.', 3],
  ])('%j → %d', (text, n) => expect(parseDecimal(text)).toBe(n));

  it.each(['', ' ', '0x10', 'Infinity', 'nan', '1e999', '1,5', '12 °C', '--1'])('%j is not a number', (text) => {
    expect(parseDecimal(text)).toBeUndefined();
  });
});

describe('parseBoolWord', () => {
  it.each([
    ['1', true],
    ['ON', true],
    [' yes ', true],
    ['True', true],
    ['0', false],
    ['off', false],
    ['No', false],
    ['FALSE', false],
  ])('%j → %s', (text, b) => expect(parseBoolWord(text)).toBe(b));

  it.each(['', '2', 'enabled', 'y', 'o n'])('%j is not a boolean', (text) => expect(parseBoolWord(text)).toBeUndefined());
});

describe('numberOf', () => {
  it.each([
    [12.5, 12.5],
    [true, 1],
    [false, 0],
    [' 3.5 ', 3.5],
    ['1e3', 1000],
  ] as const)('%j → %d', (v, n) => expect(numberOf(v)).toBe(n));

  it.each([null, undefined, Number.NaN, Number.POSITIVE_INFINITY, '', 'warm', '0x10', 'nan'])('%j is no number', (v) => expect(numberOf(v)).toBeUndefined());
});
