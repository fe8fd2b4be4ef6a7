/**
 * The spool (spool.ts) against a back-end that fails the way PostgreSQL does (UNAVAILABLE):
 * nothing acknowledged is lost, order is kept, a torn or damaged record is detected by its
 * checksum, the replayed position survives a restart, and the bound is loud.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { encodeRecord, openSpoolingArchive, spoolFs, type SpoolingArchive } from './spool.js';
import { FakeArchive } from './test-helpers/fake-archive.js';
import type { Sample } from './types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-spool-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const spoolPath = (): string => path.join(dir, `s${++n}`, 'archive-spool');

function batch(t0: number, count: number, device = 'd'): Sample[] {
  return Array.from({ length: count }, (_, i) => ({ device, name: 'x', t: t0 + i, value: t0 + i }));
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function ts(samples: Sample[]): number[] {
  return samples.map((s) => s.t);
}

async function open(fake: FakeArchive, p: string, extra: Partial<Parameters<typeof openSpoolingArchive>[1]> = {}): Promise<{ a: SpoolingArchive; reports: string[] }> {
  const reports: string[] = [];
  const a = await openSpoolingArchive(fake, { path: p, probeMinMs: 10, probeMaxMs: 40, report: (level, text) => reports.push(`${level}: ${text}`), ...extra });
  return { a, reports };
}

describe('SpoolingArchive', () => {
  it('spools while the back-end is unavailable and replays everything in order, once, when it returns', async () => {
    const fake = new FakeArchive();
    const p = spoolPath();
    const { a, reports } = await open(fake, p);
    await a.write(batch(0, 10));
    expect(a.stats().state).toBe('ok');
    fake.down = true;
    await a.write(batch(10, 10)); // fails in the back-end, lands in the spool: still resolves
    await a.log({ t: 15, source: 'm', level: 'info', message: 'during the outage' });
    await a.audit({ t: 16, who: 'op', peer: 'p', device: 'd', command: 'set x=1', before: {}, after: {}, result: 'ok' });
    for (let i = 2; i < 10; i++) await a.write(batch(i * 10, 10));
    expect(a.stats()).toMatchObject({ state: 'degraded', spooled: 92 });
    expect(fs.statSync(p).size).toBeGreaterThan(0);
    await expect(a.history('d', 'x', 0, 10, 10)).rejects.toThrow(/^archive degraded: .*92 rows are spooled/);
    expect(reports.filter((r) => r.startsWith('warning'))).toHaveLength(1);
    expect(reports[0]).toMatch(/archive degraded: the database is unavailable/);

    fake.down = false;
    await a.write(batch(100, 5)); // behind the replay
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(a.stats().spooled).toBe(0);
    await a.write(batch(105, 5));
    await a.flush();
    expect(ts(fake.samples)).toEqual(Array.from({ length: 110 }, (_, i) => i));
    expect(fake.logs.map((l) => l.message)).toEqual(['during the outage']);
    expect(fake.audits).toHaveLength(1);
    // The log row came between the samples of t 10..19 and 20..29, as it was written.
    expect(fake.calls.slice(0, 4)).toEqual(['s0', 's10', 'l', 'a']);
    expect(fs.statSync(p).size).toBe(0);
    expect(reports.filter((r) => r.startsWith('info'))).toEqual([expect.stringMatching(/replay complete: 97 rows replayed from the spool \(97 spooled/)]);
    await a.close();
    expect(fake.closed).toBe(true);
  });

  it('keeps order when writes were in flight as the outage began', async () => {
    const fake = new FakeArchive();
    fake.delayMs = 30;
    const { a } = await open(fake, spoolPath());
    const w1 = a.write(batch(0, 3));
    fake.down = true; // w1 fails when its delay is over
    const w2 = a.write(batch(3, 3)); // still 'ok' here: goes to the back-end, fails too
    await w1;
    const w3 = a.write(batch(6, 3)); // degraded: must come after w2, which is still in flight
    await Promise.all([w2, w3]);
    fake.delayMs = 0;
    fake.down = false;
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(ts(fake.samples)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await a.close();
  });

  it('drops a torn last record (crash mid-append) and replays the good ones', async () => {
    const p = spoolPath();
    fs.mkdirSync(path.dirname(p), { recursive: true });
    const good = Buffer.concat([encodeRecord({ k: 's', r: [['d', 'x', 1, 1], ['d', 'x', 2, null]] }), encodeRecord({ k: 'l', e: { t: 3, source: 'm', level: 'info', message: 'm' } })]);
    const torn = encodeRecord({ k: 's', r: [['d', 'x', 4, 4]] }).subarray(0, 15);
    fs.writeFileSync(p, Buffer.concat([good, torn]));
    const fake = new FakeArchive();
    fake.down = true;
    const { a, reports } = await open(fake, p);
    expect(fs.statSync(p).size).toBe(good.length); // cut at the end of the last good record
    expect(a.stats()).toMatchObject({ state: 'degraded', spooled: 3 });
    await until(() => reports.length > 0, 'the warning');
    expect(reports[0]).toMatch(/3 rows left in the spool/);
    await a.write(batch(5, 1));
    fake.down = false;
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(fake.samples).toEqual([
      { device: 'd', name: 'x', t: 1, value: 1 },
      { device: 'd', name: 'x', t: 2, value: null },
      { device: 'd', name: 'x', t: 5, value: 5 },
    ]);
    expect(fake.logs).toHaveLength(1);
    await a.close();
  });

  it('a last record with a wrong checksum is torn too; damage inside is skipped loudly, the rest replayed', async () => {
    const p = spoolPath();
    fs.mkdirSync(path.dirname(p), { recursive: true });
    const r1 = encodeRecord({ k: 's', r: [['d', 'x', 1, 1]] });
    const r2 = Buffer.from(encodeRecord({ k: 's', r: [['d', 'x', 2, 2]] }));
    const r3 = encodeRecord({ k: 's', r: [['d', 'x', 3, 3]] });
    const r4 = Buffer.from(encodeRecord({ k: 's', r: [['d', 'x', 4, 4]] }));
    r2[r2.length - 3] = '7'.charCodeAt(0); // "...,2,2]]}" -> "...,2,7]]}": the checksum no longer matches
    r4[r4.length - 3] = '9'.charCodeAt(0);
    fs.writeFileSync(p, Buffer.concat([r1, r2, r3, r4]));
    const fake = new FakeArchive();
    const { a, reports } = await open(fake, p);
    expect(fs.statSync(p).size).toBe(r1.length + r2.length + r3.length);
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(ts(fake.samples)).toEqual([1, 3]);
    expect(reports.some((r) => /damaged record at byte/.test(r))).toBe(true);
    expect(a.stats().spoolDropped).toBe(1);
    await a.close();
  });

  it('skips a damaged record longer than a read chunk (1 MiB) and replays every good record after it; counts it once', async () => {
    // One write() of ~40,000 samples is one record of > 1 MiB: the search for its end must not stop
    // at the first chunk and jump to the end of the spool (that lost every later record silently).
    const p = spoolPath();
    fs.mkdirSync(path.dirname(p), { recursive: true });
    const big: Array<[string, string, number, number]> = [];
    for (let i = 0; i < 40_000; i++) big.push(['dev', 'temperature', 1000 + i, i]);
    const bad = Buffer.from(encodeRecord({ k: 's', r: big }));
    expect(bad.length).toBeGreaterThan(1 << 20);
    bad[20] = bad[20]! ^ 1; // the checksum no longer matches
    const parts = [encodeRecord({ k: 's', r: [['d', 'x', 1, 1]] }), bad];
    for (let i = 0; i < 3; i++) parts.push(encodeRecord({ k: 's', r: [['d', 'x', 10 + i, i]] }));
    fs.writeFileSync(p, Buffer.concat(parts));
    const fake = new FakeArchive();
    const { a, reports } = await open(fake, p);
    expect(a.stats().spooled).toBe(4);
    expect(a.stats().spoolDropped).toBe(1);
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(ts(fake.samples)).toEqual([1, 10, 11, 12]);
    expect(reports.filter((r) => /damaged record at byte/.test(r))).toHaveLength(1);
    expect(a.stats().spoolDropped).toBe(1);
    await a.close();
  });

  it('counts a long spool at open without keeping its records: a 40 MB spool opens under a 40 MB heap', { timeout: 120_000 }, async () => {
    // After a long outage the spool can be near its 1 GiB limit; counting it must not hold every
    // parsed record (that took ~2.5 bytes of heap per spool byte). A child with a small old space
    // dies (or fails) if the open keeps the records; a damaged record in the middle takes the
    // damage path too.
    const p = spoolPath();
    fs.mkdirSync(path.dirname(p), { recursive: true });
    const fd = fs.openSync(p, 'w');
    let t = 0;
    let total = 0;
    let rows = 0;
    let parts: Buffer[] = [];
    let partBytes = 0;
    let damagedDone = false;
    while (total < 40e6) {
      const r: Array<[string, string, number, number]> = [];
      for (let i = 0; i < 50; i++) r.push(['cryo', `ch${i}`, ++t, i / 7]);
      let b = encodeRecord({ k: 's', r });
      if (!damagedDone && total > 20e6) {
        b = Buffer.from(b);
        b[20] = b[20]! ^ 1;
        damagedDone = true;
      } else {
        rows += 50;
      }
      parts.push(b);
      partBytes += b.length;
      total += b.length;
      if (partBytes > 4e6) {
        fs.writeSync(fd, Buffer.concat(parts));
        parts = [];
        partBytes = 0;
      }
    }
    fs.writeSync(fd, Buffer.concat(parts));
    fs.closeSync(fd);
    const spoolModule = path.join(path.dirname(fileURLToPath(import.meta.url)), 'spool.ts');
    const script = path.join(path.dirname(p), 'open.mts');
    fs.writeFileSync(
      script,
      `import { openSpoolingArchive } from ${JSON.stringify(spoolModule)};
const fail = () => Object.assign(new Error('down'), { code: 'UNAVAILABLE' });
const inner = { kind: 'postgres', write: async () => { throw fail(); }, log: async () => {}, audit: async () => {}, flush: async () => { throw fail(); }, close: async () => {}, stats: () => ({}), configureSeries() {} };
const a = await openSpoolingArchive(inner as never, { path: ${JSON.stringify(p)}, probeMinMs: 1_000_000 });
process.stdout.write(JSON.stringify(a.stats()) + '\\n');
await a.close();
`,
    );
    const child = spawnSync(process.execPath, ['--max-old-space-size=40', '--import', 'tsx', script], { encoding: 'utf8', timeout: 100_000 });
    expect(child.stderr).not.toMatch(/heap out of memory/);
    expect(child.status).toBe(0);
    const stats = JSON.parse(child.stdout.trim()) as { spooled: number; spoolDropped?: number };
    expect(stats.spooled).toBe(rows);
    expect(stats.spoolDropped).toBe(1);
  });

  it('fsyncs the directory after creating the spool (and its directory) and after each rename of the sidecar', async () => {
    // Only the call path is checked here (the real fsync runs too): whether the directory entries
    // survive a power loss cannot be observed from a test.
    const calls: string[] = [];
    const real = spoolFs.fsyncDir.bind(spoolFs);
    const spy = vi.spyOn(spoolFs, 'fsyncDir').mockImplementation((d: string) => {
      calls.push(d);
      real(d);
    });
    try {
      const p = spoolPath(); // its directory does not exist yet
      const fake = new FakeArchive();
      const { a } = await open(fake, p);
      expect(calls).toContain(path.dirname(p)); // the new spool file's entry
      expect(calls).toContain(path.dirname(path.dirname(p))); // the new directory's entry
      const atOpen = calls.length;
      fake.down = true;
      await a.write(batch(0, 5));
      fake.down = false;
      await until(() => a.stats().state === 'ok', 'the replay');
      // The replay renamed the sidecar (after the batch, and when emptied): each followed by a directory fsync.
      expect(fs.existsSync(`${p}.offset`)).toBe(true);
      expect(calls.slice(atOpen).filter((d) => d === path.dirname(p)).length).toBeGreaterThanOrEqual(2);
      await a.close();
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps the spool over a restart and resumes the replay where the committed offset says', async () => {
    const p = spoolPath();
    const fake = new FakeArchive();
    fake.down = true;
    {
      const { a } = await open(fake, p);
      for (let i = 0; i < 10; i++) await a.write(batch(i * 10, 10));
      expect(a.stats().spooled).toBe(100);
      await a.close(); // the spool stays: nothing was replayed
    }
    expect(fs.statSync(p).size).toBeGreaterThan(0);
    // Second run: the back-end takes 3 batches of 20 rows, then fails again.
    const fake2 = new FakeArchive();
    let taken = 0;
    const write = fake2.write.bind(fake2);
    fake2.write = async (s) => {
      if (++taken > 3) fake2.down = true;
      return write(s);
    };
    {
      const { a } = await open(fake2, p, { replayRows: 20 });
      expect(a.stats()).toMatchObject({ state: 'degraded', spooled: 100 });
      await until(() => fake2.down && a.stats().spooled === 40, 'a partial replay');
      await a.close();
    }
    expect(ts(fake2.samples)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    // Third run: the rest, and nothing twice.
    const fake3 = new FakeArchive();
    const { a } = await open(fake3, p);
    expect(a.stats().spooled).toBe(40);
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(ts(fake3.samples)).toEqual(Array.from({ length: 40 }, (_, i) => 60 + i));
    await a.close();
  });

  it('refuses writes loudly beyond the size limit, and takes them again once replayed', async () => {
    const fake = new FakeArchive();
    fake.down = true;
    const { a } = await open(fake, spoolPath(), { maxBytes: 2000 });
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        await a.write(batch(i * 10, 10));
        accepted++;
      } catch (e) {
        refused = e;
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toMatchObject({ code: 'SPOOL_FULL' });
    expect(String(refused)).toMatch(/spool .* is full .*limit 2000.*10 rows rejected/);
    fake.down = false;
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(fake.samples).toHaveLength(accepted * 10);
    await a.write(batch(5000, 10));
    expect(fake.samples).toHaveLength(accepted * 10 + 10);
    await a.close();
  });

  it('passes other errors through and does not spool them', async () => {
    const fake = new FakeArchive();
    fake.failCode = '23505';
    const { a } = await open(fake, spoolPath());
    await expect(a.write(batch(0, 1))).rejects.toMatchObject({ code: '23505' });
    expect(a.stats()).toMatchObject({ state: 'ok', spooled: 0 });
    await a.close();
  });

  it('keeps non-finite numbers and text values through the spool', async () => {
    const fake = new FakeArchive();
    fake.down = true;
    const { a } = await open(fake, spoolPath());
    await a.write([
      { device: 'd', name: 'x', t: 1, value: Number.POSITIVE_INFINITY },
      { device: 'd', name: 'x', t: 2, value: Number.NaN },
      { device: 'd', name: 'y', t: 3, value: 'line\nwith "quotes" ✓' },
    ]);
    fake.down = false;
    await until(() => a.stats().state === 'ok', 'the replay');
    expect(fake.samples.map((s) => s.value)).toEqual([Number.POSITIVE_INFINITY, Number.NaN, 'line\nwith "quotes" ✓']);
    await a.close();
  });
});

describe('SpoolingArchive route decision', () => {
  it('spools a write that fails AUTH (as replay treats AUTH as retryable) and replays it once fixed', async () => {
    const fake = new FakeArchive();
    const { a } = await open(fake, spoolPath());
    fake.failCode = 'AUTH';
    await a.write(batch(0, 5)); // resolves: the rows are in the spool, not lost
    expect(a.stats().state).not.toBe('ok');
    fake.failCode = undefined;
    await until(() => fake.samples.length === 5, 'the replay after the password is fixed');
    expect(ts(fake.samples)).toEqual([0, 1, 2, 3, 4]);
    await a.close();
  });

  it('still rejects a non-retryable error (bad data) instead of spooling it', async () => {
    const fake = new FakeArchive();
    const { a } = await open(fake, spoolPath());
    fake.failCode = '22P02';
    await expect(a.write(batch(0, 1))).rejects.toMatchObject({ code: '22P02' });
    expect(a.stats().state).toBe('ok');
    await a.close();
  });
});
