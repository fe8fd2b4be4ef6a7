import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatNR1, formatNR3, parseBoolean, parseEnumParam, parseNumericParam, parseQuoted, quoteString, splitParams, splitReply } from './codec.js';
import { ScpiError } from './errors.js';

const code = (v: unknown) => (v instanceof ScpiError ? v.code : v);

describe('SCPI data', () => {
  it('reads numeric parameters with units, MIN/MAX/DEF and range checks', () => {
    const volts = { min: -10, max: 10, default: 0, units: { V: 1, MV: 1e-3, KV: 1e3 } };
    expect(parseNumericParam('2.5', volts)).toBe(2.5);
    expect(parseNumericParam('250 mV', volts)).toBeCloseTo(0.25);
    expect(parseNumericParam('-1E+00V', volts)).toBe(-1);
    expect(parseNumericParam('min', volts)).toBe(-10);
    expect(parseNumericParam('MAXimum', volts)).toBe(10);
    expect(parseNumericParam('DEF', volts)).toBe(0);
    expect(code(parseNumericParam('11', volts))).toBe(-222);
    expect(code(parseNumericParam('1 A', volts))).toBe(-131);
    expect(code(parseNumericParam('abc', volts))).toBe(-104);
    expect(code(parseNumericParam('', volts))).toBe(-109);
    expect(code(parseNumericParam('2 V', { min: 0, max: 5 }))).toBe(-138);
    expect(parseNumericParam('7', { min: 0, max: 5, clip: true })).toBe(5);
  });

  it('reads booleans ON/OFF/1/0 and enumerations by short or long form', () => {
    expect(parseBoolean('on')).toBe(true);
    expect(parseBoolean('OFF')).toBe(false);
    expect(parseBoolean('1')).toBe(true);
    expect(parseBoolean('0')).toBe(false);
    expect(code(parseBoolean('maybe'))).toBe(-104);
    const shapes = ['SINusoid', 'SQUare', 'TRIangle', 'RAMP', 'NOISe', 'DC', 'USER'] as const;
    expect(parseEnumParam('sin', shapes)).toBe('SINusoid');
    expect(parseEnumParam('SQUARE', shapes)).toBe('SQUare');
    expect(code(parseEnumParam('SQUA', shapes))).toBe(-224);
    expect(parseEnumParam('SQUA', shapes, 'prefix')).toBe('SQUare');
  });

  it('formats NR1 and NR3 as instruments print them, and NR3 reads back to the same number', () => {
    expect(formatNR3(1.040564e-6)).toBe('+1.040564E-06');
    expect(formatNR3(-2.5)).toBe('-2.500000E+00');
    expect(formatNR3(9.9e37, 1)).toBe('+9.9E+37');
    expect(formatNR1(5, true)).toBe('+5');
    expect(formatNR1(-0)).toBe('0');
    fc.assert(fc.property(fc.double({ min: -1e30, max: 1e30, noNaN: true }), (v) => Math.abs(Number(formatNR3(v, 12)) - v) <= Math.abs(v) * 1e-11));
  });

  it('splits parameters and replies outside quotes and round-trips quoted strings', () => {
    expect(splitParams(' 5 KHZ, 3.0 ,"a,b"')).toEqual(['5 KHZ', '3.0', '"a,b"']);
    expect(splitParams('  ')).toEqual([]);
    expect(splitReply('1;2;"x;y";')).toEqual(['1', '2', '"x;y"']);
    fc.assert(fc.property(fc.string(), (s) => parseQuoted(quoteString(s)) === s));
  });
});
