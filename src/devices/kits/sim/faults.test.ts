import { describe, expect, it } from 'vitest';
import { SimFaults, garbleText } from './faults.js';

describe('SimFaults', () => {
  it('has the standard set plus the family own, one set() for all, aliases and a clear error', () => {
    const changes: string[] = [];
    let drops = 0;
    const f = new SimFaults({ extra: ['lowLevel'] as const, aliases: { silent: 'silence' }, dropClients: () => drops++, onChange: (n, on) => changes.push(`${n}=${on}`), what: 'the test unit' });
    f.set('lowLevel', true);
    f.set('silent', true);
    f.set('linkDrop', true);
    expect(f.active).toEqual(['linkDrop', 'silence', 'lowLevel']);
    expect([f.deaf, f.refusing, drops]).toEqual([true, true, 1]);
    f.set('linkDrop', false);
    expect([f.deaf, f.refusing]).toEqual([true, false]);
    f.set('silence', false);
    expect(f.deaf).toBe(false);
    expect(changes).toEqual(['lowLevel=true', 'silence=true', 'linkDrop=true', 'linkDrop=false', 'silence=false']);
    expect(() => f.set('meltdown', true)).toThrow('unknown fault "meltdown" for the test unit; it has linkDrop, garble, silence, lowLevel');
  });

  it('garbles the next n replies once each, and every reply while the switch is on', () => {
    const f = new SimFaults();
    f.garbleNext(2);
    expect([f.takeGarble(), f.takeGarble(), f.takeGarble()]).toEqual([true, true, false]);
    f.set('garble', true);
    expect([f.takeGarble(), f.takeGarble()]).toEqual([true, true]);
    expect(garbleText('12.34')).toBe('#43.21?\x7f');
  });
});
