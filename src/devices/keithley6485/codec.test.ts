import { describe, expect, it } from 'vitest';
import { rateNplc, rateOf, formatReading, formatSigned, parseError, parseIdentity, parseRangeReadback, parseReading, parseSettings, rangeAmpsOf, rangeNameOf, scpi } from './codec.js';

describe('keithley6485 codec', () => {
  it('reads the manual example reading, overflow as no value', () => {
    expect(parseReading('+1.040564E-06A,+2.236299E+02,+1.380000E+02')).toEqual({ amps: 1.040564e-6, overflow: false, timestamp: 223.6299, status: 138 });
    expect(parseReading('+9.900000E+37A,+1.000000E+00,+1.000000E+00')).toMatchObject({ amps: null, overflow: true });
    expect(parseReading('+1.0E-06,+2.2E+02,+1.3E+02')).toBeUndefined();
    expect(parseReading('1')).toBeUndefined();
    expect(formatReading({ amps: -2.5e-10, timestamp: 12.34, status: 0 })).toBe('-2.500000E-10A,+1.234000E+01,+0.000000E+00');
    expect(formatSigned(0)).toBe('+0.000000E+00');
  });

  it('checks the identity, the settings line and the read-backs field by field', () => {
    expect(parseIdentity('KEITHLEY INSTRUMENTS INC.,MODEL 6485,4096485,B03')).toEqual({ model: '6485', serial: '4096485', firmware: 'B03' });
    expect(parseIdentity('KEITHLEY INSTRUMENTS INC.,MODEL 2000,1,A')).toBeUndefined();
    expect(parseSettings('2.000000E-08;0;1;0;1.000000E+00;2')).toEqual({ rangeAmps: 2e-8, autorange: false, zeroCheck: true, zeroCorrect: false, nplc: 1, errorCount: 2 });
    expect(parseSettings('3.000000E-08;0;1;0;1.000000E+00;2')).toBeUndefined();
    expect(parseSettings('2.000000E-08;0;1;0;1.000000E+00')).toBeUndefined();
    expect(parseRangeReadback('2.000000E-02;1')).toEqual({ rangeAmps: 2e-2, autorange: true });
    expect(parseError('-113,"Undefined header"')).toEqual({ code: -113, text: 'Undefined header' });
    expect(parseError('0,"No error"')).toEqual({ code: 0, text: 'No error' });
    expect(rangeNameOf(2e-6)).toBe('2uA');
    expect(rangeAmpsOf('20mA')).toBe(2e-2);
    expect(scpi.range(2e-9)).toBe(':CURR:RANG 2E-9;:CURR:RANG?;:CURR:RANG:AUTO?');
  });

  it('maps the rate keys to NPLC by the mains frequency', () => {
    expect(rateNplc('slow', 60)).toBe(6);
    expect(rateNplc('slow', 50)).toBe(5);
    expect(rateOf(5, 50)).toBe('slow');
    expect(rateOf(5, 60)).toBe('custom');
    expect(rateOf(0.1, 50)).toBe('fast');
  });
});
