/**
 * Feeds the archive from the monitor without ever letting the archive hold up or break live data:
 * samples are gathered and handed over once per event-loop turn, every failure is caught, and a
 * failing archive is reported once per streak of failures (not once per sample), and its recovery
 * once. A streak lasts until a kind of call that failed in it (write, log, audit, configure,
 * flush) works again.
 *
 * Rows somebody is told about (an `ok info` to a script, the reply to a web `set` whose audit row
 * it is) are `confirmed`: committed at once instead of with the next batch, and the returned
 * receipt settles after the COMMIT, so that nothing acknowledged can be lost to a crash. The wait
 * is bounded: an archive that does not answer delays no reply longer than CONFIRM_MS.
 */
import type { Archive, AuditEntry, LogEntry, Sample, SeriesPolicy } from '../archive/types.js';
import type { Logger } from '../util/logger.js';
import type { LogReceipt } from './types.js';

/** The longest a confirmed row waits for its commit before the receipt says it is not confirmed. */
export const CONFIRM_MS = 10_000;
const NO_ARCHIVE: LogReceipt = { stored: false };
const STORED: LogReceipt = { stored: true };

export interface ArchiveFeedReport {
  (level: 'error' | 'info', text: string): void;
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ArchiveFeed {
  private pending: Sample[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /** Kinds of archive call (write, log, audit, ...) whose last attempt failed: the current streak. */
  private readonly failing = new Set<string>();
  /** Writes handed to the archive and not yet settled, so that flush() can wait for them. */
  private readonly inFlight = new Set<Promise<unknown>>();

  /**
   * @param report  adds an entry to the message log (source: the monitor). It may call log()
   *                again: a failing archive.log then stays inside the current streak.
   */
  constructor(
    readonly archive: Archive | undefined,
    private readonly report: ArchiveFeedReport,
    private readonly logger: Logger,
  ) {}

  /** True while the last archive operation failed. */
  get isFailing(): boolean {
    return this.failing.size > 0;
  }

  configure(device: string, name: string, policy: SeriesPolicy): void {
    if (!this.archive) return;
    try {
      this.archive.configureSeries(device, name, policy);
      this.succeeded('configure');
    } catch (err) {
      this.failed(err, 'configure');
    }
  }

  /** Queues samples; they go to the archive in one write() at the end of this event-loop turn. */
  write(samples: Sample[]): void {
    if (!this.archive || samples.length === 0) return;
    for (const s of samples) this.pending.push(s);
    this.scheduled ??= setImmediate(() => this.handOver());
  }

  /** Queues a log entry; with `confirmed`, commits it now. The receipt never rejects. */
  log(entry: LogEntry, confirmed = false): Promise<LogReceipt> {
    if (!this.archive) return Promise.resolve(NO_ARCHIVE);
    return this.receipt(this.call(() => this.archive!.log(entry)), 'log', confirmed);
  }

  /** Queues an audit row; with `confirmed`, commits it now. The receipt never rejects. */
  audit(entry: AuditEntry, confirmed = false): Promise<LogReceipt> {
    if (!this.archive) return Promise.resolve(NO_ARCHIVE);
    return this.receipt(this.call(() => this.archive!.audit(entry)), 'audit', confirmed);
  }

  /** Hands over queued samples, waits for every write in flight, then asks the archive to commit. Never rejects. */
  async flush(): Promise<void> {
    if (!this.archive) return;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.handOver();
    await Promise.all([...this.inFlight]);
    try {
      await this.archive.flush();
      this.succeeded('flush');
    } catch (err) {
      this.failed(err, 'flush');
    }
  }

  private handOver(): void {
    this.scheduled = undefined;
    if (!this.archive || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.track(this.call(() => this.archive!.write(batch)), 'write');
  }

  /** Runs an archive call; a synchronous throw is a failure like a rejection. */
  private call(fn: () => Promise<void>): Promise<void> {
    try {
      return fn();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private track(p: Promise<void>, what: string): Promise<LogReceipt> {
    const settled = p.then(
      (): LogReceipt => {
        this.succeeded(what);
        return STORED;
      },
      (err: unknown): LogReceipt => {
        this.failed(err, what);
        return { stored: false, reason: `the archive did not store it: ${describeError(err)}` };
      },
    );
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
    return settled;
  }

  private receipt(p: Promise<void>, what: string, confirmed: boolean): Promise<LogReceipt> {
    const settled = this.track(p, what);
    if (!confirmed) return settled;
    // The archive's flush commits everything queued now (this row with it) and never rejects.
    this.call(() => this.archive!.flush()).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<LogReceipt>((resolve) => {
      timer = setTimeout(() => resolve({ stored: false, reason: `the archive has not confirmed it within ${CONFIRM_MS / 1000} s; it may still be stored` }), CONFIRM_MS);
      timer.unref();
    });
    return Promise.race([settled, late]).finally(() => clearTimeout(timer));
  }

  /**
   * A streak ends when a kind of call that failed in it works again. A success of a kind that did
   * not fail (log entries going through while sample writes fail) does not end it: no flapping.
   */
  private succeeded(what: string): void {
    if (!this.failing.has(what)) return;
    this.failing.clear();
    this.logger.info('archive: writing again');
    this.report('info', 'archive: writing again');
  }

  private failed(err: unknown, what: string): void {
    const message = describeError(err);
    const ongoing = this.failing.size > 0;
    this.failing.add(what);
    if (ongoing) {
      this.logger.debug({ err: message, what }, 'archive failure (same streak)');
      return;
    }
    this.logger.error({ err: message, what }, 'archive failure; live data continues');
    this.report('error', `archive: ${message}`);
  }
}
