/**
 * Live streams over real HTTP on 127.0.0.1: SSE snapshot and events, WebSocket events and
 * commands, auth on both, and the fan-out's bounds for slow clients.
 */
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startWeb, type WebOptions, type WebServer } from '../src/web/server.js';
import { FakeArchive, FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { openSse, openWs, type SseClient, type WsClient } from '../src/web/test-helpers/clients.js';
import { Hub, HubEvent, sseFrame, type Sink } from '../src/web/hub.js';
import { parseTokenFile } from '../src/server/index.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually } from '../src/testing/eventually.js';

let web: WebServer | undefined;
let monitor: FakeMonitor;
const clients: Array<SseClient | WsClient> = [];

async function start(opts: Partial<WebOptions> = {}): Promise<WebServer> {
  monitor = new FakeMonitor({ archive: new FakeArchive() });
  web = await startWeb({ monitor, port: 0, logger: silentLogger(), uiDir: '/nonexistent', ...opts });
  return web;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await web?.close();
  web = undefined;
});

describe('SSE /api/stream', () => {
  it('sends a snapshot, then an update within a short time after a device change', async () => {
    const w = await start();
    const sse = await openSse(`${w.url}api/stream`);
    clients.push(sse);
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
    const snap = await sse.next((e) => e.event === 'snapshot');
    expect(snap.data).toMatchObject({ monitor: 'monitor', readOnly: false, role: 'admin', devices: [{ name: 'chiller', connected: true }] });
    const t0 = performance.now();
    monitor.setValues('chiller', { temperature: 30.25 });
    const upd = await sse.next((e) => e.event === 'update', 1000);
    expect(upd.data).toMatchObject({ client: 'chiller', values: { temperature: 30.25 } });
    expect(upd.at - t0).toBeLessThan(200);
  });

  it('carries message and peer events', async () => {
    const w = await start();
    const sse = await openSse(`${w.url}api/stream`);
    clients.push(sse);
    await sse.next((e) => e.event === 'snapshot');
    monitor.message('script', 'warning', 'hello there');
    monitor.setConnected('chiller', false);
    expect((await sse.next((e) => e.event === 'message')).data).toMatchObject({ source: 'script', level: 'warning', message: 'hello there' });
    expect((await sse.next((e) => e.event === 'peer')).data).toMatchObject({ name: 'chiller', connected: false, units: { temperature: '°C' } });
  });

  it('serves many clients at once', async () => {
    // One address stands for many browsers here: the per-user cap is lifted.
    const w = await start({ streamLimits: { maxPerOwner: 100 } });
    const many = await Promise.all(Array.from({ length: 30 }, () => openSse(`${w.url}api/stream`)));
    clients.push(...many);
    await Promise.all(many.map((c) => c.next((e) => e.event === 'snapshot')));
    monitor.setValues('chiller', { temperature: 12 });
    await Promise.all(many.map((c) => c.next((e) => e.event === 'update')));
  });

  it('brings a value change to 50 browsers quickly (p99 reported)', async () => {
    const w = await start({ streamLimits: { maxPerOwner: 100 } });
    const many = await Promise.all(Array.from({ length: 50 }, () => openSse(`${w.url}api/stream`)));
    clients.push(...many);
    await Promise.all(many.map((c) => c.next((e) => e.event === 'snapshot')));
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      monitor.setValues('chiller', { temperature: 100 + i });
      const got = await Promise.all(many.map((c) => c.next((e) => e.event === 'update' && (e.data as { values: { temperature: number } }).values.temperature === 100 + i, 2000)));
      for (const e of got) latencies.push(e.at - t0);
    }
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    console.log(`SSE fan-out to 50 clients: p50 ${latencies[latencies.length >> 1]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    // The target is < 100 ms; the bound here leaves room for a loaded test machine.
    expect(p99).toBeLessThan(250);
  });

  it('needs a role when tokens are configured', async () => {
    const w = await start({ tokens: parseTokenFile('viewer view-token-0123456789', 't') });
    const denied = await openSse(`${w.url}api/stream`);
    clients.push(denied);
    expect(denied.status).toBe(401);
    const ok = await openSse(`${w.url}api/stream`, { authorization: 'Bearer view-token-0123456789' });
    clients.push(ok);
    expect(ok.status).toBe(200);
    expect((await ok.next((e) => e.event === 'snapshot')).data).toMatchObject({ role: 'viewer' });
  });

  it('keeps a fast client fast while another does not read', async () => {
    const w = await start();
    const slow = await openSse(`${w.url}api/stream`);
    clients.push(slow);
    slow.res.pause();
    const fast = await openSse(`${w.url}api/stream`);
    clients.push(fast);
    await fast.next((e) => e.event === 'snapshot');
    const big = 'x'.repeat(8000);
    // ~32 MB for the stalled client: far beyond the socket buffers.
    for (let i = 0; i < 4000; i++) {
      monitor.setValues('chiller', { temperature: i, state_text: big });
      if (i % 200 === 0) await new Promise((r) => setImmediate(r));
    }
    monitor.setValues('chiller', { temperature: -1 });
    const last = await fast.next((e) => e.event === 'update' && (e.data as { values: { temperature: number } }).values.temperature === -1, 5000);
    expect(last).toBeDefined();
    const health = await (await fetch(`${w.url}api/health`)).json();
    expect(health.streams.merged).toBeGreaterThan(100);
    // Resuming delivers the latest values (merged), not the whole backlog.
    const before = slow.events.length;
    slow.res.resume();
    await slow.next((e) => e.event === 'update' && (e.data as { values: { temperature: number } }).values.temperature === -1, 5000, before);
  });
});

describe('WebSocket /api/ws', () => {
  it('sends a snapshot and events, and runs commands', async () => {
    const w = await start();
    const ws = await openWs(`${w.url.replace('http', 'ws')}api/ws`);
    clients.push(ws);
    expect((await ws.next((m) => m.type === 'snapshot')).data).toMatchObject({ devices: [{ name: 'chiller' }] });
    monitor.setValues('chiller', { temperature: 5 });
    expect((await ws.next((m) => m.type === 'update')).data).toMatchObject({ client: 'chiller', values: { temperature: 5 } });
    ws.ws.send(JSON.stringify({ type: 'command', id: 7, client: 'chiller', line: 'set setpoint=22' }));
    const ok = await ws.next((m) => m.type === 'reply' && (m.data as { id: number }).id === 7);
    expect(ok.data).toMatchObject({ ok: true, status: 200, result: { command: 'set', results: { setpoint: 22 } } });
    ws.ws.send(JSON.stringify({ type: 'command', id: 8, client: 'chiller', line: 'set setpoint=99' }));
    const bad = await ws.next((m) => m.type === 'reply' && (m.data as { id: number }).id === 8);
    expect(bad.data).toMatchObject({ ok: false, status: 400, error: { code: 'RangeError' } });
    ws.ws.send('not json');
    expect((await ws.next((m) => m.type === 'error')).data).toMatchObject({ code: 'BadRequest' });
  });

  it('refuses commands from a viewer and connections without a token', async () => {
    const w = await start({ tokens: parseTokenFile('viewer view-token-0123456789', 't') });
    const url = `${w.url.replace('http', 'ws')}api/ws`;
    await expect(openWs(url)).rejects.toMatchObject({ status: 401 });
    const ws = await openWs(url, { authorization: 'Bearer view-token-0123456789' });
    clients.push(ws);
    ws.ws.send(JSON.stringify({ type: 'command', id: 1, client: 'chiller', line: 'set setpoint=22' }));
    expect((await ws.next((m) => m.type === 'reply')).data).toMatchObject({ ok: false, status: 403 });
    expect(monitor.sent).toEqual([]);
  });

  it('refuses cross-origin connections', async () => {
    const w = await start();
    await expect(openWs(`${w.url.replace('http', 'ws')}api/ws`, { origin: 'http://evil.example' })).rejects.toMatchObject({ status: 403 });
  });
});

describe('Hub bounds', () => {
  function stuckSink(): Sink & { frames: string[]; drain: () => void; closed: string | undefined } {
    let cb: (() => void) | undefined;
    let stuck = true;
    const s = {
      frames: [] as string[],
      closed: undefined as string | undefined,
      write(f: string) {
        s.frames.push(f);
        return !stuck;
      },
      onDrain(c: () => void) {
        cb = c;
      },
      close(reason: string) {
        s.closed = reason;
      },
      drain() {
        stuck = false;
        const c = cb;
        cb = undefined;
        c?.();
      },
    };
    return s;
  }

  it('merges updates, replaces peer events and caps messages for a blocked subscriber', () => {
    const hub = new Hub({ maxQueuedMessages: 5 });
    const slow = stuckSink();
    const sub = hub.add('sse', slow, sseFrame);
    const fast: string[] = [];
    hub.add('sse', { write: (f) => (fast.push(f), true), onDrain: () => undefined, close: () => undefined }, sseFrame);
    sub.push(new HubEvent('snapshot', {}));
    for (let i = 0; i < 10_000; i++) {
      hub.publishUpdate({ client: `d${i % 3}`, t: i, values: { v: i, [`k${i % 7}`]: i } });
      if (i % 10 === 0) hub.publishMessage({ t: i, source: 's', level: 'info', message: `m${i}` });
      if (i % 100 === 0) hub.publish('peer', { name: 'd0', connected: i % 200 === 0 });
      if (i % 100 === 50) hub.publish('alarm', { state: { id: `a${i % 200}`, state: i % 400 < 200 ? 'raised' : 'cleared', since: i }, transition: {} });
    }
    expect(fast.length).toBe(10_000 + 1000 + 100 + 100);
    expect(sub.queued).toBeLessThanOrEqual(3 + 1 + 2 + 5);
    slow.drain();
    const events = slow.frames.slice(1).map((f) => ({ type: /^event: (\w+)/.exec(f)![1], data: JSON.parse(f.split('data: ')[1]!) }));
    const d0 = events.find((e) => e.type === 'update' && e.data.client === 'd0')!;
    expect(d0.data.values.v).toBe(9999);
    expect(Object.keys(d0.data.values).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'v']);
    expect(events.filter((e) => e.type === 'message').map((e) => e.data.message)).toEqual(['m9950', 'm9960', 'm9970', 'm9980', 'm9990']);
    expect(events.find((e) => e.type === 'dropped')!.data.count).toBe(995);
    expect(events.filter((e) => e.type === 'peer')).toHaveLength(1);
    // One alarm event per alarm, each its newest state.
    const alarms = events.filter((e) => e.type === 'alarm').map((e) => e.data.state);
    expect(alarms.map((a) => [a.id, a.since]).sort()).toEqual([['a150', 9950], ['a50', 9850]]);
    expect(alarms.find((a) => a.id === 'a150').state).toBe('cleared');
  });

  it('disconnects a subscriber that stays blocked too long', async () => {
    const hub = new Hub({ stallMs: 20 });
    const slow = stuckSink();
    const sub = hub.add('sse', slow, sseFrame);
    hub.publishUpdate({ client: 'a', t: 1, values: { v: 1 } });
    await new Promise((r) => setTimeout(r, 40));
    hub.publishUpdate({ client: 'a', t: 2, values: { v: 2 } });
    expect(sub.isClosed).toBe(true);
    expect(slow.closed).toMatch(/did not read/);
    expect(hub.size).toBe(0);
  });
});

describe('stream slots per user', () => {
  const TOKENS = parseTokenFile(['viewer view-token-0123456789 alice', 'viewer other-token-0123456789 bob'].join('\n'), 't');
  const alice = { authorization: 'Bearer view-token-0123456789' };
  const bob = { authorization: 'Bearer other-token-0123456789' };

  it('caps the streams of one user with a clear 429, leaving slots for everyone else', async () => {
    const w = await start({ tokens: TOKENS, streamLimits: { maxPerOwner: 3 } });
    const mine = await Promise.all([0, 1, 2].map(() => openSse(`${w.url}api/stream`, alice)));
    clients.push(...mine);
    expect(mine.map((c) => c.status)).toEqual([200, 200, 200]);
    const fourth = await fetch(`${w.url}api/stream`, { headers: alice });
    expect(fourth.status).toBe(429);
    expect(fourth.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await fourth.json()).toMatchObject({ code: 'TooManyStreams', message: expect.stringContaining('3 live streams') });
    // The WebSocket counts against the same slots.
    await expect(openWs(`${w.url.replace('http', 'ws')}api/ws`, alice)).rejects.toMatchObject({ status: 429 });
    const other = await openSse(`${w.url}api/stream`, bob);
    clients.push(other);
    expect(other.status).toBe(200);
    // A closed stream frees its slot.
    mine[0]!.close();
    await eventually(async () => {
      const again = await openSse(`${w.url}api/stream`, alice);
      clients.push(again);
      expect(again.status).toBe(200);
    }, 10_000, 50);
  });

  it('counts anonymous clients per address', async () => {
    const w = await start({ streamLimits: { maxPerOwner: 2 } });
    const two = await Promise.all([0, 1].map(() => openSse(`${w.url}api/stream`)));
    clients.push(...two);
    expect(two.map((c) => c.status)).toEqual([200, 200]);
    const third = await openSse(`${w.url}api/stream`);
    clients.push(third);
    expect(third.status).toBe(429);
  });
});

describe('clients that never read', () => {
  /** A raw socket that sends `request` and never reads a byte of the answer. */
  function silentClient(port: number, request: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.pause();
        s.write(request, () => resolve(s));
      });
      s.on('error', () => undefined);
      s.once('error', reject);
    });
  }
  const health = async (w: WebServer): Promise<{ streams: { subscribers: number; sse: number; ws: number; blocked: number } }> => (await fetch(`${w.url}api/health`)).json();
  const sockets: net.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  it('drops an SSE reader whose buffers are full within the stall limit, even when nothing more is published', async () => {
    const w = await start({ streamLimits: { stallMs: 1000 } });
    const healthy = await openSse(`${w.url}api/stream`);
    clients.push(healthy);
    sockets.push(await silentClient(w.port, 'GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n'));
    await eventually(async () => expect((await health(w)).streams.sse).toBe(2));
    // Fill the kernel's buffers (a few MB on Linux) until the hub sees the reader blocked; bounded.
    const big = 'x'.repeat(8000);
    let published = 0;
    for (let burst = 0; burst < 200 && (await health(w)).streams.blocked === 0; burst++) {
      for (let i = 0; i < 100; i++) monitor.setValues('chiller', { temperature: published++, state_text: big });
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await health(w)).streams.blocked).toBe(1);
    // A quiet lab from now on: no event comes that could notice the stall.
    await eventually(async () => expect((await health(w)).streams).toMatchObject({ sse: 1, blocked: 0 }), 15_000, 50);
    console.log(`a non-reading SSE client was dropped after ${published} updates of 8 kB filled its buffers`);
    // The reader that reads is untouched.
    monitor.setValues('chiller', { temperature: -5 });
    await healthy.next((e) => e.event === 'update' && (e.data as { values: { temperature: number } }).values.temperature === -5, 10_000);
  });

  it('drops a WebSocket that never answers pings, in a quiet lab', async () => {
    const w = await start({ streamLimits: { stallMs: 600 } });
    const healthy = await openWs(`${w.url.replace('http', 'ws')}api/ws`);
    clients.push(healthy);
    const key = randomBytes(16).toString('base64');
    sockets.push(await silentClient(w.port, `GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    await eventually(async () => expect((await health(w)).streams.ws).toBe(2));
    await eventually(async () => expect((await health(w)).streams.ws).toBe(1), 15_000, 50);
    // The client that answers pings (the ws library does, as browsers do) stays connected.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await health(w)).streams.ws).toBe(1);
    monitor.setValues('chiller', { temperature: 7 });
    await healthy.next((m) => m.type === 'update' && (m.data as { values: { temperature: number } }).values.temperature === 7, 10_000);
  });
});

describe('closing', () => {
  it('ends open streams and closes quickly', async () => {
    const w = await start();
    const sse = await openSse(`${w.url}api/stream`);
    const ws = await openWs(`${w.url.replace('http', 'ws')}api/ws`);
    clients.push(sse, ws);
    await sse.next((e) => e.event === 'snapshot');
    const ended = new Promise((r) => sse.res.on('close', r));
    const t0 = Date.now();
    await w.close();
    web = undefined;
    await ended;
    expect(Date.now() - t0).toBeLessThan(2000);
    await new Promise<void>((resolve) => {
      http.get(w.url, () => resolve()).on('error', () => resolve());
    });
  });
});
