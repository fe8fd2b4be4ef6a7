/**
 * LabwireClient: the one client of the labwire protocol, for scripts, the CLI, the monitor and the
 * bridges (DESIGN.md §2). It connects (TCP or TLS), authenticates, reconnects with bounded
 * exponential back-off, re-subscribes after a reconnect, and offers `waitFor` so that scripts wait
 * for a condition instead of sleeping in a polling loop.
 *
 * It also talks to CCDLab daemons and monitors as far as they allow: `statusLine()` and `getId()`
 * work as they are, `status()` and `waitFor` read a CCDLab `status k=v ...` reply and poll
 * instead of subscribing. Requests a CCDLab peer never answers (everything else) run into the
 * request timeout, and since such a peer also sends no late reply, the pairing of every later
 * reply is off by one: with CCDLab peers, send only what they answer.
 *
 * The parts live beside it: connection.ts (connect, auth, reconnect), subscriptions.ts (one daemon
 * subscription shared by all subscribers), waiting.ts (waitFor), snapshot.ts (reading values).
 */
import { EventEmitter } from 'node:events';
import {
  LabwireError,
  formatCommand,
  lineBody,
  makeCommand,
  parseErrorReply,
  type Command,
  type DescribeDoc,
  type Reply,
  type StatusDoc,
  type WireValue,
} from '../wire/index.js';
import { parseCondition } from './condition.js';
import { ClientConnection } from './connection.js';
import { commandName, expectReply, isRecord, parseJsonBody, plain, toError } from './replies.js';
import { readSnapshot, type Snapshot } from './snapshot.js';
import { Subscriptions } from './subscriptions.js';
import type { LabwireClientEvents, LabwireClientOptions, RequestOptions, Update, Values, WaitForOptions } from './types.js';
import { parseUpdate } from './values.js';
import { ConditionWait, type WaitCondition, type WaitHost, type WaitLifecycle } from './waiting.js';

export type {
  LabwireClientEvents,
  LabwireClientOptions,
  LogEntry,
  RequestOptions,
  TlsOptions,
  Update,
  Values,
  WaitForOptions,
} from './types.js';
export { convertValue, parseUpdate } from './values.js';

const CCDLAB_LOG_LEVELS = new Set(['message', 'info', 'warning', 'error', 'success', 'debug']);

export class LabwireClient extends EventEmitter<LabwireClientEvents> {
  readonly host: string;
  readonly port: number;
  private readonly connection: ClientConnection;
  private readonly subscriptions: Subscriptions;
  private describeCache: Promise<DescribeDoc | undefined> | null = null;
  /** The same lifecycle events for waitFor's own use: any number of waits, no listener-count warnings. */
  private readonly lifecycle: WaitLifecycle = new EventEmitter();
  /** What a wait sees of this client. */
  private readonly waitHost: WaitHost;

  constructor(options: LabwireClientOptions) {
    super();
    this.host = options.host;
    this.port = options.port;
    this.lifecycle.setMaxListeners(0);
    this.connection = new ClientConnection(options, {
      handshake: async (conn) => {
        this.subscriptions.reset();
        this.describeCache = null;
        await this.subscriptions.sync(conn, null);
      },
      push: (cmd, line) => this.onPush(cmd, line),
      unsolicited: (cmd, line) => this.emit('unsolicited', cmd, line),
      oversize: (info) => this.emit('oversize', info),
      connected: () => {
        this.lifecycle.emit('connected');
        this.emit('connected');
      },
      disconnected: (reason, error) => {
        this.subscriptions.reset();
        this.describeCache = null;
        // Nothing will restore the subscriptions: end them rather than leave loops hanging.
        if (!this.connection.reconnect) this.subscriptions.endAll(error);
        this.lifecycle.emit('disconnected', reason);
        this.emit('disconnected', reason);
      },
      reconnecting: (info) => this.emit('reconnecting', info),
      reconnectFailed: (error) => {
        this.lifecycle.emit('reconnectFailed', error);
        this.emit('reconnectFailed', error);
      },
    });
    this.subscriptions = new Subscriptions(() => this.connection.current);
    const connection = this.connection;
    this.waitHost = {
      get connected() {
        return connection.current !== null;
      },
      get trying() {
        return connection.trying;
      },
      get closing() {
        return connection.closing;
      },
      get lastError() {
        return connection.lastError;
      },
      reconnects: connection.reconnect,
      endpoint: connection.endpoint,
      lifecycle: this.lifecycle,
      subscriptions: this.subscriptions,
      snapshot: () => this.snapshot(),
      describe: () => this.cachedDescribe(),
    };
  }

  /** `host:port`, for messages. */
  get endpoint(): string {
    return this.connection.endpoint;
  }

  get connected(): boolean {
    return this.connection.current !== null;
  }

  /**
   * Connects, authenticates with the token if one is set, and identifies with the name if one is
   * set. With reconnect off, the first failure rejects. With reconnect on, attempts continue with
   * back-off; connectTimeoutMs (if set) bounds the wait, and on a first connect also stops the
   * attempts. A refused token or an untrusted certificate rejects at once either way.
   */
  connect(): Promise<void> {
    return this.connection.connect();
  }

  /** Stops reconnecting, ends every subscription and closes the connection. */
  async close(): Promise<void> {
    if (this.connection.closing) return;
    const conn = this.connection.shutdown();
    this.subscriptions.endAll();
    this.lifecycle.emit('close');
    this.emit('close');
    if (conn) await conn.close();
  }

  /**
   * Sends one request line (or Command) and resolves with its reply. An `error ...` reply rejects
   * with the LabwireError it carries. While disconnected it rejects at once with
   * LabwireError('CommunicationFailed').
   */
  async request(line: string | Command, options: RequestOptions = {}): Promise<Reply> {
    const text = typeof line === 'string' ? line : formatCommand(line);
    const conn = this.connection.current;
    if (!conn) throw this.connection.notConnected(commandName(text));
    const reply = await conn.request(text, { timeoutMs: options.timeoutMs ?? this.connection.requestTimeoutMs });
    const err = parseErrorReply(reply.command);
    if (err) throw err;
    return reply;
  }

  /**
   * Like request(), but an `error ...` reply resolves like any other: for relays (the monitor's
   * `send`) that hand the peer's own line back.
   */
  async requestLine(line: string, options: RequestOptions = {}): Promise<Reply> {
    const conn = this.connection.current;
    if (!conn) throw this.connection.notConnected(commandName(line));
    return conn.request(line, { timeoutMs: options.timeoutMs ?? this.connection.requestTimeoutMs });
  }

  /**
   * Writes a line that gets no reply (a notice such as `id name=x type=y`, or a command to a
   * CCDLab daemon, which never answers). False when not connected.
   */
  notify(line: string): boolean {
    const conn = this.connection.current;
    if (!conn || conn.closed) return false;
    return conn.send(line);
  }

  /** Drops the current connection (e.g. a peer that hangs); with reconnect on, a new one follows. */
  dropConnection(): void {
    this.connection.drop();
  }

  /** `get_id`: name, type, protocol and version (CCDLab daemons: name and an empty type). */
  async getId(): Promise<Record<string, string>> {
    const reply = await this.request('get_id');
    expectReply(reply, 'id', 'get_id');
    return plain(reply.command.kwargs);
  }

  /**
   * `get_status format=json`. A CCDLab daemon answers with its plain `status k=v` line, which is
   * returned with string values; a monitor's nested document is flattened to `<client>.<param>`.
   */
  async status(): Promise<StatusDoc> {
    const snap = await this.snapshot();
    if (snap.doc) return snap.doc;
    return { name: '', t: snap.t, values: { ...snap.values }, units: {}, ts: {} };
  }

  /** Plain `get_status`: the `status k=v ...` line's pairs, as strings. Works with CCDLab daemons. */
  async statusLine(): Promise<Record<string, string>> {
    const reply = await this.request('get_status');
    expectReply(reply, 'status', 'get_status');
    return plain(reply.command.kwargs);
  }

  /**
   * `describe`: parameters with types, units and limits; commands with their arguments. With
   * `device`, of that device through the monitor this client talks to (`send <device> describe`).
   */
  async describe(device?: string): Promise<DescribeDoc> {
    const reply = await this.request(device === undefined ? 'describe' : makeCommand('send', [device, 'describe'], {}));
    expectReply(reply, 'describe', 'describe');
    const doc = parseJsonBody(reply, 'describe');
    if (!isRecord(doc) || !isRecord(doc.params) || !isRecord(doc.commands)) {
      throw new LabwireError('ProtocolError', 'describe reply lacks params or commands', 'describe');
    }
    return doc as unknown as DescribeDoc;
  }

  /** `set k=v ...`: resolves with the values as applied. */
  async set(values: Record<string, WireValue>): Promise<Record<string, string>> {
    const reply = await this.request(makeCommand('set', [], values));
    return plain(reply.command.kwargs);
  }

  /** A device command with positional or keyword arguments; resolves with its results. */
  async call(command: string, args: Record<string, WireValue> | WireValue[] = []): Promise<Record<string, string>> {
    const cmd = Array.isArray(args) ? makeCommand(command, args) : makeCommand(command, [], args);
    const reply = await this.request(cmd);
    return plain(reply.command.kwargs);
  }

  /**
   * Push updates of the given parameters (all when none are given). The subscription is sent when
   * iteration starts and restored after every reconnect; leaving the loop sends `unsubscribe` when
   * no other subscription of this client is active. A refused subscription (an error reply) is
   * thrown from the loop; the loop ends when the client is closed.
   */
  subscribe(params?: string[]): AsyncIterable<Update> {
    const wanted = params && params.length > 0 ? [...params] : null;
    return { [Symbol.asyncIterator]: () => this.subscriptions.open(wanted) };
  }

  /**
   * Waits until a condition holds (see condition.ts for the syntax), or a predicate returns true,
   * for stableForMs without a break. Reads the current values first, then follows pushed updates
   * (or polls a peer that cannot push); keeps waiting across reconnects, re-reading the values each
   * time, and restarts the stability timer after a disconnection. Resolves with the values at that
   * moment. Rejects with LabwireError('Timeout') naming the last values the condition reads.
   */
  waitFor(condition: string | ((values: Values) => boolean), options: WaitForOptions = {}): Promise<Values> {
    let parsed: WaitCondition;
    try {
      if (typeof condition === 'string') {
        const { source, names, test } = parseCondition(condition);
        parsed = { source, names, test };
      } else {
        parsed = { source: '', names: [], test: condition };
      }
    } catch (err) {
      return Promise.reject(toError(err));
    }
    return ConditionWait.run(this.waitHost, parsed, options);
  }

  // ---- pushes ------------------------------------------------------------------------------------

  private onPush(cmd: Command, line: string): void {
    this.emit('push', cmd, line);
    if (cmd.name === 'update') {
      const update = parseUpdate(cmd);
      this.emit('update', update);
      this.subscriptions.deliver(update);
    } else if (cmd.name === 'log') {
      const t = Number(cmd.kwargs.t);
      this.emit('log', {
        t: cmd.kwargs.t !== undefined && Number.isFinite(t) ? t : Date.now(),
        level: cmd.kwargs.level ?? 'info',
        message: cmd.kwargs.message ?? cmd.args.join(' '),
        ...(cmd.kwargs.source !== undefined ? { source: cmd.kwargs.source } : {}),
      });
    } else if (cmd.name !== null && CCDLAB_LOG_LEVELS.has(cmd.name)) {
      this.emit('log', { t: Date.now(), level: cmd.name, message: lineBody(line) });
    }
  }

  // ---- values ------------------------------------------------------------------------------------

  /** `get_status format=json`, read from a labwire or a CCDLab reply. */
  private snapshot(): Promise<Snapshot> {
    return readSnapshot((line) => this.request(line));
  }

  private cachedDescribe(): Promise<DescribeDoc | undefined> {
    this.describeCache ??= this.describe().catch(() => undefined);
    return this.describeCache;
  }
}
