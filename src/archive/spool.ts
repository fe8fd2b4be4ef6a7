/**
 * Outage without loss (issue 13, decision 0022): `SpoolingArchive` wraps any Archive. While the
 * back-end says UNAVAILABLE (the server cannot be reached, the connection was lost), samples, log,
 * audit and alarm rows go to a durable local spool file instead, fsync'ed before the caller's
 * promise resolves; a replay loop probes the back-end with back-off and, when it answers, writes
 * the spool back IN ORDER in batches, with new writes queued behind the replay.
 *
 * The spool file (`<path>`) is append-only, one record per line: `<crc32 hex> <json>\n`. A record
 * is one write()/log()/audit()/alarm() call. A line without its newline or with a wrong checksum
 * at the end is a torn append (a crash mid-write): it is cut off at the next start, and was never
 * acknowledged. The replayed position is kept in a sidecar (`<path>.offset`, replaced atomically
 * after each committed batch); when the replay catches up, both are emptied, so the spool
 * shrinks to nothing. After a SIGKILL at any point the next start picks the spool up from the
 * sidecar's offset: a batch committed just before the kill and not yet recorded in the sidecar
 * is written twice, which stores it once for samples (the back-end keeps one sample per series
 * and t) — log, audit and alarm rows of such a batch can appear twice (see docs/archive.md).
 *
 * Order: rows reach the back-end in the order of the calls. A write in flight to the back-end when
 * the outage begins is spooled when it fails, before any later write (later writes wait for it);
 * the replay starts only when nothing is in flight to the back-end any more.
 *
 * Bounded: the spool file never grows beyond maxBytes; a write that would pass it fails with
 * ArchiveError SPOOL_FULL (loud: the rows are lost, and the caller is told).
 *
 * Reads (history, listSeries, messages, ...) always go to the back-end: during an outage they fail
 * with ArchiveError UNAVAILABLE "archive degraded: …"; while the replay runs they may lack rows
 * still in the spool.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
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

export const DEFAULT_SPOOL_MAX_BYTES = 1024 ** 3;

export interface SpoolOptions {
  /** The spool file; its directory is created when missing. The sidecar is `<path>.offset`. */
  path: string;
  /** Largest spool file (bytes); default 1 GiB. */
  maxBytes?: number;
  /** Rows per replayed batch (default 5000). */
  replayRows?: number;
  /** Back-off of the replay probe: first and longest wait (ms; default 250 and 5000). */
  probeMinMs?: number;
  probeMaxMs?: number;
  logger?: Logger;
  /**
   * One line for the message log when spooling starts and when the replay completes (with
   * counts). It may write to this archive again (it is spooled like any row).
   */
  report?(level: 'warning' | 'info' | 'error', text: string): void;
}

type SpoolRecord =
  | { k: 's'; r: Array<[string, string, number, number | string | null | { f: string }]> }
  | { k: 'l'; e: LogEntry }
  | { k: 'a'; e: AuditEntry }
  | { k: 'al'; e: AlarmEntry };

function rowsOf(rec: SpoolRecord): number {
  return rec.k === 's' ? rec.r.length : 1;
}

function encodeSamples(samples: readonly Sample[]): SpoolRecord {
  // Compact tuples; JSON has no NaN/Infinity, so those travel as {f: "NaN"}.
  return { k: 's', r: samples.map((s) => [s.device, s.name, s.t, typeof s.value === 'number' && !Number.isFinite(s.value) ? { f: String(s.value) } : s.value]) };
}

function decodeSamples(rec: Extract<SpoolRecord, { k: 's' }>): Sample[] {
  return rec.r.map(([device, name, t, v]) => ({ device, name, t, value: v !== null && typeof v === 'object' ? Number(v.f) : v }));
}

/** One line of the spool file. */
export function encodeRecord(rec: SpoolRecord): Buffer {
  const json = Buffer.from(JSON.stringify(rec), 'utf8');
  const sum = crc32(json).toString(16).padStart(8, '0');
  return Buffer.concat([Buffer.from(`${sum} `, 'latin1'), json, Buffer.from('\n', 'latin1')]);
}

/** Parses one line (without its newline); undefined when the checksum or the JSON is wrong. */
function decodeLine(line: Buffer): SpoolRecord | undefined {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const sum = line.subarray(0, 8).toString('latin1');
  const json = line.subarray(9);
  if (crc32(json).toString(16).padStart(8, '0') !== sum) return undefined;
  try {
    const rec = JSON.parse(json.toString('utf8')) as SpoolRecord;
    return typeof rec === 'object' && rec !== null && typeof rec.k === 'string' ? rec : undefined;
  } catch {
    return undefined;
  }
}

export function isUnavailable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'UNAVAILABLE';
}

/**
 * Worth spooling and retrying: UNAVAILABLE, and AUTH (a password rotated on the server before
 * the monitor's file: the rows must wait for the fix, not be lost). route() and replay() agree.
 */
export function isRetryable(err: unknown): boolean {
  return isUnavailable(err) || (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'AUTH');
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A directory fsync makes a created or renamed entry durable (the file's own fsync does not).
 * An object so a test can observe the calls.
 */
export const spoolFs = {
  fsyncDir(dir: string): void {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } catch (e) {
      // Platforms that cannot fsync a directory say so with these; there is nothing more to do.
      const code = (e as { code?: string }).code;
      if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw e;
    } finally {
      fs.closeSync(fd);
    }
  },
};

/** Bytes read at once when scanning the spool (a longer record is read whole, by itself). */
const READ_CHUNK = 1 << 20;

/**
 * Walks the records of the spool file from `offset`, reading in chunks of READ_CHUNK (grown only
 * while one record is longer than that, and shrunk again after it); stops at a torn or damaged
 * record. `onRecord` sees each record; nothing is kept here, so counting a long spool needs
 * memory for one chunk, not for the spool.
 */
function walk(fd: number, offset: number, end: number, maxRows: number, onRecord: (rec: SpoolRecord) => void): { next: number; rows: number; bad: boolean } {
  let rows = 0;
  let pos = offset;
  let chunk = READ_CHUNK;
  while (pos < end && rows < maxRows) {
    const size = Math.min(chunk, end - pos);
    const buf = Buffer.allocUnsafe(size);
    const n = fs.readSync(fd, buf, 0, size, pos);
    let start = 0;
    let progressed = false;
    for (let nl = buf.indexOf(0x0a, 0); nl >= 0 && nl < n && rows < maxRows; nl = buf.indexOf(0x0a, start)) {
      const rec = decodeLine(buf.subarray(start, nl));
      if (rec === undefined) return { next: pos + start, rows, bad: true };
      onRecord(rec);
      rows += rowsOf(rec);
      start = nl + 1;
      progressed = true;
    }
    if (!progressed) {
      if (pos + n >= end) return { next: pos, rows, bad: true }; // a last line without its newline: torn
      chunk *= 4; // one record longer than the chunk: read more at once
      continue;
    }
    chunk = READ_CHUNK;
    pos += start;
  }
  return { next: pos, rows, bad: false };
}

/** Reads records of the spool file from `offset`; stops at a torn or damaged record. */
function scan(fd: number, offset: number, end: number, maxRows: number): { records: SpoolRecord[]; next: number; rows: number; bad: boolean } {
  const records: SpoolRecord[] = [];
  const r = walk(fd, offset, end, maxRows, (rec) => records.push(rec));
  return { records, ...r };
}

/**
 * Where the first newline at or after `from` (before `end`) is, reading in chunks of `chunkBytes`
 * up to `end` — a damaged record can be longer than any chunk (one write() is one record);
 * -1 when there is none.
 */
export function findNewline(fd: number, from: number, end: number, chunkBytes = READ_CHUNK): number {
  if (from >= end) return -1;
  const buf = Buffer.allocUnsafe(Math.min(chunkBytes, end - from));
  let pos = from;
  while (pos < end) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
    if (n <= 0) return -1;
    const nl = buf.subarray(0, n).indexOf(0x0a);
    if (nl >= 0) return pos + nl;
    pos += n;
  }
  return -1;
}

interface Held {
  rec: SpoolRecord;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * An Archive that spools to a local file while its back-end is unavailable. Open it with
 * `openSpoolingArchive` (it reads what a previous run left in the spool).
 */
export class SpoolingArchive implements Archive {
  readonly kind: Archive['kind'];
  private readonly file: string;
  private readonly sidecar: string;
  private readonly maxBytes: number;
  private readonly replayRows: number;
  private readonly probeMinMs: number;
  private readonly probeMaxMs: number;
  private readonly logger: Logger;
  private report: NonNullable<SpoolOptions['report']>;
  private fd: number;

  private degraded = false;
  /** Bytes of the spool file that are durable (fsync'ed). */
  private end = 0;
  /** Where the replay stands: everything before it is committed in the back-end. */
  private offset = 0;
  /** Rows after `offset` (durable or being appended). */
  private spooled = 0;
  /** Rows spooled and replayed in this streak (for the messages). */
  private streakSpooled = 0;
  private streakReplayed = 0;
  private streakStart = 0;
  private dropped = 0;
  /** Offsets of damaged records counted in `dropped` when the spool was opened. */
  private readonly damagedAtOpen: Set<number>;

  /** Writes to the back-end not yet settled (ok state): the replay waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Rows of calls made while writes were in flight at the start of an outage: appended after those. */
  private held: Held[] = [];
  /** Group commit: records waiting for the next append + fsync. */
  private appendQueue: Array<{ line: Buffer; rows: number; resolve(): void; reject(err: Error): void }> = [];
  private appendBytes = 0;
  private appending: Promise<void> | undefined;

  private replayTimer: NodeJS.Timeout | undefined;
  private replaying: Promise<void> | undefined;
  private backoffMs: number;
  private closed = false;
  private lastCause = '';

  constructor(
    private readonly inner: Archive,
    options: SpoolOptions,
    state: { fd: number; end: number; offset: number; spooled: number; damaged: number[] },
  ) {
    this.kind = inner.kind;
    this.file = options.path;
    this.sidecar = `${options.path}.offset`;
    this.maxBytes = options.maxBytes ?? DEFAULT_SPOOL_MAX_BYTES;
    this.replayRows = options.replayRows ?? 5000;
    this.probeMinMs = options.probeMinMs ?? 250;
    this.probeMaxMs = options.probeMaxMs ?? 5000;
    this.backoffMs = this.probeMinMs;
    this.logger = options.logger ?? silentLogger();
    this.report = options.report ?? (() => undefined);
    this.fd = state.fd;
    this.end = state.end;
    this.offset = state.offset;
    this.spooled = state.spooled;
    this.damagedAtOpen = new Set(state.damaged);
    this.dropped = state.damaged.length;
    if (this.spooled > 0) {
      this.degraded = true;
      this.streakStart = Date.now();
      this.lastCause = 'rows left in the spool by the previous run';
      const text = `archive degraded: ${this.spooled} rows left in the spool ${this.file} by the previous run; replaying them`;
      this.logger.warn({ spool: this.file, spooled: this.spooled }, text);
      queueMicrotask(() => this.report('warning', text));
      this.scheduleReplay(0);
    }
  }

  /** Swaps the message-log hook (the monitor exists only after the archive is opened). */
  setReport(report: NonNullable<SpoolOptions['report']>): void {
    this.report = report;
  }

  /** The back-end this spool protects. */
  get backend(): Archive {
    return this.inner;
  }

  get isDegraded(): boolean {
    return this.degraded;
  }

  // ---- writes ------------------------------------------------------------------------------

  configureSeries(device: string, name: string, policy: SeriesPolicy): void {
    this.inner.configureSeries(device, name, policy);
  }

  write(samples: Sample[]): Promise<void> {
    if (samples.length === 0) return Promise.resolve();
    return this.route(() => this.inner.write(samples), () => encodeSamples(samples));
  }

  log(entry: LogEntry): Promise<void> {
    return this.route(() => this.inner.log(entry), () => ({ k: 'l', e: entry }));
  }

  audit(entry: AuditEntry): Promise<void> {
    return this.route(() => this.inner.audit(entry), () => ({ k: 'a', e: entry }));
  }

  alarm(entry: AlarmEntry): Promise<void> {
    const inner = this.inner;
    if (!inner.alarm) return Promise.resolve();
    return this.route(() => inner.alarm!(entry), () => ({ k: 'al', e: entry }));
  }

  /**
   * ok: to the back-end; a failure UNAVAILABLE spools the rows (and starts the outage).
   * degraded: to the spool, behind the writes still in flight.
   */
  private route(direct: () => Promise<void>, record: () => SpoolRecord): Promise<void> {
    if (this.closed) return handled(Promise.reject(new ArchiveError('archive is closed', { code: 'CLOSED' })));
    if (this.degraded) return handled(this.spoolInOrder(record()));
    let p: Promise<void>;
    try {
      p = direct();
    } catch (err) {
      p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const settled = p.then(
      () => undefined,
      (err: unknown) => {
        if (!isRetryable(err)) throw err;
        this.enterDegraded(err);
        // Appended before every write made after it (those are held until nothing is in flight).
        return this.append(record());
      },
    );
    const tracked = settled.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(tracked);
    void tracked.then(() => {
      this.inFlight.delete(tracked);
      if (this.inFlight.size === 0) this.releaseHeld();
    });
    return handled(settled);
  }

  private spoolInOrder(rec: SpoolRecord): Promise<void> {
    if (this.inFlight.size === 0 && this.held.length === 0) return this.append(rec);
    return new Promise<void>((resolve, reject) => this.held.push({ rec, resolve, reject }));
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    for (const h of held) this.append(h.rec).then(h.resolve, h.reject);
    if (this.degraded) this.scheduleReplay(0);
  }

  private enterDegraded(err: unknown): void {
    this.lastCause = describe(err);
    if (this.degraded) return;
    this.degraded = true;
    this.streakStart = Date.now();
    this.streakSpooled = 0;
    this.streakReplayed = 0;
    this.backoffMs = this.probeMinMs;
    const text = `archive degraded: the database is unavailable (${this.lastCause}); spooling to ${this.file} until it returns`;
    this.logger.warn({ spool: this.file, err: this.lastCause }, 'archive degraded: spooling');
    this.report('warning', text);
    this.scheduleReplay(this.backoffMs);
  }

  /** Appends one record to the spool; resolves after its fsync. Rejects SPOOL_FULL beyond maxBytes. */
  private append(rec: SpoolRecord): Promise<void> {
    const line = encodeRecord(rec);
    if (this.end + this.appendBytes + line.length > this.maxBytes) {
      const err = new ArchiveError(
        `archive spool ${this.file} is full (${this.end + this.appendBytes} bytes, limit ${this.maxBytes}; monitor.archive.spoolMaxSize): ` +
          `the database has been unavailable too long; ${rowsOf(rec)} rows rejected`,
        { code: 'SPOOL_FULL' },
      );
      this.logger.error({ spool: this.file }, err.message);
      return Promise.reject(err);
    }
    const rows = rowsOf(rec);
    this.spooled += rows;
    this.streakSpooled += rows;
    this.appendBytes += line.length;
    return new Promise<void>((resolve, reject) => {
      this.appendQueue.push({ line, rows, resolve, reject });
      this.appending ??= this.appendLoop();
    });
  }

  /** One write + fdatasync for every record queued meanwhile (group commit). */
  private async appendLoop(): Promise<void> {
    try {
      while (this.appendQueue.length > 0) {
        const group = this.appendQueue;
        this.appendQueue = [];
        const buf = group.length === 1 ? group[0]!.line : Buffer.concat(group.map((g) => g.line));
        try {
          await writeAll(this.fd, buf, this.end);
          await new Promise<void>((resolve, reject) => fs.fdatasync(this.fd, (e) => (e ? reject(e) : resolve())));
        } catch (e) {
          // Not durable: the records are not acknowledged. Cut the file back to the durable end so a
          // partial append cannot be replayed later as if it had been acknowledged.
          this.appendBytes -= buf.length;
          for (const g of group) this.spooled -= g.rows;
          try {
            fs.ftruncateSync(this.fd, this.end);
          } catch {
            // the next start cuts a torn tail anyway
          }
          const err = new ArchiveError(`archive spool ${this.file} could not be written: ${describe(e)}`, { code: (e as { code?: string }).code ?? 'SPOOL_IO', cause: e });
          this.logger.error({ spool: this.file, err: err.message }, 'archive spool write failed');
          for (const g of group) g.reject(err);
          continue;
        }
        this.end += buf.length;
        this.appendBytes -= buf.length;
        for (const g of group) g.resolve();
      }
    } finally {
      this.appending = undefined;
    }
  }

  // ---- replay ------------------------------------------------------------------------------

  private scheduleReplay(delayMs: number): void {
    if (this.closed || this.replaying !== undefined) return;
    if (this.replayTimer !== undefined) {
      if (delayMs > 0) return; // already waiting for the back-off
      clearTimeout(this.replayTimer);
    }
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined;
      this.replaying = this.replay().finally(() => {
        this.replaying = undefined;
      });
    }, delayMs);
  }

  /** Replays batches until the spool is empty or the back-end fails again (then backs off). */
  private async replay(): Promise<void> {
    while (!this.closed && this.degraded) {
      if (this.inFlight.size > 0 || this.held.length > 0) return; // releaseHeld() calls again
      if (this.offset >= this.end) {
        if (this.appending !== undefined || this.appendQueue.length > 0) {
          await this.appending;
          continue;
        }
        this.finishStreak();
        return;
      }
      const batch = scan(this.fd, this.offset, this.end, this.replayRows);
      if (batch.records.length === 0) {
        // A damaged record inside the durable part (not a torn tail: those are cut at start).
        this.skipDamaged();
        continue;
      }
      try {
        await this.commitBatch(batch.records);
      } catch (err) {
        if (isRetryable(err)) {
          this.lastCause = describe(err);
          this.backoffMs = Math.min(this.probeMaxMs, Math.max(this.probeMinMs, this.backoffMs * 2));
          this.logger.debug({ err: this.lastCause, retryMs: this.backoffMs }, 'archive still unavailable; spool kept');
          this.replaying = undefined;
          this.scheduleReplay(this.backoffMs);
          return;
        }
        // The back-end refuses these rows for good (bad data): replaying them again cannot help.
        this.dropped += batch.rows;
        const text = `archive spool: ${batch.rows} rows could not be replayed and are dropped: ${describe(err)}`;
        this.logger.error({ err: describe(err) }, text);
        this.report('error', text);
      }
      this.offset = batch.next;
      this.spooled -= batch.rows;
      this.streakReplayed += batch.rows;
      this.backoffMs = this.probeMinMs;
      this.saveOffset(this.offset);
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  private async commitBatch(records: SpoolRecord[]): Promise<void> {
    const waits: Array<Promise<void>> = [];
    let samples: Sample[] = [];
    const flushSamples = (): void => {
      if (samples.length > 0) waits.push(this.inner.write(samples));
      samples = [];
    };
    for (const rec of records) {
      if (rec.k === 's') {
        for (const s of decodeSamples(rec)) samples.push(s);
        continue;
      }
      flushSamples();
      if (rec.k === 'l') waits.push(this.inner.log(rec.e));
      else if (rec.k === 'a') waits.push(this.inner.audit(rec.e));
      else if (this.inner.alarm) waits.push(this.inner.alarm(rec.e));
    }
    flushSamples();
    for (const w of waits) w.catch(() => undefined);
    await this.inner.flush();
    // Every call of the batch must have committed; the first failure decides.
    for (const w of waits) await w;
  }

  private skipDamaged(): void {
    // Go on after the next newline, however far (a damaged record can be longer than any read
    // chunk); only when there is none is the rest of the durable part lost. Said loudly.
    const nl = findNewline(this.fd, this.offset, this.end);
    const next = nl >= 0 ? nl + 1 : this.end;
    // Counted once: a record already found damaged (and counted) at open is not counted again.
    if (!this.damagedAtOpen.delete(this.offset)) this.dropped++;
    const text = `archive spool: a damaged record at byte ${this.offset} of ${this.file} (bad checksum) is skipped; its rows are lost`;
    this.logger.error(text);
    this.report('error', text);
    this.offset = next;
    this.saveOffset(this.offset);
  }

  private finishStreak(): void {
    // Nothing left and nothing coming: empty the spool, then writes go to the back-end again.
    fs.ftruncateSync(this.fd, 0);
    fs.fdatasyncSync(this.fd);
    this.end = 0;
    this.offset = 0;
    this.saveOffset(0);
    this.spooled = 0;
    this.degraded = false;
    const seconds = ((Date.now() - this.streakStart) / 1000).toFixed(1);
    const text = `archive: replay complete: ${this.streakReplayed} rows replayed from the spool (${this.streakSpooled} spooled in this outage) after ${seconds} s; writing to the database again`;
    this.logger.info({ replayed: this.streakReplayed, spooled: this.streakSpooled }, text);
    this.report('info', text);
  }

  private saveOffset(offset: number): void {
    const tmp = `${this.sidecar}.tmp`;
    const body = `${offset} ${crc32(String(offset)).toString(16)}\n`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, body);
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.sidecar);
    spoolFs.fsyncDir(path.dirname(this.sidecar));
  }

  // ---- the rest ----------------------------------------------------------------------------

  async flush(): Promise<void> {
    if (!this.degraded) {
      await this.inner.flush();
      await Promise.all([...this.inFlight]);
    }
    // Held rows wait for the in-flight writes; appended rows for their fsync.
    while (this.held.length > 0 || this.appending !== undefined) {
      if (this.held.length > 0) await Promise.all([...this.inFlight]);
      await this.appending;
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Waits until the spool is empty and the back-end took everything (tests, shutdown with a deadline). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.degraded && this.inFlight.size === 0) return true;
      await new Promise<void>((r) => setTimeout(r, 50));
    }
    return !this.degraded;
  }

  private degradedError(err: unknown): never {
    if (isUnavailable(err)) {
      throw new ArchiveError(
        `archive degraded: the database is unavailable (${describe(err)}); ${this.spooled} rows are spooled and written when it returns, history cannot be read meanwhile`,
        { code: 'UNAVAILABLE', cause: err },
      );
    }
    throw err;
  }

  async listSeries(): Promise<SeriesInfo[]> {
    return this.inner.listSeries().catch((e: unknown) => this.degradedError(e));
  }

  async history(device: string, name: string, from: number, to: number, maxPoints: number): Promise<HistoryResult> {
    return this.inner.history(device, name, from, to, maxPoints).catch((e: unknown) => this.degradedError(e));
  }

  async messages(query: MessageQuery): Promise<LogEntry[]> {
    return this.inner.messages(query).catch((e: unknown) => this.degradedError(e));
  }

  async auditTrail(query: { from?: number; to?: number; device?: string; limit?: number }): Promise<AuditEntry[]> {
    return this.inner.auditTrail(query).catch((e: unknown) => this.degradedError(e));
  }

  async alarmHistory(query: AlarmHistoryQuery): Promise<AlarmEntry[]> {
    if (!this.inner.alarmHistory) return [];
    return this.inner.alarmHistory(query).catch((e: unknown) => this.degradedError(e));
  }

  // The image index is not spooled: the monitor indexes a daemon's images again after every
  // reconnect (addImage is idempotent), so an image missed during an outage is added later.
  async addImage(image: ImageInfo): Promise<{ image: ImageRecord; added: boolean }> {
    if (!this.inner.addImage) throw new ArchiveError('this archive keeps no image index', { code: 'UNSUPPORTED' });
    return this.inner.addImage(image).catch((e: unknown) => this.degradedError(e));
  }

  async listImages(query: ImageQuery): Promise<ImageRecord[]> {
    if (!this.inner.listImages) return [];
    return this.inner.listImages(query).catch((e: unknown) => this.degradedError(e));
  }

  async getImage(id: number): Promise<ImageRecord | undefined> {
    if (!this.inner.getImage) return undefined;
    return this.inner.getImage(id).catch((e: unknown) => this.degradedError(e));
  }

  async *exportCsv(device: string, name: string, from: number, to: number): AsyncIterable<string> {
    try {
      yield* this.inner.exportCsv(device, name, from, to);
    } catch (e) {
      this.degradedError(e);
    }
  }

  async applyRetention(policy: RetentionPolicy, now?: number): Promise<void> {
    return this.inner.applyRetention(policy, now).catch((e: unknown) => this.degradedError(e));
  }

  stats(): ArchiveStats {
    const s = this.inner.stats();
    const out: ArchiveStats = { ...s, state: this.degraded ? 'degraded' : 'ok', spooled: this.spooled };
    if (this.degraded) out.lastError = `archive degraded (${this.spooled} spooled): ${this.lastCause}`;
    if (this.dropped > 0) out.spoolDropped = this.dropped;
    return out;
  }

  /** Stops the replay; appends what is queued (durable) and closes the back-end. The spool stays for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.replayTimer !== undefined) clearTimeout(this.replayTimer);
    this.replayTimer = undefined;
    await this.replaying;
    await Promise.all([...this.inFlight]);
    await this.flush();
    try {
      await this.inner.close();
    } finally {
      fs.closeSync(this.fd);
    }
  }
}

function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

async function writeAll(fd: number, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.write(fd, buf, done, buf.length - done, position + done, (e, written) => (e ? reject(e) : resolve(written))),
    );
    done += n;
  }
}

function readOffset(sidecar: string): number {
  let text: string;
  try {
    text = fs.readFileSync(sidecar, 'utf8');
  } catch {
    return 0;
  }
  const m = /^(\d+) ([0-9a-f]+)\n$/.exec(text);
  if (!m || crc32(m[1]!).toString(16) !== m[2]) return 0; // a damaged sidecar: replay from the start (samples are idempotent)
  return Number(m[1]);
}

/**
 * Opens the spool beside a back-end: reads the committed offset, cuts a torn last record, counts
 * the rows still to replay, and starts replaying them when there are any.
 */
export async function openSpoolingArchive(inner: Archive, options: SpoolOptions): Promise<SpoolingArchive> {
  const logger = options.logger ?? silentLogger();
  let madeDir: string | undefined;
  try {
    madeDir = await fs.promises.mkdir(path.dirname(options.path), { recursive: true });
  } catch (e) {
    throw new ArchiveError(`archive spool ${options.path}: cannot create its directory: ${describe(e)}`, { code: (e as { code?: string }).code ?? 'SPOOL_IO', cause: e });
  }
  let fd: number;
  try {
    fd = fs.openSync(options.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    // The spool's (and a new directory's) entry must survive a power loss like the rows in it.
    // Always, not only when created here: a previous run may have died before its entry was durable.
    spoolFs.fsyncDir(path.dirname(options.path));
    if (madeDir !== undefined) spoolFs.fsyncDir(path.dirname(madeDir));
  } catch (e) {
    throw new ArchiveError(`archive spool ${options.path} cannot be opened: ${describe(e)}`, { code: (e as { code?: string }).code ?? 'SPOOL_IO', cause: e });
  }
  const size = fs.fstatSync(fd).size;
  let offset = readOffset(`${options.path}.offset`);
  if (offset > size) offset = 0;
  // Count what is left, and find where the good records end. Counting only (nothing kept, read in
  // bounded chunks): after a long outage the spool can be close to its 1 GiB limit.
  let pos = offset;
  let spooled = 0;
  const damaged: number[] = [];
  for (;;) {
    const part = walk(fd, pos, size, Number.MAX_SAFE_INTEGER, () => undefined);
    spooled += part.rows;
    pos = part.next;
    if (!part.bad || pos >= size) break;
    // Torn or damaged at pos: is there a good record after it? Then it is damage inside (skip it
    // when replaying, said loudly); else it is the torn tail of an append that was never acknowledged.
    const nl = findNewline(fd, pos, size);
    if (nl < 0 || nl === size - 1) {
      logger.warn({ spool: options.path, bytes: size - pos }, 'archive spool: a torn last record (crash during an append) is cut off; it was never acknowledged');
      fs.ftruncateSync(fd, pos);
      fs.fdatasyncSync(fd);
      break;
    }
    damaged.push(pos);
    logger.error({ spool: options.path, at: pos }, 'archive spool: a damaged record inside the spool is skipped');
    pos = nl + 1;
  }
  const end = Math.min(fs.fstatSync(fd).size, size);
  return new SpoolingArchive(inner, options, { fd, end, offset, spooled, damaged });
}
