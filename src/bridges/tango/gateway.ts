/**
 * The Tango gateway (gateways/tango, decision 0029) as a child process of `labwire up`: the lab
 * file's `tango:` section. The token goes in the environment, never on the command line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

/** The gateway script: the same three levels up from src/bridges/tango and dist/bridges/tango. */
export const TANGO_GATEWAY_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../gateways/tango/labwire_tango.py');

export interface TangoGatewayOptions {
  daemons: Array<{ host: string; port: number }>;
  lab: string;
  port: number;
  nodb: boolean;
  token?: string;
  python?: string;
  logger: Logger;
}

export interface TangoGateway {
  child: ChildProcess;
  close(): Promise<void>;
}

export function startTangoGateway(o: TangoGatewayOptions): TangoGateway {
  const args = [TANGO_GATEWAY_SCRIPT, ...o.daemons.flatMap((d) => ['--daemon', `${d.host}:${d.port}`]), '--lab', o.lab, '--port', String(o.port)];
  if (o.nodb) args.push('--nodb');
  const env = { ...process.env, LABWIRE_TOKEN: o.token ?? '' };
  const child = spawn(o.python ?? process.env.LABWIRE_PYTHON ?? '/usr/bin/python3', args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    for (const line of d.split('\n')) if (line.trim()) o.logger.info({ tango: line }, 'tango gateway');
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') o.logger.error({ code, signal }, 'the Tango gateway stopped (is python3-tango installed?)');
  });
  child.on('error', (err) => o.logger.error({ err }, 'cannot start the Tango gateway'));
  return {
    child,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
