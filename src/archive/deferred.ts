/**
 * An archive whose database was unavailable when the monitor started (decision 0022): every call
 * first tries to open it (one attempt at a time) and fails with the open's UNAVAILABLE error until
 * that works; then it is the opened archive. Behind a SpoolingArchive this lets a monitor started
 * (or restarted after a crash) during an outage spool from its first sample and replay later.
 * Series policies given before the open are handed over when it opens.
 */
import { ArchiveError } from './errors.js';
import type {
  AlarmEntry,
  AlarmHistoryQuery,
  Archive,
  ArchiveStats,
  AuditEntry,
  HistoryResult,
  ImageInfo,
  ImageQuery,
  ImageRecord,
  LogEntry,
  MessageQuery,
  RetentionPolicy,
  Sample,
  SeriesInfo,
  SeriesPolicy,
} from './types.js';

export class DeferredArchive implements Archive {
  private archive: Archive | undefined;
  private opening: Promise<Archive> | undefined;
  private readonly policies = new Map<string, [string, string, SeriesPolicy]>();
  private closed = false;
  private lastError: string;

  constructor(
    readonly kind: Archive['kind'],
    private readonly open: () => Promise<Archive>,
    firstError: unknown,
  ) {
    this.lastError = firstError instanceof Error ? firstError.message : String(firstError);
  }

  /** The opened archive, or a rejection with why it cannot be opened yet. */
  private get(): Promise<Archive> {
    if (this.archive) return Promise.resolve(this.archive);
    if (this.closed) return Promise.reject(new ArchiveError('archive is closed', { code: 'CLOSED' }));
    this.opening ??= this.open()
      .then((a) => {
        for (const [device, name, policy] of this.policies.values()) a.configureSeries(device, name, policy);
        this.policies.clear();
        this.archive = a;
        return a;
      })
      .catch((e: unknown) => {
        this.lastError = e instanceof Error ? e.message : String(e);
        throw e;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  get isOpen(): boolean {
    return this.archive !== undefined;
  }

  configureSeries(device: string, name: string, policy: SeriesPolicy): void {
    if (this.archive) this.archive.configureSeries(device, name, policy);
    else this.policies.set(`${device}\u0000${name}`, [device, name, policy]);
  }

  async write(samples: Sample[]): Promise<void> {
    return (await this.get()).write(samples);
  }
  async log(entry: LogEntry): Promise<void> {
    return (await this.get()).log(entry);
  }
  async audit(entry: AuditEntry): Promise<void> {
    return (await this.get()).audit(entry);
  }
  async alarm(entry: AlarmEntry): Promise<void> {
    const a = await this.get();
    if (a.alarm) await a.alarm(entry);
  }
  async flush(): Promise<void> {
    if (this.archive) await this.archive.flush();
  }
  async listSeries(): Promise<SeriesInfo[]> {
    return (await this.get()).listSeries();
  }
  async history(device: string, name: string, from: number, to: number, maxPoints: number): Promise<HistoryResult> {
    return (await this.get()).history(device, name, from, to, maxPoints);
  }
  async messages(query: MessageQuery): Promise<LogEntry[]> {
    return (await this.get()).messages(query);
  }
  async auditTrail(query: { from?: number; to?: number; device?: string; limit?: number }): Promise<AuditEntry[]> {
    return (await this.get()).auditTrail(query);
  }
  async alarmHistory(query: AlarmHistoryQuery): Promise<AlarmEntry[]> {
    const a = await this.get();
    return a.alarmHistory ? a.alarmHistory(query) : [];
  }
  async addImage(image: ImageInfo): Promise<{ image: ImageRecord; added: boolean }> {
    const a = await this.get();
    if (!a.addImage) throw new ArchiveError('this archive keeps no image index', { code: 'UNSUPPORTED' });
    return a.addImage(image);
  }
  async listImages(query: ImageQuery): Promise<ImageRecord[]> {
    const a = await this.get();
    return a.listImages ? a.listImages(query) : [];
  }
  async getImage(id: number): Promise<ImageRecord | undefined> {
    const a = await this.get();
    return a.getImage ? a.getImage(id) : undefined;
  }
  async *exportCsv(device: string, name: string, from: number, to: number): AsyncIterable<string> {
    yield* (await this.get()).exportCsv(device, name, from, to);
  }
  async applyRetention(policy: RetentionPolicy, now?: number): Promise<void> {
    return (await this.get()).applyRetention(policy, now);
  }
  stats(): ArchiveStats {
    return this.archive ? this.archive.stats() : { pending: 0, committed: 0, skipped: 0, lastError: `not opened yet: ${this.lastError}` };
  }
  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    await this.archive?.close();
  }
}
