/**
 * `tsx bench/archive-postgres.ts`: the PostgreSQL archive alone (issue 13), on a database of its
 * own on the server at LABWIRE_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test),
 * dropped at the end. Skips with a message when the server is absent.
 * 1. Ingest through Archive.write() (target >= 100,000 samples/s): one series, 100 and 4000
 *    series, each batch one transaction (INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING
 *    with the rollup upserts in the same statement).
 * 2. history() over one series of a year at 1 Hz for ranges from 10 minutes to a year at
 *    maxPoints 1000 (target <= 100 ms). 31.5 M raw rows take long to load, so the year is made
 *    in SQL with generate_series, the way retention leaves it: the 1-hour rollup for the year
 *    (8,760 rows), the 1-minute rollup for the year (525,600 rows), and raw 1 Hz samples for the
 *    last BENCH_PG_RAW_DAYS days (default 7: 604,800 rows). The bins hold what 1 Hz samples of
 *    a sine would give (count 60/3600, min/max/sum of the sine over the bin).
 * Prints tables; asserts nothing.
 *
 * Environment: BENCH_PG_WRITES (samples per ingest row, default 500,000), BENCH_PG_RAW_DAYS.
 */
import os from 'node:os';
import { openPostgresArchive, type PostgresArchive, type PostgresArchiveOptions } from '../src/archive/postgres.js';
import { freshDatabase, postgresAvailable, POSTGRES_SKIP_MESSAGE } from '../src/archive/test-helpers/postgres.js';
import type { Sample } from '../src/archive/types.js';

const WRITES = Number(process.env.BENCH_PG_WRITES ?? 500_000);
const RAW_DAYS = Number(process.env.BENCH_PG_RAW_DAYS ?? 7);
const DAY = 86_400_000;

function table(headers: string[], rows: Array<Array<string | number>>): void {
  const cells = rows.map((r) => r.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells) console.log(line(r));
  console.log();
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function ingest(url: string, label: string, series: number, options: Partial<PostgresArchiveOptions>): Promise<Array<string | number>> {
  const archive = await openPostgresArchive({ url, origin: `ingest-${series}-${options.batchRows ?? 'default'}`, ...options });
  const t0 = Date.UTC(2025, 0, 2);
  const chunk = 1000;
  const chunks: Sample[][] = [];
  for (let k = 0; k < WRITES; ) {
    const c: Sample[] = [];
    for (let i = 0; i < chunk && k < WRITES; i++, k++) {
      const s = k % series;
      c.push({ device: `dev${Math.floor(s / 20)}`, name: `p${s % 20}`, t: t0 + Math.floor(k / series) * 1000, value: Math.sin(k / 1000) * 100 });
    }
    chunks.push(c);
  }
  // The partitions and series come first (one sample each): the steady state is measured.
  const first: Sample[] = [];
  for (let s = 0; s < series; s++) first.push({ device: `dev${Math.floor(s / 20)}`, name: `p${s % 20}`, t: t0 - 1, value: 0 });
  await archive.write(first);
  const started = performance.now();
  await Promise.all(chunks.map((c) => archive.write(c)));
  const s = (performance.now() - started) / 1000;
  const st = archive.stats();
  await archive.close();
  return [label, fmt(WRITES), fmt(st.batches ?? 0), s.toFixed(2), fmt(WRITES / s)];
}

async function loadYear(archive: PostgresArchive, end: number): Promise<{ seconds: number; raw: number }> {
  const start = end - 365 * DAY;
  const rawFrom = end - RAW_DAYS * DAY;
  const started = performance.now();
  const c = await archive.pool.connect();
  try {
    await c.query('BEGIN');
    const id = (await c.query<{ id: number }>("INSERT INTO series (origin, device, name, unit, type) VALUES ('bench', 'cryo', 't', 'K', 'number') RETURNING id")).rows[0]!.id;
    // Bins of a sine sampled at 1 Hz: exact count, and min/max/sum of the sine over the bin.
    const bins = (table: string, w: number): string => `
      INSERT INTO ${table} (series_id, bin_start_ms, count, min, max, sum)
      SELECT ${id}, b, ${w / 1000}, min(v), max(v), avg(v) * ${w / 1000} FROM (
        SELECT b, sin(s / 86400.0) AS v FROM generate_series(${start}::bigint, ${end - w}::bigint, ${w}::bigint) AS b,
          LATERAL generate_series(b / 1000, (b + ${w}) / 1000 - 1, ${w === 60_000 ? 10 : 60}) AS s
      ) x GROUP BY b`;
    // The sine is sampled every 10 s (minutes) or 60 s (hours) to make the bins: it changes
    // little within them, and it keeps the load to seconds.
    await c.query(bins('rollup_1h', 3_600_000));
    await c.query(bins('rollup_1m', 60_000));
    for (let m = new Date(rawFrom); m.getTime() < end; m = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1))) {
      const ms = Date.UTC(m.getUTCFullYear(), m.getUTCMonth(), 1);
      const next = Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1);
      const name = `samples_p${m.getUTCFullYear()}${String(m.getUTCMonth() + 1).padStart(2, '0')}`;
      await c.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF samples FOR VALUES FROM (${ms}) TO (${next})`);
    }
    const raw = await c.query(
      `INSERT INTO samples (series_id, t_ms, value) SELECT ${id}, s * 1000, sin(s / 86400.0) FROM generate_series(${rawFrom / 1000}::bigint, ${end / 1000 - 1}::bigint) AS s`,
    );
    await c.query('COMMIT');
    await c.query('ANALYZE series, samples, rollup_1m, rollup_1h');
    return { seconds: (performance.now() - started) / 1000, raw: raw.rowCount ?? 0 };
  } finally {
    c.release();
  }
}

async function main(): Promise<void> {
  if (!(await postgresAvailable())) {
    console.log(POSTGRES_SKIP_MESSAGE);
    return;
  }
  const db = await freshDatabase('bench');
  try {
    const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
    console.log(`PostgreSQL archive bench on ${db.name} (dropped at the end); ${os.cpus().length} cores, load average ${load} at start\n`);
    console.log('1. Ingest through Archive.write() (target >= 100,000 samples/s)');
    const rows: Array<Array<string | number>> = [];
    // The default batch (20000 rows) and, for comparison, SQLite's 5000.
    rows.push(await ingest(db.url, '1 series, default batches', 1, {}));
    rows.push(await ingest(db.url, '100 series, default batches', 100, {}));
    rows.push(await ingest(db.url, '4000 series, default batches', 4000, {}));
    rows.push(await ingest(db.url, '4000 series, batches of 5000', 4000, { batchRows: 5000 }));
    table(['case', 'samples', 'transactions', 's', 'samples/s'], rows);

    console.log(`2. history() over a year at 1 Hz, maxPoints 1000 (target <= 100 ms)`);
    const end = Date.UTC(2026, 0, 1);
    const archive = await openPostgresArchive({ url: db.url, origin: 'bench' });
    const year = await loadYear(archive, end);
    console.log(
      `   made in SQL with generate_series in ${year.seconds.toFixed(1)} s: rollup_1h 8,760 rows, rollup_1m 525,600 rows, ` +
        `raw 1 Hz for the last ${RAW_DAYS} days (${fmt(year.raw)} rows; older raw as retention leaves it: gone)\n`,
    );
    await archive.close();
    const reader = await openPostgresArchive({ url: db.url, origin: 'bench' });
    const spans: Array<[string, number]> = [
      ['10 min', 600_000],
      ['1 h', 3_600_000],
      ['1 day', DAY],
      ['1 week', 7 * DAY],
      ['1 month', 30 * DAY],
      ['1 year', 365 * DAY],
      ['1 year, 3 months ago', 365 * DAY],
    ];
    const hrows: Array<Array<string | number>> = [];
    for (const [label, span] of spans) {
      const to = label.includes('ago') ? end - 90 * DAY : end;
      const from = to - span;
      const times: number[] = [];
      let h = await reader.history('cryo', 't', from, to, 1000);
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        h = await reader.history('cryo', 't', from, to, 1000);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      hrows.push([label, h.source, h.binMs === 0 ? 'raw' : `${h.binMs / 60_000} min`, h.points.length, quantile(times, 0.5).toFixed(1), quantile(times, 0.95).toFixed(1)]);
    }
    await reader.close();
    console.log(`   load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    table(['range', 'source', 'bin', 'points', 'median ms', 'p95 ms'], hrows);
  } finally {
    await db.drop();
  }
}

await main();
