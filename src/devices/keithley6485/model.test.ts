import { describe, expect, it } from 'vitest';
import { parseReading } from './codec.js';
import { Keithley6485Model } from './model.js';

/** Sends a message and, if it holds a query, reads as the host does after `++read eoi`. */
function ask(m: Keithley6485Model, message: string): string | undefined {
  m.receive(Buffer.from(message + '\n'));
  return message.includes('?') ? m.talk()?.toString('latin1') : undefined;
}

const current = (m: Keithley6485Model): number | null => parseReading(ask(m, 'READ?')!)!.amps;

describe('keithley6485 model', () => {
  it('identifies itself and answers every query of a message in one line', () => {
    const m = new Keithley6485Model({ seed: 1 });
    expect(ask(m, '*IDN?')).toMatch(/^KEITHLEY INSTRUMENTS INC\.,MODEL 6485,4096485,B03.*\n$/);
    expect(ask(m, ':CURR:RANG?;:CURR:RANG:AUTO?;:SYST:ZCH?;*OPC?')).toBe('2.000000E-09;1;1;1\n');
  });

  it('takes headers in long or exact short form only, optional nodes left out', () => {
    const m = new Keithley6485Model({ seed: 1 });
    ask(m, 'sense:current:dc:range:auto:ulimit 2e-3');
    expect(ask(m, ':CURR:RANGE:AUTO:ULIM?')).toBe('2.000000E-03\n');
    expect(ask(m, 'SYSTe:ZCH?')).toBeUndefined();
    expect(ask(m, 'SYST:ERR?')).toBe('-113,"Undefined header"\n');
  });

  it('runs the CCDLab connect sequence and logs its typo as an undefined header', () => {
    const m = new Keithley6485Model({ seed: 1 });
    for (const c of ['*rst', '*cls', ':SYST:ZCH ON', ':CURR:RANG 2E-9', ':INIT', ':SYST:ZCOR:ACQ', ':SYST:ZCH OFF', ':SYSR:ZCOR ON', ':CURR:RANG:AUTO ON']) {
      m.receive(Buffer.from(c + '\n'));
    }
    expect(ask(m, '*opc?')).toBe('1\n');
    expect(ask(m, ':SYST:ERR:COUN?')).toBe('1\n');
    expect(ask(m, ':SYST:ERR?')).toBe('-113,"Undefined header"\n');
    expect(ask(m, ':SYST:ERR?')).toBe('0,"No error"\n');
    expect(ask(m, 'fetch?')).toMatch(/^[+-]\d\.\d{6}E[+-]\d\dA,/);
  });

  it('reads the input current with zero check off; ~0 with it on', () => {
    const m = new Keithley6485Model({ seed: 2, inputAmps: 1.5e-9, offsetAmps: 0 });
    expect(Math.abs(current(m)!)).toBeLessThan(1e-12);
    ask(m, 'SYST:ZCH OFF');
    expect(current(m)!).toBeCloseTo(1.5e-9, 11);
    expect(ask(m, 'CURR:RANG?')).toBe('2.000000E-09\n');
  });

  it('reads overflow beyond a fixed range, and noise that grows with the range and falls with NPLC', () => {
    const m = new Keithley6485Model({ seed: 3, inputAmps: 5e-9 });
    ask(m, 'SYST:ZCH OFF');
    ask(m, 'CURR:RANG 2e-9');
    expect(parseReading(ask(m, 'READ?')!)).toMatchObject({ overflow: true, amps: null, status: 1 });
    const spread = (): number => {
      const xs = Array.from({ length: 60 }, () => current(m)!);
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    };
    ask(m, 'CURR:RANG 2e-8');
    const low = spread();
    ask(m, 'CURR:RANG 2e-5');
    const high = spread();
    expect(high / low).toBeGreaterThan(300);
    ask(m, 'CURR:NPLC 6');
    expect(spread() / high).toBeLessThan(0.7);
    expect(ask(m, 'CURR:NPLC?')).toBe('6.000000E+00\n');
  });

  it('autoranges within its limits', () => {
    const m = new Keithley6485Model({ seed: 4, inputAmps: 3e-6, noise: 0 });
    ask(m, 'SYST:ZCH OFF');
    current(m);
    expect(ask(m, 'CURR:RANG?')).toBe('2.000000E-05\n');
    ask(m, 'CURR:RANG:AUTO:ULIM 2e-6');
    expect(parseReading(ask(m, 'READ?')!)?.overflow).toBe(true);
    expect(ask(m, 'CURR:RANG:AUTO:ULIM?;:CURR:RANG:AUTO?')).toBe('2.000000E-06;1\n');
  });

  it('subtracts the offset acquired with zero check on', () => {
    const m = new Keithley6485Model({ seed: 5, inputAmps: 1e-9, offsetAmps: 4e-11, noise: 0 });
    ask(m, 'SYST:ZCH OFF');
    expect(current(m)!).toBeCloseTo(1.04e-9, 13);
    ask(m, 'SYST:ZCOR:ACQ');
    expect(ask(m, 'SYST:ERR?')).toBe('-221,"Settings conflict"\n');
    ask(m, 'SYST:ZCH ON;:SYST:ZCOR:ACQ;:SYST:ZCOR ON;:SYST:ZCH OFF');
    expect(current(m)!).toBeCloseTo(1e-9, 13);
  });

  it('keeps errors for bad values and unfinished queries, one pending reply at a time', () => {
    const m = new Keithley6485Model({ seed: 6 });
    ask(m, 'CURR:RANG 1');
    ask(m, 'CURR:NPLC 7');
    ask(m, 'SYST:ZCH MAYBE');
    m.receive(Buffer.from('*IDN?\n'));
    m.receive(Buffer.from('*OPC?\n'));
    expect(m.talk()?.toString()).toBe('1\n');
    expect(m.talk()).toBeUndefined();
    const errors = Array.from({ length: 6 }, () => ask(m, 'SYST:ERR?'));
    expect(errors).toEqual([
      '-222,"Data out of range"\n', '-222,"Data out of range"\n', '-104,"Data type error"\n',
      '-410,"Query INTERRUPTED"\n', '-420,"Query UNTERMINATED"\n', '0,"No error"\n',
    ]);
  });

  it('returns no data for FETCh? before a reading, and goes silent when off', () => {
    const m = new Keithley6485Model({ seed: 7 });
    expect(ask(m, 'FETC?')).toBeUndefined();
    expect(ask(m, 'SYST:ERR?')).toBe('-230,"Data corrupt or stale"\n');
    m.setSilent(true);
    expect(ask(m, '*IDN?')).toBeUndefined();
  });
});
