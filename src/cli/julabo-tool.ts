/**
 * The actions of the predecessor's `julabo` tool, kept for `labwire julabo` and `labwire direct
 * julabo`: version, status, get-setpoint, set-setpoint, get-temperature, start, stop, a raw `send`,
 * and a `watch` of temperature, setpoint and run state with CSV. The same driver, pacing and
 * limits as the daemon; no second implementation.
 */
import fs from 'node:fs';
import { Exchange } from '../links/exchange.js';
import { createLink } from '../links/index.js';
import type { LinkSpec } from '../links/types.js';
import { checkRange, coerce, combineLimits } from '../daemon/values.js';
import { JulaboDriver, julaboExchangeOptions, julaboSplitter } from '../devices/julabo/driver.js';
import { julaboDevice, julaboOptionsSchema } from '../devices/julabo/device.js';
import { formatStatus } from '../devices/julabo/codec.js';
import { parseDuration } from '../util/duration.js';
import { CliError, parseOptionPairs } from './common.js';
import { resolveLink } from './daemon-cmds.js';
import type { DirectFlags } from './direct-cmd.js';

/** The julabo tool's actions; `send` and `watch` keep its meaning for this family. */
export const JULABO_TOOL_ACTIONS = ['version', 'status', 'get-setpoint', 'set-setpoint', 'get-temperature', 'start', 'stop', 'send', 'watch'] as const;
type ToolAction = (typeof JULABO_TOOL_ACTIONS)[number];

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

/** One of the julabo tool's actions, from `labwire julabo` or `labwire direct julabo`. */
export async function runJulaboTool(actionText: string, args: string[], flags: DirectFlags): Promise<void> {
  const action = actionText as ToolAction;
  const value = action === 'send' ? (args.length > 0 ? args.join(' ') : undefined) : args[0];
  const given = parseOptionPairs(flags.option);
  const parsed = julaboOptionsSchema.safeParse({ model: 'FL1703', ...given, crlf: given.crlf === true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(`${issue?.path[0] === 'model' ? `--model "${String(given.model)}"` : 'julabo options'}: ${issue?.message ?? 'invalid'}`);
  }
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
}

async function watch(driver: JulaboDriver, flags: DirectFlags, out: (s: string) => void): Promise<void> {
  const everyMs = parseDuration(flags.interval ?? '5s', '--interval');
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
