import { describe, expect, it } from 'vitest';
import { fmtClock, fmtDate, fmtDateTime, fmtInputDateTime, parseInputDateTime, timeAxisLabels } from './format.js';

// Local times: the page shows the browser's time zone.
const t = new Date(2026, 11, 4, 16, 50, 7).getTime();

describe('the page\'s one time form (ISO date, 24-hour clock, local time)', () => {
  it('formats dates, clocks and date-times', () => {
    expect(fmtDate(t)).toBe('2026-12-04');
    expect(fmtClock(t)).toBe('16:50:07');
    expect(fmtDateTime(t)).toBe('2026-12-04 16:50');
    expect(fmtDateTime(t, true)).toBe('2026-12-04 16:50:07');
  });

  it('labels time axes in 24-hour form with the date where the day changes, never am/pm or month-first', () => {
    const s = t / 1000;
    const hourly = timeAxisLabels([s, s + 3600, s + 8 * 3600], 3600);
    expect(hourly).toEqual(['16:50\n2026-12-04', '17:50', '00:50\n2026-12-05']);
    expect(timeAxisLabels([s, s + 10], 10)).toEqual(['16:50:07\n2026-12-04', '16:50:17']);
    expect(timeAxisLabels([s, s + 86_400], 86_400)).toEqual(['2026-12-04', '2026-12-05']);
    for (const label of [...hourly, ...timeAxisLabels([s], 60)]) {
      expect(label).not.toMatch(/am|pm/i);
      expect(label).not.toMatch(/\d+\/\d+/);
    }
  });

  it('reads and writes typed date-times in the same form', () => {
    expect(fmtInputDateTime(t)).toBe('2026-12-04 16:50');
    expect(parseInputDateTime(' 2026-12-04 16:50 ')).toBe(new Date(2026, 11, 4, 16, 50).getTime());
    expect(parseInputDateTime('2026-12-04T16:50')).toBe(new Date(2026, 11, 4, 16, 50).getTime());
    expect(parseInputDateTime('2026-12-04T16:50:07')).toBe(t);
    expect(parseInputDateTime('yesterday')).toBeUndefined();
  });
});
