/**
 * A SECoP 1.x node (reference/secop.md) in front of labwire devices: reached through their
 * daemons (one reconnecting LabwireClient each, `labwire secop`) or through a monitor (every
 * device it watches, `secop:` under `labwire up`; links.ts, decision 0036), and a TCP listener —
 * plain lines or the WebSocket variant — that answers the requests a node must accept and the
 * optional check and logging. Writes go through the daemon's `set` (limits, roles, audit apply),
 * naming the SECoP peer as `as user=secop:<peer> role=operator …` when the node holds a token.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { LabwireClient, convertValue, type TlsOptions } from '../../client/index.js';
import { LabwireError, makeCommand, formatCommand, type Command, type DescribeDoc, type WireValue } from '../../wire/index.js';
import type { MonitorUpdate, PeerState } from '../../monitor/types.js';
import type { LogEntry } from '../../archive/types.js';
import { ConnectionSlots, LISTENER_DEFAULTS } from '../../server/index.js';
import { startDiscovery, type Discovery } from './discovery.js';
import type { AnswerLimits } from './answer-limiter.js';
import { MAX_HANDSHAKE_BYTES, OP, WsDecoder, WsError, encodeFrame, handshakeResponse } from './websocket.js';
import { describeNode, fromSecop, toSecop, type CacheValue, type Json, type SecopCommand, type SecopModule } from './modules.js';
import { DaemonLink, MonitorLink, type DeviceLink, type SecopMonitor } from './links.js';

export type { SecopMonitor } from './links.js';

export interface SecopNodeOptions {
  /** Node name (the lab); the equipment_id. */
  name: string;
  /** The daemons the node connects to itself; `tls` per daemon overrides the node-wide `tls`. */
  daemons?: Array<{ host: string; port: number; tls?: TlsOptions | boolean }>;
  /**
   * Serve every labwire device this monitor watches (its daemons, peer daemons, lower monitors'
   * devices `room1/<device>`), reached through it; devices it describes later are added then.
   */
  monitor?: SecopMonitor;
  /** Monitor client names start() waits for (up to connectTimeoutMs) before it listens: the lab's own daemons. */
  waitFor?: string[];
  host?: string;
  port?: number;
  /**
   * Operator token the node presents to the daemons (its `forward` entry makes the audit name the
   * SECoP peer). With `monitor`, the monitor connects with its own token: a token here then only
   * says that writes go as operator, naming the SECoP peer.
   */
  token?: string;
  /** TLS to the daemons, as LabwireClient takes it. */
  tls?: TlsOptions | boolean;
  /** The facility network is trusted: writes without a token, and listening beyond loopback. */
  trusted?: boolean;
  /** Answer SECoP UDP discovery on this port (10767 is the spec's; 0 in tests); off when undefined. */
  discoveryPort?: number;
  /** Rate limits of the discovery answers (default DISCOVERY_LIMITS: 5 then 1/s per source, 50 then 20/s in all). */
  discoveryLimits?: AnswerLimits;
  /** Longest accepted request line in bytes (default 64 KiB). */
  maxLineLength?: number;
  /** Connections in all and from one address (the listeners' defaults, docs/decisions/0008). */
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  /** Most bytes queued for one peer that does not read before it is cut off (default 16 MiB). */
  maxQueuedOutput?: number;
  /** How long start() waits for each daemon's first describe (default 15 s). */
  connectTimeoutMs?: number;
  logger: Logger;
}

export const IDENTIFICATION = 'ISSE&SINE2020,SECoP,V2019-09-16,v1.0';
/**
 * Requests of one connection waiting to be handled: above either bound the socket is paused (TCP
 * back-pressure reaches the client), and resumed when the queue is down to a quarter. Lines of the
 * read chunk being parsed are still queued, so a queue can pass the bound by one chunk.
 */
const MAX_PENDING_LINES = 64;
const MAX_PENDING_BYTES = 1024 * 1024;

/** labwire error codes → SECoP error classes. */
const ERROR_CLASS: Record<string, string> = {
  ProtocolError: 'ProtocolError',
  LineTooLong: 'ProtocolError',
  NoSuchCommand: 'NoSuchCommand',
  NoSuchParameter: 'NoSuchParameter',
  WrongType: 'WrongType',
  RangeError: 'RangeError',
  ReadOnly: 'ReadOnly',
  Unauthorized: 'Impossible',
  RateLimited: 'Impossible',
  IsBusy: 'IsBusy',
  Disabled: 'Disabled',
  HardwareError: 'HardwareError',
  CommunicationFailed: 'CommunicationFailed',
  Timeout: 'TimeoutError',
  InternalError: 'InternalError',
};

/** Bytes of an over-long line read for its action and specifier. */
const HEAD_BYTES = 256;

/**
 * `error_<action> <specifier>` for a request line refused as too long, from its first bytes, so
 * the client can match the error to its request. When the action cannot be read (not a SECoP
 * word, or not ended by a space within the first bytes) it is `error_unknown`, as for any other
 * unreadable action; a specifier that cannot be read is `.`.
 */
export function overlongErrorHead(first: Buffer): string {
  const text = first.toString('latin1');
  const m = /^([A-Za-z_*?][A-Za-z0-9_*?]{0,62}) (?:([A-Za-z0-9_.:]{1,128})(?= ))?/.exec(text);
  if (!m) return 'error_unknown .';
  return `error_${m[1]!} ${m[2] ?? '.'}`;
}

class SecopError extends Error {
  constructor(readonly errorClass: string, message: string) {
    super(message);
  }
}

function secopErrorOf(err: unknown): SecopError {
  if (err instanceof SecopError) return err;
  if (err instanceof LabwireError) return new SecopError(ERROR_CLASS[err.code] ?? 'InternalError', err.message);
  return new SecopError('InternalError', err instanceof Error ? err.message : String(err));
}

interface Peer {
  socket: net.Socket;
  address: string;
  /** Activated modules; null = the whole node. */
  active: Set<string> | null | false;
  /** The connection is gone: its queued requests are dropped, and no write is forwarded for it. */
  closed: boolean;
  /** `logging`: per module, the lowest SECoP log level sent to this peer (absent: none). */
  logging: Map<string, number>;
  /** The WebSocket variant: every message goes as one TEXT frame. */
  ws: boolean;
  /**
   * The node has ended the connection (a refused handshake, a WebSocket close): what the client
   * still sends is not read, and the socket is destroyed after CLOSE_GRACE_MS if it stays open.
   */
  closing: boolean;
}

/** How long a connection the node has ended may stay open for its last bytes to reach the client. */
const CLOSE_GRACE_MS = 1000;

/** SECoP log levels, lowest first; `logging <module> "off"` (or false) switches a module off. */
const LOG_LEVELS = ['debug', 'info', 'error'] as const;

/** A labwire log level as SECoP's: errors stay errors, the rest is info. */
function secopLogLevel(level: string): (typeof LOG_LEVELS)[number] {
  return level === 'error' ? 'error' : level === 'debug' ? 'debug' : 'info';
}

export class SecopNode {
  private server: net.Server | null = null;
  private readonly links: DaemonLink[] = [];
  /** Devices reached through the monitor, by its client name. */
  private readonly monitorLinks = new Map<string, MonitorLink>();
  /** Devices left out for a module-name clash, with their describe (JSON) and the clash: logged once for each. */
  private readonly leftOut = new Map<string, string>();
  private unfollowMonitor: (() => void) | undefined;
  private readonly modules = new Map<string, { module: SecopModule; link: DeviceLink }>();
  private readonly peers = new Set<Peer>();
  private readonly slots: ConnectionSlots;
  /**
   * What the node's framing did, for tests and diagnosis: request lines refused as too long,
   * connections refused by the slots, and the most bytes of one unfinished line it ever held
   * (never above maxLineLength: an over-long line is dropped as it arrives), and the most bytes of
   * an unfinished WebSocket handshake or frame (never above MAX_HANDSHAKE_BYTES or maxLineLength
   * plus one read chunk: after a refused handshake or a close nothing more is read), and the peers
   * cut off because they read nothing while more than maxQueuedOutput waited for them.
   */
  readonly counters = { overlongLines: 0, refusedConnections: 0, maxHeldLineBytes: 0, maxHeldWsBytes: 0, cutOffPeers: 0 };
  /** Last status sent per module, to push only changes. */
  private readonly lastStatus = new Map<string, string>();
  private readonly maxLine: number;
  private readonly maxQueued: number;
  private discovery: Discovery | null = null;
  port = 0;
  /** The UDP discovery port, when discovery is on. */
  discoveryPort: number | undefined;

  constructor(private readonly opts: SecopNodeOptions) {
    this.maxLine = opts.maxLineLength ?? 64 * 1024;
    this.maxQueued = opts.maxQueuedOutput ?? 16 * 1024 * 1024;
    this.slots = new ConnectionSlots(opts.maxConnections ?? LISTENER_DEFAULTS.maxConnections, opts.maxConnectionsPerAddress ?? LISTENER_DEFAULTS.maxConnectionsPerAddress);
  }

  async start(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    if (!this.opts.trusted && !isLoopback(host)) {
      throw new SecopError('Impossible', `SECoP has no authentication: listening on ${host} needs --trusted (the facility network is trusted), or listen on 127.0.0.1`);
    }
    if (this.opts.monitor) await this.followMonitor(this.opts.monitor);
    for (const d of this.opts.daemons ?? []) {
      const client = new LabwireClient({
        host: d.host,
        port: d.port,
        ...(this.opts.token ? { token: this.opts.token } : {}),
        ...((d.tls ?? this.opts.tls) ? { tls: d.tls ?? this.opts.tls } : {}),
        name: `secop-${this.opts.name}`,
        reconnect: true,
        connectTimeoutMs: this.opts.connectTimeoutMs ?? 15_000,
        backoff: { initialMs: 200, maxMs: 2000 },
      });
      const link = new DaemonLink(client, (l, names) => this.onValues(l, names), (l, up) => this.onConnection(l, up), this.opts.logger, (l, before) => this.onDaemonDescribed(l, before));
      client.on('log', (e: { level: string; message: string }) => this.onLog(link, e.level, e.message));
      this.links.push(link);
      await link.start();
      const clash = this.clash(link);
      if (clash) throw new SecopError('Impossible', clash);
      this.addModules(link);
    }
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 10767, host, () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    if (this.opts.discoveryPort !== undefined) {
      // Broadcasts reach only a socket bound to the wildcard address, so beyond loopback bind that.
      const udpHost = isLoopback(host) ? host : host.includes(':') ? '::' : '0.0.0.0';
      this.discovery = await startDiscovery(udpHost, this.opts.discoveryPort, () => ({ port: this.port, equipment_id: this.opts.name, firmware: 'labwire', description: `labwire lab ${this.opts.name}` }), this.opts.logger, this.opts.discoveryLimits ? { limits: this.opts.discoveryLimits } : {});
      this.discoveryPort = this.discovery.port;
    }
    this.opts.logger.info({ port: this.port, host, modules: [...this.modules.values()].map((m) => m.module.name) }, 'SECoP node listening');
  }

  async close(): Promise<void> {
    this.unfollowMonitor?.();
    this.unfollowMonitor = undefined;
    for (const p of this.peers) p.socket.destroy();
    this.peers.clear();
    await this.discovery?.close();
    this.discovery = null;
    for (const l of this.links) {
      l.stop();
      await l.client.close();
    }
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** The structure report (as `describing` sends it). */
  description(): { [k: string]: Json } {
    return describeNode(this.opts.name, `labwire lab ${this.opts.name}`, [...this.modules.values()].map((m) => m.module));
  }

  /** Why the link's modules cannot join the node (a name another device's module has), or undefined. */
  private clash(link: DeviceLink): string | undefined {
    for (const m of link.modules) {
      // SECoP names must be unique lower-cased (reference §1).
      const other = this.modules.get(m.name.toLowerCase());
      if (other) return `two devices give the SECoP module name ${m.name} (${other.link.endpoint} and ${link.endpoint}): give the devices distinct names`;
    }
    return undefined;
  }

  private addModules(link: DeviceLink): void {
    for (const m of link.modules) this.modules.set(m.name.toLowerCase(), { module: m, link });
  }

  /** Follows the monitor's devices: those it describes now, and every one it describes later. */
  private async followMonitor(monitor: SecopMonitor): Promise<void> {
    const onPeer = (state: PeerState): void => this.onMonitorPeer(monitor, state);
    const onUpdate = (u: MonitorUpdate): void => this.monitorLinks.get(u.client)?.update(u);
    const onMessage = (e: LogEntry): void => {
      const link = this.monitorLinks.get(e.source);
      if (link) this.onLog(link, e.level, e.message);
    };
    monitor.on('peer', onPeer);
    monitor.on('update', onUpdate);
    monitor.on('message', onMessage);
    this.unfollowMonitor = () => {
      monitor.off('peer', onPeer);
      monitor.off('update', onUpdate);
      monitor.off('message', onMessage);
    };
    for (const state of monitor.peers()) this.onMonitorPeer(monitor, state);
    const wanted = this.opts.waitFor ?? [];
    const deadline = Date.now() + (this.opts.connectTimeoutMs ?? 15_000);
    while (wanted.some((n) => !this.monitorLinks.has(n)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const missing = wanted.filter((n) => !this.monitorLinks.has(n));
    // Not fatal: the device joins the node when the monitor reads its describe.
    if (missing.length > 0) this.opts.logger.warn({ missing }, 'SECoP node: not described by the monitor yet; their modules are added when they are');
  }

  private onMonitorPeer(monitor: SecopMonitor, state: PeerState): void {
    const link = this.monitorLinks.get(state.name);
    // A daemon restarted with other site limits, or other parameters or commands: the monitor
    // describes it anew, and its modules are built again from that describe.
    if (link && state.describe && JSON.stringify(state.describe) !== link.describedAs) return this.redescribe(link, state, state.describe);
    if (link) {
      const { changed, linkChanged } = link.sync(state);
      if (changed.length > 0) this.onValues(link, changed);
      if (linkChanged) this.onConnection(link, state.connected);
      return;
    }
    // CCDLab peers have no describe: nothing to build modules from.
    if (state.protocol !== 'labwire' || !state.describe) return;
    const added = new MonitorLink(monitor, state.name, state.describe, (l, names) => this.onValues(l, names), this.opts.logger);
    const clash = this.clash(added);
    if (clash) return this.leaveOut(state.name, added.describedAs, clash);
    this.leftOut.delete(state.name);
    added.sync(state);
    this.monitorLinks.set(state.name, added);
    this.addModules(added);
    this.opts.logger.info({ device: state.name, modules: added.modules.map((m) => m.name) }, 'SECoP node: device added');
  }

  /**
   * Replaces a device's modules with those of its new describe: min/max, parameters and commands
   * as the daemon has them now. Activated peers get every value and status of the new modules (a
   * SECoP node cannot push a new description: a client sees it at its next `describe`).
   */
  private redescribe(link: MonitorLink, state: PeerState, doc: DescribeDoc): void {
    for (const m of link.modules) {
      this.modules.delete(m.name.toLowerCase());
      this.lastStatus.delete(m.name);
    }
    link.rebuild(doc);
    const clash = this.clash(link);
    if (clash) {
      this.monitorLinks.delete(state.name);
      this.leaveOut(state.name, link.describedAs, clash);
    } else {
      this.addModules(link);
      const { linkChanged } = link.sync(state);
      this.onValues(link, [...link.values.keys()]);
      if (linkChanged) this.onConnection(link, state.connected);
      this.opts.logger.info({ device: state.name, modules: link.modules.map((m) => m.name) }, 'SECoP node: device described anew; its modules are rebuilt');
    }
    // The old modules are gone: a device left out for one of their names may fit now.
    for (const name of [...this.leftOut.keys()]) {
      const other = name === state.name ? undefined : this.opts.monitor?.peer(name);
      if (other) this.onMonitorPeer(this.opts.monitor!, other);
    }
  }

  /** A daemon the node connects to came back with another describe: its modules replace the old ones. */
  private onDaemonDescribed(link: DaemonLink, before: SecopModule[]): void {
    for (const m of before) {
      this.modules.delete(m.name.toLowerCase());
      this.lastStatus.delete(m.name);
    }
    const clash = this.clash(link);
    if (clash) {
      // Not fatal once running: the daemon's modules are out of the node until it is restarted.
      this.opts.logger.error(`SECoP node: ${clash}; ${link.endpoint} is left out`);
      link.modules = [];
      return;
    }
    this.addModules(link);
    this.opts.logger.info({ daemon: link.endpoint, modules: link.modules.map((m) => m.name) }, 'SECoP node: daemon described anew; its modules are rebuilt');
  }

  /**
   * A device whose modules clash with another's stays out of the node; it is tried again at each
   * of its `peer` events, but the clash is logged once per device, describe and clash.
   */
  private leaveOut(name: string, describedAs: string, clash: string): void {
    const key = `${describedAs}\u0000${clash}`;
    if (this.leftOut.get(name) === key) return;
    this.leftOut.set(name, key);
    this.opts.logger.error(`SECoP node: ${clash}; ${name} is left out`);
  }

  // ---- connections -------------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    // The line server's connection limits (docs/decisions/0008): a stranger cannot take every
    // descriptor, nor N × the output bound of memory, with connections that never read.
    const refused = this.slots.take(socket);
    if (refused !== undefined) {
      this.counters.refusedConnections++;
      this.opts.logger.warn(`SECoP node: ${refused}; refusing ${socket.remoteAddress ?? '?'}`);
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    const peer: Peer = { socket, address: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, active: false, closed: false, logging: new Map(), ws: false, closing: false };
    this.peers.add(peer);
    socket.setNoDelay(true);
    let chunks: Buffer[] = [];
    let size = 0;
    let discarding = false;
    // Requests of one connection run in order: a change's updates and reply keep their sequence.
    // The queue is bounded (the socket is paused above it) and dropped when the peer goes: a client
    // that pipelines 200 changes and disconnects must not have them applied for minutes in its name.
    const pending: string[] = [];
    let pendingBytes = 0;
    let running = false;
    let paused = false;
    const run = async (): Promise<void> => {
      running = true;
      try {
        while (pending.length > 0 && !peer.closed) {
          const line = pending.shift()!;
          pendingBytes -= line.length;
          if (paused && pending.length <= MAX_PENDING_LINES / 4 && pendingBytes <= MAX_PENDING_BYTES / 4) {
            paused = false;
            socket.resume();
          }
          try {
            await this.handle(peer, line);
          } catch (err) {
            this.opts.logger.error({ err }, 'SECoP request failed');
          }
        }
      } finally {
        running = false;
      }
    };
    const enqueue = (line: string): void => {
      if (peer.closed) return;
      pending.push(line);
      pendingBytes += line.length;
      if (!paused && (pending.length > MAX_PENDING_LINES || pendingBytes > MAX_PENDING_BYTES)) {
        paused = true;
        socket.pause();
      }
      if (!running) void run();
    };
    const onLines = (data: Buffer): void => {
      let start = 0;
      for (;;) {
        if (peer.closed) return;
        const lf = data.indexOf(0x0a, start);
        const piece = lf < 0 ? data.subarray(start) : data.subarray(start, lf);
        if (!discarding) {
          if (size + piece.length > this.maxLine) {
            // Nothing beyond the limit is kept: the rest of this line is dropped as it arrives.
            const head = overlongErrorHead(Buffer.concat([...chunks, piece]).subarray(0, HEAD_BYTES));
            discarding = true;
            chunks = [];
            size = 0;
            this.counters.overlongLines++;
            this.send(peer, `${head} ${JSON.stringify(['ProtocolError', `request line longer than ${this.maxLine} bytes: refused`, {}])}`);
          } else {
            chunks.push(piece);
            size += piece.length;
            if (size > this.counters.maxHeldLineBytes) this.counters.maxHeldLineBytes = size;
          }
        }
        if (lf < 0) return;
        if (!discarding) enqueue(Buffer.concat(chunks).toString('utf8').replace(/\r$/, ''));
        discarding = false;
        chunks = [];
        size = 0;
        start = lf + 1;
      }
    };
    // The first bytes decide: `GET /` is the WebSocket variant (reference §2), anything else lines.
    let mode: 'sniff' | 'lines' | 'ws-head' | 'ws' = 'sniff';
    let held: Buffer = Buffer.alloc(0);
    const decoder = new WsDecoder(this.maxLine);
    const wsFail = (err: WsError): void => {
      this.counters.overlongLines += err.closeCode === 1009 ? 1 : 0;
      this.send(peer, `error_unknown . ${JSON.stringify(['ProtocolError', err.message, {}])}`);
      this.closeWs(peer, err.closeCode);
    };
    const onFrames = (data: Buffer): void => {
      let messages;
      try {
        messages = decoder.push(data);
      } catch (err) {
        if (err instanceof WsError) return wsFail(err);
        throw err;
      } finally {
        if (decoder.heldBytes > this.counters.maxHeldWsBytes) this.counters.maxHeldWsBytes = decoder.heldBytes;
      }
      for (const m of messages) {
        if (peer.closed) return;
        if (m.opcode === OP.ping) this.writeBytes(peer, encodeFrame(OP.pong, m.data));
        else if (m.opcode === OP.close) return this.closeWs(peer, 1000);
        else if (m.opcode === OP.text || m.opcode === OP.binary) {
          // One message per frame, its line ending optional.
          for (const line of m.data.toString('utf8').split('\n')) if (line.replace(/\r$/, '') !== '') enqueue(line.replace(/\r$/, ''));
        }
      }
    };
    socket.on('data', (chunk: Buffer) => {
      // Ended by the node: the rest is dropped unread, not buffered or parsed again.
      if (peer.closing) return;
      if (mode === 'lines') return onLines(chunk);
      if (mode === 'ws') return onFrames(chunk);
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      if (mode === 'ws-head' && held.length > this.counters.maxHeldWsBytes) this.counters.maxHeldWsBytes = held.length;
      if (mode === 'sniff') {
        const first = held.subarray(0, 5).toString('latin1');
        if (held.length < 5 && 'GET /'.startsWith(first)) return;
        if (first !== 'GET /') {
          mode = 'lines';
          const data = held;
          held = Buffer.alloc(0);
          return onLines(data);
        }
        mode = 'ws-head';
        if (held.length > this.counters.maxHeldWsBytes) this.counters.maxHeldWsBytes = held.length;
      }
      const end = held.indexOf('\r\n\r\n');
      if (end < 0) {
        if (held.length > MAX_HANDSHAKE_BYTES) socket.destroy();
        return;
      }
      const { ok, response } = handshakeResponse(held.subarray(0, end).toString('latin1'));
      if (!ok) {
        held = Buffer.alloc(0);
        this.endConnection(peer, response);
        return;
      }
      this.writeBytes(peer, response);
      peer.ws = true;
      mode = 'ws';
      const rest = held.subarray(end + 4);
      held = Buffer.alloc(0);
      if (rest.length > 0) onFrames(rest);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      peer.closed = true;
      pending.length = 0;
      pendingBytes = 0;
      this.peers.delete(peer);
    });
  }

  private send(peer: Peer, line: string): void {
    // SECoP lines are ASCII: JSON escapes keep units such as °C intact for any client.
    const ascii = line.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    this.writeBytes(peer, peer.ws ? encodeFrame(OP.text, Buffer.from(ascii, 'latin1')) : `${ascii}\n`);
  }

  /**
   * Every byte to a peer goes through here: replies, updates, WebSocket pongs and the handshake.
   * A peer that reads nothing must not make the node buffer without bound, whatever it asks for
   * (a flood of pings costs it its connection as a flood of requests does).
   */
  private writeBytes(peer: Peer, bytes: Buffer | string): void {
    if (peer.socket.destroyed || peer.closing) return;
    if (peer.socket.writableLength > this.maxQueued) {
      this.counters.cutOffPeers++;
      peer.socket.destroy();
      return;
    }
    peer.socket.write(bytes);
  }

  /** Ends a WebSocket connection with a close frame (RFC 6455 §5.5.1). */
  private closeWs(peer: Peer, code: number): void {
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code, 0);
    this.endConnection(peer, encodeFrame(OP.close, body));
  }

  /**
   * Ends a connection with its last bytes: nothing more is read or answered (queued requests are
   * dropped), and a client that keeps its side open and sending is cut after a short grace.
   */
  private endConnection(peer: Peer, last: Buffer | string): void {
    if (peer.socket.destroyed || peer.closing) return;
    peer.closing = true;
    peer.closed = true;
    const socket = peer.socket;
    socket.end(last);
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  private async handle(peer: Peer, line: string): Promise<void> {
    if (line.trim() === '') return;
    const sp1 = line.indexOf(' ');
    const action = sp1 < 0 ? line : line.slice(0, sp1);
    const rest = sp1 < 0 ? '' : line.slice(sp1 + 1);
    const sp2 = rest.indexOf(' ');
    const specifier = sp2 < 0 ? rest : rest.slice(0, sp2);
    const data = sp2 < 0 ? undefined : rest.slice(sp2 + 1);
    try {
      await this.dispatch(peer, action, specifier, data);
    } catch (err) {
      const e = secopErrorOf(err);
      const act = /^[A-Za-z_*?][A-Za-z0-9_*?]{0,62}$/.test(action) ? action : 'unknown';
      this.send(peer, `error_${act} ${specifier || '.'} ${JSON.stringify([e.errorClass, e.message, {}])}`);
    }
  }

  private async dispatch(peer: Peer, action: string, specifier: string, data: string | undefined): Promise<void> {
    switch (action) {
      case '*IDN?':
        peer.active = false;
        this.send(peer, IDENTIFICATION);
        return;
      case 'describe':
        this.send(peer, `describing . ${JSON.stringify(this.description())}`);
        return;
      case 'activate':
        return this.activate(peer, specifier);
      case 'deactivate': {
        if (!specifier) peer.active = false;
        else {
          const name = this.module(specifier).module.name;
          // Deactivating one module of an activated node keeps the others.
          if (peer.active === null) peer.active = new Set([...this.modules.values()].map((m) => m.module.name));
          if (peer.active) peer.active.delete(name);
        }
        this.send(peer, specifier ? `inactive ${specifier}` : 'inactive');
        return;
      }
      case 'ping':
        this.send(peer, `pong ${specifier} ${JSON.stringify([null, { t: Date.now() / 1000 }])}`);
        return;
      case 'help':
        for (const text of [
          `labwire SECoP node ${this.opts.name}: requests *IDN?, describe, activate [module], deactivate [module], ping [token], read module:param, change module:param <json>, do module:command [<json>], check module:accessible [<json>], logging [module] <level>, help`,
          'modules follow the labwire devices: <device> and <device>_<group> (loop1, chA …); custom parameters carry a leading _',
        ]) {
          this.send(peer, `helping . ${JSON.stringify(text)}`);
        }
        return;
      case 'read': {
        const { module, link, param } = this.accessible(specifier);
        this.requireUp(link);
        this.send(peer, `reply ${module.name}:${param} ${JSON.stringify(this.report(module, link, param))}`);
        return;
      }
      case 'change':
        return this.change(peer, specifier, data);
      case 'do':
        return this.doCommand(peer, specifier, data);
      case 'check':
        return this.check(peer, specifier, data);
      case 'logging':
        return this.logging(peer, specifier, data);
      default:
        throw new SecopError('ProtocolError', `unknown request "${action.slice(0, 40)}"; this node accepts *IDN?, describe, activate, deactivate, ping, read, change, do, check, logging, help`);
    }
  }

  private module(name: string): { module: SecopModule; link: DeviceLink } {
    const m = this.modules.get(name.toLowerCase());
    if (!m || m.module.name !== name) throw new SecopError('NoSuchModule', `no module "${name.slice(0, 63)}"; this node has ${[...this.modules.values()].map((x) => x.module.name).join(', ')}`);
    return m;
  }

  private split(specifier: string): [string, string] {
    const parts = specifier.split(':');
    // MUST-ignore: extra `:` parts.
    if (parts.length < 2 || !parts[0] || !parts[1]) throw new SecopError('ProtocolError', `expected module:accessible, got "${specifier.slice(0, 80)}"`);
    return [parts[0], parts[1]];
  }

  private accessible(specifier: string): { module: SecopModule; link: DeviceLink; param: string } {
    const [mod, param] = this.split(specifier);
    const { module, link } = this.module(mod);
    if (param !== 'status' && !module.params.has(param)) {
      if (module.commands.has(param)) throw new SecopError('NoSuchParameter', `${mod}:${param} is a command: use do`);
      throw new SecopError('NoSuchParameter', `module ${mod} has no parameter "${param}"; it has status, ${[...module.params.keys()].join(', ')}`);
    }
    return { module, link, param };
  }

  private requireUp(link: DeviceLink): void {
    if (!link.up) throw new SecopError('CommunicationFailed', `no connection to the labwire daemon ${link.endpoint}; the node reconnects by itself`);
  }

  private report(module: SecopModule, link: DeviceLink, param: string): Json {
    if (param === 'status') {
      const t = Math.max(link.ts.get('state') ?? 0, link.ts.get('hw_connected') ?? 0) || Date.now();
      return [link.status(module), { t: t / 1000 }];
    }
    const p = module.params.get(param)!;
    const t = link.ts.get(p.labwire) ?? Date.now();
    return [toSecop(link.values.get(p.labwire), p.desc), { t: t / 1000 }];
  }

  private activate(peer: Peer, specifier: string): void {
    const only = specifier ? this.module(specifier).module.name : null;
    for (const { module, link } of this.modules.values()) {
      if (only && module.name !== only) continue;
      if (!link.up) {
        this.send(peer, `error_update ${module.name}:value ${JSON.stringify(['CommunicationFailed', `no connection to the labwire daemon ${link.endpoint}`, {}])}`);
        this.send(peer, `update ${module.name}:status ${JSON.stringify(this.report(module, link, 'status'))}`);
        continue;
      }
      for (const name of module.params.keys()) this.send(peer, `update ${module.name}:${name} ${JSON.stringify(this.report(module, link, name))}`);
      this.send(peer, `update ${module.name}:status ${JSON.stringify(this.report(module, link, 'status'))}`);
    }
    if (only) {
      if (peer.active !== null) {
        if (peer.active === false) peer.active = new Set();
        peer.active.add(only);
      }
      this.send(peer, `active ${only}`);
    } else {
      peer.active = null;
      this.send(peer, 'active');
    }
  }

  /** Whether a write may go, and as operator naming the peer (true) or as the node's own line (false). */
  private writeMode(peer: Peer): boolean {
    // A request queued before its client left is not applied in the name of a gone peer.
    if (peer.closed || peer.socket.destroyed) throw new SecopError('Impossible', `the SECoP client ${peer.address} has disconnected: its request is not forwarded`);
    if (this.opts.token) return true;
    if (this.opts.trusted) return false;
    throw new SecopError('Impossible', 'this SECoP node is read-only: give it an operator token (--token-file or LABWIRE_TOKEN; mark it forward in the daemon\'s token file) or declare the network trusted (--trusted)');
  }

  /** Sends a write for the peer; the daemon's refusal becomes the SECoP error it maps to. */
  private async write(link: DeviceLink, peer: Peer, line: string): Promise<Command> {
    const asOperator = this.writeMode(peer);
    try {
      return await link.write(line, peer.address, asOperator);
    } catch (err) {
      throw secopErrorOf(err);
    }
  }

  private parseJson(data: string | undefined, what: string): unknown {
    if (data === undefined) return null;
    try {
      return JSON.parse(data) as unknown;
    } catch {
      throw new SecopError('WrongType', `${what}: not a JSON value: ${data.slice(0, 80)}`);
    }
  }

  private async change(peer: Peer, specifier: string, data: string | undefined): Promise<void> {
    const { module, link, param } = this.accessible(specifier);
    if (param === 'status' || module.params.get(param)!.readonly) throw new SecopError('ReadOnly', `${module.name}:${param} is read-only`);
    if (data === undefined) throw new SecopError('ProtocolError', `change ${specifier} needs a JSON value`);
    const p = module.params.get(param)!;
    const converted = fromSecop(this.parseJson(data, `change ${specifier}`), p.desc);
    if (!converted.ok) throw new SecopError('WrongType', `${module.name}:${param}: ${converted.message}`);
    this.requireUp(link);
    const reply = await this.write(link, peer, formatCommand(makeCommand('set', [], { [p.labwire]: converted.value })));
    const appliedAt = Date.now();
    // Side effects (the target, the state turning BUSY) go out as updates before `changed`.
    await this.afterWrite(link);
    // `changed` carries the value as read back after the change (reference §4): the daemon's
    // `ok set <param>=<value as applied>`, which the cache (a poll behind) may not hold yet.
    const readBack = reply.kwargs[p.labwire];
    const report: Json = readBack === undefined ? this.report(module, link, param) : [toSecop(convertValue(readBack, p.desc.type) as CacheValue, p.desc), { t: appliedAt / 1000 }];
    this.send(peer, `changed ${module.name}:${param} ${JSON.stringify(report)}`);
  }

  private async doCommand(peer: Peer, specifier: string, data: string | undefined): Promise<void> {
    const [mod, name] = this.split(specifier);
    const { module, link } = this.module(mod);
    const cmd = module.commands.get(name);
    if (!cmd) {
      throw new SecopError('NoSuchCommand', `module ${mod} has no command "${name}"${module.commands.size ? `; it has ${[...module.commands.keys()].join(', ')}` : ''}`);
    }
    const kwargs = this.commandArgs(mod, name, cmd, this.parseJson(data, `do ${specifier}`));
    this.requireUp(link);
    await this.write(link, peer, formatCommand(makeCommand(cmd.labwire, [], kwargs)));
    // Side effects (the target, the state turning BUSY) go out as updates before `done`.
    await this.afterWrite(link);
    this.send(peer, `done ${mod}:${name} ${JSON.stringify([null, { t: Date.now() / 1000 }])}`);
  }

  /** The labwire arguments of a command from its SECoP argument (one value, or a struct of several). */
  private commandArgs(mod: string, name: string, cmd: SecopCommand, arg: unknown): Record<string, WireValue> {
    const kwargs: Record<string, WireValue> = {};
    if (cmd.args.length === 1) {
      const [argName, desc] = cmd.args[0]!;
      if (arg !== null || !desc.optional) {
        const c = fromSecop(arg, desc);
        if (!c.ok) throw new SecopError('WrongType', `${mod}:${name} argument ${argName}: ${c.message}`);
        kwargs[argName] = c.value;
      }
    } else if (cmd.args.length > 1) {
      if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) throw new SecopError('WrongType', `${mod}:${name} takes a JSON object with ${cmd.args.map(([n]) => n).join(', ')}`);
      const obj = arg as Record<string, unknown>;
      for (const [argName, desc] of cmd.args) {
        if (obj[argName] === undefined) {
          if (desc.optional) continue;
          throw new SecopError('WrongType', `${mod}:${name} needs ${argName}`);
        }
        const c = fromSecop(obj[argName], desc);
        if (!c.ok) throw new SecopError('WrongType', `${mod}:${name} argument ${argName}: ${c.message}`);
        kwargs[argName] = c.value;
      }
    } else if (arg !== null) {
      throw new SecopError('WrongType', `${mod}:${name} takes no argument`);
    }
    return kwargs;
  }

  /**
   * `check` (reference §3, optional in SECoP): whether a `change` or `do` would be accepted by the
   * node's own checks — the accessible exists and is writable, the JSON has its type, a number is
   * within the daemon's effective limits — without applying anything. The daemon's roles and
   * state are not asked: those only a real `change` meets.
   */
  private check(peer: Peer, specifier: string, data: string | undefined): void {
    const [mod, name] = this.split(specifier);
    const { module } = this.module(mod);
    const cmd = module.commands.get(name);
    if (cmd) {
      const arg = this.parseJson(data, `check ${specifier}`);
      this.commandArgs(mod, name, cmd, arg);
      this.send(peer, `checked ${mod}:${name} ${JSON.stringify([arg as Json, {}])}`);
      return;
    }
    const { param } = this.accessible(specifier);
    const p = module.params.get(param);
    if (!p || p.readonly) throw new SecopError('NotCheckable', `${mod}:${param} is read-only: only writable parameters and commands can be checked`);
    if (data === undefined) throw new SecopError('ProtocolError', `check ${specifier} needs a JSON value`);
    const converted = fromSecop(this.parseJson(data, `check ${specifier}`), p.desc);
    if (!converted.ok) throw new SecopError('WrongType', `${mod}:${param}: ${converted.message}`);
    const v = converted.value;
    if (typeof v === 'number' && ((p.desc.min !== undefined && v < p.desc.min) || (p.desc.max !== undefined && v > p.desc.max))) {
      throw new SecopError('RangeError', `${mod}:${param}: ${v} is outside ${p.desc.min ?? '-inf'}..${p.desc.max ?? 'inf'}${p.desc.unit ? ` ${p.desc.unit}` : ''}`);
    }
    this.send(peer, `checked ${mod}:${param} ${JSON.stringify([toSecop(v, p.desc), {}])}`);
  }

  /**
   * `logging [module[:param]] <level>` (reference §3, optional): the device's log lines (labwire
   * `log` pushes, and what the monitor logs of the device) go to this peer as
   * `log <module>:<level> <json text>` from that level up. Without a module: every module.
   */
  private logging(peer: Peer, specifier: string, data: string | undefined): void {
    // `logging "info"` has the level where the specifier would be.
    const nodeWide = data === undefined;
    const levelText = nodeWide ? specifier : data;
    // MUST-ignore: a `:param` part of the specifier (labwire logs are per device).
    const moduleName = nodeWide || specifier === '' ? undefined : specifier.split(':')[0]!;
    const level = this.parseJson(levelText, `logging ${specifier}`);
    const rank = level === false || level === 'off' ? -1 : LOG_LEVELS.indexOf(level as (typeof LOG_LEVELS)[number]);
    if (rank === -1 && level !== false && level !== 'off') {
      throw new SecopError('WrongType', `logging: the level is one of ${LOG_LEVELS.map((l) => JSON.stringify(l)).join(', ')}, "off" or false; got ${String(levelText).slice(0, 40)}`);
    }
    const names = moduleName !== undefined ? [this.module(moduleName).module.name] : [...this.modules.values()].map((m) => m.module.name);
    for (const n of names) {
      if (rank < 0) peer.logging.delete(n);
      else peer.logging.set(n, rank);
    }
    this.send(peer, `logging ${moduleName ?? '.'} ${JSON.stringify(level)}`);
  }

  /** A log line of a device: to the peers that asked for its device module's logs at that level. */
  private onLog(link: DeviceLink, level: string, text: string): void {
    const module = link.modules[0];
    if (!module) return;
    const secop = secopLogLevel(level);
    const rank = LOG_LEVELS.indexOf(secop);
    const line = `log ${module.name}:${secop} ${JSON.stringify(text)}`;
    for (const peer of this.peers) {
      const wanted = peer.logging.get(module.name);
      if (wanted !== undefined && rank >= wanted) this.send(peer, line);
    }
  }

  /** The write was applied: a failing re-read must not turn it into an error reply. */
  private async afterWrite(link: DeviceLink): Promise<void> {
    try {
      await link.refresh();
    } catch (err) {
      this.opts.logger.warn({ err, daemon: link.endpoint }, 'SECoP node: re-reading after a write failed; updates follow from the subscription');
    }
  }

  // ---- updates -----------------------------------------------------------------------------------

  private activeFor(module: string): Peer[] {
    return [...this.peers].filter((p) => p.active === null || (p.active !== false && p.active.has(module)));
  }

  private onValues(link: DeviceLink, names: string[]): void {
    const changed = new Set(names);
    for (const module of link.modules) {
      const peers = this.activeFor(module.name);
      for (const p of module.params.values()) {
        if (!changed.has(p.labwire)) continue;
        const line = `update ${module.name}:${p.name} ${JSON.stringify(this.report(module, link, p.name))}`;
        for (const peer of peers) this.send(peer, line);
      }
      this.pushStatus(module, link, peers);
    }
  }

  private pushStatus(module: SecopModule, link: DeviceLink, peers: Peer[]): void {
    const status = JSON.stringify(link.status(module));
    if (this.lastStatus.get(module.name) === status) return;
    this.lastStatus.set(module.name, status);
    const line = `update ${module.name}:status ${JSON.stringify(this.report(module, link, 'status'))}`;
    for (const peer of peers) this.send(peer, line);
  }

  private onConnection(link: DeviceLink, up: boolean): void {
    for (const module of link.modules) {
      const peers = this.activeFor(module.name);
      if (!up) {
        const line = `error_update ${module.name}:value ${JSON.stringify(['CommunicationFailed', `lost the labwire daemon ${link.endpoint}; reconnecting`, {}])}`;
        for (const peer of peers) this.send(peer, line);
      }
      this.pushStatus(module, link, peers);
    }
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
