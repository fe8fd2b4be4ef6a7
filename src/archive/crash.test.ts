/**
 * Crash safety (issue 3, "Faults and bad input"): a process writing to the archive is killed with
 * SIGKILL in the middle of ingest; the archive must then open cleanly and hold every sample whose
 * write() had been acknowledged.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteArchive } from './sqlite.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const SERIES = 5;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-archive-crash-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the writer until it has acknowledged `acks` writes, kills it, returns the last acknowledged t. */
function runAndKill(file: string, t0: number, acks: number): Promise<{ lastAck: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(HERE, 'test-helpers/crash-writer.ts'), file, String(t0)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lastAck = -1;
    let seen = 0;
    let buf = '';
    let stderr = '';
    const errors: string[] = [];
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('ack ')) {
          lastAck = Math.max(lastAck, Number(line.slice(4)));
          if (++seen === acks) child.kill('SIGKILL');
        } else if (line.startsWith('error ')) errors.push(line);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}/${signal} before the kill: ${stderr}`));
      else resolve({ lastAck, errors });
    });
  });
}

describe('archive crash safety', () => {
  it('after SIGKILL mid-ingest the archive opens cleanly and holds every acknowledged sample', async () => {
    const file = path.join(dir, 'crash.sqlite');
    const t0 = Date.UTC(2024, 5, 1);
    const { lastAck, errors } = await runAndKill(file, t0, 60);
    expect(errors).toEqual([]);
    expect(lastAck).toBeGreaterThan(t0);
    // The WAL is left behind by the kill: that is the state to recover from.
    expect(fs.existsSync(`${file}-wal`)).toBe(true);

    const archive = await openSqliteArchive(file);
    try {
      const db = archive.database;
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const steps = lastAck - t0 + 1;
      for (let s = 0; s < SERIES; s++) {
        const id = db.prepare('SELECT id FROM series WHERE device = ? AND name = ?').pluck().get('crash', `s${s}`) as number;
        const rows = db.prepare('SELECT t_ms, value FROM samples WHERE series_id = ? AND t_ms <= ? ORDER BY t_ms').raw().all(id, lastAck) as Array<[number, number | null]>;
        expect(rows.length).toBe(steps);
        for (const [t, v] of rows) {
          const i = t - t0;
          expect(v).toBe(i % 50 === 49 ? null : i + s / 10);
        }
        // Rollups were committed with the raw rows: they agree with everything that was stored.
        const raw = db.prepare('SELECT count(value), total(value) FROM samples WHERE series_id = ?').raw().get(id) as [number, number];
        const m1 = db.prepare('SELECT total(count), total(sum) FROM rollup_1m WHERE series_id = ?').raw().get(id) as [number, number];
        const h1 = db.prepare('SELECT total(count), total(sum) FROM rollup_1h WHERE series_id = ?').raw().get(id) as [number, number];
        expect(m1[0]).toBe(raw[0]);
        expect(h1[0]).toBe(raw[0]);
        expect(m1[1]).toBeCloseTo(raw[1], 3);
        expect(h1[1]).toBeCloseTo(raw[1], 3);
      }
      // And it keeps working: the writer's series continue where the database left off.
      const last = db.prepare('SELECT max(t_ms) FROM samples').pluck().get() as number;
      await archive.write([{ device: 'crash', name: 's0', t: last + 1, value: 1 }]);
      expect((await archive.history('crash', 's0', last + 1, last + 1, 10)).points).toEqual([{ t: last + 1, v: 1 }]);
    } finally {
      await archive.close();
    }
    // A clean close checkpoints and removes the WAL; a read-only connection then agrees.
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    const check = new Database(file, { readonly: true });
    expect(check.pragma('quick_check', { simple: true })).toBe('ok');
    check.close();
  });
});
