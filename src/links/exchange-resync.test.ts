/**
 * Reply pairing under a fake clock (issue 10 §1): once a link is out of step — a timeout, a reply
 * that cannot be right, bytes nobody asked for — no reply is taken by position until the line has
 * been silent for the reply timeout and the resync probe has been answered; a link that stays out
 * of step for silentLinkMs counts as failed.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Exchange } from './exchange.js';
import { lineSplitter } from './splitters.js';
import { MemoryLink, fakeTimerExchanges } from '../testing/fake-devices.js';
import { LinkError, type ExchangeOptions } from './types.js';

const exchange = fakeTimerExchanges();

/** `PROBE` is the resync probe; its answer `ID unit` is the only reply starting with `ID `. */
const probe: ExchangeOptions['resyncProbe'] = {
  request: 'PROBE\r',
  isAnswer: (reply) => reply.toString('latin1').startsWith('ID '),
};

/** Answers `q N` with `q N=ok` after 10 ms; `PROBE` with `ID unit` after 10 ms. */
type Plan = (line: string, link: MemoryLink) => boolean;

function setup(plan: Plan, options: ExchangeOptions = {}): { ex: Exchange; link: MemoryLink; log: string[] } {
  const link = new MemoryLink((line, l) => {
    if (plan(line, l)) return;
    if (line === 'PROBE') l.replyAfter(10, 'ID unit\r\n');
    else l.replyAfter(10, `${line}=ok\r\n`);
  });
  const ex = exchange(link, lineSplitter(), { timeoutMs: 100, resyncProbe: probe, ...options });
  const log: string[] = [];
  ex.on('stray', (b) => log.push(`stray ${b.toString('latin1').trim()}`));
  ex.on('timeout', (r) => log.push(`timeout ${r}`));
  ex.on('outOfStep', () => log.push('out of step'));
  ex.on('inStep', () => log.push('in step'));
  ex.on('down', (r) => log.push(`down ${r}`));
  return { ex, link, log };
}

const writes = (link: MemoryLink): string[] =>
  link.writes.map((w) => `${Math.round(w.at - (link.writes[0]?.at ?? 0))} ${w.data.replace(/\r$/, '')}`);
const text = async (p: Promise<Buffer | undefined>): Promise<string | undefined> => (await p)?.toString('latin1');
const settled = (p: Promise<unknown>): Promise<unknown> => p.then((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v), (e: unknown) => e);

describe('Exchange out of step (fake clock)', () => {
  it('after a timeout: silence for the reply timeout, then the probe; the queued request only after its answer', async () => {
    // The reply to `slow` comes 150 ms after the write: 50 ms after its 100 ms timeout.
    const { ex, link, log } = setup((line, l) => line === 'slow' && (l.replyAfter(150, 'slow=late\r\n'), true));
    await ex.start();
    const slow = settled(ex.request('slow\r'));
    const next = ex.request('q 1\r');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await slow).toMatchObject({ code: 'Timeout' });
    expect(await text(next)).toBe('q 1=ok');
    // Timeout at 100, late reply at 150, 100 ms of silence: probe at 250, answered at 260.
    expect(writes(link)).toEqual(['0 slow', '250 PROBE', '260 q 1']);
    expect(log).toEqual(['out of step', 'timeout slow', 'stray slow=late', 'in step']);
  });

  it('a reply later than timeout and silence together is discarded while the probe waits, never paired', async () => {
    // 230 ms late: after the 100 ms timeout and 100 ms of silence, i.e. after the probe went out.
    const { ex, link, log } = setup((line, l) => {
      if (line === 'slow') l.replyAfter(230, 'slow=late\r\n');
      else if (line === 'PROBE') l.replyAfter(40, 'ID unit\r\n');
      else return false;
      return true;
    });
    await ex.start();
    const slow = settled(ex.request('slow\r'));
    const next = ex.request('q 1\r');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await slow).toMatchObject({ code: 'Timeout' });
    expect(await text(next)).toBe('q 1=ok');
    expect(writes(link)).toEqual(['0 slow', '200 PROBE', '240 q 1']);
    expect(log).toEqual(['out of step', 'timeout slow', 'stray slow=late', 'in step']);
  });

  it('without a probe, trusts the silence alone (default: one reply timeout)', async () => {
    const { ex, link } = setup((line, l) => line === 'slow' && (l.replyAfter(150, 'slow=late\r\n'), true), { resyncProbe: undefined });
    await ex.start();
    const slow = settled(ex.request('slow\r'));
    const next = ex.request('q 1\r');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await slow).toMatchObject({ code: 'Timeout' });
    expect(await text(next)).toBe('q 1=ok');
    expect(writes(link)).toEqual(['0 slow', '250 q 1']);
  });

  it('a duplicated reply never answers the next request: it arrives unasked and the link resyncs', async () => {
    const { ex, link, log } = setup(
      (line, l) => {
        if (line !== 'q 1') return false;
        l.replyAfter(10, 'q 1=ok\r\n');
        l.replyAfter(15, 'q 1=ok\r\n');
        return true;
      },
      { minGapMs: 20 },
    );
    await ex.start();
    const first = ex.request('q 1\r');
    const second = ex.request('q 2\r');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await text(first)).toBe('q 1=ok');
    expect(await text(second)).toBe('q 2=ok');
    // Duplicate at 15 while nothing was in flight: 100 ms silence, probe at 115, q 2 after its answer.
    expect(writes(link)).toEqual(['0 q 1', '115 PROBE', '135 q 2']);
    expect(log).toEqual(['stray q 1=ok', 'out of step', 'in step']);
  });

  it('unsolicited output puts the link out of step too', async () => {
    const { ex, link, log } = setup(() => false);
    await ex.start();
    link.emit('data', Buffer.from('HELLO\r\n'));
    const next = ex.request('q 1\r');
    await vi.advanceTimersByTimeAsync(500);
    expect(await text(next)).toBe('q 1=ok');
    expect(writes(link)).toEqual(['0 PROBE', '10 q 1']);
    expect(log).toEqual(['stray HELLO', 'out of step', 'in step']);
  });

  it('a reply of the wrong shape fails its request, is never returned, and the link resyncs', async () => {
    const { ex, link } = setup((line, l) => line === 'q 1' && (l.replyAfter(10, 'ID unit\r\n'), true));
    await ex.start();
    const isOk = (r: Buffer): boolean => r.toString('latin1').endsWith('=ok');
    const bad = settled(ex.request('q 1\r', { validate: isOk }));
    const next = ex.request('q 2\r', { validate: isOk });
    await vi.advanceTimersByTimeAsync(1000);
    expect(await bad).toMatchObject({ code: 'CommunicationFailed', message: 'unexpected reply "ID unit" to "q 1" from memory://device' });
    expect(await text(next)).toBe('q 2=ok');
    expect(writes(link)).toEqual(['0 q 1', '110 PROBE', '120 q 2']);
  });

  it('an unanswered probe: silence again, probe again', async () => {
    let probes = 0;
    const { ex, link, log } = setup((line, l) => {
      if (line === 'slow') return true;
      if (line === 'PROBE' && ++probes === 1) return true;
      void l;
      return false;
    });
    await ex.start();
    const slow = settled(ex.request('slow\r'));
    const next = ex.request('q 1\r');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await slow).toMatchObject({ code: 'Timeout' });
    expect(await text(next)).toBe('q 1=ok');
    expect(writes(link)).toEqual(['0 slow', '200 PROBE', '400 PROBE', '410 q 1']);
    expect(log).toEqual(['out of step', 'timeout slow', 'timeout PROBE', 'in step']);
  });

  it('a garbled probe answer: the next probe goes out after one silence, not after the probe timeout as well', async () => {
    let probes = 0;
    const { ex, link } = setup(
      (line, l) => {
        if (line === 'slow') return true;
        if (line === 'PROBE' && ++probes === 1) return (l.replyAfter(10, '#?garbled\r\n'), true);
        return false;
      },
      { resyncProbe: { ...probe!, timeoutMs: 1000 } },
    );
    await ex.start();
    const slow = settled(ex.request('slow\r'));
    const next = ex.request('q 1\r');
    await vi.advanceTimersByTimeAsync(2000);
    await slow;
    expect(await text(next)).toBe('q 1=ok');
    // Garbage at 210, then 100 ms of silence: the second probe at 310, not at 1200.
    expect(writes(link)).toEqual(['0 slow', '200 PROBE', '310 PROBE', '320 q 1']);
  });

  it('a probe answer that comes too late for its probe is refused by the shape check of the request it lands on', async () => {
    let probes = 0;
    const { ex, link } = setup((line, l) => {
      if (line === 'slow') return true;
      // The first probe's answer comes after its timeout and the silence: while q 1 is in flight.
      if (line === 'PROBE' && ++probes === 1) return (l.replyAfter(205, 'ID unit\r\n'), true);
      if (line === 'q 1') return true;
      return false;
    });
    await ex.start();
    const isOk = (r: Buffer): boolean => r.toString('latin1').endsWith('=ok');
    const slow = settled(ex.request('slow\r'));
    const q1 = settled(ex.request('q 1\r', { validate: isOk, timeoutMs: 1000 }));
    const q2 = ex.request('q 2\r', { validate: isOk });
    await vi.advanceTimersByTimeAsync(3000);
    await slow;
    expect(await q1).toMatchObject({ code: 'CommunicationFailed', message: 'unexpected reply "ID unit" to "q 1" from memory://device' });
    expect(await text(q2)).toBe('q 2=ok');
    expect(writes(link).map((w) => w.replace(/^\d+ /, ''))).toEqual(['slow', 'PROBE', 'PROBE', 'q 1', 'PROBE', 'q 2']);
  });
});

describe('Exchange silent link (fake clock)', () => {
  it('a device that stops answering: down exactly silentLinkMs after the first unanswered write; queued requests fail unsent', async () => {
    let mute = false;
    const { ex, link, log } = setup(() => mute, { silentLinkMs: 1000, initialBackoffMs: 60_000 });
    await ex.start();
    const first = ex.request('q 1\r');
    await vi.advanceTimersByTimeAsync(40);
    expect(await text(first)).toBe('q 1=ok');
    mute = true;
    const started = performance.now();
    const lost = settled(ex.request('q 2\r'));
    const queued = settled(ex.request('q 3\r'));
    await vi.advanceTimersByTimeAsync(999);
    expect(ex.isUp).toBe(true);
    expect(log.filter((l) => l.startsWith('down'))).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ex.isUp).toBe(false);
    expect(performance.now() - started).toBe(1000);
    expect(await lost).toMatchObject({ code: 'Timeout' });
    const reason = 'the device does not answer: nothing came from memory://device for 1 s (is it switched on, cabled, and in remote mode?)';
    expect(log.at(-1)).toBe(`down ${reason}`);
    expect(await queued).toMatchObject({ code: 'CommunicationFailed', message: `no link to memory://device: ${reason}; reconnecting` });
    // Probes at 200, 400, 600, 800 (each after 100 ms of silence and a 100 ms wait); q 3 never sent.
    expect(writes(link).slice(1).map((w) => w.replace(/^\d+ /, ''))).toEqual(['q 2', 'PROBE', 'PROBE', 'PROBE', 'PROBE']);
  });

  it('says so when bytes came but none answered in step (replies later than the timeout)', async () => {
    const { ex, log } = setup((line, l) => (l.replyAfter(150, `${line}=late\r\n`), true), { silentLinkMs: 600, initialBackoffMs: 60_000 });
    await ex.start();
    void settled(ex.request('q 1\r'));
    await vi.advanceTimersByTimeAsync(700);
    expect(log.at(-1)).toMatch(/^down the device does not answer in step: for 0\.6 s memory:\/\/device sent only bytes that answered nothing \(\d+; replies later than the 100 ms reply timeout, or a noisy line\)$/);
  });

  it('defaults to the reply timeout plus two resync cycles, and refuses less than one', () => {
    const make = (o: ExchangeOptions): Exchange => new Exchange(() => new MemoryLink(() => undefined), lineSplitter(), o);
    expect(() => make({ timeoutMs: 100, resyncProbe: probe, silentLinkMs: 299 })).toThrow(
      'a silent-link time of 299 ms is too short: one resync with this device takes up to 300 ms (reply timeout 100 ms, silence 100 ms, probe 100 ms); give at least 300 ms',
    );
    expect(() => make({ timeoutMs: 100, resyncProbe: probe, silentLinkMs: 300 })).not.toThrow();
    expect(() => make({ timeoutMs: 100, resyncProbe: probe })).not.toThrow();
  });

  it('back in step before the time is up: the count starts again from scratch', async () => {
    let mute = false;
    const { ex, log } = setup(() => mute, { silentLinkMs: 500, initialBackoffMs: 60_000 });
    await ex.start();
    mute = true;
    void settled(ex.request('q 1\r'));
    await vi.advanceTimersByTimeAsync(150);
    mute = false; // the probe at 200 is answered
    const second = ex.request('q 2\r');
    await vi.advanceTimersByTimeAsync(100);
    expect(await text(second)).toBe('q 2=ok');
    mute = true;
    void settled(ex.request('q 3\r'));
    await vi.advanceTimersByTimeAsync(450);
    expect(ex.isUp).toBe(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(ex.isUp).toBe(false);
    expect(log.filter((l) => l.startsWith('down'))).toHaveLength(1);
  });
});

describe('Exchange pairing property (fake clock)', () => {
  type Action = 'reply' | 'none' | 'late' | 'veryLate' | 'twice' | 'split' | 'noise';

  it('never returns a reply to any request but its own, whatever the device does', async () => {
    const actions = fc.constantFrom<Action>('reply', 'none', 'late', 'veryLate', 'twice', 'split', 'noise');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ action: actions, gapMs: fc.integer({ min: 0, max: 300 }) }), { minLength: 1, maxLength: 20 }),
        // The probe's latency: within the 100 ms timeout, or always beyond it (never in step again).
        fc.constantFrom(0, 10, 50, 90, 130),
        async (plan, probeLatency) => {
          // The device answers in order, as on a serial line or a TCP path: a reply is never sent
          // before the reply to an earlier request, however late that one is.
          let nextFree = 0;
          const send = (l: MemoryLink, delayMs: number, data: string): void => {
            const at = Math.max(nextFree, performance.now() + delayMs);
            nextFree = at;
            l.replyAfter(at - performance.now(), data);
          };
          const link = new MemoryLink((line, l) => {
            if (line === 'PROBE') return send(l, probeLatency, 'ID unit\r\n');
            const step = plan[Number(line.split(' ')[1])];
            if (!step) return;
            switch (step.action) {
              case 'reply':
                return send(l, 10, `${line}=ok\r\n`);
              case 'none':
                return;
              case 'late': // after the 100 ms timeout, inside the silence after it
                return send(l, 150, `${line}=ok\r\n`);
              case 'veryLate': // after the timeout and the silence: while a probe or the next request waits
                return send(l, 260, `${line}=ok\r\n`);
              case 'twice': // the same reply again, back to back on the wire
                send(l, 10, `${line}=ok\r\n`);
                return send(l, 12, `${line}=ok\r\n`);
              case 'split':
                send(l, 5, `${line}=o`);
                return send(l, 15, 'k\r\n');
              case 'noise':
                send(l, 5, `${line}=ok\r\n`);
                return send(l, 7, 'NOISE\r\n');
            }
          });
          // Replies carry their request's number, so a misplaced one is visible; every request
          // also checks the shape (`=ok`), as the drivers do.
          const ex = exchange(link, lineSplitter(), {
            timeoutMs: 100,
            minGapMs: 5,
            // What catches a duplicate: it comes before the next request may be written.
            gapAfterReplyMs: 5,
            resyncProbe: probe,
            silentLinkMs: 1500,
            initialBackoffMs: 50,
          });
          await ex.start();
          const outcomes: (string | LinkError | 'pending')[] = plan.map(() => 'pending');
          for (const [i, step] of plan.entries()) {
            ex.request(`q ${i}\r`, { validate: (r) => r.toString('latin1').endsWith('=ok') }).then(
              (reply) => (outcomes[i] = reply?.toString('latin1') ?? 'undefined'),
              (err: unknown) => (outcomes[i] = err instanceof LinkError ? err : new LinkError('Closed', `not a LinkError: ${String(err)}`)),
            );
            await vi.advanceTimersByTimeAsync(step.gapMs);
          }
          await vi.advanceTimersByTimeAsync(plan.length * 2000 + 2000);
          for (const [i, outcome] of outcomes.entries()) {
            expect(outcome).not.toBe('pending');
            if (outcome instanceof LinkError) expect(outcome.message).not.toMatch(/^not a LinkError/);
            else expect(outcome).toBe(`q ${i}=ok`);
          }
          await ex.stop();
        },
      ),
      { numRuns: 80 },
    );
  });
});
