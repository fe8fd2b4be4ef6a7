/**
 * An unauthenticated stranger cannot exhaust a daemon's disk, memory or connections (issue 10 §2):
 * bounded floods on loopback against real listeners. The figures are printed for the issue note.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTokenFile } from '../src/server/index.js';
import { JulaboSimulator } from '../src/devices/julabo/simulator.js';
import { sleep } from '../src/testing/eventually.js';
import { ROOT } from './helpers/cli.js';
import { fileSize, flood, openFds, rssMb, totalSize } from './helpers/flood.js';
import { eventually, kv, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import { RawClient } from '../src/testing/raw-client.js';
import { testPki } from '../src/testing/tls.js';

const OPERATOR = 'operator-token-0123456789';
const VIEWER = 'viewer-token-0123456789';
const TOKENS = parseTokenFile(`operator ${OPERATOR} bob\nviewer ${VIEWER} vera\n`, 'tokens');

const cleanups: Array<() => Promise<void> | void> = [];
let lab: JulaboLab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
  while (cleanups.length > 0) await cleanups.pop()!();
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-flood-'));
const report = (what: string): void => void process.stdout.write(`[figure] ${what}\n`);

async function client(port: number, localAddress?: string): Promise<RawClient> {
  const c = localAddress
    ? await new Promise<RawClient>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(adopt(s)));
      s.once('error', reject);
    })
    : await RawClient.connect(port);
  cleanups.push(() => c.close());
  return c;
}

/** A RawClient around a socket connected here (RawClient.connect has no source address). */
function adopt(s: net.Socket): RawClient {
  const Ctor = RawClient as unknown as new (socket: net.Socket) => RawClient;
  return new Ctor(s);
}

describe('audit and log amplification', () => {
  it('3,000 refused 60 KB set lines grow audit + log by far less than 1 MB, and the daemon RSS by far less than 50 MB', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'amp-'));
    const tokenFile = path.join(dir, 'tokens.txt');
    fs.writeFileSync(tokenFile, `operator ${OPERATOR} bob\n`);
    const audit = path.join(dir, 'audit.jsonl');
    const log = path.join(dir, 'daemon.log');
    const sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 1, seed: 7 });
    const simPort = await sim.listenTcp('127.0.0.1', 0);
    cleanups.push(() => sim.close());
    const stderr = fs.openSync(log, 'w');
    // The real CLI with its real logger (JSON to stderr, here a file), as in production. A rate
    // limit of 5/s: even a daemon slowed by a loaded machine reads more than that, so the flood
    // meets both refusals (Unauthorized within the bucket, RateLimited beyond it).
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/run.ts'), 'daemon', 'julabo',
      '--link', `tcp://127.0.0.1:${simPort}`, '--listen', '127.0.0.1:0', '--name', 'chiller',
      '--token-file', tokenFile, '--audit-log', audit, '--rate-limit', '5'], {
      cwd: ROOT,
      env: { ...process.env, LABWIRE_LOG_FORMAT: 'json', LABWIRE_LOG_LEVEL: 'info', LABWIRE_TOKEN: '' },
      stdio: ['ignore', 'pipe', stderr],
    });
    fs.closeSync(stderr);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanups.push(async () => {
      child.kill('SIGTERM');
      await exited;
    });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const port = await eventually(() => {
      const m = /listening 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (!m) throw new Error(`no listening line yet; log: ${fs.readFileSync(log, 'utf8').slice(-500)}`);
      return Number(m[1]);
    }, 30_000);

    // Warm up (JIT, buffers), then take the baseline.
    const op = await RawClient.connect(port);
    cleanups.push(() => op.close());
    expect(await op.request(`auth token=${OPERATOR}`)).toBe('ok auth role=operator');
    await eventually(async () => expect(kv(await op.request('get_status')).hw_connected).toBe('1'));
    const refusal = /^error set code=(Unauthorized|RateLimited) /;
    const body = `set setpoint=${'9'.repeat(60_000)}`;
    const warm = await flood(body, 200, { port, counting: refusal });
    await sleep(1000);
    const before = { audit: totalSize(audit), log: fileSize(log), rss: rssMb(child.pid!) };

    const LINES = 3000;
    const result = await flood(body, LINES, { port, parallel: 4, counting: refusal });
    // Every refused line has been dealt with once a request behind them is answered, and is in the
    // audit once the interval's summary is written; then the log settles.
    expect(await op.request('ping')).toBe('pong');
    // The refusals are not lost: every refusal a client was told of is in the audit; a few lines in
    // flight when the daemon dropped a flooding connection may never have been read (more of them
    // on a loaded machine).
    const records = (): Array<Record<string, unknown>> => fs.readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warm.counted + result.counted).toBeGreaterThan(LINES / 2);
    await eventually(() => {
      const counted = records().reduce((n, r) => n + (typeof r.count === 'number' ? r.count : 1), 0);
      expect(counted).toBeGreaterThanOrEqual(warm.counted + result.counted);
      expect(counted).toBeLessThanOrEqual(200 + LINES);
    }, 30_000, 200);
    let last = -1;
    await eventually(() => {
      const now = fileSize(log) + totalSize(audit);
      const settled = now === last;
      last = now;
      expect(settled).toBe(true);
    }, 20_000, 500);
    const after = { audit: totalSize(audit), log: fileSize(log), rss: rssMb(child.pid!) };
    const grownKb = (after.audit - before.audit + after.log - before.log) / 1024;
    const rssGrowth = after.rss - before.rss;
    report(`audit amplification: ${result.sent} refused set lines of 60 KB (${result.replies} replies, ${result.connections} connections): ` +
      `audit +${((after.audit - before.audit) / 1024).toFixed(1)} KB, log +${((after.log - before.log) / 1024).toFixed(1)} KB, ` +
      `RSS ${before.rss.toFixed(0)} → ${after.rss.toFixed(0)} MB (+${rssGrowth.toFixed(1)} MB)`);
    expect(result.sent).toBe(LINES);
    expect(grownKb).toBeLessThan(1024);
    expect(rssGrowth).toBeLessThan(50);

    // The first of each reason in full (cut at 1 KiB), the rest counted.
    const full = records().filter((r) => r.count === undefined);
    for (const r of full) expect(Buffer.byteLength(String(r.command))).toBeLessThan(1200);
    expect(full.some((r) => String(r.command).includes('… (cut: 60013 bytes in all)'))).toBe(true);
    const reasons = new Set(records().map((r) => /^refused (\w+)/.exec(String(r.result))?.[1]));
    expect(reasons).toEqual(new Set(['Unauthorized', 'RateLimited']));
  }, 120_000);

  it('writes the first refusal of a peer and reason in full, cut at 1 KiB, and one summary per interval for the rest', async () => {
    const audit = path.join(tmp, 'summary.jsonl');
    lab = await startJulaboLab({}, { tokens: TOKENS, auditFile: audit, refusalSummaryMs: 300 });
    const c = await lab.client();
    expect(await c.request(`auth token=${OPERATOR}`)).toBe('ok auth role=operator');
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
    const long = `set nosuch${'x'.repeat(5000)}=1`;
    expect(await c.request(long)).toMatch(/^error set code=NoSuchParameter/);
    const from = c.lines.length;
    c.write(`${long}\n`.repeat(20));
    await c.replies(20, from);
    const lines = (): Array<Record<string, unknown>> => fs.readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    await eventually(() => expect(lines()).toHaveLength(2));
    const [first, summary] = lines();
    expect(first).toMatchObject({ who: 'bob', device: 'chiller', result: expect.stringMatching(/^refused NoSuchParameter: no parameter "nosuchx+… \(cut: \d+ bytes in all\)$/) });
    expect(String(first!.command)).toMatch(/^set nosuchx+… \(cut: 5012 bytes in all\)$/);
    expect(Buffer.byteLength(String(first!.command))).toBeLessThan(1100);
    expect(summary).toMatchObject({
      who: 'bob',
      peer: '127.0.0.1',
      device: 'chiller',
      count: 20,
      result: 'refused NoSuchParameter: 20 more refused requests from 127.0.0.1 (NoSuchParameter) in the last 300 ms',
    });
    // A later interval starts afresh: its first refusal is written in full again.
    await sleep(400);
    expect(await c.request('set setpoint=99')).toMatch(/^error set code=RangeError/);
    await eventually(() => expect(lines().at(-1)).toMatchObject({ command: 'set setpoint=99', result: expect.stringMatching(/^refused RangeError/) }));
  });

  it('rotates the audit file at its size cap and keeps the configured number of old files', async () => {
    const audit = path.join(tmp, 'rotate.jsonl');
    lab = await startJulaboLab({}, { auditFile: audit, auditMaxBytes: 1024, auditKeep: 2 });
    const c = await lab.client();
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
    for (let i = 0; i < 10; i++) expect(await c.request(`set setpoint=${10 + i}`)).toMatch(/^ok set/);
    await eventually(() => expect(fs.existsSync(`${audit}.2`)).toBe(true));
    expect(fs.existsSync(`${audit}.3`)).toBe(false);
    for (const f of [audit, `${audit}.1`, `${audit}.2`]) expect(fileSize(f)).toBeLessThanOrEqual(1024);
    const lastLine = fs.readFileSync(audit, 'utf8').trim().split('\n').at(-1)!;
    expect(JSON.parse(lastLine)).toMatchObject({ command: 'set setpoint=19', result: 'ok' });
  });
});

describe('connection-level warnings', () => {
  it('are logged once per address and reason per interval, the rest counted', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) });
    // The back-off on wrong tokens (test/daemon-auth-guessing.test.ts) is lifted: this is about the log.
    lab = await startJulaboLab({}, { tokens: TOKENS, refusalSummaryMs: 300, authThrottle: { freeFailures: 1000 }, logger: pino({ level: 'info' }, sink) });
    const c = await lab.client();
    const from = c.lines.length;
    c.write('auth token=wrong-token-000000\n'.repeat(200));
    await c.replies(200, from);
    const failed = (): string[] => lines.filter((l) => l.includes('authentication failed'));
    await eventually(() => expect(failed().some((l) => l.includes('199 more times from 127.0.0.1 (authentication failed) in the last 300 ms'))).toBe(true));
    expect(failed()).toHaveLength(2);
  });
});

describe('notices', () => {
  it('are never answered and never counted by the rate limit, so a pipelining client’s replies stay in step', async () => {
    lab = await startJulaboLab({}, { rateLimit: { perSecond: 5, burst: 5 } });
    const c = await lab.client();
    const from = c.lines.length;
    c.write(`${'ping\n'.repeat(5)}${'info hello\nwarning careful\nstatus x=1\n'.repeat(10)}\nid name=script\nping\n`);
    const replies = await c.replies(6, from);
    expect(replies.slice(0, 5)).toEqual(Array(5).fill('pong'));
    // The sixth request found the bucket empty, or refilled if the machine was slow; never a notice's reply.
    expect(replies[5]).toMatch(/^(pong|error ping code=RateLimited .*)$/);
    await sleep(300);
    expect(c.lines.slice(from).filter((l) => /^error (info|warning|status|id) /.test(l))).toEqual([]);
  });
});

describe('connection slots', () => {
  it('one address cannot take every slot: a per-address cap of 64, while other addresses still get in', async () => {
    // An idle timeout no test run reaches: the cap alone decides who is held.
    lab = await startJulaboLab({}, { maxConnections: 300, idleTimeoutMs: 600_000 });
    // The stranger: 250 connections from 127.0.0.1, each sending `id` (and notices, blank lines) every 200 ms.
    const attackers = await Promise.all(Array.from({ length: 250 }, () => client(lab!.port)));
    const timer = setInterval(() => {
      for (const a of attackers) if (!a.closed) a.write(`id name=x${Math.random()}\ninfo still here\n\n`);
    }, 200);
    cleanups.push(() => clearInterval(timer));
    await eventually(() => expect(attackers.filter((a) => a.closed).length).toBe(250 - 64));
    const capped = attackers.filter((a) => a.lines.some((l) => l === 'error - code=RateLimited message="limit of 64 connections from 127.0.0.1 reached; close one or try again later"'));
    expect(capped.length).toBe(250 - 64);
    expect(capped.every((a) => a.closed)).toBe(true);
    // 45 new clients from another address all get in while the stranger holds its 64.
    const newcomers = await Promise.all(Array.from({ length: 45 }, () => client(lab!.port, '127.0.0.2')));
    const answered = await Promise.all(newcomers.map(async (n) => (await n.request('ping').catch(() => 'closed')) === 'pong'));
    report(`connection slots: 250 connections from 127.0.0.1 held ${250 - capped.length}; ${answered.filter(Boolean).length} of 45 new clients from 127.0.0.2 served`);
    expect(answered.every(Boolean)).toBe(true);
    expect(attackers.filter((a) => !a.closed)).toHaveLength(64);
  }, 120_000);

  it('`id` lines, notices and blank lines alone do not keep a connection alive: the idle timeout closes it', async () => {
    lab = await startJulaboLab({}, { idleTimeoutMs: 2000 });
    const talkers = await Promise.all(Array.from({ length: 10 }, () => client(lab!.port)));
    const timer = setInterval(() => {
      for (const a of talkers) if (!a.closed) a.write(`id name=x${Math.random()}\ninfo still here\n\n`);
    }, 200);
    cleanups.push(() => clearInterval(timer));
    await eventually(() => expect(talkers.every((a) => a.closed)).toBe(true), 30_000);
    expect(talkers.filter((a) => a.lines.some((l) => l.startsWith('error - code=Timeout message="no request for 2 s'))).length).toBe(10);
  }, 60_000);

  it('a CCDLab MONITOR that names itself once and polls get_status stays connected; one that only sends id is closed', async () => {
    lab = await startJulaboLab({}, { idleTimeoutMs: 2000 });
    const ccdlab = await lab.client();
    ccdlab.write('id name=monitor\n');
    const quiet = await lab.client();
    const poll = setInterval(() => {
      ccdlab.write('get_status\n');
      quiet.write('id name=monitor\n');
    }, 100);
    cleanups.push(() => clearInterval(poll));
    await quiet.waitClosed(15_000);
    expect(quiet.lines.at(-1)).toBe('error - code=Timeout message="no request for 2 s; closing the connection"');
    expect(ccdlab.closed).toBe(false);
    expect(await ccdlab.request('get_id')).toMatch(/^id name=chiller/);
  });

  it('with tokens, a connection that does not authenticate within the deadline is closed with a clear line', async () => {
    lab = await startJulaboLab({}, { tokens: TOKENS, authTimeoutMs: 1000 });
    const stranger = await lab.client();
    const user = await lab.client();
    expect(await user.request(`auth token=${VIEWER}`)).toBe('ok auth role=viewer');
    const keepBusy = setInterval(() => stranger.write('ping\n'), 50);
    cleanups.push(() => clearInterval(keepBusy));
    await stranger.waitClosed(15_000);
    expect(stranger.lines.at(-1)).toBe('error - code=Unauthorized message="not authenticated within 1 s; daemon \\"chiller\\" requires a token: send auth token=<token> first"');
    expect(await user.request('get_id')).toMatch(/^id name=chiller/);
  });

  it('the monitor’s own peer connection (it authenticates first) and an anonymous viewer role are not subject to the deadline', async () => {
    lab = await startJulaboLab({}, { tokens: TOKENS, anonymousRole: 'viewer', authTimeoutMs: 300 });
    const ccdlab = await lab.client();
    const poll = setInterval(() => ccdlab.write('get_status\n'), 100);
    cleanups.push(() => clearInterval(poll));
    await sleep(1000);
    expect(ccdlab.closed).toBe(false);
    expect(await ccdlab.request('get_status')).toMatch(/^status hw_connected=/);
  });
});

describe('TLS handshakes', () => {
  it('count against the connection limits and time out', async () => {
    const pki = testPki();
    lab = await startJulaboLab({}, {
      tls: { certFile: path.join(pki.dir, 'server.pem'), keyFile: path.join(pki.dir, 'server.key') },
      maxConnections: 100,
      maxConnectionsPerAddress: 1000,
      handshakeTimeoutMs: 5000,
    });
    const fdsBefore = openFds();
    // 300 raw TCP connections that never start their handshake.
    const raw: net.Socket[] = [];
    let closedByServer = 0;
    for (let i = 0; i < 300; i++) {
      const s = net.connect({ port: lab.port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      s.on('close', () => closedByServer++);
      raw.push(s);
    }
    cleanups.push(() => raw.forEach((s) => s.destroy()));
    await eventually(() => expect(closedByServer).toBeGreaterThanOrEqual(200));
    const server = (lab.daemon.server as unknown as { lines: { socketCount: number } }).lines;
    expect(server.socketCount).toBeLessThanOrEqual(100);
    report(`TLS handshakes: 300 silent TCP connections against a limit of 100: ${300 - closedByServer} held, ${openFds() - fdsBefore} descriptors in this process (both ends)`);
    // A real TLS client is refused while the slots are taken …
    const refused = tls.connect({ port: lab.port, host: '127.0.0.1', ca: pki.caCert, servername: 'localhost' });
    await new Promise<void>((resolve) => {
      refused.once('error', () => resolve());
      refused.once('close', () => resolve());
    });
    // … and once the handshakes have timed out, it gets in.
    await eventually(() => expect(closedByServer).toBe(300), 20_000);
    expect(server.socketCount).toBe(0);
    const ok = tls.connect({ port: lab.port, host: '127.0.0.1', ca: pki.caCert, servername: 'localhost' });
    cleanups.push(() => void ok.destroy());
    await new Promise<void>((resolve, reject) => {
      ok.once('secureConnect', () => resolve());
      ok.once('error', reject);
    });
    ok.write('get_id\n');
    const line = await new Promise<string>((resolve) => ok.once('data', (d: Buffer) => resolve(d.toString())));
    expect(line).toMatch(/^id name=chiller/);
  }, 60_000);

  it('count against the per-address cap', async () => {
    const pki = testPki();
    lab = await startJulaboLab({}, {
      tls: { certFile: path.join(pki.dir, 'server.pem'), keyFile: path.join(pki.dir, 'server.key') },
      maxConnectionsPerAddress: 10,
    });
    const raw: net.Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 30; i++) {
      const s = net.connect({ port: lab.port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      s.on('close', () => closed++);
      raw.push(s);
    }
    cleanups.push(() => raw.forEach((s) => s.destroy()));
    await eventually(() => expect(closed).toBe(20));
    const server = (lab.daemon.server as unknown as { lines: { socketCount: number } }).lines;
    expect(server.socketCount).toBe(10);
  });
});

describe('rate buckets', () => {
  it('a ping flood from an anonymous neighbour does not make an authenticated client’s requests fail', async () => {
    lab = await startJulaboLab({}, { tokens: TOKENS, anonymousRole: 'viewer', rateLimit: { perSecond: 50, burst: 50 } });
    const c = await lab.client();
    await eventually(async () => expect(kv(await c.request('get_status')).hw_connected).toBe('1'));
    // The neighbour empties the address's bucket and keeps it empty.
    let stop = false;
    const neighbour = (async () => {
      let n = 0;
      while (!stop && n < 100) {
        // A connect refused under load (ECONNRESET while the server is busy) just means: try again.
        await flood('ping', 500, { port: lab!.port }).catch(() => undefined);
        n++;
      }
    })();
    cleanups.push(async () => {
      stop = true;
      await neighbour;
    });
    await eventually(async () => expect(await c.request('ping')).toMatch(/code=RateLimited/));
    const monitor = await lab.client();
    expect(await monitor.request(`auth token=${VIEWER}`)).toBe('ok auth role=viewer');
    const answers: string[] = [];
    for (let i = 0; i < 40; i++) answers.push(await monitor.request('get_status'));
    const failed = answers.filter((a) => !a.startsWith('status ')).length;
    // Meanwhile the anonymous bucket of the address is still empty.
    await eventually(async () => expect(await c.request('ping')).toMatch(/code=RateLimited/));
    report(`rate buckets: during a ping flood from 127.0.0.1, ${failed} of 40 requests of an authenticated client on 127.0.0.1 failed`);
    expect(failed).toBe(0);
  });
});
