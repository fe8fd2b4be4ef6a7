import { describe, expect, it } from 'vitest';
import { parseRoute, routeHref } from './route.js';

describe('page routes', () => {
  it('parses every view, with the overview as the default', () => {
    expect(parseRoute('').view).toBe('overview');
    expect(parseRoute('#/').view).toBe('overview');
    expect(parseRoute('#/nonsense').view).toBe('overview');
    expect(parseRoute('#/history?series=julabo%2Ftemperature&range=1h').params.get('series')).toBe('julabo/temperature');
    expect(parseRoute('#/log').view).toBe('log');
  });
  it('round-trips device names with dots and slashes as one segment', () => {
    for (const name of ['julabo', 'room1/cryocon', 'a.b c', '%odd%']) {
      const r = parseRoute(routeHref('device', { device: name }));
      expect(r).toMatchObject({ view: 'device', device: name });
    }
  });
  it('keeps view state in the query', () => {
    const href = routeHref('history', { params: { from: '2026-12-01T00:00', to: 'now' } });
    expect(href).toBe('#/history?from=2026-12-01T00%3A00&to=now');
    expect(parseRoute(href).params.get('from')).toBe('2026-12-01T00:00');
  });
  it('a malformed device segment falls back to the overview', () => {
    expect(parseRoute('#/device/%E0%A4%A').view).toBe('overview');
  });
});
