import { describe, expect, it } from 'vitest';
import type { AlarmState } from '../../monitor/types.js';
import type { DescribeDoc } from '../../wire/types.js';
import { alarmOnDevice, alarmOnValue, inWindow, keyParams, SPARK_WINDOW_MS, untilNow } from './overview.js';

const describeDoc = (params: DescribeDoc['params']): DescribeDoc => ({ name: 'd', type: 't', title: 'T', protocol: 'labwire/1', version: '0', readOnly: false, params, commands: {} });
const f = (extra: Partial<DescribeDoc['params'][string]> = {}): DescribeDoc['params'][string] => ({ type: 'float', description: '', readonly: true, ...extra });

describe('overview key values', () => {
  it('takes the lab file list first, then the family key values, then the first numeric parameters', () => {
    const doc = describeDoc({ hw_connected: { type: 'bool', description: '', readonly: true }, a: f(), b: f({ key: true }), c: f(), d: f(), e: f({ key: true }) });
    expect(keyParams({ overview: ['c', 'a'], describe: doc, values: {} })).toEqual(['c', 'a']);
    expect(keyParams({ describe: doc, values: {} })).toEqual(['b', 'e']);
    expect(keyParams({ describe: describeDoc({ state: { type: 'enum', description: '', readonly: true }, a: f(), n: { type: 'string', description: '', readonly: true }, b: f(), c: f(), d: f() }), values: {} })).toEqual(['a', 'b', 'c']);
    // A CCDLab peer has no describe: its numeric values.
    expect(keyParams({ describe: null, values: { hw_connected: 1, name: 'x', temp: 4.2, volts: 1 } })).toEqual(['temp', 'volts']);
  });

  it('colours the value an alarm watches, by client and parameter, while raised or acknowledged', () => {
    const base = { type: 'threshold' as const, description: '', since: 0, value: 1 };
    const alarms: AlarmState[] = [
      { ...base, id: 'w', severity: 'warning', state: 'raised', clients: ['cryo'], watches: { client: 'cryo', param: 'chA.temperature' } },
      { ...base, id: 'c', severity: 'critical', state: 'acknowledged', clients: ['cryo'], watches: { client: 'cryo', param: 'chA.temperature' } },
      { ...base, id: 'ok', severity: 'critical', state: 'cleared', clients: ['cryo'], watches: { client: 'cryo', param: 'chB.temperature' } },
      { ...base, type: 'disconnected', id: 'link', severity: 'warning', state: 'raised', clients: ['cryo'] },
    ];
    expect(alarmOnValue(alarms, 'cryo', 'chA.temperature')?.id).toBe('c');
    expect(alarmOnValue(alarms, 'cryo', 'chB.temperature')).toBeUndefined();
    // `chA` with parameter `temperature` is another value: names are never split.
    expect(alarmOnValue(alarms, 'chA', 'temperature')).toBeUndefined();
    expect(alarmOnDevice(alarms, 'cryo')?.id).toBe('link');
    expect(alarmOnDevice(alarms, 'other')).toBeUndefined();
  });

  it('carries a steady value to now, so its line reaches the right edge', () => {
    expect(untilNow([[1, 5]], 5, 10)).toEqual([[1, 5], [10, 5]]);
    expect(untilNow([[10, 5]], 6, 10)).toEqual([[10, 5]]);
    expect(untilNow([], 'on', 10)).toEqual([]);
    expect(untilNow([], Number.NaN, 10)).toEqual([]);
  });
  it('trims to the window when drawn, keeping the value held at the window start', () => {
    const now = 10 * 3_600_000;
    const cut = now - SPARK_WINDOW_MS;
    // A steady parameter: one value hours ago, nothing since.
    expect(inWindow([[now - 3 * 3_600_000, 20]], now)).toEqual([[cut, 20]]);
    expect(untilNow(inWindow([[now - 3 * 3_600_000, 20]], now), 20, now)).toEqual([[cut, 20], [now, 20]]);
    // Older points go, the one before the cut is moved to the start, newer ones stay.
    expect(inWindow([[cut - 2000, 1], [cut - 1000, 2], [cut + 1000, 3]], now)).toEqual([[cut, 2], [cut + 1000, 3]]);
    expect(inWindow([[cut - 1000, 2], [cut, 3]], now)).toEqual([[cut, 3]]);
    expect(inWindow([[cut + 1, 1]], now)).toEqual([[cut + 1, 1]]);
    expect(inWindow([], now)).toEqual([]);
  });
});
