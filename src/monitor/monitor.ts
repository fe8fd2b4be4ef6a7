/**
 * The monitor (DESIGN.md §1, reference/ccdlab.md §4): connects to every configured daemon —
 * labwire daemons by subscription, CCDLab daemons by polling — keeps one lab-wide status, the
 * message log and the audit trail, feeds the archive, forwards commands, and serves its own
 * labwire port. The web and `labwire up` know it through MonitorView.
 */
import { EventEmitter } from 'node:events';
import { TokenStore, exposureWarnings, listenerLimits, resolveAnonymousRole } from '../server/index.js';
import { VERSION } from '../version.js';
import { LabwireError, formatErrorReply, parseLine, quote, type Command, type DescribeDoc } from '../wire/index.js';
import type { AlarmEntry, Archive, ImageRecord, LogEntry, LogLevel, Sample, SeriesPolicy } from '../archive/types.js';
import type { Logger } from '../util/logger.js';
import type { LabDeviceState, LabState } from '../daemon/api.js';
import { AlarmEngine, alarmConfigProblems, type AlarmState, type AlarmTransition, type RestoredAlarm } from './alarms.js';
import { ArchiveFeed } from './archive-feed.js';
import { AlarmHook, HOOKED } from './hooks.js';
import { ImageIngest, isImageSource } from './images.js';
import { MessageLog } from './message-log.js';
import { MONITOR_DEFAULTS, type MonitorOptions } from './options.js';
import { Peer, type PeerHooks } from './peer.js';
import { MonitorPeer, RemoteDevice } from './monitor-peer.js';
import type { LabDevice } from './device.js';
import { MonitorServer, type MonitorBackend } from './server.js';
import type { LabStatus, LogReceipt, MonitorHealth, MonitorActor, MonitorUpdate, MonitorView, PeerState, PeerValue, ResolvedPlot } from './types.js';
import { resolvePlot } from './plots.js';
import { NOT_FORWARDED, archiveHealth, clientNameProblem, lineKind, type ClientStatus, type LineKind } from './values.js';

export type { MonitorOptions, PeerConfig } from './options.js';
export { MONITOR_DEFAULTS } from './options.js';

const NUMERIC_TYPES = new Set(['float', 'int', 'bool']);
/** The heartbeat re-offer runs at most this often, whatever heartbeat is configured. */
const MIN_REFEED_MS = 250;
/**
 * Alarm history rows read per alarm at start: the newest gives the state, and an acknowledgement
 * is always right after its `raised` row (raised → acknowledged → cleared), which gives raisedAt.
 */
const RESTORE_ROWS = 2;

/** What the newest archived transitions of one alarm leave it in; undefined when ok/cleared. */
function restoredFromHistory(newestFirst: readonly AlarmEntry[]): RestoredAlarm | undefined {
  const [last, before] = newestFirst;
  if (!last) return undefined;
  if (last.to === 'raised') return { state: 'raised', raisedAt: last.t };
  if (last.to !== 'acknowledged') return undefined;
  // A history without the raised row (trimmed by hand) still keeps the acknowledgement.
  const raisedAt = before?.to === 'raised' ? before.t : last.t;
  return { state: 'acknowledged', raisedAt, acknowledgedBy: last.who ?? 'unknown', acknowledgedAt: last.t };
}

function positive(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`monitor option ${what} must be a positive number of milliseconds, got ${String(value)}`);
  return v;
}

/** Values of the named parameters as a plain object; a missing one is null. */
function pick(values: Readonly<Record<string, PeerValue>>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) {
    Object.defineProperty(out, n, { value: Object.hasOwn(values, n) ? values[n] : null, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** A value as the archive takes it: booleans as 0/1, NaN as a missing reading. */
function sampleValue(v: PeerValue): number | string | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isNaN(v) ? null : v;
  return v;
}

export interface MonitorEvents {
  update: [update: MonitorUpdate];
  message: [entry: LogEntry];
  peer: [state: PeerState];
  /** An alarm changed state (docs/alarms.md). */
  alarm: [state: AlarmState, transition: AlarmTransition];
  /** An admin sent `exit` to the monitor's port; whoever runs the monitor decides what to do. */
  exit: [reason: string];
  /** An image source wrote a new image and it is indexed now. */
  image: [image: ImageRecord];
}

export class Monitor extends EventEmitter implements MonitorView {
  readonly name: string;
  readonly readOnly: boolean;
  readonly archive: Archive | undefined;
  readonly version: string;
  /** The monitor's own labwire port; 0 when it does not listen. */
  port = 0;
  /** The address it listens on, when it does. */
  host: string | undefined;

  private readonly logger: Logger;
  /** Every device shown: the configured daemons, then the devices of lower monitors as they come. */
  private readonly peerList: LabDevice[] = [];
  private readonly peerMap = new Map<string, LabDevice>();
  /** The daemons this monitor connects to itself. */
  private readonly daemonPeers: Peer[] = [];
  /** Lower monitors (`protocol: monitor`), by name. */
  private readonly monitorPeers = new Map<string, MonitorPeer>();
  private readonly disabled = new Set<string>();
  private readonly log: MessageLog;
  private readonly feed: ArchiveFeed;
  private readonly heartbeatMs: number;
  private server: MonitorServer | undefined;
  /** Series names per peer that hold numbers: these get a null sample when the peer goes down. */
  private readonly numeric = new Map<string, Set<string>>();
  /** Last policy handed to configureSeries per series, to skip repeats. */
  private readonly configured = new Map<string, string>();
  /** The describe each peer gave last, to tell a re-description from a repeat. */
  private readonly describedAs = new Map<string, string>();
  private closing: Promise<void> | undefined;
  private refeedTimer: NodeJS.Timeout | undefined;
  private readonly refeedMs: number;
  /** Per series: its heartbeat, and when the monitor last handed the archive a sample of it. */
  private readonly heartbeats = new Map<string, number>();
  private readonly lastWritten = new Map<string, number>();
  private readonly alarmEngine: AlarmEngine;
  private readonly alarmHooks: AlarmHook[];
  private alarmTimer: NodeJS.Timeout | undefined;
  /** When the armed alarm timer fires (the engine's next deadline). */
  private alarmTimerAt: number | undefined;
  private readonly images: ImageIngest;
  private readonly imageMaxBytes: number;
  private readonly imageFetchTimeoutMs: number;

  constructor(private readonly options: MonitorOptions) {
    super();
    this.name = options.name ?? MONITOR_DEFAULTS.name;
    this.readOnly = options.readOnly ?? false;
    this.archive = options.archive;
    this.version = options.version ?? VERSION;
    this.logger = options.logger.child({ component: 'monitor' });
    this.heartbeatMs = positive(options.heartbeatMs, MONITOR_DEFAULTS.heartbeatMs, 'heartbeatMs');
    this.log = new MessageLog(options.messageBuffer ?? MONITOR_DEFAULTS.messageBuffer);
    this.feed = new ArchiveFeed(options.archive, (level, text) => void this.addEntry({ t: Date.now(), source: this.name, level, message: text }), this.logger);
    const timing = {
      pollMs: positive(options.ccdlabPollMs, MONITOR_DEFAULTS.ccdlabPollMs, 'ccdlabPollMs'),
      timeoutMs: positive(options.peerTimeoutMs, MONITOR_DEFAULTS.peerTimeoutMs, 'peerTimeoutMs'),
      sendTimeoutMs: positive(options.sendTimeoutMs, MONITOR_DEFAULTS.sendTimeoutMs, 'sendTimeoutMs'),
    };
    const hooks: PeerHooks = {
      values: (peer, t, changes, full) => this.onValues(peer, t, changes, full),
      link: (peer, up, t) => this.onLink(peer, up, t),
      described: (peer) => this.onDescribed(peer),
      log: (peer, level, text, t) => this.addEntry({ t, source: peer.name, level, message: text }),
    };
    const endpoints = new Map<string, string>();
    for (const cfg of options.peers) {
      const problem = clientNameProblem(cfg.name);
      if (problem) throw new Error(`monitor peer config: ${problem}`);
      if (this.peerMap.has(cfg.name) || this.monitorPeers.has(cfg.name) || this.disabled.has(cfg.name)) throw new Error(`monitor peer config: the client name "${cfg.name}" is used twice`);
      if (cfg.protocol !== undefined && cfg.protocol !== 'labwire' && cfg.protocol !== 'ccdlab' && cfg.protocol !== 'monitor') {
        throw new Error(`monitor peer config: client "${cfg.name}" has protocol "${String(cfg.protocol)}"; expected labwire, ccdlab or monitor`);
      }
      if (!Number.isInteger(cfg.port) || cfg.port < 1 || cfg.port > 65535) {
        throw new Error(`monitor peer config: client "${cfg.name}" has port ${String(cfg.port)}; expected 1..65535`);
      }
      for (const [param, p] of Object.entries(cfg.archive ?? {})) {
        if (p.deadband !== undefined && !(Number.isFinite(p.deadband) && p.deadband >= 0)) {
          throw new Error(`monitor peer config: ${cfg.name}.${param}: deadband must be a number >= 0, got ${String(p.deadband)}`);
        }
        if (p.heartbeatMs !== undefined && !(Number.isFinite(p.heartbeatMs) && p.heartbeatMs > 0)) {
          throw new Error(`monitor peer config: ${cfg.name}.${param}: heartbeatMs must be a positive number, got ${String(p.heartbeatMs)}`);
        }
      }
      if (cfg.enabled === false) {
        this.disabled.add(cfg.name);
        continue;
      }
      const endpoint = `${cfg.host}:${cfg.port}`;
      const other = endpoints.get(endpoint);
      if (other !== undefined) this.logger.warn(`clients "${other}" and "${cfg.name}" are both configured at ${endpoint}`);
      endpoints.set(endpoint, cfg.name);
      if (cfg.protocol === 'monitor') {
        this.monitorPeers.set(cfg.name, new MonitorPeer(cfg, this.name, timing, { ...hooks, added: (d) => this.onAdded(d), removed: (d) => this.onRemoved(d) }, this.logger));
        continue;
      }
      const peer = new Peer(cfg, this.name, timing, hooks, this.logger);
      this.daemonPeers.push(peer);
      this.peerList.push(peer);
      this.peerMap.set(cfg.name, peer);
      this.numeric.set(cfg.name, new Set());
    }
    let shortest = this.heartbeatMs;
    for (const peer of this.daemonPeers) {
      for (const p of Object.values(peer.config.archive ?? {})) if (p.heartbeatMs !== undefined) shortest = Math.min(shortest, p.heartbeatMs);
    }
    this.refeedMs = Math.max(MIN_REFEED_MS, shortest / 4);
    const clients = new Set([...this.peerMap.keys(), ...this.disabled]);
    const problems = alarmConfigProblems(options.alarms ?? [], clients);
    if (problems.length > 0) throw new Error(`monitor alarm config: ${problems.join('; ')}`);
    this.alarmEngine = new AlarmEngine(options.alarms ?? [], Date.now());
    this.alarmHooks = (options.alarmHooks ?? []).map((h) => new AlarmHook(h, this.name, (level, text) => void this.addEntry({ t: Date.now(), source: this.name, level, message: text })));
    this.imageMaxBytes = positive(options.imageMaxBytes, MONITOR_DEFAULTS.imageMaxBytes, 'imageMaxBytes');
    this.imageFetchTimeoutMs = positive(options.imageFetchTimeoutMs, MONITOR_DEFAULTS.imageFetchTimeoutMs, 'imageFetchTimeoutMs');
    this.images = new ImageIngest({
      archive: options.archive,
      logger: this.logger,
      log: (source, level, text) => void this.addEntry({ t: Date.now(), source, level, message: text }),
      indexed: (image) => this.emit('image', image),
    });
  }

  /**
   * Restores alarm states from the archive, opens the port (failing loudly when it cannot), then
   * connects to every peer.
   */
  async start(): Promise<void> {
    // Before the port and the peers: an `ack` or a value must not reach the engine first.
    const restored = await this.restoreAlarms();
    const listen = this.options.listen;
    if (listen !== false) {
      const host = listen?.host ?? MONITOR_DEFAULTS.host;
      const port = listen?.port ?? MONITOR_DEFAULTS.port;
      const tokens = new TokenStore(this.options.tokens ?? []);
      const anonymousRole = resolveAnonymousRole(this.options.anonymousRole, tokens.enabled);
      for (const warning of exposureWarnings({
        label: `monitor "${this.name}"`,
        host,
        tokensEnabled: tokens.enabled,
        anonymousRole,
        encrypted: this.options.tls !== undefined,
        power: 'send commands to every device',
        readPower: 'read every device',
        tokenHint: 'Configure tokens (monitor.tokenFile in the lab file).',
        encryption: 'TLS',
        clearText: 'tokens and commands',
        encryptionHint: 'Configure monitor.tls in the lab file.',
      })) this.logger.warn(warning);
      const server = new MonitorServer(this.backend(), {
        host,
        port,
        ...(this.options.tls ? { tls: this.options.tls } : {}),
        tokens,
        anonymousRole,
        ...listenerLimits(this.options),
        logger: this.logger,
      });
      this.port = await server.listen();
      this.host = host;
      this.server = server;
    }
    const where = this.server ? `; labwire port ${this.host}:${this.port}` : '';
    const names = [...this.peerList.map((p) => p.name), ...[...this.monitorPeers.keys()].map((n) => `${n} (monitor)`)];
    this.logger.info(`monitor "${this.name}" started with ${names.length} peer(s)${where}${this.readOnly ? ', read-only' : ''}`);
    this.addEntry({ t: Date.now(), source: this.name, level: 'info', message: `monitor started: ${names.join(', ') || 'no peers'}` });
    for (const entry of restored) this.addEntry(entry);
    for (const peer of this.daemonPeers) peer.start();
    for (const m of this.monitorPeers.values()) m.start();
    // Disconnected alarms count from the start: a client that never connects raises after its delay.
    this.armAlarmTimer();
    if (this.archive && (this.peerList.length > 0 || [...this.monitorPeers.values()].some((m) => m.config.archiveDevices === true))) {
      this.refeedTimer = setInterval(() => this.refeed(), this.refeedMs);
      this.refeedTimer.unref();
    }
  }

  /**
   * Stops the port and every peer connection, writes a null sample for every numeric series of a
   * connected peer (the monitor's own downtime is a gap too), and flushes the archive. The archive
   * stays open: its owner closes it.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.refeedTimer);
      clearTimeout(this.alarmTimer);
      await Promise.all(this.alarmHooks.map((h) => h.close()));
      await this.server?.close();
      const t = Date.now();
      const up = this.peerList.filter((p) => p.connected);
      const images = this.images.close();
      await Promise.all([...this.daemonPeers.map((p) => p.close()), ...[...this.monitorPeers.values()].map((m) => m.close())]);
      await images;
      for (const peer of up) this.writeGap(peer, t);
      this.addEntry({ t, source: this.name, level: 'info', message: 'monitor stopped' });
      await this.feed.flush();
      this.logger.info(`monitor "${this.name}" stopped`);
    })();
    return this.closing;
  }

  // ---- MonitorView ----------------------------------------------------------------------------

  peers(): PeerState[] {
    return this.peerList.map((p) => p.state());
  }

  peer(name: string): PeerState | undefined {
    return this.peerMap.get(name)?.state();
  }

  plots(client: string): ResolvedPlot[] {
    const peer = this.peerMap.get(client);
    if (!peer) return [];
    const params = peer.state().describe?.params;
    const ctx = { clients: new Set(this.peerMap.keys()), ...(params ? { ownParams: new Set(Object.keys(params)) } : {}) };
    return (peer.config.plots ?? []).map((p) => resolvePlot(client, p, ctx));
  }

  overview(client: string): string[] | undefined {
    const o = this.peerMap.get(client)?.config.overview;
    return o ? [...o] : undefined;
  }

  /** The lower monitors this one watches: name, endpoint, whether it answers, and its devices' client names here. */
  monitors(): Array<{ name: string; endpoint: string; connected: boolean; lowerName?: string; lastError?: string; devices: string[] }> {
    return [...this.monitorPeers.values()].map((m) => ({
      name: m.name,
      endpoint: m.endpoint,
      connected: m.up,
      ...(m.lowerName !== undefined ? { lowerName: m.lowerName } : {}),
      ...(m.lastError !== undefined ? { lastError: m.lastError } : {}),
      devices: m.list().map((d) => d.name),
    }));
  }

  status(): LabStatus {
    const clients: LabStatus['clients'] = {};
    for (const c of this.clientStatuses()) clients[c.name] = { connected: c.connected, values: c.values };
    const archive = archiveHealth(this.archive);
    const connections = this.server?.connectionCount ?? 0;
    const devicesConnected = Object.values(clients).filter((c) => c.connected).length;
    return { nconnected: connections, clientsConnected: connections, devicesConnected, clients, ...(archive ? { archive } : {}) };
  }

  health(): MonitorHealth {
    // Links of this monitor only: a lower monitor's devices are not links of ours; its own
    // connection is, under the monitor peer's name (listed whether or not it ever connected).
    const peers: MonitorHealth['peers'] = this.peerList.filter((p): p is Peer => p instanceof Peer).map((p) => ({
      name: p.name,
      protocol: p.protocol,
      connected: p.connected,
      reconnects: Math.max(0, p.counts.ups - 1),
      timeouts: p.counts.timeouts,
    }));
    for (const m of this.monitorPeers.values()) {
      peers.push({ name: m.name, protocol: 'monitor', connected: m.up, reconnects: Math.max(0, m.counts.ups - 1), timeouts: m.counts.timeouts });
    }
    const server = this.server;
    if (!server) return { peers };
    const refused = server.refusedCounters;
    return { peers, port: { connections: server.connectionCount, rateLimited: refused.rateLimited, connectionsRefused: refused.connections } };
  }

  async send(client: string, line: string, actor: MonitorActor): Promise<string> {
    const { peer, body, cmd, kind } = this.prepare(client, line);
    const command = cmd.name ?? '';
    if (kind !== 'read' && this.readOnly) {
      const err = new LabwireError('ReadOnly', `the monitor is read-only: "${command}" would change ${client}, and only reads are forwarded`, 'send');
      await this.auditRefusal(client, body, actor, err);
      throw err;
    }
    if (kind === 'read') return peer.forward(body, command, actor);
    // State-changing: audited with the values of the parameters a `set` names, before and after.
    const names = command === 'set' ? Object.keys(cmd.kwargs) : [];
    const before = pick(peer.values, names);
    let result: string;
    let failure: unknown;
    try {
      result = await peer.forward(body, command, actor);
    } catch (err) {
      failure = err;
      result = formatErrorReply(err instanceof LabwireError ? err : new LabwireError('InternalError', String(err), 'send'));
    }
    const t = Date.now();
    // Confirmed: whoever gets the reply may rely on the audit row being committed.
    const audited = this.feed.audit({ t, who: actor.who, peer: actor.peer, device: client, command: body, before, after: pick(peer.values, names), result }, true);
    const failed = failure !== undefined || result.startsWith('error');
    void this.addEntry({ t, source: actor.who, level: failed ? 'warning' : 'info', message: `send ${client} ${body} → ${result}` });
    this.logger.info({ who: actor.who, peer: actor.peer, device: client, command: body, result }, 'command sent through the monitor');
    await this.confirmAudit(audited, client, body);
    if (failure !== undefined) throw failure;
    return result;
  }

  /**
   * Adds an entry to the message log and settles after the archive has committed it (at once,
   * not with the next batch), so that the `ok info` a script receives means the line is kept.
   */
  message(source: string, level: LogLevel, text: string): Promise<LogReceipt> {
    return this.addEntry({ t: Date.now(), source, level, message: text }, true);
  }

  /** Audits a state-changing line refused before it reached the device (read-only, role, rate limit); settles after the commit. */
  auditRefusal(client: string, line: string, actor: MonitorActor, err: LabwireError): Promise<void> {
    const audited = this.feed.audit({ t: Date.now(), who: actor.who, peer: actor.peer, device: client, command: line.trim(), before: {}, after: {}, result: `refused ${err.code}: ${err.message}` }, true);
    this.logger.info({ who: actor.who, peer: actor.peer, device: client, command: line.trim(), code: err.code }, 'command refused by the monitor');
    return this.confirmAudit(audited, client, line.trim());
  }

  /** Waits for an audit row's commit; one that failed is said in the log (the archive feed reports the failure itself). */
  private async confirmAudit(audited: Promise<LogReceipt>, client: string, command: string): Promise<void> {
    const receipt = await audited;
    if (!receipt.stored && receipt.reason !== undefined) {
      this.logger.warn({ device: client, command, reason: receipt.reason }, 'the audit row of a command is not confirmed in the archive; the command was answered anyway');
    }
  }

  recentMessages(limit?: number): LogEntry[] {
    return this.log.recent(limit);
  }

  alarms(): AlarmState[] {
    return this.alarmEngine.states();
  }

  acknowledge(id: string, actor: MonitorActor): AlarmState {
    const current = this.alarmEngine.state(id);
    if (!current) {
      const known = this.alarmEngine.states().map((a) => a.id).join(', ') || 'none';
      throw new LabwireError('NoSuchParameter', `no alarm "${id}"; alarms: ${known}`, 'ack');
    }
    let tr: AlarmTransition;
    try {
      tr = this.alarmEngine.acknowledge(id, actor.who, Date.now());
    } catch (err) {
      throw new LabwireError('ProtocolError', err instanceof Error ? err.message : String(err), 'ack');
    }
    this.logger.info({ alarm: id, who: actor.who, peer: actor.peer }, 'alarm acknowledged');
    this.alarmNotify([tr]);
    return tr.state;
  }

  async fetchImage(client: string, path: string): Promise<Buffer> {
    const peer = this.peerMap.get(client);
    if (!peer) throw new LabwireError('ProtocolError', `unknown client "${client}"; clients: ${this.peerList.map((p) => p.name).join(', ') || 'none'}`, 'image');
    if (!(peer instanceof Peer)) throw new LabwireError('ProtocolError', `${client} is a device of a lower monitor: fetch its images from that monitor`, 'image');
    if (!peer.connected) {
      throw new LabwireError('CommunicationFailed', `${client} is not connected${peer.lastError ? ` (${peer.lastError})` : ''}; its images can be fetched once it is back`, 'image');
    }
    if (!isImageSource(peer)) throw new LabwireError('ProtocolError', `${client} is not an image source (its describe lists no image_info command)`, 'image');
    const { data } = await peer.fetchBinary(`image path=${quote(path)}`, { maxBytes: this.imageMaxBytes, timeoutMs: this.imageFetchTimeoutMs });
    return data;
  }

  /** Resolves when every image_info request queued so far has settled (tests). */
  imagesIdle(): Promise<void> {
    return this.images.idle();
  }

  /** The hooks' delivery queues, for tests and status pages. */
  alarmHookStats(): Array<{ url: string; delivered: number; failed: number; dropped: number; queued: number }> {
    return this.alarmHooks.map((h) => ({ url: h.url, ...h.stats }));
  }

  // ---- internals ------------------------------------------------------------------------------

  /**
   * Seeds the engine with the alarms that were raised or acknowledged when the monitor last
   * stopped (their newest row in the archive's alarm history), so they are neither raised nor
   * notified again and keep who acknowledged them. Nothing goes to the hooks or the archive: no
   * state changed. A failing read is logged and the monitor starts with every alarm ok, as it
   * did before the archive kept alarm states. Returns the message log entries to add.
   */
  private async restoreAlarms(): Promise<LogEntry[]> {
    const archive = this.archive;
    if (!archive?.alarmHistory || this.alarmEngine.size === 0) return [];
    const ids = this.alarmEngine.states().map((a) => a.id);
    const saved = new Map<string, RestoredAlarm>();
    try {
      for (const id of ids) {
        const r = restoredFromHistory(await archive.alarmHistory({ id, limit: RESTORE_ROWS }));
        if (r) saved.set(id, r);
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.logger.error({ err }, 'archive: cannot read the alarm history; alarm states are not restored');
      return [{ t: Date.now(), source: this.name, level: 'warning', message: `alarm states not restored after the restart: cannot read the archive's alarm history: ${reason}` }];
    }
    const now = Date.now();
    const entries: LogEntry[] = [];
    for (const [id, r] of saved) {
      let state: AlarmState | undefined;
      try {
        state = this.alarmEngine.restore(id, r, now);
      } catch (err) {
        this.logger.error({ err, alarm: id }, 'cannot restore an alarm state');
        continue;
      }
      if (!state) continue;
      const iso = (t: number): string => new Date(t).toISOString();
      const detail = state.state === 'acknowledged' ? `by ${state.acknowledgedBy ?? '?'} at ${iso(state.acknowledgedAt ?? 0)}, raised at ${iso(r.raisedAt)}` : `raised at ${iso(r.raisedAt)}`;
      const message = `alarm ${id} restored as ${state.state} (${detail}) after a monitor restart`;
      this.logger.info({ alarm: id, state: state.state }, 'alarm state restored from the archive');
      entries.push({ t: now, source: 'alarms', level: 'info', message });
    }
    return entries;
  }

  /**
   * Checks a line to forward: the client exists, the line parses, names a command and is one the
   * monitor forwards. Throws LabwireError('ProtocolError') otherwise.
   */
  private prepare(client: string, line: string): { peer: LabDevice; body: string; cmd: Command; kind: LineKind } {
    const peer = this.peerMap.get(client);
    if (!peer) {
      const known = this.peerList.map((p) => p.name).join(', ') || 'none';
      const below = this.monitorPeers.get(client);
      const note = this.disabled.has(client)
        ? ` (client "${client}" is disabled in the config)`
        : below ? ` ("${client}" is a monitor: send to one of its devices, ${below.list().map((d) => d.name).join(', ') || 'none known yet'})` : '';
      throw new LabwireError('ProtocolError', `unknown client "${client}"${note}; clients: ${known}`, 'send');
    }
    const body = line.trim();
    if (body === '') throw new LabwireError('ProtocolError', `nothing to send to ${client}: send <client> <line ...>`, 'send');
    if (/[\r\n\0]/.test(body)) throw new LabwireError('ProtocolError', `the line for ${client} holds a line break or NUL; send one line at a time`, 'send');
    let cmd: Command;
    try {
      cmd = parseLine(body);
    } catch (err) {
      throw new LabwireError('ProtocolError', `cannot forward to ${client}: ${err instanceof Error ? err.message : String(err)}`, 'send');
    }
    if (cmd.name === null) throw new LabwireError('ProtocolError', `the line for ${client} has no command name`, 'send');
    const why = NOT_FORWARDED.get(cmd.name);
    if (why !== undefined) throw new LabwireError('ProtocolError', `the monitor does not forward "${cmd.name}": ${why}`, 'send');
    if (peer.describe?.commands[cmd.name]?.binary) {
      throw new LabwireError(
        'ProtocolError',
        `${client} answers "${cmd.name}" with a binary block, which send cannot pass on as a line; download images from the web API (/api/images) or ask the daemon directly`,
        'send',
      );
    }
    return { peer, body, cmd, kind: lineKind(cmd.name, peer.protocol, peer.describe) };
  }

  private backend(): MonitorBackend {
    return {
      name: this.name,
      version: this.version,
      readOnly: this.readOnly,
      clientStatuses: () => this.clientStatuses(),
      archiveHealth: () => archiveHealth(this.archive),
      labState: () => this.labState(),
      clientList: () => this.peerList.map((p) => ({ name: p.name, connected: p.connected, endpoint: p.endpoint, protocol: p.protocol })),
      prepareSend: (client, line) => {
        const { cmd, kind } = this.prepare(client, line);
        return { kind, command: cmd.name ?? '' };
      },
      send: (client, line, actor) => this.send(client, line, actor),
      auditRefusal: (client, line, actor, err) => this.auditRefusal(client, line, actor, err),
      message: (source, level, text) => this.message(source, level, text),
      alarms: () => this.alarms(),
      acknowledge: (id, actor) => this.acknowledge(id, actor),
      requestExit: (reason, actor) => {
        const refusal = this.options.exitRefusal;
        if (refusal !== undefined) {
          const err = new LabwireError('Disabled', refusal, 'exit');
          void this.auditRefusal(this.name, 'exit', actor, err);
          return err;
        }
        const t = Date.now();
        this.feed.audit({ t, who: actor.who, peer: actor.peer, device: this.name, command: 'exit', before: {}, after: {}, result: 'ok exit' });
        this.addEntry({ t, source: this.name, level: 'warning', message: reason });
        // After the reply: the client reads `ok exit` before the listener goes.
        setImmediate(() => this.emit('exit', reason));
        return undefined;
      },
    };
  }

  /**
   * The lab as this monitor sees it, for image headers (`snapshot`): every peer with its values
   * (the last known ones when it is not connected) and the units its describe gives.
   */
  labState(): LabState {
    const devices: LabDeviceState[] = this.peerList.map((p) => {
      const units: Record<string, string> = p instanceof RemoteDevice ? { ...p.units } : {};
      for (const [k, decl] of Object.entries(p.describe?.params ?? {})) if (decl.unit) units[k] = decl.unit;
      // The monitors a lower monitor's device came through: a monitor above this one refuses loops with it.
      return { name: p.name, protocol: p.protocol, connected: p.connected, values: { ...p.values }, units, ...(p.monitors.length > 0 ? { monitors: [...p.monitors] } : {}) };
    });
    return { t: Date.now(), source: `monitor ${this.name}`, devices };
  }

  private clientStatuses(): ClientStatus[] {
    return this.peerList.map((p) => ({ name: p.name, connected: p.connected, values: p.connected ? { ...p.values } : {} }));
  }

  /** `confirmed`: commit it now and settle after the commit (see ArchiveFeed). */
  private addEntry(entry: LogEntry, confirmed = false): Promise<LogReceipt> {
    this.log.add(entry);
    const receipt = this.feed.log(entry, confirmed);
    this.server?.pushLog(entry);
    this.emit('message', entry);
    return receipt;
  }

  private seriesPolicy(peer: LabDevice, name: string, param?: DescribeDoc['params'][string]): SeriesPolicy {
    const site = peer.config.archive && Object.hasOwn(peer.config.archive, name) ? peer.config.archive[name] : undefined;
    const policy: SeriesPolicy = { heartbeatMs: site?.heartbeatMs ?? this.heartbeatMs };
    if (param?.unit) policy.unit = param.unit;
    if (param) policy.type = NUMERIC_TYPES.has(param.type) ? 'number' : 'text';
    // `deadband` is the daemon's archive hint, when its describe carries one.
    const hint = param?.deadband;
    const deadband = site?.deadband ?? (typeof hint === 'number' && Number.isFinite(hint) ? hint : undefined);
    if (deadband !== undefined) policy.deadband = deadband;
    return policy;
  }

  private configure(peer: LabDevice, name: string, policy: SeriesPolicy): void {
    const key = `${peer.name}\u0000${name}`;
    this.heartbeats.set(key, policy.heartbeatMs ?? this.heartbeatMs);
    const text = JSON.stringify(policy);
    if (this.configured.get(key) === text) return;
    this.configured.set(key, text);
    this.feed.configure(peer.name, name, policy);
  }

  private onDescribed(peer: LabDevice): void {
    const doc = peer.describe;
    const text = JSON.stringify(doc ?? null);
    const changed = this.describedAs.get(peer.name) !== text;
    this.describedAs.set(peer.name, text);
    if (doc && peer.archived) {
      const numeric = this.numeric.get(peer.name)!;
      for (const [name, param] of Object.entries(doc.params)) {
        if (NUMERIC_TYPES.has(param.type)) numeric.add(name);
        this.configure(peer, name, this.seriesPolicy(peer, name, param));
      }
    }
    if (changed) this.emit('peer', peer.state());
  }

  /** Archive samples of a peer's values; configures series seen for the first time. */
  private samples(peer: LabDevice, t: number, values: Readonly<Record<string, PeerValue>>): Sample[] {
    // A lower monitor's devices are archived there (unless its peer says archive: true).
    if (!peer.archived) return [];
    const numeric = this.numeric.get(peer.name)!;
    const samples: Sample[] = [];
    for (const [name, v] of Object.entries(values)) {
      const key = `${peer.name}\u0000${name}`;
      if (!this.configured.has(key)) this.configure(peer, name, this.seriesPolicy(peer, name));
      const value = sampleValue(v);
      if (typeof value === 'number') numeric.add(name);
      // A null of a series never seen as a number would create a series of unknown type.
      else if (value === null && !numeric.has(name)) continue;
      samples.push({ device: peer.name, name, t, value });
      this.lastWritten.set(key, t);
    }
    return samples;
  }

  /**
   * The heartbeat: labwire daemons push changes only, so a value that does not change would
   * reach the archive once and never again. Every value of a connected peer that the archive has
   * not been handed for its series' heartbeat is handed over again, with the current time.
   */
  private refeed(): void {
    const t = Date.now();
    const samples: Sample[] = [];
    for (const peer of this.peerList) {
      if (!peer.connected || !peer.archived) continue;
      const due: Record<string, PeerValue> = {};
      let any = false;
      for (const [name, v] of Object.entries(peer.values)) {
        const key = `${peer.name}\u0000${name}`;
        if (t - (this.lastWritten.get(key) ?? 0) < (this.heartbeats.get(key) ?? this.heartbeatMs)) continue;
        Object.defineProperty(due, name, { value: v, enumerable: true, writable: true, configurable: true });
        any = true;
      }
      if (any) samples.push(...this.samples(peer, t, due));
    }
    this.feed.write(samples);
  }

  private onValues(peer: LabDevice, t: number, changes: Record<string, PeerValue>, full: boolean): void {
    const samples = this.samples(peer, t, changes);
    this.feed.write(samples);
    // Images of a lower monitor's devices are indexed by that monitor.
    if (peer instanceof Peer) this.images.values(peer, changes, full);
    const values = { ...changes };
    this.emit('update', { client: peer.name, t, values } satisfies MonitorUpdate);
    this.server?.pushValues(peer.name, t, values);
    if (this.alarmEngine.size > 0) this.alarmNotify(this.alarmEngine.update(peer.name, values, t));
    if (full) this.logger.debug({ peer: peer.name, n: samples.length }, 'peer snapshot');
  }

  private onLink(peer: LabDevice, up: boolean, t: number): void {
    if (!up) this.writeGap(peer, t);
    this.addEntry({ t, source: peer.name, level: up ? 'info' : 'warning', message: `${peer.name} ${up ? 'connected' : 'disconnected'}` });
    this.logger.info({ peer: peer.name, endpoint: peer.endpoint, reason: peer.lastError }, up ? 'peer connected' : 'peer disconnected');
    this.server?.pushLink(peer.name, up, t);
    this.emit('peer', peer.state());
    if (this.alarmEngine.size > 0) this.alarmNotify(this.alarmEngine.link(peer.name, up, t));
  }

  /**
   * Tells everyone about alarm transitions — the event, the message log, the archive's alarm
   * history, the hooks' queues — and re-arms the timer for the next delay. Nothing here waits for
   * the archive or a hook.
   */
  private alarmNotify(transitions: AlarmTransition[]): void {
    for (const tr of transitions) {
      this.emit('alarm', tr.state, tr);
      const level: LogLevel = !HOOKED.has(tr.to)
        ? 'debug'
        : tr.to === 'raised'
          ? tr.severity === 'critical' ? 'error' : tr.severity === 'warning' ? 'warning' : 'info'
          : tr.to === 'cleared' ? 'success' : 'info';
      this.addEntry({ t: tr.t, source: 'alarms', level, message: `alarm ${tr.id} ${tr.to}: ${tr.message}` });
      if (HOOKED.has(tr.to) && this.archive?.alarm) {
        const entry = { t: tr.t, id: tr.id, from: tr.from, to: tr.to, severity: tr.severity, message: tr.message, value: tr.value, ...(tr.who !== undefined ? { who: tr.who } : {}) };
        this.archive.alarm(entry).catch((err: unknown) => this.logger.error({ err, alarm: tr.id }, 'archive: cannot store an alarm transition'));
      }
      for (const hook of this.alarmHooks) hook.notify(tr);
    }
    this.armAlarmTimer();
  }

  private armAlarmTimer(): void {
    const next = this.closing ? undefined : this.alarmEngine.nextDeadline();
    // Most updates leave the next deadline where it was: keep the timer.
    if (next === this.alarmTimerAt && (next === undefined || this.alarmTimer !== undefined)) return;
    clearTimeout(this.alarmTimer);
    this.alarmTimer = undefined;
    this.alarmTimerAt = next;
    if (next === undefined) return;
    this.alarmTimer = setTimeout(() => {
      this.alarmTimer = undefined;
      this.alarmTimerAt = undefined;
      this.alarmNotify(this.alarmEngine.tick(Date.now()));
    }, Math.max(0, next - Date.now()) + 1);
    this.alarmTimer.unref();
  }

  /** A device of a lower monitor appeared: it is shown like any peer from now on. */
  private onAdded(device: RemoteDevice): void {
    const clash = this.peerMap.get(device.name);
    if (clash) {
      // Cannot happen with checked names (a local name holds no "/"); said rather than shown twice.
      this.logger.error({ device: device.name }, 'a device of a lower monitor has the name of another client; left out');
      return;
    }
    this.peerList.push(device);
    this.peerMap.set(device.name, device);
    this.numeric.set(device.name, new Set());
    this.logger.info({ device: device.name, via: device.parent.name }, 'device of a lower monitor added');
    this.emit('peer', device.state());
    // A monitor above this one learns of it at once (a key it does not know asks for a snapshot).
    this.server?.pushLink(device.name, device.connected, Date.now());
  }

  /** The lower monitor no longer lists a device: it goes (shown disconnected first if it was up). */
  private onRemoved(device: RemoteDevice): void {
    if (this.peerMap.get(device.name) !== device) return;
    const t = Date.now();
    const wasUp = device.connected;
    device.connected = false;
    device.lastError = `no longer listed by monitor ${device.parent.name}`;
    if (wasUp) this.onLink(device, false, t);
    this.peerMap.delete(device.name);
    const i = this.peerList.indexOf(device);
    if (i >= 0) this.peerList.splice(i, 1);
    this.numeric.delete(device.name);
    this.forget(device.name);
    this.addEntry({ t, source: device.name, level: 'info', message: `${device.name} removed: monitor ${device.parent.name} no longer lists it` });
    // A page keeps showing it, disconnected with the reason, until it is reloaded.
    if (!wasUp) this.emit('peer', device.state());
  }

  /**
   * Drops what the monitor remembers of a device that went: a device of that name added again
   * later hands its describe to the page anew (onDescribed compares with describedAs) and has its
   * series configured again; and devices coming and going below do not grow these maps.
   */
  private forget(name: string): void {
    this.describedAs.delete(name);
    const prefix = `${name}\u0000`;
    for (const map of [this.configured, this.heartbeats, this.lastWritten]) {
      for (const key of [...map.keys()]) if (key.startsWith(prefix)) map.delete(key);
    }
  }

  /** A null sample for every numeric series of the peer: the gap stays visible in the history. */
  private writeGap(peer: LabDevice, t: number): void {
    if (!peer.archived) return;
    const names = this.numeric.get(peer.name);
    if (!names || names.size === 0) return;
    this.feed.write([...names].map((name) => ({ device: peer.name, name, t, value: null })));
  }
}

/** Starts a monitor: its port first (an occupied port fails here), then the peer connections. */
export async function startMonitor(options: MonitorOptions): Promise<Monitor> {
  const monitor = new Monitor(options);
  try {
    await monitor.start();
  } catch (err) {
    await monitor.close();
    throw err;
  }
  return monitor;
}
