/** The demo ACF: a [CONFIG] the codec reads, with the geometry, parameters and flags the demo relies on. */
import { describe, expect, it } from 'vitest';
import { geometryOf, parseAcf, parseParameter } from './codec.js';
import { DEMO_ACF, demoAcf, systemPairs } from './demo-acf.js';

describe('DEMO_ACF', () => {
  const config = parseAcf(DEMO_ACF);
  const get = (key: string) => config.find((c) => c.key === key)?.value;

  it('describes two taps of 256 × 512, 16-bit, top mode, flashed to apply and power on at boot', () => {
    expect(geometryOf(config)).toMatchObject({ width: 512, height: 512, taps: 2, sampleMode: 0, frameMode: 0, lineCount: 512, pixelCount: 256 });
    expect(get('APPLYALL')).toBe('1');
    expect(get('POWERON')).toBe('1');
    expect(get('TAPLINE0')).toBe('AD1L, 1, 1000');
  });

  it('has the exposure parameters at 0 and a timing script', () => {
    const params = config.filter((c) => /^PARAMETER\d+$/.test(c.key)).map((c) => parseParameter(c.value));
    expect(params.slice(0, 4)).toEqual([
      { name: 'Exposures', value: 0 },
      { name: 'IntMS', value: 0 },
      { name: 'Shutter', value: 0 },
      { name: 'AbortExposure', value: 0 },
    ]);
    expect(Number(get('PARAMETERS'))).toBe(params.length);
    expect(Number(get('LINES'))).toBeGreaterThan(5);
    expect(get('LINE0')).toBe('Start:');
    // QSettings' notation in the file: module keys with a backslash, quoted values with , ; =.
    expect(DEMO_ACF).toContain('MOD8\\HEATERATARGET=-100');
    expect(DEMO_ACF).toContain('PARAMETER0="Exposures=0"');
    expect(get('MOD8/HEATERATARGET')).toBe('-100');
  });

  it('carries a [SYSTEM] section with the simulated inventory, and other geometries on demand', () => {
    const system = DEMO_ACF.slice(DEMO_ACF.indexOf('[SYSTEM]'));
    for (const [k, v] of systemPairs()) expect(system).toContain(`\n${k}=${v}\n`);
    const split = parseAcf(demoAcf({ linecount: 100, pixelcount: 50, taps: 4, framemode: 2, sampleMode: 1, applyAll: false }));
    expect(geometryOf(split)).toMatchObject({ width: 100, height: 200, sampleMode: 1 });
    expect(split.find((c) => c.key === 'APPLYALL')?.value).toBe('0');
  });
});
