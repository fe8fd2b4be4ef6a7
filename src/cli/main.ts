/**
 * The `labwire` command. Thin: it parses arguments and calls the modules; every failure becomes
 * one clear line on stderr and exit code 2 (1 is reserved for "condition not met" of `wait`).
 *
 * Start-up time matters (scripts call `labwire send` and `labwire wait` in loops): a command line
 * that names its command loads only the module of that command, so `labwire status` never
 * evaluates the archive, the web server or the device families; `--version` loads no command at
 * all. Only the top-level help (and an unknown command, for its suggestion) loads them all.
 */
import { CommanderError, type Command } from 'commander';
import { LabwireError } from '../wire/types.js';
import { EXIT } from './common.js';
import { finishProgram, newProgram } from './program-base.js';

type Register = (program: Command) => void;

/** Which module registers which top-level command. test/cli-lazy.test.ts checks it against program.ts. */
export const COMMAND_MODULES: Record<string, () => Promise<Register>> = {
  demo: async () => (await import('./demo.js')).registerDemoCommand,
  up: async () => (await import('./up.js')).registerUpCommands,
  check: async () => (await import('./up.js')).registerUpCommands,
  config: async () => (await import('./up.js')).registerUpCommands,
  daemon: async () => (await import('./daemon-cmds.js')).registerDaemonCommands,
  sim: async () => (await import('./sim-cmd.js')).registerSimCommand,
  send: async () => (await import('./client-cmds.js')).registerClientCommands,
  status: async () => (await import('./client-cmds.js')).registerClientCommands,
  wait: async () => (await import('./client-cmds.js')).registerClientCommands,
  watch: async () => (await import('./client-cmds.js')).registerClientCommands,
  expose: async () => (await import('./expose-cmd.js')).registerExposeCommand,
  programme: async () => (await import('./programme-cmds.js')).registerProgrammeCommands,
  alarms: async () => (await import('./alarms-cmd.js')).registerAlarmsCommand,
  direct: async () => (await import('./direct-cmd.js')).registerDirectCommand,
  julabo: async () => (await import('./device-cmds.js')).registerDeviceCommands,
  secop: async () => (await import('./secop-cmd.js')).registerSecopCommand,
  tango: async () => (await import('./tango-cmd.js')).registerTangoCommand,
};

/** The program for this command line: one command's module when it names one, else every command. */
export async function programFor(args: readonly string[]): Promise<Command> {
  // Top-level options are only --version and --help; the first other word is the command.
  const at = args.findIndex((a) => !a.startsWith('-'));
  const word = at === -1 ? undefined : args[at];
  if (word === undefined && args.some((a) => a === '-V' || a === '--version')) return finishProgram(newProgram());
  // `labwire --help status` is the top-level help (commander answers the first --help it meets),
  // which lists every command: a program of one module would print a cut-down list.
  const helpFirst = args.slice(0, at === -1 ? args.length : at).some((a) => a === '-h' || a === '--help');
  const load = word === undefined || helpFirst ? undefined : COMMAND_MODULES[word];
  if (load === undefined) return (await import('./program.js')).buildProgram();
  const program = newProgram();
  (await load())(program);
  return finishProgram(program);
}

export async function main(argv: string[]): Promise<void> {
  try {
    const program = await programFor(argv.slice(2));
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
