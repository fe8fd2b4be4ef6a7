/**
 * The alarm engine alone, with a fake clock: every input carries its time, and `tick` is called
 * where the monitor's timer would fire.
 */
import { describe, expect, it } from 'vitest';
import { AlarmEngine, alarmConfigProblems, type AlarmConfig, type AlarmStatus, type AlarmTransition } from '../src/monitor/alarms.js';
import type { PeerValue } from '../src/monitor/types.js';

type Step =
  | { t: number; set: Record<string, PeerValue>; client?: string }
  | { t: number; link: boolean; client?: string }
  | { t: number; tick: true }
  | { t: number; ack: string };

/** Runs the steps; returns the state after each and every transition. */
function run(def: AlarmConfig, steps: Step[]): { states: AlarmStatus[]; transitions: AlarmTransition[]; engine: AlarmEngine } {
  const engine = new AlarmEngine([def], 0);
  const transitions: AlarmTransition[] = [];
  const states: AlarmStatus[] = [];
  for (const s of steps) {
    if ('set' in s) transitions.push(...engine.update(s.client ?? 'chiller', s.set, s.t));
    else if ('link' in s) transitions.push(...engine.link(s.client ?? 'chiller', s.link, s.t));
    else if ('tick' in s) transitions.push(...engine.tick(s.t));
    else transitions.push(engine.acknowledge(s.ack, 'alice', s.t));
    states.push(engine.state(def.id)!.state);
  }
  return { states, transitions, engine };
}

const hot: AlarmConfig = { id: 'hot', type: 'threshold', param: 'chiller.temperature', above: 30, hysteresis: 1 };

describe('alarm engine: table of cases', () => {
  const cases: Array<{ name: string; def: AlarmConfig; steps: Step[]; states: AlarmStatus[] }> = [
    {
      name: 'threshold above, no delay: raises at once, clears only below the hysteresis band',
      def: hot,
      steps: [{ t: 0, set: { temperature: 25 } }, { t: 1, set: { temperature: 31 } }, { t: 2, set: { temperature: 29.5 } }, { t: 3, set: { temperature: 28.9 } }],
      states: ['ok', 'raised', 'raised', 'cleared'],
    },
    {
      name: 'threshold below',
      def: { id: 'cold', type: 'threshold', param: 'chiller.temperature', below: 5, hysteresis: 0.5 },
      steps: [{ t: 0, set: { temperature: 4 } }, { t: 1, set: { temperature: 5.2 } }, { t: 2, set: { temperature: 5.5 } }],
      states: ['raised', 'raised', 'cleared'],
    },
    {
      name: 'delay: a short excursion never raises; a long one raises when the delay ends',
      def: { ...hot, delayMs: 1000 },
      steps: [
        { t: 0, set: { temperature: 31 } },
        { t: 500, set: { temperature: 29 } },
        { t: 1000, tick: true },
        { t: 2000, set: { temperature: 32 } },
        { t: 2999, tick: true },
        { t: 3000, tick: true },
      ],
      states: ['pending', 'ok', 'ok', 'pending', 'pending', 'raised'],
    },
    {
      name: 'clear delay: the value must stay clear',
      def: { ...hot, clearDelayMs: 500 },
      steps: [
        { t: 0, set: { temperature: 31 } },
        { t: 100, set: { temperature: 28 } },
        { t: 300, set: { temperature: 29.5 } },
        { t: 400, set: { temperature: 28 } },
        { t: 800, tick: true },
        { t: 900, tick: true },
      ],
      states: ['raised', 'raised', 'raised', 'raised', 'raised', 'cleared'],
    },
    {
      name: 'deviation with setpoint and temperature in either order',
      def: { id: 'dev', type: 'deviation', param: 'chiller.temperature', reference: 'chiller.setpoint', maxDeviation: 2, hysteresis: 0.5 },
      steps: [
        { t: 0, set: { temperature: 20, setpoint: 20 } },
        { t: 1, set: { setpoint: 30 } },
        { t: 2, set: { temperature: 28.2 } },
        { t: 3, set: { temperature: 28.6 } },
      ],
      states: ['ok', 'raised', 'raised', 'cleared'],
    },
    {
      name: 'rate of change per minute over the window',
      def: { id: 'fast', type: 'rate', param: 'chiller.temperature', maxRatePerMinute: 1, rateWindowMs: 60_000 },
      steps: [
        { t: 0, set: { temperature: 20 } },
        { t: 30_000, set: { temperature: 20.2 } },
        { t: 60_000, set: { temperature: 22 } },
        { t: 120_000, set: { temperature: 22.1 } },
        { t: 180_000, set: { temperature: 22.2 } },
      ],
      states: ['ok', 'ok', 'raised', 'cleared', 'cleared'],
    },
    {
      name: 'disconnected: counts from the start, clears on connect',
      def: { id: 'down', type: 'disconnected', client: 'chiller', delayMs: 2000 },
      steps: [{ t: 1000, link: true }, { t: 5000, link: false }, { t: 6000, tick: true }, { t: 7000, tick: true }, { t: 7500, link: true }],
      states: ['ok', 'pending', 'pending', 'raised', 'cleared'],
    },
    {
      name: 'state_error; missing values keep the state',
      def: { id: 'err', type: 'state_error', client: 'chiller' },
      steps: [{ t: 0, set: { state: 'idle' } }, { t: 1, set: { state: 'error' } }, { t: 2, link: false }, { t: 3, link: true }, { t: 4, set: { state: 'idle' } }],
      states: ['ok', 'raised', 'raised', 'raised', 'cleared'],
    },
    {
      name: 'activeWhen: nothing raises while the chiller is stopped; a raised alarm clears when it stops',
      def: { ...hot, activeWhen: 'chiller.running=1' },
      steps: [
        { t: 0, set: { running: 0, temperature: 35 } },
        { t: 1, set: { running: 1 } },
        { t: 2, set: { running: 0 } },
      ],
      states: ['ok', 'raised', 'cleared'],
    },
    {
      name: 'acknowledged, then cleared; the next fault starts a new occurrence',
      def: hot,
      steps: [{ t: 0, set: { temperature: 31 } }, { t: 1, ack: 'hot' }, { t: 2, set: { temperature: 20 } }, { t: 3, set: { temperature: 40 } }],
      states: ['raised', 'acknowledged', 'cleared', 'raised'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(run(c.def, c.steps).states).toEqual(c.states);
    });
  }
});

describe('alarm engine: flapping and details', () => {
  it('a value flapping around the threshold raises once and does not clear while inside the band', () => {
    const steps: Step[] = [];
    for (let i = 0; i < 200; i++) steps.push({ t: i * 100, set: { temperature: i % 2 === 0 ? 30.3 : 29.7 } });
    const { transitions } = run({ ...hot, hysteresis: 1 }, steps);
    expect(transitions.map((t) => t.to)).toEqual(['pending', 'raised']);
    // Without hysteresis the same signal flaps 100 times: the predecessor's bug.
    const bare = run({ ...hot, hysteresis: 0 }, steps).transitions.filter((t) => t.to === 'raised' || t.to === 'cleared');
    expect(bare.length).toBeGreaterThanOrEqual(199);
  });

  it('flapping faster than the delay never raises', () => {
    const steps: Step[] = [];
    for (let i = 0; i < 100; i++) {
      steps.push({ t: i * 100, set: { temperature: i % 2 === 0 ? 31 : 28 } });
      steps.push({ t: i * 100 + 50, tick: true });
    }
    const { transitions } = run({ ...hot, delayMs: 500 }, steps);
    expect(transitions.some((t) => t.to === 'raised')).toBe(false);
  });

  it('nextDeadline tells the monitor when to tick', () => {
    const engine = new AlarmEngine([{ ...hot, delayMs: 1000 }], 0);
    expect(engine.nextDeadline()).toBeUndefined();
    engine.update('chiller', { temperature: 31 }, 200);
    expect(engine.nextDeadline()).toBe(1200);
    expect(engine.tick(1199)).toEqual([]);
    expect(engine.tick(1200).map((t) => t.to)).toEqual(['raised']);
    expect(engine.nextDeadline()).toBeUndefined();
  });

  it('acknowledgement keeps who and when, and refuses what is not raised', () => {
    const engine = new AlarmEngine([hot], 0);
    expect(() => engine.acknowledge('hot', 'bob', 1)).toThrow(/is ok, not raised/);
    expect(() => engine.acknowledge('nope', 'bob', 1)).toThrow(/no alarm "nope"; alarms: hot/);
    engine.update('chiller', { temperature: 31 }, 10);
    const tr = engine.acknowledge('hot', 'bob', 20);
    expect(tr).toMatchObject({ from: 'raised', to: 'acknowledged', who: 'bob', state: { acknowledgedBy: 'bob', acknowledgedAt: 20, raisedAt: 10 } });
    expect(() => engine.acknowledge('hot', 'carol', 30)).toThrow(/already acknowledged by bob/);
    expect(engine.active().map((a) => a.id)).toEqual(['hot']);
  });

  it('transitions carry severity, a message and the value', () => {
    const engine = new AlarmEngine([{ id: 'dev', type: 'deviation', param: 'chiller.temperature', reference: 'chiller.setpoint', maxDeviation: 2, severity: 'critical' }], 0);
    const [, raised] = engine.update('chiller', { temperature: 20, setpoint: 35 }, 5);
    expect(raised).toMatchObject({ id: 'dev', to: 'raised', severity: 'critical', value: -15, message: 'chiller.temperature deviates from chiller.setpoint by more than 2 (-15)' });
  });

  it('definitions are checked with clear messages', () => {
    expect(
      alarmConfigProblems(
        [
          { id: 'a', type: 'threshold', param: 'chiller.temperature' },
          { id: 'a', type: 'deviation', param: 'temperature', maxDeviation: 1 } as AlarmConfig,
          { id: 'c', type: 'disconnected', client: 'oven' },
          { id: 'd', type: 'threshold', param: 'chiller.t', above: 1, activeWhen: 'chiller.running=' },
        ],
        new Set(['chiller']),
      ),
    ).toEqual([
      'alarm 1 "a": a threshold alarm needs above, below or both',
      'alarm 2 "a": the id is used twice',
      'alarm 2 "a": param must be <client>.<param>, e.g. chiller.temperature',
      'alarm 2 "a": reference must be <client>.<param>, e.g. chiller.temperature',
      'alarm 3 "c": client "oven" is not configured; clients: chiller',
      "alarm 4 \"d\": activeWhen: condition 'chiller.running=' has no value after '='",
    ]);
    expect(() => new AlarmEngine([{ id: 'x', type: 'rate', param: 'a.b' } as AlarmConfig], 0)).toThrow(/maxRatePerMinute is required/);
  });
});

describe('alarm engine: restore after a monitor restart', () => {
  const delayed: AlarmConfig = { ...hot, delayMs: 1000, clearDelayMs: 500 };
  const acked = { state: 'acknowledged', raisedAt: -5000, acknowledgedBy: 'alice', acknowledgedAt: -4000 } as const;

  it('a restored acknowledgement holds through the fault and past the delay: no transition, same who', () => {
    const engine = new AlarmEngine([delayed], 0);
    expect(engine.restore('hot', acked, 0)).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice', acknowledgedAt: -4000, raisedAt: -5000, since: -4000 });
    const transitions = [
      ...engine.link('chiller', true, 10),
      ...engine.update('chiller', { temperature: 35 }, 20),
      ...engine.tick(1020),
      ...engine.tick(5000),
      ...engine.update('chiller', { temperature: 36 }, 6000),
    ];
    expect(transitions).toEqual([]);
    expect(engine.nextDeadline()).toBeUndefined();
    expect(engine.state('hot')).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice', raisedAt: -5000, value: 36 });
    expect(() => engine.acknowledge('hot', 'bob', 6100)).toThrow(/already acknowledged by alice/);
  });

  it('the same restart without restore raises again after the delay (the gap restore closes)', () => {
    const engine = new AlarmEngine([delayed], 0);
    engine.update('chiller', { temperature: 35 }, 20);
    expect(engine.tick(1020).map((t) => t.to)).toEqual(['raised']);
  });

  it('a restored alarm clears through hysteresis and the clear delay, then a new fault is a new occurrence', () => {
    const engine = new AlarmEngine([delayed], 0);
    engine.restore('hot', acked, 0);
    expect(engine.update('chiller', { temperature: 29.5 }, 100)).toEqual([]); // inside the hysteresis band
    expect(engine.update('chiller', { temperature: 28 }, 200)).toEqual([]);
    expect(engine.nextDeadline()).toBe(700);
    expect(engine.tick(699)).toEqual([]);
    const [cleared] = engine.tick(700);
    expect(cleared).toMatchObject({ from: 'acknowledged', to: 'cleared', t: 700, state: { raisedAt: -5000, acknowledgedBy: 'alice', clearedAt: 700 } });
    engine.update('chiller', { temperature: 31 }, 800);
    expect(engine.tick(1800).map((t) => [t.from, t.to])).toEqual([['pending', 'raised']]);
    expect(engine.state('hot')).toMatchObject({ state: 'raised', raisedAt: 1800 });
    expect(engine.state('hot')!.acknowledgedBy).toBeUndefined();
  });

  it('unknown values right after the start keep the restored state: no updates, a link flap, other parameters', () => {
    const engine = new AlarmEngine([hot], 0);
    engine.restore('hot', { state: 'raised', raisedAt: -100 }, 0);
    expect(engine.tick(60_000)).toEqual([]);
    expect(engine.link('chiller', true, 60_001)).toEqual([]);
    expect(engine.update('chiller', { setpoint: 20, temperature: 'nan' }, 60_002)).toEqual([]);
    expect(engine.link('chiller', false, 60_003)).toEqual([]);
    expect(engine.state('hot')).toMatchObject({ state: 'raised', raisedAt: -100, since: -100, value: null });
    // A restored raised alarm is acknowledged as usual.
    expect(engine.acknowledge('hot', 'bob', 60_004)).toMatchObject({ from: 'raised', to: 'acknowledged', who: 'bob', state: { raisedAt: -100 } });
  });

  it('disconnected: a restored alarm stays raised while the client is down, past its delay, and clears on connect', () => {
    const engine = new AlarmEngine([{ id: 'down', type: 'disconnected', client: 'chiller', delayMs: 2000 }], 0);
    expect(engine.restore('down', { state: 'raised', raisedAt: -9000 }, 0)).toMatchObject({ state: 'raised' });
    expect(engine.nextDeadline()).toBeUndefined();
    expect(engine.tick(2000)).toEqual([]);
    expect(engine.tick(10_000)).toEqual([]);
    expect(engine.link('chiller', true, 10_500).map((t) => [t.from, t.to])).toEqual([['raised', 'cleared']]);
  });

  it('activeWhen: a condition whose values have not arrived yet does not clear a restored alarm', () => {
    const def: AlarmConfig = { ...hot, activeWhen: 'pump.running=1' };
    const engine = new AlarmEngine([def], 0);
    engine.restore('hot', acked, 0);
    // The chiller's snapshot comes first; the pump's values are still unknown.
    expect(engine.update('chiller', { temperature: 35 }, 10)).toEqual([]);
    expect(engine.link('pump', true, 20)).toEqual([]);
    expect(engine.state('hot')).toMatchObject({ state: 'acknowledged', value: 35 });
    expect(engine.update('pump', { running: 1 }, 30)).toEqual([]);
    // From here on the condition is known, and its rules apply as before the restart.
    expect(engine.update('pump', { running: 0 }, 40).map((t) => [t.from, t.to])).toEqual([['acknowledged', 'cleared']]);
  });

  it('activeWhen known to be false at the first values clears the restored alarm', () => {
    const engine = new AlarmEngine([{ ...hot, activeWhen: 'chiller.running=1' }], 0);
    engine.restore('hot', { state: 'raised', raisedAt: -1 }, 0);
    expect(engine.update('chiller', { running: 0, temperature: 35 }, 10).map((t) => [t.from, t.to])).toEqual([['raised', 'cleared']]);
  });

  it('unknown ids are ignored; restore after evaluation and malformed states are refused', () => {
    const engine = new AlarmEngine([hot], 0);
    expect(engine.restore('removed_from_config', { state: 'raised', raisedAt: 1 }, 0)).toBeUndefined();
    expect(() => engine.restore('hot', { state: 'acknowledged', raisedAt: 1 }, 0)).toThrow(/needs acknowledgedBy and acknowledgedAt/);
    expect(() => engine.restore('hot', { state: 'pending' as 'raised', raisedAt: 1 }, 0)).toThrow(/only raised or acknowledged/);
    expect(() => engine.restore('hot', { state: 'raised', raisedAt: Number.NaN }, 0)).toThrow(/raisedAt/);
    expect(engine.state('hot')!.state).toBe('ok');
    engine.update('chiller', { temperature: 20 }, 1);
    expect(() => engine.restore('hot', { state: 'raised', raisedAt: 1 }, 2)).toThrow(/only possible before/);
  });
});
