import { describe, expect, it } from 'vitest';
import { eventually } from '../../../testing/eventually.js';
import { MAX_QUEUED_REQUESTS, RequestPacer } from './request-pacer.js';

describe('RequestPacer', () => {
  it('delay: runs requests in order, each no sooner than the minimum gap after the previous start', async () => {
    const p = new RequestPacer(() => 20, () => 'delay');
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) p.submit(() => starts.push(performance.now()));
    expect(starts).toHaveLength(1);
    await eventually(() => expect(starts).toHaveLength(4));
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(19);
    expect(p.stats).toMatchObject({ requests: 4, earlyRequests: 3, dropped: 0 });
    p.close();
  });

  it('drop: loses requests that come too early and measures from the last accepted one', () => {
    let now = 0;
    const p = new RequestPacer(() => 100, () => 'drop', () => now);
    const ran: number[] = [];
    expect(p.submit(() => ran.push(0))).toBe(true);
    now = 50;
    expect(p.submit(() => ran.push(50))).toBe(false);
    now = 120;
    expect(p.submit(() => ran.push(120))).toBe(true);
    expect(ran).toEqual([0, 120]);
    expect(p.stats).toEqual({ requests: 3, earlyRequests: 1, dropped: 1, minRequestGapMs: 50 });
  });

  it('accept: runs at once and only counts early requests', () => {
    let now = 0;
    const p = new RequestPacer(() => 250, () => 'accept', () => now);
    const ran: number[] = [];
    for (const t of [0, 100, 400]) {
      now = t;
      p.submit(() => ran.push(t));
    }
    expect(ran).toEqual([0, 100, 400]);
    expect(p.stats).toEqual({ requests: 3, earlyRequests: 1, dropped: 0, minRequestGapMs: 100 });
  });

  it('delay: a flood waits in a bounded queue; requests beyond it are lost and counted', () => {
    // The clock stands still: every request after the first is early and must wait.
    const p = new RequestPacer(() => 60_000, () => 'delay', () => 0);
    const ran: number[] = [];
    const accepted: boolean[] = [];
    for (let i = 0; i < MAX_QUEUED_REQUESTS + 500; i++) accepted.push(p.submit(() => ran.push(i)));
    expect(MAX_QUEUED_REQUESTS).toBe(1000);
    expect(ran).toEqual([0]);
    expect(accepted.filter(Boolean)).toHaveLength(1 + MAX_QUEUED_REQUESTS);
    expect(accepted.slice(0, 1 + MAX_QUEUED_REQUESTS).every(Boolean)).toBe(true);
    expect(p.stats).toEqual({ requests: MAX_QUEUED_REQUESTS + 500, earlyRequests: MAX_QUEUED_REQUESTS + 499, dropped: 499, minRequestGapMs: 0 });
    p.close();
  });

  it('delay: once the queue has drained, requests are taken again, in order', async () => {
    const p = new RequestPacer(() => 5, () => 'delay', undefined, 3);
    const ran: number[] = [];
    const accepted = Array.from({ length: 10 }, (_v, i) => p.submit(() => ran.push(i)));
    expect(accepted).toEqual([true, true, true, true, false, false, false, false, false, false]);
    await eventually(() => expect(ran).toEqual([0, 1, 2, 3]));
    expect(p.submit(() => ran.push(10))).toBe(true);
    await eventually(() => expect(ran).toEqual([0, 1, 2, 3, 10]));
    expect(p.stats).toMatchObject({ requests: 11, dropped: 6 });
    p.close();
  });
});
