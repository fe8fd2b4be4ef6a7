import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keywordMatches, matchHeader, parseHeaderSpec, shortForm } from './keywords.js';

/** A keyword the way manuals write it: 3–4 capitals, then up to 5 lower-case letters. */
const keyword = fc
  .tuple(fc.stringMatching(/^[A-Z]{3,4}$/), fc.stringMatching(/^[a-z]{0,5}$/))
  .map(([short, rest]) => short + rest);

/** Every spelling of `s` with random case. */
const anyCase = (s: string) => fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((flags) => [...s].map((c, i) => (flags[i] ? c.toLowerCase() : c.toUpperCase())).join(''));

describe('keywordMatches', () => {
  it('takes the short and the long form in any case, strict and prefix alike', () => {
    fc.assert(
      fc.property(
        keyword.chain((k) => fc.tuple(fc.constant(k), fc.oneof(anyCase(shortForm(k)), anyCase(k)))),
        ([k, typed]) => keywordMatches(k, typed, 'strict') && keywordMatches(k, typed, 'prefix'),
      ),
    );
  });

  it('strict: refuses every form strictly between short and long (SYSTe is illegal)', () => {
    fc.assert(
      fc.property(
        keyword.filter((k) => k.length - shortForm(k).length >= 2),
        fc.nat(),
        (k, n) => {
          const len = shortForm(k).length + 1 + (n % (k.length - shortForm(k).length - 1));
          const typed = k.slice(0, len);
          return !keywordMatches(k, typed, 'strict') && keywordMatches(k, typed, 'prefix');
        },
      ),
    );
    expect(keywordMatches('SYSTem', 'SYSTe')).toBe(false);
    expect(keywordMatches('SYSTem', 'SYST')).toBe(true);
  });

  it('never takes less than the short form, more than the long form, or other letters', () => {
    fc.assert(
      fc.property(keyword, fc.stringMatching(/^[A-Za-z]{1,10}$/), (k, typed) => {
        const ok = keywordMatches(k, typed, 'prefix');
        const t = typed.toUpperCase();
        const expected = t.length >= shortForm(k).length && k.toUpperCase().startsWith(t);
        return ok === expected && (!keywordMatches(k, typed, 'strict') || ok);
      }),
    );
  });
});

describe('headers', () => {
  it('parses optional nodes, numeric suffixes and selectors', () => {
    expect(parseHeaderSpec('[SENSe:]CURRent:RANGe[:UPPer]')).toEqual([
      { keyword: 'SENSe', optional: true, suffix: false },
      { keyword: 'CURRent', optional: false, suffix: false },
      { keyword: 'RANGe', optional: false, suffix: false },
      { keyword: 'UPPer', optional: true, suffix: false },
    ]);
    expect(parseHeaderSpec('INPut#:TEMP')[0]).toEqual({ keyword: 'INPut', optional: false, suffix: true });
    expect(parseHeaderSpec('LOOP<loop>:SETPt')[0]).toEqual({ keyword: 'LOOP', optional: false, suffix: false, selector: 'loop' });
    expect(() => parseHeaderSpec('[SENS:CURR')).toThrow(/malformed/);
  });

  it('matches with optional nodes left out or given, and binds suffixes', () => {
    const spec = parseHeaderSpec('[SENSe:]CURRent:RANGe[:UPPer]');
    const w = (...words: string[]) => words.map((word) => ({ word }));
    expect(matchHeader(spec, w('CURR', 'RANG'), 'strict')).toHaveLength(2);
    expect(matchHeader(spec, w('sense', 'current', 'range', 'upp'), 'strict')).toHaveLength(4);
    expect(matchHeader(spec, w('SENS', 'RANG'), 'strict')).toBeUndefined();
    expect(matchHeader(spec, w('CURR', 'RANG', 'AUTO'), 'strict')).toBeUndefined();
    const inp = parseHeaderSpec('INPut#:TEMPerature');
    expect(matchHeader(inp, w('INP2', 'TEMP'), 'strict')?.[0]?.suffix).toBe(2);
    expect(matchHeader(inp, w('INPUT', 'TEMP'), 'strict')?.[0]?.suffix).toBe(1);
    expect(matchHeader(inp, w('INPU2', 'TEMP'), 'strict')).toBeUndefined();
  });
});
