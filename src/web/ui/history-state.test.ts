import { describe, expect, it } from 'vitest';
import { DEFAULT_RANGE, historyParams, historySpan, parseHistoryParams, seriesInSpan, shownCsv, visibleSpan } from './history-state.js';

describe('the history explorer\'s view in route parameters', () => {
  it('pairs device and name parameters, keeping dotted names whole, and round-trips', () => {
    const q = new URLSearchParams('device=cryo&name=chA.temperature&device=chiller&name=setpoint&range=1d&follow=1');
    const state = parseHistoryParams(q);
    expect(state).toEqual({ series: [{ device: 'cryo', name: 'chA.temperature' }, { device: 'chiller', name: 'setpoint' }], range: '1d', follow: true });
    expect(historyParams(state).toString()).toBe(q.toString());
  });

  it('takes an absolute range from from/to (no follow), and falls back to the last hour', () => {
    const abs = parseHistoryParams(new URLSearchParams('from=1000&to=5000&follow=1'));
    expect(abs).toEqual({ series: [], range: null, from: 1000, to: 5000, follow: false });
    expect(historySpan(abs, 10_000)).toEqual({ from: 1000, to: 5000 });
    expect(historyParams(abs).toString()).toBe('from=1000&to=5000');
    const bad = parseHistoryParams(new URLSearchParams('from=9&to=1&range=nonsense'));
    expect(bad.range).toBe('1h');
    expect(historySpan(bad, 10_000_000)).toEqual({ from: 10_000_000 - 3_600_000, to: 10_000_000 });
  });

  it('writes the CSV of what is shown: a column per series, empty where a series has no point', () => {
    const csv = shownCsv([
      { ref: { device: 'cryo', name: 'chA.temperature' }, unit: 'K', points: [[0, 4], [2000, null]] },
      { ref: { device: 'chiller', name: 'setpoint' }, unit: '°C', points: [[1000, 20]] },
    ]);
    expect(csv).toBe(
      'time_iso,t_ms,cryo chA.temperature (K),chiller setpoint (°C)\n' +
        '1970-01-01T00:00:00.000Z,0,4,\n' +
        '1970-01-01T00:00:01.000Z,1000,,20\n' +
        '1970-01-01T00:00:02.000Z,2000,,\n',
    );
  });
  it('treats an empty from or to as absent, not as 1970', () => {
    const st = parseHistoryParams(new URLSearchParams('from=&to=1700000000000'));
    expect(st.range).toBe(DEFAULT_RANGE);
    expect(st.from).toBeUndefined();
    expect(parseHistoryParams(new URLSearchParams('from=1700000000000&to=')).range).toBe(DEFAULT_RANGE);
    expect(parseHistoryParams(new URLSearchParams('from=%20&to=1700000000000')).range).toBe(DEFAULT_RANGE);
    expect(parseHistoryParams(new URLSearchParams('from=1000&to=2000'))).toMatchObject({ range: null, from: 1000, to: 2000 });
  });
  it('in follow mode shows the range up to now, not the span loaded; the CSV keeps only the points in it', () => {
    const loaded = { from: 0, to: 600_000 };
    const follow = parseHistoryParams(new URLSearchParams('range=10m&follow=1'));
    expect(visibleSpan(follow, loaded, 900_000)).toEqual({ from: 300_000, to: 900_000 });
    const still = parseHistoryParams(new URLSearchParams('range=10m'));
    expect(visibleSpan(still, loaded, 900_000)).toEqual(loaded);
    const shown = [{ ref: { device: 'd', name: 'a' }, unit: '', points: [[100_000, 1], [300_000, 2], [899_000, 3]] as Array<[number, number | null]> }];
    const cut = seriesInSpan(shown, visibleSpan(follow, loaded, 900_000));
    expect(cut[0]!.points).toEqual([[300_000, 2], [899_000, 3]]);
    expect(shownCsv(cut).trim().split('\n')).toHaveLength(3);
    expect(shown[0]!.points).toHaveLength(3);
  });
});
