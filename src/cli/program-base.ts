/** The `labwire` program object before any command is registered: name, version, error handling. */
import { Command } from 'commander';
import { VERSION } from '../version.js';

export function newProgram(): Command {
  return new Command('labwire')
    .version(VERSION)
    .description('labwire puts every laboratory instrument on the network and keeps watch over it')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

/** Errors of every command come back to main() instead of exiting the process. */
export function finishProgram(program: Command): Command {
  for (const c of program.commands) c.exitOverride();
  return program;
}
