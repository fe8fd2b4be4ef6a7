/**
 * One device daemon: a DeviceRunner on its link plus a DaemonServer for clients, an optional
 * audit log, and the loopback-without-tokens warning. Used by the CLI and by `labwire up`.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type { LinkSpec } from '../links/types.js';
import type { Logger } from '../util/logger.js';
import type { AnyDeviceDefinition } from './api.js';
import { AuditLog } from './audit.js';
import type { ProgrammeOptions } from './programme-runner.js';
import { TokenStore, type Role, type TokenEntry } from './auth.js';
import { DeviceRunner, type AuditEvent } from './runner.js';
import { DaemonServer } from './server.js';

export interface DaemonOptions {
  definition: AnyDeviceDefinition;
  /** Device options (model, tuning), validated by the definition. */
  options?: unknown;
  link: LinkSpec;
  name: string;
  host?: string;
  port?: number;
  tls?: { certFile: string; keyFile: string };
  tokens?: TokenEntry[];
  /** Role of unauthenticated connections: default admin without tokens, none with tokens. */
  anonymousRole?: Role | 'none';
  readOnly?: boolean;
  siteLimits?: Record<string, { min?: number; max?: number }>;
  /** Requests per second per peer address; 0 disables. */
  rateLimit?: { perSecond: number; burst?: number };
  maxConnections?: number;
  idleTimeoutMs?: number;
  maxLineLength?: number;
  auditFile?: string;
  /** Directory for persistent daemon state (the running programme); none = nothing persists. */
  stateDir?: string;
  /** Setpoint programmes: what a restart does with a running one (default stop), tick and minimum step. */
  programme?: Omit<ProgrammeOptions, 'stateDir'>;
  logger: Logger;
  version: string;
}

export const DAEMON_DEFAULTS = {
  host: '127.0.0.1',
  rateLimit: { perSecond: 1000, burst: 2000 },
  maxConnections: 1024,
  idleTimeoutMs: 3_600_000,
  maxLineLength: 65_536,
} as const;

export interface Daemon extends EventEmitter {
  readonly runner: DeviceRunner;
  readonly server: DaemonServer;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const logger = opts.logger.child({ daemon: opts.name });
  const host = opts.host ?? DAEMON_DEFAULTS.host;
  const tokens = new TokenStore(opts.tokens ?? []);
  const anonymous = opts.anonymousRole === 'none' ? null : (opts.anonymousRole ?? (tokens.enabled ? null : 'admin'));
  if (!isLoopback(host)) {
    if (!tokens.enabled) {
      logger.warn(`daemon "${opts.name}" listens on ${host} WITHOUT any token: anyone who can reach this address can change the device. Configure --token-file or LABWIRE_TOKEN.`);
    } else if (anonymous === 'operator' || anonymous === 'admin') {
      logger.warn(`daemon "${opts.name}" listens on ${host} and gives connections WITHOUT a token the ${anonymous} role: anyone who can reach it can change the device.`);
    }
    if (!opts.tls) logger.warn(`daemon "${opts.name}" listens on ${host} without TLS: tokens and commands cross the network in clear text.`);
  }
  const runner = new DeviceRunner({
    definition: opts.definition,
    options: opts.options,
    link: opts.link,
    siteLimits: opts.siteLimits,
    readOnly: opts.readOnly,
    logger,
    version: opts.version,
    name: opts.name,
    programme: { ...opts.programme, stateDir: opts.stateDir },
  });
  let tlsMaterial: { cert: Buffer; key: Buffer } | undefined;
  if (opts.tls) {
    try {
      tlsMaterial = { cert: fs.readFileSync(opts.tls.certFile), key: fs.readFileSync(opts.tls.keyFile) };
    } catch (err) {
      throw new Error(`cannot read TLS certificate or key: ${(err as Error).message}`, { cause: err });
    }
  }
  const rate = opts.rateLimit ?? DAEMON_DEFAULTS.rateLimit;
  const server = new DaemonServer(runner, {
    host,
    port: opts.port ?? 0,
    tls: tlsMaterial,
    tokens,
    anonymousRole: anonymous,
    rateLimit: { perSecond: rate.perSecond, burst: rate.burst ?? rate.perSecond * 2 },
    maxConnections: opts.maxConnections ?? DAEMON_DEFAULTS.maxConnections,
    idleTimeoutMs: opts.idleTimeoutMs ?? DAEMON_DEFAULTS.idleTimeoutMs,
    maxLineLength: opts.maxLineLength ?? DAEMON_DEFAULTS.maxLineLength,
    logger,
  });
  const audit = opts.auditFile ? new AuditLog(opts.auditFile, (err) => logger.error({ err }, `audit log ${opts.auditFile} failed`)) : undefined;
  runner.on('audit', (e: AuditEvent) => {
    logger.info({ audit: e }, `${e.who} from ${e.peer}: ${e.command} → ${e.result}`);
    audit?.write(e);
  });

  const port = await server.listen();
  runner.start();
  logger.info(`daemon "${opts.name}" (${opts.definition.type}) listening on ${host}:${port}${tlsMaterial ? ' (TLS)' : ''}${opts.readOnly ? ', read-only' : ''}${tokens.enabled ? ', tokens required' : ''}`);

  const emitter = new EventEmitter();
  let closing: Promise<void> | undefined;
  server.on('exit', (why: string) => emitter.emit('exit', why));
  return Object.assign(emitter, {
    runner,
    server,
    host,
    port,
    close(): Promise<void> {
      closing ??= (async () => {
        await server.close();
        await runner.stop();
        await audit?.close();
      })();
      return closing;
    },
  });
}
