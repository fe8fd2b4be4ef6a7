/**
 * The SQLite back-end of the Archive (DESIGN.md §4): one database file, WAL, narrow rows.
 *
 * Tables (UTC Unix milliseconds everywhere):
 * - `series(id, device, name, unit, type)`;
 * - `samples(series_id, t_ms, value REAL)`: numbers, NULL = missing reading (kept so gaps show);
 * - `text_samples(series_id, t_ms, value TEXT)`: text values, stored on change;
 * - `rollup_1m`, `rollup_1h(series_id, bin_start_ms, count, min, max, sum)`: upserted in the
 *   transaction that inserts the raw rows (never recomputed from raw), nulls excluded;
 * - `log(t_ms, source, level, message)`, `audit(t_ms, who, peer, device, command, before,
 *   after, result)`; `schema_version` for migrations;
 * - `images(id, t_ms, device, path, frame, exptime, type, object, width, height, bitpix, bytes,
 *   min, max, mean, median, indexed_ms)`, unique (device, path): the image index (version 2).
 * Sample tables and rollups are WITHOUT ROWID with the primary key (series_id, t): a range of a
 * series is one index range scan, and the first/last row of a series one seek.
 *
 * Durability: WAL with synchronous=NORMAL by default. A committed transaction is in the WAL file
 * before COMMIT returns, so it survives the process being killed (SIGKILL, crash, OOM): the
 * operating system still writes it out. It can be lost only if the machine loses power before
 * the next checkpoint syncs the WAL, and the database is never corrupted either way. FULL adds
 * an fsync to every commit for power-loss durability (option `synchronous: 'full'`).
 *
 * Write path: the WriteQueue (queue.ts) groups rows into transactions of at most batchRows rows.
 * One transaction inserts the raw rows (in-order numbers with multi-row INSERTs), upserts one row
 * per touched minute and hour bin, and adds the log and audit rows. The filter (filter.ts)
 * decides per sample; its per-series state advances only when the transaction commits, so a
 * failed batch leaves nothing behind, in the database or in memory.
 *
 * Read path: history() returns raw samples when at most maxPoints are in the range (a lower bound
 * from the rollup counts rules out long dense ranges without reading them), else the minute or
 * hour rollup, grouped in SQL into epoch-aligned bins of k tier bins so that at most maxPoints
 * come back (bins.ts). A tier cut by retention gives way to one that still covers the range.
 *
 * All SQL of the archive is in this file; the policy (what to store, how to bin, the write queue)
 * lives in back-end-neutral modules that a PostgreSQL back-end reuses.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import { type Logger, silentLogger } from '../util/logger.js';
import { HOUR_MS, MINUTE_MS, TIER_MS, chooseTier, floorTo, planBins, tierCovers, type RollupTier } from './bins.js';
import { CSV_PAGE_ROWS, csvPages } from './csv.js';
import {
  applySeriesPolicy,
  checkQueueOptions,
  cmp,
  enqueueAudit,
  enqueueLog,
  enqueueSamples,
  filterOf,
  imageRecord,
  newWriteQueue,
  parseObject,
  seriesKey,
  type ImageRow,
} from './common.js';
import { ArchiveError } from './errors.js';
import { coerce, decide, typeOf, type FilterPolicy, type SeriesType, type StoredSample } from './filter.js';
import { WriteQueue, type Batch, type CommitResult } from './queue.js';
import {
  ArchiveQueryError,
  type AlarmEntry,
  type AlarmHistoryQuery,
  type Archive,
  type ArchiveStats,
  type AuditEntry,
  type HistoryPoint,
  type HistoryResult,
  type ImageInfo,
  type ImageQuery,
  type ImageRecord,
  type LogEntry,
  type LogLevel,
  type MessageQuery,
  type RetentionPolicy,
  type Sample,
  type SeriesInfo,
  type SeriesPolicy,
} from './types.js';
import {
  cleanText,
  checkImage,
  checkLimit,
  checkMaxPoints,
  checkOptionalRange,
  checkRange,
  checkRetention,
  isLogLevel,
  levelsAtLeast,
} from './validate.js';

export interface SqliteArchiveOptions {
  /** Commit queued rows at least this often (ms). Default 250. */
  batchMs?: number;
  /** Commit at once when this many rows are queued; also the most rows per transaction. Default 1000. */
  batchRows?: number;
  /** Reject writes while this many rows wait (memory bound when the database fails or lags). Default 1,000,000. */
  maxPending?: number;
  /** `normal` (default): survives process crashes; `full`: also power loss, one fsync per commit. */
  synchronous?: 'normal' | 'full';
  /** Open an existing archive for reading only (writes then fail with a clear error). */
  readonly?: boolean;
  logger?: Logger;
}

export const SCHEMA_VERSION = 2;

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS series (
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  name TEXT NOT NULL,
  unit TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL CHECK (type IN ('number', 'text')),
  UNIQUE (device, name)
);
CREATE TABLE IF NOT EXISTS samples (
  series_id INTEGER NOT NULL,
  t_ms INTEGER NOT NULL,
  value REAL,
  PRIMARY KEY (series_id, t_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS text_samples (
  series_id INTEGER NOT NULL,
  t_ms INTEGER NOT NULL,
  value TEXT,
  PRIMARY KEY (series_id, t_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1m (
  series_id INTEGER NOT NULL,
  bin_start_ms INTEGER NOT NULL,
  count INTEGER NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  sum REAL NOT NULL,
  PRIMARY KEY (series_id, bin_start_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_1h (
  series_id INTEGER NOT NULL,
  bin_start_ms INTEGER NOT NULL,
  count INTEGER NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  sum REAL NOT NULL,
  PRIMARY KEY (series_id, bin_start_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
  id INTEGER PRIMARY KEY,
  t_ms INTEGER NOT NULL,
  source TEXT NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_t ON log (t_ms);
CREATE INDEX IF NOT EXISTS log_source_t ON log (source, t_ms);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  t_ms INTEGER NOT NULL,
  who TEXT NOT NULL,
  peer TEXT NOT NULL,
  device TEXT NOT NULL,
  command TEXT NOT NULL,
  "before" TEXT NOT NULL,
  "after" TEXT NOT NULL,
  result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_t ON audit (t_ms);
CREATE INDEX IF NOT EXISTS audit_device_t ON audit (device, t_ms);
`;

/**
 * The alarm history (monitor/alarms.ts): one row per alarm transition. Created idempotently when a
 * writable archive opens, outside the numbered migrations, so archives of either age open.
 */
const ALARM_TABLE = `
CREATE TABLE IF NOT EXISTS alarms (
  id INTEGER PRIMARY KEY,
  t_ms INTEGER NOT NULL,
  alarm TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  value REAL,
  who TEXT
);
CREATE INDEX IF NOT EXISTS alarms_t ON alarms (t_ms);
CREATE INDEX IF NOT EXISTS alarms_alarm_t ON alarms (alarm, t_ms);
`;

/**
 * The image index: one row per FITS file a daemon wrote (the file stays on the daemon's host).
 * Unique per (device, path), so asking again after a reconnect adds nothing.
 */
const SCHEMA_V2 = `
CREATE TABLE IF NOT EXISTS images (
  -- AUTOINCREMENT: an id is never given twice, even after retention emptied the index; pages
  -- and caches that hold /api/images/<id> must not show another file under an old id.
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  t_ms INTEGER NOT NULL,
  device TEXT NOT NULL,
  path TEXT NOT NULL,
  frame INTEGER,
  exptime REAL,
  type TEXT NOT NULL,
  object TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  bitpix INTEGER NOT NULL,
  bytes INTEGER,
  min REAL,
  max REAL,
  mean REAL,
  median REAL,
  indexed_ms INTEGER NOT NULL,
  UNIQUE (device, path)
);
CREATE INDEX IF NOT EXISTS images_t ON images (t_ms);
CREATE INDEX IF NOT EXISTS images_device_t ON images (device, t_ms);
`;

/** Ordered migrations; each runs once, in one transaction with its schema_version row. */
const MIGRATIONS: ReadonlyArray<{ version: number; sql: string }> = [
  { version: 1, sql: SCHEMA_V1 },
  { version: 2, sql: SCHEMA_V2 },
];

const IMAGE_COLUMNS = 'id, t_ms, device, path, frame, exptime, type, object, width, height, bitpix, bytes, min, max, mean, median';

/** Rows deleted per statement by retention (one short transaction each). */
const RETENTION_CHUNK = 10_000;

type Stmt = Database.Statement<unknown[], unknown>;

interface Agg {
  n: number;
  min: number;
  max: number;
  sum: number;
}

interface SeriesRt {
  id: number;
  device: string;
  name: string;
  unit: string;
  type: SeriesType;
  filter: FilterPolicy;
  /** Last stored sample (for the filter); loaded from the database on first use. */
  last: StoredSample | undefined;
  loaded: boolean;
  warnedConflict: boolean;
}

/** What one transaction changes in memory; applied only after its COMMIT. */
interface Tx {
  /** In-order numeric rows: new by construction (later than anything stored), inserted in multi-row statements. */
  rows: RowBuffer;
  created: SeriesRt[];
  createdByKey: Map<string, SeriesRt>;
  last: Map<SeriesRt, StoredSample>;
  minutes: Map<number, Map<number, Agg>>;
  stored: number;
  skipped: number;
}

const CODE_REASONS: ReadonlyArray<[RegExp, string]> = [
  [/^SQLITE_FULL$/, 'database or disk is full'],
  [/^SQLITE_READONLY/, 'the database is read-only'],
  [/^SQLITE_CANTOPEN/, 'unable to open the database file'],
  [/^SQLITE_NOTADB$/, 'the file is not an SQLite database'],
  [/^SQLITE_CORRUPT/, 'the database file is corrupt'],
  [/^SQLITE_BUSY/, 'the database is locked by another connection'],
  [/^SQLITE_(PERM|AUTH)$/, 'permission denied'],
  [/^SQLITE_IOERR/, 'I/O error'],
  [/^EACCES$|^EPERM$/, 'permission denied'],
  [/^ENOENT$/, 'no such file or directory'],
  [/^ENOTDIR$/, 'a component of the path is not a directory'],
  [/^EROFS$/, 'read-only file system'],
  [/^ENOSPC$/, 'no space left on device'],
];

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A person-readable reason for a SQLite or file-system error, with its code. */
export function describeSqliteError(e: unknown): string {
  const code = errorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  if (code === undefined) return message;
  const reason = CODE_REASONS.find(([re]) => re.test(code))?.[1];
  if (reason === undefined) return `${message} (${code})`;
  // Keep SQLite's own words when they add something (an I/O error's detail, a path).
  const detail = code.startsWith('SQLITE_IOERR') && message !== 'disk I/O error' ? `: ${message}` : '';
  return `${reason}${detail} (${code})`;
}

function openError(file: string, e: unknown, reason?: string): ArchiveError {
  const code = errorCode(e);
  return new ArchiveError(`cannot open archive ${file}: ${reason ?? describeSqliteError(e)}`, { code, cause: e });
}

function addTo(map: Map<number, Agg>, bin: number, a: Agg): void {
  const b = map.get(bin);
  if (b === undefined) {
    map.set(bin, { n: a.n, min: a.min, max: a.max, sum: a.sum });
    return;
  }
  b.n += a.n;
  if (a.min < b.min) b.min = a.min;
  if (a.max > b.max) b.max = a.max;
  b.sum += a.sum;
}

type Statements = ReturnType<typeof prepareStatements>;

function addValue(map: Map<number, Agg>, bin: number, v: number): void {
  const b = map.get(bin);
  if (b === undefined) {
    map.set(bin, { n: 1, min: v, max: v, sum: v });
    return;
  }
  b.n++;
  if (v < b.min) b.min = v;
  if (v > b.max) b.max = v;
  b.sum += v;
}

/** Rows per multi-row INSERT: one statement call costs about as much as the B-tree work of a row. */
const ROWS_PER_STATEMENT = 32;

/**
 * Collects rows of one table and inserts them ROWS_PER_STATEMENT at a time with a multi-row
 * statement (the rest row by row): four times the single-row throughput of better-sqlite3.
 */
class RowBuffer {
  private args: Array<number | string | null> = [];
  private readonly full: number;

  constructor(
    private readonly many: Stmt,
    private readonly one: Stmt,
    private readonly width: number,
  ) {
    this.full = width * ROWS_PER_STATEMENT;
  }

  push3(a: number, b: number, c: number | string | null): void {
    this.args.push(a, b, c);
    if (this.args.length === this.full) this.flush();
  }

  push6(a: number, b: number, c: number, d: number, e: number, f: number): void {
    this.args.push(a, b, c, d, e, f);
    if (this.args.length === this.full) this.flush();
  }

  flush(): void {
    const args = this.args;
    if (args.length === 0) return;
    this.args = [];
    if (args.length === this.full) {
      this.many.run(...args);
      return;
    }
    for (let i = 0; i < args.length; i += this.width) this.one.run(...args.slice(i, i + this.width));
  }
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export class SqliteArchive implements Archive {
  readonly kind = 'sqlite' as const;
  /** Absolute path of the database file (or `:memory:`). */
  readonly path: string;
  private readonly conn: Database.Database;
  private readonly logger: Logger;
  private readonly queue: WriteQueue;
  private readonly byDevice = new Map<string, Map<string, SeriesRt>>();
  private readonly policies = new Map<string, SeriesPolicy>();
  private readonly dirtyUnits = new Set<SeriesRt>();
  private closing: Promise<void> | undefined;
  private readonly s: Statements;
  private readonly stmtCache = new Map<string, Stmt>();

  /** Use openSqliteArchive(). */
  private constructor(path: string, conn: Database.Database, options: SqliteArchiveOptions) {
    this.path = path;
    this.conn = conn;
    this.logger = options.logger ?? silentLogger();
    if (!conn.readonly) conn.exec(ALARM_TABLE);
    this.s = prepareStatements(conn);
    for (const row of conn.prepare('SELECT id, device, name, unit, type FROM series').all() as Array<{ id: number; device: string; name: string; unit: string; type: SeriesType }>) {
      this.remember({ ...row, filter: filterOf(undefined), last: undefined, loaded: false, warnedConflict: false });
    }
    this.queue = newWriteQueue(options, 1000, this.logger, { path: this.path }, (batch) => this.commitBatch(batch));
  }

  /** Opens (creating if needed) an archive; throws ArchiveError with the path and a clear reason. */
  static open(path: string, options: SqliteArchiveOptions = {}): SqliteArchive {
    const memory = path === ':memory:';
    const file = memory ? path : nodePath.resolve(path);
    const readonly = options.readonly === true;
    checkQueueOptions(options);
    if (!memory) preflight(file, readonly);
    let conn: Database.Database | undefined;
    try {
      conn = new Database(file, { readonly, fileMustExist: readonly, timeout: 2000 });
      if (!readonly) {
        const mode = String(conn.pragma('journal_mode = WAL', { simple: true }));
        if (mode !== 'wal' && !memory) {
          (options.logger ?? silentLogger()).warn({ path: file, mode }, 'archive: WAL is not available on this file system; using the rollback journal');
        }
      }
      conn.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      conn.pragma('cache_size = -32768'); // 32 MiB
      conn.pragma('temp_store = MEMORY');
      if (!readonly) {
        // SQLite's default checkpoint size (~4 MB of WAL), on purpose: larger ones saved no CPU in
        // measurements but made the commit that runs the checkpoint stall for 50-130 ms instead
        // of 25 ms at 20,000 samples/s over 4000 series.
        conn.pragma('wal_autocheckpoint = 1000');
        conn.pragma('journal_size_limit = 67108864');
      }
      migrate(conn, file, readonly);
    } catch (e) {
      try {
        conn?.close();
      } catch {
        /* already failing */
      }
      if (e instanceof ArchiveError) throw e;
      throw openError(file, e);
    }
    const archive = new SqliteArchive(file, conn, options);
    archive.logger.debug({ path: file, series: archive.seriesCount() }, 'archive open');
    return archive;
  }

  /** The underlying connection, for tests and maintenance (PRAGMAs, backups). Do not write through it. */
  get database(): Database.Database {
    return this.conn;
  }

  configureSeries(device: string, name: string, policy: SeriesPolicy): void {
    const rt = this.byDevice.get(device)?.get(name);
    if (!applySeriesPolicy(this.policies, rt, device, name, policy, this.logger) || rt === undefined) return;
    this.dirtyUnits.add(rt);
    if (!this.queue.isClosed && !this.conn.readonly) this.writeUnitsNow();
  }

  write(samples: Sample[]): Promise<void> {
    return enqueueSamples(this.queue, samples);
  }

  log(entry: LogEntry): Promise<void> {
    return enqueueLog(this.queue, entry);
  }

  audit(entry: AuditEntry): Promise<void> {
    return enqueueAudit(this.queue, entry);
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }

  stats(): ArchiveStats {
    return this.queue.stats();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.close();
      try {
        this.conn.close();
      } catch (e) {
        this.logger.warn({ err: e, path: this.path }, 'archive close failed');
      }
    })();
    return this.closing;
  }

  async listSeries(): Promise<SeriesInfo[]> {
    this.assertOpen();
    const out: SeriesInfo[] = [];
    for (const rt of this.allSeries()) {
      const info: SeriesInfo = { id: rt.id, device: rt.device, name: rt.name, unit: rt.unit, type: rt.type };
      const span = rt.type === 'text' ? this.textSpan(rt) : this.numberSpan(rt);
      if (span.first !== undefined) info.firstT = span.first;
      if (span.last !== undefined) info.lastT = span.last;
      out.push(info);
    }
    out.sort((a, b) => (a.device === b.device ? cmp(a.name, b.name) : cmp(a.device, b.device)));
    return out;
  }

  async history(device: string, name: string, from: number, to: number, maxPoints: number): Promise<HistoryResult> {
    const range = checkRange(from, to);
    const max = checkMaxPoints(maxPoints);
    this.assertOpen();
    const rt = this.requireSeries(device, name);
    const base = { device, name, unit: rt.unit, from, to, type: rt.type };
    if (rt.type === 'text') return { ...base, source: 'raw', binMs: 0, points: this.textHistory(rt, range.from, range.to, max) };

    const raw = this.s.rawFirst.get(rt.id) as number | undefined;
    const m1 = this.s.m1First.get(rt.id) as number | undefined;
    const h1 = this.s.h1First.get(rt.id) as number | undefined;
    if (raw === undefined && m1 === undefined && h1 === undefined) return { ...base, source: 'raw', binMs: 0, points: [] };
    const earliest = Math.min(raw ?? Infinity, m1 ?? Infinity, h1 ?? Infinity);

    // Raw when it fits: a cheap lower bound from the rollups rules out long dense ranges, then
    // reading at most maxPoints + 1 rows settles it.
    if (tierCovers(raw, range.from, earliest) && this.lowerBound(rt.id, range.from, range.to) <= max) {
      const rows = this.s.rawRange.all(rt.id, range.from, range.to, max + 1) as Array<[number, number | null]>;
      if (rows.length <= max) {
        return { ...base, source: 'raw', binMs: 0, points: rows.map(([t, v]) => ({ t, v })) };
      }
    }
    const tier = chooseTier(range.from, range.to, max, {
      '1m': tierCovers(m1, range.from, earliest),
      '1h': tierCovers(h1, range.from, earliest),
    });
    const { points, binMs } = this.rollupHistory(rt.id, tier, range.from, range.to, max);
    return { ...base, source: tier, binMs, points };
  }

  async messages(query: MessageQuery): Promise<LogEntry[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    if (query.minLevel !== undefined && !isLogLevel(query.minLevel)) throw new ArchiveQueryError(`unknown log level ${String(query.minLevel)}`);
    this.assertOpen();
    const where = ['t_ms >= ?', 't_ms <= ?'];
    const params: unknown[] = [from, to];
    if (query.source !== undefined) {
      where.push('source = ?');
      params.push(query.source);
    }
    if (query.minLevel !== undefined && query.minLevel !== 'debug') {
      const levels = levelsAtLeast(query.minLevel);
      where.push(`level IN (${levels.map(() => '?').join(', ')})`);
      params.push(...levels);
    }
    const sql = `SELECT t_ms, source, level, message FROM log WHERE ${where.join(' AND ')} ORDER BY t_ms DESC, id DESC LIMIT ?`;
    const rows = this.cached(sql).all(...params, limit) as Array<{ t_ms: number; source: string; level: LogLevel; message: string }>;
    return rows.map((r) => ({ t: r.t_ms, source: r.source, level: r.level, message: r.message }));
  }

  async auditTrail(query: { from?: number; to?: number; device?: string; limit?: number }): Promise<AuditEntry[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    this.assertOpen();
    const byDevice = query.device !== undefined;
    const sql = `SELECT t_ms, who, peer, device, command, "before", "after", result FROM audit
      WHERE ${byDevice ? 'device = ? AND ' : ''}t_ms >= ? AND t_ms <= ? ORDER BY t_ms DESC, id DESC LIMIT ?`;
    const params = byDevice ? [query.device, from, to, limit] : [from, to, limit];
    const rows = this.cached(sql).all(...params) as Array<{
      t_ms: number;
      who: string;
      peer: string;
      device: string;
      command: string;
      before: string;
      after: string;
      result: string;
    }>;
    return rows.map((r) => ({
      t: r.t_ms,
      who: r.who,
      peer: r.peer,
      device: r.device,
      command: r.command,
      before: parseObject(r.before),
      after: parseObject(r.after),
      result: r.result,
    }));
  }

  /**
   * Stores one alarm transition at once, in its own transaction: transitions are rare, and each
   * one should be durable before anyone is told about it.
   */
  async alarm(entry: AlarmEntry): Promise<void> {
    if (typeof entry.id !== 'string' || entry.id === '' || !Number.isFinite(entry.t)) throw new ArchiveQueryError(`bad alarm entry: id ${String(entry.id)} t ${String(entry.t)}`);
    this.assertOpen();
    const value = entry.value !== null && Number.isFinite(entry.value) ? entry.value : null;
    this.cached('INSERT INTO alarms (t_ms, alarm, from_state, to_state, severity, message, value, who) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      Math.round(entry.t),
      entry.id,
      entry.from,
      entry.to,
      entry.severity,
      cleanText(entry.message),
      value,
      entry.who === undefined ? null : cleanText(entry.who),
    );
  }

  async alarmHistory(query: AlarmHistoryQuery): Promise<AlarmEntry[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    this.assertOpen();
    if (this.conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarms'").get() === undefined) return [];
    const byId = query.id !== undefined;
    const sql = `SELECT t_ms, alarm, from_state, to_state, severity, message, value, who FROM alarms
      WHERE ${byId ? 'alarm = ? AND ' : ''}t_ms >= ? AND t_ms <= ? ORDER BY t_ms DESC, id DESC LIMIT ?`;
    const rows = this.cached(sql).all(...(byId ? [query.id, from, to, limit] : [from, to, limit])) as Array<{
      t_ms: number;
      alarm: string;
      from_state: string;
      to_state: string;
      severity: string;
      message: string;
      value: number | null;
      who: string | null;
    }>;
    return rows.map((r) => ({
      t: r.t_ms,
      id: r.alarm,
      from: r.from_state,
      to: r.to_state,
      severity: r.severity,
      message: r.message,
      value: r.value,
      ...(r.who !== null ? { who: r.who } : {}),
    }));
  }

  /**
   * Indexes one image at once, in its own statement: images are rare, and the live event that
   * follows carries the row's id, so the row must exist first.
   */
  async addImage(image: ImageInfo): Promise<{ image: ImageRecord; added: boolean }> {
    checkImage(image);
    this.assertOpen();
    try {
      const info = this.cached(
        `INSERT INTO images (t_ms, device, path, frame, exptime, type, object, width, height, bitpix, bytes, min, max, mean, median, indexed_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, path) DO NOTHING`,
      ).run(
        Math.round(image.t), image.device, image.path, image.frame, image.exptime, image.type, image.object,
        image.width, image.height, image.bitpix, image.bytes, image.min, image.max, image.mean, image.median, Date.now(),
      );
      const row = this.cached(`SELECT ${IMAGE_COLUMNS} FROM images WHERE device = ? AND path = ?`).get(image.device, image.path) as ImageRow;
      return { image: imageRecord(row), added: info.changes > 0 };
    } catch (e) {
      throw new ArchiveError(`cannot index image ${image.path} in archive ${this.path}: ${describeSqliteError(e)}`, { code: errorCode(e), cause: e });
    }
  }

  async listImages(query: ImageQuery): Promise<ImageRecord[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    this.assertOpen();
    const byDevice = query.device !== undefined;
    const sql = `SELECT ${IMAGE_COLUMNS} FROM images WHERE ${byDevice ? 'device = ? AND ' : ''}t_ms >= ? AND t_ms <= ? ORDER BY t_ms DESC, id DESC LIMIT ?`;
    const rows = this.cached(sql).all(...(byDevice ? [query.device, from, to, limit] : [from, to, limit])) as ImageRow[];
    return rows.map(imageRecord);
  }

  async getImage(id: number): Promise<ImageRecord | undefined> {
    if (!Number.isSafeInteger(id)) throw new ArchiveQueryError(`an image id is an integer (got ${String(id)})`);
    this.assertOpen();
    const row = this.cached(`SELECT ${IMAGE_COLUMNS} FROM images WHERE id = ?`).get(id) as ImageRow | undefined;
    return row === undefined ? undefined : imageRecord(row);
  }

  /**
   * CSV of the raw samples of [from, to], read and yielded in pages of CSV_PAGE_ROWS rows, so any
   * range streams in bounded memory. Bad arguments reject the first iteration.
   */
  async *exportCsv(device: string, name: string, from: number, to: number): AsyncGenerator<string> {
    const range = checkRange(from, to);
    this.assertOpen();
    const rt = this.requireSeries(device, name);
    const page = rt.type === 'text' ? this.s.csvTextPage : this.s.csvPage;
    yield* csvPages(range.from, (cursor) => page.all(rt.id, cursor, range.to, CSV_PAGE_ROWS) as Array<[number, number | string | null]>, () => this.assertOpen());
  }

  /**
   * Deletes what each tier keeps no longer, in statements of RETENTION_CHUNK rows with the event
   * loop free between them. Raw samples, text samples, minute and hour rollups, log, audit and the
   * image index (its rows only: the FITS files are the daemons') each follow their own age limit;
   * an undefined one keeps the tier for ever.
   */
  async applyRetention(policy: RetentionPolicy, now: number = Date.now()): Promise<void> {
    this.assertOpen();
    checkRetention(policy, now);
    const textMs = policy.textMs ?? policy.rawMs;
    // Between chunks the event loop runs: the archive may get closed meanwhile.
    const pause = async (): Promise<void> => {
      await yieldToLoop();
      if (this.closing !== undefined) throw new ArchiveError('archive is closed', { code: 'CLOSED' });
    };
    try {
      const series = [...this.allSeries()];
      const perSeries: Array<[string, string, number | undefined, SeriesType]> = [
        ['samples', 't_ms', policy.rawMs, 'number'],
        ['text_samples', 't_ms', textMs, 'text'],
        ['rollup_1m', 'bin_start_ms', policy.minuteMs, 'number'],
        ['rollup_1h', 'bin_start_ms', policy.hourMs, 'number'],
      ];
      for (const [table, col, ms, type] of perSeries) {
        if (ms === undefined) continue;
        // A bin is deleted once all of it is older than the limit.
        const width = table === 'rollup_1m' ? MINUTE_MS : table === 'rollup_1h' ? HOUR_MS : 1;
        const cutoff = now - ms - (width - 1);
        const bound = this.cached(`SELECT ${col} FROM ${table} WHERE series_id = ? AND ${col} < ? ORDER BY ${col} LIMIT 1 OFFSET ${RETENTION_CHUNK - 1}`).pluck();
        const delUpTo = this.cached(`DELETE FROM ${table} WHERE series_id = ? AND ${col} <= ?`);
        const delBelow = this.cached(`DELETE FROM ${table} WHERE series_id = ? AND ${col} < ?`);
        for (const rt of series) {
          if (rt.type !== type) continue;
          for (;;) {
            const b = bound.get(rt.id, cutoff) as number | undefined;
            if (b === undefined) {
              delBelow.run(rt.id, cutoff);
              break;
            }
            delUpTo.run(rt.id, b);
            await pause();
          }
        }
        await pause();
      }
      for (const [table, ms] of [['log', policy.logMs], ['audit', policy.auditMs], ['images', policy.imagesMs]] as const) {
        if (ms === undefined) continue;
        const del = this.cached(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE t_ms < ? ORDER BY t_ms LIMIT ${RETENTION_CHUNK})`);
        while (del.run(now - ms).changes === RETENTION_CHUNK) await pause();
      }
    } catch (e) {
      if (e instanceof ArchiveError || e instanceof ArchiveQueryError) throw e;
      throw new ArchiveError(`archive ${this.path}: retention failed: ${describeSqliteError(e)}`, { code: errorCode(e), cause: e });
    }
  }

  // ---- write path ---------------------------------------------------------------------------

  private commitBatch(batch: Batch): CommitResult {
    const s = this.s;
    const tx: Tx = { rows: new RowBuffer(s.insertSamples, s.insertSampleNew, 3), created: [], createdByKey: new Map(), last: new Map(), minutes: new Map(), stored: 0, skipped: 0 };
    const units = [...this.dirtyUnits];
    try {
      s.begin.run();
      for (const sample of batch.samples) this.ingest(sample, tx);
      tx.rows.flush();
      this.writeRollups(tx);
      for (const e of batch.logs) s.insertLog.run(Math.round(e.t), e.source, e.level, e.message);
      for (const e of batch.audits) {
        s.insertAudit.run(Math.round(e.t), e.who, e.peer, e.device, e.command, JSON.stringify(e.before), JSON.stringify(e.after), e.result);
      }
      for (const rt of units) s.updateUnit.run(rt.unit, rt.id);
      s.commit.run();
    } catch (e) {
      // Re-read the filter state of these series from the database next time (it is the truth).
      for (const rt of tx.last.keys()) rt.loaded = false;
      if (this.conn.inTransaction) {
        try {
          s.rollback.run();
        } catch {
          /* SQLite rolled back already */
        }
      }
      throw new ArchiveError(`cannot write to archive ${this.path}: ${describeSqliteError(e)}`, { code: errorCode(e), cause: e });
    }
    for (const rt of tx.created) this.remember(rt);
    for (const [rt, last] of tx.last) rt.last = last;
    for (const rt of units) this.dirtyUnits.delete(rt);
    return { stored: tx.stored, skipped: tx.skipped };
  }

  private ingest(sample: Sample, tx: Tx): void {
    const rt = this.seriesFor(sample, tx);
    if (rt === undefined) {
      tx.skipped++; // a missing reading of a series that has never had a value: nothing to show yet
      return;
    }
    const c = coerce(rt.type, sample.value);
    if (c.conflict && !rt.warnedConflict) {
      rt.warnedConflict = true;
      this.logger.warn({ device: rt.device, name: rt.name, type: rt.type, value: sample.value }, 'archive: value does not fit the series type; stored as a missing reading');
    }
    const t = Math.round(sample.t);
    const last = tx.last.get(rt) ?? this.lastStored(rt);
    const d = decide(rt.filter, last, t, c.value);
    if (d === 'skip') {
      tx.skipped++;
      return;
    }
    if (d === 'store' && rt.type === 'number') {
      tx.rows.push3(rt.id, t, c.value);
    } else {
      // Late samples (and text) one by one: a taken timestamp is ignored and must not count.
      tx.rows.flush(); // a late sample may have the timestamp of a buffered one
      const changes = (rt.type === 'number' ? this.s.insertSample : this.s.insertText).run(rt.id, t, c.value).changes;
      if (changes === 0) {
        tx.skipped++;
        return;
      }
    }
    tx.stored++;
    if (d === 'store') tx.last.set(rt, { t, value: c.value });
    if (typeof c.value === 'number') {
      let bins = tx.minutes.get(rt.id);
      if (bins === undefined) tx.minutes.set(rt.id, (bins = new Map()));
      addValue(bins, floorTo(t, MINUTE_MS), c.value);
    }
  }

  /** One upsert per touched minute and hour bin of the transaction (aggregated here first). */
  private writeRollups(tx: Tx): void {
    const m1 = new RowBuffer(this.s.upserts1m, this.s.upsert1m, 6);
    const h1 = new RowBuffer(this.s.upserts1h, this.s.upsert1h, 6);
    const hours = new Map<number, Agg>();
    for (const [id, minutes] of tx.minutes) {
      hours.clear();
      for (const [bin, a] of minutes) {
        m1.push6(id, bin, a.n, a.min, a.max, a.sum);
        addTo(hours, floorTo(bin, HOUR_MS), a);
      }
      for (const [bin, a] of hours) h1.push6(id, bin, a.n, a.min, a.max, a.sum);
    }
    m1.flush();
    h1.flush();
  }

  private seriesFor(sample: Sample, tx: Tx): SeriesRt | undefined {
    const known = this.byDevice.get(sample.device)?.get(sample.name);
    if (known !== undefined) return known;
    const key = seriesKey(sample.device, sample.name);
    const pending = tx.createdByKey.get(key);
    if (pending !== undefined) return pending;
    const policy = this.policies.get(key);
    const type = policy?.type ?? typeOf(sample.value);
    if (type === undefined) return undefined;
    const unit = policy?.unit ?? '';
    const id = Number(this.s.insertSeries.run(sample.device, sample.name, unit, type).lastInsertRowid);
    const rt: SeriesRt = { id, device: sample.device, name: sample.name, unit, type, filter: filterOf(policy), last: undefined, loaded: true, warnedConflict: false };
    tx.created.push(rt);
    tx.createdByKey.set(key, rt);
    return rt;
  }

  private lastStored(rt: SeriesRt): StoredSample | undefined {
    if (!rt.loaded) {
      const row = (rt.type === 'number' ? this.s.lastSample : this.s.lastText).get(rt.id) as [number, number | string | null] | undefined;
      rt.last = row === undefined ? undefined : { t: row[0], value: row[1] };
      rt.loaded = true;
    }
    return rt.last;
  }

  private writeUnitsNow(): void {
    try {
      for (const rt of this.dirtyUnits) this.s.updateUnit.run(rt.unit, rt.id);
      this.dirtyUnits.clear();
    } catch (e) {
      // Kept dirty: the next batch writes it.
      this.logger.warn({ err: e, path: this.path }, 'archive: could not store a unit now; retrying with the next batch');
    }
  }

  // ---- read path ----------------------------------------------------------------------------

  /** Samples certainly inside [from, to]: the rollup counts of the bins wholly inside it. */
  private lowerBound(id: number, from: number, to: number): number {
    const w = to - from <= 2 * 86_400_000 ? MINUTE_MS : HOUR_MS;
    const lo = floorTo(from + w - 1, w);
    const hi = floorTo(to + 1, w) - w;
    if (hi < lo) return 0;
    return (w === MINUTE_MS ? this.s.count1m : this.s.count1h).get(id, lo, hi) as number;
  }

  private rollupHistory(id: number, tier: RollupTier, from: number, to: number, maxPoints: number): { points: HistoryPoint[]; binMs: number } {
    const tierMs = TIER_MS[tier];
    const plan = planBins(from, to, maxPoints, tierMs);
    const lo = floorTo(from, tierMs);
    const rows =
      plan.binMs === tierMs
        ? ((tier === '1m' ? this.s.bins1m : this.s.bins1h).all(id, lo, to) as Array<[number, number, number, number, number]>)
        : ((tier === '1m' ? this.s.rebin1m : this.s.rebin1h).all(plan.origin, plan.binMs, id, lo, to) as Array<[number, number, number, number, number]>);
    const points = rows.map(([t, n, min, max, sum]) => ({ t, min, max, mean: sum / n, n }));
    return { points, binMs: plan.binMs };
  }

  private textHistory(rt: SeriesRt, from: number, to: number, maxPoints: number): HistoryPoint[] {
    const rows = this.s.textRange.all(rt.id, from, to, maxPoints + 1) as Array<[number, string | null]>;
    if (rows.length <= maxPoints) return rows.map(([t, text]) => ({ t, text }));
    // Too many changes to show: the last state of each of at most maxPoints bins.
    const plan = planBins(from, to, maxPoints, 1);
    const thinned = this.s.textThinned.all(rt.id, from, to, plan.origin, plan.binMs) as Array<[number, string | null]>;
    return thinned.map(([t, text]) => ({ t, text }));
  }

  private numberSpan(rt: SeriesRt): { first?: number; last?: number } {
    const raw = this.s.rawFirst.get(rt.id) as number | undefined;
    const m1 = this.s.m1First.get(rt.id) as number | undefined;
    const h1 = this.s.h1First.get(rt.id) as number | undefined;
    const earliest = Math.min(raw ?? Infinity, m1 ?? Infinity, h1 ?? Infinity);
    if (earliest === Infinity) return {};
    // The precise first time when raw samples still reach back to the start, else the bin start.
    const first = tierCovers(raw, earliest, earliest) ? raw : tierCovers(m1, earliest, earliest) ? m1 : earliest;
    const rawLast = this.s.rawLast.get(rt.id) as number | undefined;
    const last = rawLast ?? Math.max((this.s.m1Last.get(rt.id) as number | undefined) ?? -Infinity, (this.s.h1Last.get(rt.id) as number | undefined) ?? -Infinity);
    return { first, last: Number.isFinite(last) ? last : undefined };
  }

  private textSpan(rt: SeriesRt): { first?: number; last?: number } {
    return { first: this.s.textFirst.get(rt.id) as number | undefined, last: this.s.textLast.get(rt.id) as number | undefined };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private cached(sql: string): Stmt {
    let st = this.stmtCache.get(sql);
    if (st === undefined) {
      st = this.conn.prepare(sql);
      this.stmtCache.set(sql, st);
    }
    return st;
  }

  private remember(rt: SeriesRt): void {
    let names = this.byDevice.get(rt.device);
    if (names === undefined) this.byDevice.set(rt.device, (names = new Map()));
    names.set(rt.name, rt);
    const policy = this.policies.get(seriesKey(rt.device, rt.name));
    if (policy !== undefined) {
      rt.filter = filterOf(policy);
      if (policy.unit !== undefined && policy.unit !== rt.unit) {
        rt.unit = policy.unit;
        this.dirtyUnits.add(rt);
      }
    }
  }

  private *allSeries(): Iterable<SeriesRt> {
    for (const names of this.byDevice.values()) yield* names.values();
  }

  private seriesCount(): number {
    let n = 0;
    for (const names of this.byDevice.values()) n += names.size;
    return n;
  }

  private requireSeries(device: string, name: string): SeriesRt {
    const rt = this.byDevice.get(device)?.get(name);
    if (rt === undefined) throw new ArchiveQueryError(`unknown series ${device}.${name}`);
    return rt;
  }

  private assertOpen(): void {
    if (this.closing !== undefined || !this.conn.open) throw new ArchiveError('archive is closed', { code: 'CLOSED' });
  }
}

/** Opens or creates the SQLite archive at `path` (`:memory:` for a throw-away one). */
export async function openSqliteArchive(path: string, options: SqliteArchiveOptions = {}): Promise<SqliteArchive> {
  return SqliteArchive.open(path, options);
}

/**
 * File-system checks before SQLite opens the file, so that the common mistakes give their own
 * words (SQLite says "unable to open database file" for all of them).
 */
function preflight(file: string, readonly: boolean): void {
  const dir = nodePath.dirname(file);
  if (readonly) {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      throw openError(file, e, errorCode(e) === 'ENOENT' ? 'no such file (a read-only archive must exist)' : undefined);
    }
    return;
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = errorCode(e);
    const reason = code === 'EEXIST' ? `${dir} is not a directory` : code === 'ENOTDIR' ? `a parent of ${dir} is not a directory` : undefined;
    throw openError(file, e, reason);
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw openError(file, e, `permission denied: cannot create files in ${dir} (SQLite needs it for the WAL)`);
  }
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if (errorCode(e) !== 'ENOENT') throw openError(file, e);
  }
  if (st !== undefined) {
    if (!st.isFile()) throw openError(file, undefined, 'not a regular file');
    try {
      fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
    } catch (e) {
      throw openError(file, e, 'permission denied');
    }
  }
}

/** Creates or upgrades the schema; idempotent. A read-only archive must already be current. */
function migrate(conn: Database.Database, file: string, readonly: boolean): void {
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  const hasTable = conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get() !== undefined;
  const current = hasTable ? ((conn.prepare('SELECT max(version) FROM schema_version').pluck().get() as number | null) ?? 0) : 0;
  if (current > latest) {
    throw openError(file, undefined, `schema version ${current} is newer than this labwire understands (${latest}); upgrade labwire`);
  }
  if (current === latest) return;
  if (readonly) throw openError(file, undefined, hasTable ? `schema version ${current} needs an upgrade; open it writable once` : 'not a labwire archive (no schema_version table)');
  conn.exec('BEGIN IMMEDIATE');
  try {
    conn.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)');
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      conn.exec(m.sql);
      conn.prepare('INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)').run(m.version, Date.now());
    }
    conn.exec('COMMIT');
  } catch (e) {
    if (conn.inTransaction) conn.exec('ROLLBACK');
    throw e;
  }
}

/** Every statement of the hot paths, prepared once. */
function prepareStatements(conn: Database.Database) {
  const p = (sql: string): Stmt => conn.prepare(sql);
  const values = (width: number, rows: number): string => Array(rows).fill(`(${Array(width).fill('?').join(', ')})`).join(', ');
  const upsert = (table: string, rows = 1): string =>
    `INSERT INTO ${table} (series_id, bin_start_ms, count, min, max, sum) VALUES ${values(6, rows)}
     ON CONFLICT (series_id, bin_start_ms) DO UPDATE SET count = count + excluded.count,
       min = min(min, excluded.min), max = max(max, excluded.max), sum = sum + excluded.sum`;
  const firstLast = (table: string, col: string, dir: 'ASC' | 'DESC'): Stmt =>
    p(`SELECT ${col} FROM ${table} WHERE series_id = ? ORDER BY ${col} ${dir} LIMIT 1`).pluck();
  return {
    begin: p('BEGIN IMMEDIATE'),
    commit: p('COMMIT'),
    rollback: p('ROLLBACK'),
    insertSeries: p('INSERT INTO series (device, name, unit, type) VALUES (?, ?, ?, ?)'),
    updateUnit: p('UPDATE series SET unit = ? WHERE id = ?'),
    insertSample: p('INSERT OR IGNORE INTO samples (series_id, t_ms, value) VALUES (?, ?, ?)'),
    insertText: p('INSERT OR IGNORE INTO text_samples (series_id, t_ms, value) VALUES (?, ?, ?)'),
    lastSample: p('SELECT t_ms, value FROM samples WHERE series_id = ? ORDER BY t_ms DESC LIMIT 1').raw(),
    lastText: p('SELECT t_ms, value FROM text_samples WHERE series_id = ? ORDER BY t_ms DESC LIMIT 1').raw(),
    insertSampleNew: p('INSERT INTO samples (series_id, t_ms, value) VALUES (?, ?, ?)'),
    insertSamples: p(`INSERT INTO samples (series_id, t_ms, value) VALUES ${values(3, ROWS_PER_STATEMENT)}`),
    upsert1m: p(upsert('rollup_1m')),
    upsert1h: p(upsert('rollup_1h')),
    upserts1m: p(upsert('rollup_1m', ROWS_PER_STATEMENT)),
    upserts1h: p(upsert('rollup_1h', ROWS_PER_STATEMENT)),
    insertLog: p('INSERT INTO log (t_ms, source, level, message) VALUES (?, ?, ?, ?)'),
    insertAudit: p('INSERT INTO audit (t_ms, who, peer, device, command, "before", "after", result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    rawFirst: firstLast('samples', 't_ms', 'ASC'),
    rawLast: firstLast('samples', 't_ms', 'DESC'),
    textFirst: firstLast('text_samples', 't_ms', 'ASC'),
    textLast: firstLast('text_samples', 't_ms', 'DESC'),
    m1First: firstLast('rollup_1m', 'bin_start_ms', 'ASC'),
    m1Last: firstLast('rollup_1m', 'bin_start_ms', 'DESC'),
    h1First: firstLast('rollup_1h', 'bin_start_ms', 'ASC'),
    h1Last: firstLast('rollup_1h', 'bin_start_ms', 'DESC'),
    rawRange: p('SELECT t_ms, value FROM samples WHERE series_id = ? AND t_ms >= ? AND t_ms <= ? ORDER BY t_ms LIMIT ?').raw(),
    textRange: p('SELECT t_ms, value FROM text_samples WHERE series_id = ? AND t_ms >= ? AND t_ms <= ? ORDER BY t_ms LIMIT ?').raw(),
    textThinned: p(
      `SELECT max(t_ms), value FROM text_samples WHERE series_id = ? AND t_ms >= ? AND t_ms <= ?
       GROUP BY t_ms - ((t_ms - ?) % ?) ORDER BY 1`,
    ).raw(),
    count1m: p('SELECT total(count) FROM rollup_1m WHERE series_id = ? AND bin_start_ms >= ? AND bin_start_ms <= ?').pluck(),
    count1h: p('SELECT total(count) FROM rollup_1h WHERE series_id = ? AND bin_start_ms >= ? AND bin_start_ms <= ?').pluck(),
    bins1m: p('SELECT bin_start_ms, count, min, max, sum FROM rollup_1m WHERE series_id = ? AND bin_start_ms >= ? AND bin_start_ms <= ? ORDER BY bin_start_ms').raw(),
    bins1h: p('SELECT bin_start_ms, count, min, max, sum FROM rollup_1h WHERE series_id = ? AND bin_start_ms >= ? AND bin_start_ms <= ? ORDER BY bin_start_ms').raw(),
    rebin1m: p(
      `SELECT bin_start_ms - ((bin_start_ms - ?) % ?) AS b, sum(count), min(min), max(max), sum(sum) FROM rollup_1m
       WHERE series_id = ? AND bin_start_ms >= ? AND bin_start_ms <= ? GROUP BY b ORDER BY b`,
    ).raw(),
    rebin1h: p(
      `SELECT bin_start_ms - ((bin_start_ms - ?) % ?) AS b, sum(count), min(min), max(max), sum(sum) FROM rollup_1h
       WHERE series_id = ? AND bin_start_ms >= ? AND bin_start_ms <= ? GROUP BY b ORDER BY b`,
    ).raw(),
    csvPage: p('SELECT t_ms, value FROM samples WHERE series_id = ? AND t_ms >= ? AND t_ms <= ? ORDER BY t_ms LIMIT ?').raw(),
    csvTextPage: p('SELECT t_ms, value FROM text_samples WHERE series_id = ? AND t_ms >= ? AND t_ms <= ? ORDER BY t_ms LIMIT ?').raw(),
  };
}
