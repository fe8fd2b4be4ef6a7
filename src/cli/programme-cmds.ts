/**
 * `labwire programme …`: load a setpoint programme from a CSV or YAML file into a daemon, start,
 * pause and stop it, and show where it is (docs/programmes.md). The daemon does all the work;
 * these commands only read the file, send the programme_* requests and print the replies.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { LabwireClient } from '../client/client.js';
import { parseDecimal } from '../wire/format.js';
import { CliError, connectOnce, connectionOptions, type ConnectFlags } from './common.js';

type Format = 'csv' | 'yaml';

/** States after which a programme does not move by itself any more. */
const AT_REST = new Set(['none', 'finished', 'stopped']);
const WATCH_INTERVAL_MS = 1000;

interface LoadFlags extends ConnectFlags {
  param: string;
  loops?: string;
  minStep?: string;
  format?: string;
}

interface StatusFlags extends ConnectFlags {
  json?: boolean;
  watch?: boolean;
}

/** The format named by --format, else by the file's extension. */
export function programmeFormat(file: string, given: string | undefined): Format {
  if (given !== undefined) {
    const f = given.toLowerCase();
    if (f === 'csv' || f === 'yaml') return f;
    throw new CliError(`--format "${given}" is not csv or yaml`);
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  throw new CliError(`cannot tell the format of ${file} from its extension; name it .csv, .yaml or .yml, or give --format csv|yaml`);
}

function numberFlag(text: string | undefined, flag: string, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const v = parseDecimal(text);
  if (v === undefined || (integer && !Number.isInteger(v))) throw new CliError(`${flag} "${text}" is not ${integer ? 'a whole number' : 'a number'}`);
  return v;
}

function plural(n: string | undefined, word: string): string {
  return `${n ?? '?'} ${word}${n === '1' ? '' : 's'}`;
}

/**
 * Seconds of programme clock as people read them: `45 s`, `12:30`, `1:05:00`. Programmes are
 * written in minutes, so minutes and seconds read better than a decimal of one unit.
 */
export function clockDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Number(seconds.toFixed(1))} s`;
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** `ok programme_load …` as one sentence. */
export function formatLoadSummary(file: string, r: Record<string, string>): string {
  const duration = r.duration_s !== undefined ? clockDuration(Number(r.duration_s)) : '?';
  const holds = r.holds !== undefined && r.holds !== '0' ? ', plus the holds' : '';
  return `loaded ${path.basename(file)} for ${r.param ?? '?'}: ${plural(r.points, 'point')}, ${plural(r.holds, 'hold')}, ${plural(r.loops, 'loop')}, ${duration} in all${holds}; state ${r.state ?? '?'}`;
}

/** programme_status's key/values typed for JSON: numbers as numbers, `nan` as null. */
export function statusJson(r: Record<string, string>): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const [k, v] of Object.entries(r)) {
    if (v.toLowerCase() === 'nan') out[k] = null;
    else out[k] = k === 'state' || k === 'param' || k === 'phase' ? v : (parseDecimal(v) ?? v);
  }
  return out;
}

/** programme_status as an aligned block; `unit` is the driven parameter's, when known. */
export function formatProgrammeStatus(r: Record<string, string>, unit = ''): string {
  if (r.state === undefined || r.state === 'none') return 'state     none (no programme loaded)';
  const u = unit ? ` ${unit}` : '';
  const value = (v: string | undefined): string => {
    if (v === undefined || v.toLowerCase() === 'nan') return '-';
    // The applied value is sent at full precision; four decimals are plenty to read.
    const n = parseDecimal(v);
    return `${n === undefined ? v : Number(n.toFixed(4))}${u}`;
  };
  const rows: Array<[string, string]> = [
    ['state', r.state],
    ['param', r.param ?? '?'],
    ['progress', `${r.progress ?? '?'} %`],
    ['elapsed', `${clockDuration(Number(r.elapsed_s))} of ${clockDuration(Number(r.total_s))}`],
    ['cycle', `${r.cycle ?? '?'}/${r.loops ?? '?'}`],
    ['target', value(r.target)],
    ['applied', value(r.applied)],
    ['phase', r.line !== undefined && r.line !== 'nan' ? `${r.phase ?? '?'} (line ${r.line})` : (r.phase ?? '?')],
  ];
  if (r.next === 'end') rows.push(['next', 'end']);
  else if (r.next === 'hold') rows.push(['next', 'hold until stable']);
  else if (r.next !== undefined) rows.push(['next', `${value(r.next)} in ${clockDuration(Number(r.next_in_s))}`]);
  return rows.map(([k, v]) => `${k.padEnd(9)} ${v}`).join('\n');
}

/** The unit of the driven parameter from `describe`; none when the daemon does not say. */
async function unitOf(client: LabwireClient, param: string | undefined): Promise<string> {
  if (param === undefined) return '';
  try {
    return (await client.describe()).params[param]?.unit ?? '';
  } catch {
    // The unit only decorates the block; a peer without describe still gets its status shown.
    return '';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function registerProgrammeCommands(program: Command): void {
  const group = program
    .command('programme')
    .description('load, start, pause, stop and follow a setpoint programme in a daemon (docs/programmes.md)')
    .addHelpText('after', `
Examples:
  labwire programme load 127.0.0.1:7001 cycle.csv --param setpoint --loops 3
  labwire programme start 127.0.0.1:7001
  labwire programme status 127.0.0.1:7001 --watch
  labwire programme pause 127.0.0.1:7001
  labwire programme stop 127.0.0.1:7001`);

  connectionOptions(
    group
      .command('load')
      .description('load a programme from a CSV (elapsed_minutes,value) or YAML file; it starts with `programme start`')
      .argument('<address>', 'host:port of the daemon')
      .argument('<file>', 'the programme: .csv, .yaml or .yml')
      .requiredOption('--param <name>', 'the writable parameter to drive, e.g. setpoint')
      .option('--loops <n>', 'run it n times (overrides a YAML file\'s loop)')
      .option('--min-step <x>', 'apply a new value only when it differs by more than x')
      .option('--format <format>', 'csv or yaml (default: from the file\'s extension)'),
  )
    .addHelpText('after', `
Examples:
  labwire programme load 127.0.0.1:7001 ramp_up.csv --param setpoint
  labwire programme load 127.0.0.1:7001 cooldown.yaml --param setpoint --min-step 0.05
  labwire programme load 127.0.0.1:7001 profile.txt --param setpoint --format csv --loops 3`)
    .action(async (address: string, file: string, flags: LoadFlags) => {
      const format = programmeFormat(file, flags.format);
      const loops = numberFlag(flags.loops, '--loops', true);
      const minStep = numberFlag(flags.minStep, '--min-step', false);
      let data: string;
      try {
        data = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read programme file ${file}: ${(err as Error).message}`);
      }
      const client = await connectOnce(address, flags);
      try {
        // call() quotes the data for the wire ($'…' with \n for the newlines).
        const reply = await client.call('programme_load', {
          param: flags.param,
          name: path.basename(file),
          format,
          data,
          ...(loops !== undefined ? { loop: loops } : {}),
          ...(minStep !== undefined ? { min_step: minStep } : {}),
        });
        process.stdout.write(`${formatLoadSummary(file, reply)}\n`);
      } finally {
        await client.close();
      }
    });

  for (const [verb, what] of [
    ['start', 'start the loaded programme from the beginning, or resume a paused one'],
    ['pause', 'freeze the programme clock; the parameter stays where it is'],
    ['stop', 'end the programme; the parameter keeps its last applied value'],
  ] as const) {
    connectionOptions(group.command(verb).description(what).argument('<address>', 'host:port of the daemon'))
      .addHelpText('after', `
Examples:
  labwire programme ${verb} 127.0.0.1:7001
  LABWIRE_TOKEN=… labwire programme ${verb} 192.168.1.20:7001 --tls --ca lab-ca.pem`)
      .action(async (address: string, flags: ConnectFlags) => {
        const client = await connectOnce(address, flags);
        try {
          const reply = await client.call(`programme_${verb}`);
          process.stdout.write(`programme ${reply.state ?? '?'}\n`);
        } finally {
          await client.close();
        }
      });
  }

  connectionOptions(
    group
      .command('status')
      .description('where the programme is: state, progress, cycle, target, next step')
      .argument('<address>', 'host:port of the daemon')
      .option('--json', 'print the status as JSON (one object per line with --watch)')
      .option('--watch', 'print it again every second until the programme is finished or stopped (Ctrl-C to stop)'),
  )
    .addHelpText('after', `
Examples:
  labwire programme status 127.0.0.1:7001
  labwire programme status 127.0.0.1:7001 --watch
  labwire programme status 127.0.0.1:7001 --json | jq .progress`)
    .action(async (address: string, flags: StatusFlags) => {
      const client = await connectOnce(address, flags);
      let stopped = false;
      const stop = (): void => {
        stopped = true;
      };
      // Ctrl-C ends a watch after the block being printed rather than in the middle of it.
      if (flags.watch) {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }
      try {
        let unit: string | undefined;
        for (let first = true; ; first = false) {
          const r = await client.call('programme_status');
          if (flags.json) process.stdout.write(`${JSON.stringify(statusJson(r))}\n`);
          else {
            unit ??= await unitOf(client, r.param);
            process.stdout.write(`${first ? '' : '\n'}${formatProgrammeStatus(r, unit)}\n`);
          }
          if (!flags.watch || stopped || AT_REST.has(r.state ?? 'none')) break;
          await sleep(WATCH_INTERVAL_MS);
          if (stopped) break;
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await client.close();
      }
    });
}
