/**
 * `tsx bench/archive.ts`: the SQLite archive alone (issue 3, "Performance").
 * 1. Batched write throughput through Archive.write() (target >= 200,000 samples/s), for one
 *    series, 100 and 4000 series (the monitor's 200 daemons x 20 parameters), and with
 *    synchronous=FULL for comparison; plus a paced 20,000 samples/s ingest with its CPU cost and
 *    the longest commit (the event-loop stall it causes).
 * 2. history() over one series of a year at 1 Hz (31.5 million rows, bulk-loaded with a prepared
 *    multi-row INSERT in big transactions, rollups computed on the way) for ranges from 10
 *    minutes to a year at maxPoints 1000 (targets: any range < 100 ms, the last 10 minutes raw
 *    < 20 ms). Prints tables; asserts nothing. The database lives in os.tmpdir() and is deleted.
 *
 * Environment: BENCH_ARCHIVE_DAYS (default 365), BENCH_ARCHIVE_WRITES (samples per write row,
 * default 1,000,000), BENCH_ARCHIVE_LIVE_S (seconds of paced ingest, default 10; 0 skips it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteArchive, type SqliteArchiveOptions } from '../src/archive/sqlite.js';
import type { Sample } from '../src/archive/types.js';

const DAYS = Number(process.env.BENCH_ARCHIVE_DAYS ?? 365);
const WRITES = Number(process.env.BENCH_ARCHIVE_WRITES ?? 1_000_000);
const LIVE_S = Number(process.env.BENCH_ARCHIVE_LIVE_S ?? 10);
const DAY = 86_400_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-bench-archive-'));

function table(headers: string[], rows: Array<Array<string | number>>): void {
  const cells = rows.map((r) => r.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells) console.log(line(r));
  console.log();
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function removeDb(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

// ---- 1. write throughput ----------------------------------------------------------------------

async function writeThroughput(label: string, series: number, options: SqliteArchiveOptions): Promise<Array<string | number>> {
  const file = path.join(dir, 'write.sqlite');
  removeDb(file);
  const archive = await openSqliteArchive(file, options);
  const t0 = Date.UTC(2024, 0, 1);
  const chunk = 1000;
  // Samples are made up front so that only the archive is measured.
  const chunks: Sample[][] = [];
  for (let k = 0; k < WRITES; ) {
    const c: Sample[] = [];
    for (let i = 0; i < chunk && k < WRITES; i++, k++) {
      c.push({ device: `dev${k % series}`, name: 'value', t: t0 + Math.floor(k / series) * 200, value: Math.sin(k / 100) });
    }
    chunks.push(c);
  }
  const start = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < chunks.length; i++) {
    inFlight.push(archive.write(chunks[i]!));
    if (i >= 50) await inFlight[i - 50]; // a producer that waits for its acknowledgements
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  const stats = archive.stats();
  await archive.close();
  removeDb(file);
  return [label, series, options.batchRows ?? 1000, options.synchronous ?? 'normal', fmt(WRITES / seconds), fmt(stats.batches ?? 0)];
}

async function pacedIngest(series: number, rate: number, seconds: number): Promise<Array<string | number>> {
  const file = path.join(dir, 'live.sqlite');
  removeDb(file);
  const archive = await openSqliteArchive(file);
  const durations: number[] = [];
  // Time every commit: the longest one is the longest the event loop stands still for the archive.
  const queue = (archive as unknown as { queue: { opts: { commit(b: unknown): unknown } } }).queue;
  const commit = queue.opts.commit;
  queue.opts.commit = (b) => {
    const t = performance.now();
    try {
      return commit(b);
    } finally {
      durations.push(performance.now() - t);
    }
  };
  const tick = 50;
  const perTick = (rate * tick) / 1000;
  let k = 0;
  const cpu0 = process.cpuUsage();
  const start = Date.now();
  while (Date.now() - start < seconds * 1000) {
    const now = Date.now();
    const c: Sample[] = [];
    for (let i = 0; i < perTick; i++, k++) c.push({ device: `dev${k % series}`, name: 'value', t: now + (Math.floor(k / series) % tick), value: Math.sin(k / 100) });
    void archive.write(c);
    await new Promise((r) => setTimeout(r, tick));
  }
  await archive.flush();
  const wall = (Date.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stats = archive.stats();
  await archive.close();
  removeDb(file);
  durations.sort((a, b) => a - b);
  return [
    `${fmt(rate)}/s over ${series} series for ${seconds} s`,
    `${((100 * (cpu.user + cpu.system)) / 1e6 / wall).toFixed(0)} %`,
    quantile(durations, 0.5).toFixed(1),
    quantile(durations, 0.99).toFixed(1),
    durations[durations.length - 1]!.toFixed(1),
    stats.failed ?? 0,
  ];
}

// ---- 2. history over a year at 1 Hz ------------------------------------------------------------

interface Agg {
  n: number;
  min: number;
  max: number;
  sum: number;
}

/** Loads DAYS days of one series at 1 Hz straight into the archive's tables, rollups included. */
function bulkLoad(file: string, t0: number, seconds: number): void {
  const db = new Database(file);
  db.pragma('synchronous = OFF');
  const id = Number(db.prepare("INSERT INTO series (device, name, unit, type) VALUES ('bench', 'temperature', 'K', 'number')").run().lastInsertRowid);
  const ROWS = 200;
  const insert = db.prepare(`INSERT INTO samples (series_id, t_ms, value) VALUES ${Array(ROWS).fill('(?, ?, ?)').join(', ')}`);
  const insertOne = db.prepare('INSERT INTO samples (series_id, t_ms, value) VALUES (?, ?, ?)');
  const m1 = db.prepare('INSERT INTO rollup_1m (series_id, bin_start_ms, count, min, max, sum) VALUES (?, ?, ?, ?, ?, ?)');
  const h1 = db.prepare('INSERT INTO rollup_1h (series_id, bin_start_ms, count, min, max, sum) VALUES (?, ?, ?, ?, ?, ?)');
  const args: number[] = new Array<number>(ROWS * 3);
  let minute: Agg | undefined;
  let hour: Agg | undefined;
  let minuteStart = t0;
  let hourStart = t0;
  const add = (a: Agg | undefined, v: number): Agg => (a === undefined ? { n: 1, min: v, max: v, sum: v } : { n: a.n + 1, min: Math.min(a.min, v), max: Math.max(a.max, v), sum: a.sum + v });
  const PER_TX = 1_000_000;
  for (let base = 0; base < seconds; base += PER_TX) {
    db.exec('BEGIN');
    const end = Math.min(seconds, base + PER_TX);
    let filled = 0;
    for (let i = base; i < end; i++) {
      const t = t0 + i * 1000;
      const v = 20 + 5 * Math.sin((2 * Math.PI * i) / 86_400) + 0.2 * Math.sin(i * 7.3);
      args[filled * 3] = id;
      args[filled * 3 + 1] = t;
      args[filled * 3 + 2] = v;
      if (++filled === ROWS) {
        insert.run(...args);
        filled = 0;
      }
      if (t - minuteStart >= 60_000) {
        m1.run(id, minuteStart, minute!.n, minute!.min, minute!.max, minute!.sum);
        minute = undefined;
        minuteStart = t;
      }
      if (t - hourStart >= 3_600_000) {
        h1.run(id, hourStart, hour!.n, hour!.min, hour!.max, hour!.sum);
        hour = undefined;
        hourStart = t;
      }
      minute = add(minute, v);
      hour = add(hour, v);
    }
    for (let j = 0; j < filled; j++) insertOne.run(args[j * 3], args[j * 3 + 1], args[j * 3 + 2]);
    db.exec('COMMIT');
    if (process.stderr.isTTY) process.stderr.write(`\r  loading: ${fmt(end)} / ${fmt(seconds)} rows`);
  }
  m1.run(id, minuteStart, minute!.n, minute!.min, minute!.max, minute!.sum);
  h1.run(id, hourStart, hour!.n, hour!.min, hour!.max, hour!.sum);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  if (process.stderr.isTTY) process.stderr.write('\n');
}

async function historyBench(): Promise<void> {
  const file = path.join(dir, 'year.sqlite');
  const seconds = Math.round(DAYS * 86_400);
  const t0 = Date.UTC(2024, 0, 1); // day and hour aligned
  const schema = await openSqliteArchive(file);
  await schema.close();
  const loadStart = performance.now();
  bulkLoad(file, t0, seconds);
  const loadS = (performance.now() - loadStart) / 1000;
  const sizeMb = fs.statSync(file).size / 1e6;
  console.log(`history: one series, ${DAYS} days at 1 Hz = ${fmt(seconds)} rows, loaded in ${loadS.toFixed(1)} s (${fmt(seconds / loadS)} rows/s), ${sizeMb.toFixed(0)} MB\n`);

  const archive = await openSqliteArchive(file);
  const end = t0 + (seconds - 1) * 1000;
  const ranges: Array<[string, number]> = [
    ['10 min', 600_000],
    ['1 h', 3_600_000],
    ['1 day', DAY],
    ['1 week', 7 * DAY],
    ['1 month (30 d)', 30 * DAY],
    ['1 year (365 d)', 365 * DAY],
  ];
  const rows: Array<Array<string | number>> = [];
  const REPS = 30;
  for (const [label, span] of ranges) {
    if (span > seconds * 1000) continue;
    const from = end - span + 1;
    const first0 = performance.now();
    let result = await archive.history('bench', 'temperature', from, end, 1000);
    const first = performance.now() - first0;
    const times: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const s = performance.now();
      result = await archive.history('bench', 'temperature', from, end, 1000);
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const bin = result.binMs === 0 ? 'raw' : result.binMs % 3_600_000 === 0 ? `${result.binMs / 3_600_000} h` : `${result.binMs / 60_000} min`;
    rows.push([label, result.source, bin, result.points.length, first.toFixed(2), quantile(times, 0.5).toFixed(2), quantile(times, 0.95).toFixed(2), times[times.length - 1]!.toFixed(2)]);
  }
  table(['range (maxPoints 1000)', 'source', 'bin', 'points', 'first ms', 'median ms', 'p95 ms', 'max ms'], rows);

  // CSV export of a day (86,400 rows), streamed.
  const csvStart = performance.now();
  let bytes = 0;
  for await (const chunk of archive.exportCsv('bench', 'temperature', end - DAY + 1, end)) bytes += chunk.length;
  const csvMs = performance.now() - csvStart;
  console.log(`CSV export of the last day: ${fmt(bytes / 1e3)} kB in ${csvMs.toFixed(0)} ms (${fmt(86_400 / (csvMs / 1000))} rows/s)\n`);
  await archive.close();
  removeDb(file);
}

async function main(): Promise<void> {
  console.log(`labwire archive benchmark (SQLite ${String(new Database(':memory:').prepare('SELECT sqlite_version()').pluck().get())}, Node ${process.version}, ${os.cpus().length} CPUs)\n`);
  const writes: Array<Array<string | number>> = [];
  writes.push(await writeThroughput('one series', 1, {}));
  writes.push(await writeThroughput('100 series', 100, {}));
  writes.push(await writeThroughput('4000 series (200 daemons x 20)', 4000, {}));
  writes.push(await writeThroughput('4000 series, big batches', 4000, { batchRows: 20_000 }));
  writes.push(await writeThroughput('100 series, fsync per commit', 100, { synchronous: 'full' }));
  console.log(`write throughput: ${fmt(WRITES)} samples through write() in calls of 1000, batchMs 250`);
  table(['case', 'series', 'batchRows', 'synchronous', 'samples/s', 'commits'], writes);
  if (LIVE_S > 0) {
    console.log('paced ingest (defaults: batchMs 250, batchRows 1000), CPU of this process incl. making the samples');
    table(['load', 'CPU', 'commit p50 ms', 'p99 ms', 'max ms', 'failed'], [await pacedIngest(4000, 20_000, LIVE_S)]);
  }
  await historyBench();
}

try {
  await main();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
