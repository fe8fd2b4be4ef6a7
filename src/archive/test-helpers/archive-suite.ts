/**
 * The archive conformance suite: every back-end-neutral behaviour of `Archive` (write, filter,
 * rollups, history, retention, CSV, messages, audit, the write queue, the image index), run
 * UNCHANGED against each back-end by its own test file (sqlite.test.ts, postgres.test.ts). A
 * back-end gives how to open a store (new, or again by key) and how to look at its rows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOUR_MS, MINUTE_MS, floorTo } from '../bins.js';
import { ArchiveQueryError, type Archive, type ImageInfo, type Sample } from '../types.js';

export interface SuiteOptions {
  batchMs?: number;
  batchRows?: number;
  maxPending?: number;
}

export type Tier = 'samples' | 'text_samples' | 'rollup_1m' | 'rollup_1h';

export interface RollupRow {
  bin_start_ms: number;
  count: number;
  min: number;
  max: number;
  sum: number;
}

export interface SuiteBackend {
  /** A name for a new, empty store. */
  newKey(): string;
  /**
   * Opens the store `key` (a new one when omitted); batchMs defaults to something short. The
   * back-end closes it after the test, unless `keep` (the test closes it itself).
   */
  open(options?: SuiteOptions, key?: string, keep?: boolean): Promise<Archive>;
  /** Every stored row of an own series, by time ([] when there is no such series), read outside the archive. */
  rawRows(a: Archive, device: string, name: string): Promise<Array<[number, number | string | null]>>;
  /** The rollup rows of an own series, by bin start. */
  rollupRows(a: Archive, device: string, name: string, tier: '1m' | '1h'): Promise<RollupRow[]>;
  /** The oldest time (t_ms or bin_start_ms) left in a table, null when it is empty. */
  minTime(a: Archive, table: Tier): Promise<number | null>;
}

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

export const IT0 = Date.UTC(2026, 11, 3, 17, 0, 0);
/** One image as a camera daemon describes it; `over` changes fields. */
export function image(over: Partial<ImageInfo> = {}): ImageInfo {
  return {
    t: IT0,
    device: 'ccd',
    path: '/data/2026-12-03/archon-20261203-170000-f000001.fits',
    frame: 1,
    exptime: 1.5,
    type: 'dark',
    object: '',
    width: 512,
    height: 512,
    bitpix: 16,
    bytes: 527040,
    min: 980,
    max: 65535,
    mean: 1012.25,
    median: 1003,
    ...over,
  };
}

/** Registers the suite; `name` prefixes every describe. The back-end closes what it opened after each test. */
export function archiveSuite(name: string, backend: SuiteBackend): void {
  describe(`${name}: write and read`, () => {
    it('round-trips numbers, text and missing readings, and keeps them across a reopen', async () => {
      const key = backend.newKey();
      const a = await backend.open({}, key);
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
      expect(a.stats()).toMatchObject({ pending: 0, committed: 6, skipped: 0, failed: 0, batches: 1 });
      expect(a.stats().commit?.count).toBe(1);
      await a.close();

      const b = await backend.open({}, key);
      expect((await b.history('julabo', 'temperature', T0, T0 + 10_000, 100)).points).toHaveLength(4);
      // The filter state comes back from the database: an unchanged text is not stored again.
      await b.write([sample('state', T0 + 5000, 'running', 'julabo'), sample('temperature', T0 + 5000, 22, 'julabo')]);
      expect(await backend.rawRows(b, 'julabo', 'state')).toHaveLength(2);
      expect(await backend.rawRows(b, 'julabo', 'temperature')).toHaveLength(5);
    });

    it('acknowledges a write only after its batch is committed', async () => {
      const key = backend.newKey();
      const a = await backend.open({ batchMs: 300 }, key);
      // Counted through another connection: only committed rows are visible there.
      const count = async (): Promise<number> => (await backend.rawRows(a, 'dev', 'x')).length;
      const p = a.write([sample('x', T0, 1), sample('x', T0 + 1, 2)]);
      const state = settled(p);
      await sleep(100);
      expect(state.done).toBe(false);
      expect(a.stats().pending).toBe(2);
      expect(await count()).toBe(0);
      await p;
      expect(await count()).toBe(2);
      expect(a.stats()).toMatchObject({ pending: 0, committed: 2 });
    });

    it('commits at once when batchRows are queued, and flush() and close() commit the rest', async () => {
      const key = backend.newKey();
      const a = await backend.open({ batchMs: 60_000, batchRows: 100 }, key);
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
      const b = await backend.open({}, key);
      expect(await backend.rawRows(b, 'dev', 'x')).toHaveLength(252);
      await expect(a.write([sample('x', T0 + 3000, 3)])).rejects.toThrow(/archive is closed/);
    });

    it('applies deadband and heartbeat per series', async () => {
      const a = await backend.open();
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
      expect(await backend.rawRows(a, 'dev', 'p')).toEqual([
        [T0, 0],
        [T0 + 3000, 0.6],
        [T0 + 5000, 1.2],
        [T0 + 15_000, 1.3],
        [T0 + 16_000, 0.8],
      ]);
      await a.write(['a', 'a', 'b', 'b', 'b', 'b', 'a'].map((v, i) => sample('s', T0 + i * 2000, v)));
      // on change, plus a heartbeat every 5 s of no change
      expect(await backend.rawRows(a, 'dev', 's')).toEqual([
        [T0, 'a'],
        [T0 + 4000, 'b'],
        [T0 + 10_000, 'b'],
        [T0 + 12_000, 'a'],
      ]);
      expect(a.stats()).toMatchObject({ committed: 9, skipped: 7 });
      expect(() => a.configureSeries('dev', 'p', { deadband: -1 })).toThrow(RangeError);
    });

    it('keeps gaps visible: one null per gap in raw, nulls left out of rollups, null-only bins absent', async () => {
      const a = await backend.open();
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
      const a = await backend.open();
      await a.write([sample('l', T0 + 5000, 5), sample('l', T0 + 5000, 6), sample('l', T0 + 1000, 1), sample('l', T0 + 1000, 9), sample('l', T0 + 6000, 6)]);
      expect(await backend.rawRows(a, 'dev', 'l')).toEqual([
        [T0 + 1000, 1],
        [T0 + 5000, 5],
        [T0 + 6000, 6],
      ]);
      const h = await a.history('dev', 'l', T0, T0 + 59_999, 1);
      expect(h.points).toEqual([{ t: T0, min: 1, max: 6, mean: 4, n: 3 }]);
    });

    it('decides the type by the first value and stores values of the other type sensibly', async () => {
      const a = await backend.open();
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
      expect(await backend.rawRows(a, 'dev', 'n')).toEqual([
        [T0 + 1, 1.5],
        [T0 + 2, 2.5],
        [T0 + 3, null],
        [T0 + 5, 3],
      ]);
      expect(await backend.rawRows(a, 'dev', 't')).toEqual([
        [T0, 'on'],
        [T0 + 1, '42'],
      ]);
      expect(await backend.rawRows(a, 'dev', 'declared')).toEqual([
        [T0, null],
        [T0 + 1, 1],
      ]);
      const types = Object.fromEntries((await a.listSeries()).map((s) => [s.name, s.type]));
      expect(types).toEqual({ n: 'number', t: 'text', declared: 'number' });
    });

    it('rejects bad input with a clear error and queues nothing of it', async () => {
      const a = await backend.open();
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
      const a = await backend.open({ batchMs: 50 });
      const batch = [sample('x', T0, 1)];
      const p = a.write(batch);
      batch[0] = sample('x', T0, 999);
      batch.push(sample('x', T0 + 1, 2));
      await p;
      expect(await backend.rawRows(a, 'dev', 'x')).toEqual([[T0, 1]]);
    });

    it('stores U+0000 and lone surrogates as U+FFFD, and the other rows of the batch with them', async () => {
      // PostgreSQL refuses these in text and jsonb and would reject the whole batch (every
      // caller's rows); both back-ends replace them before queuing (docs/archive.md).
      const a = await backend.open({ batchMs: 50 });
      const results = await Promise.allSettled([
        a.write([sample('good', T0, 1)]),
        a.write([sample('txt', T0, 'a\u0000b'), sample('txt', T0 + 1000, 'x\ud800y'), sample('txt', T0 + 2000, '\udc00z\ud83d\ude00')]),
        a.log({ t: T0, source: 'src\u0000', level: 'info', message: 'm\u0000\udfff' }),
        a.audit({ t: T0, who: 'mqtt:alice', peer: 'p', device: 'chiller', command: 'set', before: { sp: 1 }, after: { sp: 'a\u0000b', ['k\ud800']: ['\ud800', 2] }, result: 'ok' }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
      expect(await backend.rawRows(a, 'dev', 'good')).toEqual([[T0, 1]]);
      const h = await a.history('dev', 'txt', T0, T0 + 10_000, 100);
      expect(h.points).toEqual([
        { t: T0, text: 'a\ufffdb' },
        { t: T0 + 1000, text: 'x\ufffdy' },
        { t: T0 + 2000, text: '\ufffdz\ud83d\ude00' },
      ]);
      expect((await a.messages({})).map((m) => [m.source, m.message])).toEqual([['src\ufffd', 'm\ufffd\ufffd']]);
      const trail = await a.auditTrail({});
      expect(trail.map((e) => e.after)).toEqual([{ sp: 'a\ufffdb', ['k\ufffd']: ['\ufffd', 2] }]);
    });

    it('stores a unit changed by configureSeries, and keeps it across a reopen', async () => {
      const key = backend.newKey();
      const a = await backend.open({}, key);
      a.configureSeries('dev', 'p', { unit: 'K' });
      await a.write([sample('p', T0, 4.2)]);
      a.configureSeries('dev', 'p', { unit: 'mK' });
      await a.close();
      const b = await backend.open({}, key);
      expect((await b.listSeries())[0]).toMatchObject({ name: 'p', unit: 'mK', type: 'number' });
      expect((await b.history('dev', 'p', T0, T0, 1)).unit).toBe('mK');
    });
  });

  describe(`${name}: rollups`, () => {
    it('1-minute and 1-hour rollups equal the aggregates of the raw samples (property)', async () => {
      const a = await backend.open({ batchRows: 64 });
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
          const stored = await backend.rawRows(a, 'dev', name);
          if (stored.length === 0) return; // only nulls: no series
          const raw = stored.filter((r): r is [number, number] => r[1] !== null);
          for (const [tier, w] of [['1m', MINUTE_MS], ['1h', HOUR_MS]] as const) {
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
            const got = await backend.rollupRows(a, 'dev', name, tier);
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

  describe(`${name}: history`, () => {
    const YEAR = 365 * 86_400_000;
    const END = T0 + YEAR;
    let a: Archive;
    let total = 0;

    it('loads a year of sparse data plus a dense last hour', async () => {
      a = await backend.open({ batchRows: 20_000 }, undefined, true);
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

  describe(`${name}: retention`, () => {
    it('deletes each tier by its own age in bounded chunks, and history falls back to the tier that remains', async () => {
      const a = await backend.open({ batchRows: 20_000 }, undefined, true);
      const DAY = 86_400_000;
      const now = T0 + 10 * DAY;
      const s: Sample[] = [];
      for (let t = T0; t < now; t += 20_000) s.push(sample('r', t, 1)); // 43,200 samples: several delete chunks
      for (let d = 0; d < 10; d++) s.push(sample('mode', T0 + d * DAY, d % 2 === 0 ? 'on' : 'off'));
      await a.write(s);
      for (let d = 0; d < 10; d++) await a.log({ t: T0 + d * DAY, source: 'test', level: 'info', message: `day ${d}` });
      await a.audit({ t: T0, who: 'w', peer: 'p', device: 'dev', command: 'set x 1', before: { x: 0 }, after: { x: 1 }, result: 'ok' });
      await a.applyRetention({ rawMs: 2 * DAY, minuteMs: 5 * DAY, logMs: 3 * DAY, textMs: 4 * DAY }, now);
      const min = (table: Tier): Promise<number | null> => backend.minTime(a, table);
      expect(await min('samples')).toBe(now - 2 * DAY);
      expect(await min('text_samples')).toBe(now - 4 * DAY);
      expect(await min('rollup_1m')).toBe(now - 5 * DAY);
      expect(await min('rollup_1h')).toBe(T0);
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

  describe(`${name}: CSV export`, () => {
    it('streams any range in pages, with a header, ISO and ms times, and quoted text', async () => {
      const a = await backend.open({ batchRows: 30_000 });
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

  describe(`${name}: messages and audit`, () => {
    it('filters the message log by time, source and level, newest first', async () => {
      const a = await backend.open();
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
      const a = await backend.open();
      await a.audit({ t: T0, who: 'alice', peer: '127.0.0.1:5000', device: 'julabo', command: 'set setpoint 20', before: { setpoint: 15 }, after: { setpoint: 20 }, result: 'ok' });
      await a.audit({ t: T0 + 1000, who: 'bob', peer: '10.0.0.2:6000', device: 'cryocon', command: 'set loop1.setpt 4', before: {}, after: {}, result: 'error OutOfRange' });
      expect(await a.auditTrail({ device: 'julabo' })).toEqual([
        { t: T0, who: 'alice', peer: '127.0.0.1:5000', device: 'julabo', command: 'set setpoint 20', before: { setpoint: 15 }, after: { setpoint: 20 }, result: 'ok' },
      ]);
      expect((await a.auditTrail({})).map((e) => e.who)).toEqual(['bob', 'alice']);
      expect(await a.auditTrail({ from: T0 + 1, limit: 5 })).toHaveLength(1);
    });
  });

  describe(`${name}: write queue`, () => {
    it('bounds the write queue instead of eating memory', async () => {
      const a = await backend.open({ batchMs: 60_000, batchRows: 1000, maxPending: 10 });
      const first = a.write(Array.from({ length: 8 }, (_, i) => sample('q', T0 + i, i)));
      await expect(a.write(Array.from({ length: 5 }, (_, i) => sample('q', T0 + 100 + i, i)))).rejects.toThrow(/archive write queue is full \(8 rows waiting, limit 10\)/);
      expect(a.stats()).toMatchObject({ pending: 8, failed: 5, lastError: expect.stringMatching(/queue is full/) });
      await a.flush();
      await first;
      expect(a.stats().lastError).toBeUndefined();
    });

  });
  describe(`${name}: image index`, () => {
    it('adds an image and gives it back by id and in the list, every field as given', async () => {
      const a = await backend.open();
      const { image: rec, added } = await a.addImage!(image());
      expect(added).toBe(true);
      expect(rec).toEqual({ ...image(), id: rec.id });
      expect(await a.getImage!(rec.id)).toEqual(rec);
      expect(await a.listImages!({})).toEqual([rec]);
      expect(await a.getImage!(rec.id + 100)).toBeUndefined();
    });

    it('keeps one row per (device, path): a second add returns the first record, unchanged', async () => {
      const a = await backend.open();
      const first = await a.addImage!(image());
      const again = await a.addImage!(image({ exptime: 99 }));
      expect(again.added).toBe(false);
      expect(again.image).toEqual(first.image);
      // The same path from another device is another image.
      const other = await a.addImage!(image({ device: 'ccd2' }));
      expect(other.added).toBe(true);
      expect(other.image.id).not.toBe(first.image.id);
      expect(await a.listImages!({})).toHaveLength(2);
    });

    it('lists newest exposure first, by device, by time range, at most limit', async () => {
      const a = await backend.open();
      for (let i = 0; i < 10; i++) await a.addImage!(image({ t: IT0 + i * 1000, frame: i, path: `/d/f${i}.fits`, device: i % 2 === 0 ? 'ccd' : 'guider' }));
      const all = await a.listImages!({});
      expect(all.map((r) => r.frame)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      expect((await a.listImages!({ device: 'guider' })).map((r) => r.frame)).toEqual([9, 7, 5, 3, 1]);
      expect((await a.listImages!({ from: IT0 + 2000, to: IT0 + 4000 })).map((r) => r.frame)).toEqual([4, 3, 2]);
      expect((await a.listImages!({ limit: 3 })).map((r) => r.frame)).toEqual([9, 8, 7]);
      expect(await a.listImages!({ device: 'nobody' })).toEqual([]);
    });

    it('stores missing numbers as null and reads them back as null', async () => {
      const a = await backend.open();
      const info = image({ frame: null, exptime: null, bytes: null, min: null, max: null, mean: null, median: null, type: '', object: 'M42 "core"' });
      const { image: rec } = await a.addImage!(info);
      expect(await a.getImage!(rec.id)).toEqual({ ...info, id: rec.id });
    });

    it('refuses entries it cannot hold and bad queries, with the reason', async () => {
      const a = await backend.open();
      await expect(a.addImage!(image({ path: '' }))).rejects.toThrow(/path must be a non-empty string/);
      await expect(a.addImage!(image({ device: '' }))).rejects.toThrow(ArchiveQueryError);
      await expect(a.addImage!(image({ width: 0 }))).rejects.toThrow(/width must be an integer above 0/);
      await expect(a.addImage!(image({ mean: Number.NaN }))).rejects.toThrow(/mean must be a number or null/);
      await expect(a.addImage!(image({ t: Number.POSITIVE_INFINITY }))).rejects.toThrow(/t must be unix milliseconds/);
      await expect(a.listImages!({ limit: 0 })).rejects.toThrow(/limit must be an integer/);
      await expect(a.listImages!({ from: 10, to: 5 })).rejects.toThrow(ArchiveQueryError);
      await expect(a.getImage!(1.5)).rejects.toThrow(/integer/);
      expect(await a.listImages!({})).toEqual([]);
    });

    it('retention removes index rows older than imagesMs and keeps the rest; without it, keeps all', async () => {
      const a = await backend.open();
      const DAY = 86_400_000;
      for (let i = 0; i < 5; i++) await a.addImage!(image({ t: IT0 - i * DAY, path: `/d/${i}.fits`, frame: i }));
      await a.applyRetention({ rawMs: DAY }, IT0);
      expect(await a.listImages!({})).toHaveLength(5);
      await a.applyRetention({ imagesMs: 2.5 * DAY }, IT0);
      expect((await a.listImages!({})).map((r) => r.frame)).toEqual([0, 1, 2]);
      await expect(a.applyRetention({ imagesMs: -1 })).rejects.toThrow(/imagesMs must be a duration/);
    });

    it('never gives an id twice, even after retention emptied the index', async () => {
      const a = await backend.open();
      const first = (await a.addImage!(image({ t: IT0 - 10 * 86_400_000, path: '/d/old.fits' }))).image;
      await a.applyRetention({ imagesMs: 86_400_000 }, IT0);
      expect(await a.listImages!({})).toEqual([]);
      const next = (await a.addImage!(image({ path: '/d/new.fits' }))).image;
      expect(next.id).toBeGreaterThan(first.id);
    });


  });
}
