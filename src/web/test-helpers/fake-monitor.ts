/**
 * A small in-memory MonitorView and Archive for the web's unit tests: a device with a describe
 * document whose `set` validates against min/max like a daemon, events on demand, and an archive
 * that bins long ranges. The integration and browser tests use the real monitor and archive.
 */
import { EventEmitter } from 'node:events';
import type {
  Archive,
  ArchiveStats,
  AuditEntry,
  HistoryPoint,
  HistoryResult,
  LogEntry,
  LogLevel,
  MessageQuery,
  Sample,
  SeriesInfo,
  SeriesPolicy,
} from '../../archive/types.js';
import { ArchiveQueryError } from '../../archive/types.js';
import type { LabStatus, LogReceipt, MonitorActor, MonitorView, PeerState, PeerValue, PlotConfig, ResolvedPlot } from '../../monitor/types.js';
import { resolvePlot } from '../../monitor/plots.js';
import { formatErrorReply, formatOk, formatPairs } from '../../wire/format.js';
import { parseLine } from '../../wire/tokenize.js';
import { LabwireError, type DescribeDoc } from '../../wire/types.js';

export const CHILLER_DESCRIBE: DescribeDoc = {
  name: 'chiller',
  type: 'julabo',
  title: 'Julabo FL recirculating chiller (RS232)',
  protocol: 'labwire/1',
  version: 'test',
  readOnly: false,
  params: {
    hw_connected: { type: 'bool', description: 'link to the device', readonly: true },
    state: { type: 'enum', description: 'state', readonly: true, values: ['disabled', 'idle', 'busy', 'ramping', 'stabilizing', 'warn', 'error'] },
    state_text: { type: 'string', description: 'state text', readonly: true },
    temperature: { type: 'float', unit: '°C', description: 'bath temperature', readonly: true },
    setpoint: { type: 'float', unit: '°C', description: 'setpoint', readonly: false, min: -20, max: 40 },
    running: { type: 'bool', description: 'running', readonly: false },
  },
  commands: {
    start: { description: 'start', write: true, args: {} },
    stop: { description: 'stop', write: true, args: {} },
    ramp: { description: 'ramp to a setpoint', write: true, args: { to: { type: 'float', description: 'target', unit: '°C', min: -20, max: 40 }, rate: { type: 'float', description: 'K/min', optional: true } } },
  },
};

export interface FakePeer {
  name: string;
  protocol?: 'labwire' | 'ccdlab';
  connected?: boolean;
  describe?: DescribeDoc;
  values?: Record<string, PeerValue>;
  plots?: PlotConfig[];
}

export class FakeMonitor extends EventEmitter implements MonitorView {
  readonly name = 'monitor';
  readOnly: boolean;
  archive: Archive | undefined;
  readonly sent: Array<{ client: string; line: string; actor: MonitorActor }> = [];
  readonly messages: LogEntry[] = [];
  private readonly state = new Map<string, PeerState>();
  private readonly plotCfg = new Map<string, PlotConfig[]>();
  /** Replaces the default device emulation when set. */
  onSend?: (client: string, line: string) => Promise<string> | string;

  constructor(opts: { peers?: FakePeer[]; archive?: Archive; readOnly?: boolean } = {}) {
    super();
    this.readOnly = opts.readOnly ?? false;
    this.archive = opts.archive;
    const peers = opts.peers ?? [
      {
        name: 'chiller',
        describe: CHILLER_DESCRIBE,
        values: { hw_connected: true, state: 'idle', state_text: 'REMOTE STOP', temperature: 21.5, setpoint: 20, running: false },
        plots: [{ id: 'temp', name: 'Bath temperature', values: ['time', 'temperature', 'setpoint'], ylabel: '°C' }],
      },
    ];
    for (const p of peers) {
      this.state.set(p.name, {
        name: p.name,
        protocol: p.protocol ?? 'labwire',
        host: '127.0.0.1',
        port: 7000,
        connected: p.connected ?? true,
        since: Date.now(),
        describe: p.describe,
        values: { ...(p.values ?? {}) },
        ts: {},
      });
      this.plotCfg.set(p.name, p.plots ?? []);
    }
  }

  peers(): PeerState[] {
    return [...this.state.values()];
  }
  peer(name: string): PeerState | undefined {
    return this.state.get(name);
  }
  plots(client: string): ResolvedPlot[] {
    const params = this.state.get(client)?.describe?.params;
    const ctx = { clients: new Set(this.state.keys()), ...(params ? { ownParams: new Set(Object.keys(params)) } : {}) };
    return (this.plotCfg.get(client) ?? []).map((p) => resolvePlot(client, p, ctx));
  }
  status(): LabStatus {
    const clients: LabStatus['clients'] = {};
    let n = 0;
    for (const p of this.state.values()) {
      clients[p.name] = { connected: p.connected, values: p.values };
      if (p.connected) n++;
    }
    // No port, so no connections to it: only devices count here.
    return { nconnected: 0, clientsConnected: 0, devicesConnected: n, clients };
  }

  /** Changes values as a device would and emits `update`. */
  setValues(client: string, values: Record<string, PeerValue>, t = Date.now()): void {
    const p = this.state.get(client)!;
    Object.assign(p.values, values);
    for (const k of Object.keys(values)) p.ts[k] = t;
    this.emit('update', { client, t, values });
  }

  setConnected(client: string, connected: boolean): void {
    const p = this.state.get(client)!;
    p.connected = connected;
    p.since = Date.now();
    this.emit('peer', p);
  }

  async send(client: string, line: string, actor: MonitorActor): Promise<string> {
    const p = this.state.get(client);
    if (!p) throw new LabwireError('ProtocolError', `unknown client ${client}`);
    if (!p.connected) throw new LabwireError('CommunicationFailed', `${client} is not connected`);
    this.sent.push({ client, line, actor });
    if (this.onSend) return this.onSend(client, line);
    const cmd = parseLine(line);
    const name = cmd.name ?? '-';
    try {
      if (name === 'get_status') return `status ${formatPairs(p.values)}`;
      if (name === 'ping') return 'pong';
      if (name === 'set') {
        const applied: Record<string, PeerValue> = {};
        for (const [k, raw] of Object.entries(cmd.kwargs)) {
          const d = p.describe?.params[k];
          if (!d) throw new LabwireError('NoSuchParameter', `no parameter ${k}`, 'set');
          if (d.readonly) throw new LabwireError('ReadOnly', `${k} is read-only`, 'set');
          if (d.type === 'float' || d.type === 'int') {
            const v = Number(raw);
            if (!Number.isFinite(v)) throw new LabwireError('WrongType', `${k} must be a number, not ${raw}`, 'set');
            if (d.max !== undefined && v > d.max) throw new LabwireError('RangeError', `${k} ${v} ${d.unit ?? ''} is above the limit of ${d.max}`, 'set');
            if (d.min !== undefined && v < d.min) throw new LabwireError('RangeError', `${k} ${v} ${d.unit ?? ''} is below the limit of ${d.min}`, 'set');
            applied[k] = v;
          } else if (d.type === 'bool') applied[k] = raw === '1' || raw === 'true';
          else applied[k] = raw;
        }
        this.setValues(client, applied);
        return formatOk('set', applied);
      }
      if (p.describe?.commands[name]) return formatOk(name);
      throw new LabwireError('NoSuchCommand', `no command ${name}`, name);
    } catch (err) {
      if (err instanceof LabwireError) return formatErrorReply(err);
      throw err;
    }
  }

  async message(source: string, level: LogLevel, text: string): Promise<LogReceipt> {
    const e: LogEntry = { t: Date.now(), source, level, message: text };
    this.messages.push(e);
    this.emit('message', e);
    return this.archive ? { stored: true } : { stored: false };
  }

  recentMessages(limit = 1000): LogEntry[] {
    return this.messages.slice(-limit);
  }
}

const LEVELS: LogLevel[] = ['debug', 'info', 'success', 'warning', 'error'];

export class FakeArchive implements Archive {
  readonly kind = 'sqlite' as const;
  private readonly data = new Map<string, Sample[]>();
  private readonly units = new Map<string, string>();
  readonly logs: LogEntry[] = [];
  readonly audits: AuditEntry[] = [];
  closed = false;
  lastError: string | undefined;

  configureSeries(device: string, name: string, policy: SeriesPolicy): void {
    if (policy.unit) this.units.set(`${device}.${name}`, policy.unit);
  }
  async write(samples: Sample[]): Promise<void> {
    for (const s of samples) {
      const k = `${s.device}.${s.name}`;
      let arr = this.data.get(k);
      if (!arr) this.data.set(k, (arr = []));
      arr.push(s);
    }
    for (const arr of this.data.values()) arr.sort((a, b) => a.t - b.t);
  }
  async log(entry: LogEntry): Promise<void> {
    this.logs.push(entry);
  }
  async audit(entry: AuditEntry): Promise<void> {
    this.audits.push(entry);
  }
  async flush(): Promise<void> {}
  async listSeries(): Promise<SeriesInfo[]> {
    let id = 1;
    return [...this.data.entries()].map(([k, arr]) => {
      const dot = k.indexOf('.');
      return {
        id: id++,
        device: k.slice(0, dot),
        name: k.slice(dot + 1),
        unit: this.units.get(k) ?? '',
        type: typeof arr[0]?.value === 'string' ? 'text' : 'number',
        firstT: arr[0]?.t,
        lastT: arr[arr.length - 1]?.t,
      } satisfies SeriesInfo;
    });
  }
  async history(device: string, name: string, from: number, to: number, maxPoints: number): Promise<HistoryResult> {
    if (from > to) throw new ArchiveQueryError('from is after to');
    const arr = this.data.get(`${device}.${name}`);
    if (!arr) throw new ArchiveQueryError(`unknown series ${device}.${name}`);
    const inRange = arr.filter((s) => s.t >= from && s.t <= to);
    const unit = this.units.get(`${device}.${name}`) ?? '';
    if (inRange.length <= maxPoints) {
      return { device, name, unit, from, to, source: 'raw', binMs: 0, points: inRange.map((s) => ({ t: s.t, v: typeof s.value === 'number' ? s.value : null })) };
    }
    const minute = 60_000;
    const hour = 3_600_000;
    let binMs = Math.ceil((to - from) / maxPoints / minute) * minute;
    if (binMs > hour) binMs = Math.ceil(binMs / hour) * hour;
    const bins = new Map<number, HistoryPoint>();
    for (const s of inRange) {
      if (typeof s.value !== 'number') continue;
      const t = Math.floor(s.t / binMs) * binMs;
      const b = bins.get(t);
      if (!b) bins.set(t, { t, min: s.value, max: s.value, mean: s.value, n: 1 });
      else {
        b.min = Math.min(b.min!, s.value);
        b.max = Math.max(b.max!, s.value);
        b.mean = (b.mean! * b.n! + s.value) / (b.n! + 1);
        b.n = b.n! + 1;
      }
    }
    const points = [...bins.values()].sort((a, b) => a.t - b.t).slice(0, maxPoints);
    return { device, name, unit, from, to, source: binMs >= hour ? '1h' : '1m', binMs, points };
  }
  async messages(q: MessageQuery): Promise<LogEntry[]> {
    const min = q.minLevel ? LEVELS.indexOf(q.minLevel) : 0;
    return this.logs
      .filter((m) => (q.from === undefined || m.t >= q.from) && (q.to === undefined || m.t <= q.to) && (q.source === undefined || m.source === q.source) && LEVELS.indexOf(m.level) >= min)
      .sort((a, b) => b.t - a.t)
      .slice(0, q.limit ?? 200);
  }
  async auditTrail(q: { from?: number; to?: number; device?: string; limit?: number }): Promise<AuditEntry[]> {
    return this.audits.filter((a) => q.device === undefined || a.device === q.device).slice(-(q.limit ?? 200));
  }
  async *exportCsv(device: string, name: string, from: number, to: number): AsyncIterable<string> {
    yield 'time_iso,t_ms,value\n';
    for (const s of this.data.get(`${device}.${name}`) ?? []) {
      if (s.t >= from && s.t <= to) yield `${new Date(s.t).toISOString()},${s.t},${s.value ?? ''}\n`;
    }
  }
  async applyRetention(): Promise<void> {}
  stats(): ArchiveStats {
    return { pending: 0, committed: 0, skipped: 0, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
