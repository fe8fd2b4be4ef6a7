/**
 * Requests answered by several frames (RequestOptions.more), under a fake clock: the flight stays
 * open while `more` says so, the timeout is a per-frame silence, and every single-reply guarantee
 * (refused frames, stray bytes, late frames) still holds.
 */
import { describe, expect, it, vi } from 'vitest';
import { lineSplitter } from './splitters.js';
import { MemoryLink, fakeTimerExchanges } from '../testing/fake-devices.js';
import { LinkError, type ExchangeOptions } from './types.js';

const exchange = fakeTimerExchanges();

/**
 * `blocks N` is answered by N lines `b<i>` 100 ms apart; `stall N` sends N/2 of them and stops;
 * `ping` answers `pong` after 10 ms; `probe` answers `probe-ok`.
 */
function device(line: string, link: MemoryLink): void {
  const [word, arg] = line.split(' ');
  const n = Number(arg ?? 0);
  if (word === 'blocks') for (let i = 0; i < n; i += 1) link.replyAfter(100 * (i + 1), `b${i}\n`);
  else if (word === 'stall') for (let i = 0; i < n / 2; i += 1) link.replyAfter(100 * (i + 1), `b${i}\n`);
  else if (word === 'ping') link.replyAfter(10, 'pong\n');
  else if (word === 'probe') link.replyAfter(10, 'probe-ok\n');
}

function setup(options: ExchangeOptions = {}): { ex: ReturnType<typeof exchange>; link: MemoryLink } {
  const link = new MemoryLink(device);
  const ex = exchange(link, lineSplitter(), {
    timeoutMs: 250,
    resyncProbe: { request: 'probe\n', isAnswer: (r) => r.toString() === 'probe-ok' },
    ...options,
  });
  return { ex, link };
}

/** A `more` that counts frames and wants `total` of them; it keeps only the count. */
function counting(total: number): { more: (reply: Buffer) => boolean; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    more: (reply) => {
      seen.push(reply.toString());
      return seen.length < total;
    },
  };
}

describe('Exchange: one request, several frames', () => {
  it('keeps the request in flight until more() says no and resolves with the last frame', async () => {
    const { ex } = setup();
    await ex.start();
    const c = counting(5);
    const fetched = ex.request('blocks 5\n', { more: c.more });
    const after = ex.request('ping\n');
    await vi.advanceTimersByTimeAsync(1000);
    expect((await fetched)?.toString()).toBe('b4');
    expect(c.seen).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    // The request queued behind was written only after the last frame, and answered in step.
    expect((await after)?.toString()).toBe('pong');
    expect(ex.isInStep).toBe(true);
  });

  it('reports the latency from the write to the last frame, not the gap before it', async () => {
    const { ex } = setup();
    const seen: number[] = [];
    ex.latencyObserver = (ms) => seen.push(ms);
    await ex.start();
    const c = counting(5);
    const fetched = ex.request('blocks 5\n', { more: c.more });
    await vi.advanceTimersByTimeAsync(1000);
    expect((await fetched)?.toString()).toBe('b4');
    // Five frames 100 ms apart on the fake clock: about 500 ms since the write, not the last 100 ms.
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThanOrEqual(450);
  });

  it('restarts the timeout with every frame: 20 frames 100 ms apart pass a 250 ms timeout', async () => {
    const { ex } = setup();
    await ex.start();
    const c = counting(20);
    const fetched = ex.request('blocks 20\n', { more: c.more });
    await vi.advanceTimersByTimeAsync(2500);
    expect((await fetched)?.toString()).toBe('b19');
    expect(c.seen).toHaveLength(20);
  });

  it('times out when the frames stop (a per-frame silence), and resynchronises', async () => {
    const { ex, link } = setup();
    await ex.start();
    const c = counting(10);
    const fetched = ex.request('stall 10\n', { more: c.more });
    const caught = fetched.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const err = await caught;
    expect(err).toBeInstanceOf(LinkError);
    expect((err as LinkError).code).toBe('Timeout');
    expect(c.seen).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    // After the silence the probe goes out and the link is usable again.
    const next = ex.request('ping\n');
    await vi.advanceTimersByTimeAsync(1000);
    expect((await next)?.toString()).toBe('pong');
    expect(link.writes.map((w) => w.data.trim())).toContain('probe');
  });

  it('a frame the validate refuses fails the request and puts the link out of step', async () => {
    const { ex } = setup();
    await ex.start();
    const outOfStep: string[] = [];
    ex.on('outOfStep', (why) => outOfStep.push(why));
    const c = counting(5);
    const fetched = ex.request('blocks 5\n', { more: c.more, validate: (r) => r.toString() !== 'b2' });
    const caught = fetched.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2000);
    const err = (await caught) as LinkError;
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toContain('b2');
    // more() saw only the accepted frames before the refused one.
    expect(c.seen).toEqual(['b0', 'b1']);
    expect(outOfStep).toHaveLength(1);
    // The remaining frames are strays, never a reply to the next request.
    const next = ex.request('ping\n');
    await vi.advanceTimersByTimeAsync(2000);
    expect((await next)?.toString()).toBe('pong');
  });

  it('a throw from more() fails the request with its message and resynchronises', async () => {
    const { ex } = setup();
    await ex.start();
    let calls = 0;
    const fetched = ex.request('blocks 4\n', {
      more: () => {
        calls += 1;
        if (calls === 2) throw new Error('buffer full');
        return true;
      },
    });
    const caught = fetched.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2000);
    const err = (await caught) as LinkError;
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toContain('buffer full');
    expect(ex.isInStep).toBe(true); // resynchronised by now
  });

  it('frames later than more() wanted are strays and force a resync', async () => {
    const { ex } = setup();
    await ex.start();
    const strays: string[] = [];
    ex.on('stray', (b) => strays.push(b.toString()));
    const c = counting(2); // the device sends 4
    const fetched = ex.request('blocks 4\n', { more: c.more });
    await vi.advanceTimersByTimeAsync(250);
    expect((await fetched)?.toString()).toBe('b1');
    const next = ex.request('ping\n');
    await vi.advanceTimersByTimeAsync(3000);
    expect((await next)?.toString()).toBe('pong');
    expect(strays.join(' ')).toContain('b2');
  });

  it('a link lost mid-answer fails the request at once', async () => {
    const { ex, link } = setup();
    await ex.start();
    const c = counting(10);
    const fetched = ex.request('blocks 10\n', { more: c.more });
    const caught = fetched.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(350);
    link.drop();
    const err = (await caught) as LinkError;
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toContain('lost');
    expect(c.seen).toEqual(['b0', 'b1', 'b2']);
  });

  it('a long answer does not count as a silent link (silentLinkMs shorter than the whole answer)', async () => {
    const { ex } = setup({ silentLinkMs: 1000 });
    await ex.start();
    let down = 0;
    ex.on('down', () => (down += 1));
    const c = counting(30); // 3 s of frames
    const fetched = ex.request('blocks 30\n', { more: c.more });
    await vi.advanceTimersByTimeAsync(3500);
    expect((await fetched)?.toString()).toBe('b29');
    expect(down).toBe(0);
  });
});

describe('Exchange: a resync probe made anew each time (makeRequest)', () => {
  it('sends a fresh probe on every resync and takes only its own answer', async () => {
    let n = 0;
    const link = new MemoryLink((line, l) => {
      const m = /^probe (\d+)$/.exec(line);
      if (m) l.replyAfter(10, `probe-ok ${m[1]}\n`);
      else if (line === 'ping') l.replyAfter(10, 'pong\n');
    });
    let expected = '';
    const ex = exchange(link, lineSplitter(), {
      timeoutMs: 250,
      resyncProbe: {
        request: 'unused\n',
        makeRequest: () => {
          n += 1;
          expected = `probe-ok ${n}`;
          return `probe ${n}\n`;
        },
        isAnswer: (r) => r.toString() === expected,
      },
    });
    await ex.start();
    for (let round = 0; round < 2; round++) {
      const silent = ex.request('silent\n').catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(1000);
      expect(await silent).toBeInstanceOf(LinkError);
      const next = ex.request('ping\n');
      await vi.advanceTimersByTimeAsync(1000);
      expect((await next)?.toString()).toBe('pong');
    }
    const probes = link.writes.map((w) => w.data.trim()).filter((l) => l.startsWith('probe'));
    expect(probes).toEqual(['probe 1', 'probe 2']);
  });
});
