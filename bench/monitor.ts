/**
 * Monitor benchmark (part of `npm run bench`; prints, asserts nothing):
 *  - ingest: N fake labwire daemons × P parameters pushing updates at R Hz into a monitor (own
 *    process, with its SQLite archive and web page); the monitor's CPU share and whether every
 *    sample reached the archive;
 *  - live: how long a value change takes to reach 50 browsers connected by SSE.
 * Environment: BENCH_DAEMONS (200), BENCH_PARAMS (20), BENCH_HZ (5), BENCH_INGEST_SECONDS (60), BENCH_SSE (50),
 * BENCH_ALARMS (2: alarms per daemon — a threshold and a rate alarm that never trip, so the cost
 * measured is their evaluation on every update; 0 for none), BENCH_PROFILE (a folder for a CPU
 * profile of the monitor).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { LineConnection } from '../src/wire/connection.js';
import { parseLine } from '../src/wire/tokenize.js';
import type { DescribeDoc, StatusDoc } from '../src/wire/types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DAEMONS = Number(process.env.BENCH_DAEMONS ?? 200);
const PARAMS = Number(process.env.BENCH_PARAMS ?? 20);
const HZ = Number(process.env.BENCH_HZ ?? 5);
const SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 60);
const SSE_CLIENTS = Number(process.env.BENCH_SSE ?? 50);
const ALARMS_PER_DAEMON = Math.min(2, Number(process.env.BENCH_ALARMS ?? 2));
const CLK_TCK = 100;

/** A minimal labwire daemon: answers the monitor's handshake and pushes changing values. */
class FakeDaemon {
  readonly server = net.createServer((s) => this.accept(s));
  private subscribers = new Set<LineConnection>();
  private values: Record<string, number> = {};
  pushed = 0;
  constructor(readonly name: string) {
    for (let p = 0; p < PARAMS; p++) this.values[`p${p}`] = p;
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }
  private accept(socket: net.Socket): void {
    const conn = new LineConnection(socket);
    conn.on('line', (line) => {
      const cmd = parseLine(line);
      switch (cmd.name) {
        case 'describe': {
          const params: DescribeDoc['params'] = {
            hw_connected: { type: 'bool', description: 'link', readonly: true },
            state: { type: 'string', description: 'state', readonly: true },
          };
          for (const k of Object.keys(this.values)) params[k] = { type: 'float', description: `value ${k}`, unit: 'V', readonly: true };
          const doc: DescribeDoc = { name: this.name, type: 'fake', title: 'fake', protocol: 'labwire/1', version: 'bench', readOnly: true, params, commands: {} };
          conn.send(`describe ${JSON.stringify(doc)}`);
          break;
        }
        case 'get_status': {
          const doc: StatusDoc = { name: this.name, t: Date.now(), values: { hw_connected: true, state: 'idle', ...this.values }, units: {}, ts: {} };
          conn.send(`status_json ${JSON.stringify(doc)}`);
          break;
        }
        case 'subscribe':
          this.subscribers.add(conn);
          conn.send('ok subscribe');
          break;
        case 'ping':
          conn.send('pong');
          break;
        case 'id':
          break;
        default:
          conn.send(`error ${cmd.name ?? '-'} code=NoSuchCommand message="fake daemon"`);
      }
    });
    conn.on('close', () => this.subscribers.delete(conn));
  }
  /** Every parameter changes on every tick, so every sample must be stored. */
  tick(t: number): void {
    let line = `update t=${t}`;
    for (const k of Object.keys(this.values)) {
      this.values[k] = this.values[k]! + 1;
      line += ` ${k}=${this.values[k]}`;
    }
    for (const c of this.subscribers) c.send(line);
    if (this.subscribers.size > 0) this.pushed += PARAMS;
  }
  close(): void {
    this.server.close();
    for (const c of this.subscribers) c.destroy();
  }
}

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first (npm run bench does)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-bench-monitor-'));
  const fakes = Array.from({ length: DAEMONS }, (_, i) => new FakeDaemon(`d${i}`));
  const ports = await Promise.all(fakes.map((f) => f.listen()));
  const yaml = [
    'name: bench',
    `data: ${dir}`,
    'peers:',
    ...ports.map((p, i) => `  - { name: d${i}, host: 127.0.0.1, port: ${p} }`),
    'monitor:',
    '  listen: 127.0.0.1:0',
    '  web: 127.0.0.1:0',
    ...(ALARMS_PER_DAEMON > 0 ? ['alarms:'] : []),
    ...ports.flatMap((_, i) =>
      [
        `  - { id: d${i}_high, type: threshold, param: d${i}.p0, above: 1e12 }`,
        `  - { id: d${i}_fast, type: rate, param: d${i}.p1, maxRatePerMinute: 1e12 }`,
      ].slice(0, ALARMS_PER_DAEMON),
    ),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'lab.yaml'), yaml);
  // BENCH_PROFILE=<dir> writes a CPU profile of the monitor process there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
  const monitor = spawn(process.execPath, [...profile, path.join(ROOT, 'bin', 'labwire.js'), 'up', path.join(dir, 'lab.yaml'), '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LABWIRE_LOG_FORMAT: 'json' },
  });
  let out = '';
  const web = await new Promise<string>((resolve, reject) => {
    monitor.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /web page\s+(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    monitor.once('exit', (code) => reject(new Error(`monitor exited with ${code}`)));
  });
  // Wait until every peer is connected and subscribed.
  for (let i = 0; i < 300; i++) {
    const h = (await (await fetch(`${web}api/health`)).json()) as { peers: Array<{ connected: boolean }> };
    if (h.peers.filter((p) => p.connected).length === DAEMONS) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  process.stdout.write(`\nmonitor benchmark — ${DAEMONS} daemons × ${PARAMS} parameters at ${HZ} Hz = ${DAEMONS * PARAMS * HZ} samples/s, ${SECONDS} s; monitor pid ${monitor.pid}\n`);

  // SSE clients, for the live-latency part; they also load the monitor as browsers would.
  const latencies: number[] = [];
  const controllers: AbortController[] = [];
  let probeT = 0;
  for (let i = 0; i < SSE_CLIENTS; i++) {
    const ac = new AbortController();
    controllers.push(ac);
    void fetch(`${web}api/stream`, { signal: ac.signal }).then(async (res) => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        if (probeT && dec.decode(value).includes('probe')) latencies.push(performance.now() - probeT);
      }
    }).catch(() => undefined);
  }
  await new Promise((r) => setTimeout(r, 1000));

  const cpu0 = cpuSeconds(monitor.pid!);
  const t0 = performance.now();
  const pushed0 = fakes.reduce((a, f) => a + f.pushed, 0);
  const period = 1000 / HZ;
  let ticks = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    const now = Date.now();
    for (const f of fakes) f.tick(now);
    ticks++;
    const next = t0 + ticks * period;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(monitor.pid!) - cpu0;
  const sent = fakes.reduce((a, f) => a + f.pushed, 0) - pushed0;

  // Live latency: one value change, measured at 50 SSE clients; repeated.
  const probe = fakes[0]!;
  for (let k = 0; k < 20; k++) {
    probeT = performance.now();
    for (const c of (probe as unknown as { subscribers: Set<LineConnection> }).subscribers) c.send(`update t=${Date.now()} state=probe${k}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  for (const ac of controllers) ac.abort();

  monitor.kill('SIGTERM');
  await new Promise((r) => monitor.once('exit', r));
  for (const f of fakes) f.close();
  const db = new Database(path.join(dir, 'archive.sqlite'), { readonly: true });
  const stored = (db.prepare('SELECT count(*) AS n FROM samples').get() as { n: number }).n;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const sorted = latencies.sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  process.stdout.write(
    `ingest: ${Math.round(sent / elapsed)} samples/s offered for ${elapsed.toFixed(0)} s, ${DAEMONS * ALARMS_PER_DAEMON} alarms evaluated; monitor CPU ${((100 * cpu) / elapsed).toFixed(1)} % of one core (target < 50 %)\n` +
      `        samples in the archive: ${stored} (≥ ${sent} sent during the run plus handshake/shutdown rows; lost: ${Math.max(0, sent - stored)})\n` +
      `live:   value change → ${SSE_CLIENTS} SSE clients: ${sorted.length} deliveries, p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms (target p99 < 100 ms)\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
