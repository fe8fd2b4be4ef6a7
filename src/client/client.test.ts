import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { LabwireError } from '../wire/index.js';
import { LabwireClient, convertValue, type LabwireClientOptions, type LogEntry, type Update } from './client.js';
import { FakeDaemon, type FakeDaemonOptions } from '../testing/fake-daemon.js';
import { testPki } from '../testing/tls.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function daemon(options: FakeDaemonOptions = {}): Promise<FakeDaemon> {
  const d = new FakeDaemon(options);
  await d.start(0);
  cleanups.push(() => d.stop());
  return d;
}

function client(d: FakeDaemon | number, options: Partial<LabwireClientOptions> = {}): LabwireClient {
  const port = typeof d === 'number' ? d : d.port;
  const c = new LabwireClient({ host: '127.0.0.1', port, backoff: { initialMs: 10, maxMs: 50 }, requestTimeoutMs: 2000, ...options });
  cleanups.push(() => c.close());
  return c;
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(check: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function rejection(p: Promise<unknown>): Promise<LabwireError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LabwireError);
    return err as LabwireError;
  }
  throw new Error('expected a rejection');
}

describe('LabwireClient: requests', () => {
  it('reads id, status, describe; sets and calls', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    expect(c.connected).toBe(true);
    expect(await c.getId()).toEqual({ name: 'fake', type: 'fake', protocol: 'labwire/1', version: '0.0.0' });
    const st = await c.status();
    expect(st.name).toBe('fake');
    expect(st.values).toMatchObject({ temperature: 20, state: 'idle', running: true });
    expect(st.units).toEqual({ temperature: '°C' });
    expect(await c.statusLine()).toEqual({ hw_connected: '1', temperature: '20', setpoint: '20', state: 'idle', running: '1' });
    const doc = await c.describe();
    expect(doc.params.setpoint?.max).toBe(40);
    expect(await c.set({ setpoint: 15.5 })).toEqual({ setpoint: '15.5' });
    expect(d.values.setpoint).toBe(15.5);
    expect(await c.call('start', [1, 'a b'])).toEqual({ args: '1,a b' });
    expect(await c.call('start', { mode: 'fast' })).toEqual({ args: '', mode: 'fast' });
    expect(d.received).toContain('start 1 "a b"');
    expect((await c.request('ping')).line).toBe('pong');
  });

  it('turns error replies into LabwireErrors with code, message and command', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const err = await rejection(c.set({ setpoint: 55 }));
    expect(err.code).toBe('RangeError');
    expect(err.command).toBe('set');
    expect(err.message).toBe('setpoint 55 °C is above the limit of 40 °C');
    expect((await rejection(c.call('frobnicate'))).code).toBe('NoSuchCommand');
    expect((await rejection(c.request('get_status "unbalanced'))).code).toBe('ProtocolError');
    // The connection is still in step.
    expect((await c.getId()).name).toBe('fake');
  });

  it('times out a request and keeps later replies paired', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    d.statusDelayMs = 60;
    const err = await rejection(c.request('get_status', { timeoutMs: 10 }));
    expect(err.code).toBe('Timeout');
    d.statusDelayMs = 0;
    expect((await c.getId()).name).toBe('fake');
  });

  it('identifies itself with id, which gets no reply', async () => {
    const d = await daemon();
    const c = client(d, { name: 'script 1' });
    await c.connect();
    expect((await c.request('ping')).line).toBe('pong');
    expect(d.received[0]).toBe('id name="script 1" type=client');
  });

  it('rejects requests at once while disconnected', async () => {
    const c = client(await freePort(), { reconnect: false });
    const err = await rejection(c.request('get_id'));
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toMatch(/^not connected to 127\.0\.0\.1:\d+/);
  });
});

describe('LabwireClient: connecting', () => {
  it('rejects on the first failure without reconnect', async () => {
    const c = client(await freePort(), { reconnect: false });
    const err = await rejection(c.connect());
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toMatch(/cannot connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  });

  it('keeps trying with back-off until connectTimeoutMs, then stops', async () => {
    const c = client(await freePort(), { connectTimeoutMs: 150 });
    const attempts: number[] = [];
    c.on('reconnecting', (info) => attempts.push(info.delayMs));
    const t0 = Date.now();
    const err = await rejection(c.connect());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(err.code).toBe('Timeout');
    expect(err.message).toMatch(/could not connect to 127\.0\.0\.1:\d+ within 150 ms \(last error: cannot connect .*ECONNREFUSED/);
    expect(attempts.slice(0, 3)).toEqual([10, 20, 40]);
    expect(Math.max(...attempts)).toBeLessThanOrEqual(50);
    const n = attempts.length;
    await sleep(80);
    expect(attempts.length).toBe(n);
  });

  it('connects once the daemon comes up', async () => {
    const port = await freePort();
    const c = client(port);
    const connecting = c.connect();
    await sleep(40);
    const d = new FakeDaemon();
    await d.start(port);
    cleanups.push(() => d.stop());
    await connecting;
    expect((await c.getId()).name).toBe('fake');
  });

  it('authenticates with a token', async () => {
    const d = await daemon({ token: 's3cret' });
    const c = client(d, { token: 's3cret' });
    await c.connect();
    expect(d.received[0]).toBe('auth token=s3cret');
    expect((await c.getId()).name).toBe('fake');
  });

  it('rejects a refused token at once, even with reconnect on', async () => {
    const d = await daemon({ token: 's3cret' });
    const c = client(d, { token: 'wrong' });
    const err = await rejection(c.connect());
    expect(err.code).toBe('Unauthorized');
    expect(err.message).toBe('token refused');
    expect(c.connected).toBe(false);
  });

  it('passes on Unauthorized replies when no token is given', async () => {
    const d = await daemon({ token: 's3cret' });
    const c = client(d);
    await c.connect();
    expect((await rejection(c.getId())).code).toBe('Unauthorized');
  });

  it('reconnects after the daemon restarts and reports both events', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const events: string[] = [];
    c.on('disconnected', (reason) => events.push(`down: ${reason}`));
    c.on('connected', () => events.push('up'));
    await d.stop();
    await until(() => events.length === 1, 'disconnected');
    expect(events[0]).toMatch(/^down: connection to 127\.0\.0\.1:\d+ (closed|lost)/);
    expect((await rejection(c.getId())).code).toBe('CommunicationFailed');
    await d.start();
    await until(() => c.connected, 'reconnect');
    expect(events).toHaveLength(2);
    expect(events[1]).toBe('up');
    expect((await c.getId()).name).toBe('fake');
  });

  it('connects over TLS, verifying the certificate', async () => {
    const d = await daemon({ tls: { cert: testPki().serverCert, key: testPki().serverKey } });
    const c = client(d, { tls: { ca: testPki().caCert } });
    await c.connect();
    expect((await c.getId()).name).toBe('fake');
    const named = client(d, { host: 'localhost', tls: { ca: testPki().caCert } });
    await named.connect();
    expect((await named.request('ping')).line).toBe('pong');
  });

  it('refuses an untrusted certificate at once', async () => {
    const d = await daemon({ tls: { cert: testPki().serverCert, key: testPki().serverKey } });
    const c = client(d, { tls: true });
    const t0 = Date.now();
    const err = await rejection(c.connect());
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toMatch(/^cannot connect to 127\.0\.0\.1:\d+: .*(certificate|verify)/i);
    expect((err.cause as NodeJS.ErrnoException).code).toMatch(/CERT|SIGNED|VERIFY/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('LabwireClient: subscribe', () => {
  it('yields updates and unsubscribes when the loop ends', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const got: Update[] = [];
    const loop = (async () => {
      for await (const u of c.subscribe()) {
        got.push(u);
        if (got.length === 3) break;
      }
    })();
    await until(() => d.subscribed.size === 1, 'subscribe');
    d.set({ temperature: 19 });
    d.set({ temperature: 18, state: 'busy' });
    d.set({ setpoint: 10 });
    await loop;
    expect(got.map((u) => u.values)).toEqual([{ temperature: '19' }, { temperature: '18', state: 'busy' }, { setpoint: '10' }]);
    expect(got[0]?.t).toBeGreaterThan(1.6e12);
    await until(() => d.subscribed.size === 0, 'unsubscribe');
    expect(d.received.filter((l) => l.endsWith('subscribe'))).toEqual(['subscribe', 'unsubscribe']);
  });

  it('filters by parameter and unsubscribes only after the last subscription', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const temps: string[] = [];
    const states: string[] = [];
    const a = c.subscribe(['temperature'])[Symbol.asyncIterator]();
    const b = c.subscribe(['state'])[Symbol.asyncIterator]();
    await until(() => d.received.includes('subscribe state temperature'), 'union subscribe');
    d.set({ temperature: 1, state: 'busy' });
    d.set({ temperature: 2 });
    temps.push((await a.next()).value?.values.temperature, (await a.next()).value?.values.temperature);
    states.push((await b.next()).value?.values.state);
    expect(temps).toEqual(['1', '2']);
    expect(states).toEqual(['busy']);
    await a.return?.();
    expect(d.subscribed.size).toBe(1);
    await b.return?.();
    expect(d.subscribed.size).toBe(0);
    expect(d.received.filter((l) => l === 'unsubscribe')).toHaveLength(1);
  });

  it('unsubscribes when the loop ends before the subscription is confirmed', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const it = c.subscribe()[Symbol.asyncIterator]();
    await it.return?.();
    await until(() => d.received.includes('unsubscribe'), 'unsubscribe');
    expect(d.received.slice(-2)).toEqual(['subscribe', 'unsubscribe']);
    expect(d.subscribed.size).toBe(0);
  });

  it('throws a refused subscription from the loop', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const it = c.subscribe(['nonsense'])[Symbol.asyncIterator]();
    const err = await rejection(it.next());
    expect(err.code).toBe('NoSuchParameter');
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('re-subscribes after a restart and keeps the loop going', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const it = c.subscribe(['temperature'])[Symbol.asyncIterator]();
    await until(() => d.subscribed.size === 1, 'subscribe');
    d.set({ temperature: 5 });
    expect((await it.next()).value?.values).toEqual({ temperature: '5' });
    await d.stop();
    await until(() => !c.connected, 'disconnect');
    await d.start();
    await until(() => d.subscribed.size === 1, 're-subscribe');
    d.set({ temperature: 6 });
    expect((await it.next()).value?.values).toEqual({ temperature: '6' });
    await it.return?.();
  });

  it('ends the loop when the client closes', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const it = c.subscribe()[Symbol.asyncIterator]();
    const next = it.next();
    await c.close();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('keeps the daemon subscribed while a loop and a waitFor share it', async () => {
    const d = await daemon({ values: { temperature: 17 } });
    const c = client(d);
    await c.connect();
    const it = c.subscribe(['temperature'])[Symbol.asyncIterator]();
    const waiting = c.waitFor('temperature<15', { timeoutMs: 2000 });
    await until(() => d.received.includes('subscribe'), 'subscribe to all');
    d.set({ temperature: 14 });
    await waiting;
    expect((await it.next()).value?.values).toEqual({ temperature: '14' });
    await sleep(20);
    expect(d.received).not.toContain('unsubscribe');
    await it.return?.();
    await until(() => d.received.includes('unsubscribe'), 'unsubscribe');
  });

  it('reads CCDLab notice lines as logs when isPush lets them through', async () => {
    const d = await daemon();
    const c = client(d, { isPush: (cmd) => ['update', 'log', 'info', 'warning'].includes(cmd.name ?? '') });
    await c.connect();
    const logs: LogEntry[] = [];
    c.on('log', (e) => logs.push(e));
    for (const conn of d.connections) conn.send('warning WARNING value out of range: LOOP 1:PGAIN 2000');
    expect((await c.request('ping')).line).toBe('pong');
    await until(() => logs.length === 1, 'log');
    expect(logs[0]).toMatchObject({ level: 'warning', message: 'WARNING value out of range: LOOP 1:PGAIN 2000' });
  });

  it('emits log pushes', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const logs: LogEntry[] = [];
    c.on('log', (e) => logs.push(e));
    const it = c.subscribe()[Symbol.asyncIterator]();
    await until(() => d.subscribed.size === 1, 'subscribe');
    d.log('warning', 'pump "A" slow');
    await until(() => logs.length === 1, 'log');
    expect(logs[0]).toMatchObject({ level: 'warning', message: 'pump "A" slow' });
    await it.return?.();
  });
});

describe('LabwireClient: waitFor', () => {
  it('resolves at once when the condition already holds', async () => {
    const d = await daemon();
    const c = client(d);
    await c.connect();
    const values = await c.waitFor('temperature<=20 && state=idle', { timeoutMs: 1000 });
    expect(values).toMatchObject({ temperature: 20, state: 'idle' });
  });

  it('follows updates until the condition holds, typed by describe', async () => {
    const d = await daemon({ values: { code: '007' } });
    const c = client(d);
    await c.connect();
    const waiting = c.waitFor((v) => typeof v.temperature === 'number' && v.temperature < 15 && v.running === false, { timeoutMs: 2000 });
    await until(() => d.subscribed.size === 1, 'subscribe');
    await sleep(20);
    d.set({ temperature: 16 });
    d.set({ temperature: 14.5, running: false, code: '008' });
    const values = await waiting;
    expect(values).toMatchObject({ temperature: 14.5, running: false, code: '008', state: 'idle' });
    await until(() => d.subscribed.size === 0, 'unsubscribe after waitFor');
  });

  it('restarts the stability timer when the condition flickers', async () => {
    const d = await daemon({ values: { temperature: 17 } });
    const c = client(d);
    await c.connect();
    const t0 = Date.now();
    let resolvedAt = 0;
    // Generous margins: each sleep may overshoot by up to ~100 ms on a loaded machine.
    const waiting = c.waitFor('temperature<15', { stableForMs: 150, timeoutMs: 3000 }).then((v) => {
      resolvedAt = Date.now();
      return v;
    });
    await until(() => d.subscribed.size === 1, 'subscribe');
    d.set({ temperature: 14 });
    await sleep(40);
    d.set({ temperature: 15.5 });
    await sleep(10);
    const tBack = Date.now();
    d.set({ temperature: 14.8 });
    await sleep(40);
    expect(resolvedAt).toBe(0);
    const values = await waiting;
    expect(values.temperature).toBe(14.8);
    expect(resolvedAt - tBack).toBeGreaterThanOrEqual(145);
    expect(resolvedAt - t0).toBeLessThan(2000);
  });

  it('times out with a message that shows the last values', async () => {
    const d = await daemon({ values: { temperature: 17.2 } });
    const c = client(d);
    await c.connect();
    const err = await rejection(c.waitFor('temperature<15', { timeoutMs: 300 }));
    expect(err.code).toBe('Timeout');
    expect(err.message).toBe('condition "temperature<15" not met within 300 ms; last temperature=17.2');
    const err2 = await rejection(c.waitFor('temperature<18 && pressure<1', { timeoutMs: 1000 }));
    expect(err2.message).toBe('condition "temperature<18 && pressure<1" not met within 1 s; last temperature=17.2, pressure=(no value)');
  });

  it('says how long a condition held when it was not stable long enough', async () => {
    const d = await daemon({ values: { temperature: 10 } });
    const c = client(d);
    await c.connect();
    const err = await rejection(c.waitFor('temperature<15', { timeoutMs: 60, stableForMs: 1000 }));
    expect(err.message).toMatch(/^condition "temperature<15" not met within 60 ms; last temperature=10; it has held for \d+ ms of the required 1 s$/);
  });

  it('keeps waiting across a daemon restart', async () => {
    const d = await daemon({ values: { temperature: 17 } });
    const c = client(d);
    await c.connect();
    const waiting = c.waitFor('temperature<15', { timeoutMs: 3000 });
    await until(() => d.subscribed.size === 1, 'subscribe');
    await d.stop();
    await until(() => !c.connected, 'disconnect');
    d.values.temperature = 17;
    await d.start();
    await until(() => d.subscribed.size === 1, 're-subscribe');
    d.set({ temperature: 12 });
    expect((await waiting).temperature).toBe(12);
  });

  it('picks up a value that changed while disconnected', async () => {
    const d = await daemon({ values: { temperature: 17 } });
    const c = client(d);
    await c.connect();
    const waiting = c.waitFor('temperature<15', { timeoutMs: 3000 });
    await until(() => d.subscribed.size === 1, 'subscribe');
    await d.stop();
    d.values.temperature = 11;
    await d.start();
    expect((await waiting).temperature).toBe(11);
  });

  it('rejects when the connection is lost and reconnect is off', async () => {
    const d = await daemon({ values: { temperature: 17 } });
    const c = client(d, { reconnect: false });
    await c.connect();
    const waiting = c.waitFor('temperature<15', { timeoutMs: 3000 });
    await until(() => d.subscribed.size === 1, 'subscribe');
    await d.stop();
    const err = await rejection(waiting);
    expect(err.code).toBe('CommunicationFailed');
    expect(err.message).toMatch(/while waiting for temperature<15$/);
  });

  it('polls a CCDLab daemon, which cannot push', async () => {
    const d = await daemon({ ccdlab: true, values: { temperatureA: 80 } });
    const c = client(d);
    await c.connect();
    const st = await c.status();
    expect(st.values).toMatchObject({ hw_connected: '1', temperatureA: '80' });
    const waiting = c.waitFor('temperatureA<77.5 && hw_connected=1', { timeoutMs: 2000, pollMs: 20 });
    await sleep(50);
    d.values.temperatureA = 77.3;
    expect((await waiting).temperatureA).toBe(77.3);
    expect(d.received.some((l) => l.startsWith('subscribe'))).toBe(false);
  });

  it('stops on abort and on close', async () => {
    const d = await daemon({ values: { temperature: 17 } });
    const c = client(d);
    await c.connect();
    const ac = new AbortController();
    const aborted = c.waitFor('temperature<15', { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user gave up')), 20);
    await expect(aborted).rejects.toThrow('user gave up');
    const closing = rejection(c.waitFor('temperature<15'));
    await sleep(20);
    await c.close();
    expect((await closing).code).toBe('CommunicationFailed');
  });

  it('refuses a malformed condition and a client that is not connected', async () => {
    const c = client(await freePort(), { reconnect: false });
    await expect(c.waitFor('temperature<')).rejects.toThrow("condition 'temperature<' has no value after '<'");
    expect((await rejection(c.waitFor('temperature<5'))).code).toBe('CommunicationFailed');
  });
});

describe('convertValue', () => {
  it.each([
    ['20.5', undefined, 20.5],
    ['nan', undefined, null],
    ['inf', 'float', Infinity],
    ['-inf', undefined, -Infinity],
    ['idle', undefined, 'idle'],
    ['1', 'bool', true],
    ['false', 'bool', false],
    ['007', 'string', '007'],
    ['007', undefined, 7],
    ['3', 'enum', '3'],
  ] as const)('%j as %s → %j', (raw, type, expected) => {
    expect(convertValue(raw, type)).toBe(expected);
  });
});
