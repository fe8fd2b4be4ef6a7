/**
 * One configured peer: a LabwireClient that reconnects for ever with back-off, the handshake after
 * every connect, the peer's latest values, and the liveness check that tells a hung peer from a
 * quiet one.
 *
 * - labwire peers: `id name=<monitor> type=monitor`, then `subscribe`, `describe` and
 *   `get_status format=json` pipelined; pushed updates after that; a `ping` when nothing was heard
 *   for a poll interval.
 * - CCDLab peers: `id name=monitor type=monitor` (CCDLab daemons send their log to connections of
 *   that name), then `get_status` every poll interval; their `info|warning|...` lines are log
 *   entries.
 *
 * "connected" means connected and answering: a closed connection counts as down at once, a peer
 * that leaves a poll or ping unanswered for `timeoutMs` counts as down until it answers again.
 * The peer is known by its configured host:port; the name it reports is never used to match it.
 */
import { LabwireClient, type LogEntry as ClientLogEntry, type Update } from '../client/index.js';
import { Throttle } from './message-log.js';
import { labwireValue, parseCcdlabStatus } from './values.js';
import { LabwireError, formatCommand, formatOk, makeCommand, quote, type Command, type DescribeDoc, type OversizeInfo, type Reply, type StatusDoc } from '../wire/index.js';
import type { Role } from '../server/index.js';
import type { LogLevel } from '../archive/types.js';
import type { Logger } from '../util/logger.js';
import { Slots } from '../util/slots.js';
import { MONITOR_DEFAULTS, type PeerConfig } from './options.js';
import type { MonitorActor, PeerState, PeerValue } from './types.js';

export interface PeerHooks {
  /**
   * Values arrived and are already in peer.values. `full`: a fresh snapshot after a (re)connect or
   * a recovered hang, `changes` then holds every value whether it changed or not.
   */
  values(peer: Peer, t: number, changes: Record<string, PeerValue>, full: boolean): void;
  /** The peer went up or down (connected and answering, or not). */
  link(peer: Peer, up: boolean, t: number, reason: string): void;
  /** A labwire peer's describe arrived (or failed: peer.describe is then undefined). */
  described(peer: Peer): void;
  /** A log line from the peer, or something the monitor has to say about it. */
  log(peer: Peer, level: LogLevel, text: string, t: number): void;
}

export interface PeerTiming {
  /** CCDLab poll interval; labwire liveness check interval. */
  pollMs: number;
  /** A poll or ping unanswered for this long marks the peer down. */
  timeoutMs: number;
  /** How long a forwarded line and the labwire handshake wait for replies. */
  sendTimeoutMs: number;
}

const LOG_LEVELS = new Set(['message', 'info', 'warning', 'error', 'success', 'debug']);
/** The only requests a CCDLab daemon answers; everything else it takes without a reply. */
const CCDLAB_ANSWERS = new Set(['get_status', 'get_id']);
/** While a peer does not answer, probes slow down to this interval. */
const MAX_PROBE_MS = 5000;
/** A labwire peer whose handshake was refused is tried again after this long. */
const INIT_RETRY_MS = 10_000;
/** A log line stamped further ahead of our clock than this gets our time instead. */
const CLOCK_SLACK_MS = 60_000;
/** A client that gave up (token refused, certificate not trusted) is started again after this long. */
const GAVE_UP_RETRY_MS = 30_000;
const MALFORMED_REPORT_MS = 30_000;
/** Binary transfers (image files) from one daemon at once; more wait their turn. */
const MAX_FETCHES = 2;
/** Transfers that may wait for one of those slots; beyond, a request is answered IsBusy. */
const MAX_FETCH_WAITERS = 16;

export function toLogLevel(level: string): LogLevel {
  switch (level) {
    case 'debug':
    case 'info':
    case 'warning':
    case 'error':
    case 'success':
      return level;
    default:
      return 'info';
  }
}

/** CCDLab peers answer nothing but get_id and get_status: all their notice lines are pushes. */
function ccdlabIsPush(cmd: Command): boolean {
  const name = cmd.name ?? '';
  return name === 'update' || name === 'log' || LOG_LEVELS.has(name);
}

/**
 * labwire peers: `update` and `log`, and CCDLab-style notices should a daemon send them. An
 * `error` line is a notice only without `code=`; with it, it is an error reply.
 */
function labwireIsPush(cmd: Command): boolean {
  const name = cmd.name ?? '';
  if (name === 'update' || name === 'log') return true;
  if (name === 'error') return !Object.hasOwn(cmd.kwargs, 'code');
  return LOG_LEVELS.has(name);
}

/** The OpenSSL/Node code when a connection failed because the peer's certificate did not verify. */
function certificateProblem(err: Error): string | undefined {
  const cause = err.cause instanceof Error ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME/.test(code) ? code : undefined;
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

function record(): Record<string, PeerValue> {
  return Object.create(null) as Record<string, PeerValue>;
}

export class Peer {
  readonly name: string;
  readonly protocol: 'labwire' | 'ccdlab';
  readonly host: string;
  readonly port: number;
  /** Latest values (null-prototype: a peer's key is data, whatever it is called). */
  values = record();
  /** Local receive time (unix ms) of each value's last update. */
  ts = Object.create(null) as Record<string, number>;
  describe: DescribeDoc | undefined;
  connected = false;
  since = Date.now();
  lastError: string | undefined;
  /** For metrics: times it came up (connected and answering), requests it left unanswered in time. */
  readonly counts = { ups: 0, timeouts: 0 };

  private readonly client: LabwireClient;
  /** Daemon time of each value, to merge a snapshot with updates that crossed it. */
  private stamps = Object.create(null) as Record<string, number>;
  /** Bumped on every connect, disconnect and close: late results of an older connection are dropped. */
  private gen = 0;
  private linkUp = false;
  /** labwire: handshake done. */
  private ready = false;
  /** The next values are a full snapshot (after a connect or a hang): archive them all. */
  private fresh = true;
  private hung = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** Retries a refused labwire handshake on the same connection. */
  private initTimer: NodeJS.Timeout | undefined;
  /** Starts the client again after it gave up. */
  private restartTimer: NodeJS.Timeout | undefined;
  /** Generation of the poll or ping in flight, if any. */
  private probing: number | null = null;
  private probeDelay: number;
  private forwards = 0;
  private lastHeard = 0;
  /** labwire: updates that arrived during the handshake, applied after the snapshot. */
  private early: Update[] | null = null;
  /** Time of the newest log line heard from the daemon (its clock); replay after a reconnect starts there. */
  private lastLogT = Date.now();
  private readonly malformed = new Throttle(MALFORMED_REPORT_MS);
  private readonly oversized = new Throttle(MALFORMED_REPORT_MS);
  /** A failure to connect was reported (or a disconnect was): further failed attempts stay quiet. */
  private failureReported = false;
  private initFailureReported = false;
  private gaveUpReported = false;
  /** Why the monitor itself dropped the connection, kept as lastError over the plain "closed". */
  private dropReason: string | undefined;
  /** The daemon refused `as` on this connection: forward plain lines until the next connect. */
  private identityRefused = false;
  private identityRefusalReported = false;
  /** Binary transfers under way, and those waiting for one to end. */
  private readonly fetchSlots = new Slots(MAX_FETCHES, MAX_FETCH_WAITERS, 'transfers');
  /** The one-shot connections of transfers under way, closed with the peer. */
  private readonly fetchClients = new Set<LabwireClient>();

  constructor(
    readonly config: PeerConfig,
    private readonly monitorName: string,
    private readonly timing: PeerTiming,
    private readonly hooks: PeerHooks,
    private readonly logger: Logger,
  ) {
    this.name = config.name;
    this.protocol = config.protocol ?? 'labwire';
    this.host = config.host;
    this.port = config.port;
    this.probeDelay = timing.pollMs;
    this.client = new LabwireClient({
      host: config.host,
      port: config.port,
      ...(config.tls ? { tls: { ...config.tls, rejectUnauthorized: config.tls.rejectUnauthorized ?? true } } : {}),
      // A rogue or broken peer costs at most this much memory per reply (issue: 1.45 GB for one describe).
      maxLineLength: this.maxReplyBytes,
      maxBinaryLength: this.maxReplyBytes,
      ...(config.token !== undefined && this.protocol === 'labwire' ? { token: config.token } : {}),
      reconnect: true,
      requestTimeoutMs: timing.sendTimeoutMs,
      backoff: { initialMs: 250, maxMs: 5000 },
      isPush: this.protocol === 'ccdlab' ? ccdlabIsPush : labwireIsPush,
    });
    this.client.on('connected', () => this.onConnected());
    this.client.on('disconnected', (reason) => this.onDisconnected(reason));
    this.client.on('reconnecting', ({ error }) => this.onAttemptFailed(error));
    this.client.on('reconnectFailed', (err) => this.onGaveUp(err));
    this.client.on('push', () => this.heard());
    this.client.on('update', (u) => this.onUpdate(u));
    this.client.on('log', (e) => this.onLog(e));
    this.client.on('unsolicited', (cmd, line) => this.onUnsolicited(cmd, line));
    this.client.on('oversize', (info) => this.onOversize(info));
  }

  private get maxReplyBytes(): number {
    return this.config.maxReplyBytes ?? MONITOR_DEFAULTS.peerMaxReplyBytes;
  }

  /** The client dropped the connection (it reconnects as after any loss); said once per report interval. */
  private onOversize(info: OversizeInfo): void {
    // Before 'connected' the client reports the failed attempt itself; a reason kept then would stick to a later loss.
    if (this.linkUp) this.dropReason = info.message;
    const held = this.oversized.take();
    if (held < 0) return;
    const more = held > 0 ? ` (${held} more since the last report)` : '';
    this.logger.warn({ peer: this.name, endpoint: this.endpoint, limit: info.limit, ...(info.size !== undefined ? { size: info.size } : {}) }, `peer ${this.name} (${this.endpoint}) sent ${info.message}; reconnecting${more}`);
    this.hooks.log(this, 'error', `${this.name} (${this.endpoint}) sent ${info.message} ; reconnecting${more}. The limit is maxReplySize in the lab file.`, Date.now());
  }

  get endpoint(): string {
    return this.client.endpoint;
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
    this.clearTimers();
    // Transfers under way end now (their requests fail), and those waiting for a slot are let go.
    this.fetchSlots.rejectWaiting(new LabwireError('CommunicationFailed', `${this.name}: the monitor is closing`, 'image'));
    await Promise.all([this.client.close(), ...[...this.fetchClients].map((c) => c.close().catch(() => undefined))]);
  }

  state(): PeerState {
    return {
      name: this.name,
      protocol: this.protocol,
      host: this.host,
      port: this.port,
      ...(this.config.description !== undefined ? { description: this.config.description } : {}),
      connected: this.connected,
      since: this.since,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.describe ? { describe: this.describe } : {}),
      values: { ...this.values },
      ts: { ...this.ts },
    };
  }

  /**
   * Whether a line forwarded for `actor` goes as `as user=<who> role=<role> <line>`: to a labwire/1
   * daemon (never a CCDLab one, nor a monitor, which give no labwire describe), that the monitor
   * authenticates to, for an actor with a role, unless the daemon refused it on this connection.
   */
  private namesUser(actor: MonitorActor | undefined): actor is MonitorActor & { role: Role } {
    return actor?.role != null && this.protocol === 'labwire' && this.describe?.protocol === 'labwire/1' && this.config.token !== undefined && !this.identityRefused;
  }

  /**
   * Forwards one line and resolves with the peer's reply line as sent (an `error ...` reply
   * included). A CCDLab peer answers only get_id and get_status; other lines are written without
   * waiting and resolve with an `ok send ... reply=none` line of the monitor's own. With an actor,
   * a labwire daemon is told who the end user is (see namesUser); one that does not take that
   * (an older daemon, or one that does not trust the monitor's token) gets the plain line from
   * then on, and its audit names the monitor.
   */
  async forward(line: string, command: string, actor?: MonitorActor): Promise<string> {
    if (this.namesUser(actor)) {
      const reply = await this.forwardLine(`as user=${quote(actor.who)} role=${actor.role} ${line}`, command);
      if (!/^error as /.test(reply) || !/ code=(Unauthorized|NoSuchCommand)(\s|$)/.test(reply)) return reply;
      this.identityRefused = true;
      this.logger.warn({ peer: this.name, reply: clip(reply) }, 'the daemon does not take forwarded identities from the monitor');
      if (!this.identityRefusalReported) {
        this.identityRefusalReported = true;
        this.hooks.log(this, 'warning', `${this.name} does not take the names of end users from this monitor (${clip(reply, 160)}); commands go as the monitor's own and its audit names the monitor. Mark the monitor's token "forward" in the daemon's token file.`, Date.now());
      }
    }
    return this.forwardLine(line, command);
  }

  private async forwardLine(line: string, command: string): Promise<string> {
    if (!this.connected || !this.client.connected) {
      const why = this.lastError ? `: ${this.lastError}` : '';
      throw new LabwireError('CommunicationFailed', `client "${this.name}" (${this.endpoint}) is not connected${why}`, 'send');
    }
    if (this.protocol === 'ccdlab' && !CCDLAB_ANSWERS.has(command)) {
      this.client.notify(line);
      return formatOk('send', { client: this.name, reply: 'none', note: 'CCDLab daemons do not answer commands; sent without waiting' });
    }
    const ms = this.timing.sendTimeoutMs;
    this.forwards++;
    try {
      const reply = await this.client.requestLine(line, { timeoutMs: ms });
      this.heard();
      if (reply.binary) {
        throw new LabwireError('ProtocolError', `${this.name} answered with ${reply.binary.length} bytes of binary data, which send cannot pass on; connect to the daemon directly`, 'send');
      }
      return reply.line;
    } catch (err) {
      if (isCode(err, 'Timeout')) {
        this.counts.timeouts++;
        const text = `no reply from ${this.name} within ${ms} ms`;
        if (this.protocol === 'ccdlab') this.drop(text);
        throw new LabwireError('Timeout', text, 'send');
      }
      if (isCode(err, 'CommunicationFailed')) throw new LabwireError('CommunicationFailed', `the connection to ${this.name} was lost before it replied`, 'send');
      if (err instanceof LabwireError && err.command !== 'send') throw new LabwireError(err.code, `${this.name}: ${err.message}`, 'send');
      throw err;
    } finally {
      this.forwards--;
    }
  }

  /**
   * One request to a labwire daemon on the monitor's own connection (the image index asks
   * `image_info` this way); an `error` reply rejects with its LabwireError. It counts as a forward,
   * so no liveness ping queues up behind it.
   */
  async request(line: string): Promise<Reply> {
    if (!this.connected || !this.client.connected) {
      const why = this.lastError ? `: ${this.lastError}` : '';
      throw new LabwireError('CommunicationFailed', `client "${this.name}" (${this.endpoint}) is not connected${why}`);
    }
    this.forwards++;
    try {
      const reply = await this.client.request(line, { timeoutMs: this.timing.sendTimeoutMs });
      this.heard();
      return reply;
    } finally {
      this.forwards--;
    }
  }

  /**
   * Fetches a binary reply (`image path=<p>` → `binary fits size=<n> …` + bytes) on a connection of
   * its own, opened for this one request: a 32 MiB frame on the monitor's connection would hold
   * up every reply behind it (pings would time out and mark the peer down), and a large reply
   * there is refused by maxReplyBytes on purpose. Here the limit is `maxBytes` (a larger announced
   * size closes this connection before any byte is read), and a link that drops mid-block costs
   * this request only. `send` keeps refusing binary replies.
   */
  async fetchBinary(line: string, options: { maxBytes: number; timeoutMs: number }): Promise<{ data: Buffer; fields: Record<string, string>; kind: string }> {
    if (this.protocol !== 'labwire') throw new LabwireError('ProtocolError', `${this.name} is a CCDLab peer: it sends no binary replies`);
    const command = line.trim().split(/\s+/, 1)[0] ?? '-';
    if (this.closed) throw new LabwireError('CommunicationFailed', `${this.name}: the monitor is closing`, command);
    // At most MAX_FETCHES transfers per daemon at once (each holds a file in memory and a
    // connection), and a bounded queue behind them: a page asking for many files is told, not queued for ever.
    return this.fetchSlots.run(command, () => {
      if (this.closed) throw new LabwireError('CommunicationFailed', `${this.name}: the monitor is closing`, command);
      return this.fetchOnce(line, options);
    });
  }

  private async fetchOnce(line: string, options: { maxBytes: number; timeoutMs: number }): Promise<{ data: Buffer; fields: Record<string, string>; kind: string }> {
    const command = line.trim().split(/\s+/, 1)[0] ?? '-';
    const client = new LabwireClient({
      host: this.host,
      port: this.port,
      ...(this.config.tls ? { tls: { ...this.config.tls, rejectUnauthorized: this.config.tls.rejectUnauthorized ?? true } } : {}),
      ...(this.config.token !== undefined ? { token: this.config.token } : {}),
      name: `${this.monitorName}-fetch`,
      reconnect: false,
      connectTimeoutMs: this.timing.sendTimeoutMs,
      requestTimeoutMs: options.timeoutMs,
      maxLineLength: 1024 * 1024,
      maxBinaryLength: options.maxBytes,
    });
    let oversize: string | undefined;
    client.on('oversize', (info) => (oversize = info.message));
    this.fetchClients.add(client);
    try {
      await client.connect();
      const reply = await client.request(line, { timeoutMs: options.timeoutMs });
      if (!reply.binary) {
        throw new LabwireError('ProtocolError', `${this.name} answered ${command} with "${clip(reply.line, 120)}" instead of a binary block`, command);
      }
      const kwargs = Object.fromEntries(Object.entries(reply.command.kwargs));
      return { data: reply.binary, fields: kwargs, kind: reply.command.args[0] ?? '' };
    } catch (err) {
      if (oversize !== undefined) throw new LabwireError('LineTooLong', `${this.name}: ${oversize}`, command);
      if (err instanceof LabwireError) {
        const lost = err.code === 'CommunicationFailed' ? ' (the connection was lost before the whole reply arrived)' : '';
        throw new LabwireError(err.code, `${this.name} (${this.endpoint}): ${err.message}${lost}`, command);
      }
      throw err;
    } finally {
      this.fetchClients.delete(client);
      await client.close().catch(() => undefined);
    }
  }

  // ---- connection lifecycle -------------------------------------------------------------------

  private onConnected(): void {
    if (this.closed) return;
    const gen = ++this.gen;
    this.linkUp = true;
    this.ready = false;
    this.fresh = true;
    this.hung = false;
    this.probing = null;
    this.probeDelay = this.timing.pollMs;
    this.lastHeard = Date.now();
    this.failureReported = false;
    this.gaveUpReported = false;
    this.identityRefused = false;
    this.clearInitTimer();
    // CCDLab daemons send their log only to connections called `monitor`.
    const name = this.protocol === 'ccdlab' ? 'monitor' : this.monitorName;
    this.client.notify(formatCommand(makeCommand('id', [], { name, type: 'monitor' })));
    this.logger.debug({ peer: this.name, endpoint: this.endpoint }, 'peer connection open');
    if (this.protocol === 'labwire') void this.handshake(gen);
    else this.schedule(0, gen);
  }

  private onDisconnected(reason: string): void {
    this.gen++;
    this.linkUp = false;
    this.ready = false;
    this.hung = false;
    this.early = null;
    this.probing = null;
    clearTimeout(this.timer);
    this.clearInitTimer();
    this.lastError = this.dropReason ?? reason;
    this.dropReason = undefined;
    this.logger.info({ peer: this.name, reason: this.lastError }, 'peer connection lost');
    if (this.connected) {
      this.failureReported = true;
      this.setConnected(false, this.lastError);
    }
  }

  private onAttemptFailed(error: Error): void {
    if (this.closed) return;
    this.lastError = error.message;
    if (this.failureReported) return;
    this.failureReported = true;
    this.logger.warn({ peer: this.name, err: error.message }, 'cannot connect to peer; retrying');
    this.hooks.log(this, 'warning', `${this.name}: cannot connect to ${this.endpoint} (${error.message}); retrying`, Date.now());
  }

  /** The client stopped trying (refused token, untrusted certificate): try again later, said once. */
  private onGaveUp(err: Error): void {
    if (this.closed || this.restartTimer) return;
    this.lastError = err.message;
    if (!this.gaveUpReported) {
      this.gaveUpReported = true;
      this.failureReported = true;
      const tlsCode = certificateProblem(err);
      if (tlsCode !== undefined) {
        const hint = `the monitor does not trust the TLS certificate of ${this.endpoint} (${tlsCode}): check this peer's tls.ca (the CA that issued the certificate, or a self-signed certificate itself) and servername`;
        this.logger.error({ peer: this.name, err: err.message, code: tlsCode }, `peer ${this.name}: ${hint}; trying again later`);
        this.hooks.log(this, 'error', `${this.name}: ${err.message}; ${hint}; trying again every ${GAVE_UP_RETRY_MS / 1000} s`, Date.now());
      } else {
        this.logger.error({ peer: this.name, err: err.message }, 'peer refused the connection; trying again later');
        this.hooks.log(this, 'error', `${this.name}: ${err.message}; trying again every ${GAVE_UP_RETRY_MS / 1000} s`, Date.now());
      }
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, GAVE_UP_RETRY_MS);
  }

  private clearInitTimer(): void {
    clearTimeout(this.initTimer);
    this.initTimer = undefined;
  }

  private clearTimers(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.clearInitTimer();
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  private setConnected(up: boolean, reason = ''): void {
    if (this.connected === up) return;
    this.connected = up;
    if (up) this.counts.ups++;
    this.since = Date.now();
    if (up) this.lastError = undefined;
    else if (reason) this.lastError = reason;
    this.hooks.link(this, up, this.since, reason);
  }

  // ---- labwire handshake and updates ----------------------------------------------------------

  private async handshake(gen: number): Promise<void> {
    this.early = [];
    const [sub, desc, status] = await Promise.allSettled([
      // log_since: what the daemon logged while we were away (a restart, a resumed programme).
      this.client.request(`subscribe log_since=${Math.round(this.lastLogT)}`),
      this.client.describe(),
      this.client.status(),
    ]);
    if (gen !== this.gen || this.closed) return;
    let refused: unknown = sub.status === 'rejected' ? sub.reason : status.status === 'rejected' ? status.reason : undefined;
    // Checked first: a wrong answer to subscribe explains whatever went wrong after it.
    if (sub.status === 'fulfilled' && sub.value.command.name !== 'ok') {
      refused = new LabwireError('ProtocolError', `it answered subscribe with "${clip(sub.value.line, 80)}": not a labwire daemon? (a CCDLab daemon needs protocol ccdlab)`, 'subscribe');
    }
    if (refused !== undefined || status.status !== 'fulfilled') {
      // A lost connection is the disconnect handler's business.
      if (isCode(refused, 'CommunicationFailed')) return;
      this.early = null;
      const text = `${this.name}: cannot start monitoring ${this.endpoint}: ${message(refused)}`;
      this.lastError = message(refused);
      this.logger.warn({ peer: this.name, err: this.lastError }, 'peer handshake failed; retrying');
      if (!this.initFailureReported) {
        this.initFailureReported = true;
        this.hooks.log(this, 'warning', `${text}; retrying every ${INIT_RETRY_MS / 1000} s`, Date.now());
      }
      if (isCode(refused, 'Timeout') || isCode(refused, 'ProtocolError')) {
        // Unanswered requests would pair with later replies (a CCDLab daemon configured as labwire
        // never answers subscribe): start over on a fresh connection.
        this.drop(this.lastError);
        return;
      }
      this.clearInitTimer();
      this.initTimer = setTimeout(() => {
        this.initTimer = undefined;
        if (gen === this.gen && this.linkUp) void this.handshake(gen);
      }, INIT_RETRY_MS);
      return;
    }
    this.initFailureReported = false;
    this.heard();
    if (desc.status === 'fulfilled') this.describe = desc.value;
    else {
      this.describe = undefined;
      this.logger.info({ peer: this.name, err: message(desc.reason) }, 'peer gave no describe; values are typed by their look');
    }
    this.hooks.described(this);
    const early = this.early ?? [];
    this.early = null;
    this.applySnapshot(status.value);
    for (const u of early) this.applyUpdate(u, false);
    this.ready = true;
    this.emitFull();
    this.setConnected(true);
    this.schedule(this.timing.pollMs, gen);
  }

  /** Replaces all values with a `get_status format=json` snapshot. */
  private applySnapshot(doc: StatusDoc): void {
    const t = Date.now();
    this.values = record();
    this.ts = Object.create(null) as Record<string, number>;
    this.stamps = Object.create(null) as Record<string, number>;
    for (const [k, v] of Object.entries(doc.values)) {
      this.values[k] = typeof v === 'string' ? labwireValue(v, this.describe, k) : v;
      this.ts[k] = t;
      this.stamps[k] = doc.ts[k] ?? doc.t;
    }
  }

  /** Applies one update; returns the values that changed (and reports them unless `report` is false). */
  private applyUpdate(u: Update, report: boolean): void {
    const t = Date.now();
    const changes = record();
    let any = false;
    for (const [k, raw] of Object.entries(u.values)) {
      const stamp = this.stamps[k];
      // A snapshot that was taken after this update already holds a newer value.
      if (stamp !== undefined && u.t < stamp) continue;
      this.stamps[k] = u.t;
      this.ts[k] = t;
      const v = labwireValue(raw, this.describe, k);
      if (Object.hasOwn(this.values, k) && Object.is(this.values[k], v)) continue;
      this.values[k] = v;
      changes[k] = v;
      any = true;
    }
    if (any && report) this.hooks.values(this, t, changes, false);
  }

  private emitFull(): void {
    this.fresh = false;
    this.hooks.values(this, Date.now(), { ...this.values }, true);
  }

  private onUpdate(u: Update): void {
    if (!this.linkUp || this.protocol !== 'labwire') return;
    if (this.early) {
      this.early.push(u);
      return;
    }
    if (!this.ready) return;
    this.applyUpdate(u, true);
  }

  private onLog(e: ClientLogEntry): void {
    const now = Date.now();
    // The daemon's own time, so that lines replayed after a reconnect keep theirs; a clock far
    // ahead of ours is not trusted.
    const t = Number.isFinite(e.t) && e.t > 0 && e.t <= now + CLOCK_SLACK_MS ? e.t : now;
    this.lastLogT = Math.max(this.lastLogT, t);
    this.hooks.log(this, toLogLevel(e.level === 'message' ? 'info' : e.level), e.message, t);
  }

  private onUnsolicited(cmd: Command, line: string): void {
    this.heard();
    if (this.protocol === 'ccdlab' && cmd.name === 'status') {
      // CCDLab's monitor takes a status line whenever it comes; so do we.
      this.handleCcdlabStatus(cmd, line);
      return;
    }
    // A reply to a line sent without waiting (a CCDLab query), or a daemon's last word before it closes.
    this.hooks.log(this, cmd.name === 'error' ? 'warning' : 'debug', clip(line), Date.now());
  }

  // ---- polls, pings and hangs -----------------------------------------------------------------

  private schedule(delay: number, gen: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.probe(gen), delay);
  }

  /** A CCDLab poll, or a labwire ping when nothing was heard for a poll interval. */
  private probe(gen: number): void {
    if (gen !== this.gen || !this.linkUp || this.closed) return;
    const every = this.hung ? this.probeDelay : this.timing.pollMs;
    if (this.probing === gen) {
      this.schedule(every, gen);
      return;
    }
    let request: string;
    if (this.protocol === 'ccdlab') request = 'get_status';
    else {
      // Replies come in request order: a ping behind a slow forwarded command would time out.
      if (!this.ready || this.forwards > 0) {
        this.schedule(every, gen);
        return;
      }
      const quietFor = Date.now() - this.lastHeard;
      if (!this.hung && quietFor < this.timing.pollMs) {
        this.schedule(Math.max(10, this.timing.pollMs - quietFor), gen);
        return;
      }
      request = 'ping';
    }
    this.probing = gen;
    this.client.request(request, { timeoutMs: this.timing.timeoutMs }).then(
      (reply) => {
        if (gen !== this.gen) return;
        this.heard();
        if (this.protocol === 'ccdlab') this.handleCcdlabStatus(reply.command, reply.line);
      },
      (err: unknown) => {
        if (gen !== this.gen) return;
        this.probeFailed(err, gen);
      },
    ).finally(() => {
      if (this.probing === gen) this.probing = null;
      if (gen !== this.gen) return;
      if (this.hung) this.probeDelay = Math.min(this.probeDelay * 2, MAX_PROBE_MS);
      this.schedule(this.hung ? this.probeDelay : this.timing.pollMs, gen);
    });
  }

  private probeFailed(err: unknown, gen: number): void {
    if (isCode(err, 'CommunicationFailed')) return;
    if (isCode(err, 'Timeout')) {
      this.counts.timeouts++;
      this.markHung(gen);
      return;
    }
    // Something came back, just not something readable: the peer is alive.
    this.heard();
    if (this.protocol === 'ccdlab') this.malformedStatus(message(err));
    else this.logger.warn({ peer: this.name, err: message(err) }, 'liveness ping failed');
  }

  private markHung(gen: number): void {
    if (gen !== this.gen || this.hung) return;
    this.hung = true;
    this.probeDelay = this.timing.pollMs;
    this.fresh = true;
    const reason = `no reply from ${this.endpoint} within ${this.timing.timeoutMs} ms`;
    this.logger.warn({ peer: this.name }, reason);
    this.setConnected(false, reason);
    // A CCDLab daemon may never answer a request it dropped, and then every later reply would pair
    // with the wrong request: start over on a fresh connection (the client reconnects).
    if (this.protocol === 'ccdlab') this.drop(reason);
  }

  /** Closes the current connection; the client reconnects with its back-off. */
  private drop(reason: string): void {
    if (!this.client.connected) return;
    this.dropReason = reason;
    this.client.dropConnection();
  }

  /** Any line from the peer proves it alive; one after a hang brings it back. */
  private heard(): void {
    this.lastHeard = Date.now();
    if (!this.hung || !this.linkUp) return;
    this.hung = false;
    this.probeDelay = this.timing.pollMs;
    // CCDLab: the next status line marks the peer connected again (and is archived in full).
    if (this.protocol === 'labwire' && this.ready) void this.refresh(this.gen);
  }

  /** labwire: a fresh snapshot after a hang, then connected again. */
  private async refresh(gen: number): Promise<void> {
    try {
      const doc = await this.client.status();
      if (gen !== this.gen || this.hung) return;
      this.applySnapshot(doc);
      this.emitFull();
      this.setConnected(true);
    } catch (err) {
      if (gen === this.gen && isCode(err, 'Timeout')) this.markHung(gen);
    }
  }

  // ---- CCDLab status --------------------------------------------------------------------------

  private handleCcdlabStatus(cmd: Command, line: string): void {
    const parsed = parseCcdlabStatus(cmd, line);
    if (!parsed.ok) this.malformedStatus(parsed.reason);
    else this.applyCcdlab(parsed.values);
    if (!this.connected && !this.hung && this.linkUp) this.setConnected(true);
  }

  /** CCDLab replaces a connection's status dict with every reply; so do we. */
  private applyCcdlab(values: Record<string, PeerValue>): void {
    const t = Date.now();
    if (this.fresh) {
      this.values = record();
      this.ts = Object.create(null) as Record<string, number>;
      for (const [k, v] of Object.entries(values)) {
        this.values[k] = v;
        this.ts[k] = t;
      }
      this.emitFull();
      return;
    }
    for (const k of Object.keys(this.values)) {
      if (!Object.hasOwn(values, k)) {
        delete this.values[k];
        delete this.ts[k];
      }
    }
    const changes = record();
    let any = false;
    for (const [k, v] of Object.entries(values)) {
      this.ts[k] = t;
      if (Object.hasOwn(this.values, k) && Object.is(this.values[k], v)) continue;
      this.values[k] = v;
      changes[k] = v;
      any = true;
    }
    if (any) this.hooks.values(this, t, changes, false);
  }

  private malformedStatus(reason: string): void {
    const held = this.malformed.take();
    if (held < 0) return;
    const more = held > 0 ? ` (${held} more since the last report)` : '';
    this.logger.warn({ peer: this.name, reason }, 'malformed status line ignored');
    this.hooks.log(this, 'warning', `${this.name}: malformed status ignored, keeping the last good values: ${reason}${more}`, Date.now());
  }
}
