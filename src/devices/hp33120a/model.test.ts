import { describe, expect, it } from 'vitest';
import { Hp33120aModel } from './model.js';

function ask(m: Hp33120aModel, message: string): string | undefined {
  m.receive(Buffer.from(message + '\n'));
  return message.includes('?') ? m.talk()?.toString('latin1') : undefined;
}

describe('hp33120a model', () => {
  it('starts in the factory state and answers like the instrument', () => {
    const m = new Hp33120aModel();
    expect(ask(m, '*IDN?')).toBe('HEWLETT-PACKARD,33120A,0,7.0-5.0-1.0\n');
    expect(ask(m, 'APPL?')).toBe('"SIN +1.0000000000000E+03,+1.0000000000000E-01,+0.0000000000000E+00"\n');
    expect(ask(m, 'OUTP:LOAD?;:VOLT:UNIT?;:FUNC:USER?;:FUNC:SHAP?')).toBe('50;VPP;SINC;SIN\n');
    expect(ask(m, 'SYST:ERR?')).toBe('+0,"No error"\n');
  });

  it('runs the CCDLab connect sequence and its client commands', () => {
    const m = new Hp33120aModel();
    expect(ask(m, 'SYST:ERR?')).toBe('+0,"No error"\n');
    for (const c of ['*RST', 'OUTP:LOAD 50', 'VOLT:OFFS 0', 'VOLT:UNIT VPP']) ask(m, c);
    expect(ask(m, '*OPC?')).toBe('1\n');
    ask(m, 'APPL:SQU 2000,1.5,0.25');
    expect(ask(m, ':APPL?')).toBe('"SQU +2.0000000000000E+03,+1.5000000000000E+00,+2.5000000000000E-01"\n');
    ask(m, ':FUNC:USER CARDIAC');
    expect(ask(m, ':FUNC:USER?')).toBe('CARDIAC\n');
    ask(m, ':OUTP:LOAD INF');
    expect(ask(m, ':OUTP:LOAD?;:VOLT?;:VOLT:OFFS?')).toBe('9.9E+37;+3.0000000000000E+00;+5.0000000000000E-01\n');
  });

  it('refuses settings beyond the shape and load limits and keeps the state', () => {
    const m = new Hp33120aModel();
    ask(m, 'APPL:TRI 200000,1,0');
    ask(m, 'VOLT 11');
    ask(m, 'VOLT 8;:VOLT:OFFS 2');
    ask(m, 'FREQ 2e6;:FUNC:SHAP RAMP');
    expect(ask(m, 'APPL?')).toBe('"SIN +2.0000000000000E+06,+8.0000000000000E+00,+0.0000000000000E+00"\n');
    expect([ask(m, 'SYST:ERR?'), ask(m, 'SYST:ERR?'), ask(m, 'SYST:ERR?'), ask(m, 'SYST:ERR?'), ask(m, 'SYST:ERR?')]).toEqual([
      '-222,"Data out of range"\n', '-222,"Data out of range"\n', '-222,"Data out of range"\n', '-222,"Data out of range"\n', '+0,"No error"\n',
    ]);
  });

  it('converts amplitude units per shape; DBM needs the 50 Ω load', () => {
    const m = new Hp33120aModel();
    ask(m, 'VOLT 2');
    ask(m, 'VOLT:UNIT VRMS');
    expect(Number(ask(m, 'VOLT?'))).toBeCloseTo(2 / (2 * Math.SQRT2), 9);
    ask(m, 'FUNC:SHAP SQU');
    expect(Number(ask(m, 'VOLT?'))).toBeCloseTo(1, 9);
    ask(m, 'FUNC:SHAP NOIS');
    expect(ask(m, 'FUNC:SHAP?;:SYST:ERR?')).toBe('SQU;-221,"Settings conflict"\n');
    ask(m, 'VOLT:UNIT DBM');
    ask(m, 'OUTP:LOAD INF');
    expect(ask(m, 'OUTP:LOAD?;:SYST:ERR?')).toBe('50;-221,"Settings conflict"\n');
  });

  it('keeps one pending reply, flags the interrupted and unterminated queries, and goes silent when off', () => {
    const m = new Hp33120aModel();
    m.receive(Buffer.from('*IDN?\n'));
    m.receive(Buffer.from('FREQ?\n'));
    expect(m.talk()?.toString()).toBe('+1.0000000000000E+03\n');
    expect(m.talk()).toBeUndefined();
    expect(ask(m, 'SYST:ERR?;:SYST:ERR?')).toBe('-410,"Query INTERRUPTED";-420,"Query UNTERMINATED"\n');
    ask(m, 'FOO 1');
    expect(ask(m, 'SYST:ERR?')).toBe('-113,"Undefined header"\n');
    m.setSilent(true);
    expect(ask(m, '*IDN?')).toBeUndefined();
  });
});
