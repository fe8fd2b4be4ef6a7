/**
 * The STATUS reply of the simulated controller: the leading keys (VALID, COUNT, LOG, POWER,
 * POWERGOOD, OVERHEAT, BACKPLANE_TEMP), the supply rails as `_V`/`_I` pairs (the standard supply
 * makes +2.5, +5, ±6, ±17 and +35 V, the others read 0) and per-module readings for every
 * populated slot of the stored SYSTEM inventory: `MODn/TEMP` always, bias rails for LVXBias and
 * HVXBias modules (the configured voltages while the CCD is powered), temperatures and heater
 * outputs for HeaterX. Readings carry a little seeded noise so plots look alive.
 */
import { gaussian, seededRandom } from '../../kits/sim/index.js';
import type { DemoModule } from '../demo-acf.js';

/** POWER codes (reference/archon.md §4.2). */
export const POWER = { unknown: 0, notConfigured: 1, off: 2, intermediate: 3, on: 4, standby: 5 } as const;

const RAILS: ReadonlyArray<[name: string, volts: number, amps: number]> = [
  ['P2V5', 2.5, 0.42],
  ['P5V', 5, 1.1],
  ['P6V', 6, 0.35],
  ['N6V', -6, -0.31],
  ['P17V', 17, 0.12],
  ['N17V', -17, -0.1],
  ['P35V', 35, 0.02],
  ['N35V', 0, 0],
  ['P100V', 0, 0],
  ['N100V', 0, 0],
  ['USER', 0, 0],
  ['HEATER', 0, 0],
];

export interface StatusInputs {
  count: number;
  log: number;
  power: number;
  /** Configuration keys in force (upper case), for bias voltages and heater targets. */
  config: Map<string, string>;
}

export class StatusModel {
  private readonly noise: () => number;

  constructor(
    private readonly modules: readonly DemoModule[],
    seed: number,
  ) {
    this.noise = gaussian(seededRandom((seed ^ 0x57a7a5) >>> 0));
  }

  private reading(value: number, sigma: number, digits = 3): string {
    return (value + sigma * this.noise()).toFixed(digits);
  }

  pairs(s: StatusInputs): Array<[string, string]> {
    const on = s.power === POWER.on;
    const out: Array<[string, string]> = [
      ['VALID', '1'],
      ['COUNT', String(s.count)],
      ['LOG', String(s.log)],
      ['POWER', String(s.power)],
      ['POWERGOOD', '1'],
      ['OVERHEAT', '0'],
      ['BACKPLANE_TEMP', this.reading(31.5, 0.05)],
    ];
    for (const [name, volts, amps] of RAILS) {
      out.push([`${name}_V`, volts === 0 ? '0.000' : this.reading(volts, 0.004)], [`${name}_I`, amps === 0 ? '0.000' : this.reading(amps, 0.002)]);
    }
    for (const m of this.modules) {
      if (m.type === 0) continue;
      const p = `MOD${m.slot}/`;
      out.push([`${p}TEMP`, this.reading(36 + m.slot * 0.4, 0.05)]);
      if (m.type === 9) this.bias(out, p, 'LVLC', 24, 'LVHC', 6, on, s.config);
      else if (m.type === 8) this.bias(out, p, 'HVLC', 24, 'HVHC', 6, on, s.config);
      else if (m.type === 11) this.heater(out, p, s.config);
    }
    return out;
  }

  private bias(out: Array<[string, string]>, p: string, lc: string, nlc: number, hc: string, nhc: number, on: boolean, config: Map<string, string>): void {
    for (const [kind, n] of [[lc, nlc], [hc, nhc]] as const) {
      for (let i = 1; i <= n; i++) {
        const set = Number(config.get(`${p}${kind}_V${i}`.toUpperCase()) ?? 0) || 0;
        out.push([`${p}${kind}_V${i}`, on && set !== 0 ? this.reading(set, 0.003) : '0.000']);
      }
      for (let i = 1; i <= n; i++) {
        const set = Number(config.get(`${p}${kind}_V${i}`.toUpperCase()) ?? 0) || 0;
        out.push([`${p}${kind}_I${i}`, on && set !== 0 ? this.reading(0.8, 0.01) : '0.000']);
      }
    }
  }

  private heater(out: Array<[string, string]>, p: string, config: Map<string, string>): void {
    const target = Number(config.get(`${p}HEATERATARGET`) ?? -100);
    out.push(
      [`${p}TEMPA`, this.reading(Number.isFinite(target) ? target : -100, 0.01)],
      [`${p}TEMPB`, this.reading(-151.2, 0.02)],
      // An open sensor channel reads absolute zero in °C.
      [`${p}TEMPC`, '-273.150'],
      [`${p}HEATERAOUTPUT`, this.reading(4.2, 0.05)],
      [`${p}HEATERBOUTPUT`, '0.000'],
      [`${p}DINPUTS`, '00000000'],
    );
  }
}
