/**
 * The monitor killed (SIGKILL) while it spools, and again in the middle of the replay: the next
 * start picks the spool up, and once PostgreSQL is back every acknowledged sample is stored
 * exactly once. Private cluster (never the machine's server); a child process as the monitor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTAGE_SERIES } from './test-helpers/outage-writer-constants.js';
import { ackedSteps, heldIn, Writer } from './test-helpers/outage-harness.js';
import { PRIVATE_POSTGRES_SKIP_MESSAGE, privatePostgresAvailable, startPrivatePostgres, type PrivatePostgres } from './test-helpers/private-postgres.js';

const available = privatePostgresAvailable();
if (!available) console.warn(PRIVATE_POSTGRES_SKIP_MESSAGE);

describe.skipIf(!available)('archive outage with the monitor killed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-outage-kill-'));
  let cluster: PrivatePostgres | undefined;
  const writers: Writer[] = [];
  afterAll(async () => {
    for (const w of writers) if (!w.exited) await w.kill();
    await cluster?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL while spooling and during the replay: 0 acknowledged samples lost, 0 duplicated', async () => {
    cluster = await startPrivatePostgres();
    const t0 = Date.UTC(2025, 1, 1);
    const spool = path.join(dir, 'archive-spool');

    // Run 1: ingest, the server goes away, the monitor spools and is killed.
    const w1 = new Writer(cluster.url, spool, t0, 0);
    writers.push(w1);
    await w1.until(() => w1.acks.length >= 10 && w1.state === 'ok', 'ingest to run', 60_000);
    await cluster.kill(); // a crash of the server, not a polite shutdown
    await w1.until(() => w1.state === 'degraded' && w1.spooled >= 4000, 'a few seconds of spooling', 60_000);
    await w1.kill();
    expect(fs.statSync(spool).size).toBeGreaterThan(0);

    // Run 2: restarted while the server is still down: it finds the spool and spools on (the
    // database is opened when it answers); then the server is back, the replay runs in small
    // batches, and the monitor is killed in the middle of it.
    const w2 = new Writer(cluster.url, spool, t0, w1.lastAck + 10_000, 400);
    writers.push(w2);
    await w2.until(() => w2.state === 'degraded' && w2.acks.length >= 20, 'spooling after the restart', 60_000);
    await cluster.start();
    const leftover = w2.spooled;
    // New rows keep joining the spool during the replay: progress is the count falling from its peak.
    let peak = leftover;
    await w2.until(() => {
      peak = Math.max(peak, w2.spooled);
      return w2.spooled < peak - 500 || w2.state === 'ok';
    }, 'the replay to progress', 60_000);
    const killedMidReplay = w2.state === 'degraded';
    await w2.kill();

    // Run 3: finishes the replay and ingests on.
    const w3 = new Writer(cluster.url, spool, t0, Math.max(w1.lastAck, w2.lastAck) + 20_000);
    writers.push(w3);
    await w3.until(() => w3.state === 'ok' && w3.spooled === 0 && w3.acks.length >= 10, 'the replay to finish', 90_000);
    await w3.stop();
    expect([...w1.errors, ...w2.errors, ...w3.errors]).toEqual([]);
    expect(w2.reports.some((r) => /^warning archive degraded: \d+ rows left in the spool/.test(r))).toBe(true);

    const acked = ackedSteps([w1, w2, w3]);
    expect(acked.length).toBeGreaterThan(1000);
    const held = await heldIn(cluster.url, t0);
    expect(held.series.size).toBe(OUTAGE_SERIES);
    for (const [, e] of held.series) {
      expect(e.badValues).toBe(0);
      expect(new Set(e.ts).size).toBe(e.rows); // 0 duplicated
      const stored = new Set(e.ts);
      const lost = acked.filter((step) => !stored.has(t0 + step));
      expect(lost).toEqual([]); // 0 acknowledged lost
      // Stored beyond the acknowledged: only writes of a killed run that were in flight at the kill.
      expect(e.rows - acked.length).toBeLessThanOrEqual(400);
    }
    // Log rows: every acknowledged one is stored; a batch replayed again after a kill between its
    // commit and the spool's offset update may store a log row twice (samples are idempotent, log rows are not).
    const logs = new Set(held.logs);
    expect(w1.logAcks.length + w3.logAcks.length).toBeGreaterThan(0);
    expect(logs.size).toBeGreaterThan(0);
    // Whether run 2 was really killed mid-replay (a fast machine may finish first): said, not asserted.
    console.info(`outage-kill: ${acked.length} steps acknowledged, run 2 killed ${killedMidReplay ? 'mid-replay' : 'after its replay'} (${leftover} rows were left), ${held.logs.length - logs.size} log rows twice`);
  }, 240_000);
});
