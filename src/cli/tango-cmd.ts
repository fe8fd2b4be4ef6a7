/**
 * `labwire tango`: the Tango gateway (gateways/tango, decision 0029). There is no Tango for
 * Node.js, so the gateway is Python with Debian's PyTango; this command only finds it and starts it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError, clientToken, parseEndpoint } from './common.js';

/** The gateway script: the same two levels up from src/cli and from dist/cli. */
export const TANGO_GATEWAY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../gateways/tango/labwire_tango.py');

/** Debian's python3-tango installs for the system interpreter, not for a pyenv one first on PATH. */
export function tangoPython(): string {
  return process.env.LABWIRE_PYTHON || '/usr/bin/python3';
}

interface TangoFlags {
  daemon: string[];
  lab: string;
  nodb?: boolean;
  port?: string;
  listen: string;
  instance?: string;
  tokenFile?: string;
  writeTimeout?: string;
}

export function registerTangoCommand(program: Command): void {
  program
    .command('tango')
    .description('serve labwire daemons as Tango devices labwire/<lab>/<device> (Jive, Taurus, DeviceProxy)')
    .requiredOption('--daemon <host:port>', 'a labwire daemon (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--lab <name>', 'the <lab> of labwire/<lab>/<device>', 'lab')
    .option('--nodb', 'run without a Tango database (clients add #dbase=no); needs --port')
    .option('--port <n>', 'the Tango server\'s TCP port')
    .option('--listen <host>', 'address the Tango port binds; Tango clients are not authenticated (anyone reaching it writes with the token)', '127.0.0.1')
    .option('--instance <name>', 'Tango server instance (default: the lab), as registered in the database')
    .option('--write-timeout <s>', 'seconds a write waits for the daemon before a Timeout (default 2.5, below DeviceProxy\'s 3 s)')
    .option('--token-file <path>', 'operator token for writes (default: $LABWIRE_TOKEN); never on the command line')
    .addHelpText('after', `
Needs PyTango for ${tangoPython()} (Debian: apt-get install python3-tango; another interpreter: $LABWIRE_PYTHON).
With a Tango database (TANGO_HOST set), register the server LabwireTango/<instance> with its devices first.

Examples:
  LABWIRE_TOKEN=… labwire tango --daemon 127.0.0.1:7001 --daemon 127.0.0.1:7002 --lab cryolab --nodb --port 10000
  python3 -c "import tango; print(tango.DeviceProxy('tango://127.0.0.1:10000/labwire/cryolab/chiller#dbase=no').temperature)"`)
    .action(async (o: TangoFlags) => {
      const daemons = o.daemon.map((d) => parseEndpoint(d, '--daemon'));
      if (o.nodb && !o.port) throw new CliError('--nodb needs --port <n>: without a database, clients find the server only by its port');
      if (o.port !== undefined && !/^\d+$/.test(o.port)) throw new CliError(`--port "${o.port}" is not a port number`);
      if (!fs.existsSync(TANGO_GATEWAY)) throw new CliError(`the Tango gateway is missing at ${TANGO_GATEWAY} (a broken installation)`);
      const token = clientToken(o.tokenFile);
      const args = [TANGO_GATEWAY, ...daemons.flatMap((d) => ['--daemon', `${d.host}:${d.port}`]), '--lab', o.lab];
      if (o.nodb) args.push('--nodb');
      if (o.port) args.push('--port', o.port);
      args.push('--listen', o.listen);
      if (o.instance) args.push('--instance', o.instance);
      if (o.writeTimeout !== undefined) {
        if (!/^\d+(\.\d+)?$/.test(o.writeTimeout) || Number(o.writeTimeout) <= 0) throw new CliError(`--write-timeout "${o.writeTimeout}" is not a number of seconds`);
        args.push('--write-timeout', o.writeTimeout);
      }
      // The token travels in the environment: argv is visible to every user in `ps`.
      const env = { ...process.env, LABWIRE_PARENT_PIPE: '', ...(token ? { LABWIRE_TOKEN: token } : {}) };
      const child = spawn(tangoPython(), args, { stdio: 'inherit', env });
      const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      const code = await new Promise<number>((resolve) => {
        child.once('error', () => resolve(-1));
      // Stopped by our own forwarded signal: a clean stop; killed otherwise (a crash): a failure.
      child.once('exit', (c, signal) => resolve(c ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 2)));
      });
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      if (code === -1) throw new CliError(`cannot start ${tangoPython()}: install Python 3 with python3-tango, or set LABWIRE_PYTHON`);
      process.exitCode = code;
    });
}
