import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBoolean, parseNumericParam } from './codec.js';
import { COMMON, ScpiStatus, commonCommands, errorQueueCommands, isOpcReply, parseIdn, parseRegister } from './common.js';
import { ScpiError, parseErrorReply } from './errors.js';
import { shortForm } from './keywords.js';
import { ScpiTree, flattenNodes, parseScpiCommand } from './tree.js';

/** A small picoammeter in the style of the 6485: strict keywords, an error queue, no reply on failure. */
function picoammeter() {
  const state = { range: 2e-9, auto: false, zeroCheck: true, reading: 1.5e-9 };
  const status = new ScpiStatus();
  const tree = new ScpiTree(
    [
      ...commonCommands({ status, idn: () => 'KEITHLEY INSTRUMENTS INC.,MODEL 6485,1234567,C01', reset: () => Object.assign(state, { range: 2e-9, auto: false }) }),
      ...errorQueueCommands(status),
      { header: 'MEASure[:CURRent][:DC]', query: () => `${state.reading}A` },
      {
        header: '[SENSe:]CURRent[:DC]:RANGe[:UPPer]',
        query: () => String(state.range),
        set: ({ args }) => {
          const v = parseNumericParam(args, { min: -0.021, max: 0.021, default: 2e-3, units: { A: 1, NA: 1e-9 } });
          if (v instanceof ScpiError) return v;
          state.range = v;
        },
      },
      {
        header: '[SENSe:]CURRent[:DC]:RANGe:AUTO',
        query: () => (state.auto ? '1' : '0'),
        set: ({ args }) => {
          const v = parseBoolean(args);
          if (v instanceof ScpiError) return v;
          state.auto = v;
        },
      },
      { header: 'SYSTem:ZCHeck[:STATe]', query: () => (state.zeroCheck ? '1' : '0'), set: ({ args }) => void (state.zeroCheck = parseBoolean(args) === true) },
      { header: 'SOURce#:VOLTage', query: ({ suffixes }) => `src${suffixes[0]}` },
    ],
    { onError: status.error },
  );
  return { tree, state, status, q: (line: string) => tree.execute(line) };
}

describe('ScpiTree, SCPI style', () => {
  it('answers short and long forms in any case, optional nodes left out or given', () => {
    const { q } = picoammeter();
    expect(q('MEAS:CURR?')).toBe('1.5e-9A');
    expect(q('measure:current:dc?')).toBe('1.5e-9A');
    expect(q('MEAS?')).toBe('1.5e-9A');
    expect(q(':SENS:CURR:RANG?')).toBe('2e-9');
    expect(q('CURR:RANG:UPP?')).toBe('2e-9');
    expect(q(':curr:rang 20 nA;rang?')).toBe('2e-8');
    expect(q(':CURR:RANG:AUTO ON;AUTO?')).toBe('1');
    expect(q('SOUR2:VOLT?;:SOURCE:VOLT?')).toBe('src2;src1');
  });

  it('queues -113 for unknown headers and illegal short forms, with nothing on the wire', () => {
    const { q, status } = picoammeter();
    expect(q('SYSTe:ZCH?')).toBeUndefined();
    expect(q(':SYSR:ZCOR ON')).toBeUndefined();
    expect(q(':SYST:ERR:COUN?')).toBe('2');
    expect(q(':SYST:ERR?')).toBe('-113,"Undefined header"');
    expect(q('SYST:ERR:NEXT?')).toBe('-113,"Undefined header"');
    expect(q('SYST:ERR?')).toBe('0,"No error"');
    expect(status.readEsr() & (1 << 5)).not.toBe(0);
  });

  it('queues parameter errors by their standard numbers and changes nothing', () => {
    const { q, state } = picoammeter();
    q(':CURR:RANG 1');
    q(':CURR:RANG 2 V');
    q(':CURR:RANG:AUTO maybe');
    q(':CURR:RANG');
    q('MEAS 5');
    const errs = [q('SYST:ERR?'), q('SYST:ERR?'), q('SYST:ERR?'), q('SYST:ERR?'), q('SYST:ERR?')].map((r) => parseErrorReply(r!)?.code);
    expect(errs).toEqual([-222, -131, -104, -109, -113]);
    expect(state.range).toBe(2e-9);
  });

  it('keeps the path after a command, resets it with a leading colon, and leaves it alone for * commands', () => {
    const { q } = picoammeter();
    expect(q(':CURR:RANG:AUTO?;UPP?')).toBe('0;2e-9');
    expect(q(':CURR:RANG:AUTO?;*OPC?;UPP?')).toBe('0;1;2e-9');
    // The path ends at the last colon: after CURR:RANG?, AUTO? means CURR:AUTO?, which is undefined.
    expect(q(':CURR:RANG?;AUTO?')).toBe('2e-9');
    expect(q('SYST:ERR?')).toBe('-113,"Undefined header"');
    expect(q(':CURR:RANG?;:SYST:ZCH?')).toBe('2e-9;1');
    // Relative, ZCH is not under CURR:RANG and a strict tree does not retry from the root.
    expect(q(':CURR:RANG?;SYST:ZCH?')).toBe('2e-9');
    expect(q('SYST:ERR?')).toBe('-113,"Undefined header"');
  });

  it('runs the IEEE-488.2 common commands on the status model', () => {
    const { q, state } = picoammeter();
    expect(parseIdn(q(COMMON.identify)!)).toEqual({ manufacturer: 'KEITHLEY INSTRUMENTS INC.', model: 'MODEL 6485', serial: '1234567', firmware: 'C01' });
    expect(isOpcReply(q(COMMON.operationComplete)!)).toBe(true);
    q(':CURR:RANG 20nA;*RST');
    expect(state.range).toBe(2e-9);
    q('*ESE 32;*SRE 32');
    expect(q('*ESE?;*SRE?')).toBe('32;32');
    q('BOGUS');
    // EAV (bit 2), ESB (bit 5) and RQS (bit 6).
    expect(parseRegister(q('*STB?')!)).toBe(4 + 32 + 64);
    expect(parseRegister(q('*ESR?')!)).toBe(32);
    expect(q('*ESR?')).toBe('0');
    q('*CLS');
    expect(q('*STB?;SYST:ERR:COUN?')).toBe('0;0');
    q('*ESE 256');
    expect(q('SYST:ERR?')).toBe('-222,"Data out of range"');
  });

  it('never answers a line of set commands, and answers one field per query in order', () => {
    const { tree } = picoammeter();
    fc.assert(
      fc.property(fc.array(fc.constantFrom('CURR:RANG?', ':CURR:RANG 2E-9', '*OPC?', 'SYST:ZCH OFF', 'MEAS?', 'BOGUS?'), { minLength: 1, maxLength: 8 }), (cmds) => {
        const replies = tree.executeAll(cmds.map((c) => (c.startsWith('*') || c.startsWith(':') ? c : `:${c}`)).join(';'));
        return replies.length === cmds.filter((c) => c.endsWith('?') && c !== 'BOGUS?').length;
      }),
    );
  });
});

describe('ScpiTree, Cryo-con style (NACK in place, selectors, lenient)', () => {
  const temps: Record<string, number> = { A: 300, B: 77 };
  const tree = new ScpiTree(
    flattenNodes([
      { keyword: 'INPut<channel>', query: ({ args }) => args.split(',').map((c) => String(temps[c.trim().toUpperCase()])).join(';') },
      {
        keyword: 'INPut<channel>',
        children: [{ keyword: 'TEMPerature', query: ({ selected }) => String(temps[selected.channel!]) }],
      },
      { keyword: 'SYSTem', children: [{ keyword: 'NAMe', query: () => '"x"' }] },
    ]),
    {
      keywords: 'prefix',
      failureReply: 'NACK',
      retryFromRoot: true,
      selectors: { channel: (t) => (t.split(',').every((c) => /^[AB]$/i.test(c.trim())) ? t.split(',').map((c) => c.trim().toUpperCase()) : undefined) },
    },
  );

  it('selects by `WORD sel:`, fans out lists, puts NACK in the place of each failure', () => {
    expect(tree.execute(':INP A:TEMP?')).toBe('300');
    expect(tree.execute(':INPUT A,B:TEMPER?')).toBe('300;77');
    expect(tree.execute('INPUT? A,B')).toBe('300;77');
    expect(tree.execute(':INP C:TEMP?;:INP:TEMP?;:SYST:NAM?;FOO?')).toBe('NACK;NACK;"x";NACK');
    expect(tree.execute(':INP A:TEMP?;SYST:NAM?')).toBe('300;"x"');
  });

  it('parses the selector syntax only when asked', () => {
    expect(parseScpiCommand('LOOP 1:SETPT 5', { selectors: true })?.nodes).toEqual([{ word: 'LOOP', selector: '1' }, { word: 'SETPT' }]);
    expect(parseScpiCommand('SYST:TIME 12:00', {})).toEqual({ absolute: false, nodes: [{ word: 'SYST' }, { word: 'TIME' }], query: false, args: '12:00' });
    expect(shortForm('TEMPerature')).toBe('TEMP');
  });

  it('refuses a header that names an undeclared selector', () => {
    expect(() => new ScpiTree([{ header: 'LOOP<loop>:X', query: () => '' }])).toThrow(/selector <loop>/);
  });
});

describe('ScpiTree, any declared header (property)', () => {
  /** A manual-style keyword: 3–4 capitals, then up to 4 lower-case letters. */
  const keyword = fc.tuple(fc.stringMatching(/^[A-Z]{3,4}$/), fc.stringMatching(/^[a-z]{0,4}$/)).map(([a, b]) => a + b);
  /** A declared segment and how it is typed: left out (optional only), short or long, upper or lower case. */
  const segment = fc.record({ keyword, optional: fc.boolean(), omit: fc.boolean(), long: fc.boolean(), lower: fc.boolean() });

  it('answers every short/long, any-case spelling, with optional nodes given or left out', () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }).filter((segs) => segs.some((s) => !s.optional)), (segs) => {
        const spec = segs.map((s) => (s.optional ? `[${s.keyword}]` : s.keyword)).join(':');
        const tree = new ScpiTree([{ header: spec, query: () => 'ok' }]);
        const typed = segs
          .filter((s) => !(s.optional && s.omit))
          .map((s) => {
            const w = s.long ? s.keyword : shortForm(s.keyword);
            return s.lower ? w.toLowerCase() : w.toUpperCase();
          });
        return tree.execute(`:${typed.join(':')}?`) === 'ok';
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a spelling strictly between short and long form in a strict tree', () => {
    fc.assert(
      fc.property(keyword.filter((k) => k.length - shortForm(k).length >= 2), (k) => {
        const tree = new ScpiTree([{ header: `${k}:VALue`, query: () => 'ok' }]);
        const between = k.slice(0, shortForm(k).length + 1);
        return tree.execute(`:${between}:VAL?`) === undefined && tree.execute(`:${k}:VAL?`) === 'ok';
      }),
    );
  });
});
