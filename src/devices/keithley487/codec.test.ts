import { describe, expect, it } from 'vitest';
import {
  ddc,
  formatErrorWord,
  formatExp,
  formatReading,
  formatStatusWord,
  formatVolts,
  parseErrorWord,
  parseModel,
  parseReading,
  parseSourceValue,
  parseStatusWord,
  sourceVoltageProblem,
  tokenizeDdc,
  type StatusWord,
} from './codec.js';

const status: StatusWord = {
  zeroCheck: true, zeroCorrected: false, operate: true, autorange: false, rangeCode: 3,
  sourceRange: '500V', currentLimit: '25uA', inLimit: false,
};

describe('keithley487 codec', () => {
  it('lays out the U0 word where CCDLab reads it', () => {
    const w = formatStatusWord(status);
    expect(w).toHaveLength(42);
    expect(w.slice(0, 3)).toBe('487');
    expect(w.slice(7, 9)).toBe('C1');
    expect(w.slice(28, 30)).toBe('O1');
    expect(w.slice(32, 34)).toBe('R0');
    expect(w[34]).toBe('3');
    expect(w.slice(39, 41)).toBe('V1');
    expect(w[41]).toBe('0');
    expect(parseStatusWord(w)).toEqual(status);
    expect(parseStatusWord(w + 'x')).toBeUndefined();
    expect(parseStatusWord(w.replace('C1', 'C7'))).toBeUndefined();
  });

  it('reads readings with their state letter, overflow as no value', () => {
    expect(parseReading('NDCA-1.2345E-09')).toEqual({ amps: -1.2345e-9, overflow: false, zeroCheck: false });
    expect(parseReading('ZDCA+1.0000E-14')).toEqual({ amps: 1e-14, overflow: false, zeroCheck: true });
    expect(parseReading('ODCA+9.9000E+37')).toEqual({ amps: null, overflow: true, zeroCheck: false });
    expect(parseReading('VS=+1.0000E+01')).toBeUndefined();
    expect(parseReading('NDCA')).toBeUndefined();
    expect(formatReading({ amps: 1.5e-9, overflow: false, zeroCheck: false })).toBe('NDCA+1.5000E-09');
    expect(parseReading(formatReading({ amps: 3e-3, overflow: true, zeroCheck: false }))?.overflow).toBe(true);
  });

  it('formats numbers the way DDC and the replies want them', () => {
    expect(formatExp(-0.000012345)).toBe('-1.2345E-05');
    expect(formatExp(505)).toBe('+5.0500E+02');
    expect(formatVolts(10)).toBe('10');
    expect(formatVolts(-12.34567)).toBe('-12.3457');
    expect(formatVolts(-0)).toBe('0');
    expect(ddc.source(-12.5, '50V', '2.5mA')).toBe('V-12.5,0,1X');
    expect(ddc.range('20nA')).toBe('R2X');
    expect(ddc.range('auto')).toBe('R0X');
    expect(parseSourceValue('VS=-1.2500E+01')).toBe(-12.5);
    expect(parseModel('487A05')).toEqual({ model: '487', firmware: 'A05' });
    expect(parseModel('NDCA+1.0000E-09')).toBeUndefined();
  });

  it('names the range limit a source voltage breaks', () => {
    expect(sourceVoltageProblem(600, '500V')).toBe("source voltage 600 V is above the 487's 500 V range limit of 505 V");
    expect(sourceVoltageProblem(-506, '500V')).toBe("source voltage -506 V is below the 487's 500 V range limit of -505 V");
    expect(sourceVoltageProblem(60, '50V')).toBe("source voltage 60 V is above the 487's 50 V range limit of 50.5 V; select the 500V source range first");
    expect(sourceVoltageProblem(50.5, '50V')).toBeUndefined();
    expect(sourceVoltageProblem(-505, '500V')).toBeUndefined();
  });

  it('round-trips the error word', () => {
    const w = formatErrorWord(new Set(['IDDCO']));
    expect(w).toBe('487010000');
    expect(parseErrorWord(w)).toEqual(['IDDCO']);
    expect(parseErrorWord('487000000')).toEqual([]);
    expect(parseErrorWord('48701')).toBeUndefined();
  });

  it('cuts DDC text into commands and executions', () => {
    expect(tokenizeDdc('v10,0,1 r3X c0x\r\n')).toEqual([
      { letter: 'V', args: '10,0,1' }, { letter: 'R', args: '3' }, 'X', { letter: 'C', args: '0' }, 'X',
    ]);
    expect(tokenizeDdc('V5')).toEqual([{ letter: 'V', args: '5' }]);
  });
});
