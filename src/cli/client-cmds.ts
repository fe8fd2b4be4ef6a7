/**
 * Client commands: `send`, `status`, `wait`, `watch` — for people at a terminal and for shell
 * scripts (exit 0 done, 1 condition not met in time, 2 error).
 */
import type { Command } from 'commander';
import { LabwireError, type StatusDoc } from '../wire/types.js';
import { parseCondition } from '../client/condition.js';
import { unknownConditionNames } from '../client/condition-names.js';
import { parseDuration, formatDuration } from '../util/duration.js';
import { CliError, EXIT, connectOnce, connectionOptions, type ConnectFlags } from './common.js';

export function formatStatusTable(doc: StatusDoc): string {
  const rows = Object.entries(doc.values).map(([k, v]) => [k, v === null ? 'nan' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v), doc.units[k] ?? '']);
  const w = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([k, v, u]) => `${k!.padEnd(w)}  ${v}${u ? ` ${u}` : ''}`).join('\n');
}

export function registerClientCommands(program: Command): void {
  connectionOptions(
    program
      .command('send')
      .description('send one labwire line to a daemon or monitor and print the reply')
      .argument('<address>', 'host:port of the daemon')
      .argument('<line...>', 'the request; words are joined with spaces'),
  )
    .addHelpText('after', `
Examples:
  labwire send 127.0.0.1:7001 get_id
  labwire send 127.0.0.1:7001 set setpoint=12.5
  labwire send 127.0.0.1:7001 'set name="two words"'`)
    .action(async (address: string, words: string[], flags: ConnectFlags) => {
      const client = await connectOnce(address, flags);
      try {
        const reply = await client.request(words.join(' '));
        process.stdout.write(`${reply.line}\n`);
      } finally {
        await client.close();
      }
    });

  connectionOptions(
    program
      .command('status')
      .description('print the status of a daemon: every parameter with its unit')
      .argument('<address>', 'host:port of the daemon')
      .option('--json', 'print the status document as JSON'),
  )
    .addHelpText('after', `
Examples:
  labwire status 127.0.0.1:7001
  labwire status 127.0.0.1:7001 --json | jq .values.temperature`)
    .action(async (address: string, flags: ConnectFlags & { json?: boolean }) => {
      const client = await connectOnce(address, flags);
      try {
        const doc = await client.status();
        process.stdout.write(flags.json ? `${JSON.stringify(doc)}\n` : `${formatStatusTable(doc)}\n`);
      } finally {
        await client.close();
      }
    });

  connectionOptions(
    program
      .command('wait')
      .description('wait until a condition holds (for --stable long); exit 0 when met, 1 on timeout, 2 on error')
      .argument('<address>', 'host:port of the daemon')
      .argument('<condition>', 'e.g. "temperature<15", "state=idle", "temperature>=9.5 and temperature<=10.5"')
      .option('--stable <duration>', 'the condition must hold continuously this long', '0s')
      .option('--timeout <duration>', 'give up after this long', '30m')
      .option('--quiet', 'print nothing when the condition is met'),
  )
    .addHelpText('after', `
Examples:
  labwire wait 127.0.0.1:7001 'temperature<15' --stable 60s --timeout 30m && echo cold
  labwire wait 127.0.0.1:7001 state=idle --timeout 10m`)
    .action(async (address: string, condition: string, flags: ConnectFlags & { stable: string; timeout: string; quiet?: boolean }) => {
      const parsed = parseCondition(condition); // a malformed condition is a usage error before any connection
      const stableForMs = parseDuration(flags.stable, '--stable');
      const timeoutMs = parseDuration(flags.timeout, '--timeout');
      const client = await connectOnce(address, flags, true, Math.min(10_000, timeoutMs));
      try {
        // A misspelt name never comes true: say so at once (exit 2) instead of waiting out --timeout.
        const unknown = await unknownConditionNames(client, parsed).catch(() => []);
        if (unknown.length > 0) throw new CliError(`${unknown.join('; ')} (condition ${condition})`);
        const values = await client.waitFor(condition, { timeoutMs, stableForMs });
        if (!flags.quiet) {
          const stable = stableForMs > 0 ? ` for ${formatDuration(stableForMs)}` : '';
          process.stdout.write(`met${stable}: ${condition} (${summarize(values, condition)})\n`);
        }
      } catch (err) {
        if (err instanceof LabwireError && err.code === 'Timeout') {
          process.stderr.write(`not met: ${err.message}\n`);
          process.exitCode = EXIT.notMet;
          return;
        }
        throw err;
      } finally {
        await client.close();
      }
    });

  connectionOptions(
    program
      .command('watch')
      .description('subscribe to a daemon and print every update as it happens (Ctrl-C to stop)')
      .argument('<address>', 'host:port of the daemon')
      .argument('[params...]', 'only these parameters (default: all)')
      .option('--json', 'one JSON object per update'),
  )
    .addHelpText('after', `
Examples:
  labwire watch 127.0.0.1:7001
  labwire watch 127.0.0.1:7001 temperature state --json`)
    .action(async (address: string, params: string[], flags: ConnectFlags & { json?: boolean }) => {
      const client = await connectOnce(address, flags, true);
      client.on('log', (l: { t: number; level: string; message: string }) => {
        if (!flags.json) process.stdout.write(`${new Date(l.t).toISOString()}  [${l.level}] ${l.message}\n`);
      });
      const stop = (): void => void client.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        for await (const u of client.subscribe(params)) {
          if (flags.json) process.stdout.write(`${JSON.stringify(u)}\n`);
          else process.stdout.write(`${new Date(u.t).toISOString()}  ${Object.entries(u.values).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
        }
      } finally {
        await client.close();
      }
    });
}

function summarize(values: Record<string, unknown>, condition: string): string {
  const names = Object.keys(values).filter((k) => new RegExp(`(^|[^\\w.])${k.replace(/\./g, '\\.')}(?![\\w.])`).test(condition));
  return names.map((k) => `${k}=${String(values[k])}`).join(' ') || 'ok';
}
