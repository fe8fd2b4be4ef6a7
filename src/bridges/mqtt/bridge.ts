/**
 * The MQTT bridge (docs/mqtt.md, decision 0024): runs beside the monitor, publishes every value
 * it sees as a retained QoS 1 message, the availability of each device and of itself (last will),
 * and turns `…/set/<user>` and `…/call/<command>/<user>` messages into labwire lines sent through
 * the monitor's `send` for `mqtt:<user>` with the role the lab file maps that broker user to.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { connect, type IClientOptions, type IConnackPacket, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { lineKind, roleAtLeast, type Role } from '../../server/index.js';
import { LabwireError, parseErrorReply, parseLine, type DescribeDoc } from '../../wire/index.js';
import type { MonitorActor, MonitorUpdate, PeerState, PeerValue } from '../../monitor/types.js';
import type { Logger } from '../../util/logger.js';
import { discoveryMessages, type DiscoveryOptions } from './discovery.js';
import { BoundedQueue, type Outgoing } from './queue.js';
import {
  PayloadError,
  availabilityTopic,
  bridgeAvailabilityTopic,
  commandFilters,
  commandLine,
  parseCallPayload,
  parseCommandTopic,
  parseSetPayload,
  replyTopic,
  stateTopic,
  statePayload,
  topicSafe,
  type CommandTopic,
  type ReplyPayload,
} from './topics.js';

/** What the bridge needs of the monitor: its live values, its send path (as MonitorView has them), and auditing a refusal when it can. */
export interface BridgeMonitor {
  readonly name: string;
  peers(): PeerState[];
  peer(name: string): PeerState | undefined;
  send(client: string, line: string, actor: MonitorActor): Promise<string>;
  on(event: 'update', listener: (update: MonitorUpdate) => void): unknown;
  on(event: 'peer', listener: (state: PeerState) => void): unknown;
  off(event: 'update', listener: (update: MonitorUpdate) => void): unknown;
  off(event: 'peer', listener: (state: PeerState) => void): unknown;
  auditRefusal?(client: string, line: string, actor: MonitorActor, err: LabwireError): Promise<void>;
}

export interface MqttBridgeOptions {
  monitor: BridgeMonitor;
  /** mqtt://host:port or mqtts://host:port */
  url: string;
  username?: string;
  password?: string;
  /** PEM trust anchor for mqtts://. */
  ca?: string | Buffer;
  clientId?: string;
  prefix?: string;
  protocolVersion?: 4 | 5;
  /** Broker user → labwire role. Users not listed may not command anything. */
  users?: Readonly<Record<string, Role>>;
  /** Bound of the outgoing queue (default 10,000). */
  queue?: number;
  /** QoS 1 publishes awaiting their PUBACK before more wait in the queue (default 1000). */
  inflight?: number;
  discovery?: DiscoveryOptions | false;
  /** Reconnect back-off: first delay and ceiling (default 500 ms doubling to 30 s). */
  backoff?: { minMs?: number; maxMs?: number };
  logger: Logger;
}

export interface MqttBridgeStats {
  connected: boolean;
  /** Publishes the broker acknowledged. */
  published: number;
  /** Waiting in the bridge's queue. */
  queued: number;
  /** Sent, acknowledgement pending. */
  inflight: number;
  /** Most publishes allowed unacknowledged now: the configured inflight, or the broker's receive maximum when lower. */
  window: number;
  /** Dropped because the queue was full. */
  dropped: number;
  /** Retained values replaced in the queue by a newer value of the same topic before they were sent. */
  superseded: number;
  /** The most messages ever queued at once. */
  highWater: number;
  /** Successful connections (the first included). */
  connects: number;
  /** Failed connection attempts and lost connections. */
  connectionErrors: number;
  commands: number;
  refused: number;
  /** Retained command messages seen and not executed. */
  retainedIgnored: number;
  lastError?: string;
}

const DEFAULT_PREFIX = 'labwire';
/** Commands of one broker user waiting for their devices at once; more are refused with IsBusy. */
const MAX_PENDING_PER_USER = 16;

/** An error text with the broker's reason, never the password (mqtt.js does not print it). */
function reason(err: unknown): string {
  const e = err as { message?: string; code?: string | number };
  const text = e?.message ?? String(err);
  return typeof e?.code === 'string' && !text.includes(e.code) ? `${text} (${e.code})` : text;
}

export class MqttBridge {
  readonly prefix: string;
  private readonly monitor: BridgeMonitor;
  private readonly logger: Logger;
  private readonly users: Readonly<Record<string, Role>>;
  private readonly queue: BoundedQueue;
  private readonly maxInflight: number;
  /** maxInflight, or less when the broker's MQTT 5 receive maximum says so (exceeding it is a protocol error). */
  private window: number;
  private readonly discovery: DiscoveryOptions | false;
  private readonly minBackoff: number;
  private readonly maxBackoff: number;
  private readonly v5: boolean;
  private client: MqttClient | undefined;
  private readonly clientOptions: IClientOptions;
  /** Bumped on every connection: acknowledgements of an older one are not counted twice. */
  private generation = 0;
  private inflight = 0;
  private pumpScheduled = false;
  private backoff: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private connectedOnce = false;
  /** Dropped count already reported in the log. */
  private droppedReported = 0;
  /** Per device: parameter units, for payloads (refreshed from `peer` events). */
  private readonly units = new Map<string, Record<string, string>>();
  private readonly availability = new Map<string, boolean>();
  private readonly unsafeReported = new Set<string>();
  /** The newest payload of every retained topic: what a (re)connect republishes. */
  private readonly latest = new Map<string, string | Buffer>();
  /** Topics still to be republished after the last (re)connect, and how far pump() got. */
  private toRepublish: string[] = [];
  private readonly pendingByUser = new Map<string, number>();
  private republished = 0;
  private readonly counters = { published: 0, connects: 0, connectionErrors: 0, commands: 0, refused: 0, retainedIgnored: 0 };
  private lastError: string | undefined;
  private readonly onUpdate = (u: MonitorUpdate): void => this.publishValues(u.client, u.t, u.values);
  private readonly onPeer = (p: PeerState): void => this.peerChanged(p);

  constructor(options: MqttBridgeOptions) {
    this.monitor = options.monitor;
    this.logger = options.logger.child({ component: 'mqtt' });
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.users = options.users ?? {};
    this.queue = new BoundedQueue(options.queue ?? 10_000);
    this.maxInflight = options.inflight ?? 1000;
    this.window = this.maxInflight;
    this.discovery = options.discovery ?? false;
    this.minBackoff = options.backoff?.minMs ?? 500;
    this.maxBackoff = options.backoff?.maxMs ?? 30_000;
    this.backoff = this.minBackoff;
    this.v5 = (options.protocolVersion ?? 5) === 5;
    this.clientOptions = {
      protocolVersion: this.v5 ? 5 : 4,
      // Unique: a broker disconnects the older of two clients with one id, and they would take turns.
      clientId: options.clientId ?? `labwire-${options.monitor.name}-${randomBytes(4).toString('hex')}`,
      clean: true,
      // The bridge reconnects itself, with back-off (mqtt.js retries at a fixed period).
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 30,
      will: { topic: bridgeAvailabilityTopic(this.prefix), payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    };
    this.url = options.url;
  }

  private readonly url: string;

  /** Starts publishing and connecting; resolves at once (the broker may be away: the bridge keeps trying). */
  start(): void {
    this.monitor.on('update', this.onUpdate);
    this.monitor.on('peer', this.onPeer);
    // What the monitor knows already: published at the first connect.
    for (const p of this.monitor.peers()) this.remember(p);
    this.connect();
  }

  stats(): MqttBridgeStats {
    return {
      connected: this.client?.connected === true,
      ...this.counters,
      queued: this.queue.length,
      inflight: this.inflight,
      window: this.window,
      dropped: this.queue.dropped,
      superseded: this.queue.superseded,
      highWater: this.queue.highWater,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /** Says `offline` on the bridge's availability topic (retained), then disconnects. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.retryTimer);
    this.monitor.off('update', this.onUpdate);
    this.monitor.off('peer', this.onPeer);
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        client.publish(bridgeAvailabilityTopic(this.prefix), 'offline', { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    this.logger.info(this.summary('MQTT bridge stopped'));
  }

  // ---- connection ------------------------------------------------------------------------------

  private connect(): void {
    const client = connect(this.url, this.clientOptions);
    this.client = client;
    client.on('connect', (connack) => this.onConnect(client, connack));
    client.on('message', (topic, payload, packet) => void this.onMessage(topic, payload, packet));
    client.on('error', (err) => {
      this.lastError = reason(err);
      this.counters.connectionErrors++;
      const who = this.clientOptions.username !== undefined ? ` as user "${this.clientOptions.username}"` : '';
      this.logger.error(`MQTT broker ${this.url}${who}: ${this.lastError}; retrying in ${Math.round(this.backoff / 100) / 10} s`);
    });
    client.on('close', () => this.onClose(client));
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.client || this.closing) return;
    const receiveMaximum = connack.properties?.receiveMaximum;
    this.window = receiveMaximum !== undefined && receiveMaximum > 0 ? Math.min(this.maxInflight, receiveMaximum) : this.maxInflight;
    if (this.window < this.maxInflight && !this.connectedOnce) {
      this.logger.warn(`MQTT broker ${this.url} accepts ${this.window} unacknowledged publishes at a time (its receive maximum; mosquitto: max_inflight_messages), not ${this.maxInflight}: fewer values per second get through`);
    }
    this.generation++;
    this.inflight = 0;
    this.backoff = this.minBackoff;
    this.counters.connects++;
    this.lastError = undefined;
    const again = this.connectedOnce;
    this.connectedOnce = true;
    this.logger.info(`MQTT bridge connected to ${this.url}${again ? ' again' : ''}; topics under ${this.prefix}/`);
    // No retained command must ever run: MQTT 5 lets us ask for none at subscribe (retain
    // handling 2) and to see the flag of live ones as published (rap), which onMessage ignores;
    // on 3.1.1 the broker sends stored ones with the retain flag, and onMessage ignores those.
    const opts = this.v5 ? { qos: 1 as const, rh: 2, rap: true } : { qos: 1 as const };
    client.subscribe(commandFilters(this.prefix), opts, (err) => {
      if (err) this.logger.error(`MQTT: cannot subscribe to the command topics ${commandFilters(this.prefix).join(', ')}: ${reason(err)}; commands from MQTT will not work`);
    });
    if (this.queue.dropped > this.droppedReported) {
      this.logger.warn(`MQTT: ${this.queue.dropped - this.droppedReported} message(s) were dropped while the broker was away (queue limit ${this.queue.limit}); the retained state is republished now`);
      this.droppedReported = this.queue.dropped;
    }
    // Every retained message again: the broker may have restarted without persistence. What
    // waited is older than the current state, which pump() reads device by device as it goes.
    this.queue.clearState();
    this.enqueue({ topic: bridgeAvailabilityTopic(this.prefix), payload: 'online', retain: true });
    this.toRepublish = [...this.latest.keys()];
    this.republished = 0;
    this.pump();
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    // Acknowledgements of this connection will not come; what they carried is republished as retained state.
    this.generation++;
    this.inflight = 0;
    if (this.closing) return;
    if (this.connectedOnce && this.backoff === this.minBackoff) this.logger.warn(`MQTT broker ${this.url} connection lost; queueing up to ${this.queue.limit} messages and reconnecting`);
    const delay = this.backoff;
    this.backoff = Math.min(this.maxBackoff, this.backoff * 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.closing) return;
      // A fresh client: nothing of the dead connection's state carries over.
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  // ---- publishing ------------------------------------------------------------------------------

  private enqueue(m: Outgoing, reply = false): void {
    if (m.retain && !reply) this.latest.set(m.topic, m.payload);
    if (!this.queue.push(m, reply) && this.queue.dropped - this.droppedReported === 1) {
      // Once per episode; the total is in stats() and in the log when the broker is back.
      this.logger.warn(`MQTT: the queue is full (${this.queue.limit} messages): dropping the oldest; see the bridge's stats for the count`);
    }
  }

  /**
   * Refills once per turn of the event loop, not once per PUBACK: publishes made in one tick leave
   * in one socket write (mqtt-packet corks until the next tick); one per acknowledgement cost a
   * system call per message, which was the bridge's largest cost in bench/mqtt.ts.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const client = this.client;
    if (!client?.connected) return;
    const gen = this.generation;
    while (this.inflight < this.window) {
      // Republished topics one by one when nothing else waits, each with its newest payload read
      // as it goes: never older than a live value, and the queue does not fill with them.
      if (this.queue.length === 0 && this.republished < this.toRepublish.length) {
        const topic = this.toRepublish[this.republished++]!;
        this.queue.push({ topic, payload: this.latest.get(topic)!, retain: true });
        if (this.republished === this.toRepublish.length) this.toRepublish = [];
      }
      const m = this.queue.shift();
      if (!m) break;
      this.inflight++;
      const opts: IClientPublishOptions = { qos: 1, retain: m.retain, ...(m.properties && this.v5 ? { properties: m.properties } : {}) };
      client.publish(m.topic, m.payload, opts, (err) => {
        if (gen !== this.generation) return;
        this.inflight--;
        if (err) this.logger.warn(`MQTT: publish to ${m.topic} failed: ${reason(err)}`);
        else this.counters.published++;
        this.schedulePump();
      });
    }
  }

  private publishValues(device: string, t: number, values: Readonly<Record<string, PeerValue>>): void {
    if (!topicSafe(device)) return this.unsafe(device);
    let units = this.units.get(device);
    if (!units) {
      units = unitsOf(this.monitor.peer(device)?.describe);
      this.units.set(device, units);
    }
    for (const [param, v] of Object.entries(values)) {
      if (!topicSafe(param)) {
        this.unsafe(`${device}.${param}`);
        continue;
      }
      this.enqueue({ topic: stateTopic(this.prefix, device, param), payload: statePayload(v, units[param], t), retain: true });
    }
    this.schedulePump();
  }

  private unsafe(name: string): void {
    if (this.unsafeReported.has(name)) return;
    this.unsafeReported.add(name);
    this.logger.warn(`MQTT: "${name}" holds "/", "+", "#" or NUL and cannot be a topic level; it is not published`);
  }

  private peerChanged(p: PeerState): void {
    this.units.set(p.name, unitsOf(p.describe));
    if (this.availability.get(p.name) !== p.connected) {
      this.availability.set(p.name, p.connected);
      if (topicSafe(p.name)) this.enqueue({ topic: availabilityTopic(this.prefix, p.name), payload: p.connected ? 'online' : 'offline', retain: true });
    }
    if (this.discovery && p.describe) for (const m of discoveryMessages(this.prefix, p.name, p.describe, this.discovery)) this.enqueue({ ...m, retain: true });
    this.pump();
  }

  /** One device's availability, discovery configs and every known value, as the newest retained payloads. */
  private remember(p: PeerState): void {
    if (!topicSafe(p.name)) return;
    this.availability.set(p.name, p.connected);
    const units = unitsOf(p.describe);
    this.units.set(p.name, units);
    this.latest.set(availabilityTopic(this.prefix, p.name), p.connected ? 'online' : 'offline');
    if (this.discovery && p.describe) for (const m of discoveryMessages(this.prefix, p.name, p.describe, this.discovery)) this.latest.set(m.topic, m.payload);
    for (const [param, v] of Object.entries(p.values)) {
      if (topicSafe(param)) this.latest.set(stateTopic(this.prefix, p.name, param), statePayload(v, units[param], p.ts[param] ?? Date.now()));
    }
  }

  // ---- commands --------------------------------------------------------------------------------

  private async onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    const cmd = parseCommandTopic(this.prefix, topic);
    if (!cmd) return;
    const props = packet.properties;
    const answer = (r: ReplyPayload): void => this.reply(topic, r, props?.responseTopic, props?.correlationData);
    if (packet.retain) {
      // A retained command would run again at every bridge start: never executed (docs/mqtt.md).
      this.counters.retainedIgnored++;
      this.logger.warn(`MQTT: ignored the retained command on ${topic}: commands must not be retained (publish with retain=false); clear it with an empty retained message`);
      answer({ ok: false, code: 'ProtocolError', message: 'retained command not executed: publish commands with retain=false, and clear this one (an empty retained message on its topic)', t: Date.now() });
      return;
    }
    this.counters.commands++;
    // One user's flood must not fill the monitor's connection to a daemon (whose rate limit would
    // then refuse everyone's commands): a few at a time per user, the rest refused at once.
    const pending = this.pendingByUser.get(cmd.user) ?? 0;
    if (pending >= MAX_PENDING_PER_USER) {
      this.counters.refused++;
      answer({ ok: false, code: 'IsBusy', message: `broker user "${cmd.user}" has ${pending} commands waiting for their devices; send the next when one is answered`, t: Date.now() });
      return;
    }
    this.pendingByUser.set(cmd.user, pending + 1);
    try {
      await this.execute(cmd, topic, payload, answer);
    } finally {
      const left = (this.pendingByUser.get(cmd.user) ?? 1) - 1;
      if (left <= 0) this.pendingByUser.delete(cmd.user);
      else this.pendingByUser.set(cmd.user, left);
    }
  }

  private async execute(cmd: CommandTopic, topic: string, payload: Buffer, answer: (r: ReplyPayload) => void): Promise<void> {
    const actor: MonitorActor = { who: `mqtt:${cmd.user}`, peer: `mqtt ${this.url}`, role: this.users[cmd.user] ?? null };
    let line: string | undefined;
    try {
      const role = this.users[cmd.user];
      if (role === undefined) {
        try {
          line = this.lineFor(cmd, payload);
        } catch {
          // Refused all the same; the audit row then names the topic instead of a line.
          line = topic;
        }
        throw new LabwireError('Unauthorized', `broker user "${cmd.user}" is not mapped to a labwire role in the lab file (mqtt.users), so it may not command devices`, cmd.kind === 'set' ? 'set' : cmd.command);
      }
      line = this.lineFor(cmd, payload);
      const describe = this.monitor.peer(cmd.device)?.describe;
      const name = cmd.kind === 'set' ? 'set' : cmd.command;
      const kind = lineKind(name, 'labwire', describe);
      const need: Role = kind === 'admin' ? 'admin' : kind === 'read' ? 'viewer' : 'operator';
      if (!roleAtLeast(role, need)) throw new LabwireError('Unauthorized', `"${name}" on ${cmd.device} needs the ${need} role; broker user "${cmd.user}" is mapped to ${role}`, name);
      const reply = await this.monitor.send(cmd.device, line, actor);
      const err = reply.startsWith('error') ? parseErrorReply(parseLine(reply)) : undefined;
      if (err) {
        this.counters.refused++;
        answer({ ok: false, code: err.code, message: err.message, reply, t: Date.now() });
      } else {
        answer({ ok: true, reply, t: Date.now() });
      }
    } catch (err) {
      this.counters.refused++;
      const e = err instanceof LabwireError ? err : err instanceof PayloadError ? new LabwireError('WrongType', err.message, cmd.kind === 'set' ? 'set' : cmd.command) : new LabwireError('InternalError', String(err));
      // Refused before it reached the device: audited like the monitor's own refusals.
      if (line !== undefined && e.code === 'Unauthorized') await this.monitor.auditRefusal?.(cmd.device, line, actor, e).catch(() => undefined);
      this.logger.info({ who: actor.who, device: cmd.device, topic, code: e.code }, `MQTT command refused: ${e.message}`);
      answer({ ok: false, code: e.code, message: e.message, t: Date.now() });
    }
  }

  /** The labwire line a command message stands for; throws for a payload or name that cannot be one. */
  private lineFor(cmd: CommandTopic, payload: Buffer): string {
    const peer = this.monitor.peer(cmd.device);
    if (!peer) throw new LabwireError('ProtocolError', `no device "${cmd.device}" behind this bridge; devices: ${this.monitor.peers().map((p) => p.name).join(', ') || 'none'}`, cmd.kind === 'set' ? 'set' : cmd.command);
    if (cmd.kind === 'set') return commandLine('set', { [cmd.param]: parseSetPayload(payload) });
    const declared = peer.describe?.commands ?? {};
    // Only the device's own declared commands: built-ins (exit, subscribe, as ...) are not for MQTT.
    if (!Object.hasOwn(declared, cmd.command)) {
      throw new LabwireError('NoSuchCommand', `${cmd.device} declares no command "${cmd.command}"; commands: ${Object.keys(declared).join(', ') || 'none'}`, cmd.command);
    }
    return commandLine(cmd.command, parseCallPayload(payload));
  }

  private reply(commandTopic: string, r: ReplyPayload, responseTopic: string | undefined, correlationData: Buffer | undefined): void {
    let topic = replyTopic(commandTopic);
    // A response topic must be the sender's own reply topic: under its command topic (whose user
    // level is the sender's), ending in /reply. Merely ending in /reply let alice make the bridge
    // publish on bob's reply topic, or on state topics.
    if (responseTopic !== undefined) {
      if (isOwnResponseTopic(commandTopic, responseTopic) && !parseCommandTopic(this.prefix, responseTopic)) topic = responseTopic;
      else this.logger.warn(`MQTT: response topic "${responseTopic}" of ${commandTopic} ignored: it must be ${commandTopic}/reply or ${commandTopic}/…/reply; answered on ${topic}`);
    }
    this.enqueue({ topic, payload: JSON.stringify(r), retain: false, ...(correlationData ? { properties: { correlationData } } : {}) }, true);
    this.pump();
  }

  private summary(what: string): string {
    const s = this.stats();
    return `${what}: ${s.published} published, ${s.dropped} dropped, ${s.commands} command(s), ${s.refused} refused, ${s.retainedIgnored} retained command(s) ignored`;
  }
}

/** `<command topic>/reply` or `<command topic>/<levels>/reply`: no wildcards, no empty level. */
export function isOwnResponseTopic(commandTopic: string, responseTopic: string): boolean {
  if (!responseTopic.startsWith(`${commandTopic}/`) || !responseTopic.endsWith('/reply')) return false;
  const rest = responseTopic.slice(commandTopic.length + 1).split('/');
  return rest.every((l) => l !== '' && !/[+#]/.test(l) && !l.includes('\u0000'));
}

function unitsOf(describe: DescribeDoc | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, p] of Object.entries(describe?.params ?? {})) if (p.unit) out[k] = p.unit;
  return out;
}

/** The password the lab file names: a file (first line) or the value itself. */
export function readMqttPassword(passwordFile: string | undefined, password: string | undefined): string | undefined {
  if (passwordFile === undefined) return password;
  try {
    return fs.readFileSync(passwordFile, 'utf8').split(/\r?\n/, 1)[0];
  } catch (err) {
    throw new Error(`mqtt.passwordFile: cannot read ${passwordFile}: ${(err as Error).message}`, { cause: err });
  }
}

export function startMqttBridge(options: MqttBridgeOptions): MqttBridge {
  const bridge = new MqttBridge(options);
  bridge.start();
  return bridge;
}
