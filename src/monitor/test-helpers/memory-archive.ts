/**
 * A tiny in-memory Archive for monitor tests: it keeps what it is given, exactly as given, and can
 * be told to fail. No deadband, no rollups: tests look at what the monitor hands over.
 */
import {
  ArchiveQueryError,
  type AlarmEntry,
  type AlarmHistoryQuery,
  type Archive,
  type ArchiveStats,
  type AuditEntry,
  type HistoryResult,
  type LogEntry,
  type MessageQuery,
  type RetentionPolicy,
  type Sample,
  type SeriesInfo,
  type SeriesPolicy,
} from '../../archive/types.js';

const LEVELS = ['debug', 'info', 'success', 'warning', 'error'];

export class MemoryArchive implements Archive {
  readonly kind = 'sqlite' as const;
  readonly samples: Sample[] = [];
  readonly logs: LogEntry[] = [];
  readonly audits: AuditEntry[] = [];
  readonly alarms: AlarmEntry[] = [];
  readonly policies = new Map<string, SeriesPolicy>();
  /** While set, write/log/audit/flush reject with this error. */
  failWith: Error | undefined;
  writes = 0;
  flushes = 0;
  closed = false;

  configureSeries(device: string, name: string, policy: SeriesPolicy): void {
    this.policies.set(`${device}.${name}`, { ...policy });
  }

  async write(samples: Sample[]): Promise<void> {
    this.writes++;
    if (this.failWith) throw this.failWith;
    this.samples.push(...samples);
  }

  async log(entry: LogEntry): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.logs.push(entry);
  }

  async audit(entry: AuditEntry): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.audits.push(entry);
  }

  async alarm(entry: AlarmEntry): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.alarms.push({ ...entry });
  }

  async alarmHistory(query: AlarmHistoryQuery): Promise<AlarmEntry[]> {
    return this.alarms
      .filter((a) => (query.id === undefined || a.id === query.id) && (query.from === undefined || a.t >= query.from) && (query.to === undefined || a.t <= query.to))
      .reverse()
      .slice(0, query.limit ?? 200);
  }

  async flush(): Promise<void> {
    this.flushes++;
    if (this.failWith) throw this.failWith;
  }

  /** Samples of one series, oldest first. */
  series(device: string, name: string): Sample[] {
    return this.samples.filter((s) => s.device === device && s.name === name);
  }

  async listSeries(): Promise<SeriesInfo[]> {
    const seen = new Map<string, SeriesInfo>();
    for (const s of this.samples) {
      const key = `${s.device}.${s.name}`;
      const info = seen.get(key) ?? { id: seen.size + 1, device: s.device, name: s.name, unit: this.policies.get(key)?.unit ?? '', type: typeof s.value === 'string' ? 'text' : 'number' };
      info.firstT = Math.min(info.firstT ?? s.t, s.t);
      info.lastT = Math.max(info.lastT ?? s.t, s.t);
      seen.set(key, info);
    }
    return [...seen.values()];
  }

  async history(device: string, name: string, from: number, to: number, maxPoints: number): Promise<HistoryResult> {
    if (from > to) throw new ArchiveQueryError(`from ${from} is after to ${to}`);
    const points = this.series(device, name)
      .filter((s) => s.t >= from && s.t <= to && typeof s.value !== 'string')
      .slice(-maxPoints)
      .map((s) => ({ t: s.t, v: s.value as number | null }));
    return { device, name, unit: this.policies.get(`${device}.${name}`)?.unit ?? '', from, to, source: 'raw', binMs: 0, points };
  }

  async messages(query: MessageQuery): Promise<LogEntry[]> {
    const min = LEVELS.indexOf(query.minLevel ?? 'debug');
    return this.logs
      .filter((e) => (query.from === undefined || e.t >= query.from) && (query.to === undefined || e.t <= query.to))
      .filter((e) => (query.source === undefined || e.source === query.source) && LEVELS.indexOf(e.level) >= min)
      .reverse()
      .slice(0, query.limit ?? 200);
  }

  async auditTrail(query: { from?: number; to?: number; device?: string; limit?: number }): Promise<AuditEntry[]> {
    return this.audits
      .filter((a) => (query.device === undefined || a.device === query.device) && (query.from === undefined || a.t >= query.from) && (query.to === undefined || a.t <= query.to))
      .reverse()
      .slice(0, query.limit ?? 200);
  }

  async *exportCsv(device: string, name: string, from: number, to: number): AsyncIterable<string> {
    yield 'time_iso,t_ms,value\n';
    for (const s of this.series(device, name)) {
      if (s.t >= from && s.t <= to) yield `${new Date(s.t).toISOString()},${s.t},${s.value ?? ''}\n`;
    }
  }

  async applyRetention(_policy: RetentionPolicy, _now?: number): Promise<void> {}

  stats(): ArchiveStats {
    return { pending: 0, committed: this.samples.length, skipped: 0, ...(this.failWith ? { lastError: this.failWith.message } : {}) };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
