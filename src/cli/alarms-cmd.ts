/**
 * `labwire alarms …`: the monitor's active alarms as a table, their transitions as they happen,
 * and acknowledging one (docs/alarms.md). The monitor evaluates the alarms; these commands send
 * `alarms` and `ack <id>` to its port and print the replies and the `log … source=alarms` pushes.
 */
import type { Command } from 'commander';
import type { LabwireClient, LogEntry } from '../client/client.js';
import { connectOnce, connectionOptions, type ConnectFlags } from './common.js';

export interface ActiveAlarm {
  id: string;
  state: string;
  severity: string;
  /** Unix ms: when it was raised. */
  since: number;
  acknowledgedBy: string | null;
}

interface AlarmsFlags extends ConnectFlags {
  watch?: boolean;
  json?: boolean;
}

/** `ok alarms n=… ids="a b" states="…" …`: parallel space-separated lists, one word per alarm. */
export function parseAlarmList(r: Record<string, string>): ActiveAlarm[] {
  const words = (key: string): string[] => (r[key] ?? '').split(' ').filter((w) => w !== '');
  const ids = words('ids');
  const states = words('states');
  const severities = words('severities');
  const since = words('since');
  const by = words('acknowledged_by');
  return ids.map((id, i) => ({
    id,
    state: states[i] ?? '?',
    severity: severities[i] ?? '?',
    since: Number(since[i]),
    acknowledgedBy: by[i] === undefined || by[i] === '-' ? null : by[i],
  }));
}

/** ISO 8601 in the local time zone with its offset, e.g. 2025-11-21T12:36:40.000+01:00. */
export function localIso(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}${zone}`;
}

export function formatAlarmTable(alarms: ActiveAlarm[]): string {
  if (alarms.length === 0) return 'no active alarms';
  const rows = [['ID', 'STATE', 'SEVERITY', 'SINCE', 'ACKNOWLEDGED BY'], ...alarms.map((a) => [a.id, a.state, a.severity, localIso(a.since), a.acknowledgedBy ?? '-'])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

function formatAlarmLog(e: LogEntry, json: boolean): string {
  return json ? JSON.stringify({ t: e.t, level: e.level, message: e.message }) : `${localIso(e.t)}  [${e.level}] ${e.message}`;
}

async function activeAlarms(client: LabwireClient): Promise<ActiveAlarm[]> {
  return parseAlarmList(await client.call('alarms'));
}

function printTable(alarms: ActiveAlarm[], json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(alarms)}\n` : `${formatAlarmTable(alarms)}\n`);
}

export function registerAlarmsCommand(program: Command): void {
  const alarms = connectionOptions(
    program
      .command('alarms')
      .description('list the active alarms of a monitor; --watch then prints every alarm transition (docs/alarms.md)')
      .argument('<monitor-address>', 'host:port of the monitor')
      .option('--watch', 'after the table, print every alarm transition as it happens (Ctrl-C to stop)')
      .option('--json', 'the table as a JSON array and each transition as a JSON object'),
  )
    .addHelpText('after', `
Examples:
  labwire alarms 127.0.0.1:7100
  labwire alarms 127.0.0.1:7100 --watch
  labwire alarms ack 127.0.0.1:7100 chiller_deviation`)
    .action(async (address: string, flags: AlarmsFlags) => {
      const json = flags.json === true;
      if (!flags.watch) {
        const client = await connectOnce(address, flags);
        try {
          printTable(await activeAlarms(client), json);
        } finally {
          await client.close();
        }
        return;
      }
      await watchAlarms(address, flags, json);
    });

  connectionOptions(
    alarms
      .command('ack')
      .description('acknowledge a raised alarm (operator role); prints who and when')
      .argument('<monitor-address>', 'host:port of the monitor')
      .argument('<id>', 'the alarm id, as `labwire alarms` lists it'),
  )
    .addHelpText('after', `
Examples:
  labwire alarms ack 127.0.0.1:7100 chiller_deviation
  LABWIRE_TOKEN=… labwire alarms ack 127.0.0.1:7100 chiller_deviation   # acknowledged by the token's name`)
    .action(async (address: string, id: string, _flags: ConnectFlags, cmd: Command) => {
      // The parent `alarms` defines the same flags and takes them wherever they are typed.
      const flags = cmd.optsWithGlobals<ConnectFlags>();
      const client = await connectOnce(address, flags);
      try {
        const r = await client.call('ack', [id]);
        process.stdout.write(`acknowledged ${r.id ?? id} by ${r.by || '?'} at ${localIso(Number(r.at))}\n`);
      } finally {
        await client.close();
      }
    });
}

/**
 * The table, then every alarm transition until Ctrl-C. The subscription is opened before the
 * table is asked for, so no transition falls between the two; lines that arrive before the table
 * are held back and printed after it. After a reconnect the table is printed again, because
 * transitions during the outage were missed.
 */
async function watchAlarms(address: string, flags: AlarmsFlags, json: boolean): Promise<void> {
  const client = await connectOnce(address, flags, true);
  let held: LogEntry[] | null = [];
  client.on('log', (e) => {
    if (e.source !== 'alarms') return;
    if (held) held.push(e);
    else process.stdout.write(`${formatAlarmLog(e, json)}\n`);
  });
  client.on('disconnected', (reason) => process.stderr.write(`labwire: lost ${client.endpoint} (${reason}); reconnecting\n`));
  client.on('connected', () => {
    activeAlarms(client).then(
      (list) => printTable(list, json),
      (err: unknown) => process.stderr.write(`labwire: ${(err as Error).message}\n`),
    );
  });
  const stop = (): void => void client.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // The monitor pushes its log to subscribers only; the updates themselves are not wanted here.
  const updates = client.subscribe()[Symbol.asyncIterator]();
  try {
    printTable(await activeAlarms(client), json);
    for (const e of held) process.stdout.write(`${formatAlarmLog(e, json)}\n`);
    held = null;
    while (!(await updates.next()).done) {
      // drained: only the log pushes matter
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await updates.return?.();
    await client.close();
  }
}
