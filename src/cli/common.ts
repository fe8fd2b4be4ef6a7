/**
 * Argument helpers shared by the CLI commands: endpoints, key=value options, limits, tokens, and
 * the exit-code convention (0 done, 1 condition not met / timeout, 2 error).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { LabwireClient } from '../client/client.js';
import { parseDecimal } from '../wire/format.js';

export const EXIT = { ok: 0, notMet: 1, error: 2 } as const;

/** commander collector for repeatable options. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** The options of opt-in serial port detection, shared by `daemon` and the device-direct commands. */
export function withDetectOptions(cmd: Command, type: string): Command {
  return cmd
    .option('--exclude <port>', 'with --link auto: never probe this port, repeatable', collect, [])
    .option('--port-cache <path>', `with --link auto: where the last good port is remembered (default ~/.cache/labwire/${type}-port)`);
}

/** A usage or runtime problem to report in one line and exit 2. */
export class CliError extends Error {}

export interface Endpoint {
  host: string;
  port: number;
}

/** `host:port`, `:port`, `port` or `[::1]:port`; the host defaults to 127.0.0.1. */
export function parseEndpoint(text: string, what = 'address'): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(`${what} "${text}" is not host:port (for example 127.0.0.1:7001)`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** `--option k=v` values: numbers and booleans become typed, the rest stays text. */
export function parseOptionPairs(pairs: string[], what = '--option'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`${what} "${p}" is not key=value`);
    out[p.slice(0, i)] = typedValue(p.slice(i + 1));
  }
  return out;
}

function typedValue(v: string): unknown {
  if (v === 'true') return true;
  if (v === 'false') return false;
  return parseDecimal(v) ?? v;
}

/** `--limit setpoint=5:30`, `--limit setpoint=:30` (max only), `--limit setpoint=5:` (min only). */
export function parseLimits(pairs: string[]): Record<string, { min?: number; max?: number }> {
  const out: Record<string, { min?: number; max?: number }> = {};
  for (const p of pairs) {
    const m = /^([^=]+)=([^:]*):([^:]*)$/.exec(p);
    const min = m?.[2] ? Number(m[2]) : undefined;
    const max = m?.[3] ? Number(m[3]) : undefined;
    if (!m || (min !== undefined && !Number.isFinite(min)) || (max !== undefined && !Number.isFinite(max)) || (min === undefined && max === undefined)) {
      throw new CliError(`--limit "${p}" is not name=min:max (for example setpoint=5:30, or setpoint=:30 for a maximum only)`);
    }
    out[m[1]!] = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
  }
  return out;
}

/** The client's token: `--token-file` (the file holds just the token), else LABWIRE_TOKEN. Never a command-line argument. */
export function clientToken(tokenFile: string | undefined): string | undefined {
  if (tokenFile) {
    try {
      return fs.readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new CliError(`cannot read token file ${tokenFile}: ${(err as Error).message}`);
    }
  }
  return process.env.LABWIRE_TOKEN || undefined;
}

export interface ConnectFlags {
  tokenFile?: string;
  tls?: boolean;
  ca?: string;
  insecure?: boolean;
  timeout?: string;
}

/** The token and TLS flags of every command that connects to a daemon or monitor. */
export function connectionOptions(cmd: Command): Command {
  return cmd
    .option('--token-file <path>', 'file holding the token (default: $LABWIRE_TOKEN)')
    .option('--tls', 'connect with TLS')
    .option('--ca <path>', 'trust this CA certificate (PEM) for TLS')
    .option('--insecure', 'with --tls: do not verify the certificate (testing only)');
}

export function tlsOption(flags: ConnectFlags): { ca?: Buffer; rejectUnauthorized?: boolean } | undefined {
  if (!flags.tls && !flags.ca) return undefined;
  let ca: Buffer | undefined;
  if (flags.ca) {
    try {
      ca = fs.readFileSync(flags.ca);
    } catch (err) {
      throw new CliError(`cannot read CA file ${flags.ca}: ${(err as Error).message}`);
    }
  }
  return { ...(ca ? { ca } : {}), ...(flags.insecure ? { rejectUnauthorized: false } : {}) };
}

/** Connects once (no reconnect) for one-shot commands, authenticating when a token is available. */
export async function connectOnce(address: string, flags: ConnectFlags, reconnect = false, connectTimeoutMs = 10_000): Promise<LabwireClient> {
  const ep = parseEndpoint(address);
  const client = new LabwireClient({
    host: ep.host,
    port: ep.port,
    token: clientToken(flags.tokenFile),
    tls: tlsOption(flags),
    name: 'cli',
    reconnect,
    connectTimeoutMs,
  });
  await client.connect();
  return client;
}

/** Runs `stop` once on the first SIGINT/SIGTERM; a second signal exits at once. */
export function onShutdown(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(130);
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`labwire: error while stopping: ${(err as Error).message}\n`);
        process.exit(2);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
