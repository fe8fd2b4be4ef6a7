import { describe, expect, it } from 'vitest';
import type { WireValue } from '../wire/types.js';
import type { ResolvedTarget } from './resolved-device.js';
import { deriveState, type StateInput } from './state.js';

const NOW = 1_000_000;

const setpoint: ResolvedTarget = {
  param: 'setpoint',
  decl: { of: 'temperature', tolerance: 0.2, settleMs: 30_000, activeWhen: (v) => v.running === true },
  tolerance: 0.2,
  settleMs: 30_000,
};
const loop2: ResolvedTarget = { param: 'loop2.setpoint', decl: { of: 'loop2.temperature', tolerance: 0.1, settleMs: 5_000 }, tolerance: 0.1, settleMs: 5_000 };

function input(over: Partial<StateInput> = {}, values: Record<string, WireValue> = {}): StateInput {
  return {
    now: NOW,
    hwConnected: true,
    linkReason: '',
    values: { running: true, setpoint: 20, temperature: 20.05, ...values },
    override: undefined,
    unreadGroups: 0,
    busyCount: 0,
    busyText: '',
    targets: [{ target: setpoint, withinSince: NOW - 60_000 }],
    units: { temperature: '°C', setpoint: '°C', 'loop2.temperature': 'K' },
    pollErrors: [],
    ...over,
  };
}

describe('deriveState: one case per rule, in precedence order', () => {
  const cases: Array<[string, StateInput, string, string | RegExp]> = [
    ['link down', input({ hwConnected: false, linkReason: 'connection refused (ECONNREFUSED)' }), 'error', 'no link to the device: connection refused (ECONNREFUSED)'],
    ['link down without a reason', input({ hwConnected: false }), 'error', 'no link to the device: down'],
    ['link down beats a device error and a command', input({ hwConnected: false, busyCount: 1, override: { state: 'error', text: 'alarm' } }), 'error', /^no link/],
    ['device error (override) beats busy', input({ busyCount: 1, busyText: 'setting setpoint', override: { state: 'error', text: '-05 WORKING SENSOR ALARM' } }), 'error', '-05 WORKING SENSOR ALARM'],
    ['reading after connecting', input({ unreadGroups: 2, busyCount: 1 }), 'busy', 'reading the device after connecting'],
    ['a command in progress', input({ busyCount: 1, busyText: 'setting setpoint' }), 'busy', 'setting setpoint'],
    ['away from the target', input({}, { temperature: 15 }), 'ramping', 'temperature 15 °C → setpoint 20 °C'],
    ['within tolerance, not yet settled', input({ targets: [{ target: setpoint, withinSince: NOW - 10_000 }] }), 'stabilizing', 'temperature within 0.2 °C of 20 °C; settling 20 s more'],
    ['just arrived within tolerance', input({ targets: [{ target: setpoint, withinSince: undefined }] }), 'stabilizing', /settling 30 s more/],
    ['settled', input(), 'idle', 'idle'],
    ['target not driven (activeWhen false) counts as idle', input({}, { running: false, temperature: 5 }), 'idle', 'idle'],
    ['a missing reading does not ramp', input({}, { temperature: Number.NaN }), 'idle', 'idle'],
    ['a device warning when settled', input({ override: { state: 'warn', text: 'chB sensor fault' } }), 'warn', 'chB sensor fault'],
    ['ramping beats a device warning', input({ override: { state: 'warn', text: 'chB sensor fault' } }, { temperature: 15 }), 'ramping', /→ setpoint/],
    ['a failing poll group', input({ pollErrors: [['slow', 'Timeout'], ['fast', 'later']] }), 'warn', 'polling slow failed: Timeout'],
    ['a device warning beats a failing poll', input({ override: { state: 'warn', text: 'w' }, pollErrors: [['slow', 'Timeout']] }), 'warn', 'w'],
    ['an idle override text (Arbin summary)', input({ override: { state: 'idle', text: 'no test running' } }), 'idle', 'no test running'],
    ['no targets at all', input({ targets: [] }, { temperature: 99 }), 'idle', 'idle'],
  ];
  it.each(cases)('%s', (_, given, state, text) => {
    const d = deriveState(given);
    expect(d.state).toBe(state);
    if (typeof text === 'string') expect(d.text).toBe(text);
    else expect(d.text).toMatch(text);
  });
});

describe('deriveState: settling progress', () => {
  it('starts the settle clock on arrival and asks to be called again when it ends', () => {
    const d = deriveState(input({ targets: [{ target: setpoint, withinSince: undefined }] }));
    expect(d.withinSince).toEqual([NOW]);
    expect(d.recheckAt).toBe(NOW + 30_000);
    expect(deriveState(input({ now: NOW + 30_000, targets: [{ target: setpoint, withinSince: NOW }] })).state).toBe('idle');
  });

  it('forgets the progress when the value leaves the tolerance or the target stops being driven', () => {
    expect(deriveState(input({}, { temperature: 25 })).withinSince).toEqual([undefined]);
    expect(deriveState(input({}, { running: false })).withinSince).toEqual([undefined]);
  });

  it('keeps progress untouched while busy, reading or disconnected', () => {
    for (const over of [{ busyCount: 1 }, { unreadGroups: 1 }, { hwConnected: false }]) {
      const d = deriveState(input({ ...over, targets: [{ target: setpoint, withinSince: NOW - 5 }] }, { temperature: 30 }));
      expect(d.withinSince).toEqual([NOW - 5]);
      expect(d.recheckAt).toBeUndefined();
    }
  });

  it('with two targets: the first away from its value names the state; the stabilizing one recheck stays due', () => {
    const targets = [
      { target: setpoint, withinSince: NOW - 1000 },
      { target: loop2, withinSince: undefined },
    ];
    const d = deriveState(input({ targets }, { 'loop2.setpoint': 10, 'loop2.temperature': 50 }));
    expect(d.state).toBe('ramping');
    expect(d.text).toBe('loop2.temperature 50 K → loop2.setpoint 10 K');
    expect(d.withinSince).toEqual([NOW - 1000, undefined]);
    expect(d.recheckAt).toBe(NOW - 1000 + 30_000);
  });

  it('with two targets stabilizing: the earlier end is the next check', () => {
    const targets = [
      { target: setpoint, withinSince: NOW - 1000 },
      { target: loop2, withinSince: NOW - 1000 },
    ];
    const d = deriveState(input({ targets }, { 'loop2.setpoint': 10, 'loop2.temperature': 10 }));
    expect(d.state).toBe('stabilizing');
    expect(d.recheckAt).toBe(NOW - 1000 + 5_000);
  });

  it('is pure: the input is not changed', () => {
    const given = input({ targets: [{ target: setpoint, withinSince: undefined }] });
    const copy = structuredClone({ ...given, targets: given.targets.map((t) => t.withinSince) });
    deriveState(given);
    expect(given.targets.map((t) => t.withinSince)).toEqual(copy.targets);
  });
});
