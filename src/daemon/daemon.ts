/**
 * One device daemon: a DeviceRunner on its link plus a DaemonServer for clients, an optional
 * audit log, and the loopback-without-tokens warning. Used by the CLI and by `labwire up`.
 *
 * Audit events go to the log and the audit file cut to 1 KiB per text; refusals are summarised
 * per client address and reason (RefusalSummary), so a flood of refused requests cannot fill the
 * disk or the memory.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type { LinkSpec } from '../links/types.js';
import type { Logger } from '../util/logger.js';
import type { AnyDeviceDefinition } from './api.js';
import { AUDIT_DEFAULTS, AuditLog, capAudit, capText, type AuditSummary } from './audit.js';
import { LINE_SERVER_DEFAULTS } from './line-server.js';
import type { ThrottleOptions } from './secret-throttle.js';
import { RefusalSummary, addressOf } from './refusals.js';
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
  /** With caFile, clients must present a certificate issued by that CA (mutual TLS). */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  tokens?: TokenEntry[];
  /** Role of unauthenticated connections: default admin without tokens, none with tokens. */
  anonymousRole?: Role | 'none';
  readOnly?: boolean;
  siteLimits?: Record<string, { min?: number; max?: number }>;
  /** Requests per second per peer address; 0 disables. */
  rateLimit?: { perSecond: number; burst?: number };
  maxConnections?: number;
  /** Connections at once from one address, TLS handshakes included (default 64). */
  maxConnectionsPerAddress?: number;
  idleTimeoutMs?: number;
  /** With tokens and no anonymous role: unauthenticated connections are closed after this long (default 10 s; 0: never). */
  authTimeoutMs?: number;
  /** TLS handshakes not finished within this long are dropped (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Back-off for wrong tokens given to `auth`, per address (defaults as on the web server). */
  authThrottle?: Partial<ThrottleOptions>;
  maxLineLength?: number;
  auditFile?: string;
  /** Rotate the audit file when it would grow beyond this many bytes (default 10 MiB; 0: never). */
  auditMaxBytes?: number;
  /** Rotated audit files kept (default 5). */
  auditKeep?: number;
  /** Refusals beyond the first per address and reason are counted and summarised once per this interval (default 10 s; 0: every one in full). */
  refusalSummaryMs?: number;
  /** Directory for persistent daemon state (the running programme); none = nothing persists. */
  stateDir?: string;
  /** Setpoint programmes: what a restart does with a running one (default stop), tick and minimum step. */
  programme?: Omit<ProgrammeOptions, 'stateDir'>;
  /**
   * The device may answer nothing in step this long (link open, no reply taken) before the link
   * counts as down: hw_connected=0, reconnect. Default: the device family's (Julabo 10 s).
   */
  silentLinkMs?: number;
  logger: Logger;
  version: string;
}

export const DAEMON_DEFAULTS = {
  host: '127.0.0.1',
  rateLimit: { perSecond: 1000, burst: 2000 },
  maxConnections: 1024,
  maxConnectionsPerAddress: LINE_SERVER_DEFAULTS.maxConnectionsPerAddress,
  idleTimeoutMs: 3_600_000,
  authTimeoutMs: LINE_SERVER_DEFAULTS.authTimeoutMs,
  handshakeTimeoutMs: LINE_SERVER_DEFAULTS.handshakeTimeoutMs,
  maxLineLength: 65_536,
  auditMaxBytes: AUDIT_DEFAULTS.maxBytes,
  auditKeep: AUDIT_DEFAULTS.keep,
  refusalSummaryMs: LINE_SERVER_DEFAULTS.refusalSummaryMs,
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
    silentLinkMs: opts.silentLinkMs,
  });
  let tlsMaterial: { cert: Buffer; key: Buffer; ca?: Buffer } | undefined;
  if (opts.tls) {
    try {
      tlsMaterial = { cert: fs.readFileSync(opts.tls.certFile), key: fs.readFileSync(opts.tls.keyFile) };
      if (opts.tls.caFile !== undefined) tlsMaterial.ca = fs.readFileSync(opts.tls.caFile);
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
    maxConnectionsPerAddress: opts.maxConnectionsPerAddress ?? DAEMON_DEFAULTS.maxConnectionsPerAddress,
    idleTimeoutMs: opts.idleTimeoutMs ?? DAEMON_DEFAULTS.idleTimeoutMs,
    authTimeoutMs: opts.authTimeoutMs ?? DAEMON_DEFAULTS.authTimeoutMs,
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? DAEMON_DEFAULTS.handshakeTimeoutMs,
    refusalSummaryMs: opts.refusalSummaryMs ?? DAEMON_DEFAULTS.refusalSummaryMs,
    ...(opts.authThrottle ? { authThrottle: opts.authThrottle } : {}),
    maxLineLength: opts.maxLineLength ?? DAEMON_DEFAULTS.maxLineLength,
    logger,
  });
  const audit = opts.auditFile
    ? new AuditLog(opts.auditFile, (err) => logger.error({ err }, `audit log ${opts.auditFile} failed`), {
      maxBytes: opts.auditMaxBytes ?? DAEMON_DEFAULTS.auditMaxBytes,
      keep: opts.auditKeep ?? DAEMON_DEFAULTS.auditKeep,
    })
    : undefined;
  const refusals = new RefusalSummary({
    intervalMs: opts.refusalSummaryMs ?? DAEMON_DEFAULTS.refusalSummaryMs,
    onSummary: (tally) => {
      const e: AuditSummary = {
        t: Date.now(),
        who: capText(tally.who.join(', ')),
        peer: tally.address,
        device: opts.name,
        command: `(${tally.count} refused requests)`,
        before: {},
        after: {},
        result: `refused ${tally.reason}: ${tally.text}`,
        count: tally.count,
      };
      logger.warn({ audit: e }, `${opts.name}: ${tally.text}`);
      audit?.write(e);
    },
  });
  runner.on('audit', (event: AuditEvent) => {
    const refused = /^refused (\w+)/.exec(event.result)?.[1];
    // The first refusal of an address and reason per interval in full, the rest only counted.
    if (refused !== undefined && !refusals.admit(addressOf(event.peer), refused, event.who)) return;
    const e = capAudit(event);
    logger.info({ audit: e }, `${e.who} from ${e.peer}: ${e.command} → ${e.result}`);
    audit?.write(e);
  });

  const port = await server.listen();
  const unshare = runner.serving({ host, port });
  runner.start();
  logger.info(`daemon "${opts.name}" (${opts.definition.type}) listening on ${host}:${port}${tlsMaterial ? (tlsMaterial.ca ? ' (TLS, client certificates required)' : ' (TLS)') : ''}${opts.readOnly ? ', read-only' : ''}${tokens.enabled ? ', tokens required' : ''}`);

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
        unshare();
        await server.close();
        await runner.stop();
        refusals.close();
        await audit?.close();
      })();
      return closing;
    },
  });
}
