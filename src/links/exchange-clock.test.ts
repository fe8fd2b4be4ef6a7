/**
 * Exchange timing rules under a fake clock: a simulator cannot prove real timing, so the spacing
 * rules are checked here exactly, against an in-memory link whose device answers through timers.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Exchange, describeBytes } from './exchange.js';
import { lineSplitter } from './splitters.js';
import { MemoryLink, fakeTimerExchanges } from '../testing/fake-devices.js';
import { LinkError, type ExchangeOptions } from './types.js';

const exchange = fakeTimerExchanges();

function setup(device: (line: string, link: MemoryLink) => void, options: ExchangeOptions = {}): { ex: Exchange; link: MemoryLink } {
  const link = new MemoryLink(device);
  return { ex: exchange(link, lineSplitter(), options), link };
}

/** Write times relative to the first write. */
const times = (link: MemoryLink): number[] => link.writes.map((w) => Math.round(w.at - (link.writes[0]?.at ?? 0)));
const lines = (link: MemoryLink): string[] => link.writes.map((w) => w.data.replace(/\r$/, ''));

/** Julabo-like: queries answered after 30 ms (`in_slow` after 300 ms), `out_` never answered. */
function julabo(line: string, link: MemoryLink): void {
  if (line.startsWith('out_')) return;
  link.replyAfter(line === 'in_slow' ? 300 : 30, `${line}=1\r\n`);
}

describe('Exchange pacing (fake clock)', () => {
  it('keeps minGapMs between writes and gapAfterReplyMs after each reply (Julabo: 250 ms / 10 ms)', async () => {
    const { ex, link } = setup(julabo, { minGapMs: 250, gapAfterReplyMs: 10, timeoutMs: 2000 });
    await ex.start();
    const done = Promise.all([
      ex.request('in_pv_00\r'),
      ex.request('out_sp_00 5\r', { expectReply: false }),
      ex.request('in_sp_00\r'),
      ex.request('in_slow\r'),
      ex.request('in_pv_00\r'),
    ]);
    await vi.advanceTimersByTimeAsync(2000);
    const replies = await done;
    expect(replies.map((r) => r?.toString())).toEqual(['in_pv_00=1', undefined, 'in_sp_00=1', 'in_slow=1', 'in_pv_00=1']);
    // 0: in_pv (reply at 30) · 250: out_sp (min gap) · 500: in_sp · 750: in_slow (reply at 1050)
    // · 1060: 10 ms after that reply, later than the 250 ms minimum gap would allow.
    expect(times(link)).toEqual([0, 250, 500, 750, 1060]);
  });

  it('spaces set-only commands by the clock although nothing answers them', async () => {
    const { ex, link } = setup(julabo, { minGapMs: 250 });
    await ex.start();
    const sent = Promise.all([1, 2, 3].map((v) => ex.request(`out_sp_00 ${v}\r`, { expectReply: false })));
    await vi.advanceTimersByTimeAsync(600);
    expect(await sent).toEqual([undefined, undefined, undefined]);
    expect(times(link)).toEqual([0, 250, 500]);
  });

  it('resolves a set-only request as soon as it is written', async () => {
    const { ex } = setup(julabo, { timeoutMs: 5000 });
    await ex.start();
    let resolved = false;
    void ex.request('out_mode_05 1\r', { expectReply: false }).then(() => {
      resolved = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(resolved).toBe(true);
  });

  it('paces handshake requests like any other and serves queued requests only after them', async () => {
    const link = new MemoryLink(julabo);
    const ex = exchange(link, lineSplitter(), {
      minGapMs: 250,
      onConnect: async (x) => {
        await x.request('version\r');
        await x.request('out_mode_05 1\r', { expectReply: false });
      },
    });
    const starting = ex.start();
    const early = ex.request('in_pv_00\r');
    await vi.advanceTimersByTimeAsync(1000);
    await starting;
    expect((await early)?.toString()).toBe('in_pv_00=1');
    expect(lines(link)).toEqual(['version', 'out_mode_05 1', 'in_pv_00']);
    expect(times(link)).toEqual([0, 250, 500]);
  });
});

describe('Exchange resync (fake clock)', () => {
  it('after a timeout, waits until the line has been quiet for resyncQuietMs; noise meanwhile is stray', async () => {
    const { ex, link } = setup(
      (line, l) => {
        if (line === 'mute') [120, 160, 200].forEach((t) => l.replyAfter(t, 'noise\r\n'));
        else julabo(line, l);
      },
      { timeoutMs: 100, resyncQuietMs: 50, silentLinkMs: 1000 },
    );
    const strays: string[] = [];
    const timeouts: string[] = [];
    ex.on('stray', (b) => strays.push(b.toString()));
    ex.on('timeout', (r) => timeouts.push(r));
    await ex.start();
    const mute = ex.request('mute\r').catch((e: unknown) => e);
    const next = ex.request('in_pv_00\r');
    await vi.advanceTimersByTimeAsync(400);
    expect(await mute).toMatchObject({ code: 'Timeout', message: 'no reply to "mute" within 100 ms from memory://device' });
    expect((await next)?.toString()).toBe('in_pv_00=1');
    // Timeout at 100; noise at 120, 160, 200; 50 ms of silence after the last: 250.
    expect(times(link)).toEqual([0, 250]);
    expect(strays).toEqual(['noise\r\n', 'noise\r\n', 'noise\r\n']);
    expect(timeouts).toEqual(['mute']);
  });

  it('does not let a line that never falls silent stall the queue for ever: the link fails after silentLinkMs', async () => {
    let chatter: ReturnType<typeof setInterval> | undefined;
    const { ex, link } = setup(
      (line, l) => {
        if (line === 'mute') chatter = setInterval(() => l.emit('data', Buffer.from('#')), 20);
      },
      { timeoutMs: 100, resyncQuietMs: 50, silentLinkMs: 500, initialBackoffMs: 10_000 },
    );
    const downs: string[] = [];
    ex.on('down', (r) => downs.push(r));
    await ex.start();
    const mute = ex.request('mute\r').catch((e: unknown) => e);
    const next = ex.request('next\r', { timeoutMs: 100 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(499);
    expect(downs).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    clearInterval(chatter);
    expect(await mute).toMatchObject({ code: 'Timeout' });
    // Never sent: nothing is written while the line is out of step.
    expect(await next).toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/the device does not answer in step: for 0\.5 s memory:\/\/device sent only bytes that answered nothing/) });
    expect(lines(link)).toEqual(['mute']);
    expect(downs).toHaveLength(1);
  });

  it('times out a write that never completes (e.g. held by RTS/CTS)', async () => {
    const { ex, link } = setup(julabo, { timeoutMs: 100 });
    await ex.start();
    link.write = () => new Promise<void>(() => undefined);
    const stuck = ex.request('out_sp_00 5\r', { expectReply: false }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(150);
    expect(await stuck).toMatchObject({ code: 'Timeout', message: 'could not send "out_sp_00 5" to memory://device within 100 ms' });
  });
});

describe('Exchange reconnect back-off (fake clock)', () => {
  it('doubles the delay up to the cap, fails fast meanwhile, and starts over after a good connect', async () => {
    const { ex, link } = setup(julabo, { initialBackoffMs: 100, maxBackoffMs: 800 });
    const delays: number[] = [];
    const attempts: number[] = [];
    const downs: string[] = [];
    let ups = 0;
    ex.on('reconnecting', ({ attempt, delayMs }) => {
      attempts.push(attempt);
      delays.push(delayMs);
    });
    ex.on('down', (r) => downs.push(r));
    ex.on('up', () => {
      ups += 1;
    });
    link.refuse = true;
    await ex.start();
    expect(downs).toEqual(['cannot connect to memory://device: refused']);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1);
    expect(delays).toEqual([100, 200, 400, 800, 800]);
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    expect(link.opens).toBe(5);
    await expect(ex.request('in_pv_00\r')).rejects.toThrow('no link to memory://device: cannot connect to memory://device: refused; reconnecting');

    link.refuse = false;
    await vi.advanceTimersByTimeAsync(800);
    expect(ups).toBe(1);
    expect(ex.isUp).toBe(true);
    expect(downs).toHaveLength(1);

    link.drop('cable pulled');
    expect(ex.isUp).toBe(false);
    expect(downs).toEqual(['cannot connect to memory://device: refused', 'cable pulled']);
    expect(delays.at(-1)).toBe(100);
    await vi.advanceTimersByTimeAsync(100);
    expect(ups).toBe(2);
  });

  it('a down listener may stop the exchange: no reconnect is scheduled', async () => {
    const { ex, link } = setup(julabo, { initialBackoffMs: 100 });
    let reconnecting = 0;
    ex.on('reconnecting', () => {
      reconnecting += 1;
    });
    ex.on('down', () => void ex.stop());
    await ex.start();
    link.drop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(reconnecting).toBe(0);
    expect(link.opens).toBe(1);
  });
});

describe('Exchange robustness (fake clock)', () => {
  type Action = 'reply' | 'none' | 'late' | 'split' | 'coalesced' | 'drop';

  it('settles every request with its own reply or a LinkError, whatever the device does', async () => {
    const actions = fc.constantFrom<Action>('reply', 'none', 'late', 'split', 'coalesced', 'drop');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ action: actions, gapMs: fc.integer({ min: 0, max: 250 }), setOnly: fc.boolean() }), { minLength: 1, maxLength: 25 }),
        async (plan) => {
          const link = new MemoryLink((line, l) => {
            const step = plan[Number(line.split(' ')[1])];
            if (!step || step.setOnly) return;
            switch (step.action) {
              case 'reply':
                return l.replyAfter(10, `${line}=ok\r\n`);
              case 'none':
                return;
              case 'late': // after the 100 ms timeout, inside the 100 ms quiet period
                return l.replyAfter(150, `${line}=late\r\n`);
              case 'split':
                l.replyAfter(5, `${line}=sp`);
                return l.replyAfter(15, 'lit\r\n');
              case 'coalesced': // the reply plus an unsolicited line in one chunk
                return l.replyAfter(5, `${line}=ok\r\nUNSOLICITED\r\n`);
              case 'drop':
                return void setTimeout(() => l.drop(), 5);
            }
          });
          const ex = exchange(link, lineSplitter(), { timeoutMs: 100, resyncQuietMs: 100, minGapMs: 20, initialBackoffMs: 50, maxBackoffMs: 100 });
          await ex.start();
          const outcomes: (string | LinkError | undefined | 'pending')[] = plan.map(() => 'pending');
          for (const [i, step] of plan.entries()) {
            ex.request(`q ${i}\r`, { expectReply: !step.setOnly }).then(
              (reply) => (outcomes[i] = reply?.toString()),
              (err: unknown) => (outcomes[i] = err instanceof LinkError ? err : new LinkError('Closed', `not a LinkError: ${String(err)}`)),
            );
            await vi.advanceTimersByTimeAsync(step.gapMs);
          }
          await vi.advanceTimersByTimeAsync(plan.length * 400 + 1000);
          for (const [i, outcome] of outcomes.entries()) {
            expect(outcome).not.toBe('pending');
            if (outcome instanceof LinkError) {
              expect(outcome.message).not.toMatch(/^not a LinkError/);
            } else if (plan[i]?.setOnly) {
              expect(outcome).toBeUndefined();
            } else {
              // Never somebody else's reply.
              expect(outcome).toMatch(new RegExp(`^q ${i}=(ok|split)$`));
            }
          }
          await ex.stop();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('describes bytes printably and boundedly for messages', () => {
    expect(describeBytes(Buffer.from('in_pv_00\r'))).toBe('in_pv_00');
    expect(describeBytes(Buffer.from('a"b\\c\x01\xff\r\n', 'latin1'))).toBe('a\\"b\\\\c\\x01\\xff');
    expect(describeBytes(Buffer.from('x\ny\r\n'))).toBe('x\\ny');
    expect(describeBytes(Buffer.alloc(200, 0x41), 10)).toBe('AAAAAAAAAA…');
  });
});
