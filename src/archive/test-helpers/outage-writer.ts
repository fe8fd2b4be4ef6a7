/**
 * Child process of the outage tests: a monitor-like ingest into a PostgreSQL archive behind the
 * spool. Every 20 ms it writes one step per series for STEPS_PER_WRITE steps (t = t0 + step ms)
 * and, every LOG_EVERY writes, one log row. It prints one line per event on stdout:
 *   ready | ack <first step> <last step> | logack <n> | state <ok|degraded> <spooled> | error <text> | done
 * "stop" on stdin ends the ingest: it flushes, waits for the spool to drain (bounded), closes and
 * prints `done`. Usage: outage-writer.ts <url> <spool file> <t0> <first step> [replayRows]
 */
import { openPostgresArchive } from '../postgres.js';
import { DeferredArchive } from '../deferred.js';
import { isUnavailable, openSpoolingArchive } from '../spool.js';
import type { Archive } from '../types.js';
import { OUTAGE_SERIES } from './outage-writer-constants.js';

const STEPS_PER_WRITE = 10;
const LOG_EVERY = 10;

const [url, spoolPath, t0Arg, firstArg, replayRowsArg] = process.argv.slice(2);
if (url === undefined || spoolPath === undefined || t0Arg === undefined || firstArg === undefined) {
  throw new Error('usage: outage-writer.ts <url> <spool file> <t0> <first step> [replayRows]');
}
const T0 = Number(t0Arg);
let step = Number(firstArg);
const out = (line: string): void => void process.stdout.write(`${line}\n`);

// As the lab does (src/lab/spool.ts): a server that is down at start is opened when it answers.
const open = (): Promise<Archive> => openPostgresArchive({ url, origin: 'outage', batchMs: 20, connectTimeoutMs: 2000 });
let pgArchive: Archive;
try {
  pgArchive = await open();
} catch (e) {
  if (!isUnavailable(e)) throw e;
  out('deferred');
  pgArchive = new DeferredArchive('postgres', open, e);
}
const archive = await openSpoolingArchive(pgArchive, {
  path: spoolPath,
  probeMinMs: 100,
  probeMaxMs: 1000,
  ...(replayRowsArg === undefined ? {} : { replayRows: Number(replayRowsArg) }),
  report: (level, text) => out(`report ${level} ${text.replace(/\n/g, ' ')}`),
});
out('ready');

let writes = 0;
let stopping = false;
let lastState = '';
const inFlight = new Set<Promise<void>>();

function tick(): void {
  if (stopping) return;
  const first = step;
  const batch = [];
  for (let k = 0; k < STEPS_PER_WRITE; k++, step++) {
    for (let s = 0; s < OUTAGE_SERIES; s++) batch.push({ device: 'outage', name: `s${s}`, t: T0 + step, value: step + s / 10 });
  }
  const last = step - 1;
  const p = archive.write(batch).then(
    () => out(`ack ${first} ${last}`),
    (e: unknown) => out(`error ${e instanceof Error ? e.message : String(e)}`),
  );
  inFlight.add(p);
  void p.finally(() => inFlight.delete(p));
  if (++writes % LOG_EVERY === 0) {
    const n = writes / LOG_EVERY;
    const q = archive.log({ t: T0 + last, source: 'outage', level: 'info', message: `log ${n} at ${last}` }).then(
      () => out(`logack ${n}`),
      (e: unknown) => out(`error log ${e instanceof Error ? e.message : String(e)}`),
    );
    inFlight.add(q);
    void q.finally(() => inFlight.delete(q));
  }
  const st = archive.stats();
  const state = `${st.state} ${st.spooled}`;
  if (st.state === 'degraded' || state !== lastState || writes % 25 === 0) {
    lastState = state;
    out(`state ${state}`);
  }
  setTimeout(tick, 20);
}
tick();

process.stdin.setEncoding('utf8');
process.stdin.on('data', (d: string) => {
  if (!d.includes('stop') || stopping) return;
  stopping = true;
  void (async () => {
    await Promise.all([...inFlight]);
    await archive.flush();
    const drained = await archive.drained(60_000);
    const st = archive.stats();
    out(`state ${st.state} ${st.spooled}`);
    if (!drained) out('error the spool did not drain');
    await archive.close();
    out('done');
    process.exit(0);
  })();
});
