import { describe, expect, it } from 'vitest';
import { closestName, editDistance, unknownNameMessage } from './condition-names.js';

describe('names of a condition', () => {
  it('measures edits and suggests only likely typos', () => {
    expect(editDistance('temprature', 'temperature')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closestName('temprature', ['setpoint', 'temperature', 'state'])).toBe('temperature');
    expect(closestName('Setpiont', ['setpoint', 'state'])).toBe('setpoint');
    expect(closestName('pressure', ['setpoint', 'temperature'])).toBeUndefined();
  });

  it('says what is unknown, with a suggestion or the list of names', () => {
    expect(unknownNameMessage('parameter', 'temprature', 'julabo', ['temperature', 'setpoint'])).toBe('unknown parameter temprature of julabo; did you mean temperature?');
    expect(unknownNameMessage('parameter', 'pressure', 'julabo', ['temperature', 'setpoint'])).toBe('unknown parameter pressure of julabo; parameters: temperature, setpoint');
    expect(unknownNameMessage('device', 'julbo', undefined, ['julabo', 'cryocon'])).toBe('unknown device julbo; did you mean julabo?');
  });
});
