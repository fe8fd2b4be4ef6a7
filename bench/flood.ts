/**
 * `npx tsx bench/flood.ts`: issue 10 §2's target figure — 60 s of refused 64 KB `set` lines from
 * an unauthenticated stranger, as fast as the socket takes them, against a daemon with tokens, an
 * audit file and its JSON log on stderr (to a file). Prints the growth of audit + log and of the
 * daemon's RSS (targets: < 1 MB and < 50 MB). The daemon runs from source in its own process in
 * front of a simulated Julabo; this process is the stranger. Asserts nothing.
 *
 * Options (environment): BENCH_SECONDS (default 60), BENCH_CONNECTIONS (default 4).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JulaboSimulator } from '../src/devices/julabo/simulator.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const LINE = Buffer.from(`set setpoint=${'9'.repeat(65_000)}\n`);

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function size(file: string): number {
  let total = 0;
  for (const f of [file, ...Array.from({ length: 10 }, (_, i) => `${file}.${i + 1}`)]) {
    try {
      total += fs.statSync(f).size;
    } catch {
      // not there
    }
  }
  return total;
}

/** Writes LINE until `until`, reconnecting whenever the daemon closes the connection. */
async function stranger(port: number, until: number, counts: { sent: number; connections: number }): Promise<void> {
  while (Date.now() < until) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.resume();
    counts.connections++;
    let closed = false;
    const done = new Promise<void>((resolve) => s.once('close', () => {
      closed = true;
      resolve();
    }));
    await new Promise<void>((resolve) => s.once('connect', () => resolve()).once('close', () => resolve()));
    while (!closed && Date.now() < until) {
      counts.sent++;
      if (!s.write(LINE)) await Promise.race([new Promise((r) => s.once('drain', r)), done]);
    }
    s.destroy();
    await done;
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-flood-bench-'));
  const tokens = path.join(dir, 'tokens.txt');
  fs.writeFileSync(tokens, 'operator operator-token-0123456789 bob\n');
  const audit = path.join(dir, 'audit.jsonl');
  const log = path.join(dir, 'daemon.log');
  const sim = new JulaboSimulator({ byteTiming: false, noise: 0, timeScale: 1, seed: 7 });
  const simPort = await sim.listenTcp('127.0.0.1', 0);
  const stderr = fs.openSync(log, 'w');
  const daemon = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/run.ts'), 'daemon', 'julabo', '--link', `tcp://127.0.0.1:${simPort}`,
    '--listen', '127.0.0.1:0', '--token-file', tokens, '--audit-log', audit], {
    cwd: ROOT,
    env: { ...process.env, LABWIRE_LOG_FORMAT: 'json', LABWIRE_LOG_LEVEL: 'info', LABWIRE_TOKEN: '' },
    stdio: ['ignore', 'pipe', stderr],
  });
  fs.closeSync(stderr);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    daemon.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening [\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    daemon.once('exit', () => reject(new Error(`the daemon exited: ${fs.readFileSync(log, 'utf8').slice(-1000)}`)));
  });
  await new Promise((r) => setTimeout(r, 2000));
  const before = { bytes: size(audit) + size(log), rss: rssMb(daemon.pid!) };
  const counts = { sent: 0, connections: 0 };
  let peak = before.rss;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(daemon.pid!))), 500);
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONNECTIONS }, () => stranger(port, until, counts)));
  // One summary interval later every refusal has been counted and written.
  await new Promise((r) => setTimeout(r, 11_000));
  clearInterval(sampler);
  const after = { bytes: size(audit) + size(log), rss: rssMb(daemon.pid!) };
  process.stdout.write(
    `flood: ${SECONDS} s, ${counts.sent.toLocaleString('en')} refused set lines of 64 KB (${((counts.sent * LINE.length) / 2 ** 20).toFixed(0)} MiB) over ${counts.connections} connections\n` +
      `audit + log: +${((after.bytes - before.bytes) / 1024).toFixed(1)} KB (target < 1 MB)\n` +
      `daemon RSS: ${before.rss.toFixed(0)} → ${after.rss.toFixed(0)} MB (+${(after.rss - before.rss).toFixed(1)} MB, peak ${peak.toFixed(0)} MB; target growth < 50 MB)\n`,
  );
  daemon.removeAllListeners('exit');
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  await sim.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
