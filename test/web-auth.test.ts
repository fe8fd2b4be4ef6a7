/**
 * Authentication and roles of the web server: 401 without a token, 403 for a role too low, the
 * session cookie from /api/login (HttpOnly, SameSite=Strict, random, server-side, logout), bearer
 * tokens, read-only mode, and the open loopback default without tokens.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createWebApp, startWeb, type WebOptions, type WebServer } from '../src/web/server.js';
import { FakeArchive, FakeMonitor } from '../src/web/test-helpers/fake-monitor.js';
import { SessionStore } from '../src/web/auth.js';
import { parseTokenFile } from '../src/server/index.js';
import { silentLogger } from '../src/util/logger.js';
import { sleep } from '../src/testing/eventually.js';

const TOKENS = parseTokenFile(
  ['viewer view-token-0123456789 alice', 'operator oper-token-0123456789 bob', 'admin admin-token-0123456789 root'].join('\n'),
  'test',
);

let app: FastifyInstance | undefined;
let monitor: FakeMonitor;

async function make(opts: Partial<WebOptions> = {}, readOnly = false): Promise<FastifyInstance> {
  monitor = new FakeMonitor({ archive: new FakeArchive(), readOnly });
  ({ app } = await createWebApp({ monitor, logger: silentLogger(), uiDir: '/nonexistent', ...opts }));
  return app;
}

afterEach(async () => {
  await app?.close();
  app = undefined;
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const command = (a: FastifyInstance, headers: Record<string, string> = {}, line = 'set setpoint=21') =>
  a.inject({ method: 'POST', url: '/api/devices/chiller/command', payload: { line }, headers });

describe('with tokens', () => {
  it('answers 401 without a token, with WWW-Authenticate', async () => {
    const a = await make({ tokens: TOKENS });
    for (const url of ['/api/devices', '/api/status', '/api/history?device=a&name=b', '/api/stream', '/monitor/status']) {
      const res = await a.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.json().code).toBe('Unauthorized');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect((await command(a)).statusCode).toBe(401);
    expect(monitor.sent).toEqual([]);
  });

  it('keeps the public routes public', async () => {
    const a = await make({ tokens: TOKENS });
    expect((await a.inject({ url: '/api/openapi.json' })).statusCode).toBe(200);
    const s = await a.inject({ url: '/api/session' });
    expect(s.json()).toMatchObject({ authRequired: true, role: null, tokensEnabled: true });
  });

  it('accepts bearer tokens and refuses a wrong one with 401', async () => {
    const a = await make({ tokens: TOKENS });
    expect((await a.inject({ url: '/api/devices', headers: bearer('view-token-0123456789') })).statusCode).toBe(200);
    expect((await a.inject({ url: '/api/devices', headers: bearer('wrong-token-0123456789') })).statusCode).toBe(401);
    expect((await a.inject({ url: '/api/devices', headers: { authorization: 'Basic abc' } })).statusCode).toBe(401);
  });

  it('refuses commands from a viewer with 403 and takes them from an operator', async () => {
    const a = await make({ tokens: TOKENS });
    const v = await command(a, bearer('view-token-0123456789'));
    expect(v.statusCode).toBe(403);
    expect(v.json()).toMatchObject({ code: 'Forbidden', message: expect.stringContaining('operator') });
    expect(monitor.sent).toEqual([]);
    const o = await command(a, bearer('oper-token-0123456789'));
    expect(o.statusCode).toBe(200);
    expect(monitor.sent[0]!.actor.who).toBe('bob');
  });

  it('needs admin for exit', async () => {
    const a = await make({ tokens: TOKENS });
    expect((await command(a, bearer('oper-token-0123456789'), 'exit')).statusCode).toBe(403);
  });

  it('logs in with a session cookie: HttpOnly, SameSite=Strict, random, and logs out', async () => {
    const a = await make({ tokens: TOKENS });
    const bad = await a.inject({ method: 'POST', url: '/api/login', payload: { token: 'nope-nope-nope-nope' } });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
    const res = await a.inject({ method: 'POST', url: '/api/login', payload: { token: 'oper-token-0123456789' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ role: 'operator', name: 'bob', via: 'session' });
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^labwire_session=[A-Za-z0-9_-]{43}; /);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('oper-token');
    const sid = cookie.split(';')[0]!;
    const res2 = await a.inject({ method: 'POST', url: '/api/login', payload: { token: 'oper-token-0123456789' } });
    expect(String(res2.headers['set-cookie']).split(';')[0]).not.toBe(sid);

    expect((await a.inject({ url: '/api/devices', headers: { cookie: sid } })).statusCode).toBe(200);
    expect((await command(a, { cookie: sid })).statusCode).toBe(200);
    expect((await a.inject({ url: '/api/session', headers: { cookie: sid } })).json().role).toBe('operator');

    const out = await a.inject({ method: 'POST', url: '/api/logout', headers: { cookie: sid } });
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await a.inject({ url: '/api/devices', headers: { cookie: sid } })).statusCode).toBe(401);
    // A forged session id is nobody.
    expect((await a.inject({ url: '/api/devices', headers: { cookie: 'labwire_session=forged' } })).statusCode).toBe(401);
  });

  it('backs off failed logins without locking out the right token', async () => {
    const a = await make({ tokens: TOKENS, authThrottle: { freeFailures: 3, baseDelayMs: 5, maxDelayMs: 20 } });
    for (let i = 0; i < 12; i++) {
      const res = await a.inject({ method: 'POST', url: '/api/login', payload: { token: `bad-${i}-xxxxxxxxxxxx` } });
      expect(res.statusCode).not.toBe(200);
    }
    // Twelve failures in a row: the right token is still accepted (CCDLab-style lockouts refused it).
    const res = await a.inject({ method: 'POST', url: '/api/login', payload: { token: 'oper-token-0123456789' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ role: 'operator', name: 'bob' });
  });

  it('lets an anonymous viewer read but not write when anonymousRole says so', async () => {
    const a = await make({ tokens: TOKENS, anonymousRole: 'viewer' });
    expect((await a.inject({ url: '/api/devices' })).statusCode).toBe(200);
    expect((await command(a)).statusCode).toBe(403);
    expect((await a.inject({ url: '/api/session' })).json()).toMatchObject({ authRequired: false, role: 'viewer' });
  });
});

describe('guessing tokens over real HTTP', () => {
  let web: WebServer | undefined;
  afterEach(async () => {
    await web?.close();
    web = undefined;
  });

  /** Sends `n` requests with `concurrency` in flight at once; counts the answers by status. */
  async function flood(url: string, n: number, concurrency: number, headers: (i: number) => Record<string, string>, init: RequestInit = {}): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        const res = await fetch(url, { ...init, headers: { ...headers(i), ...(init.headers as Record<string, string> | undefined) } });
        await res.arrayBuffer();
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return counts;
  }

  /** The right token, honouring Retry-After while the address is still serving a back-off (bounded). */
  async function rightToken(url: string, init: RequestInit): Promise<Response> {
    for (let i = 0; ; i++) {
      const res = await fetch(url, init);
      if (res.status !== 429 || i >= 10) return res;
      await res.arrayBuffer();
      await sleep(Number(res.headers.get('retry-after') ?? '1') * 1000);
    }
  }

  it('checks only a few of 500 wrong Bearer tokens, then accepts the right one', async () => {
    monitor = new FakeMonitor({ archive: new FakeArchive() });
    web = await startWeb({ monitor, port: 0, logger: silentLogger(), uiDir: '/nonexistent', tokens: TOKENS, authThrottle: { maxDelayMs: 2000 } });
    const url = `${web.url}api/devices`;
    const counts = await flood(url, 500, 25, (i) => bearer(`wrong-${i}-0123456789`));
    const unauthorized = counts.get(401) ?? 0;
    const limited = counts.get(429) ?? 0;
    console.log(`500 wrong Bearer tokens, 25 at a time: ${unauthorized} checked (401), ${limited} refused unchecked (429)`);
    expect(unauthorized + limited).toBe(500);
    expect(unauthorized).toBeLessThan(50);
    const res = await rightToken(url, { headers: bearer('view-token-0123456789') });
    expect(res.status).toBe(200);
    const health = await (await fetch(`${web.url}api/health`, { headers: bearer('view-token-0123456789') })).json();
    expect(health.tokens.failed).toBe(unauthorized);
    // The right token cleared the address: the next wrong one is answered at once again.
    expect(health.tokens.addresses).toBe(0);
  });

  it('throttles logins and Bearer headers together', async () => {
    monitor = new FakeMonitor({ archive: new FakeArchive() });
    web = await startWeb({ monitor, port: 0, logger: silentLogger(), uiDir: '/nonexistent', tokens: TOKENS, authThrottle: { maxDelayMs: 1000 } });
    const login = (token: string): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    const counts = await flood(`${web.url}api/login`, 200, 20, () => ({}), login('nope-nope-nope-nope'));
    expect(counts.get(401) ?? 0).toBeLessThan(40);
    const bearerNow = await fetch(`${web.url}api/devices`, { headers: bearer('wrong-again-0123456789') });
    expect([401, 429]).toContain(bearerNow.status);
    const res = await rightToken(`${web.url}api/login`, login('admin-token-0123456789'));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ role: 'admin', name: 'root' });
  });
});

describe('without tokens', () => {
  it('is open on loopback (anonymous admin)', async () => {
    const a = await make();
    expect((await a.inject({ url: '/api/devices' })).statusCode).toBe(200);
    expect((await command(a)).statusCode).toBe(200);
    expect((await a.inject({ url: '/api/session' })).json()).toMatchObject({ authRequired: false, role: 'admin', tokensEnabled: false });
    const login = await a.inject({ method: 'POST', url: '/api/login', payload: { token: 'x' } });
    expect(login.statusCode).toBe(400);
    expect(login.json().code).toBe('NoTokens');
  });

  it('anonymousRole none closes it', async () => {
    const a = await make({ anonymousRole: 'none' });
    expect((await a.inject({ url: '/api/devices' })).statusCode).toBe(401);
  });
});

describe('browser attacks on an open loopback server', () => {
  it('refuses commands from another site (CSRF), anonymous or not', async () => {
    const a = await make();
    expect((await command(a, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await command(a, { 'sec-fetch-site': 'same-site' })).statusCode).toBe(403);
    expect((await command(a, { origin: 'http://evil.example' })).statusCode).toBe(403);
    const img = await a.inject({ url: '/monitor/command?string=send%20chiller%20set%20setpoint=1', headers: { 'sec-fetch-site': 'cross-site' } });
    expect(img.statusCode).toBe(403);
    expect(monitor.sent).toEqual([]);
    expect((await command(a, { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:80' })).statusCode).toBe(200);
    // Reading stays possible (the page's own fetches are same-origin anyway).
    expect((await a.inject({ url: '/api/devices', headers: { 'sec-fetch-site': 'cross-site' } })).statusCode).toBe(200);
  });

  it('answers only to loopback host names when it listens on loopback (DNS rebinding)', async () => {
    const a = await make();
    const res = await a.inject({ url: '/api/devices', headers: { host: 'evil.example:8888' } });
    expect(res.statusCode).toBe(421);
    for (const host of ['127.0.0.1:8888', 'localhost', '[::1]:8888']) {
      expect((await a.inject({ url: '/api/devices', headers: { host } })).statusCode, host).toBe(200);
    }
    await a.close();
    const b = await make({ host: '0.0.0.0', tokens: TOKENS });
    expect((await b.inject({ url: '/api/devices', headers: { host: 'lab.example:8888', ...bearer('view-token-0123456789') } })).statusCode).toBe(200);
  });
});

describe('read-only monitor', () => {
  it('refuses write commands with 403 ReadOnly, allows reads, and says so in the session', async () => {
    const a = await make({}, true);
    const res = await command(a);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('ReadOnly');
    expect((await command(a, {}, 'start')).statusCode).toBe(403);
    expect((await command(a, {}, 'frobnicate')).statusCode).toBe(403);
    expect(monitor.sent).toEqual([]);
    expect((await command(a, {}, 'get_status')).statusCode).toBe(200);
    expect((await a.inject({ url: '/api/session' })).json().readOnly).toBe(true);
    expect((await a.inject({ url: '/monitor/command?string=send chiller set setpoint=1' })).statusCode).toBe(403);
  });
});

describe('SessionStore', () => {
  it('expires sessions and bounds their number', () => {
    let now = 1000;
    const s = new SessionStore(100, 3, () => now);
    const a = s.create('viewer', 'a');
    expect(s.get(a.id)?.name).toBe('a');
    now += 101;
    expect(s.get(a.id)).toBeUndefined();
    const ids = [s.create('viewer', '1'), s.create('viewer', '2'), s.create('viewer', '3'), s.create('viewer', '4')].map((x) => x.id);
    expect(s.size).toBe(3);
    expect(s.get(ids[0]!)).toBeUndefined();
    expect(s.get(ids[3]!)?.name).toBe('4');
  });
});
