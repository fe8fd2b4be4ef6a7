import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CRYOCON_MODELS,
  HEATER_STATUSES,
  MAX_LINE_CHARS,
  checkRequestLine,
  deltaFromKelvin,
  deltaToKelvin,
  encodeRequest,
  formatFloat,
  formatHeaterPercent,
  formatPadded,
  formatValue,
  fromKelvin,
  heaterStatusInfo,
  heaterStatusText,
  isNack,
  joinCommands,
  keywordMatches,
  loopTypesFor,
  parseAlarm,
  parseHeaterPercent,
  parseNumber,
  parseOnOff,
  parsePadded,
  parseQuoted,
  parseReading,
  parseSource,
  parseSuffixed,
  quoteName,
  shortForm,
  splitOutsideQuotes,
  splitReply,
  toKelvin,
} from './codec.js';

describe('keywords', () => {
  it.each([
    ['INPut', 'INP', true],
    ['INPut', 'input', true],
    ['INPut', 'INPU', true],
    ['INPut', 'IN', false],
    ['INPut', 'INPUTS', false],
    ['TEMPerature', 'TEMPer', true], // the manual's own example
    ['TEMPerature', 'temp', true],
    ['SETPt', 'SETPT', true],
    ['SETPt', 'setp', true],
    ['SETPt', 'SET', false],
    ['PMAnual', 'PMAN', true],
    ['PMAnual', 'PMA', true],
    ['FWRev', 'FWR', true],
    ['FWRev', 'FWREV', true],
    ['*IDN', '*idn', true],
    ['*IDN', 'IDN', false],
    ['CONTrol', 'CONT', true],
    ['CONTrol', 'CONTROL', true],
    ['STOP', 'STO', false],
  ])('%s accepts %j: %s', (pattern, word, ok) => {
    expect(keywordMatches(pattern, word)).toBe(ok);
  });

  it('takes the capitals as the short form', () => {
    expect(shortForm('INPut')).toBe('INP');
    expect(shortForm('*IDN')).toBe('*IDN');
    expect(shortForm('HTRRead')).toBe('HTRR');
  });
});

describe('reply lines', () => {
  it.each([
    ['Cryo-con,24C,204683,1.01A', ['Cryo-con,24C,204683,1.01A']],
    ['123.45;20.0;60;12.5;', ['123.45', '20.0', '60', '12.5']], // the manual's example, trailing ;
    ['-------;13.456;.......;14.456;OFF', ['-------', '13.456', '.......', '14.456', 'OFF']],
    ['20.806670;--Htr OK--;HI ;MAN  ;50;0.000000;   0%', ['20.806670', '--Htr OK--', 'HI ', 'MAN  ', '50', '0.000000', '   0%']],
    ['"a;b";K', ['"a;b"', 'K']],
    ['NACK', ['NACK']],
    ['1;NACK;2\r', ['1', 'NACK', '2']],
    ['', []],
    [';', ['']],
  ])('%j splits into %j', (line, fields) => {
    expect(splitReply(line)).toEqual(fields);
  });

  it('splits commands outside quotes only', () => {
    expect(splitOutsideQuotes(':SYST:NAM "x;y";NAM?')).toEqual([':SYST:NAM "x;y"', 'NAM?']);
  });
});

describe('reply fields', () => {
  it.each([
    ['123.4567', { kind: 'value', value: 123.4567 }],
    [' -196.150000 ', { kind: 'value', value: -196.15 }],
    ['1e2', { kind: 'value', value: 100 }],
    ['-------', { kind: 'fault' }],
    ['.......', { kind: 'uncalibrated' }],
    ['N/A', { kind: 'na' }],
    ['NACK', undefined],
    ['12.3.4', undefined],
    ['', undefined],
    ['Infinity', undefined],
    ['0x10', undefined],
  ])('reading %j is %j', (field, reading) => {
    expect(parseReading(field)).toEqual(reading);
  });

  it.each([
    ['123.450K', { value: 123.45, unit: 'K' }],
    ['-196.150C', { value: -196.15, unit: 'C' }],
    ['-321.07 F', { value: -321.07, unit: 'F' }],
    ['0.00V', { value: 0, unit: 'V' }],
    ['0.000A', { value: 0, unit: 'A' }],
    ['32.5C', { value: 32.5, unit: 'C' }],
    ['20', { value: 20, unit: '' }], // the predecessor simulator sent no unit
    ['K', undefined],
    ['12K3', undefined],
    ['NACK', undefined],
  ])('suffixed %j is %j (parsed, not cut by a fixed count)', (field, parsed) => {
    expect(parseSuffixed(field)).toEqual(parsed);
  });

  it.each([
    ['   0%', 0],
    ['  45%', 45],
    ['100%', 100],
    ['12.5%', 12.5],
    ['45', undefined],
    ['%', undefined],
  ])('heater read-back %j is %j', (field, value) => {
    expect(parseHeaterPercent(field)).toBe(value);
  });

  it('reads padded enumerations, ON/OFF, sources, quoted names and alarms', () => {
    expect(parsePadded('HI ', ['HI', 'MID', 'LOW'])).toBe('HI');
    expect(parsePadded('MAN  ', ['OFF', 'MAN'])).toBe('MAN');
    expect(parsePadded('rampp', ['RAMPP'])).toBe('RAMPP');
    expect(parsePadded('HIGH', ['HI'])).toBeUndefined();
    expect(parseOnOff('ON')).toBe(true);
    expect(parseOnOff(' off ')).toBe(false);
    expect(parseOnOff('1')).toBeUndefined();
    expect(parseSource('CHA')).toBe('A');
    expect(parseSource('b')).toBe('B');
    expect(parseSource('ChD')).toBe('D');
    expect(parseSource('E')).toBeUndefined();
    expect(parseQuoted('"Cold stage"')).toBe('Cold stage');
    expect(parseQuoted('""')).toBe('');
    expect(parseQuoted(' plain ')).toBe('plain');
    expect(parseAlarm('--')).toBe('none');
    expect(parseAlarm('SF')).toBe('sensor_fault');
    expect(parseAlarm('HI')).toBe('high');
    expect(parseAlarm('lo')).toBe('low');
    expect(parseAlarm('XX')).toBeUndefined();
  });

  it('compares NACK by value (the predecessor used `is`; ccdlab looked for NAK)', () => {
    expect(isNack('NACK')).toBe(true);
    expect(isNack(' nack ')).toBe(true);
    expect(isNack('NAK')).toBe(false);
    expect(isNack('NACKED')).toBe(false);
  });

  it('parses only plain decimal numbers', () => {
    expect(parseNumber(' 42 ')).toBe(42);
    expect(parseNumber('-0.5')).toBe(-0.5);
    expect(parseNumber('')).toBeUndefined();
    expect(parseNumber('1,5')).toBeUndefined();
  });

  it('knows the heater status texts, and keeps an unknown one as a warning', () => {
    expect(heaterStatusInfo('--Htr OK--')).toMatchObject({ ok: true, severity: 'ok' });
    expect(heaterStatusInfo('--Htr-OK--')).toMatchObject({ ok: true }); // ccdlab turned spaces into dashes
    expect(heaterStatusInfo('OTDisconn')).toMatchObject({ ok: false, severity: 'error' });
    expect(heaterStatusInfo('Htr-Low-R')).toMatchObject({ severity: 'error' });
    expect(heaterStatusInfo('-Overtemp-')).toMatchObject({ severity: 'warn' });
    expect(heaterStatusInfo('Fan Fault')).toMatchObject({ severity: 'warn' });
    expect(heaterStatusInfo('Smoke')).toMatchObject({ ok: false, severity: 'warn', meaning: 'heater status not in the reference' });
    for (const [text, info] of Object.entries(HEATER_STATUSES)) expect(heaterStatusText(info.key)).toBe(text);
  });
});

describe('formatting', () => {
  it('writes replies the way the unit does', () => {
    expect(formatFloat(20.80667)).toBe('20.806670');
    expect(formatFloat(0)).toBe('0.000000');
    expect(formatFloat(-0.0000001)).toBe('0.000000');
    expect(formatPadded('HI', 3)).toBe('HI ');
    expect(formatPadded('MAN', 5)).toBe('MAN  ');
    expect(formatPadded('RAMPP', 5)).toBe('RAMPP');
    expect(formatHeaterPercent(0)).toBe('   0%');
    expect(formatHeaterPercent(45.4)).toBe('  45%');
    expect(formatHeaterPercent(100)).toBe(' 100%');
    expect(formatHeaterPercent(120)).toBe(' 100%');
  });

  it.each([
    [77, '77'],
    [-196.15, '-196.15'],
    [0.0004, '0'],
    [-0.0001, '0'],
    [123.4567, '123.457'],
    [1e-7, '0'],
  ])('sends %d as %s (no exponent, no -0)', (value, text) => {
    expect(formatValue(value)).toBe(text);
  });

  it('refuses values that cannot be sent', () => {
    expect(() => formatValue(NaN)).toThrow(/not a finite number/);
    expect(() => formatValue(1e12)).toThrow(/too large/);
  });

  it('quotes names within the manual rule: 15 printable characters, no double quote', () => {
    expect(quoteName('Cold stage')).toBe('"Cold stage"');
    expect(quoteName('')).toBe('""');
    expect(() => quoteName('0123456789abcdef')).toThrow(/longer than the 15 characters/);
    expect(() => quoteName('say "hi"')).toThrow(/without double quotes/);
    expect(() => quoteName('tab\there')).toThrow(/printable ASCII/);
  });
});

describe('request lines', () => {
  it('groups commands with relative paths inside a subsystem and absolute ones across', () => {
    expect(
      joinCommands([
        { group: 'INP A', command: 'TEMP?' },
        { group: 'INP A', command: 'UNIT?' },
        { group: '', command: 'CONT?' },
        { group: '', command: '*IDN?' },
        { group: 'LOOP 1', command: 'SETP 77' },
        { group: 'LOOP 1', command: 'SETP?' },
        { group: 'SYST', command: 'NAM?' },
      ]),
    ).toBe(':INP A:TEMP?;UNIT?;:CONT?;:*IDN?;:LOOP 1:SETP 77;SETP?;:SYST:NAM?');
    expect(joinCommands([])).toBe('');
  });

  it('encodes with LF and refuses lines over 255 characters or with control characters', () => {
    expect(encodeRequest(':INP A:TEMP?').toString()).toBe(':INP A:TEMP?\n');
    expect(encodeRequest('x'.repeat(MAX_LINE_CHARS - 1)).length).toBe(MAX_LINE_CHARS);
    expect(() => encodeRequest('x'.repeat(MAX_LINE_CHARS))).toThrow(/at most 255 characters/);
    expect(() => checkRequestLine('*IDN?\n*RST')).toThrow(/printable ASCII on one line/);
    expect(() => checkRequestLine('  ')).toThrow(/empty line/);
  });
});

describe('units', () => {
  it.each([
    [77, 'K', 77],
    [-196.15, 'C', 77],
    [-321.07, 'F', 77],
    [0, 'C', 273.15],
    [32, 'F', 273.15],
  ])('%d %s is %d K', (value, unit, kelvin) => {
    expect(toKelvin(value, unit)).toBe(kelvin);
  });

  it('has no kelvin for sensor units', () => {
    expect(toKelvin(1.02, 'S')).toBeUndefined();
    expect(fromKelvin(77, 'S')).toBeUndefined();
    expect(deltaToKelvin(1, 'S')).toBeUndefined();
  });

  it('converts differences (rates, slopes) without the offset', () => {
    expect(deltaToKelvin(9, 'F')).toBe(5);
    expect(deltaToKelvin(5, 'C')).toBe(5);
    expect(deltaFromKelvin(5, 'F')).toBe(9);
  });

  it('round-trips every temperature through every unit', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 2000, noNaN: true }), fc.constantFrom('K', 'C', 'F'), (k, unit) => {
        expect(toKelvin(fromKelvin(k, unit)!, unit)!).toBeCloseTo(k, 5);
      }),
    );
  });
});

describe('models', () => {
  it('lists the inputs and loops of each model, and SCALE on loops 3/4 only', () => {
    expect(CRYOCON_MODELS.M24C).toMatchObject({ channels: ['A', 'B', 'C', 'D'], loops: [1, 2, 3, 4], idnModels: ['24C'] });
    expect(CRYOCON_MODELS.M32).toMatchObject({ channels: ['A', 'B'], loops: [1, 2] });
    expect(loopTypesFor(1)).not.toContain('SCALE');
    expect(loopTypesFor(3)).toContain('SCALE');
  });
});
