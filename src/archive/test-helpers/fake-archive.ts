/**
 * A back-end for spool tests: keeps every row it was handed in call order (duplicates included,
 * so a test can count them), and fails with ArchiveError UNAVAILABLE while `down` is set — the
 * way a PostgreSQL archive fails when the server is gone. `delayMs` keeps writes in flight.
 */
import { ArchiveError } from '../errors.js';
import type { AlarmEntry, Archive, ArchiveStats, AuditEntry, HistoryResult, LogEntry, Sample, SeriesInfo } from '../types.js';

export class FakeArchive implements Archive {
  readonly kind = 'postgres' as const;
  down = false;
  delayMs = 0;
  /** Fails writes with this code instead (a non-retryable error). */
  failCode: string | undefined;
  readonly samples: Sample[] = [];
  readonly logs: LogEntry[] = [];
  readonly audits: AuditEntry[] = [];
  readonly alarms: AlarmEntry[] = [];
  /** Every call in order: 's' (with its first t), 'l', 'a'. */
  readonly calls: string[] = [];
  closed = false;

  private async gate(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    else await Promise.resolve();
    if (this.down) throw new ArchiveError('connect ECONNREFUSED 127.0.0.1:5 (postgres://x@127.0.0.1:5/db)', { code: 'UNAVAILABLE' });
    if (this.failCode !== undefined) throw new ArchiveError(`refused (${this.failCode})`, { code: this.failCode });
  }

  configureSeries(): void {}
  async write(samples: Sample[]): Promise<void> {
    const copy = samples.map((s) => ({ ...s }));
    await this.gate();
    this.calls.push(`s${copy[0]?.t}`);
    for (const s of copy) this.samples.push(s);
  }
  async log(entry: LogEntry): Promise<void> {
    await this.gate();
    this.calls.push('l');
    this.logs.push(entry);
  }
  async audit(entry: AuditEntry): Promise<void> {
    await this.gate();
    this.calls.push('a');
    this.audits.push(entry);
  }
  async alarm(entry: AlarmEntry): Promise<void> {
    await this.gate();
    this.alarms.push(entry);
  }
  async flush(): Promise<void> {}
  async listSeries(): Promise<SeriesInfo[]> {
    await this.gate();
    return [];
  }
  async history(device: string, name: string, from: number, to: number): Promise<HistoryResult> {
    await this.gate();
    return { device, name, unit: '', from, to, source: 'raw', binMs: 0, points: [] };
  }
  async messages(): Promise<LogEntry[]> {
    await this.gate();
    return this.logs;
  }
  async auditTrail(): Promise<AuditEntry[]> {
    await this.gate();
    return this.audits;
  }
  async *exportCsv(): AsyncIterable<string> {}
  async applyRetention(): Promise<void> {}
  stats(): ArchiveStats {
    return { pending: 0, committed: this.samples.length, skipped: 0 };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
