import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HOUR_MS, MINUTE_MS, floorTo } from './bins.js';
import { ArchiveError } from './errors.js';
import { openArchive } from './index.js';
import { openSqliteArchive, type SqliteArchive, type SqliteArchiveOptions } from './sqlite.js';
import { ArchiveQueryError, type Sample } from './types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-archive-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
const open: SqliteArchive[] = [];
function dbPath(): string {
  return path.join(dir, `a${++n}.sqlite`);
}
async function fresh(options: SqliteArchiveOptions = {}, file = dbPath()): Promise<SqliteArchive> {
  // A short batch interval keeps the suite fast; the tests that are about the timer set their own.
  const a = await openSqliteArchive(file, { batchMs: 5, ...options });
  open.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

const T0 = Date.UTC(2024, 0, 1); // a Monday, 00:00 UTC
const sample = (name: string, t: number, value: Sample['value'], device = 'dev'): Sample => ({ device, name, t, value });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function settled(p: Promise<unknown>): { done: boolean } {
  const state = { done: false };
  p.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
}

function rawRows(a: SqliteArchive, device: string, name: string): Array<[number, number | string | null]> {
  const db = a.database;
  const { id, type } = db.prepare('SELECT id, type FROM series WHERE device = ? AND name = ?').get(device, name) as { id: number; type: string };
  const table = type === 'number' ? 'samples' : 'text_samples';
  return db.prepare(`SELECT t_ms, value FROM ${table} WHERE series_id = ? ORDER BY t_ms`).raw().all(id) as Array<[number, number | string | null]>;
}

describe('archive: write and read', () => {
  it('round-trips numbers, text and missing readings, and keeps them across a reopen', async () => {
    const file = dbPath();
    const a = await fresh({}, file);
    a.configureSeries('julabo', 'temperature', { unit: '°C' });
    await a.write([
      sample('temperature', T0, 20.5, 'julabo'),
      sample('temperature', T0 + 1000, 20.75, 'julabo'),
      sample('temperature', T0 + 2000, null, 'julabo'),
      sample('temperature', T0 + 3000, 21, 'julabo'),
      sample('state', T0, 'idle', 'julabo'),
      sample('state', T0 + 2000, 'running', 'julabo'),
    ]);
    const h = await a.history('julabo', 'temperature', T0, T0 + 10_000, 100);
    expect(h).toMatchObject({ device: 'julabo', name: 'temperature', unit: '°C', source: 'raw', binMs: 0, type: 'number' });
    expect(h.points).toEqual([
      { t: T0, v: 20.5 },
      { t: T0 + 1000, v: 20.75 },
      { t: T0 + 2000, v: null },
      { t: T0 + 3000, v: 21 },
    ]);
    const s = await a.history('julabo', 'state', T0, T0 + 10_000, 100);
    expect(s.points).toEqual([
      { t: T0, text: 'idle' },
      { t: T0 + 2000, text: 'running' },
    ]);
    expect(await a.listSeries()).toEqual([
      { id: expect.any(Number), device: 'julabo', name: 'state', unit: '', type: 'text', firstT: T0, lastT: T0 + 2000 },
      { id: expect.any(Number), device: 'julabo', name: 'temperature', unit: '°C', type: 'number', firstT: T0, lastT: T0 + 3000 },
    ]);
    expect(a.stats()).toEqual({ pending: 0, committed: 6, skipped: 0, failed: 0, batches: 1, commit: expect.objectContaining({ count: 1 }) });
    await a.close();

    const b = await fresh({}, file);
    expect((await b.history('julabo', 'temperature', T0, T0 + 10_000, 100)).points).toHaveLength(4);
    // The filter state comes back from the database: an unchanged text is not stored again.
    await b.write([sample('state', T0 + 5000, 'running', 'julabo'), sample('temperature', T0 + 5000, 22, 'julabo')]);
    expect(rawRows(b, 'julabo', 'state')).toHaveLength(2);
    expect(rawRows(b, 'julabo', 'temperature')).toHaveLength(5);
  });

  it('acknowledges a write only after its batch is committed', async () => {
    const file = dbPath();
    const a = await fresh({ batchMs: 300 }, file);
    const reader = new Database(file, { readonly: true });
    try {
      const count = (): number => (reader.prepare("SELECT count(*) FROM samples").pluck().get() as number);
      const p = a.write([sample('x', T0, 1), sample('x', T0 + 1, 2)]);
      const state = settled(p);
      await sleep(100);
      expect(state.done).toBe(false);
      expect(a.stats().pending).toBe(2);
      expect(count()).toBe(0);
      await p;
      expect(count()).toBe(2);
      expect(a.stats()).toMatchObject({ pending: 0, committed: 2 });
    } finally {
      reader.close();
    }
  });

  it('commits at once when batchRows are queued, and flush() and close() commit the rest', async () => {
    const file = dbPath();
    const a = await fresh({ batchMs: 60_000, batchRows: 100 }, file);
    const big = Array.from({ length: 250 }, (_, i) => sample('x', T0 + i, i));
    const started = Date.now();
    await a.write(big); // 3 transactions of at most 100 rows; a started write is finished at once
    expect(Date.now() - started).toBeLessThan(5000);
    expect(a.stats().batches).toBe(3);
    const small = a.write([sample('x', T0 + 1000, 1)]);
    await a.flush();
    await small;
    const last = a.write([sample('x', T0 + 2000, 2)]);
    await a.close();
    await last;
    const b = await fresh({}, file);
    expect(rawRows(b, 'dev', 'x')).toHaveLength(252);
    await expect(a.write([sample('x', T0 + 3000, 3)])).rejects.toThrow(/archive is closed/);
  });

  it('applies deadband and heartbeat per series', async () => {
    const a = await fresh();
    a.configureSeries('dev', 'p', { deadband: 0.5, heartbeatMs: 10_000 });
    a.configureSeries('dev', 's', { heartbeatMs: 5000 });
    const values: Array<[number, number]> = [
      [0, 0], // first: stored
      [1000, 0.2], // |Δ| < 0.5: skipped
      [2000, 0.4], // skipped (compared to the last STORED, 0)
      [3000, 0.6], // stored
      [4000, 0.9], // skipped
      [5000, 1.2], // stored (Δ = 0.6)
      [14_000, 1.3], // skipped: 9 s since the last stored
      [15_000, 1.3], // stored: heartbeat (10 s)
      [16_000, 0.8], // stored: |Δ| = 0.5 is not below the deadband
    ];
    await a.write(values.map(([t, v]) => sample('p', T0 + t, v)));
    expect(rawRows(a, 'dev', 'p')).toEqual([
      [T0, 0],
      [T0 + 3000, 0.6],
      [T0 + 5000, 1.2],
      [T0 + 15_000, 1.3],
      [T0 + 16_000, 0.8],
    ]);
    await a.write(['a', 'a', 'b', 'b', 'b', 'b', 'a'].map((v, i) => sample('s', T0 + i * 2000, v)));
    // on change, plus a heartbeat every 5 s of no change
    expect(rawRows(a, 'dev', 's')).toEqual([
      [T0, 'a'],
      [T0 + 4000, 'b'],
      [T0 + 10_000, 'b'],
      [T0 + 12_000, 'a'],
    ]);
    expect(a.stats()).toMatchObject({ committed: 9, skipped: 7 });
    expect(() => a.configureSeries('dev', 'p', { deadband: -1 })).toThrow(RangeError);
  });

  it('keeps gaps visible: one null per gap in raw, nulls left out of rollups, null-only bins absent', async () => {
    const a = await fresh();
    a.configureSeries('dev', 'g', { deadband: 10 }); // a deadband must not hide the gap or the value after it
    const s: Sample[] = [];
    for (let i = 0; i < 60; i++) s.push(sample('g', T0 + i * 1000, 5)); // minute 0: values
    for (let i = 60; i < 180; i++) s.push(sample('g', T0 + i * 1000, null)); // minutes 1-2: missing
    for (let i = 180; i < 240; i++) s.push(sample('g', T0 + i * 1000, i % 2 === 0 ? null : 7)); // minute 3: mixed
    await a.write(s);
    const raw = await a.history('dev', 'g', T0, T0 + 240_000, 1000);
    expect(raw.source).toBe('raw');
    expect(raw.points.slice(0, 3)).toEqual([
      { t: T0, v: 5 },
      { t: T0 + 60_000, v: null },
      { t: T0 + 181_000, v: 7 },
    ]);
    expect(raw.points.filter((p) => p.v === null)).toHaveLength(30); // the mixed minute alternates
    const bins = await a.history('dev', 'g', T0, T0 + 240_000 - 1, 10);
    expect(bins.source).toBe('1m');
    expect(bins.binMs).toBe(MINUTE_MS);
    expect(bins.points).toEqual([
      { t: T0, min: 5, max: 5, mean: 5, n: 1 },
      { t: T0 + 180_000, min: 7, max: 7, mean: 7, n: 30 },
    ]);
  });

  it('stores late samples, skips duplicates, and keeps rollups consistent', async () => {
    const a = await fresh();
    await a.write([sample('l', T0 + 5000, 5), sample('l', T0 + 5000, 6), sample('l', T0 + 1000, 1), sample('l', T0 + 1000, 9), sample('l', T0 + 6000, 6)]);
    expect(rawRows(a, 'dev', 'l')).toEqual([
      [T0 + 1000, 1],
      [T0 + 5000, 5],
      [T0 + 6000, 6],
    ]);
    const h = await a.history('dev', 'l', T0, T0 + 59_999, 1);
    expect(h.points).toEqual([{ t: T0, min: 1, max: 6, mean: 4, n: 3 }]);
  });

  it('decides the type by the first value and stores values of the other type sensibly', async () => {
    const a = await fresh();
    a.configureSeries('dev', 'declared', { type: 'number' });
    await a.write([
      sample('n', T0, null), // a new series without a type: nothing to store yet
      sample('n', T0 + 1, 1.5),
      sample('n', T0 + 2, '2.5'), // a numeric string is parsed
      sample('n', T0 + 3, 'overrange'), // any other string is a missing reading
      sample('n', T0 + 4, Number.NaN),
      sample('n', T0 + 5, 3),
      sample('t', T0, 'on'),
      sample('t', T0 + 1, 42), // text series store numbers as their text
      sample('declared', T0, null), // declared type: the leading gap is stored
      sample('declared', T0 + 1, 1),
    ]);
    expect(rawRows(a, 'dev', 'n')).toEqual([
      [T0 + 1, 1.5],
      [T0 + 2, 2.5],
      [T0 + 3, null],
      [T0 + 5, 3],
    ]);
    expect(rawRows(a, 'dev', 't')).toEqual([
      [T0, 'on'],
      [T0 + 1, '42'],
    ]);
    expect(rawRows(a, 'dev', 'declared')).toEqual([
      [T0, null],
      [T0 + 1, 1],
    ]);
    const types = Object.fromEntries((await a.listSeries()).map((s) => [s.name, s.type]));
    expect(types).toEqual({ n: 'number', t: 'text', declared: 'number' });
  });

  it('rejects bad input with a clear error and queues nothing of it', async () => {
    const a = await fresh();
    await expect(a.write([sample('x', T0, 1), sample('x', Number.NaN, 2)])).rejects.toThrow(/invalid sample dev\.x \(index 1\): t must be Unix milliseconds/);
    await expect(a.write([{ device: '', name: 'x', t: T0, value: 1 }])).rejects.toThrow(/device must be a non-empty string/);
    await expect(a.write([sample('x', T0, {} as unknown as number)])).rejects.toThrow(/value must be a number, a string or null/);
    await expect(a.log({ t: T0, source: 's', level: 'loud' as 'info', message: 'm' })).rejects.toThrow(/level must be one of/);
    await expect(a.audit({ t: T0, who: 'w', peer: 'p', device: 'd', command: 'c', before: null as unknown as Record<string, unknown>, after: {}, result: 'ok' })).rejects.toThrow(/before must be an object/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(a.audit({ t: T0, who: 'w', peer: 'p', device: 'd', command: 'c', before: circular, after: {}, result: 'ok' })).rejects.toThrow(/before is not JSON/);
    expect(a.stats().pending).toBe(0);
  });

  it('keeps what was written even when the caller reuses its array', async () => {
    const a = await fresh({ batchMs: 50 });
    const batch = [sample('x', T0, 1)];
    const p = a.write(batch);
    batch[0] = sample('x', T0, 999);
    batch.push(sample('x', T0 + 1, 2));
    await p;
    expect(rawRows(a, 'dev', 'x')).toEqual([[T0, 1]]);
  });

  it('stores a unit changed by configureSeries, and opens through the factory', async () => {
    const file = dbPath();
    const a = await openArchive({ kind: 'sqlite', path: file, batchMs: 5 });
    a.configureSeries('dev', 'p', { unit: 'K' });
    await a.write([sample('p', T0, 4.2)]);
    a.configureSeries('dev', 'p', { unit: 'mK' });
    await a.close();
    const b = await fresh({}, file);
    expect((await b.listSeries())[0]).toMatchObject({ name: 'p', unit: 'mK', type: 'number' });
    expect((await b.history('dev', 'p', T0, T0, 1)).unit).toBe('mK');
  });
});

describe('archive: rollups', () => {
  it('1-minute and 1-hour rollups equal the aggregates of the raw samples (property)', async () => {
    const a = await fresh({ batchRows: 64 });
    let run = 0;
    const value = fc.oneof(
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 6, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
      { weight: 2, arbitrary: fc.integer({ min: -5, max: 5 }) },
    );
    // Samples within three hours, in any order, with duplicate timestamps: ordered, late and repeated.
    const samples = fc.array(fc.tuple(fc.integer({ min: 0, max: 3 * HOUR_MS - 1 }), value), { minLength: 1, maxLength: 300 });
    await fc.assert(
      fc.asyncProperty(samples, fc.integer({ min: 1, max: 5 }), async (rows, chunks) => {
        const name = `p${++run}`;
        const all = rows.map(([dt, v]) => sample(name, T0 + dt, v));
        const size = Math.ceil(all.length / chunks);
        await Promise.all(Array.from({ length: chunks }, (_, i) => a.write(all.slice(i * size, (i + 1) * size))));
        const db = a.database;
        const id = db.prepare('SELECT id FROM series WHERE name = ?').pluck().get(name) as number | undefined;
        if (id === undefined) return; // only nulls: no series
        const raw = (db.prepare('SELECT t_ms, value FROM samples WHERE series_id = ? AND value IS NOT NULL').raw().all(id) as Array<[number, number]>);
        for (const [tier, w] of [['rollup_1m', MINUTE_MS], ['rollup_1h', HOUR_MS]] as const) {
          const expected = new Map<number, { count: number; min: number; max: number; sum: number }>();
          for (const [t, v] of raw) {
            const b = floorTo(t, w);
            const e = expected.get(b);
            if (e === undefined) expected.set(b, { count: 1, min: v, max: v, sum: v });
            else {
              e.count++;
              e.min = Math.min(e.min, v);
              e.max = Math.max(e.max, v);
              e.sum += v;
            }
          }
          const got = db.prepare(`SELECT bin_start_ms, count, min, max, sum FROM ${tier} WHERE series_id = ? ORDER BY bin_start_ms`).all(id) as Array<{
            bin_start_ms: number;
            count: number;
            min: number;
            max: number;
            sum: number;
          }>;
          expect(got.map((g) => g.bin_start_ms)).toEqual([...expected.keys()].sort((x, y) => x - y));
          for (const g of got) {
            const e = expected.get(g.bin_start_ms)!;
            expect(g.count).toBe(e.count);
            expect(g.min).toBe(e.min);
            expect(g.max).toBe(e.max);
            expect(g.sum / g.count).toBeCloseTo(e.sum / e.count, 6);
          }
        }
        // And history() over rollups reports the same: one bin for the whole range.
        const one = await a.history('dev', name, T0, T0 + 3 * HOUR_MS - 1, 1);
        if (raw.length > 1) {
          expect(one.points).toHaveLength(1);
          expect(one.points[0]!.n).toBe(raw.length);
          expect(one.points[0]!.min).toBe(Math.min(...raw.map((r) => r[1])));
          expect(one.points[0]!.max).toBe(Math.max(...raw.map((r) => r[1])));
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('archive: history', () => {
  const YEAR = 365 * 86_400_000;
  const END = T0 + YEAR;
  let a: SqliteArchive;
  let total = 0;

  it('loads a year of sparse data plus a dense last hour', async () => {
    a = await openSqliteArchive(dbPath(), { batchRows: 20_000, batchMs: 5 });
    const batch: Sample[] = [];
    for (let t = T0; t < END - HOUR_MS; t += 10 * MINUTE_MS) batch.push(sample('y', t, Math.sin(t / 86_400_000)));
    for (let t = END - HOUR_MS; t < END; t += 1000) batch.push(sample('y', t, (t / 1000) % 100));
    total = batch.length;
    await a.write(batch);
    expect(a.stats().committed).toBe(total);
  });

  const spans: Array<[string, number]> = [
    ['10 min', 10 * MINUTE_MS],
    ['1 h', HOUR_MS],
    ['1 day', 86_400_000],
    ['1 week', 7 * 86_400_000],
    ['1 month', 30 * 86_400_000],
    ['1 year', YEAR],
  ];
  for (const [label, span] of spans) {
    it(`never returns more than maxPoints for ${label}`, async () => {
      for (const maxPoints of [1, 2, 7, 100, 1000, 5000, 100_000]) {
        const h = await a.history('dev', 'y', END - span, END, maxPoints);
        expect(h.points.length).toBeLessThanOrEqual(maxPoints);
        expect(h.points.length).toBeGreaterThan(0);
        const ts = h.points.map((p) => p.t);
        expect([...ts].sort((x, y) => x - y)).toEqual(ts);
        if (h.source === 'raw') {
          expect(h.binMs).toBe(0);
          expect(h.points.every((p) => typeof p.v === 'number')).toBe(true);
        } else {
          expect(h.binMs % (h.source === '1m' ? MINUTE_MS : HOUR_MS)).toBe(0);
          for (const p of h.points) {
            expect(p.min! <= p.mean! + 1e-9 && p.mean! <= p.max! + 1e-9).toBe(true);
            expect(p.n).toBeGreaterThan(0);
          }
        }
      }
    });
  }

  it('picks raw when it fits and the finest rollup that keeps within maxPoints otherwise', async () => {
    const tenMin = await a.history('dev', 'y', END - 10 * MINUTE_MS, END, 1000);
    expect(tenMin.source).toBe('raw');
    expect(tenMin.points).toHaveLength(600);
    const hour = await a.history('dev', 'y', END - HOUR_MS, END, 1000);
    expect(hour).toMatchObject({ source: '1m', binMs: MINUTE_MS });
    expect(hour.points.reduce((s, p) => s + p.n!, 0)).toBe(3600);
    const hourAll = await a.history('dev', 'y', END - HOUR_MS, END, 5000);
    expect(hourAll.source).toBe('raw');
    const day = await a.history('dev', 'y', END - 86_400_000, END, 1000);
    expect(day).toMatchObject({ source: '1m', binMs: 2 * MINUTE_MS });
    // a sparse day fits raw: 144 samples
    const sparse = await a.history('dev', 'y', T0 + 100 * 86_400_000, T0 + 101 * 86_400_000 - 1, 1000);
    expect(sparse.source).toBe('raw');
    expect(sparse.points).toHaveLength(144);
    const year = await a.history('dev', 'y', T0, END, 1000);
    expect(year.source).toBe('1h');
    expect(year.binMs).toBe(9 * HOUR_MS);
    expect(year.points.reduce((s, p) => s + p.n!, 0)).toBe(total);
    expect((await a.history('dev', 'y', T0, END, 100_000)).source).toBe('raw'); // 56,160 samples fit
    const yearMinutes = await a.history('dev', 'y', T0, END, 50_000);
    expect(yearMinutes.source).toBe('1h'); // 525,600 minute rows would be too slow: hours it is
    expect(yearMinutes.binMs).toBe(HOUR_MS);
  });

  it('answers a huge range with few bins, and rejects bad queries clearly', async () => {
    const huge = await a.history('dev', 'y', 0, 8.64e15, 1000);
    expect(huge.points.length).toBeLessThanOrEqual(1000);
    expect(huge.points.reduce((s, p) => s + (p.n ?? 1), 0)).toBe(total);
    await expect(a.history('dev', 'y', END, T0, 100)).rejects.toThrow(ArchiveQueryError);
    await expect(a.history('dev', 'y', END, T0, 100)).rejects.toThrow(/from is after to/);
    await expect(a.history('dev', 'nope', T0, END, 100)).rejects.toThrow(/unknown series dev\.nope/);
    await expect(a.history('dev', 'y', T0, END, 0)).rejects.toThrow(/maxPoints must be an integer from 1 to 100000/);
    await expect(a.history('dev', 'y', T0, END, 100_001)).rejects.toThrow(ArchiveQueryError);
    await expect(a.history('dev', 'y', Number.NaN, END, 10)).rejects.toThrow(/from must be Unix milliseconds/);
    const empty = await a.history('dev', 'y', END + 1000, END + 2000, 10);
    expect(empty.points).toEqual([]);
  });

  it('thins a text series with many changes to maxPoints', async () => {
    const changes = Array.from({ length: 500 }, (_, i) => sample('mode', T0 + i * 1000, i % 2 === 0 ? 'a' : 'b'));
    await a.write(changes);
    const h = await a.history('dev', 'mode', T0, T0 + 500_000, 50);
    expect(h.points.length).toBeLessThanOrEqual(50);
    expect(h.points.length).toBeGreaterThan(40);
    expect(h.points.every((p) => p.text === 'a' || p.text === 'b')).toBe(true);
    await a.close();
  });
});

describe('archive: retention', () => {
  it('deletes each tier by its own age in bounded chunks, and history falls back to the tier that remains', async () => {
    const a = await fresh({ batchRows: 20_000 });
    const DAY = 86_400_000;
    const now = T0 + 10 * DAY;
    const s: Sample[] = [];
    for (let t = T0; t < now; t += 20_000) s.push(sample('r', t, 1)); // 43,200 samples: several delete chunks
    for (let d = 0; d < 10; d++) s.push(sample('mode', T0 + d * DAY, d % 2 === 0 ? 'on' : 'off'));
    await a.write(s);
    for (let d = 0; d < 10; d++) await a.log({ t: T0 + d * DAY, source: 'test', level: 'info', message: `day ${d}` });
    await a.audit({ t: T0, who: 'w', peer: 'p', device: 'dev', command: 'set x 1', before: { x: 0 }, after: { x: 1 }, result: 'ok' });
    await a.applyRetention({ rawMs: 2 * DAY, minuteMs: 5 * DAY, logMs: 3 * DAY, textMs: 4 * DAY }, now);
    const db = a.database;
    const min = (table: string): number => db.prepare(`SELECT min(${table === 'samples' || table === 'text_samples' ? 't_ms' : 'bin_start_ms'}) FROM ${table}`).pluck().get() as number;
    expect(min('samples')).toBe(now - 2 * DAY);
    expect(min('text_samples')).toBe(now - 4 * DAY);
    expect(min('rollup_1m')).toBe(now - 5 * DAY);
    expect(min('rollup_1h')).toBe(T0);
    expect((await a.messages({})).map((m) => m.message)).toEqual(['day 9', 'day 8', 'day 7']);
    expect(await a.auditTrail({})).toHaveLength(1);

    // 10 days at 1000 points: minutes are preferred, but they no longer reach back; hours do.
    const h = await a.history('dev', 'r', T0, now, 1000);
    expect(h.source).toBe('1h');
    expect(h.points[0]!.t).toBe(T0);
    // Within the raw window raw still answers.
    const recent = await a.history('dev', 'r', now - DAY, now, 10_000);
    expect(recent.source).toBe('raw');
    // The first time of the series is that of the oldest tier left.
    expect((await a.listSeries()).find((x) => x.name === 'r')!.firstT).toBe(T0);
    await expect(a.applyRetention({ rawMs: -1 })).rejects.toThrow(/rawMs must be a duration/);
  });
});

describe('archive: CSV export', () => {
  it('streams any range in pages, with a header, ISO and ms times, and quoted text', async () => {
    const a = await fresh({ batchRows: 30_000 });
    const s = Array.from({ length: 25_000 }, (_, i) => sample('c', T0 + i * 100, i % 1000 === 999 ? null : i / 4));
    await a.write(s);
    await a.write([sample('note', T0, 'plain'), sample('note', T0 + 1, 'with, comma'), sample('note', T0 + 2, 'say "hi"\nthere')]);
    const chunks: string[] = [];
    for await (const chunk of a.exportCsv('dev', 'c', T0, T0 + 10_000_000)) chunks.push(chunk);
    expect(chunks[0]).toBe('time_iso,t_ms,value\n');
    expect(chunks).toHaveLength(4); // header + 3 pages of at most 10,000 rows
    const lines = chunks.join('').trimEnd().split('\n');
    expect(lines).toHaveLength(25_001);
    expect(lines[1]).toBe(`2024-01-01T00:00:00.000Z,${T0},0`);
    expect(lines[1000]).toBe(`2024-01-01T00:01:39.900Z,${T0 + 99_900},`);
    expect(lines[25_000]).toBe(`${new Date(T0 + 2_499_900).toISOString()},${T0 + 2_499_900},`); // every 1000th is missing
    // inclusive bounds
    let part = '';
    for await (const chunk of a.exportCsv('dev', 'c', T0 + 100, T0 + 300)) part += chunk;
    expect(part.trimEnd().split('\n').slice(1).map((l) => l.split(',')[1])).toEqual([String(T0 + 100), String(T0 + 200), String(T0 + 300)]);
    let text = '';
    for await (const chunk of a.exportCsv('dev', 'note', T0, T0 + 10)) text += chunk;
    expect(text).toBe(
      `time_iso,t_ms,value\n2024-01-01T00:00:00.000Z,${T0},plain\n2024-01-01T00:00:00.001Z,${T0 + 1},"with, comma"\n2024-01-01T00:00:00.002Z,${T0 + 2},"say ""hi""\nthere"\n`,
    );
    const iterate = async (): Promise<void> => {
      for await (const _ of a.exportCsv('dev', 'missing', T0, T0 + 1)) void _;
    };
    await expect(iterate()).rejects.toThrow(/unknown series dev\.missing/);
  });
});

describe('archive: messages and audit', () => {
  it('filters the message log by time, source and level, newest first', async () => {
    const a = await fresh();
    const levels = ['debug', 'info', 'success', 'warning', 'error'] as const;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => a.log({ t: T0 + i * 1000, source: i % 2 === 0 ? 'julabo' : 'monitor', level: levels[i % 5]!, message: `m${i}` })),
    );
    const all = await a.messages({});
    expect(all).toHaveLength(20);
    expect(all[0]).toEqual({ t: T0 + 19_000, source: 'monitor', level: 'error', message: 'm19' });
    expect((await a.messages({ limit: 3 })).map((m) => m.message)).toEqual(['m19', 'm18', 'm17']);
    expect((await a.messages({ source: 'julabo', minLevel: 'warning' })).map((m) => m.message)).toEqual(['m18', 'm14', 'm8', 'm4']);
    expect((await a.messages({ minLevel: 'success' })).every((m) => ['success', 'warning', 'error'].includes(m.level))).toBe(true);
    expect((await a.messages({ from: T0 + 5000, to: T0 + 7000 })).map((m) => m.message)).toEqual(['m7', 'm6', 'm5']);
    await expect(a.messages({ limit: 0 })).rejects.toThrow(/limit must be an integer from 1 to 10000/);
    await expect(a.messages({ from: T0 + 1, to: T0 })).rejects.toThrow(/from is after to/);
    await expect(a.messages({ minLevel: 'loud' as 'info' })).rejects.toThrow(/unknown log level/);
  });

  it('keeps the audit trail with values before and after', async () => {
    const a = await fresh();
    await a.audit({ t: T0, who: 'alice', peer: '127.0.0.1:5000', device: 'julabo', command: 'set setpoint 20', before: { setpoint: 15 }, after: { setpoint: 20 }, result: 'ok' });
    await a.audit({ t: T0 + 1000, who: 'bob', peer: '10.0.0.2:6000', device: 'cryocon', command: 'set loop1.setpt 4', before: {}, after: {}, result: 'error OutOfRange' });
    expect(await a.auditTrail({ device: 'julabo' })).toEqual([
      { t: T0, who: 'alice', peer: '127.0.0.1:5000', device: 'julabo', command: 'set setpoint 20', before: { setpoint: 15 }, after: { setpoint: 20 }, result: 'ok' },
    ]);
    expect((await a.auditTrail({})).map((e) => e.who)).toEqual(['bob', 'alice']);
    expect(await a.auditTrail({ from: T0 + 1, limit: 5 })).toHaveLength(1);
  });
});

describe('archive: faults', () => {
  it('refuses to open an unusable path with the path and the reason', async () => {
    const file = path.join(dir, 'file.txt');
    fs.writeFileSync(file, 'not a directory\n');
    await expect(openSqliteArchive(path.join(file, 'archive.sqlite'))).rejects.toThrow(
      new RegExp(`cannot open archive ${file}/archive\\.sqlite: .*not a directory`),
    );
    await expect(openSqliteArchive(file)).rejects.toThrow(/cannot open archive .*file\.txt: the file is not an SQLite database \(SQLITE_NOTADB\)/);
    await expect(openSqliteArchive(path.join(dir, 'absent.sqlite'), { readonly: true })).rejects.toThrow(/cannot open archive .*absent\.sqlite: no such file/);
    await expect(openSqliteArchive(dir)).rejects.toThrow(/not a regular file/);
    const err = await openSqliteArchive(path.join(file, 'x.sqlite')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as ArchiveError).code).toMatch(/^(EEXIST|ENOTDIR)$/);
    await expect(openArchive({ kind: 'postgres' } as unknown as { kind: 'sqlite'; path: string })).rejects.toThrow(/archive kind "postgres" is not supported/);
  });

  it('a read-only archive serves reads and rejects writes clearly, without crashing', async () => {
    const file = dbPath();
    const w = await fresh({}, file);
    await w.write([sample('x', T0, 1)]);
    await w.close();
    const r = await fresh({ readonly: true }, file);
    expect((await r.history('dev', 'x', T0, T0, 10)).points).toEqual([{ t: T0, v: 1 }]);
    // Not awaited, not caught: must not become an unhandled rejection.
    void r.write([sample('x', T0 + 1, 2)]);
    await expect(r.write([sample('x', T0 + 2, 3)])).rejects.toThrow(/cannot write to archive .*: the database is read-only \(SQLITE_READONLY\)/);
    expect(r.stats().lastError).toMatch(/read-only/);
    expect(r.stats().failed).toBe(2);
  });

  it('a full disk rejects writes with a clear error, keeps going, and recovers when space returns', async () => {
    const a = await fresh({ batchRows: 5000 });
    await a.write(Array.from({ length: 1000 }, (_, i) => sample('f', T0 + i, i)));
    const db = a.database;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`); // the file may not grow any more: SQLITE_FULL
    const big = (from: number): Sample[] => Array.from({ length: 5000 }, (_, i) => sample('f', T0 + from + i, i));
    const err = await a.write(big(10_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as ArchiveError).message).toMatch(/^cannot write to archive .*: database or disk is full \(SQLITE_FULL\)$/);
    expect((err as ArchiveError).code).toBe('SQLITE_FULL');
    expect(a.stats().lastError).toMatch(/database or disk is full/);
    // reads still work, and nothing of the failed batch is visible
    expect((await a.history('dev', 'f', T0, T0 + 100_000, 100_000)).points).toHaveLength(1000);
    // the filter did not advance on the failed batch: after raising the limit the same samples go in
    db.pragma('max_page_count = 1073741823');
    await a.write(big(10_000));
    expect(a.stats().lastError).toBeUndefined();
    expect((await a.history('dev', 'f', T0, T0 + 100_000, 100_000)).points).toHaveLength(6000);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('resynchronises with the database after a batch that another writer made stale', async () => {
    const file = dbPath();
    const a = await fresh({}, file);
    await a.write([sample('o', T0, 1)]);
    const other = new Database(file);
    const id = other.prepare("SELECT id FROM series WHERE name = 'o'").pluck().get() as number;
    other.prepare('INSERT INTO samples (series_id, t_ms, value) VALUES (?, ?, ?)').run(id, T0 + 10, 5);
    other.close();
    await expect(a.write([sample('o', T0 + 10, 2)])).rejects.toThrow(/UNIQUE constraint failed/);
    await a.write([sample('o', T0 + 10, 2), sample('o', T0 + 20, 3)]); // the state now knows T0 + 10
    expect(rawRows(a, 'dev', 'o')).toEqual([
      [T0, 1],
      [T0 + 10, 5],
      [T0 + 20, 3],
    ]);
  });

  it('bounds the write queue instead of eating memory', async () => {
    const a = await fresh({ batchMs: 60_000, batchRows: 1000, maxPending: 10 });
    const first = a.write(Array.from({ length: 8 }, (_, i) => sample('q', T0 + i, i)));
    await expect(a.write(Array.from({ length: 5 }, (_, i) => sample('q', T0 + 100 + i, i)))).rejects.toThrow(/archive write queue is full \(8 rows waiting, limit 10\)/);
    expect(a.stats()).toMatchObject({ pending: 8, failed: 5, lastError: expect.stringMatching(/queue is full/) });
    await a.flush();
    await first;
    expect(a.stats().lastError).toBeUndefined();
  });

  it('a failing transaction rejects every write in it and nothing of them is stored', async () => {
    const a = await fresh({ batchMs: 50 });
    await a.write([sample('z', T0, 1)]);
    a.database.pragma(`max_page_count = ${a.database.pragma('page_count', { simple: true }) as number}`);
    const writes = Array.from({ length: 5 }, (_, k) => a.write(Array.from({ length: 200 }, (_, i) => sample(`z${k}`, T0 + i, i))));
    const results = await Promise.allSettled(writes);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(a.stats().pending).toBe(0);
    a.database.pragma('max_page_count = 1073741823');
    expect((await a.listSeries()).map((s) => s.name)).toEqual(['z']);
  });
});
