/**
 * The `labwire` command. Thin: it parses arguments and calls the modules; every failure becomes
 * one clear line on stderr and exit code 2 (1 is reserved for "condition not met" of `wait`).
 */
import { Command, CommanderError } from 'commander';
import { LabwireError } from '../wire/types.js';
import { VERSION } from '../version.js';
import { registerAlarmsCommand } from './alarms-cmd.js';
import { registerClientCommands } from './client-cmds.js';
import { registerDaemonCommands } from './daemon-cmds.js';
import { registerDeviceCommands } from './device-cmds.js';
import { registerDirectCommand } from './direct-cmd.js';
import { registerExposeCommand } from './expose-cmd.js';
import { registerProgrammeCommands } from './programme-cmds.js';
import { registerDemoCommand } from './demo.js';
import { registerSimCommand } from './sim-cmd.js';
import { registerSecopCommand } from './secop-cmd.js';
import { registerTangoCommand } from './tango-cmd.js';
import { registerUpCommands } from './up.js';
import { EXIT } from './common.js';

export function buildProgram(): Command {
  const program = new Command('labwire')
    .version(VERSION)
    .description('labwire puts every laboratory instrument on the network and keeps watch over it')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDemoCommand(program);
  registerUpCommands(program);
  registerDaemonCommands(program);
  registerSimCommand(program);
  registerClientCommands(program);
  registerExposeCommand(program);
  registerProgrammeCommands(program);
  registerAlarmsCommand(program);
  registerDirectCommand(program);
  registerDeviceCommands(program);
  registerSecopCommand(program);
  registerTangoCommand(program);
  program.addHelpText('after', `
Examples:
  labwire demo                                        start a simulated lab
  labwire sim julabo --listen 127.0.0.1:5050          a simulated Julabo chiller on TCP
  labwire daemon julabo --link tcp://127.0.0.1:5050   a daemon for it on 127.0.0.1:7001
  labwire status 127.0.0.1:7001                       what the daemon knows
  labwire wait 127.0.0.1:7001 'temperature<15' --stable 60s
  labwire expose 127.0.0.1:7010 10 --type dark --wait one exposure; prints the FITS file's path
  labwire direct cryocon --link tcp://127.0.0.1:5000 get   one instrument without a daemon
  labwire programme load 127.0.0.1:7001 cycle.csv --param setpoint --loops 3
  labwire programme start 127.0.0.1:7001              run it; \`programme status --watch\` follows it
  labwire alarms 127.0.0.1:7100 --watch               the monitor's active alarms, then every transition
  labwire alarms ack 127.0.0.1:7100 chiller_deviation acknowledge one`);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT.error;
      return;
    }
    const message = err instanceof LabwireError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`labwire: ${message}\n`);
    process.exitCode = EXIT.error;
  }
}
