/**
 * `labwire daemon` and `labwire sim`: long-running processes that stop cleanly on SIGINT/SIGTERM.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { LinkSpec } from '../links/types.js';
import type { Role, TokenEntry } from '../server/index.js';
import type { LabMonitorOptions } from '../daemon/daemon.js';
import type { MetricsAddress } from '../bridges/metrics/index.js';
import { parseLabAddress } from '../daemon/lab-state.js';
import { parseDuration } from '../util/duration.js';
import { parseSize } from '../config/size.js';
import { VERSION } from '../version.js';
import { CliError, collect, onShutdown, parseEndpoint, parseLimits, parseOptionPairs, tlsOption, withDetectOptions } from './common.js';

export function registerDaemonCommands(program: Command): void {
  withDetectOptions(program.command('daemon'), '<type>')
    .description('run a device daemon: owns the link to one instrument and serves the labwire protocol')
    .argument('<type>', 'device type, e.g. julabo')
    .requiredOption('--link <url>', 'link to the device: tcp://host:port, serial:///dev/ttyUSB0?baud=4800&bits=7&parity=even&stop=1&rtscts=1, or "auto" to probe serial ports')
    .option('--listen <host:port>', 'where clients connect', '127.0.0.1:7001')
    .option('--name <name>', 'daemon name in id, status and logs (default: the type)')
    .option('--option <key=value>', 'device option, repeatable (e.g. model=FL1703, tolerance=0.1)', collect, [])
    .option('--limit <name=min:max>', 'site limit, tighter than the hardware\'s, repeatable (e.g. setpoint=5:30)', collect, [])
    .option('--token-file <path>', 'tokens: one "<role> <token> [name]" per line (roles viewer, operator, admin)')
    .option('--anonymous-role <role>', 'role of connections without a token: none, viewer, operator or admin (default: admin without tokens, none with tokens)')
    .option('--tls-cert <path>', 'serve TLS with this certificate (PEM)')
    .option('--tls-key <path>', 'private key for --tls-cert (PEM)')
    .option('--read-only', 'refuse every state-changing command')
    .option('--rate-limit <n>', 'requests per second per peer address (0: off)', '1000')
    .option('--max-connections <n>', 'refuse connections beyond this many (TLS handshakes under way included)', '1024')
    .option('--max-connections-per-address <n>', 'refuse connections beyond this many from one address', '64')
    .option('--idle-timeout <duration>', 'close connections that send no request this long (id, notices and blank lines do not count; subscribers exempt; 0: never)', '1h')
    .option('--auth-timeout <duration>', 'with tokens and no --anonymous-role: close connections that have not authenticated within this long (0: never)', '10s')
    .option('--tls-handshake-timeout <duration>', 'drop TLS connections whose handshake has not finished within this long', '10s')
    .option('--max-line <bytes>', 'longest accepted request line', '65536')
    .option('--audit-log <path>', 'append a JSON line per state-changing command to this file')
    .option('--audit-max-size <size>', 'rotate the audit log when it would grow beyond this size (e.g. 10MiB, 512KiB; 0: never)', '10MiB')
    .option('--audit-keep <n>', 'rotated audit logs kept (audit.jsonl.1, .2, ...)', '5')
    .option('--refusal-summary <duration>', 'write only the first refused request per client address and reason in full, and one summary of the others per this interval (0: every one in full)', '10s')
    .option('--silent-link <duration>', 'a device that answers nothing for this long on an open link counts as disconnected: hw_connected=0, reconnect (default: the device type\'s, Julabo 10s)')
    .option('--state-dir <dir>', 'keep a running setpoint programme here, so it survives a daemon restart')
    .option('--programme-on-restart <policy>', 'after a restart, a saved programme: stop or resume', 'stop')
    .option('--lab <host:port>', "the lab's monitor: handlers that need every device's state (image headers) ask its snapshot")
    .option('--lab-token-file <path>', 'file holding a token for the --lab monitor, viewer role enough (default: $LABWIRE_LAB_TOKEN)')
    .option('--lab-tls', 'connect to the --lab monitor with TLS')
    .option('--lab-ca <path>', 'trust this CA certificate (PEM) for the --lab monitor')
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://<host:port>/metrics (":9464" binds 127.0.0.1; with tokens a scrape needs one)')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default: $LABWIRE_LOG_LEVEL or info)')
    .addHelpText('after', `
Examples:
  labwire daemon julabo --link serial:///dev/ttyUSB0 --name chiller
  labwire daemon julabo --link tcp://127.0.0.1:5050 --listen 127.0.0.1:7001 --limit setpoint=5:30
  LABWIRE_TOKEN=$(cat ~/.labwire-token) labwire daemon julabo --link /dev/ttyUSB0 --listen 0.0.0.0:7001 --audit-log audit.jsonl`)
    .action(async (type: string, o: Record<string, string | string[] | boolean | undefined>) => {
      // The daemon's modules load when it starts, not for `--help` (main.ts keeps start-up light).
      const [{ SecretThrottle, loadTokenFile, tokensFromEnv, isRole }, { startDaemon }, { getFamily }, { createLogger }, { parseMetricsAddress, serveDaemonMetrics }] = await Promise.all([
        import('../server/index.js'),
        import('../daemon/daemon.js'),
        import('../devices/index.js'),
        import('../util/logger.js'),
        import('../bridges/metrics/index.js'),
      ]);
      const family = getFamily(type);
      const listen = parseEndpoint(String(o.listen), '--listen');
      const logger = createLogger({ level: o.logLevel === undefined ? undefined : String(o.logLevel) });
      const tokens: TokenEntry[] = [...(o.tokenFile ? loadTokenFile(String(o.tokenFile)) : []), ...tokensFromEnv()];
      let anonymousRole: Role | 'none' | undefined;
      if (o.anonymousRole !== undefined) {
        const r = String(o.anonymousRole);
        if (r !== 'none' && !isRole(r)) throw new CliError(`--anonymous-role "${r}": expected none, viewer, operator or admin`);
        anonymousRole = r;
      }
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new CliError('--tls-cert and --tls-key go together');
      let metricsAt: MetricsAddress | undefined;
      try {
        if (o.metrics !== undefined) metricsAt = parseMetricsAddress(String(o.metrics));
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      // One back-off for wrong tokens on the labwire port and the metrics listener.
      const authThrottle = new SecretThrottle();
      const daemon = await startDaemon({
        authThrottle,
        definition: family.definition,
        options: parseOptionPairs(o.option as string[]),
        link: await resolveLink(type, String(o.link), o.exclude as string[], o.portCache as string | undefined),
        name: o.name ? String(o.name) : type,
        host: listen.host,
        port: listen.port,
        tls: o.tlsCert ? { certFile: String(o.tlsCert), keyFile: String(o.tlsKey) } : undefined,
        tokens,
        anonymousRole,
        readOnly: Boolean(o.readOnly),
        siteLimits: parseLimits(o.limit as string[]),
        rateLimit: { perSecond: positiveInt(String(o.rateLimit), '--rate-limit') },
        maxConnections: atLeast(positiveInt(String(o.maxConnections), '--max-connections'), 1, '--max-connections'),
        maxConnectionsPerAddress: atLeast(positiveInt(String(o.maxConnectionsPerAddress), '--max-connections-per-address'), 1, '--max-connections-per-address'),
        idleTimeoutMs: parseDuration(String(o.idleTimeout), '--idle-timeout'),
        authTimeoutMs: parseDuration(String(o.authTimeout), '--auth-timeout'),
        handshakeTimeoutMs: atLeast(parseDuration(String(o.tlsHandshakeTimeout), '--tls-handshake-timeout'), 1, '--tls-handshake-timeout'),
        maxLineLength: atLeast(positiveInt(String(o.maxLine), '--max-line'), 256, '--max-line'),
        auditFile: o.auditLog ? String(o.auditLog) : undefined,
        auditMaxBytes: byteSize(String(o.auditMaxSize), '--audit-max-size'),
        auditKeep: positiveInt(String(o.auditKeep), '--audit-keep'),
        refusalSummaryMs: parseDuration(String(o.refusalSummary), '--refusal-summary'),
        silentLinkMs: o.silentLink === undefined ? undefined : parseDuration(String(o.silentLink), '--silent-link'),
        stateDir: o.stateDir ? String(o.stateDir) : undefined,
        programme: { onRestart: restartPolicy(String(o.programmeOnRestart)) },
        ...(o.lab !== undefined ? { lab: labMonitor(o) } : {}),
        logger,
        version: VERSION,
      });
      let metrics;
      try {
        metrics = metricsAt ? await serveDaemonMetrics(daemon, metricsAt, { logger, tokens, throttle: authThrottle }) : undefined;
      } catch (err) {
        await daemon.close();
        throw new CliError((err as Error).message);
      }
      // Scripts and `labwire up` read this line to learn the bound port.
      process.stdout.write(`listening ${daemon.host}:${daemon.port}\n`);
      if (metrics) process.stdout.write(`metrics ${metrics.url}\n`);
      const stop = async (): Promise<void> => {
        await metrics?.close();
        await daemon.close();
        logger.flush?.();
      };
      daemon.on('exit', (why: string) => {
        logger.warn(why);
        stop().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`labwire: error while stopping: ${(err as Error).message}\n`);
            process.exit(2);
          },
        );
      });
      onShutdown(stop);
    });
}

/**
 * `--lab` and its token and TLS flags. The token is the daemon's credential at the monitor, so it
 * has its own file and variable: LABWIRE_TOKEN already means the daemon's own tokens.
 */
export function labMonitor(o: Record<string, string | string[] | boolean | undefined>): LabMonitorOptions {
  let where: { host: string; port: number };
  try {
    where = parseLabAddress(String(o.lab));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  let token: string | undefined;
  if (o.labTokenFile !== undefined) {
    try {
      token = fs.readFileSync(String(o.labTokenFile), 'utf8').trim();
    } catch (err) {
      throw new CliError(`cannot read --lab-token-file ${String(o.labTokenFile)}: ${(err as Error).message}`);
    }
    if (token === '') throw new CliError(`--lab-token-file ${String(o.labTokenFile)} is empty`);
  } else {
    token = process.env.LABWIRE_LAB_TOKEN || undefined;
  }
  const tls = tlsOption({ tls: Boolean(o.labTls), ca: o.labCa === undefined ? undefined : String(o.labCa) });
  return { ...where, ...(token !== undefined ? { token } : {}), ...(tls !== undefined ? { tls } : {}) };
}

/** `auto` probes serial ports with the family's own detector (opt-in, never on excluded ports). */
export async function resolveLink(type: string, link: string, exclude: string[], portCache: string | undefined): Promise<LinkSpec> {
  const [{ getFamily }, { parseLinkUrl }] = await Promise.all([import('../devices/index.js'), import('../links/registry.js')]);
  const family = getFamily(type);
  if (link !== 'auto') return parseLinkUrl(link, family.definition.serialDefaults);
  if (!family.detectPort) throw new CliError(`device type "${type}" has no port detection; give --link explicitly`);
  const cacheFile = portCache ?? path.join(os.homedir(), '.cache', 'labwire', `${type}-port`);
  const port = await family.detectPort({ exclude, cacheFile });
  process.stderr.write(`found ${type} on ${port}\n`);
  return parseLinkUrl(port, family.definition.serialDefaults);
}

function restartPolicy(text: string): 'stop' | 'resume' {
  if (text !== 'stop' && text !== 'resume') throw new CliError(`--programme-on-restart "${text}": expected stop or resume`);
  return text;
}

function atLeast(n: number, min: number, what: string): number {
  if (n < min) throw new CliError(`${what} ${n} is too small: at least ${min}`);
  return n;
}

function byteSize(text: string, what: string): number {
  const n = parseSize(text);
  if (n === undefined) throw new CliError(`${what} "${text}" is not a size: bytes, or with a unit such as 512KiB, 10MiB, 1GiB (MB and kB count in 1000s)`);
  return n;
}

function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${what} "${text}" must be a whole number ≥ 0`);
  return n;
}
