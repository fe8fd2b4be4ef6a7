/**
 * The write path shared by every back-end: callers' rows wait in one FIFO queue and are committed
 * in batches (a timer every batchMs, or at once when batchRows are queued); a caller's promise
 * settles after the COMMIT of the batch holding its last row, never before.
 *
 * - Batches hold at most batchRows rows; a call with more is split over several transactions
 *   (its promise resolves after the last one, and rejects if any fails; the rows of the earlier
 *   transactions then stay stored). Smaller calls are never split.
 * - Between transactions the queue yields to the event loop, so a long backlog never blocks it.
 * - The queue is bounded (maxPending rows): beyond it write() rejects at once instead of eating
 *   memory while the database is slow or failing.
 * - A failed batch rejects the promises of its rows with the back-end's error and sets
 *   lastError; the queue goes on, and the next successful commit clears lastError.
 * - Promises returned here are already marked as handled: a caller that ignores them cannot
 *   crash the process with an unhandled rejection (the error is in stats() and the log).
 */
import { ArchiveError } from './errors.js';
import type { AuditEntry, CommitDurations, LogEntry, Sample } from './types.js';

export interface Batch {
  samples: Sample[];
  logs: LogEntry[];
  audits: AuditEntry[];
}

export interface CommitResult {
  /** Samples written as rows. */
  stored: number;
  /** Samples left out by the filter (deadband, unchanged text, duplicates, repeated nulls). */
  skipped: number;
}

export interface WriteQueueOptions {
  batchMs: number;
  batchRows: number;
  maxPending: number;
  /** Writes one batch in one transaction; throws (or rejects) when it could not be committed. */
  commit(batch: Batch): CommitResult | Promise<CommitResult>;
  /** Called on every failed batch and every rejected write (to log it). */
  onFailure?(error: ArchiveError): void;
  /** Called on the first successful commit after a failure. */
  onRecovery?(): void;
}

interface JobBase {
  seq: number;
  offset: number;
  failed: boolean;
  resolve(): void;
  reject(error: Error): void;
}

type Job =
  | (JobBase & { kind: 'samples'; items: readonly Sample[] })
  | (JobBase & { kind: 'log'; items: readonly LogEntry[] })
  | (JobBase & { kind: 'audit'; items: readonly AuditEntry[] });

type JobInput = { kind: 'samples'; items: readonly Sample[] } | { kind: 'log'; items: readonly LogEntry[] } | { kind: 'audit'; items: readonly AuditEntry[] };

export interface QueueStats {
  pending: number;
  committed: number;
  skipped: number;
  failed: number;
  batches: number;
  lastError?: string;
  commit: CommitDurations;
}

/** Upper bounds (ms) of the commit-duration buckets: a local SQLite commit to a slow remote server. */
export const COMMIT_BUCKETS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/** Counts commit durations into fixed buckets: a few comparisons per transaction, no samples kept. */
export class DurationBuckets {
  private readonly counts: number[];
  private count = 0;
  private sumMs = 0;

  constructor(private readonly bucketsMs: readonly number[] = COMMIT_BUCKETS_MS) {
    this.counts = bucketsMs.map(() => 0);
  }

  observe(ms: number): void {
    this.count++;
    this.sumMs += ms;
    for (let i = this.bucketsMs.length - 1; i >= 0 && ms <= this.bucketsMs[i]!; i--) this.counts[i]!++;
  }

  snapshot(): CommitDurations {
    return { bucketsMs: this.bucketsMs, counts: [...this.counts], count: this.count, sumMs: this.sumMs };
  }
}

const noop = (): void => {};

function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(noop);
  return p;
}

export class WriteQueue {
  private readonly opts: WriteQueueOptions;
  private jobs: Job[] = [];
  private head = 0;
  private seq = 0;
  private forceSeq = 0;
  /** Rows of every kind waiting in the queue (for the bound and the batchRows trigger). */
  private queuedRows = 0;
  /** Samples accepted and not yet committed (queued or in a transaction under way). */
  private pendingSamples = 0;
  private committed = 0;
  private skipped = 0;
  private failed = 0;
  private batches = 0;
  private readonly durations = new DurationBuckets();
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** A drain loop is running (it re-checks the queue after every batch). */
  private running = false;
  private waiters: Array<{ seq: number; resolve(): void }> = [];
  private closed = false;

  constructor(options: WriteQueueOptions) {
    this.opts = options;
  }

  /** Queues rows; the promise settles after their commit. Never throws. */
  enqueue(input: JobInput): Promise<void> {
    if (this.closed) return handled(Promise.reject(new ArchiveError('archive is closed', { code: 'CLOSED' })));
    const n = input.items.length;
    if (n === 0) return Promise.resolve();
    if (this.queuedRows + n > this.opts.maxPending) {
      const error = new ArchiveError(
        `archive write queue is full (${this.queuedRows} rows waiting, limit ${this.opts.maxPending}): the database is not keeping up; ${n} rows rejected`,
        { code: 'QUEUE_FULL' },
      );
      this.lastError = error.message;
      if (input.kind === 'samples') this.failed += n;
      this.opts.onFailure?.(error);
      return handled(Promise.reject(error));
    }
    const p = new Promise<void>((resolve, reject) => {
      this.jobs.push({ ...input, seq: ++this.seq, offset: 0, failed: false, resolve, reject } as Job);
    });
    this.queuedRows += n;
    if (input.kind === 'samples') this.pendingSamples += n;
    this.arm();
    return handled(p);
  }

  /** Commits everything queued now; resolves when it is committed or rejected. Never rejects. */
  flush(): Promise<void> {
    if (this.peek() === undefined && !this.running) return Promise.resolve();
    const target = this.seq;
    this.forceSeq = Math.max(this.forceSeq, target);
    const done = new Promise<void>((resolve) => this.waiters.push({ seq: target, resolve }));
    this.startDrain();
    return done;
  }

  /** Rejects further rows, commits what is queued. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): QueueStats {
    const s: QueueStats = { pending: this.pendingSamples, committed: this.committed, skipped: this.skipped, failed: this.failed, batches: this.batches, commit: this.durations.snapshot() };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  private peek(): Job | undefined {
    return this.jobs[this.head];
  }

  private shift(): void {
    this.jobs[this.head] = undefined as unknown as Job;
    this.head++;
    if (this.head === this.jobs.length) {
      this.jobs = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.jobs.length) {
      this.jobs = this.jobs.slice(this.head);
      this.head = 0;
    }
  }

  private arm(): void {
    if (this.running) return; // the running drain re-checks after every batch
    if (this.queuedRows >= this.opts.batchRows) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.startDrain();
      });
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.forceSeq = Math.max(this.forceSeq, this.seq);
      this.startDrain();
    }, this.opts.batchMs);
  }

  private startDrain(): void {
    if (this.running) return;
    this.running = true; // set before drain() runs: it may finish synchronously
    void this.drain();
  }

  /** Commit now: enough rows, a flush or timer covers it, or it is a write already under way. */
  private due(job: Job): boolean {
    return this.queuedRows >= this.opts.batchRows || job.seq <= this.forceSeq || job.offset > 0;
  }

  private async drain(): Promise<void> {
    try {
      for (let job = this.peek(); job !== undefined && this.due(job); job = this.peek()) {
        await this.commitNext();
        this.wakeWaiters();
        if (this.peek() !== undefined) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
      this.wakeWaiters();
      if (this.peek() !== undefined) this.arm();
    }
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const head = this.peek();
    const doneBelow = head === undefined ? Number.POSITIVE_INFINITY : head.seq;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.seq < doneBelow) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private async commitNext(): Promise<void> {
    const batch: Batch = { samples: [], logs: [], audits: [] };
    const taken: Array<{ job: Job; end: number }> = [];
    let rows = 0;
    for (let job = this.peek(); job !== undefined && rows < this.opts.batchRows; job = this.peek()) {
      const remaining = job.items.length - job.offset;
      if (rows > 0 && rows + remaining > this.opts.batchRows) break;
      const n = Math.min(remaining, this.opts.batchRows - rows);
      const end = job.offset + n;
      if (job.kind === 'samples') {
        for (let i = job.offset; i < end; i++) batch.samples.push(job.items[i]!);
      } else if (job.kind === 'log') {
        for (let i = job.offset; i < end; i++) batch.logs.push(job.items[i]!);
      } else {
        for (let i = job.offset; i < end; i++) batch.audits.push(job.items[i]!);
      }
      job.offset = end;
      taken.push({ job, end });
      rows += n;
      if (end === job.items.length) this.shift();
    }
    this.queuedRows -= rows;
    let result: CommitResult;
    const started = performance.now();
    try {
      result = await this.opts.commit(batch);
    } catch (e) {
      const error = e instanceof ArchiveError ? e : new ArchiveError(`archive write failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      this.pendingSamples -= batch.samples.length;
      this.failed += batch.samples.length;
      this.lastError = error.message;
      for (const { job } of taken) {
        if (!job.failed) {
          job.failed = true;
          job.reject(error);
        }
      }
      // A call split over several transactions fails as a whole: drop the rows it has left.
      const head = this.peek();
      if (head !== undefined && head.failed) {
        const rest = head.items.length - head.offset;
        this.queuedRows -= rest;
        if (head.kind === 'samples') {
          this.pendingSamples -= rest;
          this.failed += rest;
        }
        this.shift();
      }
      this.opts.onFailure?.(error);
      return;
    }
    this.durations.observe(performance.now() - started);
    this.pendingSamples -= batch.samples.length;
    this.committed += result.stored;
    this.skipped += result.skipped;
    this.batches++;
    if (this.lastError !== undefined) {
      this.lastError = undefined;
      this.opts.onRecovery?.();
    }
    for (const { job, end } of taken) {
      if (end === job.items.length && !job.failed) job.resolve();
    }
  }
}
