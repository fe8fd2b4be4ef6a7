import { describe, expect, it } from 'vitest';
import { formatReading, formatSigned, parseError, parseIdentity, parseRangeReadback, parseReading, parseSettings, rangeAmpsOf, rangeNameOf, scpi } from './codec.js';
import { compileHeader, ErrorQueue, formatNr3, headerMatches, parseMessage, SCPI_ERRORS } from './scpi.js';

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

  it('matches SCPI headers in long or exact short form, optional nodes left out', () => {
    const segs = compileHeader('[:SENSe[1]]:CURRent[:DC]:RANGe:AUTO:ULIMit');
    const words = (s: string) => parseMessage(s)[0]!.words;
    expect(headerMatches(words(':CURR:RANG:AUTO:ULIM?'), segs)).toBe(true);
    expect(headerMatches(words('sense:current:dc:range:auto:ulimit 2e-3'), segs)).toBe(true);
    expect(headerMatches(words('CURR:RANGE:AUTO:ULIM?'), segs)).toBe(true);
    expect(headerMatches(words('CURRe:RANG:AUTO:ULIM?'), segs)).toBe(false);
    expect(headerMatches(words('CURR:RANG:AUTO?'), segs)).toBe(false);
    expect(parseMessage(':SYST:ZCH ON;:SYST:ZCH?')).toEqual([{ words: ['SYST', 'ZCH'], query: false, args: ['ON'] }, { words: ['SYST', 'ZCH'], query: true, args: [] }]);
    expect(parseMessage('::X')).toEqual([undefined]);
    expect(formatNr3(2e-9)).toBe('2.000000E-09');
  });

  it('keeps ten errors, the last place saying the queue overflowed', () => {
    const q = new ErrorQueue();
    for (let i = 0; i < 20; i++) q.push(SCPI_ERRORS.syntax);
    expect(q.count).toBe(10);
    for (let i = 0; i < 9; i++) expect(q.pop().code).toBe(-102);
    expect(q.pop().code).toBe(-350);
    expect(q.pop()).toEqual({ code: 0, text: 'No error' });
  });
});
