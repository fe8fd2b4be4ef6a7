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
  /** Address the Tango port binds (default 127.0.0.1). */
  listen?: string;
  nodb: boolean;
  token?: string;
  python?: string;
  logger: Logger;
  /** How long close() waits after SIGTERM before SIGKILL (default 10s). */
  killAfterMs?: number;
}

export interface TangoGateway {
  child: ChildProcess;
  close(): Promise<void>;
}

export function startTangoGateway(o: TangoGatewayOptions): TangoGateway {
  const args = [TANGO_GATEWAY_SCRIPT, ...o.daemons.flatMap((d) => ['--daemon', `${d.host}:${d.port}`]), '--lab', o.lab, '--port', String(o.port), '--listen', o.listen ?? '127.0.0.1'];
  if (o.nodb) args.push('--nodb');
  // stdin is a pipe nobody writes: its EOF tells the gateway we are gone, even after a SIGKILL
  // (with PR_SET_PDEATHSIG in the gateway as well, on Linux).
  const env = { ...process.env, LABWIRE_TOKEN: o.token ?? '', LABWIRE_PARENT_PIPE: '1' };
  const child = spawn(o.python ?? process.env.LABWIRE_PYTHON ?? '/usr/bin/python3', args, { stdio: ['pipe', 'ignore', 'pipe'], env });
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
        // A gateway stuck in omniORB's shutdown must not hold `labwire up` open.
        const timer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
