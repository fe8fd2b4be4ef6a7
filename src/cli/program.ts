/**
 * The whole `labwire` program: every command registered, for the top-level help and for tests
 * that inspect commands. A command line that names its command loads only that command's module
 * (main.ts, COMMAND_MODULES); this file is what `labwire --help` loads.
 */
import type { Command } from 'commander';
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
import { finishProgram, newProgram } from './program-base.js';

export function buildProgram(): Command {
  const program = newProgram();
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
  return finishProgram(program);
}

