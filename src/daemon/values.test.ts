import { describe, expect, it } from 'vitest';
import { LabwireError } from '../wire/types.js';
import { checkRange, checkSiteLimits, coerce, combineLimits } from './values.js';

const float = { type: 'float', description: 'x' } as const;

describe('coerce', () => {
  it.each([
    [float, '12.5', 12.5],
    [float, '-1e3', -1000],
    [float, ' .5 ', 0.5],
    [{ type: 'int', description: 'n' }, '42', 42],
    [{ type: 'bool', description: 'b' }, 'on', true],
    [{ type: 'bool', description: 'b' }, '0', false],
    [{ type: 'enum', description: 'e', values: ['LOW', 'HIGH'] }, 'high', 'HIGH'],
    [{ type: 'string', description: 's' }, 'a b', 'a b'],
  ] as const)('%o %j', (decl, raw, value) => {
    expect(coerce('p', decl, raw, 'set')).toBe(value);
  });

  it.each([
    [float, 'abc', /p "abc" is not a number/],
    [float, '', /is not a number/],
    [float, '0x10', /is not a number/],
    [float, 'Infinity', /is not a number/],
    [{ type: 'int', description: 'n' }, '1.5', /not a whole number/],
    [{ type: 'bool', description: 'b' }, 'maybe', /not a boolean/],
    [{ type: 'enum', description: 'e', values: ['LOW', 'HIGH'] }, 'MID', /one of LOW, HIGH/],
  ] as const)('%o rejects %j with WrongType', (decl, raw, message) => {
    let caught: unknown;
    try {
      coerce('p', decl, raw, 'set');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LabwireError);
    expect((caught as LabwireError).code).toBe('WrongType');
    expect((caught as LabwireError).message).toMatch(message);
  });
});

describe('limits', () => {
  const hw = combineLimits([
    { min: -50, max: 200, source: 'julabo' },
    { min: -20, max: 40, source: 'FL1703' },
  ]);

  it('keeps the tightest bound with its source', () => {
    expect(hw).toEqual({ min: { value: -20, source: 'FL1703' }, max: { value: 40, source: 'FL1703' } });
  });

  it('names the limit and its source in the message', () => {
    expect(() => checkRange('setpoint', 55, hw, '°C', 'set')).toThrow('setpoint 55 °C is above the FL1703 limit of 40 °C');
    expect(() => checkRange('setpoint', -25, hw, '°C', 'set')).toThrow('setpoint -25 °C is below the FL1703 limit of -20 °C');
    expect(() => checkRange('setpoint', 40, hw, '°C', 'set')).not.toThrow();
  });

  it('lets site limits tighten but never widen', () => {
    expect(() => checkSiteLimits('setpoint', { min: 5, max: 30, source: 'site' }, hw, '°C')).not.toThrow();
    expect(() => checkSiteLimits('setpoint', { max: 50, source: 'site' }, hw, '°C')).toThrow(/above the FL1703 limit of 40 °C; site limits may only tighten/);
    expect(() => checkSiteLimits('setpoint', { min: -30, source: 'site' }, hw, '°C')).toThrow(/below the FL1703 limit/);
    expect(() => checkSiteLimits('setpoint', { min: 30, max: 10, source: 'site' }, hw)).toThrow(/empty/);
    const site = combineLimits([{ min: -20, max: 40, source: 'FL1703' }, { min: 5, max: 30, source: 'site' }]);
    expect(() => checkRange('setpoint', 35, site, '°C', 'set')).toThrow('setpoint 35 °C is above the site limit of 30 °C');
  });
});
