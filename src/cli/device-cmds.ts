/**
 * `labwire julabo …`: the alias of `labwire direct julabo …` (see direct-cmd.ts), with the julabo
 * tool's own options `--model` and `--crlf` as shortcuts for device options.
 */
import type { Command } from 'commander';
import { DIRECT_ACTIONS, runDirect, withDirectOptions, type DirectFlags } from './direct-cmd.js';
import { JULABO_TOOL_ACTIONS } from './julabo-tool.js';

export function registerDeviceCommands(program: Command): void {
  withDirectOptions(program.command('julabo'), 'julabo')
    .description('talk to a Julabo chiller directly over its link (no daemon); the same as `labwire direct julabo`')
    .argument('<action>', [...JULABO_TOOL_ACTIONS, ...DIRECT_ACTIONS.filter((a) => !(JULABO_TOOL_ACTIONS as readonly string[]).includes(a))].join(' | '))
    .argument('[args...]', 'the setpoint for set-setpoint, the raw line for send; for get, set and call as in `labwire direct`')
    .option('--model <model>', 'chiller model, for its setpoint limits (the same as --option model=…)')
    .option('--crlf', 'end requests with CR LF instead of CR (the same as --option crlf=true)')
    .addHelpText('after', `
The link: serial:///dev/ttyUSB0 (4800 7E1 RTS/CTS by default), tcp://host:port, or "auto" to probe
serial ports. watch prints a reading every --interval (default 5s).

Examples:
  labwire julabo --link serial:///dev/ttyUSB0 version
  labwire julabo --link tcp://127.0.0.1:5050 set-setpoint 12.5
  labwire julabo --link auto --exclude /dev/ttyUSB1 status
  labwire julabo --link /dev/ttyUSB0 watch --interval 10s --csv bath.csv
  labwire julabo --link /dev/ttyUSB0 send in_pv_00
  labwire julabo --link /dev/ttyUSB0 get temperature setpoint`)
    .action(async (action: string, args: string[], flags: DirectFlags & { model?: string; crlf?: boolean }) => {
      const option = [...flags.option];
      if (flags.model !== undefined) option.push(`model=${flags.model}`);
      if (flags.crlf) option.push('crlf=true');
      await runDirect('julabo', action, args, { ...flags, option });
    });
}

