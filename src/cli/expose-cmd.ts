/**
 * `labwire expose <host:port> <seconds> …`: one exposure (or `--count` frames) on a camera daemon
 * (the Archon's `expose`, issue 12). Thin: it sends `expose`, and with `--wait` follows the
 * completion contract — `state` busy until the frames are written, then idle — collecting each
 * frame's `last_image` on the way; `--output` fetches the files over the same labwire connection
 * (`image path=…`, a binary block). Exit codes: 0 done, 1 the exposure failed (`last_error`) or
 * did not finish in time, 2 anything else (refused, unreachable, the daemon went away).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { LabwireClient } from '../client/index.js';
import { formatCommand, makeCommand, quote } from '../wire/format.js';
import { LabwireError, type WireValue } from '../wire/types.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { CliError, EXIT, connectOnce, connectionOptions, type ConnectFlags } from './common.js';

export const EXPOSURE_TYPES = ['object', 'bias', 'dark', 'flat'] as const;

export interface ExposeFlags extends ConnectFlags {
  count: string;
  type?: string;
  object?: string;
  wait?: boolean;
  timeout?: string;
  output?: string;
}

/** Beyond the exposure time itself: readout, fetch and write of every frame. */
const MARGIN_PER_FRAME_MS = 120_000;

export function registerExposeCommand(program: Command): void {
  connectionOptions(
    program
      .command('expose')
      .description('take an exposure on a camera daemon (Archon); with --wait, wait for the FITS file(s) and print their paths')
      .argument('<address>', 'host:port of the camera daemon')
      .argument('<seconds>', 'exposure time in seconds (0 for a bias)')
      .option('--count <n>', 'frames to take', '1')
      .option('--type <type>', `image type: ${EXPOSURE_TYPES.join(', ')} (default: the daemon's, object)`)
      .option('--object <text>', 'the OBJECT header card')
      .option('--wait', 'wait until the frames are written; print one path per frame, or fail with the daemon\'s last_error')
      .option('--timeout <duration>', 'with --wait: give up after this long (default: count × (seconds + 2 min))')
      .option('--output <file|dir>', 'download the file(s) over the labwire connection (implies --wait); a directory keeps the daemon\'s file names'),
  )
    .addHelpText('after', `
Without --wait it prints the daemon's reply (ok expose phase=exposing …) and returns at once;
\`labwire wait <address> state=idle\` waits later. With --wait it prints the daemon's path of each
frame (with --output, the local path), exit code 0; an exposure that failed prints the daemon's
last_error and exits 1, as does one that has not finished within --timeout; a refusal (IsBusy while
another exposure runs, RangeError) or a lost connection exits 2.

Examples:
  labwire expose 127.0.0.1:7010 10 --type dark --wait
  labwire expose 127.0.0.1:7010 0 --type bias --count 5 --wait --output ./bias/
  labwire expose 127.0.0.1:7010 30 --object M42 --wait --output m42.fits
  labwire expose 127.0.0.1:7010 60 && labwire wait 127.0.0.1:7010 state=idle --timeout 5m`)
    .action((address: string, seconds: string, flags: ExposeFlags) => runExpose(address, seconds, flags));
}

interface ExposeRequest {
  seconds: number;
  count: number;
  line: string;
}

/** Checks the arguments before any connection: a usage error costs no exposure. */
export function exposeRequest(seconds: string, flags: ExposeFlags): ExposeRequest {
  const time = Number(seconds);
  if (seconds.trim() === '' || !Number.isFinite(time) || time < 0) throw new CliError(`exposure time "${seconds}" must be a number of seconds ≥ 0`);
  const count = Number(flags.count);
  if (!Number.isInteger(count) || count < 1) throw new CliError(`--count "${flags.count}" must be a whole number ≥ 1`);
  if (flags.type !== undefined && !(EXPOSURE_TYPES as readonly string[]).includes(flags.type)) {
    throw new CliError(`--type "${flags.type}" must be one of ${EXPOSURE_TYPES.join(', ')}`);
  }
  const kwargs: Record<string, string> = { time: seconds.trim(), count: String(count) };
  if (flags.type !== undefined) kwargs.type = flags.type;
  if (flags.object !== undefined) kwargs.object = flags.object;
  return { seconds: time, count, line: formatCommand(makeCommand('expose', [], kwargs)) };
}

export async function runExpose(address: string, seconds: string, flags: ExposeFlags): Promise<void> {
  const req = exposeRequest(seconds, flags);
  const wait = flags.wait === true || flags.output !== undefined;
  const timeoutMs = flags.timeout !== undefined ? parseDuration(flags.timeout, '--timeout') : req.count * (req.seconds * 1000 + MARGIN_PER_FRAME_MS);
  const output = flags.output === undefined ? undefined : outputTarget(flags.output, req.count);
  const client = await connectOnce(address, flags);
  try {
    if (!wait) {
      process.stdout.write(`${(await client.request(req.line)).line}\n`);
      return;
    }
    const outcome = await exposeAndWait(client, req, timeoutMs);
    if (outcome.kind === 'timeout') {
      process.stderr.write(`labwire: the exposure has not finished within ${formatDuration(timeoutMs)}: ${outcome.message}\n`);
      process.exitCode = EXIT.notMet;
      return;
    }
    if (outcome.kind === 'failed') {
      process.stderr.write(`labwire: the exposure failed: ${outcome.message}\n`);
      for (const p of outcome.images) process.stdout.write(`${p}\n`);
      process.exitCode = EXIT.notMet;
      return;
    }
    if (outcome.images.length === 0) throw new CliError('the daemon went idle without reporting an image (last_image stayed as it was)');
    for (const remote of outcome.images) {
      process.stdout.write(`${output ? await download(client, remote, output, timeoutMs) : remote}\n`);
    }
    if (outcome.images.length < req.count) process.stderr.write(`labwire: ${req.count} frames asked, ${outcome.images.length} reported\n`);
  } finally {
    await client.close();
  }
}

type Outcome = { kind: 'done'; images: string[] } | { kind: 'failed'; message: string; images: string[] } | { kind: 'timeout'; message: string };

/**
 * Subscribes first, so that no frame's `last_image` can slip by between the request and the
 * subscription; then `expose`, then `state` no longer busy; then the final values decide.
 */
async function exposeAndWait(client: LabwireClient, req: ExposeRequest, timeoutMs: number): Promise<Outcome> {
  const seen: string[] = [];
  let before: WireValue | undefined;
  const onUpdate = (u: { values: Record<string, string> }): void => {
    const p = u.values.last_image;
    if (p !== undefined && p !== '' && p !== before && !seen.includes(p)) seen.push(p);
  };
  const updates = client.subscribe(['state', 'last_image', 'last_error'])[Symbol.asyncIterator]();
  client.on('update', onUpdate);
  try {
    before = (await client.status()).values.last_image;
    seen.splice(0, seen.length, ...seen.filter((p) => p !== before));
    await client.request(req.line);
    try {
      // Not `state=idle`: an exposure that failed with its controller unplugged ends in state=error
      // (or warn while a poll fails), and must end the wait with its reason, not run into --timeout.
      await client.waitFor('state!=busy', { timeoutMs });
    } catch (err) {
      if (err instanceof LabwireError && err.code === 'Timeout') return { kind: 'timeout', message: err.message };
      throw err;
    }
    const after = (await client.status()).values;
    const last = after.last_image;
    if (typeof last === 'string' && last !== '' && last !== before && !seen.includes(last)) seen.push(last);
    const error = after.last_error;
    if (typeof error === 'string' && error !== '') return { kind: 'failed', message: error, images: seen };
    if (after.phase !== undefined && after.phase !== 'idle') {
      return { kind: 'failed', message: `the exposure did not finish: ${String(after.state_text ?? after.state)}`, images: seen };
    }
    return { kind: 'done', images: seen };
  } finally {
    client.off('update', onUpdate);
    await updates.return?.();
  }
}

/** Where downloads go: into a directory (an existing one, or a path ending in `/`), else this file. */
function outputTarget(output: string, count: number): { dir: string } | { file: string } {
  const isDir = output.endsWith('/') || output.endsWith(path.sep) || (fs.existsSync(output) && fs.statSync(output).isDirectory());
  if (isDir) {
    fs.mkdirSync(output, { recursive: true });
    return { dir: output };
  }
  if (count > 1) throw new CliError(`--output ${output}: with --count ${count} give a directory (an existing one, or end it with /)`);
  if (!fs.existsSync(path.dirname(path.resolve(output)))) throw new CliError(`--output ${output}: the folder ${path.dirname(path.resolve(output))} does not exist`);
  return { file: output };
}

/** Fetches one file as a binary block and writes it whole (`.part`, then renamed): never a truncated file under the name. */
async function download(client: LabwireClient, remote: string, target: { dir: string } | { file: string }, timeoutMs: number): Promise<string> {
  const reply = await client.request(`image path=${quote(remote)}`, { timeoutMs: Math.max(60_000, timeoutMs) });
  if (!reply.binary) throw new CliError(`image path=${remote}: the daemon answered with a line, not the file: ${reply.line.slice(0, 200)}`);
  const local = 'dir' in target ? path.join(target.dir, path.basename(remote.replace(/\\/g, '/'))) : target.file;
  const part = `${local}.part`;
  try {
    fs.writeFileSync(part, reply.binary);
    fs.renameSync(part, local);
  } catch (err) {
    fs.rmSync(part, { force: true });
    throw new CliError(`cannot write ${local}: ${(err as Error).message}`);
  }
  return local;
}
