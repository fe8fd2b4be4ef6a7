/**
 * The Archive: history of every parameter of every device, the message log and the audit trail
 * (DESIGN.md §4). One interface, two back-ends: SQLite (embedded default) and PostgreSQL (next).
 * Everything here is back-end neutral; SQL lives in the back-end files only.
 */

export type SampleValue = number | string | null;

/** One reading as the monitor hands it over. `null` is a missing reading (kept: a gap is data). */
export interface Sample {
  device: string;
  name: string;
  /** Unix milliseconds (UTC). */
  t: number;
  value: SampleValue;
}

export interface SeriesInfo {
  id: number;
  device: string;
  name: string;
  unit: string;
  /** number: samples table with rollups; text: text_samples stored on change. */
  type: 'number' | 'text';
  /**
   * PostgreSQL archives shared by several monitors: the origin (monitor name) of a series of
   * ANOTHER monitor, whose `device` is then `<origin>/<device>`. Absent for own series.
   */
  origin?: string;
  firstT?: number;
  lastT?: number;
}

/** Per-series storage policy. */
export interface SeriesPolicy {
  unit?: string;
  /** Skip a numeric sample whose change from the last stored one is smaller than this. */
  deadband?: number;
  /** Store at least this often even without change (ms). */
  heartbeatMs?: number;
  /**
   * The series' type when known in advance (from `describe`). Without it the first non-null sample
   * decides, and missing readings that arrive before any value are not stored. Ignored once the
   * series exists: the stored type never changes.
   */
  type?: 'number' | 'text';
}

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'success';

export interface LogEntry {
  t: number;
  source: string;
  level: LogLevel;
  message: string;
  /** A shared (PostgreSQL) archive: the origin of another monitor's entry (its source is then `<origin>/<source>`). */
  origin?: string;
}

export interface AuditEntry {
  t: number;
  who: string;
  peer: string;
  device: string;
  command: string;
  /** JSON objects of the values before and after. */
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  result: string;
  /** A shared (PostgreSQL) archive: the origin of another monitor's entry (its device is then `<origin>/<device>`). */
  origin?: string;
}

/** One point of a history: raw (`v`) or a bin of a rollup (`min`/`max`/`mean`/`n`). */
export interface HistoryPoint {
  t: number;
  v?: number | null;
  min?: number;
  max?: number;
  mean?: number;
  n?: number;
  /** Text series only: the stored value (null: missing reading); `v` is then absent. */
  text?: string | null;
}

export interface HistoryResult {
  device: string;
  name: string;
  unit: string;
  from: number;
  to: number;
  /** Where the points came from: raw samples, or the 1-minute / 1-hour rollup (possibly re-binned). */
  source: 'raw' | '1m' | '1h';
  /** Bin width in ms (0 for raw). */
  binMs: number;
  points: HistoryPoint[];
  /** The series' type: text series give raw points with `text` instead of `v`. */
  type?: 'number' | 'text';
}

/** One alarm transition in the alarm history (monitor/alarms.ts). */
export interface AlarmEntry {
  t: number;
  /** The alarm's id from the lab config. */
  id: string;
  from: string;
  /** The state entered: pending, ok, raised, acknowledged, cleared. */
  to: string;
  severity: string;
  message: string;
  /** The value judged (deviation, rate, reading); null when unknown. */
  value: number | null;
  /** Acknowledgements: who. */
  who?: string;
  /** A shared (PostgreSQL) archive: the origin of another monitor's transition (its id is then `<origin>/<id>`); ignored by alarm(). */
  origin?: string;
}

export interface AlarmHistoryQuery {
  from?: number;
  to?: number;
  id?: string;
  /** Newest first, at most this many (default 200, max 10000). */
  limit?: number;
}

export interface MessageQuery {
  from?: number;
  to?: number;
  source?: string;
  /** Only this level and more severe (debug < info < success < warning < error). */
  minLevel?: LogLevel;
  /** Newest first, at most this many (default 200, max 10000). */
  limit?: number;
}

export interface RetentionPolicy {
  /** How long each tier is kept (ms); undefined keeps it for ever. */
  rawMs?: number;
  minuteMs?: number;
  hourMs?: number;
  logMs?: number;
  /** Text samples (stored on change); undefined: they follow rawMs. */
  textMs?: number;
  /** Audit trail; undefined keeps it for ever (the default, and the usual choice). */
  auditMs?: number;
  /** The image index (rows only: the FITS files stay where the daemons wrote them); undefined keeps it for ever. */
  imagesMs?: number;
}

/**
 * One image as a daemon describes it (`image_info`): the FITS file stays on the daemon's host at
 * `path`; the index says what it holds. Numbers the daemon did not give are null.
 */
export interface ImageInfo {
  /** Unix ms of the exposure start. */
  t: number;
  /** The client name of the daemon that wrote it. */
  device: string;
  /** Absolute path on the daemon's host. */
  path: string;
  frame: number | null;
  /** Exposure time in seconds. */
  exptime: number | null;
  /** object, bias, dark, flat … ('' when unknown). */
  type: string;
  object: string;
  width: number;
  height: number;
  bitpix: number;
  /** File size in bytes. */
  bytes: number | null;
  min: number | null;
  max: number | null;
  mean: number | null;
  median: number | null;
}

/** An indexed image: its info and the index's id (unique per archive). */
export interface ImageRecord extends ImageInfo {
  id: number;
  /** A shared (PostgreSQL) archive: the origin of another monitor's image (its device is then `<origin>/<device>`). */
  origin?: string;
}

export interface ImageQuery {
  device?: string;
  /** Exposure start at or after / at or before (unix ms). */
  from?: number;
  to?: number;
  /** Newest first, at most this many (default 200, max 10000). */
  limit?: number;
}

export interface ArchiveStats {
  /** Samples accepted by write() and not yet committed. */
  pending: number;
  /** Samples committed since open. */
  committed: number;
  /** Samples skipped by deadband since open. */
  skipped: number;
  /** Last write failure, cleared by the next successful commit. */
  lastError?: string;
  /** Samples whose write was rejected (failed batch, full queue) since open. */
  failed?: number;
  /** Transactions committed since open. */
  batches?: number;
  /** 'degraded' while writes go to the local spool because the database is unavailable (spool.ts). */
  state?: 'ok' | 'degraded';
  /** Rows (samples, log, audit, alarm) waiting in the spool to be replayed. */
  spooled?: number;
  /** Spooled rows given up since open (damaged records, rows the database refused for good). */
  spoolDropped?: number;
  /** How long the committed transactions took (owner: metrics; a wrapper such as the spool passes its back-end's through). */
  commit?: CommitDurations;
}

/**
 * Durations of committed transactions as a cumulative histogram (the shape Prometheus wants):
 * `counts[i]` transactions took at most `bucketsMs[i]` ms; `count` is every one (the +Inf bucket).
 */
export interface CommitDurations {
  readonly bucketsMs: readonly number[];
  readonly counts: readonly number[];
  readonly count: number;
  readonly sumMs: number;
}

export interface Archive {
  readonly kind: 'sqlite' | 'postgres';
  /** Sets unit, deadband and heartbeat of a series (from `describe` and the lab config). */
  configureSeries(device: string, name: string, policy: SeriesPolicy): void;
  /**
   * Queues samples for the next batch. The promise resolves once they are committed (durable),
   * and rejects if the batch could not be written; nothing is acknowledged before commit.
   */
  write(samples: Sample[]): Promise<void>;
  log(entry: LogEntry): Promise<void>;
  audit(entry: AuditEntry): Promise<void>;
  /** Commits everything queued now. */
  flush(): Promise<void>;
  listSeries(): Promise<SeriesInfo[]>;
  /**
   * At most maxPoints points covering [from, to]: raw samples when they fit, otherwise bins from
   * the finest rollup that does, each bin with min/max/mean/count. Throws RangeError-like errors
   * (ArchiveQueryError) for from > to or an unknown series.
   */
  history(device: string, name: string, from: number, to: number, maxPoints: number): Promise<HistoryResult>;
  messages(query: MessageQuery): Promise<LogEntry[]>;
  auditTrail(query: { from?: number; to?: number; device?: string; limit?: number }): Promise<AuditEntry[]>;
  /** Stores one alarm transition (optional: back-ends without it keep no alarm history). */
  alarm?(entry: AlarmEntry): Promise<void>;
  /** Alarm transitions, newest first. */
  alarmHistory?(query: AlarmHistoryQuery): Promise<AlarmEntry[]>;
  /**
   * Indexes an image; an image already indexed under the same (device, path) is left as it is and
   * returned with `added: false` (the monitor asks again after every reconnect). Optional: a
   * back-end without it keeps no image index.
   */
  addImage?(image: ImageInfo): Promise<{ image: ImageRecord; added: boolean }>;
  /** Indexed images, newest exposure first. */
  listImages?(query: ImageQuery): Promise<ImageRecord[]>;
  /** One indexed image; undefined when there is none with this id. */
  getImage?(id: number): Promise<ImageRecord | undefined>;
  /** Raw samples of a range as CSV (`time_iso,t_ms,value`), streamed in chunks. */
  exportCsv(device: string, name: string, from: number, to: number): AsyncIterable<string>;
  applyRetention(policy: RetentionPolicy, now?: number): Promise<void>;
  stats(): ArchiveStats;
  /** Flushes and closes. */
  close(): Promise<void>;
}

export class ArchiveQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveQueryError';
  }
}
