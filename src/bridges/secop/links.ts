/**
 * How the SECoP node reaches a labwire device (decision 0036): a DaemonLink connects to a daemon
 * itself, a MonitorLink goes through a monitor. Both keep the device's modules and a value cache,
 * and derive each module's SECoP status from the labwire state (decision 0027).
 */
import type { Logger } from 'pino';
import { convertValue, type LabwireClient } from '../../client/index.js';
import { parseErrorReply, parseLine, quote, type Command, type DescribeDoc } from '../../wire/index.js';
import type { MonitorUpdate, MonitorView, PeerState } from '../../monitor/types.js';
import { STATUS, modulesOf, type CacheValue, type SecopModule } from './modules.js';

/**
 * One labwire device as the node sees it: its modules, a cache of its values, and how a write
 * reaches it. A DaemonLink talks to a daemon itself (`labwire secop`); a MonitorLink reaches any
 * device a monitor watches through that monitor (`secop:` under `labwire up`).
 */
export abstract class DeviceLink {
  modules: SecopModule[] = [];
  readonly values = new Map<string, CacheValue>();
  readonly ts = new Map<string, number>();

  constructor(protected readonly logger: Logger) {}

  /** Where the device is reached, for messages. */
  abstract readonly endpoint: string;
  abstract get up(): boolean;
  /** Reads every value again and reports those that changed. */
  abstract refresh(): Promise<void>;
  /**
   * Sends one state-changing labwire line for a SECoP peer; resolves with the daemon's `ok` reply,
   * rejects with its error. `asOperator`: name the SECoP peer as an operator (the node holds a
   * token the daemons trust to forward end users), else the line goes as the node's own.
   */
  abstract write(line: string, peerAddress: string, asOperator: boolean): Promise<Command>;

  /** [code, text] of a module. */
  status(m: SecopModule): [number, string] {
    if (!this.up) return [STATUS.ERROR, `no connection to the labwire daemon ${this.endpoint}`];
    const hw = this.values.get('hw_connected');
    const state = String(this.values.get('state') ?? 'idle');
    const text = String(this.values.get('state_text') ?? state);
    if (hw === false) return [STATUS.ERROR, text];
    switch (state) {
      case 'error':
        return [STATUS.ERROR, text];
      case 'disabled':
        return [STATUS.DISABLED, text];
      case 'warn':
        return [STATUS.WARN, text];
      case 'busy':
        return m.className === 'Drivable' ? [STATUS.BUSY, text] : [STATUS.IDLE, 'idle'];
      case 'ramping':
      case 'stabilizing': {
        if (m.className !== 'Drivable') return [STATUS.IDLE, 'idle'];
        // The daemon's state is device-wide; its text names the target that is moving (state.ts).
        const drivables = this.modules.filter((x) => x.className === 'Drivable');
        const mine = drivables.length === 1 || text.includes(`${m.valueParam} `) || (m.targetParam !== undefined && text.includes(`${m.targetParam} `));
        if (!mine) return [STATUS.IDLE, 'idle'];
        return [state === 'ramping' ? STATUS.RAMPING : STATUS.STABILIZING, text];
      }
      default:
        return [STATUS.IDLE, text];
    }
  }
}

/** A labwire daemon the node connects to itself. */
export class DaemonLink extends DeviceLink {
  doc!: DescribeDoc;
  private stopped = false;

  constructor(
    readonly client: LabwireClient,
    private readonly onChange: (link: DeviceLink, names: string[]) => void,
    private readonly onConnection: (link: DeviceLink, up: boolean) => void,
    logger: Logger,
    /** The daemon came back with another describe: `modules` are rebuilt, `before` are those they replace. */
    private readonly onDescribed: (link: DaemonLink, before: SecopModule[]) => void = () => undefined,
  ) {
    super(logger);
  }

  get endpoint(): string {
    return this.client.endpoint;
  }

  get up(): boolean {
    return this.client.connected;
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.doc = await this.client.describe();
    this.modules = modulesOf(this.doc);
    await this.refresh();
    this.client.on('connected', () => {
      // A restarted daemon may have other site limits, parameters or commands.
      this.redescribe()
        .then(() => this.refresh())
        .then(() => this.onConnection(this, true))
        .catch((err: unknown) => this.logger.warn({ err, daemon: this.client.endpoint }, 'SECoP node: reading the daemon after a reconnect failed'));
    });
    this.client.on('disconnected', () => this.onConnection(this, false));
    void this.follow();
  }

  stop(): void {
    this.stopped = true;
  }

  private async redescribe(): Promise<void> {
    const doc = await this.client.describe();
    if (JSON.stringify(doc) === JSON.stringify(this.doc)) return;
    const before = this.modules;
    this.doc = doc;
    this.modules = modulesOf(doc);
    this.onDescribed(this, before);
  }

  async refresh(): Promise<void> {
    const status = await this.client.status();
    const changed: string[] = [];
    for (const [name, v] of Object.entries(status.values)) {
      if (this.values.get(name) !== v) changed.push(name);
      this.values.set(name, v);
      this.ts.set(name, status.ts[name] ?? status.t);
    }
    if (changed.length > 0) this.onChange(this, changed);
  }

  async write(line: string, peerAddress: string, asOperator: boolean): Promise<Command> {
    const sent = asOperator ? `as user=${quote(`secop:${peerAddress}`)} role=operator ${line}` : line;
    return (await this.client.request(sent)).command;
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      try {
        for await (const u of this.client.subscribe()) {
          const names: string[] = [];
          for (const [name, raw] of Object.entries(u.values)) {
            const v = convertValue(raw, this.doc.params[name]?.type);
            this.values.set(name, v);
            this.ts.set(name, u.t);
            names.push(name);
          }
          if (names.length > 0) this.onChange(this, names);
        }
        return; // the client was closed
      } catch (err) {
        if (this.stopped) return;
        this.logger.warn({ err, daemon: this.client.endpoint }, 'SECoP node: subscription refused; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
}

/** What the node needs of a monitor: its devices, their changes, and `send` (MonitorView). */
export type SecopMonitor = Pick<MonitorView, 'name' | 'peers' | 'peer' | 'send' | 'on' | 'off'>;

/**
 * A device the monitor watches — a lab daemon, a peer daemon, a lower monitor's device — reached
 * through the monitor: values from its events, writes through `send` (its audit and read-only
 * mode apply, and it forwards the SECoP peer as the end user to the daemon).
 */
export class MonitorLink extends DeviceLink {
  private connected = false;
  /** The describe the modules were built from (its JSON), to tell a re-description from a repeat. */
  describedAs = '';

  constructor(
    private readonly monitor: SecopMonitor,
    readonly client: string,
    doc: DescribeDoc,
    private readonly onChange: (link: DeviceLink, names: string[]) => void,
    logger: Logger,
  ) {
    super(logger);
    this.rebuild(doc);
  }

  /** Builds the modules from a describe: the first one, or a new one after the daemon changed (limits, parameters). */
  rebuild(doc: DescribeDoc): void {
    this.modules = modulesOf(doc, this.client);
    this.describedAs = JSON.stringify(doc);
  }

  get endpoint(): string {
    return `${this.client} (through monitor ${this.monitor.name})`;
  }

  get up(): boolean {
    return this.connected;
  }

  /** Takes the monitor's view of the device; returns the names whose value changed and whether the link went up or down. */
  sync(state: PeerState): { changed: string[]; linkChanged: boolean } {
    const changed: string[] = [];
    for (const [name, v] of Object.entries(state.values)) {
      if (this.values.get(name) !== v) changed.push(name);
      this.values.set(name, v);
      this.ts.set(name, state.ts[name] ?? Date.now());
    }
    const linkChanged = this.connected !== state.connected;
    this.connected = state.connected;
    return { changed, linkChanged };
  }

  update(u: MonitorUpdate): void {
    const names = Object.keys(u.values);
    for (const name of names) {
      this.values.set(name, u.values[name]!);
      this.ts.set(name, u.t);
    }
    if (names.length > 0) this.onChange(this, names);
  }

  async refresh(): Promise<void> {
    const state = this.monitor.peer(this.client);
    if (!state) return;
    const { changed } = this.sync(state);
    if (changed.length > 0) this.onChange(this, changed);
  }

  async write(line: string, peerAddress: string, asOperator: boolean): Promise<Command> {
    const reply = await this.monitor.send(this.client, line, { who: `secop:${peerAddress}`, peer: peerAddress, role: asOperator ? 'operator' : null });
    const cmd = parseLine(reply);
    const err = parseErrorReply(cmd);
    if (err) throw err;
    return cmd;
  }
}
