/**
 * The lab's spool wiring: the lab-file keys (default path per monitor name, size limit), a
 * PostgreSQL archive put behind the spool, SQLite left alone, early messages kept for the monitor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpoolingArchive } from '../archive/spool.js';
import { FakeArchive } from '../archive/test-helpers/fake-archive.js';
import type { Archive } from '../archive/types.js';
import { parseLabConfig } from '../config/lab.js';
import { silentLogger } from '../util/logger.js';
import { EarlyReports, openLabArchive, withSpool } from './spool.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-lab-spool-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('lab spool', () => {
  it('defaults the spool to <data>/archive-spool-<monitor name> and resolves a given path against the lab file', () => {
    const lab = parseLabConfig('monitor:\n  name: room1\n', path.join(dir, 'lab.yaml'), dir);
    expect(lab.monitor.archive.spool).toBe(path.join(lab.data, 'archive-spool-room1'));
    const given = parseLabConfig('monitor:\n  name: room1\n  archive:\n    spool: spool/here\n    spoolMaxSize: 20GiB\n', path.join(dir, 'lab.yaml'), dir);
    expect(given.monitor.archive.spool).toBe(path.join(dir, 'spool/here'));
    expect(given.monitor.archive.spoolMaxSize).toBe('20GiB');
    expect(() => parseLabConfig('monitor:\n  archive:\n    spoolMaxSize: 10KiB\n', path.join(dir, 'lab.yaml'), dir)).toThrow(/at least 1MiB/);
  });

  it('puts a database archive behind the spool and leaves SQLite alone', async () => {
    const lab = parseLabConfig(`data: ${dir}\nmonitor:\n  name: room2\n  archive:\n    spoolMaxSize: 2MiB\n`, path.join(dir, 'lab.yaml'), dir);
    const reports = new EarlyReports();
    const wrapped = await withSpool(new FakeArchive(), lab, silentLogger(), reports);
    expect(wrapped).toBeInstanceOf(SpoolingArchive);
    expect(fs.existsSync(path.join(dir, 'archive-spool-room2'))).toBe(true);
    await wrapped.close();
    const sqlite = { kind: 'sqlite' } as Archive;
    expect(await withSpool(sqlite, lab, silentLogger(), reports)).toBe(sqlite);
  });

  it('a database down at start is no reason to run without history: rows are spooled from the first one', async () => {
    const lab = parseLabConfig(`data: ${dir}\nmonitor:\n  name: room3\n`, path.join(dir, 'lab.yaml'), dir);
    const reports = new EarlyReports();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    const a = await openLabArchive({ kind: 'postgres', url: 'postgres://labwire@127.0.0.1:9/labwire', origin: 'room3', connectTimeoutMs: 1000 }, lab, silentLogger(), reports);
    try {
      expect(a).toBeInstanceOf(SpoolingArchive);
      await a.write([{ device: 'd', name: 'x', t: 1, value: 1 }]);
      expect(a.stats()).toMatchObject({ state: 'degraded', spooled: 1 });
      await expect(a.listSeries()).rejects.toThrow(/^archive degraded: /);
    } finally {
      await a.close();
    }
  });

  it('keeps messages from before the monitor exists and hands them over', () => {
    const reports = new EarlyReports();
    reports.report('warning', 'early');
    const got: string[] = [];
    reports.attach((level, text) => got.push(`${level} ${text}`));
    reports.report('info', 'late');
    expect(got).toEqual(['warning early', 'info late']);
  });
});
