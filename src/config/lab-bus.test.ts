import { describe, expect, it } from 'vitest';
import '../devices/index.js';
import { parseLabConfig } from './lab.js';
import { startOrder } from '../lab/bus.js';

const bench = (instrument: string, link: string): string => `
simulators:
  - name: adapter
    type: prologix
    instruments:
      ${instrument}
daemons:
  - { name: gpib, type: prologix, link: sim:adapter }
  - { name: picoammeter, type: keithley6485, link: ${link} }
`;

describe('lab config: the GPIB bench (instruments behind an adapter simulator, bus: links)', () => {
  it('accepts instruments by address, with or without options, and bus:<daemon>/<address>', () => {
    const lab = parseLabConfig(bench('14: { type: keithley6485, options: { zeroCheck: false } }', 'bus:gpib/14'), 'lab.yaml', '/tmp');
    expect(lab.simulators[0]!.instruments).toEqual({ 14: { type: 'keithley6485', options: { zeroCheck: false } } });
    expect(lab.daemons[1]!.link).toBe('bus:gpib/14');
    expect(parseLabConfig(bench('14: keithley6485', 'gpib://127.0.0.1:7020/14'), 'lab.yaml', '/tmp').simulators[0]!.instruments).toEqual({ 14: 'keithley6485' });
  });

  it('names the line and column of an unknown bus daemon, a bus address out of 1–30 and an instrument address out of range', () => {
    expect(() => parseLabConfig(bench('14: keithley6485', 'bus:gpb/14'), 'lab.yaml', '/tmp')).toThrow(/lab\.yaml: 9:52: daemons\.1\.link: "bus:gpb\/14" names the bus daemon "gpb", which is not a daemon of this lab.*daemons: gpib/);
    expect(() => parseLabConfig(bench('14: keithley6485', 'bus:gpib/31'), 'lab.yaml', '/tmp')).toThrow(/9:52: daemons\.1\.link: "bus:gpib\/31": GPIB address "31" must be from 1 to 30/);
    expect(() => parseLabConfig(bench('14: keithley6485', 'bus:gpib/0'), 'lab.yaml', '/tmp')).toThrow(/GPIB address "0" must be from 1 to 30/);
    expect(() => parseLabConfig(bench('14: keithley6485', 'bus:picoammeter/14'), 'lab.yaml', '/tmp')).toThrow(/names the bus daemon "picoammeter"/);
    expect(() => parseLabConfig(bench('31: keithley6485', 'bus:gpib/14'), 'lab.yaml', '/tmp')).toThrow(/6:11: simulators\.0\.instruments\.31: instrument address "31" must be a GPIB primary address from 1 to 30/);
  });

  it('refuses two daemons at one address of a bus, naming both', () => {
    const twice = `${bench('15: keithley487', 'bus:gpib/15')}  - { name: generator, type: hp33120a, link: bus:gpib/15 }\n`;
    expect(() => parseLabConfig(twice, 'lab.yaml', '/tmp')).toThrow(/10:\d+: daemons\.2\.link: daemons "picoammeter" and "generator" both use GPIB address 15 on the bus "gpib"/);
  });

  it('starts daemons on their own links before those on a bus, otherwise in the file\'s order', () => {
    const lab = parseLabConfig(`
simulators: [{ name: adapter, type: prologix }]
daemons:
  - { name: meter, type: keithley6485, link: bus:gpib/14 }
  - { name: gpib, type: prologix, link: sim:adapter }
  - { name: gen, type: hp33120a, link: bus:gpib/22 }
  - { name: other, type: prologix, link: "tcp://127.0.0.1:1234" }
`, 'lab.yaml', '/tmp');
    expect(startOrder(lab.daemons).map((d) => d.name)).toEqual(['gpib', 'other', 'meter', 'gen']);
  });
});
