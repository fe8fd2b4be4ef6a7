/**
 * Starts everything a lab config describes in one process — simulators, daemons, the archive, the
 * monitor and the web page — and stops it all in the reverse order, flushing the archive last so
 * no acknowledged sample is lost.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Simulator } from '../daemon/api.js';
import { SecretThrottle, loadTokenFile, tokensFromEnv, type Role, type TokenEntry } from '../server/index.js';
import { parseMetricsAddress, serveDaemonMetrics } from '../bridges/metrics/index.js';
import { startDaemon, type Daemon, type LabMonitorOptions } from '../daemon/daemon.js';
import { getFamily } from '../devices/index.js';
import { parseLinkUrl } from '../links/registry.js';
import type { LinkSpec } from '../links/types.js';
import { EarlyReports, openLabArchive } from './spool.js';
import type { Archive } from '../archive/types.js';
import { startMonitor, type Monitor, type PeerConfig } from '../monitor/monitor.js';
import { startWeb, type WebServer } from '../web/server.js';
import type { Logger } from '../util/logger.js';
import { parseDuration } from '../util/duration.js';
import { alarmHookOptions, alarmOptions, archiveConfigOf, expandEnv, type LabConfig } from '../config/lab.js';
import { parseSize } from '../config/size.js';
import { readLabTls } from '../config/tls.js';
import { VERSION } from '../version.js';
import { busInstrumentModels, busLinkOf, startOrder } from './bus.js';
import { startMqttBridgeFromConfig, type MqttBridge } from '../bridges/mqtt/index.js';
import { SecopNode } from '../bridges/secop/index.js';
import { startTangoGateway, type TangoGateway } from '../bridges/tango/index.js';

export interface RunningLab {
  config: LabConfig;
  simulators: Array<{ name: string; type: string; simulator: Simulator; port?: number; pty?: string }>;
  daemons: Array<{ name: string; type: string; daemon: Daemon; /** Its Prometheus metrics (daemons[].metrics). */ metricsUrl?: string }>;
  /** Undefined when the archive could not be opened: the lab then runs with live data only. */
  archive: Archive | undefined;
  /** Why there is no archive, for people. */
  archiveError?: string;
  monitor: Monitor;
  web: WebServer;
  /** The MQTT bridge, when the lab file has an `mqtt:` section (docs/mqtt.md). */
  mqtt?: MqttBridge;
  /** The SECoP node, when the lab file has a `secop:` section (docs/facilities.md). */
  secop?: SecopNode;
  /** The Tango gateway process, when the lab file has a `tango:` section (docs/facilities.md). */
  tango?: TangoGateway;
  close(): Promise<void>;
}

function hostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(text.slice(i + 1)) };
}

/** A daemon listening on all interfaces is reached by the monitor over loopback. */
function reachable(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}

function tokensFor(tokenFile: string | undefined): TokenEntry[] {
  return [...(tokenFile ? loadTokenFile(tokenFile) : []), ...tokensFromEnv()];
}

/** Marks the lab monitor's own token `forward` (docs/protocol.md, `as`): the daemon records the web's users. */
function trustMonitor(tokens: TokenEntry[], monitorToken: string | undefined): TokenEntry[] {
  return monitorToken === undefined ? tokens : tokens.map((e) => (e.token === monitorToken ? { ...e, forward: true } : e));
}

/** The name the daemons' audit gives the Tango gateway of `labwire up`. */
export const TANGO_GATEWAY_TOKEN_NAME = 'tango-gateway';

/**
 * The Tango gateway's own token on a daemon that knows the monitor's: operator at most (never
 * more than the monitor's role) and never `forward`. Tango clients are not authenticated, so what
 * the gateway sends must not name users, and the audit names the gateway, not the monitor.
 */
function trustTangoGateway(tokens: TokenEntry[], monitorToken: string | undefined, gatewayToken: string | undefined): TokenEntry[] {
  const monitor = monitorToken === undefined ? undefined : tokens.find((e) => e.token === monitorToken);
  if (!monitor || gatewayToken === undefined) return tokens;
  const role: Role = monitor.role === 'viewer' ? 'viewer' : 'operator';
  return [...tokens, { role, token: gatewayToken, name: TANGO_GATEWAY_TOKEN_NAME }];
}

/** The token of the lowest role: what a daemon needs to read the monitor's snapshot, no more. */
function leastToken(tokens: readonly TokenEntry[]): string {
  const rank = (r: Role): number => (r === 'viewer' ? 0 : r === 'operator' ? 1 : 2);
  return [...tokens].sort((a, b) => rank(a.role) - rank(b.role))[0]!.token;
}

/**
 * Why `exit` is refused inside a lab: one process holds every part, and stopping one daemon (or
 * the monitor) alone would leave the others running and the page showing a hole.
 */
export function managedExitRefusal(what: string, lab: string): string {
  return `${what} is part of the lab "${lab}", run by \`labwire up\` (or \`labwire demo\`), and stops only with the whole lab: stop the lab instead (Ctrl-C where it runs, or stop its service)`;
}

export async function startLab(config: LabConfig, logger: Logger): Promise<RunningLab> {
  const stops: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    // Reverse order: the page and the monitor first, the archive (flush) last.
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, 'error while stopping part of the lab');
      }
    }
  };
  try {
    // Every certificate and key first: a missing one is reported with all the others, before anything starts.
    const tls = readLabTls(config);
    const peerMaxReply = parseSize(config.monitor.peerMaxReplySize ?? '16MiB');
    const maxReplyBytes = (v: string | number | undefined): number | undefined => (v === undefined ? peerMaxReply : parseSize(v));
    fs.mkdirSync(config.data, { recursive: true });

    const simulators: RunningLab['simulators'] = [];
    for (const s of config.simulators) {
      const family = getFamily(s.type);
      if (!family.loadSimulator) throw new Error(`simulators: "${s.name}": device type "${s.type}" has no simulator`);
      const base = { ...(s.timeScale ? { timeScale: s.timeScale } : {}), ...(s.seed !== undefined ? { seed: s.seed } : {}) };
      const instruments = await busInstrumentModels(s, base);
      const simulator = (await family.loadSimulator())({ ...s.options, ...base, ...(instruments ? { instruments } : {}) });
      stops.push(() => simulator.close());
      const entry: RunningLab['simulators'][number] = { name: s.name, type: s.type, simulator };
      if (s.pty) entry.pty = await simulator.listenPty();
      if (s.listen || !s.pty) {
        const ep = hostPort(s.listen ?? '127.0.0.1:0');
        entry.port = await simulator.listenTcp(ep.host, ep.port);
      }
      simulators.push(entry);
    }

    // The token this lab's monitor sends; the lab's daemons trust it to name end users.
    const peerToken = expandEnv(config.monitor.peerToken, 'monitor.peerToken') ?? process.env.LABWIRE_TOKEN;
    // The gateway's own token, made per run, known only to this process, the daemons and the gateway (its environment).
    const tangoToken = config.tango && peerToken !== undefined ? randomBytes(24).toString('hex') : undefined;
    const started = new Map<string, RunningLab['daemons'][number]>();
    // Every daemon asks this lab's monitor for the lab's state (image headers); it starts after
    // the daemons, so they learn where it is when they first ask.
    const labMonitor: { current?: LabMonitorOptions } = {};
    for (const d of startOrder(config.daemons)) {
      const family = getFamily(d.type);
      let link: LinkSpec;
      const onBus = busLinkOf(d.link);
      if (onBus) {
        // The bus daemon started first (startOrder); its bus is shared in this process.
        const bus = started.get(onBus.bus)!;
        if (!bus.daemon.runner.definition.serving) throw new Error(`daemons: "${d.name}": link ${d.link} names "${onBus.bus}", a ${bus.type} daemon, which serves no bus; name a bus daemon such as type prologix`);
        link = parseLinkUrl(`gpib://${reachable(bus.daemon.host)}:${bus.daemon.port}/${onBus.address}`);
      } else if (d.link.startsWith('sim:')) {
        const sim = simulators.find((s) => s.name === d.link.slice(4))!;
        link = sim.port !== undefined
          ? { kind: 'tcp', host: '127.0.0.1', port: sim.port }
          // Pseudo-terminals stay 8N1: Linux ignores 7E1 on them and refuses re-opening with only that change.
          : parseLinkUrl(`serial://${sim.pty}?baud=9600&bits=8&parity=none&stop=1&rtscts=0`);
      } else {
        link = parseLinkUrl(d.link, family.definition.serialDefaults);
      }
      const ep = hostPort(d.listen);
      const authThrottle = new SecretThrottle();
      const daemon = await startDaemon({
        authThrottle,
        definition: family.definition,
        options: d.options,
        link,
        name: d.name,
        host: ep.host,
        port: ep.port,
        tls: tls.daemons.get(d.name)?.listen,
        tokens: trustTangoGateway(trustMonitor(tokensFor(d.tokenFile), peerToken), peerToken, tangoToken),
        anonymousRole: d.anonymousRole,
        readOnly: d.readOnly,
        siteLimits: d.limits,
        auditFile: d.auditFile,
        stateDir: path.join(config.data, 'programmes'),
        programme: { onRestart: d.programmeOnRestart },
        lab: () => labMonitor.current,
        exitRefusal: managedExitRefusal(`daemon "${d.name}"`, config.name),
        silentLinkMs: d.silentLink === undefined ? undefined : typeof d.silentLink === 'number' ? d.silentLink : parseDuration(d.silentLink),
        logger,
        version: VERSION,
      });
      stops.push(() => daemon.close());
      const metrics = d.metrics === undefined ? undefined : await serveDaemonMetrics(daemon, parseMetricsAddress(d.metrics), { logger, tokens: trustMonitor(tokensFor(d.tokenFile), peerToken), throttle: authThrottle });
      if (metrics) stops.push(() => metrics.close());
      started.set(d.name, { name: d.name, type: d.type, daemon, ...(metrics ? { metricsUrl: metrics.url } : {}) });
    }
    // The lab file's order again: the status, the page and `labwire up` list daemons as written.
    const daemons: RunningLab['daemons'] = config.daemons.map((d) => started.get(d.name)!);

    let archive: Archive | undefined;
    let archiveError: string | undefined;
    const spoolReports = new EarlyReports();
    try {
      // SQLite or PostgreSQL as the lab file says; a shared PostgreSQL archive knows this monitor by its name.
      // A database can be away (even at start): its archive spools to a local file meanwhile (decision 0022).
      archive = await openLabArchive(archiveConfigOf(config), config, logger, spoolReports);
      const a = archive;
      stops.push(() => a.close());
    } catch (err) {
      // Live data matters more than history: the lab runs, and says loudly that nothing is kept.
      archiveError = `no archive: ${(err as Error).message}; live data only, no history is kept`;
      logger.error(archiveError);
    }

    const peers: PeerConfig[] = [
      ...config.daemons.map((d, i): PeerConfig => ({
        name: d.name,
        protocol: 'labwire',
        host: reachable(daemons[i]!.daemon.host),
        port: daemons[i]!.daemon.port,
        tls: tls.daemons.get(d.name)?.client,
        maxReplyBytes: maxReplyBytes(d.maxReplySize),
        token: peerToken,
        description: d.description,
        plots: d.plots,
        ...(d.overview ? { overview: d.overview } : {}),
      })),
      ...config.peers.filter((p) => p.enabled).map((p): PeerConfig => ({
        name: p.name,
        protocol: p.protocol,
        host: p.host,
        port: p.port,
        tls: tls.peers.get(p.name),
        maxReplyBytes: maxReplyBytes(p.maxReplySize),
        token: expandEnv(p.token, `peers.${p.name}.token`) ?? peerToken,
        description: p.description,
        plots: p.plots,
        ...(p.overview ? { overview: p.overview } : {}),
        ...(p.archive !== undefined ? { archiveDevices: p.archive } : {}),
      })),
    ];
    const monitorTokens = tokensFor(config.monitor.tokenFile);
    // The monitor's port and its page check the same tokens: wrong guesses on either count together.
    const monitorSecrets = new SecretThrottle();
    const listen = hostPort(config.monitor.listen);
    const monitor = await startMonitor({
      name: config.monitor.name,
      peers,
      archive,
      listen,
      ...(tls.monitor ? { tls: tls.monitor } : {}),
      tokens: monitorTokens,
      anonymousRole: config.monitor.anonymousRole,
      authThrottle: monitorSecrets,
      readOnly: config.monitor.readOnly,
      exitRefusal: managedExitRefusal(`monitor "${config.monitor.name}"`, config.name),
      alarms: alarmOptions(config),
      alarmHooks: alarmHookOptions(config),
      ...(config.monitor.imageMaxSize !== undefined ? { imageMaxBytes: parseSize(config.monitor.imageMaxSize) } : {}),
      logger,
    });
    stops.push(() => monitor.close());
    labMonitor.current = {
      host: reachable(listen.host),
      port: monitor.port,
      ...(monitorTokens.length > 0 ? { token: leastToken(monitorTokens) } : {}),
      // The monitor's own certificate as the trust anchor: a lab's self-signed one verifies.
      ...(tls.monitor ? { tls: { ca: tls.monitor.cert } } : {}),
    };
    if (archiveError) monitor.message(config.monitor.name, 'error', archiveError);
    spoolReports.attach((level, text) => void monitor.message(config.monitor.name, level, text));

    const retention = config.monitor.archive.retention;
    const policy = {
      rawMs: retention.raw ? parseDuration(retention.raw) : undefined,
      minuteMs: retention.minute ? parseDuration(retention.minute) : undefined,
      hourMs: retention.hour ? parseDuration(retention.hour) : undefined,
      logMs: retention.log ? parseDuration(retention.log) : undefined,
      imagesMs: retention.images ? parseDuration(retention.images) : undefined,
    };
    if (archive && Object.values(policy).some((v) => v !== undefined)) {
      const a = archive;
      const apply = (): void => void a.applyRetention(policy).catch((err: unknown) => logger.error({ err }, 'archive retention failed'));
      apply();
      const timer = setInterval(apply, 3_600_000);
      timer.unref();
      stops.push(async () => clearInterval(timer));
    }

    const webEp = hostPort(config.monitor.web);
    const web = await startWeb({ monitor, labName: config.name, host: webEp.host, port: webEp.port, ...(tls.web ? { https: tls.web } : {}), tokens: monitorTokens, anonymousRole: config.monitor.anonymousRole, authThrottle: monitorSecrets, logger });
    stops.push(() => web.close());

    // After the monitor: it feeds the bridge and carries its commands; stopped before it.
    const mqtt = config.mqtt ? startMqttBridgeFromConfig(config.mqtt, monitor, logger) : undefined;
    if (mqtt) stops.push(() => mqtt.close());

    // Every labwire device the monitor watches (its daemons, peer daemons, lower monitors'
    // devices), reached through the monitor: its audit and read-only mode apply, and it names the
    // SECoP peer to the daemons as it names the page's users (decision 0036).
    let secop: SecopNode | undefined;
    if (config.secop) {
      const ep = hostPort(config.secop.listen);
      const node = new SecopNode({
        name: config.name,
        monitor,
        waitFor: config.daemons.map((d) => d.name),
        host: ep.host,
        port: ep.port,
        ...(peerToken ? { token: peerToken } : {}),
        trusted: config.secop.trusted,
        logger,
      });
      stops.push(() => node.close());
      await node.start();
      secop = node;
    }

    // The gateway is a labwire client in Python (decision 0029), writing with a token of its own (decision 0035).
    const tango = config.tango
      ? startTangoGateway({ daemons: daemons.map((d) => ({ host: reachable(d.daemon.host), port: d.daemon.port })), lab: config.name, port: config.tango.port, listen: config.tango.listen, nodb: config.tango.nodb, ...(tangoToken ? { token: tangoToken } : {}), logger })
      : undefined;
    if (tango) stops.push(() => tango.close());

    return { config, simulators, daemons, archive, archiveError, monitor, web, ...(mqtt ? { mqtt } : {}), ...(secop ? { secop } : {}), ...(tango ? { tango } : {}), close };
  } catch (err) {
    await close();
    throw err;
  }
}
