/**
 * `npm run bench`: a 4096 × 4096 16-bit frame (32 MiB) from the Archon simulator to a verified
 * FITS file on disk (issue 12: target < 2 s, daemon memory < 3 × the frame). The simulator and the
 * daemon each run in their own process, as in a lab; this process only drives them: `expose
 * time=0 type=bias`, waits for the file, runs fitsverify on it. Prints, per frame, the time from
 * the end of readout (the frame complete in the controller) to the file renamed into place, its
 * shares (fetch, conversion, checksum, write), and the daemon's peak resident memory above what it
 * held before the exposure. "complete→file" is the daemon's own measure (save_ms: from the frame
 * seen complete to the file renamed into place, lock and header included); the stages are its
 * parts. Asserts nothing.
 *
 * Options (environment): BENCH_FRAMES (default 3), BENCH_SIZE (pixels per side, default 4096),
 * BENCH_FETCH_MIBS (simulated network speed, default 100 MiB/s as on GbE; 0 = unlimited).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RawClient } from '../src/testing/raw-client.js';
import { kv } from '../src/testing/status-lines.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FRAMES = Number(process.env.BENCH_FRAMES ?? 3);
const SIZE = Number(process.env.BENCH_SIZE ?? 4096);
const FETCH_MIBS = process.env.BENCH_FETCH_MIBS ?? '100';
const FRAME_BYTES = SIZE * SIZE * 2;
const run = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function labwire(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/labwire.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume();
  return child;
}

function proc(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Resets the kernel's peak-RSS mark of a process (Linux: clear_refs 5), where we may. */
function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-bench-archon-'));
  const simPort = await freePort();
  const daemonPort = await freePort();
  // Readout as fast as the simulator goes: the bench measures what labwire does after it.
  const sim = labwire(['sim', 'archon', '--listen', `127.0.0.1:${simPort}`, '--option', `width=${SIZE}`, '--option', `height=${SIZE}`,
    '--option', `lineRate=${SIZE * 100}`, '--option', `fetchRate=${FETCH_MIBS}`]);
  const daemon = labwire(['daemon', 'archon', '--link', `tcp://127.0.0.1:${simPort}`, '--listen', `127.0.0.1:${daemonPort}`,
    '--option', `dataDir=${dataDir}`, '--option', 'prefix=bench', '--log-level', 'warn']);
  try {
    const c = await until('the daemon', 30_000, async () => RawClient.connect(daemonPort));
    const status = async (): Promise<Record<string, string>> => kv(await c.request('get_status'));
    await until('the controller powered', 60_000, async () => ((await status()).power === 'on' ? true : undefined));
    console.log(`Archon frame bench: ${SIZE} × ${SIZE} × 16 bit = ${mib(FRAME_BYTES)}, simulated link ${FETCH_MIBS === '0' ? 'unlimited' : `${FETCH_MIBS} MiB/s`}, ${FRAMES} frames`);
    console.log('frame | complete→file | fetch | convert | checksum | write | fitsverify | expose→file | daemon peak RSS above idle');
    const rows: Array<{ total: number; peak: number }> = [];
    for (let i = 0; i < FRAMES; i++) {
      const before = (await status()).images_written ?? '0';
      const idleRss = proc(daemon.pid!, 'VmRSS');
      const canReset = resetPeak(daemon.pid!);
      const t0 = performance.now();
      const reply = await c.request('expose time=0 type=bias');
      if (!reply.startsWith('ok expose')) throw new Error(`expose refused: ${reply}`);
      // Sampled as well as read from the kernel's mark, where that could not be reset.
      let sampled = 0;
      const sampler = setInterval(() => (sampled = Math.max(sampled, proc(daemon.pid!, 'VmRSS'))), 5);
      const s = await until('the image', 120_000, async () => {
        const v = await status();
        return v.images_written !== before && v.phase === 'idle' ? v : undefined;
      });
      const tFile = performance.now();
      clearInterval(sampler);
      if (s.last_error) throw new Error(`exposure failed: ${s.last_error}`);
      const peak = canReset ? Math.max(proc(daemon.pid!, 'VmHWM'), sampled) : sampled;
      const info = kv(await c.request('image_info'));
      const v0 = performance.now();
      const { stdout } = await run('/usr/bin/fitsverify', ['-q', s.last_image!]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      const verifyMs = performance.now() - v0;
      if (!stdout.startsWith('verification OK')) throw new Error(`fitsverify: ${stdout}`);
      const parts = ['fetch_ms', 'convert_ms', 'checksum_ms', 'write_ms'].map((k) => Number(info[k]));
      const total = Number(info.save_ms);
      const share = (ms: number): string => `${ms.toFixed(0)} ms (${((100 * ms) / total).toFixed(0)} %)`;
      rows.push({ total, peak: peak - idleRss });
      console.log(
        `${info.frame} | ${total.toFixed(0)} ms | ${parts.map(share).join(' | ')} | ${verifyMs.toFixed(0)} ms | ${(tFile - t0).toFixed(0)} ms | ` +
          `${mib(peak - idleRss)} (${((peak - idleRss) / FRAME_BYTES).toFixed(2)} × the frame)`,
      );
      fs.rmSync(s.last_image!, { force: true });
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`median complete→file ${med(rows.map((r) => r.total)).toFixed(0)} ms (target < 2000 ms); median peak memory ${(med(rows.map((r) => r.peak)) / FRAME_BYTES).toFixed(2)} × the frame (target < 3)`);
    c.close();
  } finally {
    daemon.kill('SIGTERM');
    sim.kill('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
