import { describe, expect, it } from 'vitest';
import { formatNumber33120, fromVpp, outputProblem, parseIdentity, parseLoad, parseState, rescaleForLoad, scpi, toVpp, type Output } from './codec.js';

const sine: Output = { shape: 'SIN', frequency: 1000, amplitude: 1, offset: 0, units: 'VPP', load: '50' };

describe('hp33120a codec', () => {
  it('limits the frequency per shape, naming the shape', () => {
    expect(outputProblem({ ...sine, frequency: 15e6 })).toBeUndefined();
    expect(outputProblem({ ...sine, frequency: 16e6 })).toBe("frequency 16000000 Hz is above the 33120A's SIN limit of 15000000 Hz");
    expect(outputProblem({ ...sine, shape: 'TRI', frequency: 200e3 })).toBe("frequency 200000 Hz is above the 33120A's TRI limit of 100000 Hz");
    expect(outputProblem({ ...sine, shape: 'RAMP', frequency: 100e3 })).toBeUndefined();
    expect(outputProblem({ ...sine, shape: 'USER', frequency: 6e6 })).toBe("frequency 6000000 Hz is above the 33120A's USER limit of 5000000 Hz");
    expect(outputProblem({ ...sine, frequency: 1e-5 })).toBe("frequency 0.00001 Hz is below the 33120A's minimum of 0.0001 Hz");
  });

  it('limits amplitude and offset by the load', () => {
    expect(outputProblem({ ...sine, amplitude: 10 })).toBeUndefined();
    expect(outputProblem({ ...sine, amplitude: 12 })).toBe("amplitude 12 Vpp is above the 33120A's limit of 10 Vpp into 50 Ω");
    expect(outputProblem({ ...sine, amplitude: 12, load: 'INF' })).toBeUndefined();
    expect(outputProblem({ ...sine, amplitude: 21, load: 'INF' })).toBe("amplitude 21 Vpp is above the 33120A's limit of 20 Vpp into high-Z");
    expect(outputProblem({ ...sine, amplitude: 0.04 })).toBe("amplitude 0.04 Vpp is below the 33120A's minimum of 0.05 Vpp into 50 Ω");
    expect(outputProblem({ ...sine, amplitude: 8, offset: 2 })).toBe("amplitude 8 Vpp with offset 2 V peaks at 6 V, beyond the 33120A's 5 V into 50 Ω");
    expect(outputProblem({ ...sine, amplitude: 8, offset: 2, load: 'INF' })).toBeUndefined();
  });

  it('applies the DC rules: the offset is the level, frequency and amplitude do not matter', () => {
    expect(outputProblem({ ...sine, shape: 'DC', frequency: 0, amplitude: 99, offset: 5 })).toBeUndefined();
    expect(outputProblem({ ...sine, shape: 'DC', offset: -5.5 })).toBe("DC level -5.5 V is beyond the 33120A's ±5 V into 50 Ω");
    expect(outputProblem({ ...sine, shape: 'DC', offset: 9, load: 'INF' })).toBeUndefined();
  });

  it('converts Vrms and dBm per shape, and refuses them where they do not apply', () => {
    expect(toVpp(1, 'VRMS', 'SIN')).toBeCloseTo(2.8284271, 6);
    expect(toVpp(1, 'VRMS', 'SQU')).toBe(2);
    expect(toVpp(1, 'VRMS', 'TRI')).toBeCloseTo(3.4641016, 6);
    expect(toVpp(0, 'DBM', 'SIN')).toBeCloseTo(0.6324555, 6);
    expect(fromVpp(toVpp(3.3, 'DBM', 'RAMP')!, 'DBM', 'RAMP')).toBeCloseTo(3.3, 9);
    expect(toVpp(1, 'VRMS', 'NOIS')).toBeUndefined();
    expect(outputProblem({ ...sine, units: 'VRMS', amplitude: 3.6 })).toBe("amplitude 3.6 Vrms (10.182338 Vpp) is above the 33120A's limit of 10 Vpp into 50 Ω");
    expect(outputProblem({ ...sine, shape: 'NOIS', units: 'VRMS' })).toBe('units VRMS are not defined for the NOIS shape on the 33120A; use VPP');
    expect(outputProblem({ ...sine, units: 'DBM', load: 'INF', amplitude: 0 })).toBe('units DBM need the 50 Ω load setting on the 33120A; set load=50 or use VPP or VRMS');
  });

  it('rescales what it shows when the load changes', () => {
    expect(rescaleForLoad(1, 'VPP', '50', 'INF')).toBe(2);
    expect(rescaleForLoad(2, 'VRMS', 'INF', '50')).toBe(1);
    expect(rescaleForLoad(0, 'DBM', '50', 'INF')).toBeCloseTo(6.0206, 4);
  });

  it('reads the state line and the 33120A number format', () => {
    expect(formatNumber33120(5000)).toBe('+5.0000000000000E+03');
    expect(formatNumber33120(-2.5)).toBe('-2.5000000000000E+00');
    expect(parseState('"SIN +5.0000000000000E+03,+3.0000000000000E+00,-2.5000000000000E+00";VPP;50;SINC')).toEqual({
      shape: 'SIN', frequency: 5000, amplitude: 3, offset: -2.5, units: 'VPP', load: '50', userWaveform: 'SINC',
    });
    expect(parseState('"SIN +5.0E+03,+3.0E+00,-2.5E+00";VPP;9.9E+37;CARDIAC')?.load).toBe('INF');
    expect(parseState('"SIN +5.0E+03,+3.0E+00";VPP;50;SINC')).toBeUndefined();
    expect(parseState('"SIN +5.0E+03,+3.0E+00,0";VPP;75;SINC')).toBeUndefined();
    expect(parseLoad('+5.0000000000000E+01')).toBe('50');
    expect(parseIdentity('HEWLETT-PACKARD,33120A,0,7.0-5.0-1.0')).toEqual({ model: '33120A', serial: '0', revision: '7.0-5.0-1.0' });
    expect(scpi.apply('SQU', 1e3, 2, -0.5)).toBe('APPL:SQU 1000,2,-0.5;:APPL?;:VOLT:UNIT?;:OUTP:LOAD?;:FUNC:USER?');
  });
});
