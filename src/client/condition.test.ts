import { describe, expect, it } from 'vitest';
import { LabwireError } from '../wire/index.js';
import { compare, parseCondition, type ConditionValues } from './condition.js';

const values: ConditionValues = {
  temperature: 14.2,
  setpoint: '15',
  state: 'idle',
  mode: 'ramp up',
  hw_connected: '1',
  running: true,
  pump: false,
  reading: null,
  lost: 'nan',
  nanny: NaN,
  'chiller.temperature': '19.8',
  'cryo-con.temperatureA': '77.3',
  status: '0110',
  pressure: '3.2e-6',
};

describe('parseCondition: evaluation', () => {
  const rows: [condition: string, expected: boolean][] = [
    ['temperature<15', true],
    ['temperature < 15', true],
    ['temperature<=14.2', true],
    ['temperature>14.2', false],
    ['temperature>=14.2', true],
    ['temperature=14.2', true],
    ['temperature==14.20', true],
    ['temperature!=14.2', false],
    ['temperature>-5', true],
    ['setpoint>14.5', true],
    ['setpoint=15.0', true],
    ['pressure<1e-5', true],
    ['pressure>=.000001', true],
    ['state=idle', true],
    ['state==idle', true],
    ['state!=idle', false],
    ['state=IDLE', false],
    ['state<idle', false],
    ['state>a', false],
    ['mode="ramp up"', true],
    ["mode='ramp up'", true],
    ['hw_connected=1', true],
    ['hw_connected=true', true],
    ['hw_connected!=false', true],
    ['running=1', true],
    ['running=true', true],
    ['running=TRUE', true],
    ['running>0', true],
    ['pump=0', true],
    ['pump=false', true],
    ['pump!=true', true],
    // Numeric whenever both sides read as numbers, leading zeros and quotes notwithstanding.
    ['status=0110', true],
    ['status=110', true],
    ["status='0110'", true],
    ['status=0111', false],
    // Missing readings make every comparison false, != included.
    ['reading<100', false],
    ['reading!=5', false],
    ['lost!=5', false],
    ['nanny!=5', false],
    ['absent=1', false],
    ['absent!=1', false],
    // Dotted and dashed names (monitor and CCDLab status keys).
    ['chiller.temperature>=19.5', true],
    ['cryo-con.temperatureA<80', true],
    // Combinations: all must hold.
    ['temperature<15 && state=idle', true],
    ['temperature<15&&state=busy', false],
    ['temperature<15, state=idle', true],
    ['temperature<15,state=idle,running=1', true],
    ['temperature<15 and state=idle', true],
    ['temperature<15 AND state=busy', false],
    ['mode="a, b && c" , state=idle', false],
    ['state=idle and mode="ramp up"', true],
  ];
  it.each(rows)('%s → %s', (condition, expected) => {
    expect(parseCondition(condition).test(values)).toBe(expected);
  });

  it('lists the names it reads', () => {
    const c = parseCondition(' temperature<15 && state=idle, temperature>10 ');
    expect(c.names).toEqual(['temperature', 'state']);
    expect(c.source).toBe('temperature<15 && state=idle, temperature>10');
    expect(c.terms).toEqual([
      { name: 'temperature', op: '<', value: '15' },
      { name: 'state', op: '=', value: 'idle' },
      { name: 'temperature', op: '>', value: '10' },
    ]);
  });

  it('does not read inherited properties', () => {
    expect(parseCondition('constructor!=x').test({})).toBe(false);
    expect(parseCondition('toString=1').test({})).toBe(false);
  });

  it('compares infinities and strings directly', () => {
    expect(compare(Infinity, '>', '1e308')).toBe(true);
    expect(compare('inf', '>', '5')).toBe(true);
    expect(compare('-inf', '<', '-5')).toBe(true);
    expect(compare('abc', '=', 'abc')).toBe(true);
    expect(compare('', '=', '0')).toBe(false);
    expect(compare(' 5 ', '=', '5')).toBe(true);
  });
});

describe('parseCondition: errors', () => {
  const rows: [condition: string, message: string][] = [
    ['', 'condition is empty'],
    ['   ', 'condition is empty'],
    ['temperature<', "condition 'temperature<' has no value after '<'"],
    ['temperature>=  ', "condition 'temperature>=' has no value after '>='"],
    ['temperature', "condition 'temperature' has no comparison operator (use <, <=, >, >=, =, == or !=)"],
    ['<15', "condition '<15' has no name before '<'"],
    ['15>temperature', "condition '15>temperature' has the number '15' where a name belongs; write the name first, e.g. temperature>15"],
    ['temp erature<5', "condition 'temp erature<5': 'temp erature' is not a parameter name (letters, digits, _, -, . and /; starting with a letter or _)"],
    ['temperature!5', "condition 'temperature!5' has an unknown operator '!5' (use <, <=, >, >=, =, == or !=)"],
    ['temperature=<5', "condition 'temperature=<5' has '=' followed by '<'; use one of <, <=, >, >=, =, == or !="],
    ['temperature<5 &&', "condition 'temperature<5 &&' has an empty term after '&&'"],
    [', temperature<5', "condition ', temperature<5' starts with an empty term"],
    ['a<1,,b<2', "condition 'a<1,,b<2' has an empty term after ','"],
    ['a<1 && b<', "condition 'a<1 && b<': term 'b<' has no value after '<'"],
    ['mode="ramp up', "condition 'mode=\"ramp up' has an unbalanced \" at column 6"],
    ['mode=ramp up', "condition 'mode=ramp up' has a value with spaces (ramp up); quote it or join terms with &&, ',' or 'and'"],
    ['mode="a"b', "condition 'mode=\"a\"b' has a badly quoted value \"a\"b"],
  ];
  it.each(rows)('%j', (condition, message) => {
    let caught: unknown;
    try {
      parseCondition(condition);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LabwireError);
    expect((caught as LabwireError).code).toBe('ProtocolError');
    expect((caught as LabwireError).message).toBe(message);
  });
});
