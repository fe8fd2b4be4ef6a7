/**
 * The Exchange against real TCP sockets and real pseudo-terminals. Timing checks use generous
 * lower bounds only; exact pacing is covered with a fake clock in exchange-clock.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Exchange, type ExchangeEvents } from './exchange.js';
import { createLink } from './index.js';
import { lineSplitter } from './splitters.js';
import { FakePtyDevice, FakeTcpDevice, type DeviceHandler, sleep, waitFor } from '../testing/fake-devices.js';
import { LinkError, type ExchangeOptions, type LinkSpec } from './types.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A Julabo-like line device: CR-terminated requests, CR LF replies, `out_` commands unanswered. */
const julaboLike: DeviceHandler = (line, io) => {
  if (line === 'in_pv_00') return '21.50\r\n';
  if (line.startsWith('out_')) return undefined;
  if (line.startsWith('echo ')) return `${line.slice(5)}\r\n`;
  if (line.startsWith('slow ')) {
    // Late for a 40–50 ms timeout, but well inside the quiet period that follows it.
    setTimeout(() => io.send(`${line.slice(5)}\r\n`), 100);
    return undefined;
  }
  if (line === 'garbage') {
    setTimeout(() => io.send('yy\r\n'), 30);
    return 'xx\r\n';
  }
  if (line === 'split') {
    io.send('par');
    setTimeout(() => io.send('tial\r\n'), 20);
    return undefined;
  }
  if (line === 'huge') return `${'#'.repeat(100)}\r\n`;
  if (line === 'trail') return 'T\r\nnoi'; // a reply, then the start of an unsolicited line
  if (line === 'hang') return undefined;
  return '-08 INVALID COMMAND\r\n';
};

async function tcpDevice(handler: DeviceHandler = julaboLike): Promise<FakeTcpDevice> {
  const device = new FakeTcpDevice(handler);
  await device.start();
  cleanup.push(() => device.stop());
  return device;
}

function exchangeFor(spec: () => LinkSpec, options: ExchangeOptions = {}, splitter = lineSplitter()): Exchange {
  const ex = new Exchange(() => createLink(spec()), splitter, { timeoutMs: 1000, initialBackoffMs: 30, maxBackoffMs: 120, ...options });
  cleanup.push(() => ex.stop());
  return ex;
}

/** Collects every event of an exchange, in order. */
function record(ex: Exchange): { events: string[]; strays: string[]; down: string[] } {
  const log = { events: [] as string[], strays: [] as string[], down: [] as string[] };
  ex.on('up', () => log.events.push('up'));
  ex.on('down', (reason) => {
    log.events.push('down');
    log.down.push(reason);
  });
  ex.on('stray', (bytes) => log.strays.push(bytes.toString('latin1')));
  ex.on('timeout', (req) => log.events.push(`timeout ${req}`));
  ex.on('reconnecting', ({ attempt }) => log.events.push(`reconnecting ${attempt}`));
  return log;
}

function nextExchangeEvent<K extends keyof ExchangeEvents>(ex: Exchange, event: K, timeoutMs = 3000): Promise<ExchangeEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    const listener = (...args: ExchangeEvents[K]): void => {
      clearTimeout(timer);
      resolve(args);
    };
    (ex.once as (e: K, l: (...args: ExchangeEvents[K]) => void) => Exchange)(event, listener);
  });
}

/** Attaches a handler at once, so a rejection that happens before the test awaits it is not "unhandled". */
const caught = (p: Promise<unknown>): Promise<unknown> => p.then(
  () => new Error('expected a rejection, got a value'),
  (err: unknown) => err,
);

const text = async (p: Promise<Buffer | undefined>): Promise<string | undefined> => (await p)?.toString('latin1');

describe('Exchange over TCP', () => {
  it('sends requests and returns their replies', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec);
    const log = record(ex);
    expect(ex.isUp).toBe(false);
    await ex.start();
    expect(ex.isUp).toBe(true);
    expect(ex.endpoint).toBe(device.url);
    expect(await text(ex.request('in_pv_00\r'))).toBe('21.50');
    expect(await text(ex.request(Buffer.from('echo bytes\r')))).toBe('bytes');
    expect(await text(ex.request('echo µ°\r'))).toBe(Buffer.from('µ°', 'utf8').toString('latin1'));
    expect(await text(ex.request('split\r'))).toBe('partial');
    expect(log.events).toEqual(['up']);
    expect(log.strays).toEqual([]);
  });

  it('keeps strict FIFO order with one request in flight at a time', async () => {
    let busy = false;
    let overlaps = 0;
    const device = await tcpDevice((line, io) => {
      if (busy) overlaps += 1;
      busy = true;
      // Answer a little later, so a second request sent too early would be seen here.
      setTimeout(() => {
        busy = false;
        io.send(`${line}\r\n`);
      }, 1 + (line.length % 3));
      return undefined;
    });
    const ex = exchangeFor(() => device.spec);
    await ex.start();
    const n = 60;
    const replies = Array.from({ length: n }, (_, i) => text(ex.request(`r${i}\r`)));
    expect(ex.queueLength).toBeGreaterThanOrEqual(n - 1);
    expect(await Promise.all(replies)).toEqual(Array.from({ length: n }, (_, i) => `r${i}`));
    expect(device.received).toEqual(Array.from({ length: n }, (_, i) => `r${i}`));
    expect(overlaps).toBe(0);
    expect(ex.queueLength).toBe(0);
  });

  it('paces writes: minGapMs between writes, gapAfterReplyMs after a reply, set-only commands too', async () => {
    // The gaps are measured where the exchange makes them, at its writes: arrival times at the
    // device also carry the receiving side's scheduling delays, which on a busy machine can
    // bunch two well-spaced arrivals together.
    const writes: { line: string; at: number }[] = [];
    const replySentAt: number[] = [];
    const device = await tcpDevice((line, io) => {
      if (line.startsWith('out_')) return undefined;
      setTimeout(() => {
        replySentAt.push(performance.now());
        io.send(`${line}\r\n`);
      }, 30);
      return undefined;
    });
    const ex = new Exchange(
      () => {
        const link = createLink(device.spec);
        const write = link.write.bind(link);
        link.write = (data, hint) => {
          writes.push({ line: data.toString('latin1').trim(), at: performance.now() });
          return write(data, hint);
        };
        return link;
      },
      lineSplitter(),
      { timeoutMs: 1000, initialBackoffMs: 30, maxBackoffMs: 120, minGapMs: 60, gapAfterReplyMs: 45 },
    );
    cleanup.push(() => ex.stop());
    await ex.start();
    await Promise.all([
      ex.request('in_a\r'),
      ex.request('out_b 1\r', { expectReply: false }),
      ex.request('out_c 2\r', { expectReply: false }),
      ex.request('in_d\r'),
      ex.request('in_e\r'),
    ]);
    await waitFor(() => device.received.length === 5, 'all five requests at the device');
    expect(device.received).toEqual(['in_a', 'out_b 1', 'out_c 2', 'in_d', 'in_e']);
    expect(writes.map((w) => w.line)).toEqual(['in_a', 'out_b 1', 'out_c 2', 'in_d', 'in_e']);
    // Timers may fire up to a millisecond early; 2 ms of slack.
    for (let i = 1; i < writes.length; i += 1) {
      expect(writes[i]!.at - writes[i - 1]!.at).toBeGreaterThanOrEqual(60 - 2);
    }
    // in_a's reply left the device at replySentAt[0] and reached the exchange after that: out_b
    // is written gapAfterReplyMs after its arrival, so at least that long after it was sent.
    expect(writes[1]!.at - replySentAt[0]!).toBeGreaterThanOrEqual(45 - 2);
    // in_d's reply, then in_e: 30 ms reply + 45 ms gap > 60 ms minimum.
    expect(writes[4]!.at - replySentAt[1]!).toBeGreaterThanOrEqual(45 - 2);
  });

  it('resolves set-only requests once written, without waiting for a reply', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec, { timeoutMs: 5000 });
    const log = record(ex);
    await ex.start();
    const started = Date.now();
    expect(await ex.request('out_sp_00 15.5\r', { expectReply: false })).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(4000); // far below the 5 s reply timeout
    await waitFor(() => device.received.includes('out_sp_00 15.5'), 'the set command at the device');
    expect(await text(ex.request('in_pv_00\r'))).toBe('21.50');
    expect(log.events).toEqual(['up']);
  });

  it('after a timeout, discards the late reply as stray: the next request gets its own reply', async () => {
    const device = await tcpDevice();
    // The late reply comes 50 ms after the timeout; 300 ms of required silence leaves a wide margin.
    const ex = exchangeFor(() => device.spec, { resyncQuietMs: 300 });
    const log = record(ex);
    await ex.start();
    const slow = ex.request('slow LATE\r', { timeoutMs: 50 });
    const next = ex.request('echo MINE\r');
    await expect(slow).rejects.toMatchObject({
      name: 'LinkError',
      code: 'Timeout',
      message: `no reply to "slow LATE" within 50 ms from ${device.url}`,
    });
    expect(await text(next)).toBe('MINE');
    expect(log.strays.join('')).toBe('LATE\r\n');
    expect(log.events).toEqual(['up', 'timeout slow LATE']);
    expect(await text(ex.request('echo again\r'))).toBe('again');
  });

  it('rejects a reply that fails validate(), resyncs, and serves the next request correctly', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec, { resyncQuietMs: 300 });
    const log = record(ex);
    await ex.start();
    const isNumber = (r: Buffer): boolean => /^-?\d+(\.\d+)?$/.test(r.toString());
    const bad = ex.request('garbage\r', { validate: isNumber });
    const good = ex.request('in_pv_00\r', { validate: isNumber });
    const err = await caught(bad);
    expect(err).toBeInstanceOf(LinkError);
    expect(err).toMatchObject({ code: 'CommunicationFailed', message: `unexpected reply "xx" to "garbage" from ${device.url}` });
    expect(await text(good)).toBe('21.50');
    // The second garbage line arrived during the resync and went nowhere but 'stray'.
    expect(log.strays.join('')).toBe('yy\r\n');
  });

  it('treats a validate() that throws as a bad reply', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec);
    await ex.start();
    await expect(
      ex.request('echo 7\r', {
        validate: () => {
          throw new Error('checksum mismatch');
        },
      }),
    ).rejects.toThrow(/unexpected reply "7" to "echo 7" from .*: checksum mismatch/);
    expect(await text(ex.request('echo 8\r'))).toBe('8');
  });

  it('fails the request with a clear error when a reply exceeds the splitter limit', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec, {}, lineSplitter({ maxLength: 16 }));
    await ex.start();
    await expect(ex.request('huge\r')).rejects.toMatchObject({
      code: 'CommunicationFailed',
      message: `bad reply to "huge" from ${device.url}: reply longer than 16 bytes discarded`,
    });
    expect(await text(ex.request('echo fine\r'))).toBe('fine');
  });

  it('reports unsolicited output as stray and never pairs it with a request', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec);
    const log = record(ex);
    await ex.start();
    device.broadcast('HELLO\r\n');
    await waitFor(() => log.strays.length === 1, 'the stray line');
    expect(log.strays).toEqual(['HELLO']);
    // An unterminated fragment after a reply must not become the head of the next reply.
    expect(await text(ex.request('trail\r'))).toBe('T');
    expect(await text(ex.request('echo clean\r'))).toBe('clean');
    expect(log.strays).toEqual(['HELLO', 'noi']);
  });

  it('fails fast while down, reconnects by itself and serves requests again', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec, { initialBackoffMs: 40 });
    const log = record(ex);
    await ex.start();
    expect(await text(ex.request('echo before\r'))).toBe('before');

    const hanging = caught(ex.request('hang\r', { timeoutMs: 5000 }));
    const queued = caught(ex.request('echo queued\r'));
    await waitFor(() => device.received.includes('hang'), 'the hanging request at the device');
    const down = nextExchangeEvent(ex, 'down');
    device.dropClients();
    expect(await hanging).toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/^no reply to "hang": link to tcp:\/\/127\.0\.0\.1:\d+ lost/) });
    expect(await queued).toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/^no link to tcp:\/\/127\.0\.0\.1:\d+: .*; reconnecting$/) });
    const [reason] = await down;
    expect(reason).toContain(device.url);
    expect(ex.isUp).toBe(false);
    // New requests while down fail at once instead of queueing.
    await expect(ex.request('echo while-down\r')).rejects.toThrow(/^no link to .*; reconnecting$/);
    expect(device.received).not.toContain('echo while-down');

    await nextExchangeEvent(ex, 'up');
    expect(await text(ex.request('echo after\r'))).toBe('after');
    expect(device.connections).toBe(2);
    expect(log.events.filter((e) => e === 'down')).toHaveLength(1);
  });

  it('keeps reconnecting with growing back-off until the device is restarted on the same port', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec, { initialBackoffMs: 20, maxBackoffMs: 80 });
    const log = record(ex);
    const delays: number[] = [];
    ex.on('reconnecting', ({ delayMs }) => delays.push(delayMs));
    await ex.start();
    await device.stop();
    await waitFor(() => delays.length >= 5, 'five reconnect attempts');
    expect(delays.slice(0, 5)).toEqual([20, 40, 80, 80, 80]);
    expect(log.down).toHaveLength(1); // one 'down' per transition, not per failed attempt
    await expect(ex.request('echo nope\r')).rejects.toThrow(/^no link to tcp:\/\/127\.0\.0\.1:\d+: cannot connect to .*connection refused.*; reconnecting$/);

    const up = nextExchangeEvent(ex, 'up');
    await device.start();
    await up;
    expect(await text(ex.request('echo back\r'))).toBe('back');
    // A successful connect resets the back-off.
    delays.length = 0;
    device.dropClients();
    await waitFor(() => delays.length >= 1, 'the next reconnect');
    expect(delays[0]).toBe(20);
  });

  it('runs onConnect after every connect, before any other request', async () => {
    const device = await tcpDevice((line) => {
      if (line === 'version') return 'V 1.02\r\n';
      return line.startsWith('out_') ? undefined : `${line}\r\n`;
    });
    let handshakes = 0;
    const ex = exchangeFor(() => device.spec, {
      minGapMs: 10,
      onConnect: async (x) => {
        handshakes += 1;
        const id = await x.request('version\r');
        if (id?.toString() !== 'V 1.02') throw new Error(`unexpected identity ${String(id)}`);
        await x.request('out_mode_05 1\r', { expectReply: false });
      },
    });
    const starting = ex.start();
    // Issued before the exchange is up: waits for the handshake, then runs.
    const early = ex.request('early\r');
    await starting;
    expect(await text(early)).toBe('early');
    expect(device.received).toEqual(['version', 'out_mode_05 1', 'early']);

    device.received.length = 0;
    device.dropClients();
    await nextExchangeEvent(ex, 'up');
    expect(handshakes).toBe(2);
    expect(await text(ex.request('later\r'))).toBe('later');
    expect(device.received).toEqual(['version', 'out_mode_05 1', 'later']);
  });

  it('treats a failing onConnect as a failed connect: link closed, back-off, retried', async () => {
    const device = await tcpDevice((line) => `${line}\r\n`);
    let attempts = 0;
    const ex = exchangeFor(() => device.spec, {
      initialBackoffMs: 20,
      onConnect: async (x) => {
        attempts += 1;
        await x.request('hello\r');
        if (attempts < 3) throw new Error('device not in remote mode');
      },
    });
    const log = record(ex);
    const starting = ex.start();
    const early = caught(ex.request('early\r'));
    await starting;
    expect(await early).toMatchObject({
      message: expect.stringMatching(/^no link to .*: handshake with tcp:\/\/127\.0\.0\.1:\d+ failed: device not in remote mode; reconnecting$/),
    });
    expect(log.down[0]).toMatch(/handshake with .* failed: device not in remote mode/);
    await nextExchangeEvent(ex, 'up');
    expect(attempts).toBe(3);
    expect(device.connections).toBe(3);
    await waitFor(() => device.clientCount === 1, 'failed handshakes to close their connections');
    expect(log.events).toEqual(['down', 'reconnecting 1', 'reconnecting 2', 'up']);
  });

  it('reports a device that is not there at start, and connects when it appears', async () => {
    const device = await tcpDevice();
    await device.stop(); // the port is known, nothing listens
    const ex = exchangeFor(() => device.spec, { initialBackoffMs: 20, maxBackoffMs: 40 });
    const log = record(ex);
    await ex.start();
    expect(ex.isUp).toBe(false);
    expect(log.down).toEqual([`cannot connect to ${device.url}: connection refused (ECONNREFUSED)`]);
    await expect(ex.request('echo x\r')).rejects.toMatchObject({ code: 'CommunicationFailed' });
    await device.start();
    await nextExchangeEvent(ex, 'up');
    expect(await text(ex.request('echo x\r'))).toBe('x');
  });

  it('stop() rejects in-flight and queued requests with Closed and stops reconnecting', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec);
    await ex.start();
    const inFlight = ex.request('hang\r', { timeoutMs: 5000 });
    const queued = ex.request('echo q\r');
    await waitFor(() => device.received.includes('hang'), 'the request at the device');
    const outcomes = Promise.allSettled([inFlight, queued]);
    await ex.stop();
    for (const outcome of await outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ name: 'LinkError', code: 'Closed' });
    }
    await expect(ex.request('echo late\r')).rejects.toMatchObject({ code: 'Closed' });
    expect(ex.isUp).toBe(false);
    await waitFor(() => device.clientCount === 0, 'the connection to close');
    await sleep(100);
    expect(device.connections).toBe(1);
    await ex.stop(); // idempotent
    expect(() => ex.start()).toThrow(/stopped/);
  });

  it('rejects requests before start()', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec);
    await expect(ex.request('echo x\r')).rejects.toThrow(/not started/);
  });

  it('stop() during a connect attempt leaves nothing open', async () => {
    const device = await tcpDevice();
    const ex = exchangeFor(() => device.spec);
    const starting = ex.start();
    await ex.stop();
    await starting;
    await sleep(50);
    expect(device.clientCount).toBe(0);
    expect(ex.isUp).toBe(false);
  });
});

describe('Exchange over a real PTY (serial)', () => {
  it('talks to a fake device and survives the device going away and coming back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-exchange-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const stable = path.join(dir, 'ttyJULABO');
    const devices: FakePtyDevice[] = [];
    const plugIn = (): FakePtyDevice => {
      const device = new FakePtyDevice(julaboLike);
      devices.push(device);
      cleanup.push(() => device.close());
      fs.rmSync(stable, { force: true });
      fs.symlinkSync(device.path, stable);
      return device;
    };
    const first = plugIn();
    // 8N1: a PTY ignores 7E1 anyway, and re-opening it with only parity changed fails.
    const spec: LinkSpec = { kind: 'serial', path: stable, baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1, rtscts: false };
    const ex = exchangeFor(() => spec, { minGapMs: 5, initialBackoffMs: 30, resyncQuietMs: 300 });
    const log = record(ex);
    await ex.start();
    expect(ex.endpoint).toBe(`${stable} 9600 8N1`);
    expect(await text(ex.request('in_pv_00\r'))).toBe('21.50');
    expect(await ex.request('out_sp_00 12.5\r', { expectReply: false })).toBeUndefined();
    await expect(ex.request('slow x\r', { timeoutMs: 40 })).rejects.toMatchObject({ code: 'Timeout' });
    expect(await text(ex.request('echo ok\r'))).toBe('ok');
    expect(log.strays.join('')).toBe('x\r\n');
    expect(first.received).toEqual(['in_pv_00', 'out_sp_00 12.5', 'slow x', 'echo ok']);

    const down = nextExchangeEvent(ex, 'down');
    const pending = caught(ex.request('hang\r', { timeoutMs: 5000 }));
    await waitFor(() => first.received.includes('hang'), 'the request at the device');
    first.close();
    const [reason] = await down;
    expect(reason).toMatch(/disconnected|closed/);
    expect(await pending).toMatchObject({ code: 'CommunicationFailed' });
    await expect(ex.request('echo x\r')).rejects.toThrow(/reconnecting/);

    const up = nextExchangeEvent(ex, 'up');
    const second = plugIn();
    await up;
    expect(await text(ex.request('echo again\r'))).toBe('again');
    expect(second.received).toEqual(['echo again']);
  });
});
