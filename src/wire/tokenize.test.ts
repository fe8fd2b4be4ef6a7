import { describe, expect, it } from 'vitest';
import { lineBody, parseLine, tokenize } from './tokenize.js';
import { LabwireError } from './types.js';

type Row = [line: string, name: string | null, args: string[], kwargs: Record<string, string>];

function plain(cmd: ReturnType<typeof parseLine>): { name: string | null; args: string[]; kwargs: Record<string, string> } {
  return { name: cmd.name, args: cmd.args, kwargs: { ...cmd.kwargs } };
}

describe('parseLine: the CCDLab command.py table (reference/ccdlab.md §2)', () => {
  const rows: Row[] = [
    ['send cryocon set temperature=-100', 'send', ['cryocon', 'set'], { temperature: '-100' }],
    ['cmd "a b" k="x y" k2=v=w', 'cmd', ['a b'], { k: 'x y', k2: 'v=w' }],
    ['cmd a\\ b', 'cmd', ['a b'], {}],
    ['LOOP 1:SETPT 20', 'LOOP', ['1:SETPT', '20'], {}],
    ['input? a,b,c,d;:cont?', 'input?', ['a,b,c,d;:cont?'], {}],
    ['cmd k= k=2 k=3', 'cmd', [], { k: '3' }],
    ['  spaced   cmd  ', 'spaced', ['cmd'], {}],
    ['', null, [], {}],
  ];
  it.each(rows)('%j', (line, name, args, kwargs) => {
    expect(plain(parseLine(line))).toEqual({ name, args, kwargs });
  });
});

describe('parseLine: quoting and classification', () => {
  const rows: Row[] = [
    // Whitespace of every ASCII kind separates; CR from a CR LF peer is harmless.
    ['get_id\r', 'get_id', [], {}],
    ['a\tb \x0bc\x0cd', 'a', ['b', 'c', 'd'], {}],
    ['   \t ', null, [], {}],
    // Single quotes are literal, backslashes included; pieces concatenate.
    ["'it''s'", 'its', [], {}],
    ["'a\\b' x", 'a\\b', ['x'], {}],
    ["pre'mid'post", 'premidpost', [], {}],
    // Double quotes: backslash escapes only " and \ and is kept elsewhere (POSIX shlex).
    ['"say \\"hi\\""', 'say "hi"', [], {}],
    ['"a\\\\b"', 'a\\b', [], {}],
    ['save path="C:\\new\\run.fits"', 'save', [], { path: 'C:\\new\\run.fits' }],
    ['"it\'s"', "it's", [], {}],
    // Outside quotes a backslash takes any next character.
    ['a\\"b \\\'c', 'a"b', ["'c"], {}],
    ['\\#x', '#x', [], {}],
    // Empty quotes are an empty token.
    ['cmd "" \'\'', 'cmd', ['', ''], {}],
    // # is ordinary.
    ['cmd #1 k=#2', 'cmd', ['#1'], { k: '#2' }],
    // A quoted or escaped = does not make a keyword (CCDLab: kwarg).
    ['"k=v"', 'k=v', [], {}],
    ['cmd k\\=v', 'cmd', ['k=v'], {}],
    ["cmd 'k'=v", 'cmd', [], { k: 'v' }],
    ['cmd k"="v', 'cmd', ['k=v'], {}],
    ['cmd k="="', 'cmd', [], { k: '=' }],
    // An empty key is no keyword.
    ['=x', '=x', [], {}],
    ['cmd =a=b', 'cmd', ['=a=b'], {}],
    // Keywords before the name (CCDLab would give name None here).
    ['k=v name', 'name', [], { k: 'v' }],
    ['k=v', null, [], { k: 'v' }],
    ['k=v name arg', 'name', ['arg'], { k: 'v' }],
    // Value may be empty, quoted, or hold =.
    ['set a= b="" c=x=y=z', 'set', [], { a: '', b: '', c: 'x=y=z' }],
    // Unicode passes through.
    ['set unit=°C note="Ω µ 😀"', 'set', [], { unit: '°C', note: 'Ω µ 😀' }],
    // ANSI-C quoting, the one extension.
    ["set note=$'a\\nb\\r\\tc\\x00d\\\\e\\'f\\\"g'", 'set', [], { note: 'a\nb\r\tc\x00d\\e\'f"g' }],
    ["$'\\q\\x4'", '\\q\\x4', [], {}],
    ["cost $5 a$'b'", 'cost', ['$5', 'ab'], {}],
    ['"$\'x\'"', "$'x'", [], {}],
    ["k$'='v", 'k=v', [], {}],
  ];
  it.each(rows)('%j', (line, name, args, kwargs) => {
    expect(plain(parseLine(line))).toEqual({ name, args, kwargs });
  });

  it('keeps __proto__ and friends as plain data', () => {
    const cmd = parseLine('set __proto__=x constructor=y toString=z');
    expect(Object.getPrototypeOf(cmd.kwargs)).toBeNull();
    expect(cmd.kwargs['__proto__']).toBe('x');
    expect(cmd.kwargs.constructor).toBe('y');
    expect(Object.keys(cmd.kwargs)).toEqual(['__proto__', 'constructor', 'toString']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('keeps the last of a repeated key, in first-seen order', () => {
    const cmd = parseLine('set a=1 b=2 a=3');
    expect(Object.entries(cmd.kwargs)).toEqual([
      ['a', '3'],
      ['b', '2'],
    ]);
  });
});

describe('parseLine: errors', () => {
  const bad: [string, RegExp][] = [
    ['cmd "unclosed', /unbalanced double quote at column 5/],
    ["cmd 'unclosed", /unbalanced single quote at column 5/],
    ["cmd $'unclosed", /unbalanced \$' quote/],
    ["cmd $'ends\\", /unbalanced \$' quote/],
    ['cmd "a\\"', /unbalanced double quote/],
    ['cmd trailing\\', /lone backslash/],
    ['\\', /lone backslash/],
  ];
  it.each(bad)('%j', (line, message) => {
    let caught: unknown;
    try {
      parseLine(line);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LabwireError);
    expect((caught as LabwireError).code).toBe('ProtocolError');
    expect((caught as LabwireError).message).toMatch(message);
  });
});

describe('tokenize and lineBody', () => {
  it('reports raw positions and the first unquoted =', () => {
    expect(tokenize(' ab "c d"=e f=g')).toEqual([
      { text: 'ab', eq: -1, start: 1, end: 3 },
      { text: 'c d=e', eq: 3, start: 4, end: 11 },
      { text: 'f=g', eq: 1, start: 12, end: 15 },
    ]);
  });

  it('stops at the limit without reading the rest', () => {
    expect(tokenize('a b "unbalanced', 2).map((t) => t.text)).toEqual(['a', 'b']);
  });

  it('gives the raw rest of a line', () => {
    expect(lineBody('status_json {"a": "x y", "b": [1, 2]}')).toBe('{"a": "x y", "b": [1, 2]}');
    expect(lineBody('  send  "cryo con"  set k="a b"  ', 2)).toBe('set k="a b"  ');
    expect(lineBody('pong')).toBe('');
    expect(lineBody('a b', 5)).toBe('');
    expect(lineBody('  a b', 0)).toBe('a b');
  });
});
