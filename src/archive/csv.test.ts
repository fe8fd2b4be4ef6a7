import { describe, expect, it } from 'vitest';
import { ALARM_CSV_HEADER, alarmCsvRow, csvField, csvRow } from './csv.js';

describe('CSV rows', () => {
  it('quotes fields with commas, quotes or line breaks (RFC 4180) and writes null as empty', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(null)).toBe('');
    expect(csvRow(0, 1.5)).toBe('1970-01-01T00:00:00.000Z,0,1.5\n');
  });

  it('writes one alarm transition per row, in the header’s order, who empty when not an acknowledgement', () => {
    expect(ALARM_CSV_HEADER).toBe('time_iso,t_ms,alarm,from,to,severity,value,who,message\n');
    expect(alarmCsvRow({ t: 1000, id: 'bath_hot', from: 'pending', to: 'raised', severity: 'critical', message: 'temperature 36.2 °C is above 35, for 10 s', value: 36.2 })).toBe(
      '1970-01-01T00:00:01.000Z,1000,bath_hot,pending,raised,critical,36.2,,"temperature 36.2 °C is above 35, for 10 s"\n',
    );
    expect(alarmCsvRow({ t: 2000, id: 'x', from: 'raised', to: 'acknowledged', severity: 'info', message: 'acknowledged by "otto"', value: null, who: 'otto' })).toBe(
      '1970-01-01T00:00:02.000Z,2000,x,raised,acknowledged,info,,otto,"acknowledged by ""otto"""\n',
    );
  });
});
