/**
 * A lower monitor as a peer (`peers[]` with `protocol: monitor`, docs/decisions/0023): one
 * LabwireClient to its port, and one RemoteDevice per device it shows, named
 * `<peer name>/<its client name>` on this monitor.
 *
 * - Handshake after every connect: `id name=<this monitor> type=monitor`, then `get_id` (it must
 *   say type=monitor), `subscribe` and `snapshot` pipelined. The snapshot's structured device list
 *   is the truth about which devices exist, their values, units and connection flags; pushed
 *   `update` lines are matched against keys BUILT from that list (`<device>.<param>`, `<device>`),
 *   never by splitting a key. A key the list does not know (a new device or parameter below)
 *   asks for a fresh snapshot, and so does a link push; a snapshot every RESYNC_MS catches
 *   devices that went away.
 * - Floods: pushed values are applied to the device's map at once and handed on at most every
 *   FLUSH_MS, one batch of changed keys per device, so what the monitor does with them (archive,
 *   alarms, subscribers, the web) is bounded by the number of keys, not by the rate of updates.
 *   Updates that arrive while a snapshot is asked for wait in a bounded list (MAX_EARLY).
 * - Late answers: a `ping` when nothing was heard for a poll interval; one unanswered within the
 *   peer timeout marks the lower monitor hung, and every device of it disconnected, until a line
 *   comes again (then a fresh snapshot). Every request has a timeout.
 * - Loops: each device carries the monitors its values came through (`monitors` in `snapshot`).
 *   A device whose list holds this monitor's name, or that came through more than MAX_DEPTH
 *   monitors, is left out (said once in the log); a lower monitor called as this one is refused.
 * - `send` to a device goes as `send <device> <line>`, for an end user as `as user=<who>
 *   role=<role> send <device> <line>` (docs/decisions/0009): the lower monitor accepts `as` from
 *   a token marked forward, runs the send as `<who> via <this monitor>` with the lower of the two
 *   roles, and forwards it to the daemon the same way.
 */
import { LabwireClient, convertValue, type LogEntry as ClientLogEntry, type Update } from '../client/index.js';
import { lineBody } from '../wire/tokenize.js';
import { LabwireError, formatCommand, makeCommand, quote, type DescribeDoc, type Reply } from '../wire/index.js';
import type { Logger } from '../util/logger.js';
import type { LabDevice } from './device.js';
import { MONITOR_DEFAULTS, type PeerConfig } from './options.js';
import { labwireIsPush, toLogLevel, type PeerHooks, type PeerTiming } from './peer.js';
import type { MonitorActor, PeerState, PeerValue, PlotConfig } from './types.js';
import { clientNameProblem, labwireValue } from './values.js';

/** Pushed values are handed on at most this often (per lower monitor). */
export const FLUSH_MS = 50;
/** A full snapshot this often, whatever else happened: devices that went away below disappear here. */
export const RESYNC_MS = 30_000;
/** Snapshots asked because of an unknown key or a link push come at most this often. */
const MIN_RESYNC_GAP_MS = 250;
/** Updates kept while a snapshot is under way; beyond, they are dropped and another snapshot follows. */
export const MAX_EARLY = 10_000;
/** A device that came through more monitors than this is left out (a loop under other names). */
export const MAX_DEPTH = 8;
/** Longest client name taken from a lower monitor. */
const MAX_NAME = 200;
const MAX_PROBE_MS = 5000;
const INIT_RETRY_MS = 10_000;
const GAVE_UP_RETRY_MS = 30_000;
const CLOCK_SLACK_MS = 60_000;

export interface MonitorPeerHooks extends PeerHooks {
  /** A device appeared below: show it. */
  added(device: RemoteDevice): void;
  /** A device is no longer listed below: remove it. */
  removed(device: RemoteDevice): void;
}

interface SnapshotDevice {
  name: string;
  connected: boolean;
  values: Record<string, PeerValue>;
  units: Record<string, string>;
  monitors: string[];
  /** The device's own protocol below; absent from a lower monitor that does not say it. */
  protocol?: 'labwire' | 'ccdlab';
}

function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isCode(err: unknown, code: LabwireError['code']): boolean {
  return err instanceof LabwireError && err.code === code;
}

function clip(s: string, n = 300): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A lower monitor's `snapshot_json {…}` reply, checked field by field; a malformed entry is skipped. */
export function parseSnapshot(line: string): { t: number; devices: SnapshotDevice[] } {
  if (!line.startsWith('snapshot_json ')) throw new LabwireError('ProtocolError', `expected "snapshot_json {…}", got "${clip(line, 80)}"`, 'snapshot');
  let doc: unknown;
  try {
    doc = JSON.parse(lineBody(line, 1));
  } catch (err) {
    throw new LabwireError('ProtocolError', `snapshot_json is not JSON: ${message(err)}`, 'snapshot');
  }
  if (!isObject(doc) || !Array.isArray(doc.devices)) throw new LabwireError('ProtocolError', 'snapshot_json without a devices list', 'snapshot');
  const devices: SnapshotDevice[] = [];
  for (const d of doc.devices as unknown[]) {
    if (!isObject(d) || typeof d.name !== 'string' || d.name === '') continue;
    const values = record<PeerValue>();
    if (isObject(d.values)) {
      for (const [k, v] of Object.entries(d.values)) {
        if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') values[k] = v;
      }
    }
    const units = record<string>();
    if (isObject(d.units)) for (const [k, u] of Object.entries(d.units)) if (typeof u === 'string') units[k] = u;
    const monitors = Array.isArray(d.monitors) ? d.monitors.filter((m): m is string => typeof m === 'string') : [];
    const protocol = d.protocol === 'labwire' || d.protocol === 'ccdlab' ? d.protocol : undefined;
    devices.push({ name: d.name, connected: d.connected === true, values, units, monitors, ...(protocol ? { protocol } : {}) });
  }
  const t = typeof doc.t === 'number' && Number.isFinite(doc.t) ? doc.t : 0;
  return { t, devices };
}

/** A device of a lower monitor, as this monitor shows it. */
export class RemoteDevice implements LabDevice {
  /** What the lower monitor's snapshot says the device speaks (undefined: it did not say). */
  declaredProtocol: 'labwire' | 'ccdlab' | undefined;
  /** The client name here, made from the two structured parts; nothing ever splits it again. */
  readonly name: string;
  readonly config: { plots: PlotConfig[]; description?: string };
  values = record<PeerValue>();
  ts = record<number>();
  units = record<string>();
  describe: DescribeDoc | undefined;
  monitors: readonly string[];
  /** What the lower monitor says of the device's own connection. */
  lowerConnected = false;
  /** What this monitor last reported (hooks.link): the device is connected and so is its monitor. */
  connected = false;
  since = Date.now();
  lastError: string | undefined;

  constructor(
    readonly parent: MonitorPeer,
    /** Its client name on the lower monitor, passed back as is in `send`. */
    readonly below: string,
    monitors: readonly string[],
  ) {
    this.name = `${parent.name}/${below}`;
    this.monitors = monitors;
    this.config = { plots: [], ...(parent.config.description !== undefined ? { description: `${parent.config.description}: ${below}` } : {}) };
  }

  /**
   * Decides which lines are reads (lineKind): for a CCDLab device `describe`, `programme_status`
   * … are raw writes to the instrument. Until the snapshot or a labwire/1 describe says
   * otherwise it is taken for CCDLab, the side on which a viewer can run nothing it should not.
   */
  get protocol(): 'labwire' | 'ccdlab' {
    if (this.declaredProtocol !== undefined) return this.declaredProtocol;
    return this.describe?.protocol === 'labwire/1' ? 'labwire' : 'ccdlab';
  }

  get endpoint(): string {
    return this.parent.endpoint;
  }

  get archived(): boolean {
    return this.parent.config.archiveDevices === true;
  }

  state(): PeerState {
    return {
      name: this.name,
      protocol: this.protocol,
      host: this.parent.host,
      port: this.parent.port,
      via: { monitor: this.parent.name, device: this.below },
      ...(this.config.description !== undefined ? { description: this.config.description } : {}),
      connected: this.connected,
      since: this.since,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.describe ? { describe: this.describe } : {}),
      values: { ...this.values },
      ts: { ...this.ts },
    };
  }

  forward(line: string, command: string, actor?: MonitorActor): Promise<string> {
    return this.parent.forwardTo(this, line, command, actor);
  }
}

export class MonitorPeer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Handshake done and answering: its devices' own flags count. */
  up = false;
  /** The name the lower monitor gives itself (`get_id`). */
  lowerName: string | undefined;
  lastError: string | undefined;
  /** For metrics (Monitor.health): times it came up (handshake done, or answering again), and requests or probes left unanswered in time. */
  readonly counts = { ups: 0, timeouts: 0 };

  private readonly client: LabwireClient;
  private readonly devices = new Map<string, RemoteDevice>();
  /** `<device>` and `<device>.<param>` as the lower monitor writes them in pushes → what they are. */
  private index = new Map<string, { device: RemoteDevice; param: string | null }>();
  private gen = 0;
  private linkUp = false;
  private hung = false;
  private closed = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private initTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private probeDelay: number;
  private probing = false;
  private inflight = 0;
  private lastHeard = 0;
  private lastSnapshotAt = 0;
  private snapshotting = false;
  private snapshotWanted = false;
  /** Updates that arrived while a snapshot was asked for (null: none is). */
  private early: Update[] | null = null;
  private earlyOverflow = false;
  private readonly pending = new Map<RemoteDevice, Record<string, PeerValue>>();
  private readonly describeQueue: RemoteDevice[] = [];
  private describing = false;
  private identityRefused = false;
  private identityRefusalReported = false;
  private failureReported = false;
  private initFailureReported = false;
  private readonly loopsReported = new Set<string>();
  private dropReason: string | undefined;

  constructor(
    readonly config: PeerConfig,
    private readonly monitorName: string,
    private readonly timing: PeerTiming,
    private readonly hooks: MonitorPeerHooks,
    private readonly logger: Logger,
  ) {
    this.name = config.name;
    this.host = config.host;
    this.port = config.port;
    this.probeDelay = timing.pollMs;
    const maxBytes = config.maxReplyBytes ?? MONITOR_DEFAULTS.peerMaxReplyBytes;
    this.client = new LabwireClient({
      host: config.host,
      port: config.port,
      ...(config.tls ? { tls: { ...config.tls, rejectUnauthorized: config.tls.rejectUnauthorized ?? true } } : {}),
      maxLineLength: maxBytes,
      maxBinaryLength: maxBytes,
      ...(config.token !== undefined ? { token: config.token } : {}),
      reconnect: true,
      requestTimeoutMs: timing.sendTimeoutMs,
      backoff: { initialMs: 250, maxMs: 5000 },
      isPush: labwireIsPush,
    });
    this.client.on('connected', () => this.onConnected());
    this.client.on('disconnected', (reason) => this.onDisconnected(reason));
    this.client.on('reconnecting', ({ error }) => this.onAttemptFailed(error));
    this.client.on('reconnectFailed', (err) => this.onGaveUp(err));
    this.client.on('push', () => this.heard());
    this.client.on('update', (u) => this.onUpdate(u));
    this.client.on('log', (e) => this.onLog(e));
    this.client.on('oversize', (info) => {
      if (this.linkUp) this.dropReason = info.message;
      this.hooks.log(this, 'error', `${this.name} (${this.endpoint}) sent ${info.message}; reconnecting. The limit is maxReplySize in the lab file.`, Date.now());
    });
  }

  get endpoint(): string {
    return this.client.endpoint;
  }

  /** The devices shown, in the lower monitor's order. */
  list(): RemoteDevice[] {
    return [...this.devices.values()];
  }

  start(): void {
    if (this.closed) return;
    this.client.connect().catch((err: unknown) => {
      if (!this.closed) this.onGaveUp(err instanceof Error ? err : new Error(String(err)));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.gen++;
    for (const t of [this.probeTimer, this.resyncTimer, this.flushTimer, this.initTimer, this.restartTimer]) clearTimeout(t);
    await this.client.close();
  }

  // ---- send -----------------------------------------------------------------------------------

  async forwardTo(device: RemoteDevice, line: string, command: string, actor?: MonitorActor): Promise<string> {
    if (!this.up || !this.client.connected) {
      throw new LabwireError('CommunicationFailed', `${device.name}: monitor "${this.name}" (${this.endpoint}) is not connected${this.lastError ? `: ${this.lastError}` : ''}`, 'send');
    }
    const plain = `send ${quote(device.below)} ${line}`;
    if (actor?.role != null && this.config.token !== undefined && !this.identityRefused) {
      const reply = await this.request(`as user=${quote(actor.who)} role=${actor.role} ${plain}`, command);
      if (!/^error as /.test(reply.line) || !/ code=(Unauthorized|NoSuchCommand)(\s|$)/.test(reply.line)) return reply.line;
      this.identityRefused = true;
      this.logger.warn({ peer: this.name, reply: clip(reply.line) }, 'the lower monitor does not take forwarded identities');
      if (!this.identityRefusalReported) {
        this.identityRefusalReported = true;
        this.hooks.log(this, 'warning', `monitor ${this.name} does not take the names of end users from this monitor (${clip(reply.line, 160)}); commands go as this monitor's own. Mark this monitor's token "forward" in its token file.`, Date.now());
      }
    }
    return (await this.request(plain, command)).line;
  }

  /** One request on the connection; counted so that no liveness ping waits behind it. */
  private async request(line: string, command: string, timeoutMs = this.timing.sendTimeoutMs): Promise<Reply> {
    this.inflight++;
    try {
      const reply = await this.client.requestLine(line, { timeoutMs });
      this.heard();
      if (reply.binary) throw new LabwireError('ProtocolError', `monitor ${this.name} answered with binary data, which send cannot pass on`, 'send');
      return reply;
    } catch (err) {
      if (isCode(err, 'Timeout')) {
        this.counts.timeouts++;
        throw new LabwireError('Timeout', `no reply from monitor ${this.name} within ${timeoutMs} ms`, command);
      }
      if (isCode(err, 'CommunicationFailed')) throw new LabwireError('CommunicationFailed', `the connection to monitor ${this.name} was lost before it replied`, command);
      throw err;
    } finally {
      this.inflight--;
    }
  }

  // ---- connection lifecycle -------------------------------------------------------------------

  private onConnected(): void {
    if (this.closed) return;
    const gen = ++this.gen;
    this.linkUp = true;
    this.hung = false;
    this.probing = false;
    this.probeDelay = this.timing.pollMs;
    this.lastHeard = Date.now();
    this.failureReported = false;
    this.identityRefused = false;
    this.client.notify(formatCommand(makeCommand('id', [], { name: this.monitorName, type: 'monitor' })));
    void this.handshake(gen);
  }

  private onDisconnected(reason: string): void {
    this.flush();
    this.gen++;
    this.linkUp = false;
    this.hung = false;
    this.early = null;
    this.snapshotting = false;
    this.snapshotWanted = false;
    for (const t of [this.probeTimer, this.resyncTimer, this.initTimer]) clearTimeout(t);
    this.lastError = this.dropReason ?? reason;
    this.dropReason = undefined;
    if (this.up) {
      this.failureReported = true;
      this.hooks.log(this, 'warning', `monitor ${this.name} (${this.endpoint}) lost: ${this.lastError}; its devices are shown disconnected`, Date.now());
    }
    this.setUp(false, `lost the connection to monitor ${this.name}: ${this.lastError}`);
  }

  private onAttemptFailed(error: Error): void {
    if (this.closed) return;
    this.lastError = error.message;
    if (this.failureReported) return;
    this.failureReported = true;
    this.hooks.log(this, 'warning', `${this.name}: cannot connect to monitor ${this.endpoint} (${error.message}); retrying`, Date.now());
  }

  private onGaveUp(err: Error): void {
    if (this.closed || this.restartTimer) return;
    this.lastError = err.message;
    this.hooks.log(this, 'error', `${this.name}: ${err.message}; trying again every ${GAVE_UP_RETRY_MS / 1000} s`, Date.now());
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, GAVE_UP_RETRY_MS);
  }

  private async handshake(gen: number): Promise<void> {
    this.early = [];
    this.earlyOverflow = false;
    this.snapshotting = true;
    const [id, sub, snap] = await Promise.allSettled([this.client.request('get_id'), this.client.request('subscribe'), this.client.request('snapshot')]);
    if (gen !== this.gen || this.closed) return;
    this.snapshotting = false;
    let refused: unknown = id.status === 'rejected' ? id.reason : sub.status === 'rejected' ? sub.reason : snap.status === 'rejected' ? snap.reason : undefined;
    let parsed: ReturnType<typeof parseSnapshot> | undefined;
    if (refused === undefined && id.status === 'fulfilled' && snap.status === 'fulfilled') {
      const kw = id.value.command.kwargs;
      if (id.value.command.name !== 'id' || kw.type !== 'monitor') {
        refused = new LabwireError('ProtocolError', `it is not a monitor (get_id: "${clip(id.value.line, 100)}"); a daemon is listed with protocol labwire`, 'get_id');
      } else if (kw.name === this.monitorName) {
        refused = new LabwireError('ProtocolError', `it calls itself "${kw.name}" as this monitor does: give every monitor its own monitor.name (a loop, or two monitors left at the default name)`, 'get_id');
      } else {
        this.lowerName = kw.name ?? this.name;
        try {
          parsed = parseSnapshot(snap.value.line);
        } catch (err) {
          refused = err;
        }
      }
    }
    if (refused !== undefined || parsed === undefined) {
      this.early = null;
      if (isCode(refused, 'CommunicationFailed')) return;
      this.lastError = message(refused);
      this.logger.warn({ peer: this.name, err: this.lastError }, 'monitor peer handshake failed; retrying');
      if (!this.initFailureReported) {
        this.initFailureReported = true;
        this.hooks.log(this, 'warning', `${this.name}: cannot start watching monitor ${this.endpoint}: ${this.lastError}; retrying every ${INIT_RETRY_MS / 1000} s`, Date.now());
      }
      if (isCode(refused, 'Timeout')) {
        this.counts.timeouts++;
        this.drop(this.lastError);
        return;
      }
      this.initTimer = setTimeout(() => {
        if (gen === this.gen && this.linkUp) void this.handshake(gen);
      }, INIT_RETRY_MS);
      return;
    }
    this.initFailureReported = false;
    // After a reconnect every device is described again, as a daemon peer is (it may have been updated).
    for (const d of this.devices.values()) if (d.declaredProtocol === 'labwire' && !this.describeQueue.includes(d)) this.describeQueue.push(d);
    this.applySnapshot(parsed);
    this.setUp(true);
    void this.describeNext();
    if (this.snapshotWanted) {
      this.snapshotWanted = false;
      this.askSnapshot();
    }
    this.scheduleProbe(this.timing.pollMs, gen);
    this.scheduleResync(gen);
  }

  private setUp(up: boolean, reason = ''): void {
    if (up && !this.up) this.counts.ups++;
    this.up = up;
    if (up) this.lastError = undefined;
    const t = Date.now();
    for (const d of this.devices.values()) this.syncLink(d, t, reason);
  }

  /** Reports a device's connection when it changed: its own flag below, and this monitor's link to the lower one. */
  private syncLink(d: RemoteDevice, t: number, reason = ''): void {
    const now = this.up && d.lowerConnected;
    if (now === d.connected) return;
    if (now) {
      // As a daemon peer does: the full values first, then the link.
      this.pending.delete(d);
      this.hooks.values(d, t, { ...d.values }, true);
    } else this.flushOne(d);
    d.connected = now;
    d.since = t;
    // A device first seen while down below could not describe itself then: it is asked now.
    if (now && !d.describe && d.declaredProtocol === 'labwire' && !this.describeQueue.includes(d)) {
      this.describeQueue.push(d);
      queueMicrotask(() => void this.describeNext());
    }
    d.lastError = now ? undefined : reason || (this.up ? `not connected to monitor ${this.name}` : `monitor ${this.name} is not connected`);
    this.hooks.link(d, now, t, d.lastError ?? '');
  }

  // ---- snapshots ------------------------------------------------------------------------------

  /** Replaces the device list and every value with a snapshot, then applies the updates newer than it. */
  private applySnapshot(doc: ReturnType<typeof parseSnapshot>): void {
    const t = Date.now();
    const seen = new Set<string>();
    const index = new Map<string, { device: RemoteDevice; param: string | null }>();
    const lower = this.lowerName ?? this.name;
    // Values handed on so far, to hand on only what the snapshot changes.
    this.flush();
    const changed = new Map<RemoteDevice, Record<string, PeerValue>>();
    for (const e of doc.devices) {
      const monitors = [lower, ...e.monitors];
      if (monitors.includes(this.monitorName) || monitors.length > MAX_DEPTH) {
        this.reportLoop(e.name, monitors);
        continue;
      }
      // A monitor of ours never sends such a name; one that does cannot have it shown (keys, status lines).
      const problem = e.name.length > MAX_NAME ? `a client name of ${e.name.length} characters (at most ${MAX_NAME})` : clientNameProblem(e.name);
      if (problem !== undefined) {
        this.reportLeftOut(e.name, problem);
        continue;
      }
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      let d = this.devices.get(e.name);
      if (!d) {
        d = new RemoteDevice(this, e.name, monitors);
        this.devices.set(e.name, d);
        this.hooks.added(d);
        this.describeQueue.push(d);
      }
      d.monitors = monitors;
      d.declaredProtocol = e.protocol;
      d.units = e.units;
      const diff = record<PeerValue>();
      let any = false;
      for (const [k, v] of Object.entries(e.values)) {
        if (Object.hasOwn(d.values, k) && Object.is(d.values[k], v)) continue;
        diff[k] = v;
        any = true;
      }
      if (any) changed.set(d, diff);
      d.values = e.values;
      d.ts = record<number>();
      for (const k of Object.keys(e.values)) {
        d.ts[k] = t;
        index.set(`${e.name}.${k}`, { device: d, param: k });
      }
      index.set(e.name, { device: d, param: null });
      d.lowerConnected = e.connected;
    }
    this.index = index;
    for (const [below, d] of [...this.devices]) {
      if (seen.has(below)) continue;
      this.devices.delete(below);
      this.pending.delete(d);
      this.hooks.removed(d);
    }
    this.lastSnapshotAt = t;
    const early = this.early ?? [];
    const overflow = this.earlyOverflow;
    this.early = null;
    this.earlyOverflow = false;
    // Devices that stay connected get what changed; those that come up get everything (syncLink).
    for (const [d, diff] of changed) if (d.connected && this.up && this.devices.get(d.below) === d) this.hooks.values(d, t, diff, false);
    for (const u of early) if (u.t >= doc.t) this.applyUpdate(u);
    for (const d of this.devices.values()) this.syncLink(d, t);
    if (overflow) this.askSnapshot();
    void this.describeNext();
  }

  private reportLoop(name: string, monitors: string[]): void {
    const why = monitors.includes(this.monitorName) ? `its values come through this monitor itself (${monitors.join(' → ')}): a loop` : `it comes through ${monitors.length} monitors (more than ${MAX_DEPTH})`;
    this.reportLeftOut(name, why);
  }

  /** Said once per device name (a bounded set: beyond, nothing more is said). */
  private reportLeftOut(name: string, why: string): void {
    if (this.loopsReported.has(name) || this.loopsReported.size >= 1000) return;
    this.loopsReported.add(name);
    this.logger.warn({ peer: this.name, device: clip(name, 200), why }, 'device of a lower monitor left out');
    this.hooks.log(this, 'warning', `${this.name}: device "${clip(name, 200)}" left out: ${why}`, Date.now());
  }

  /** A fresh snapshot soon (coalesced: one at a time, at most every MIN_RESYNC_GAP_MS). */
  private askSnapshot(): void {
    if (!this.linkUp || this.closed) return;
    if (this.snapshotting) {
      this.snapshotWanted = true;
      return;
    }
    const gen = this.gen;
    const wait = Math.max(0, this.lastSnapshotAt + MIN_RESYNC_GAP_MS - Date.now());
    this.snapshotting = true;
    setTimeout(() => void this.resnapshot(gen), wait).unref();
  }

  private async resnapshot(gen: number): Promise<void> {
    if (gen !== this.gen || this.closed) return;
    this.early = [];
    this.earlyOverflow = false;
    try {
      const reply = await this.request('snapshot', 'snapshot', this.timing.sendTimeoutMs);
      if (gen !== this.gen) return;
      const doc = parseSnapshot(reply.line);
      this.snapshotting = false;
      if (this.hung) {
        this.early = null;
        return;
      }
      const wasUp = this.up;
      if (!wasUp) this.counts.ups++;
      this.up = true;
      this.lastError = undefined;
      this.applySnapshot(doc);
      if (!wasUp) this.hooks.log(this, 'info', `monitor ${this.name} answers again`, Date.now());
    } catch (err) {
      if (gen !== this.gen) return;
      this.snapshotting = false;
      this.early = null;
      if (isCode(err, 'Timeout')) this.markHung(gen);
      else if (!isCode(err, 'CommunicationFailed')) this.logger.warn({ peer: this.name, err: message(err) }, 'snapshot of the lower monitor failed');
    } finally {
      if (gen === this.gen && this.snapshotWanted) {
        this.snapshotWanted = false;
        this.askSnapshot();
      }
    }
  }

  private scheduleResync(gen: number): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      if (gen !== this.gen) return;
      this.askSnapshot();
      this.scheduleResync(gen);
    }, RESYNC_MS);
    this.resyncTimer.unref();
  }

  /** Each new labwire device's describe, one at a time, through the lower monitor (`send <device> describe`). */
  private async describeNext(): Promise<void> {
    if (this.describing) return;
    this.describing = true;
    try {
      while (this.describeQueue.length > 0 && this.up && !this.closed) {
        const d = this.describeQueue.shift()!;
        if (this.devices.get(d.below) !== d) continue;
        // To a CCDLab device `describe` is a raw line for the instrument; asked of labwire ones only.
        if (d.declaredProtocol !== 'labwire') continue;
        try {
          const reply = await this.request(`send ${quote(d.below)} describe`, 'describe');
          if (!reply.line.startsWith('describe ')) continue;
          const doc = JSON.parse(lineBody(reply.line, 1)) as unknown;
          if (!isObject(doc) || !isObject(doc.params) || !isObject(doc.commands)) continue;
          d.describe = doc as unknown as DescribeDoc;
          // Parameters it declares but has not reported yet are known keys from now on: no snapshot needed when they come.
          if (this.index.get(d.below)?.device === d) {
            for (const k of Object.keys(d.describe.params)) {
              const key = `${d.below}.${k}`;
              if (!this.index.has(key)) this.index.set(key, { device: d, param: k });
            }
          }
          this.hooks.described(d);
        } catch (err) {
          // No describe: values are typed by their look, units come from the snapshot.
          this.logger.debug({ peer: this.name, device: d.below, err: message(err) }, 'no describe of a device below');
          if (isCode(err, 'CommunicationFailed')) this.describeQueue.unshift(d);
          if (isCode(err, 'CommunicationFailed') || isCode(err, 'Timeout')) return;
        }
      }
    } finally {
      this.describing = false;
    }
  }

  // ---- pushes ---------------------------------------------------------------------------------

  private onUpdate(u: Update): void {
    if (!this.linkUp) return;
    if (this.early) {
      if (this.early.length < MAX_EARLY) this.early.push(u);
      else this.earlyOverflow = true;
      return;
    }
    if (!this.up) return;
    this.applyUpdate(u);
  }

  private applyUpdate(u: Update): void {
    const t = Date.now();
    let unknown = false;
    const links: RemoteDevice[] = [];
    for (const [key, raw] of Object.entries(u.values)) {
      const hit = this.index.get(key);
      if (!hit) {
        unknown = true;
        continue;
      }
      const d = hit.device;
      if (hit.param === null) {
        d.lowerConnected = raw === '1';
        links.push(d);
        continue;
      }
      const v = this.typed(d, hit.param, raw);
      d.ts[hit.param] = t;
      if (Object.hasOwn(d.values, hit.param) && Object.is(d.values[hit.param], v)) continue;
      d.values[hit.param] = v;
      let changes = this.pending.get(d);
      if (!changes) {
        changes = record<PeerValue>();
        this.pending.set(d, changes);
      }
      changes[hit.param] = v;
    }
    for (const d of links) this.syncLink(d, t);
    // A new device or parameter below, or a device that came or went: the list is asked again.
    if (unknown || links.length > 0) this.askSnapshot();
    if (this.pending.size > 0 && this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.flush();
      }, FLUSH_MS);
    }
  }

  /** A pushed value typed by the device's describe, else like the value it replaces. */
  private typed(d: RemoteDevice, param: string, raw: string): PeerValue {
    if (d.describe && Object.hasOwn(d.describe.params, param)) return labwireValue(raw, d.describe, param);
    const before = d.values[param];
    if (typeof before === 'string') return raw;
    if (typeof before === 'boolean') return raw === '1' || raw === 'true';
    return convertValue(raw);
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const d of [...this.pending.keys()]) this.flushOne(d);
  }

  private flushOne(d: RemoteDevice): void {
    const changes = this.pending.get(d);
    if (!changes) return;
    this.pending.delete(d);
    if (d.connected) this.hooks.values(d, Date.now(), changes, false);
  }

  /** Log lines of the devices below (never the lower monitor's own lines: those would echo round a loop). */
  private onLog(e: ClientLogEntry): void {
    const d = e.source !== undefined ? this.devices.get(e.source) : undefined;
    if (!d) return;
    const now = Date.now();
    const t = Number.isFinite(e.t) && e.t > 0 && e.t <= now + CLOCK_SLACK_MS ? e.t : now;
    this.hooks.log(d, toLogLevel(e.level), e.message, t);
  }

  // ---- liveness -------------------------------------------------------------------------------

  private scheduleProbe(delay: number, gen: number): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => this.probe(gen), delay);
  }

  private probe(gen: number): void {
    if (gen !== this.gen || !this.linkUp || this.closed) return;
    const every = this.hung ? this.probeDelay : this.timing.pollMs;
    // Replies come in request order: a ping behind a slow request would time out for nothing.
    if (this.probing || this.inflight > 0) {
      this.scheduleProbe(every, gen);
      return;
    }
    const quietFor = Date.now() - this.lastHeard;
    if (!this.hung && quietFor < this.timing.pollMs) {
      this.scheduleProbe(Math.max(10, this.timing.pollMs - quietFor), gen);
      return;
    }
    this.probing = true;
    this.client.request('ping', { timeoutMs: this.timing.timeoutMs }).then(
      () => {
        if (gen === this.gen) this.heard();
      },
      (err: unknown) => {
        if (gen === this.gen && isCode(err, 'Timeout')) {
          this.counts.timeouts++;
          this.markHung(gen);
        }
      },
    ).finally(() => {
      this.probing = false;
      if (gen !== this.gen) return;
      if (this.hung) this.probeDelay = Math.min(this.probeDelay * 2, MAX_PROBE_MS);
      this.scheduleProbe(this.hung ? this.probeDelay : this.timing.pollMs, gen);
    });
  }

  private markHung(gen: number): void {
    if (gen !== this.gen || this.hung) return;
    this.hung = true;
    this.probeDelay = this.timing.pollMs;
    const reason = `monitor ${this.name} (${this.endpoint}) gave no reply within ${this.timing.timeoutMs} ms`;
    this.lastError = reason;
    this.logger.warn({ peer: this.name }, reason);
    this.hooks.log(this, 'warning', `${reason}; its devices are shown disconnected`, Date.now());
    this.flush();
    this.setUp(false, reason);
  }

  private heard(): void {
    this.lastHeard = Date.now();
    if (!this.hung || !this.linkUp) return;
    this.hung = false;
    this.probeDelay = this.timing.pollMs;
    this.snapshotting = false;
    this.askSnapshot();
  }

  private drop(reason: string): void {
    if (!this.client.connected) return;
    this.dropReason = reason;
    this.client.dropConnection();
  }
}
