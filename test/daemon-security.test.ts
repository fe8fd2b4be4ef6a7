/**
 * Security from day one: tokens and roles, read-only mode, rate and connection limits, TLS, the
 * audit trail and the warning for an open listener. Real sockets, the Julabo simulator behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadTokenFile, parseTokenFile, tokensFromEnv } from '../src/server/index.js';
import { LabwireClient } from '../src/client/client.js';
import { testPki } from '../src/testing/tls.js';
import { eventually, kv, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';

let lab: JulaboLab | undefined;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-sec-'));
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

const TOKENS = `# role token name
viewer   viewer-token-0123456789 alice
operator operator-token-0123456789 bob
admin    admin-token-0123456789
`;

describe('tokens and roles', () => {
  it('parses token files and reports bad lines with file and line number', () => {
    expect(parseTokenFile(TOKENS, 'tokens.txt')).toEqual([
      { role: 'viewer', token: 'viewer-token-0123456789', name: 'alice' },
      { role: 'operator', token: 'operator-token-0123456789', name: 'bob' },
      { role: 'admin', token: 'admin-token-0123456789', name: 'admin-3' },
    ]);
    expect(parseTokenFile('operator abc#def#0123456789 # carol', 't.txt')).toEqual([{ role: 'operator', token: 'abc#def#0123456789', name: 'operator-1' }]);
    expect(() => parseTokenFile('superuser abcdefabcdefabcdef', 't.txt')).toThrow('t.txt:1: expected "<role> <token> [name]"');
    expect(() => parseTokenFile('\nviewer short', 't.txt')).toThrow('t.txt:2: token is too short');
    expect(() => loadTokenFile(path.join(tmp, 'missing'))).toThrow(/cannot read token file/);
    expect(tokensFromEnv({ LABWIRE_TOKEN: 'x'.repeat(20) })).toEqual([{ role: 'admin', token: 'x'.repeat(20), name: 'LABWIRE_TOKEN' }]);
    expect(tokensFromEnv({})).toEqual([]);
    expect(() => tokensFromEnv({ LABWIRE_TOKEN: 'abc' })).toThrow(/LABWIRE_TOKEN is too short/);
  });

  it('each role may do exactly what it should', async () => {
    lab = await startJulaboLab({}, { tokens: parseTokenFile(TOKENS, 'tokens') });
    const anon = await lab.client();
    expect(await anon.request('ping')).toBe('pong');
    expect(await anon.request('get_id')).toMatch(/^id name=chiller/);
    expect(await anon.request('get_status')).toBe('error get_status code=Unauthorized message="get_status needs the viewer role; authenticate first with auth token=<token>"');
    expect(await anon.request('auth token=wrong-token-000000')).toBe('error auth code=Unauthorized message="unknown token"');

    const viewer = await lab.client();
    expect(await viewer.request('auth token=viewer-token-0123456789')).toBe('ok auth role=viewer');
    await eventually(async () => expect(kv(await viewer.request('get_status')).hw_connected).toBe('1'));
    expect(await viewer.request('set setpoint=10')).toBe('error set code=Unauthorized message="set needs the operator role; your role is viewer"');
    expect(await viewer.request('start')).toMatch(/^error start code=Unauthorized/);

    const operator = await lab.client();
    expect(await operator.request('auth token=operator-token-0123456789')).toBe('ok auth role=operator');
    expect(await operator.request('set setpoint=10')).toBe('ok set setpoint=10');
    expect(await operator.request('exit')).toBe('error exit code=Unauthorized message="exit needs the admin role; your role is operator"');

    const admin = await lab.client();
    expect(await admin.request('auth token=admin-token-0123456789')).toBe('ok auth role=admin');
    const exited = new Promise<string>((resolve) => lab!.daemon.once('exit', resolve));
    expect(await admin.request('exit')).toBe('ok exit');
    expect(await exited).toMatch(/exit requested by admin-3/);
  });

  it('--anonymous-role none locks a daemon without tokens down to ping, help and get_id', async () => {
    lab = await startJulaboLab({}, { anonymousRole: 'none' });
    const c = await lab.client();
    expect(await c.request('ping')).toBe('pong');
    expect(await c.request('get_status')).toMatch(/^error get_status code=Unauthorized/);
  });

  it('an anonymous role can open read access for CCDLab monitors while writes still need a token', async () => {
    lab = await startJulaboLab({}, { tokens: parseTokenFile(TOKENS, 'tokens'), anonymousRole: 'viewer' });
    const anon = await lab.client();
    expect(await anon.request('get_status')).toMatch(/^status hw_connected=/);
    expect(await anon.request('set setpoint=10')).toMatch(/^error set code=Unauthorized/);
  });
});

describe('limits and modes', () => {
  it('read-only mode refuses every state change and still serves reads', async () => {
    lab = await startJulaboLab({}, { readOnly: true });
    const c = await lab.client();
    expect(await c.request('set setpoint=10')).toBe('error set code=ReadOnly message="daemon \\"chiller\\" is in read-only mode; set refused"');
    expect(await c.request('start')).toMatch(/^error start code=ReadOnly/);
    expect(await c.request('get_status')).toMatch(/^status /);
    expect(JSON.parse((await c.request('describe')).slice(9)).readOnly).toBe(true);
  });

  it('rate limit per peer answers RateLimited and recovers', async () => {
    lab = await startJulaboLab({}, { rateLimit: { perSecond: 20, burst: 5 } });
    const c = await lab.client();
    const from = c.lines.length;
    c.write('ping\n'.repeat(12));
    const replies = await c.replies(12, from);
    expect(replies.filter((r) => r === 'pong').length).toBeLessThanOrEqual(6);
    expect(replies.filter((r) => r.startsWith('error ping code=RateLimited')).length).toBeGreaterThanOrEqual(6);
    await new Promise((r) => setTimeout(r, 300));
    expect(await c.request('ping')).toBe('pong');
  });

  it('connection limit refuses with a clear line; existing connections keep working', async () => {
    lab = await startJulaboLab({}, { maxConnections: 2 });
    const a = await lab.client();
    const b = await lab.client();
    const c = await lab.client();
    await c.waitClosed();
    expect(c.lines).toEqual(['error - code=RateLimited message="connection limit of 2 reached; try again later"']);
    expect(await a.request('ping')).toBe('pong');
    expect(await b.request('ping')).toBe('pong');
  });

  it('site limits tighten the model limits and are named in the error', async () => {
    lab = await startJulaboLab({}, { siteLimits: { setpoint: { min: 5, max: 30 } } });
    const c = await lab.client();
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
    expect(await c.request('set setpoint=35')).toBe('error set code=RangeError message="setpoint 35 °C is above the site limit of 30 °C"');
    expect(await c.request('set setpoint=45')).toBe('error set code=RangeError message="setpoint 45 °C is above the site limit of 30 °C"');
    expect(JSON.parse((await c.request('describe')).slice(9)).params.setpoint).toMatchObject({ min: 5, max: 30 });
  });

  it('site limits that widen the hardware range are refused at start', async () => {
    await expect(startJulaboLab({}, { siteLimits: { setpoint: { max: 60 } } })).rejects.toThrow(
      'site limit max 60 °C for setpoint is above the FL1703 limit of 40 °C; site limits may only tighten',
    );
  });
});

describe('audit trail', () => {
  it('a daemon whose audit log cannot be opened does not start', async () => {
    await expect(startJulaboLab({}, { auditFile: path.join(tmp, 'no-such-dir', 'audit.jsonl') })).rejects.toThrow(/cannot open the audit log/);
  });

  it('records who, from where, what, before and after, and the result — refusals too', async () => {
    const file = path.join(tmp, 'audit.jsonl');
    lab = await startJulaboLab({ setpoint: 20 }, { tokens: parseTokenFile(TOKENS, 'tokens'), auditFile: file });
    const c = await lab.client();
    await c.request('auth token=operator-token-0123456789');
    c.write('id name=script7 type=script\n');
    await eventually(async () => expect(kv(await c.request('get_status')).setpoint).toBe('20'));
    expect(await c.request('set setpoint=12.5')).toBe('ok set setpoint=12.5');
    expect(await c.request('set setpoint=99')).toMatch(/^error set code=RangeError/);
    const viewer = await lab.client();
    await viewer.request('auth token=viewer-token-0123456789');
    expect(await viewer.request('stop')).toMatch(/^error stop code=Unauthorized/);
    await eventually(() => expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3));
    const [ok, refused, unauthorized] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(unauthorized).toMatchObject({ who: 'alice', command: 'stop', result: expect.stringMatching(/^refused Unauthorized: stop needs the operator role/) });
    expect(ok).toMatchObject({ who: 'bob (script7)', device: 'chiller', command: 'set setpoint=12.5', before: { setpoint: 20 }, after: { setpoint: 12.5 }, result: 'ok' });
    expect(ok!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof ok!.time).toBe('string');
    expect(refused).toMatchObject({ who: 'bob (script7)', command: 'set setpoint=99', result: expect.stringMatching(/^refused RangeError: setpoint 99 °C is above/) });
    expect(fs.readFileSync(file, 'utf8')).not.toContain('operator-token');
  });
});

describe('listeners', () => {
  it('warns loudly when listening beyond loopback without tokens', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) });
    lab = await startJulaboLab({}, { host: '0.0.0.0', anonymousRole: 'none', logger: pino({ level: 'warn' }, sink) });
    expect(lines.join('')).toMatch(/listens on 0\.0\.0\.0 WITHOUT any token/);
    expect(lines.join('')).toMatch(/without TLS/);
  });

  it('serves TLS; the client verifies the certificate; a plain-text client cannot disturb it', async () => {
    const pki = testPki();
    lab = await startJulaboLab({}, { tls: { certFile: path.join(pki.dir, 'server.pem'), keyFile: path.join(pki.dir, 'server.key') } });
    const plain = await lab.client();
    plain.write('get_id\n');
    await plain.waitClosed();
    const client = new LabwireClient({ host: '127.0.0.1', port: lab.port, tls: { ca: pki.caCert }, reconnect: false });
    await client.connect();
    expect((await client.request('get_id')).line).toMatch(/^id name=chiller/);
    await client.close();
    const untrusting = tls.connect({ host: '127.0.0.1', port: lab.port });
    const err = await new Promise<Error>((resolve) => untrusting.once('error', resolve));
    expect(err.message).toMatch(/self[- ]signed|unable to (get|verify)/);
  });
});
