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
import { LISTENER_DEFAULTS, RefusalSummary, listenerLimits, type ListenerLimitOptions, exposureWarnings, resolveAnonymousRole, addressOf, TokenStore, type Role, type TokenEntry } from '../server/index.js';
import type { ProgrammeOptions } from './programme-runner.js';
import { DeviceRunner, type AuditEvent } from './runner.js';
import { DaemonServer } from './server.js';
import { MonitorLabState, type MonitorLabStateOptions } from './lab-state.js';
export type { LabMonitorOptions } from './lab-state.js';

export interface DaemonOptions extends ListenerLimitOptions {
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
  auditFile?: string;
  /** Rotate the audit file when it would grow beyond this many bytes (default 10 MiB; 0: never). */
  auditMaxBytes?: number;
  /** Rotated audit files kept (default 5). */
  auditKeep?: number;
  /** Directory for persistent daemon state (the running programme); none = nothing persists. */
  stateDir?: string;
  /** Setpoint programmes: what a restart does with a running one (default stop), tick and minimum step. */
  programme?: Omit<ProgrammeOptions, 'stateDir'>;
  /**
   * The device may answer nothing in step this long (link open, no reply taken) before the link
   * counts as down: hw_connected=0, reconnect. Default: the device family's (Julabo 10 s).
   */
  silentLinkMs?: number;
  /**
   * The lab's monitor, asked for `snapshot` when a handler wants the lab's state (image headers);
   * without it a handler's labState() holds this daemon's own values.
   */
  lab?: MonitorLabStateOptions['monitor'];
  /**
   * Set when something else owns this daemon's process (a lab run by `labwire up` or `labwire
   * demo`): `exit` is then refused with this text, which says what to stop instead. Without it
   * `exit` stops the daemon (the `exit` event; `labwire daemon` ends the process).
   */
  exitRefusal?: string;
  logger: Logger;
  version: string;
}


export const DAEMON_DEFAULTS = {
  host: '127.0.0.1',
  ...LISTENER_DEFAULTS,
  auditMaxBytes: AUDIT_DEFAULTS.maxBytes,
  auditKeep: AUDIT_DEFAULTS.keep,
} as const;

export interface Daemon extends EventEmitter {
  readonly runner: DeviceRunner;
  readonly server: DaemonServer;
  readonly host: string;
  readonly port: number;
  /** The lab's monitor as this daemon asks it (`lab` option); undefined without one. */
  readonly lab: MonitorLabState | undefined;
  close(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const logger = opts.logger.child({ daemon: opts.name });
  const host = opts.host ?? DAEMON_DEFAULTS.host;
  const tokens = new TokenStore(opts.tokens ?? []);
  const anonymous = resolveAnonymousRole(opts.anonymousRole, tokens.enabled);
  for (const warning of exposureWarnings({
    label: `daemon "${opts.name}"`,
    host,
    tokensEnabled: tokens.enabled,
    anonymousRole: anonymous,
    encrypted: opts.tls !== undefined,
    power: 'change the device',
    readPower: 'read the device',
    tokenHint: 'Configure --token-file or LABWIRE_TOKEN.',
    encryption: 'TLS',
    clearText: 'tokens and commands',
  })) logger.warn(warning);
  const lab = opts.lab ? new MonitorLabState({ monitor: opts.lab, name: opts.name }) : undefined;
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
    ...(lab ? { labState: () => lab.get() } : {}),
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
  const server = new DaemonServer(runner, {
    host,
    port: opts.port ?? 0,
    tls: tlsMaterial,
    tokens,
    anonymousRole: anonymous,
    ...listenerLimits(opts),
    logger,
  }, opts.exitRefusal);
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
  logger.info(`daemon "${opts.name}" (${opts.definition.type}) listening on ${host}:${port}${tlsMaterial ? (tlsMaterial.ca ? ' (TLS, client certificates required)' : ' (TLS)') : ''}${opts.readOnly ? ', read-only' : ''}${tokens.enabled ? ', tokens required' : ''}${lab ? `, lab state from ${typeof opts.lab === 'function' ? "the lab's monitor" : `the monitor at ${lab.endpoint}`}` : ''}`);

  const emitter = new EventEmitter();
  let closing: Promise<void> | undefined;
  server.on('exit', (why: string) => emitter.emit('exit', why));
  return Object.assign(emitter, {
    runner,
    server,
    host,
    port,
    lab,
    close(): Promise<void> {
      closing ??= (async () => {
        unshare();
        await server.close();
        await runner.stop();
        await lab?.close();
        refusals.close();
        await audit?.close();
      })();
      return closing;
    },
  });
}
