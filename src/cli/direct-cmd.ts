/**
 * `labwire direct <type> --link <url> get|set|call|send|watch …`: one instrument of any family in
 * the registry, driven over its link from this process with the daemon's own runner (driver, poll
 * plan, pacing, limits), without a daemon or a listening port. For bench work, commissioning, and
 * a quick check of the wiring. `labwire julabo …` is the same command for the Julabo, which also
 * keeps the actions of the predecessor's `julabo` tool.
 */
import { resolveDevice } from '../daemon/resolved-device.js';
import fs from 'node:fs';
import type { Command } from 'commander';
import { deviceFamilies, getFamily } from '../devices/index.js';
import { createLogger, silentLogger } from '../util/logger.js';
import { parseDuration } from '../util/duration.js';
import { formatOk, formatValue, parseErrorReply } from '../wire/format.js';
import { parseLine } from '../wire/tokenize.js';
import type { StatusDoc, WireValue } from '../wire/types.js';
import { BinaryResult } from '../daemon/api.js';
import { binaryReply } from '../daemon/server.js';
import { VERSION } from '../version.js';
import { formatStatusTable } from './client-cmds.js';
import { CliError, collect, parseLimits, parseOptionPairs, withDetectOptions } from './common.js';
import { resolveLink } from './daemon-cmds.js';
import { DirectDevice } from './direct-device.js';
import { JULABO_TOOL_ACTIONS, runJulaboTool } from './julabo-tool.js';

export const DIRECT_ACTIONS = ['get', 'set', 'call', 'send', 'watch'] as const;

export interface DirectFlags {
  link?: string;
  exclude: string[];
  portCache?: string;
  option: string[];
  limit: string[];
  timeout: string;
  json?: boolean;
  count?: string;
  interval?: string;
  csv?: string;
  logLevel?: string;
  output?: string;
}

/** The options of `direct`, shared with the `julabo` alias. */
export function withDirectOptions(cmd: Command, type: string): Command {
  return withDetectOptions(cmd, type)
    .option('--link <url>', 'tcp://host:port, serial:///dev/ttyUSB0?baud=…, or "auto" to probe serial ports (families that can detect)')
    .option('--option <key=value>', 'device option, repeatable, as for `labwire daemon` (e.g. model=FL1703)', collect, [])
    .option('--limit <name=min:max>', 'site limit, tighter than the hardware\'s, repeatable (e.g. setpoint=5:30)', collect, [])
    .option('--timeout <duration>', 'how long the link and the first reading of the device may take', '10s')
    .option('--json', 'get: the values as a JSON status document; watch: one JSON object per update')
    .option('--count <n>', 'watch: stop after n lines')
    .option('--interval <duration>', 'watch: print the values every interval instead of every change')
    .option('--csv <path>', 'watch: also append the lines to this CSV file')
    .option('--output <file>', 'call: where to write the bytes of a command that answers with a binary block (an image); - for stdout')
    .option('--log-level <level>', 'show the runner\'s log on stderr: trace, debug, info, warn or error (default: nothing)');
}

export function registerDirectCommand(program: Command): void {
  withDirectOptions(program.command('direct'), '<type>')
    .description('drive one instrument over its link from this process, without a daemon: get, set, call, send, watch')
    .argument('<type>', `device type: ${Object.keys(deviceFamilies).join(', ')}`)
    .argument('<action>', `${DIRECT_ACTIONS.join(' | ')} (julabo also: ${JULABO_TOOL_ACTIONS.filter((a) => !(DIRECT_ACTIONS as readonly string[]).includes(a)).join(', ')})`)
    .argument('[args...]', 'get: parameter names; set: name=value pairs; call: the command and its arguments; send: the labwire line; watch: parameter names')
    .addHelpText('after', `
Actions:
  get [param...]             read the device once; print every parameter (or the named ones) with its unit
  set name=value...          check the values against the limits, write them, print the reply (ok set ...)
  call <command> [arg...]    run a device command (positional or name=value arguments), print the reply
  send <line...>             one labwire request (get_status, describe, set, a command ...), answered as a
                             daemon answers it; with julabo: a raw line to the chiller, as the julabo tool did
  watch [param...]           print every change (or, with --interval, the values every interval); Ctrl-C stops

The device runs here with the daemon's driver, poll plan, pacing and limits; nothing listens. A link
that cannot be opened ends the command with exit code 2 and the reason; nothing is retried.

Examples:
  labwire direct cryocon --link tcp://192.168.1.5:5000 get chA.temperature loop1.setpoint
  labwire direct cryocon --link tcp://127.0.0.1:5000 set loop1.setpoint=77 --limit loop1.setpoint=4:320
  labwire direct cryocon --link tcp://127.0.0.1:5000 call clear_alarm A
  labwire direct julabo --link serial:///dev/ttyUSB0 get temperature setpoint
  ARBIN_CTI_USERNAME=… ARBIN_CTI_PASSWORD=… labwire direct arbin --link tcp://cycler:9031 send describe
  labwire direct cryocon --link tcp://127.0.0.1:5000 watch chA.temperature --count 10
  labwire direct julabo --link /dev/ttyUSB0 watch --interval 10s --csv bath.csv`)
    .action((type: string, action: string, args: string[], flags: DirectFlags) => runDirect(type, action, args, flags));
}

/** One `direct` command; also what `labwire julabo` runs. */
export async function runDirect(type: string, action: string, args: string[], flags: DirectFlags): Promise<void> {
  const family = getFamily(type);
  if (type === 'julabo' && (JULABO_TOOL_ACTIONS as readonly string[]).includes(action)) {
    await runJulaboTool(action, args, flags);
    return;
  }
  if (!(DIRECT_ACTIONS as readonly string[]).includes(action)) {
    const extra = type === 'julabo' ? `, ${JULABO_TOOL_ACTIONS.filter((a) => !(DIRECT_ACTIONS as readonly string[]).includes(a)).join(', ')}` : '';
    throw new CliError(`unknown action "${action}": expected one of ${DIRECT_ACTIONS.join(', ')}${extra}`);
  }
  const pairs = action === 'set' ? parsePairs(args, 'set') : {};
  if (action === 'call' && args.length === 0) {
    // Commands may depend on the options (a Cryo-con model, an Arbin channel count).
    const commands = Object.keys(resolveDevice(family.definition, { options: parseOptionPairs(flags.option) }).commands);
    throw new CliError(`call needs a command: one of ${commands.join(', ') || '(none: this device has no commands)'}`);
  }
  if (action === 'send' && args.length === 0) throw new CliError('send needs a labwire line, e.g. send get_status');
  const watch = action === 'watch' ? watchSettings(flags) : undefined;
  if (!flags.link) throw new CliError(`say how to reach the device: --link tcp://host:port or --link serial:///dev/ttyUSB0`);

  const device = await DirectDevice.open({
    definition: family.definition,
    options: parseOptionPairs(flags.option),
    link: await resolveLink(type, flags.link, flags.exclude, flags.portCache),
    siteLimits: parseLimits(flags.limit),
    timeoutMs: parseDuration(flags.timeout, '--timeout'),
    logger: flags.logLevel === undefined ? silentLogger() : createLogger({ level: flags.logLevel }),
    version: VERSION,
  });
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  try {
    switch (action) {
      case 'get': {
        const doc = device.status(args);
        out(flags.json ? JSON.stringify(doc) : formatStatusTable(doc));
        break;
      }
      case 'set':
        out(formatOk('set', await device.set(pairs)));
        break;
      case 'call': {
        const [command, ...rest] = args as [string, ...string[]];
        const positional = rest.filter((a) => !a.includes('='));
        const result = await device.call(command, positional, parsePairs(rest.filter((a) => a.includes('=')), command));
        if (result instanceof BinaryResult) writeBinary(command, result, flags.output, out);
        else out(formatOk(command, result));
        break;
      }
      case 'send': {
        const reply = await device.answer(args.join(' '));
        // A refused request goes to stderr with exit code 2, as with `labwire send`.
        const refused = parseErrorReply(parseLine(reply));
        if (refused) throw refused;
        out(reply);
        break;
      }
      case 'watch':
        await watchDevice(device, args, flags, watch!, out);
        break;
    }
  } finally {
    await device.close();
  }
}

/**
 * A command's bytes go to --output (a file, or stdout for `-`), never to a terminal unasked; the
 * header line (`binary <kind> size=<n> ...`) is printed, on stderr when the bytes take stdout.
 */
function writeBinary(command: string, result: BinaryResult, output: string | undefined, out: (s: string) => void): void {
  const reply = binaryReply(command, result);
  if (typeof reply === 'string') throw parseErrorReply(parseLine(reply)) ?? new CliError(reply);
  if (output === undefined) {
    throw new CliError(`${command} answered with ${result.data.length} bytes (${result.kind}); say where to write them with --output <file> (or --output - for stdout)`);
  }
  if (output === '-') {
    process.stdout.write(result.data);
    process.stderr.write(`${reply.header}\n`);
    return;
  }
  try {
    fs.writeFileSync(output, result.data);
  } catch (err) {
    throw new CliError(`cannot write the ${result.kind} bytes of ${command} to ${output}: ${(err as Error).message}`);
  }
  out(reply.header);
}

/** `name=value` words; the name must not be empty. */
function parsePairs(words: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of words) {
    const i = w.indexOf('=');
    if (i <= 0) throw new CliError(`${what}: "${w}" is not name=value (e.g. setpoint=12.5)`);
    out[w.slice(0, i)] = w.slice(i + 1);
  }
  if (what === 'set' && words.length === 0) throw new CliError('set needs name=value pairs, e.g. set setpoint=12.5');
  return out;
}

interface WatchSettings {
  count: number;
  everyMs: number | undefined;
}

function watchSettings(flags: DirectFlags): WatchSettings {
  const count = flags.count === undefined ? Infinity : Number(flags.count);
  if (!(count > 0) || (count !== Infinity && !Number.isInteger(count))) throw new CliError(`--count "${flags.count}" must be a whole number ≥ 1`);
  const everyMs = flags.interval === undefined ? undefined : parseDuration(flags.interval, '--interval');
  if (everyMs !== undefined && everyMs <= 0) throw new CliError('--interval must be longer than 0');
  return { count, everyMs };
}

function formatLine(t: number, values: Record<string, WireValue>): string {
  return `${new Date(t).toISOString()}  ${Object.entries(values).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ')}`;
}

/** CSV cell: quoted when it holds a comma, a quote or a line break. */
function csvCell(v: WireValue): string {
  const s = formatValue(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Prints changes as they happen (or every interval), until --count lines, Ctrl-C, or a lost link
 * that the device does not come back from within the runner's reconnects (it keeps trying).
 */
async function watchDevice(device: DirectDevice, params: string[], flags: DirectFlags, s: WatchSettings, out: (line: string) => void): Promise<void> {
  const names = Object.keys(device.status(params).values);
  const wanted = new Set(names);
  if (flags.csv && !fs.existsSync(flags.csv)) fs.writeFileSync(flags.csv, `timestamp_utc,${names.join(',')}\n`);
  let printed = 0;
  await new Promise<void>((resolve) => {
    let stop = (): void => undefined;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      stop();
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve();
    };
    const emit = (t: number, values: Record<string, WireValue>): void => {
      if (finished || Object.keys(values).length === 0) return;
      out(flags.json ? JSON.stringify({ t, values }) : formatLine(t, values));
      if (flags.csv) fs.appendFileSync(flags.csv, `${new Date(t).toISOString()},${names.map((n) => (Object.hasOwn(values, n) ? csvCell(values[n]!) : '')).join(',')}\n`);
      if (++printed >= s.count) finish();
    };
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    if (s.everyMs === undefined) {
      emit(Date.now(), reading(device, params));
      if (printed >= s.count) return;
      stop = device.follow((u) => {
        const values: Record<string, WireValue> = {};
        for (const [k, v] of Object.entries(u.changes)) if (wanted.has(k)) values[k] = v;
        emit(u.t, values);
      });
    } else {
      const everyMs = s.everyMs;
      emit(Date.now(), reading(device, params));
      if (printed >= s.count) return;
      const timer = setInterval(() => emit(Date.now(), reading(device, params)), everyMs);
      stop = () => clearInterval(timer);
    }
  });
}

function reading(device: DirectDevice, params: string[]): Record<string, WireValue> {
  const doc: StatusDoc = device.status(params);
  return doc.values;
}
