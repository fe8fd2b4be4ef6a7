/**
 * The lab's state for a daemon started with `--lab <host:port>`: its monitor's `snapshot`
 * (every device the monitor sees, values and units), asked over one labwire connection that is
 * kept and opened again only when next needed. Every ask is bounded (3 s by default, connecting
 * included): an image must not wait long for a header. A failure rejects with a LabwireError;
 * the runner then falls back to the daemon's own values (RunnerOptions.labState).
 */
import { LabwireClient, type TlsOptions } from '../client/index.js';
import { LabwireError, lineBody } from '../wire/index.js';
import type { LabDeviceState, LabState } from './api.js';

export const LAB_STATE_TIMEOUT_MS = 3000;

/** Where the lab's monitor listens, and how to get in (a viewer token is enough). */
export interface LabMonitorOptions {
  host: string;
  port: number;
  token?: string;
  tls?: TlsOptions | boolean;
  /** Bound of one ask, connecting included (default 3 s). */
  timeoutMs?: number;
}

export interface MonitorLabStateOptions {
  /**
   * The monitor, or how to find it when the ask is made: `labwire up` starts its daemons before
   * the monitor, whose port is known only then (undefined: not started yet).
   */
  monitor: LabMonitorOptions | (() => LabMonitorOptions | undefined);
  /** How this daemon names itself to the monitor: `daemon <name>`. */
  name: string;
}

/** `host:port` (IPv6 in brackets), as `--lab` takes it. */
export function parseLabAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new LabwireError('ProtocolError', `--lab "${text}" is not host:port (the lab's monitor, e.g. 127.0.0.1:7700)`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

export class MonitorLabState {
  private client: LabwireClient | undefined;
  private connecting: Promise<LabwireClient> | undefined;
  private closed = false;

  constructor(private readonly opts: MonitorLabStateOptions) {}

  /** The monitor now, or undefined when it is not known yet. */
  private target(): LabMonitorOptions | undefined {
    const m = this.opts.monitor;
    return typeof m === 'function' ? m() : m;
  }

  /** `host:port` of the monitor, for messages; `the lab's monitor` before it is known. */
  get endpoint(): string {
    const t = this.target();
    return t ? `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}` : '(not started yet)';
  }

  /** The monitor's snapshot; rejects with a LabwireError that says what went wrong. */
  async get(): Promise<LabState> {
    const target = this.target();
    if (!target) throw new LabwireError('CommunicationFailed', "the lab's monitor has not started yet", 'snapshot');
    const timeoutMs = target.timeoutMs ?? LAB_STATE_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const where = `the lab's monitor at ${this.endpoint}`;
    try {
      const client = await this.connected(target, deadline);
      const reply = await client.request('snapshot', { timeoutMs: Math.max(1, deadline - Date.now()) });
      if (reply.command.name !== 'snapshot_json') throw new LabwireError('ProtocolError', `expected snapshot_json, got: ${reply.line.slice(0, 120)}`, 'snapshot');
      return parseLabState(lineBody(reply.line));
    } catch (err) {
      // A broken or timed-out connection is not reused: the next ask opens a fresh one.
      if (!(err instanceof LabwireError) || err.code !== 'NoSuchCommand') this.drop();
      const why = err instanceof Error ? err.message : String(err);
      const hint = err instanceof LabwireError && err.code === 'NoSuchCommand' ? ' (a monitor older than the snapshot command)' : '';
      throw new LabwireError(err instanceof LabwireError ? err.code : 'CommunicationFailed', `${where}: ${why}${hint}`, 'snapshot');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  private connected(target: LabMonitorOptions, deadline: number): Promise<LabwireClient> {
    if (this.closed) return Promise.reject(new LabwireError('CommunicationFailed', 'the daemon is stopping'));
    if (this.client?.connected && this.client.host === target.host && this.client.port === target.port) return Promise.resolve(this.client);
    this.connecting ??= this.open(target, deadline).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(target: LabMonitorOptions, deadline: number): Promise<LabwireClient> {
    this.drop();
    const client = new LabwireClient({
      host: target.host,
      port: target.port,
      ...(target.tls !== undefined ? { tls: target.tls } : {}),
      ...(target.token !== undefined ? { token: target.token } : {}),
      name: `daemon ${this.opts.name}`,
      reconnect: false,
      connectTimeoutMs: Math.max(1, deadline - Date.now()),
      requestTimeoutMs: target.timeoutMs ?? LAB_STATE_TIMEOUT_MS,
    });
    try {
      await client.connect();
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.close();
      throw new LabwireError('CommunicationFailed', 'the daemon is stopping');
    }
    this.client = client;
    return client;
  }

  private drop(): void {
    const client = this.client;
    this.client = undefined;
    void client?.close().catch(() => undefined);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isWire = (v: unknown): boolean => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** A `snapshot_json` body, checked: a monitor of another version must not put garbage in a header. */
export function parseLabState(body: string): LabState {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new LabwireError('ProtocolError', `snapshot reply is not valid JSON: ${(err as Error).message}`, 'snapshot');
  }
  const bad = (why: string): LabwireError => new LabwireError('ProtocolError', `snapshot reply is not a lab state: ${why}`, 'snapshot');
  if (!isRecord(doc)) throw bad('not an object');
  if (typeof doc.t !== 'number' || typeof doc.source !== 'string' || !Array.isArray(doc.devices)) throw bad('t, source or devices missing');
  const devices: LabDeviceState[] = doc.devices.map((d: unknown, i: number) => {
    if (!isRecord(d) || typeof d.name !== 'string' || typeof d.connected !== 'boolean' || !isRecord(d.values) || !isRecord(d.units)) throw bad(`device ${i} lacks name, connected, values or units`);
    const values = Object.fromEntries(Object.entries(d.values).filter(([, v]) => isWire(v))) as LabDeviceState['values'];
    const units = Object.fromEntries(Object.entries(d.units).filter(([, u]) => typeof u === 'string')) as Record<string, string>;
    return { name: d.name, connected: d.connected, values, units };
  });
  return { t: doc.t, source: doc.source, devices, ...(typeof doc.error === 'string' ? { error: doc.error } : {}) };
}
