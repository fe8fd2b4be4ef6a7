/**
 * Device-direct commands: talk to one instrument over its link without a daemon, as the
 * predecessor's `julabo` tool did (bench work, commissioning, a quick check of the wiring).
 * The same driver, pacing and limits as the daemon; no second implementation.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { Exchange } from '../links/exchange.js';
import { createLink } from '../links/index.js';
import type { LinkSpec } from '../links/types.js';
import { checkRange, coerce, combineLimits } from '../daemon/values.js';
import { JulaboDriver, julaboExchangeOptions, julaboSplitter } from '../devices/julabo/driver.js';
import { julaboDevice, julaboOptionsSchema } from '../devices/julabo/device.js';
import { formatStatus } from '../devices/julabo/codec.js';
import { parseDuration } from '../util/duration.js';
import { CliError, withDetectOptions } from './common.js';
import { resolveLink } from './daemon-cmds.js';

const ACTIONS = ['version', 'status', 'get-setpoint', 'set-setpoint', 'get-temperature', 'start', 'stop', 'send', 'watch'] as const;
type Action = (typeof ACTIONS)[number];

interface JulaboFlags {
  link?: string;
  exclude: string[];
  portCache?: string;
  model: string;
  crlf?: boolean;
  interval: string;
  count?: string;
  csv?: string;
}

/** Opens the link and waits for the first connection attempt; a one-shot command does not retry. */
async function openExchange(spec: LinkSpec): Promise<Exchange> {
  const exchange = new Exchange(() => createLink(spec), julaboSplitter(), { ...julaboExchangeOptions, maxBackoffMs: 60_000 });
  let reason = 'could not connect';
  exchange.on('down', (r: string) => (reason = r));
  await exchange.start();
  if (!exchange.isUp) {
    await exchange.stop();
    throw new CliError(`cannot reach the chiller: ${reason}`);
  }
  return exchange;
}

export function registerDeviceCommands(program: Command): void {
  withDetectOptions(program.command('julabo'), 'julabo')
    .description('talk to a Julabo chiller directly over its link (no daemon)')
    .argument('<action>', ACTIONS.join(' | '))
    .argument('[value]', 'the setpoint for set-setpoint, the raw line for send')
    .option('--link <url>', 'serial:///dev/ttyUSB0 (4800 7E1 RTS/CTS by default), tcp://host:port, or "auto" to probe serial ports')
    .option('--model <model>', 'chiller model, for its setpoint limits', 'FL1703')
    .option('--crlf', 'end requests with CR LF instead of CR')
    .option('--interval <duration>', 'watch: time between readings', '5s')
    .option('--count <n>', 'watch: stop after n readings')
    .option('--csv <path>', 'watch: also append readings to this CSV file')
    .addHelpText('after', `
Examples:
  labwire julabo --link serial:///dev/ttyUSB0 version
  labwire julabo --link tcp://127.0.0.1:5050 set-setpoint 12.5
  labwire julabo --link auto --exclude /dev/ttyUSB1 status
  labwire julabo --link /dev/ttyUSB0 watch --interval 10s --csv bath.csv
  labwire julabo --link /dev/ttyUSB0 send in_pv_00`)
    .action(async (actionText: string, value: string | undefined, flags: JulaboFlags) => {
      if (!(ACTIONS as readonly string[]).includes(actionText)) {
        throw new CliError(`unknown action "${actionText}": expected one of ${ACTIONS.join(', ')}`);
      }
      const action = actionText as Action;
      const parsed = julaboOptionsSchema.safeParse({ model: flags.model, crlf: Boolean(flags.crlf) });
      if (!parsed.success) throw new CliError(`--model "${flags.model}": ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      let setpoint: number | undefined;
      if (action === 'set-setpoint') {
        if (value === undefined) throw new CliError('set-setpoint needs a temperature in °C, e.g. set-setpoint 12.5');
        // Strict decimal parsing: an empty "$SP" must not become 0 °C.
        setpoint = coerce('setpoint', { type: 'float', description: 'setpoint' }, value, 'set-setpoint') as number;
        const limits = julaboDevice.limits?.(parsed.data)?.setpoint;
        checkRange('setpoint', setpoint, combineLimits(limits ? [limits] : []), '°C', 'set-setpoint');
      }
      if (action === 'send' && !value) throw new CliError('send needs the raw line, e.g. send in_pv_00');

      if (!flags.link) throw new CliError('say how to reach the chiller: --link serial:///dev/ttyUSB0, --link tcp://host:port, or --link auto');
      const exchange = await openExchange(await resolveLink('julabo', flags.link, flags.exclude, flags.portCache));
      const driver = new JulaboDriver(exchange, { crlf: parsed.data.crlf });
      const out = (s: string): boolean => process.stdout.write(`${s}\n`);
      try {
        switch (action) {
          case 'version':
            out(await driver.version());
            break;
          case 'status': {
            const s = await driver.status();
            out(formatStatus(s.code, s.text));
            break;
          }
          case 'get-setpoint':
            out(String(await driver.setpoint()));
            break;
          case 'get-temperature':
            out(String(await driver.temperature()));
            break;
          case 'set-setpoint':
            out(`setpoint ${await driver.setSetpoint(setpoint!)} °C`);
            break;
          case 'start':
            await driver.start();
            out('running');
            break;
          case 'stop':
            await driver.stop();
            out('stopped');
            break;
          case 'send': {
            const reply = await driver.sendRaw(value!);
            out(reply === undefined ? '(sent; the chiller does not answer out_ commands)' : reply);
            break;
          }
          case 'watch':
            await watch(driver, flags, out);
            break;
        }
      } finally {
        await exchange.stop();
      }
    });
}

async function watch(driver: JulaboDriver, flags: JulaboFlags, out: (s: string) => void): Promise<void> {
  const everyMs = parseDuration(flags.interval, '--interval');
  const count = flags.count === undefined ? Infinity : Number(flags.count);
  if (!(count > 0)) throw new CliError(`--count "${flags.count}" must be a positive number`);
  if (flags.csv && !fs.existsSync(flags.csv)) fs.writeFileSync(flags.csv, 'timestamp_utc,temperature_c,setpoint_c,running\n');
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  for (let i = 0; i < count && !stop; i++) {
    const started = Date.now();
    const [t, sp, running] = [await driver.temperature(), await driver.setpoint(), await driver.isRunning()];
    const time = new Date().toISOString();
    out(`${time}  temperature ${t} °C  setpoint ${sp} °C  ${running ? 'running' : 'stopped'}`);
    if (flags.csv) fs.appendFileSync(flags.csv, `${time},${t},${sp},${running ? 1 : 0}\n`);
    if (i + 1 < count) await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - started))));
  }
}
