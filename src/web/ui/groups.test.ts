import { describe, expect, it } from 'vitest';
import type { ParamDescription } from '../../wire/types.js';
import { groupOf, groupParams, matchesFilter, shortName } from './groups.js';

const p = (extra: Partial<ParamDescription> = {}): ParamDescription => ({ type: 'float', description: '', readonly: true, ...extra });

describe('card groups', () => {
  it('groups by a declared group first, else by the prefix before the first dot; the rest stays on top in order', () => {
    const names = ['control', 'chA.temperature', 'chA.units', 'loop1.setpoint', 'idn', 'chB.temperature', 'heater_power', 'loop1.pid.p'];
    const g = groupParams(names, { heater_power: p({ group: 'loop1' }) });
    expect(g.ungrouped).toEqual(['control', 'idn']);
    expect(g.groups).toEqual([
      { name: 'chA', members: ['chA.temperature', 'chA.units'] },
      { name: 'loop1', members: ['loop1.setpoint', 'heater_power', 'loop1.pid.p'] },
      { name: 'chB', members: ['chB.temperature'] },
    ]);
  });
  it('a leading or trailing dot makes no group', () => {
    expect(groupOf('.x', undefined)).toBeNull();
    expect(groupOf('x.', undefined)).toBeNull();
    expect(groupOf('a.b.c', undefined)).toBe('a');
  });
  it('shows names without their group prefix, and only that prefix', () => {
    expect(shortName('loop1.pid.p', 'loop1')).toBe('pid.p');
    expect(shortName('heater_power', 'loop1')).toBe('heater_power');
  });
  it('filters by every word of the filter, case-insensitive', () => {
    expect(matchesFilter('loop1.setpoint', 'LOOP1 set')).toBe(true);
    expect(matchesFilter('loop2.setpoint', 'loop1 set')).toBe(false);
    expect(matchesFilter('chA.temperature', '  ')).toBe(true);
  });
});
