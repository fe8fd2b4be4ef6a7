/**
 * `npm run bench`: throughput and latency of a daemon's get_status, and the memory of idle
 * connections. The daemon runs in its own process (so it has one core to itself) in front of a
 * simulated Julabo; this process is the load generator. Prints a table; asserts nothing.
 *
 * Options (environment): BENCH_SECONDS (per row, default 3), BENCH_IDLE (idle connections, default 10000).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JulaboSimulator } from '../src/devices/julabo/simulator.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const IDLE = Number(process.env.BENCH_IDLE ?? 10_000);
const REQUEST = Buffer.from('get_status\n');

interface Row {
  connections: number;
  depth: number;
  rps: number;
  p50: number;
  p99: number;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Each connection keeps `depth` requests in flight; every reply line sends the next request. */
async function load(port: number, connections: number, depth: number, seconds: number): Promise<Row> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => connect(port)));
  const latencies: number[] = [];
  let measuring = false;
  let running = true;
  for (const s of sockets) {
    const sent: number[] = [];
    let head = 0;
    const send = (): void => {
      sent.push(performance.now());
      s.write(REQUEST);
    };
    s.on('data', (d: Buffer) => {
      let i = -1;
      while ((i = d.indexOf(10, i + 1)) >= 0) {
        const t0 = sent[head++]!;
        if (measuring) latencies.push(performance.now() - t0);
        if (running) send();
      }
      if (head > 4096) {
        sent.splice(0, head);
        head = 0;
      }
    });
    for (let k = 0; k < depth; k++) send();
  }
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  running = false;
  const sorted = Float64Array.from(latencies).sort();
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  return { connections, depth, rps: latencies.length / elapsed, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function main(): Promise<void> {
  const bin = path.join(ROOT, 'bin', 'labwire.js');
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first (npm run bench does)');
  const sim = new JulaboSimulator({ byteTiming: false });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  const daemon = spawn(
    process.execPath,
    [bin, 'daemon', 'julabo', '--link', `tcp://127.0.0.1:${simPort}`, '--listen', '127.0.0.1:0', '--rate-limit', '0', '--max-connections', String(IDLE + 1000), '--max-connections-per-address', String(IDLE + 1000), '--idle-timeout', '0', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LABWIRE_LOG_FORMAT: 'json' } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    daemon.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    daemon.once('exit', (code) => reject(new Error(`daemon exited with ${code}`)));
  });
  const pid = daemon.pid!;
  process.stdout.write(`labwire daemon benchmark — get_status against a simulated Julabo; daemon pid ${pid} (own process), ${SECONDS} s per row\n\n`);

  const rows: Row[] = [];
  process.stdout.write('connections  in flight/conn      req/s    p50 ms    p99 ms\n');
  for (const depth of [1, 16]) {
    for (const connections of [1, 16, 64, 256]) {
      const r = await load(port, connections, depth, SECONDS);
      rows.push(r);
      process.stdout.write(`${String(connections).padStart(11)}  ${String(depth).padStart(14)}  ${Math.round(r.rps).toString().padStart(9)}  ${r.p50.toFixed(3).padStart(8)}  ${r.p99.toFixed(3).padStart(8)}\n`);
    }
  }

  const rssBefore = rssMb(pid);
  const idle: net.Socket[] = [];
  for (let i = 0; i < IDLE; i += 500) {
    idle.push(...(await Promise.all(Array.from({ length: Math.min(500, IDLE - i) }, () => connect(port)))));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdle = rssMb(pid);
  const probe = await load(port, 1, 1, 1);
  process.stdout.write(
    `\nidle connections: ${idle.length} open; daemon RSS ${rssBefore.toFixed(0)} MB before, ${rssIdle.toFixed(0)} MB with them ` +
      `(${(((rssIdle - rssBefore) * 1024) / idle.length).toFixed(1)} kB each); get_status meanwhile p50 ${probe.p50.toFixed(3)} ms\n`,
  );
  for (const s of idle) s.destroy();

  const at64 = rows.find((r) => r.connections === 64 && r.depth === 1)!;
  const at64p = rows.find((r) => r.connections === 64 && r.depth === 16)!;
  process.stdout.write(
    `\ntargets: ≥ 50000 get_status/s at 64 connections with p99 < 5 ms → ${Math.round(at64.rps)}/s p99 ${at64.p99.toFixed(2)} ms (one in flight), ` +
      `${Math.round(at64p.rps)}/s p99 ${at64p.p99.toFixed(2)} ms (pipelined 16)\n` +
      `         10000 idle connections in < 300 MB RSS → ${rssIdle.toFixed(0)} MB\n`,
  );
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  await sim.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
