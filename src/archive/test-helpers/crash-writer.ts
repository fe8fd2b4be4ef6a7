/**
 * Child process of the crash-safety test: writes samples as fast as it is allowed and prints the
 * last timestamp of every acknowledged write (`ack <t>`), until the test kills it with SIGKILL.
 * Usage: crash-writer.ts <db file> <t0>
 */
import { openSqliteArchive } from '../sqlite.js';

const [file, t0Arg] = process.argv.slice(2);
if (file === undefined || t0Arg === undefined) throw new Error('usage: crash-writer.ts <db file> <t0>');
const T0 = Number(t0Arg);
const CRASH_SERIES = 5; // the test knows these two numbers too
const CRASH_STEPS_PER_WRITE = 40;

const archive = await openSqliteArchive(file, { batchMs: 5, batchRows: 400 });
let i = 0;
process.stdout.write('ready\n');

function tick(): void {
  const batch = [];
  for (let k = 0; k < CRASH_STEPS_PER_WRITE; k++, i++) {
    // Every 50th step is a missing reading (the gap must survive too).
    for (let s = 0; s < CRASH_SERIES; s++) batch.push({ device: 'crash', name: `s${s}`, t: T0 + i, value: i % 50 === 49 ? null : i + s / 10 });
  }
  const last = T0 + i - 1;
  archive.write(batch).then(
    () => process.stdout.write(`ack ${last}\n`),
    (e: unknown) => process.stdout.write(`error ${e instanceof Error ? e.message : String(e)}\n`),
  );
  setTimeout(tick, 1);
}
tick();
