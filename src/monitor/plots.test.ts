import { describe, expect, it } from 'vitest';
import { resolvePlot, resolvePlotValue } from './plots.js';

const clients = new Set(['cryocon', 'chiller', 'arbin']);

describe('plot values resolved to (device, parameter)', () => {
  it('keeps dotted parameter names of the plot\'s own device whole', () => {
    expect(resolvePlotValue('cryocon', 'chA.temperature', { clients })).toEqual({ device: 'cryocon', name: 'chA.temperature' });
    expect(resolvePlotValue('arbin', 'ch1.voltage', { clients })).toEqual({ device: 'arbin', name: 'ch1.voltage' });
    expect(resolvePlotValue('chiller', 'temperature', { clients })).toEqual({ device: 'chiller', name: 'temperature' });
  });

  it('reads <client>.<param> as another client\'s value, unless the own device declares that name', () => {
    expect(resolvePlotValue('cryocon', 'chiller.temperature', { clients })).toEqual({ device: 'chiller', name: 'temperature' });
    expect(resolvePlotValue('cryocon', 'chiller.temperature', { clients, ownParams: new Set(['chiller.temperature']) })).toEqual({ device: 'cryocon', name: 'chiller.temperature' });
  });

  it('resolves the abscissa and every series of a plot', () => {
    const plot = { id: 't', name: 'T', values: ['time', 'chA.temperature', 'loop1.setpoint'] };
    expect(resolvePlot('cryocon', plot, { clients })).toEqual({
      ...plot,
      x: null,
      series: [{ device: 'cryocon', name: 'chA.temperature' }, { device: 'cryocon', name: 'loop1.setpoint' }],
    });
    expect(resolvePlot('arbin', { id: 'xy', name: 'xy', values: ['ch1.voltage', 'ch1.current'] }, { clients }).x).toEqual({ device: 'arbin', name: 'ch1.voltage' });
  });
});
