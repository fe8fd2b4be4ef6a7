/**
 * The PostgreSQL back-end of the Archive (DESIGN.md §4): several monitors (origins) share one
 * database; each writes its own series and reads everyone's. Decision 0021.
 *
 * Tables (UTC Unix milliseconds as bigint everywhere):
 * - `series(id, origin, device, name, unit, type)`, unique (origin, device, name);
 * - `samples(series_id, t_ms, value float8)` partitioned by RANGE (t_ms), one partition per UTC
 *   month (`samples_pYYYYMM`), created ahead on demand by the writer; primary key (series_id,
 *   t_ms): at most one sample per series and time, inserts use ON CONFLICT DO NOTHING, so a
 *   batch written twice (a spool replay after a crash) is stored once;
 * - `text_samples(series_id, t_ms, value text)`, stored on change, same key;
 * - `rollup_1m`, `rollup_1h(series_id, bin_start_ms, count, min, max, sum)`: upserted in the same
 *   statement that inserts the raw rows, from the rows that statement actually inserted (its
 *   RETURNING), so duplicates never count twice;
 * - `log`, `audit` (before/after as jsonb), `alarms`, `images`; `schema_version` for migrations,
 *   applied at open in one transaction under an advisory lock (monitors may start at once).
 *
 * Write path: the shared WriteQueue (queue.ts) hands over batches; one batch is one transaction
 * on one pooled connection: new series, then every numeric row in one INSERT … SELECT FROM
 * unnest(…) with its rollups, text rows the same way, log and audit rows. The filter (filter.ts)
 * decides per sample; its per-series state advances only after COMMIT.
 *
 * Errors: ArchiveError with code UNAVAILABLE (server unreachable, connection lost: retryable, the
 * pool reconnects on the next call), AUTH (authentication failed), else the SQLSTATE. Messages
 * name the URL without its password.
 */
import pg from 'pg';
import { type Logger, silentLogger } from '../util/logger.js';
import { HOUR_MS, MINUTE_MS, TIER_MS, chooseTier, floorTo, planBins, tierCovers, type RollupTier } from './bins.js';
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
import { CSV_PAGE_ROWS, csvPages } from './csv.js';
import { SECRET_PARAMETERS, unsupportedUrlParameter } from './pg-url.js';
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

/** TLS to the server: true (system CAs, verified), or the PEM contents and options. */
export type PostgresTls = boolean | { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized?: boolean };

export interface PostgresArchiveOptions {
  /** postgres://user@host:port/database (no password: give it in `password`). */
  url: string;
  password?: string;
  ssl?: PostgresTls;
  /** The monitor's name: series are unique per (origin, device, name). */
  origin: string;
  /** Commit queued rows at least this often (ms). Default 250. */
  batchMs?: number;
  /** Most rows per transaction; commit at once when this many wait. Default 5000. */
  batchRows?: number;
  /** Reject writes while this many rows wait. Default 1,000,000. */
  maxPending?: number;
  /** Connections of the pool. Default 4. */
  poolSize?: number;
  /** Give up connecting after this long (ms). Default 10,000. */
  connectTimeoutMs?: number;
  /**
   * Give up waiting for a statement's answer after this long (ms; the connection is then
   * destroyed and the error is UNAVAILABLE, so the spool takes the rows). Default 30,000: a
   * network that drops packets silently would otherwise hold a commit for the kernel's TCP
   * retransmission timeout (~15 min) while the queue fills.
   */
  queryTimeoutMs?: number;
  logger?: Logger;
}

export const PG_SCHEMA_VERSION = 1;

/**
 * Beyond this many 1-minute rows (about 14 days) history reads hours: grouping 43,200 minute rows
 * (a month) took 150-250 ms on the 2-core test machine, over the 100 ms target, where the hour
 * tier answers in ~40 ms. A month then shows 1-hour bins instead of 44-minute ones.
 */
const PG_MAX_MINUTE_ROWS = 20_000;

/**
 * Default rows per batch (SQLite: 5000). Each batch upserts one minute and one hour bin per
 * series it touches, so with thousands of series the bins, not the samples, dominate: a larger
 * batch spreads them over more samples (4000 series: ~2.5x the rate of 5000-row batches on the
 * test machine). batchMs (250 ms) still bounds how long a sample waits at ordinary rates.
 */
const PG_BATCH_ROWS = 20_000;

/** The advisory lock key of migrations and partition changes ('labwire' as a number). */
const LOCK_KEY = 0x6c6162776972;

const SCHEMA_V1 = `
CREATE TABLE series (
  id serial PRIMARY KEY,
  origin text NOT NULL,
  device text NOT NULL,
  name text NOT NULL,
  unit text NOT NULL DEFAULT '',
  type text NOT NULL CHECK (type IN ('number', 'text')),
  UNIQUE (origin, device, name)
);
CREATE TABLE samples (
  series_id integer NOT NULL,
  t_ms bigint NOT NULL,
  value double precision,
  PRIMARY KEY (series_id, t_ms)
) PARTITION BY RANGE (t_ms);
CREATE TABLE text_samples (
  series_id integer NOT NULL,
  t_ms bigint NOT NULL,
  value text,
  PRIMARY KEY (series_id, t_ms)
);
CREATE TABLE rollup_1m (
  series_id integer NOT NULL,
  bin_start_ms bigint NOT NULL,
  count bigint NOT NULL,
  min double precision NOT NULL,
  max double precision NOT NULL,
  sum double precision NOT NULL,
  PRIMARY KEY (series_id, bin_start_ms)
);
CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING ALL);
CREATE TABLE log (
  id bigserial PRIMARY KEY,
  t_ms bigint NOT NULL,
  source text NOT NULL,
  level text NOT NULL,
  message text NOT NULL
);
CREATE INDEX log_t ON log (t_ms);
CREATE INDEX log_source_t ON log (source, t_ms);
CREATE TABLE audit (
  id bigserial PRIMARY KEY,
  t_ms bigint NOT NULL,
  who text NOT NULL,
  peer text NOT NULL,
  device text NOT NULL,
  command text NOT NULL,
  before jsonb NOT NULL,
  after jsonb NOT NULL,
  result text NOT NULL
);
CREATE INDEX audit_t ON audit (t_ms);
CREATE INDEX audit_device_t ON audit (device, t_ms);
CREATE TABLE alarms (
  id bigserial PRIMARY KEY,
  t_ms bigint NOT NULL,
  alarm text NOT NULL,
  from_state text NOT NULL,
  to_state text NOT NULL,
  severity text NOT NULL,
  message text NOT NULL,
  value double precision,
  who text
);
CREATE INDEX alarms_t ON alarms (t_ms);
CREATE INDEX alarms_alarm_t ON alarms (alarm, t_ms);
CREATE TABLE images (
  id bigserial PRIMARY KEY,
  t_ms bigint NOT NULL,
  device text NOT NULL,
  path text NOT NULL,
  frame integer,
  exptime double precision,
  type text NOT NULL,
  object text NOT NULL,
  width integer NOT NULL,
  height integer NOT NULL,
  bitpix integer NOT NULL,
  bytes bigint,
  min double precision,
  max double precision,
  mean double precision,
  median double precision,
  indexed_ms bigint NOT NULL,
  UNIQUE (device, path)
);
CREATE INDEX images_t ON images (t_ms);
CREATE INDEX images_device_t ON images (device, t_ms);
`;

/**
 * Version 2 (decision 0028): log, audit, alarms and images carry the origin that wrote them, so
 * monitors sharing a database keep their alarm ids, log sources and devices apart. Rows written
 * before the upgrade are attributed to the monitor that upgrades (one monitor per database was
 * the only sound use of those tables before it). Image ids stay unique per database.
 */
const SCHEMA_V2 = `
ALTER TABLE log ADD COLUMN origin text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN origin text NOT NULL DEFAULT '';
ALTER TABLE alarms ADD COLUMN origin text NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN origin text NOT NULL DEFAULT '';
UPDATE log SET origin = $origin$;
UPDATE audit SET origin = $origin$;
UPDATE alarms SET origin = $origin$;
UPDATE images SET origin = $origin$;
ALTER TABLE log ALTER COLUMN origin DROP DEFAULT;
ALTER TABLE audit ALTER COLUMN origin DROP DEFAULT;
ALTER TABLE alarms ALTER COLUMN origin DROP DEFAULT;
ALTER TABLE images ALTER COLUMN origin DROP DEFAULT;
ALTER TABLE images DROP CONSTRAINT images_device_path_key;
ALTER TABLE images ADD CONSTRAINT images_origin_device_path_key UNIQUE (origin, device, path);
DROP INDEX log_source_t;
CREATE INDEX log_origin_source_t ON log (origin, source, t_ms);
DROP INDEX audit_device_t;
CREATE INDEX audit_origin_device_t ON audit (origin, device, t_ms);
DROP INDEX alarms_alarm_t;
CREATE INDEX alarms_origin_alarm_t ON alarms (origin, alarm, t_ms);
DROP INDEX images_device_t;
CREATE INDEX images_origin_device_t ON images (origin, device, t_ms);
CREATE INDEX log_origin_t ON log (origin, t_ms);
CREATE INDEX audit_origin_t ON audit (origin, t_ms);
CREATE INDEX images_origin_t ON images (origin, t_ms);
ALTER TABLE rollup_1m SET (fillfactor = 50);
ALTER TABLE rollup_1h SET (fillfactor = 50);
`;

/** Migrations in order; `$origin$` in a migration's SQL stands for the upgrading monitor's origin (a quoted literal). */
export const MIGRATIONS: ReadonlyArray<{ version: number; sql: string }> = [
  { version: 1, sql: SCHEMA_V1 },
  { version: 2, sql: SCHEMA_V2 },
];

/** The current schema version (tests check an upgraded database reports it). */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** A name of another origin as every read shows it: `<origin>/<name>`; own names stay plain (as series devices, decision 0021). */
function qualified(own: string, origin: string, name: string): string {
  return origin === own ? name : `${origin}/${name}`;
}

/**
 * SQL matching a name column against a name as reads show it (plain for own rows, qualified for
 * another origin's): compared with the qualified form, never split. $me is this origin.
 */
function matchName(col: string, me: string, x: string): string {
  return `((origin = ${me} AND ${col} = ${x}) OR (origin <> ${me} AND origin || '/' || ${col} = ${x}))`;
}

/** int8 and numeric as JavaScript numbers (times in ms and counts fit in 2^53). */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

const IMAGE_COLUMNS = 'id, t_ms, origin, device, path, frame, exptime, type, object, width, height, bitpix, bytes, min, max, mean, median';

/** PostgreSQL's images rows carry the origin too (a shared database). */
type PgImageRow = ImageRow & { origin: string };

function ownImageRecord(r: PgImageRow): ImageRecord {
  const { origin: _origin, ...rest } = r;
  return imageRecord(rest);
}

interface SeriesRt {
  id: number;
  device: string;
  name: string;
  unit: string;
  type: SeriesType;
  filter: FilterPolicy;
  last: StoredSample | undefined;
  loaded: boolean;
  warnedConflict: boolean;
}

/** A series found by history()/exportCsv(): own or another origin's. */
interface SeriesRef {
  id: number;
  unit: string;
  type: SeriesType;
}

// ---- errors ----------------------------------------------------------------------------------

// 3D000: the database does not exist (dropped): retryable like a server that is down, since the
// archive re-creates its schema once the database is back (see recreateSchema()).
// Transient server states are retryable too (the rows are spooled, not lost): 53100 disk full,
// 53200 out of memory, 53300 too many connections, 57014 statement cancelled or timed out,
// 40001/40P01 serialization failure/deadlock, 55P03 lock not available, 25P02 a connection left
// in an aborted transaction (it is destroyed, the next one is clean).
const UNAVAILABLE_CODES = new Set([
  '3D000', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '53100', '53200', '53300', '57014', '40001', '40P01', '55P03', '25P02',
]);
const AUTH_CODES = new Set(['28P01', '28000']);

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The code every back-end shares for this error (UNAVAILABLE, AUTH), else the SQLSTATE. */
export function classifyPgError(e: unknown): string | undefined {
  const code = errorCode(e);
  if (code !== undefined && AUTH_CODES.has(code)) return 'AUTH';
  if (code !== undefined && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return 'UNAVAILABLE';
  const message = e instanceof Error ? e.message : String(e);
  // pg-pool: "timeout exceeded when trying to connect"; pg query_timeout: "Query read timeout".
  if (/Connection terminated|connection timeout|timeout expired|timeout exceeded|Query read timeout|Client has encountered a connection error|Connection closed/i.test(message)) return 'UNAVAILABLE';
  return code;
}

/** The URL with any password removed (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '';
    for (const key of [...u.searchParams.keys()]) {
      if (SECRET_PARAMETERS.has(key.toLowerCase())) u.searchParams.set(key, 'REDACTED');
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1@').replace(/([?&](?:password|sslpassword|passfile|sslkey)=)[^&#]*/gi, '$1REDACTED');
  }
}

function describePgError(e: unknown): string {
  const code = errorCode(e);
  let message = e instanceof Error ? e.message : String(e);
  if (message === '' && e instanceof AggregateError) message = e.errors.map((x: unknown) => (x instanceof Error ? x.message : String(x))).join('; ');
  const kind = classifyPgError(e);
  const hint = kind === 'AUTH' ? ' (check the password file or the user)' : kind === 'UNAVAILABLE' ? ' (the server cannot be reached or closed the connection)' : '';
  return code === undefined ? `${message}${hint}` : `${message} (${code})${hint}`;
}

function pgError(what: string, url: string, e: unknown): ArchiveError {
  if (e instanceof ArchiveError) return e;
  return new ArchiveError(`${what} ${redactUrl(url)}: ${describePgError(e)}`, { code: classifyPgError(e), cause: e });
}

// ---- partitions --------------------------------------------------------------------------------

/** The UTC month holding t: its start, end (exclusive) and the partition's name. */
function monthOf(t: number): { start: number; end: number; name: string } {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const start = Date.UTC(y, m, 1);
  const end = Date.UTC(y, m + 1, 1);
  return { start, end, name: `samples_p${String(y).padStart(4, '0')}${String(m + 1).padStart(2, '0')}` };
}

/** Partition name → its month's bounds (the name is the only thing we read back). */
function boundsOfPartition(name: string): { start: number; end: number } | undefined {
  const m = /^samples_p(\d{4,6})(\d{2})$/.exec(name);
  if (m === null) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]) - 1;
  return { start: Date.UTC(y, mo, 1), end: Date.UTC(y, mo + 1, 1) };
}

/** host, port, user, database and the `options` parameter of a postgres:// URL. */
function connectionFields(u: URL): pg.PoolConfig {
  const host = decodeURIComponent(u.hostname).replace(/^\[(.*)\]$/, '$1');
  const fields: pg.PoolConfig = {
    host: host === '' ? (u.searchParams.get('host') ?? 'localhost') : host,
    port: u.port === '' ? 5432 : Number(u.port),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
  };
  if (u.username !== '') fields.user = decodeURIComponent(u.username);
  const opts = u.searchParams.get('options');
  if (opts !== null) fields.options = opts;
  return fields;
}

/** True when the connection is inside a transaction ('T') or a failed one ('E'). */
function inTransaction(c: pg.PoolClient): boolean {
  const status = typeof c.getTransactionStatus === 'function' ? c.getTransactionStatus() : null;
  return status === 'T' || status === 'E';
}

/** Rows deleted per statement by retention (tables that are not partitioned). */
const RETENTION_CHUNK = 5000;

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export class PostgresArchive implements Archive {
  readonly kind = 'postgres' as const;
  readonly origin: string;
  /** The URL without a password. */
  readonly url: string;
  /** The connection pool, for tests and maintenance. Do not write through it. */
  readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly queue: WriteQueue;
  private readonly byDevice = new Map<string, Map<string, SeriesRt>>();
  private readonly policies = new Map<string, SeriesPolicy>();
  private readonly dirtyUnits = new Set<SeriesRt>();
  /** Start times (ms) of the monthly partitions known to exist. */
  private readonly partitions = new Set<number>();
  private closing: Promise<void> | undefined;

  private constructor(pool: pg.Pool, options: PostgresArchiveOptions) {
    this.pool = pool;
    this.origin = options.origin;
    this.url = redactUrl(options.url);
    this.logger = options.logger ?? silentLogger();
    this.queue = newWriteQueue(options, PG_BATCH_ROWS, this.logger, { url: this.url }, (batch) => this.commitBatch(batch));
  }

  /** Connects, migrates the schema and loads this origin's series. */
  static async open(options: PostgresArchiveOptions): Promise<PostgresArchive> {
    checkQueueOptions(options);
    if (typeof options.origin !== 'string' || options.origin === '') throw new RangeError('a PostgreSQL archive needs an origin (the monitor name)');
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new ArchiveError(`archive URL is not a URL: ${redactUrl(options.url)}`, { code: 'CONFIG' });
    }
    if (parsed.password !== '') {
      throw new ArchiveError(`archive URL ${redactUrl(options.url)} holds a password: put it in monitor.archive.passwordFile or monitor.archive.password (\${VAR})`, { code: 'CONFIG' });
    }
    const badParameter = unsupportedUrlParameter(parsed);
    if (badParameter !== undefined) throw new ArchiveError(`archive URL ${redactUrl(options.url)}: ${badParameter}`, { code: 'CONFIG' });
    if (options.queryTimeoutMs !== undefined && !(Number.isFinite(options.queryTimeoutMs) && options.queryTimeoutMs > 0)) {
      throw new RangeError(`queryTimeoutMs must be a duration in ms > 0 (got ${options.queryTimeoutMs})`);
    }
    const pool = new pg.Pool({
      // Fields, not connectionString: node-postgres lets a URL without a password override the
      // `password` option.
      ...connectionFields(parsed),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.ssl === undefined || options.ssl === false ? {} : { ssl: options.ssl }),
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      query_timeout: options.queryTimeoutMs ?? 30_000,
      // Idle pooled connections to a vanished server are noticed in ~1 min, not hours.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      idleTimeoutMillis: 30_000,
      types: TYPES,
      application_name: `labwire ${options.origin}`.slice(0, 63),
    });
    const logger = options.logger ?? silentLogger();
    // An idle connection that the server closes must not crash the process; the pool drops it.
    pool.on('error', (err) => logger.warn({ err, url: redactUrl(options.url) }, 'archive: idle database connection lost'));
    try {
      await migrate(pool, options.origin);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw pgError('cannot open archive', options.url, e);
    }
    const archive = new PostgresArchive(pool, options);
    try {
      await archive.loadSeries();
      await archive.loadPartitions();
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw pgError('cannot open archive', options.url, e);
    }
    return archive;
  }

  configureSeries(device: string, name: string, policy: SeriesPolicy): void {
    const rt = this.byDevice.get(device)?.get(name);
    if (!applySeriesPolicy(this.policies, rt, device, name, policy, this.logger) || rt === undefined) return;
    this.dirtyUnits.add(rt);
    if (!this.queue.isClosed) this.writeUnitsSoon();
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
      if (this.dirtyUnits.size > 0) await this.writeUnits().catch(() => undefined);
      await this.pool.end().catch((e: unknown) => this.logger.warn({ err: e, url: this.url }, 'archive close failed'));
    })();
    return this.closing;
  }

  async listSeries(): Promise<SeriesInfo[]> {
    this.assertOpen();
    const first = (table: string, col: string, dir: string): string => `(SELECT ${col} FROM ${table} WHERE series_id = s.id ORDER BY ${col} ${dir} LIMIT 1)`;
    const rows = await this.q<{
      id: number;
      origin: string;
      device: string;
      name: string;
      unit: string;
      type: SeriesType;
      raw_first: number | null;
      raw_last: number | null;
      m1_first: number | null;
      m1_last: number | null;
      h1_first: number | null;
      h1_last: number | null;
      text_first: number | null;
      text_last: number | null;
    }>(
      `SELECT s.id, s.origin, s.device, s.name, s.unit, s.type,
        CASE WHEN s.type = 'number' THEN ${first('samples', 't_ms', 'ASC')} END AS raw_first,
        CASE WHEN s.type = 'number' THEN ${first('samples', 't_ms', 'DESC')} END AS raw_last,
        CASE WHEN s.type = 'number' THEN ${first('rollup_1m', 'bin_start_ms', 'ASC')} END AS m1_first,
        CASE WHEN s.type = 'number' THEN ${first('rollup_1m', 'bin_start_ms', 'DESC')} END AS m1_last,
        CASE WHEN s.type = 'number' THEN ${first('rollup_1h', 'bin_start_ms', 'ASC')} END AS h1_first,
        CASE WHEN s.type = 'number' THEN ${first('rollup_1h', 'bin_start_ms', 'DESC')} END AS h1_last,
        CASE WHEN s.type = 'text' THEN ${first('text_samples', 't_ms', 'ASC')} END AS text_first,
        CASE WHEN s.type = 'text' THEN ${first('text_samples', 't_ms', 'DESC')} END AS text_last
       FROM series s`,
      [],
      'read from archive',
    );
    const out: SeriesInfo[] = [];
    for (const r of rows) {
      const own = r.origin === this.origin;
      // Own series as this monitor knows them (a unit set by configureSeries may not be stored yet).
      const rt = own ? this.byDevice.get(r.device)?.get(r.name) : undefined;
      const info: SeriesInfo = { id: r.id, device: own ? r.device : `${r.origin}/${r.device}`, name: r.name, unit: rt?.unit ?? r.unit, type: r.type };
      if (!own) info.origin = r.origin;
      let span: { first?: number; last?: number };
      if (r.type === 'text') span = { ...(r.text_first === null ? {} : { first: r.text_first }), ...(r.text_last === null ? {} : { last: r.text_last }) };
      else span = numberSpan(r.raw_first ?? undefined, r.m1_first ?? undefined, r.h1_first ?? undefined, r.raw_last, r.m1_last, r.h1_last);
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
    const ref = await this.findSeries(device, name);
    const base = { device, name, unit: ref.unit, from, to, type: ref.type };
    if (ref.type === 'text') return { ...base, source: 'raw', binMs: 0, points: await this.textHistory(ref.id, range.from, range.to, max) };

    const firsts = await this.q<{ raw: number | null; m1: number | null; h1: number | null }>(
      `SELECT (SELECT t_ms FROM samples WHERE series_id = $1 ORDER BY t_ms LIMIT 1) AS raw,
              (SELECT bin_start_ms FROM rollup_1m WHERE series_id = $1 ORDER BY bin_start_ms LIMIT 1) AS m1,
              (SELECT bin_start_ms FROM rollup_1h WHERE series_id = $1 ORDER BY bin_start_ms LIMIT 1) AS h1`,
      [ref.id],
      'read from archive',
    );
    const raw = firsts[0]?.raw ?? undefined;
    const m1 = firsts[0]?.m1 ?? undefined;
    const h1 = firsts[0]?.h1 ?? undefined;
    if (raw === undefined && m1 === undefined && h1 === undefined) return { ...base, source: 'raw', binMs: 0, points: [] };
    const earliest = Math.min(raw ?? Infinity, m1 ?? Infinity, h1 ?? Infinity);

    if (tierCovers(raw, range.from, earliest) && (await this.lowerBound(ref.id, range.from, range.to)) <= max) {
      const rows = await this.rows<[number, number | null]>(
        'SELECT t_ms, value FROM samples WHERE series_id = $1 AND t_ms >= $2 AND t_ms <= $3 ORDER BY t_ms LIMIT $4',
        [ref.id, range.from, range.to, max + 1],
      );
      if (rows.length <= max) return { ...base, source: 'raw', binMs: 0, points: rows.map(([t, v]) => ({ t, v })) };
    }
    const tier = chooseTier(
      range.from,
      range.to,
      max,
      {
        '1m': tierCovers(m1, range.from, earliest),
        '1h': tierCovers(h1, range.from, earliest),
      },
      PG_MAX_MINUTE_ROWS,
    );
    const { points, binMs } = await this.rollupHistory(ref.id, tier, range.from, range.to, max);
    return { ...base, source: tier, binMs, points };
  }

  async messages(query: MessageQuery): Promise<LogEntry[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    if (query.minLevel !== undefined && !isLogLevel(query.minLevel)) throw new ArchiveQueryError(`unknown log level ${String(query.minLevel)}`);
    this.assertOpen();
    const params: unknown[] = [from, to];
    const where = ['t_ms >= $1', 't_ms <= $2'];
    if (query.source !== undefined) {
      params.push(this.origin, query.source);
      where.push(matchName('source', '$3', '$4'));
    }
    if (query.minLevel !== undefined && query.minLevel !== 'debug') {
      params.push(levelsAtLeast(query.minLevel));
      where.push(`level = ANY($${params.length}::text[])`);
    }
    params.push(limit);
    const rows = await this.q<{ t_ms: number; origin: string; source: string; level: LogLevel; message: string }>(
      `SELECT t_ms, origin, source, level, message FROM log WHERE ${where.join(' AND ')} ORDER BY t_ms DESC, id DESC LIMIT $${params.length}`,
      params,
      'read from archive',
    );
    return rows.map((r) => ({
      t: r.t_ms,
      source: qualified(this.origin, r.origin, r.source),
      level: r.level,
      message: r.message,
      ...(r.origin !== this.origin ? { origin: r.origin } : {}),
    }));
  }

  async auditTrail(query: { from?: number; to?: number; device?: string; limit?: number }): Promise<AuditEntry[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    this.assertOpen();
    const byDevice = query.device !== undefined;
    const rows = await this.q<{ t_ms: number; origin: string; who: string; peer: string; device: string; command: string; before: unknown; after: unknown; result: string }>(
      `SELECT t_ms, origin, who, peer, device, command, before, after, result FROM audit
       WHERE ${byDevice ? `${matchName('device', '$4', '$5')} AND ` : ''}t_ms >= $1 AND t_ms <= $2 ORDER BY t_ms DESC, id DESC LIMIT $3`,
      byDevice ? [from, to, limit, this.origin, query.device] : [from, to, limit],
      'read from archive',
    );
    return rows.map((r) => ({
      t: r.t_ms,
      who: r.who,
      peer: r.peer,
      device: qualified(this.origin, r.origin, r.device),
      command: r.command,
      before: parseObject(r.before),
      after: parseObject(r.after),
      result: r.result,
      ...(r.origin !== this.origin ? { origin: r.origin } : {}),
    }));
  }

  /** One alarm transition, durable at once in its own statement (transitions are rare). */
  async alarm(entry: AlarmEntry): Promise<void> {
    if (typeof entry.id !== 'string' || entry.id === '' || !Number.isFinite(entry.t)) throw new ArchiveQueryError(`bad alarm entry: id ${String(entry.id)} t ${String(entry.t)}`);
    this.assertOpen();
    const value = entry.value !== null && Number.isFinite(entry.value) ? entry.value : null;
    await this.q(
      'INSERT INTO alarms (origin, t_ms, alarm, from_state, to_state, severity, message, value, who) VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8)',
      [Math.round(entry.t), entry.id, entry.from, entry.to, entry.severity, cleanText(entry.message), value, entry.who === undefined ? null : cleanText(entry.who), this.origin],
      'cannot write to archive',
    );
  }

  async alarmHistory(query: AlarmHistoryQuery): Promise<AlarmEntry[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    this.assertOpen();
    const byId = query.id !== undefined;
    const rows = await this.q<{ t_ms: number; origin: string; alarm: string; from_state: string; to_state: string; severity: string; message: string; value: number | null; who: string | null }>(
      `SELECT t_ms, origin, alarm, from_state, to_state, severity, message, value, who FROM alarms
       WHERE ${byId ? `${matchName('alarm', '$4', '$5')} AND ` : ''}t_ms >= $1 AND t_ms <= $2 ORDER BY t_ms DESC, id DESC LIMIT $3`,
      byId ? [from, to, limit, this.origin, query.id] : [from, to, limit],
      'read from archive',
    );
    return rows.map((r) => ({
      t: r.t_ms,
      id: qualified(this.origin, r.origin, r.alarm),
      ...(r.origin !== this.origin ? { origin: r.origin } : {}),
      from: r.from_state,
      to: r.to_state,
      severity: r.severity,
      message: r.message,
      value: r.value,
      ...(r.who !== null ? { who: r.who } : {}),
    }));
  }

  async addImage(image: ImageInfo): Promise<{ image: ImageRecord; added: boolean }> {
    checkImage(image);
    this.assertOpen();
    const inserted = await this.q<PgImageRow>(
      `INSERT INTO images (t_ms, device, path, frame, exptime, type, object, width, height, bitpix, bytes, min, max, mean, median, indexed_ms, origin)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (origin, device, path) DO NOTHING RETURNING ${IMAGE_COLUMNS}`,
      [
        Math.round(image.t), image.device, image.path, image.frame, image.exptime, image.type, image.object,
        image.width, image.height, image.bitpix, image.bytes, image.min, image.max, image.mean, image.median, Date.now(), this.origin,
      ],
      `cannot index image ${image.path} in archive`,
    );
    if (inserted[0] !== undefined) return { image: this.imageRecord(inserted[0]), added: true };
    const rows = await this.q<PgImageRow>(`SELECT ${IMAGE_COLUMNS} FROM images WHERE origin = $3 AND device = $1 AND path = $2`, [image.device, image.path, this.origin], 'read from archive');
    return { image: this.imageRecord(rows[0]!), added: false };
  }

  async listImages(query: ImageQuery): Promise<ImageRecord[]> {
    const { from, to } = checkOptionalRange(query.from, query.to);
    const limit = checkLimit(query.limit);
    this.assertOpen();
    const byDevice = query.device !== undefined;
    const rows = await this.q<PgImageRow>(
      `SELECT ${IMAGE_COLUMNS} FROM images WHERE ${byDevice ? `${matchName('device', '$4', '$5')} AND ` : ''}t_ms >= $1 AND t_ms <= $2 ORDER BY t_ms DESC, id DESC LIMIT $3`,
      byDevice ? [from, to, limit, this.origin, query.device] : [from, to, limit],
      'read from archive',
    );
    return rows.map((r) => this.imageRecord(r));
  }

  async getImage(id: number): Promise<ImageRecord | undefined> {
    if (!Number.isSafeInteger(id)) throw new ArchiveQueryError(`an image id is an integer (got ${String(id)})`);
    this.assertOpen();
    const rows = await this.q<PgImageRow>(`SELECT ${IMAGE_COLUMNS} FROM images WHERE id = $1`, [id], 'read from archive');
    return rows[0] === undefined ? undefined : this.imageRecord(rows[0]);
  }

  /** An image row as reads show it: another origin's device qualified, its origin named. */
  private imageRecord(r: PgImageRow): ImageRecord {
    const rec = ownImageRecord(r);
    if (r.origin === this.origin) return rec;
    return { ...rec, device: qualified(this.origin, r.origin, r.device), origin: r.origin };
  }

  async *exportCsv(device: string, name: string, from: number, to: number): AsyncGenerator<string> {
    const range = checkRange(from, to);
    this.assertOpen();
    const ref = await this.findSeries(device, name);
    const table = ref.type === 'text' ? 'text_samples' : 'samples';
    yield* csvPages(
      range.from,
      (cursor) =>
        this.rows<[number, number | string | null]>(`SELECT t_ms, value FROM ${table} WHERE series_id = $1 AND t_ms >= $2 AND t_ms <= $3 ORDER BY t_ms LIMIT $4`, [
          ref.id,
          cursor,
          range.to,
          CSV_PAGE_ROWS,
        ]),
      () => this.assertOpen(),
    );
  }

  /**
   * Deletes what each tier keeps no longer, of THIS origin only (decision 0028): monitors sharing
   * a database each keep their own limits. Raw samples: a monthly partition older than the cut is
   * dropped whole (cheap, no vacuum) only when no other origin has rows in it; otherwise, and for
   * the partition that straddles the cut, this origin's rows are deleted by statement.
   */
  async applyRetention(policy: RetentionPolicy, now: number = Date.now()): Promise<void> {
    this.assertOpen();
    checkRetention(policy, now);
    const textMs = policy.textMs ?? policy.rawMs;
    const what = 'retention failed on archive';
    if (policy.rawMs !== undefined) {
      const cutoff = now - policy.rawMs;
      const dropped: number[] = [];
      await this.withClient(what, async (c) => {
        await c.query('BEGIN');
        try {
          await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
          const parts = await c.query<{ name: string }>(
            `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass`,
          );
          const others = (await c.query<{ id: number }>('SELECT id FROM series WHERE origin <> $1', [this.origin])).rows.map((r) => r.id);
          for (const { name } of parts.rows) {
            const b = boundsOfPartition(name);
            if (b === undefined || b.end > cutoff) continue;
            // One index probe per other series (primary key series_id, t_ms).
            const shared = others.length > 0 && (await c.query(`SELECT 1 FROM ${name} WHERE series_id = ANY($1::int[]) LIMIT 1`, [others])).rows.length > 0;
            if (shared) continue;
            await c.query(`DROP TABLE ${name}`);
            dropped.push(b.start);
          }
          await c.query('COMMIT');
        } catch (e) {
          // Without it the pooled connection stays "idle in transaction (aborted)" and every
          // later statement on it fails 25P02.
          await c.query('ROLLBACK').catch(() => undefined);
          throw e;
        }
      });
      // Only once committed: a rolled-back DROP leaves the partition in place.
      for (const start of dropped) this.partitions.delete(start);
      await this.q('DELETE FROM samples WHERE t_ms < $1 AND series_id IN (SELECT id FROM series WHERE origin = $2)', [cutoff, this.origin], what);
      await yieldToLoop();
    }
    const tiers: Array<[string, string, number | undefined, number]> = [
      ['text_samples', 't_ms', textMs, 1],
      ['rollup_1m', 'bin_start_ms', policy.minuteMs, MINUTE_MS],
      ['rollup_1h', 'bin_start_ms', policy.hourMs, HOUR_MS],
    ];
    for (const [table, col, ms, width] of tiers) {
      if (ms === undefined) continue;
      // A bin is deleted once all of it is older than the limit.
      await this.deleteInChunks(table, col, now - ms - (width - 1), 'series_id IN (SELECT id FROM series WHERE origin = $2)', what);
    }
    for (const [table, ms] of [['log', policy.logMs], ['audit', policy.auditMs], ['images', policy.imagesMs]] as const) {
      if (ms === undefined) continue;
      await this.deleteInChunks(table, 't_ms', now - ms, 'origin = $2', what);
    }
  }

  /**
   * Deletes rows older than `before` in statements of RETENTION_CHUNK rows (short transactions:
   * a year of minute bins of 4000 series is billions of rows), the event loop free between them.
   */
  private async deleteInChunks(table: string, col: string, before: number, ownRows: string, what: string): Promise<void> {
    for (;;) {
      const n = await this.withClient(what, async (c) => {
        const r = await c.query(
          `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${col} < $1 AND ${ownRows} LIMIT ${RETENTION_CHUNK}))`,
          [before, this.origin],
        );
        return r.rowCount ?? 0;
      });
      await yieldToLoop();
      if (n < RETENTION_CHUNK) return;
      this.assertOpen();
    }
  }

  // ---- write path ---------------------------------------------------------------------------

  private async commitBatch(batch: Batch): Promise<CommitResult> {
    try {
      return await this.commitOnce(batch);
    } catch (e) {
      // The database came back empty (dropped and created again): the schema is made anew and
      // the batch written once more. Series ids of the old database mean nothing there.
      const code = errorCode(e);
      if (code === '23514') return this.commitOnce(batch); // a partition dropped by another monitor's retention: made again
      if (code !== '42P01') throw e;
      this.logger.warn({ url: this.url }, 'archive: the database lost its tables (dropped and created again?); creating the schema anew');
      await this.recreateSchema();
      return this.commitOnce(batch);
    }
  }

  private async recreateSchema(): Promise<void> {
    try {
      await migrate(this.pool, this.origin);
    } catch (e) {
      throw pgError('cannot write to archive', this.url, e);
    }
    this.byDevice.clear();
    this.dirtyUnits.clear();
    this.partitions.clear();
    try {
      await this.loadSeries();
    } catch (e) {
      throw pgError('cannot write to archive', this.url, e);
    }
  }

  private async commitOnce(batch: Batch): Promise<CommitResult> {
    const created: SeriesRt[] = [];
    const createdByKey = new Map<string, SeriesRt>();
    const last = new Map<SeriesRt, StoredSample>();
    const units = [...this.dirtyUnits];
    let skipped = 0;
    const nIds: number[] = [];
    const nTs: number[] = [];
    const nVs: Array<number | null> = [];
    const tIds: number[] = [];
    const tTs: number[] = [];
    const tVs: Array<string | null> = [];
    let inserted = 0;
    let anyLate = false;
    await this.ensurePartitions(batch.samples);
    try {
      await this.withClient('cannot write to archive', async (c) => {
        await c.query('BEGIN');
        try {
          // Series first (one statement per new series: rare), then the filter state of the
          // series not seen since open, in one query.
          // The index of the sample that created a series: its earlier samples (missing readings
          // before any value) are not stored, as if processed one by one.
          const bornAt = new Map<SeriesRt, number>();
          for (let i = 0; i < batch.samples.length; i++) {
            const s = batch.samples[i]!;
            if (this.byDevice.get(s.device)?.get(s.name) !== undefined) continue;
            const key = seriesKey(s.device, s.name);
            if (createdByKey.has(key)) continue;
            const policy = this.policies.get(key);
            const type = policy?.type ?? typeOf(s.value);
            if (type === undefined) continue;
            const r = await c.query<{ id: number; unit: string; type: SeriesType }>(
              `INSERT INTO series (origin, device, name, unit, type) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (origin, device, name) DO UPDATE SET origin = excluded.origin RETURNING id, unit, type`,
              [this.origin, s.device, s.name, policy?.unit ?? '', type],
            );
            const row = r.rows[0]!;
            const rt: SeriesRt = { id: row.id, device: s.device, name: s.name, unit: policy?.unit ?? row.unit, type: row.type, filter: filterOf(policy), last: undefined, loaded: false, warnedConflict: false };
            created.push(rt);
            createdByKey.set(key, rt);
            bornAt.set(rt, i);
          }
          await this.loadLast(c, batch.samples, createdByKey);
          for (let i = 0; i < batch.samples.length; i++) {
            const s = batch.samples[i]!;
            const rt = this.byDevice.get(s.device)?.get(s.name) ?? createdByKey.get(seriesKey(s.device, s.name));
            if (rt === undefined || i < (bornAt.get(rt) ?? 0)) {
              skipped++; // a missing reading of a series that never had a value
              continue;
            }
            const cv = coerce(rt.type, s.value);
            if (cv.conflict && !rt.warnedConflict) {
              rt.warnedConflict = true;
              this.logger.warn({ device: rt.device, name: rt.name, type: rt.type, value: s.value }, 'archive: value does not fit the series type; stored as a missing reading');
            }
            const t = Math.round(s.t);
            const d = decide(rt.filter, last.get(rt) ?? rt.last, t, cv.value);
            if (d === 'skip') {
              skipped++;
              continue;
            }
            if (rt.type === 'number') {
              nIds.push(rt.id);
              nTs.push(t);
              nVs.push(cv.value as number | null);
            } else {
              tIds.push(rt.id);
              tTs.push(t);
              tVs.push(cv.value as string | null);
            }
            if (d === 'store') last.set(rt, { t, value: cv.value });
            else if (rt.type === 'number') anyLate = true;
          }
          if (nIds.length > 0) {
            // Samples the filter saw as new (no late ones) are inserted without ON CONFLICT, which
            // costs twice as much on the server (speculative insertion); a clash (a replayed batch,
            // another writer) rolls back to the savepoint and takes the ON CONFLICT path.
            const params = [nIds, nTs, nVs];
            if (anyLate) inserted += await insertSamples(c, true, params);
            else {
              await c.query('SAVEPOINT fast');
              try {
                inserted += await insertSamples(c, false, params);
                await c.query('RELEASE SAVEPOINT fast');
              } catch (e) {
                if (errorCode(e) !== '23505') throw e;
                await c.query('ROLLBACK TO SAVEPOINT fast');
                inserted += await insertSamples(c, true, params);
              }
            }
          }
          if (tIds.length > 0) {
            const r = await c.query(
              'INSERT INTO text_samples (series_id, t_ms, value) SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[]) ON CONFLICT DO NOTHING',
              [tIds, tTs, tVs],
            );
            inserted += r.rowCount ?? 0;
          }
          if (batch.logs.length > 0) {
            const l = batch.logs;
            await c.query('INSERT INTO log (origin, t_ms, source, level, message) SELECT $5, * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])', [
              l.map((e) => Math.round(e.t)),
              l.map((e) => e.source),
              l.map((e) => e.level),
              l.map((e) => e.message),
              this.origin,
            ]);
          }
          for (const e of batch.audits) {
            await c.query('INSERT INTO audit (origin, t_ms, who, peer, device, command, before, after, result) VALUES ($9, $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8)', [
              Math.round(e.t), e.who, e.peer, e.device, e.command, JSON.stringify(e.before), JSON.stringify(e.after), e.result, this.origin,
            ]);
          }
          for (const rt of units) await c.query('UPDATE series SET unit = $1 WHERE id = $2', [rt.unit, rt.id]);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw e;
        }
      });
    } catch (e) {
      // Series created in the failed transaction do not exist; filter state is re-read next time.
      for (const rt of last.keys()) rt.loaded = false;
      if (errorCode(e) === '23514') this.partitions.clear(); // a partition dropped by someone else: re-check
      throw e;
    }
    for (const rt of created) {
      rt.loaded = true;
      this.remember(rt);
    }
    for (const [rt, l] of last) rt.last = l;
    for (const rt of units) this.dirtyUnits.delete(rt);
    const submitted = nIds.length + tIds.length;
    return { stored: inserted, skipped: skipped + (submitted - inserted) };
  }

  /** Reads the last stored sample of the batch's series not loaded yet (one query). */
  private async loadLast(c: pg.PoolClient, samples: readonly Sample[], createdByKey: Map<string, SeriesRt>): Promise<void> {
    const want = new Map<number, SeriesRt>();
    for (const s of samples) {
      const rt = this.byDevice.get(s.device)?.get(s.name) ?? createdByKey.get(seriesKey(s.device, s.name));
      if (rt !== undefined && !rt.loaded) want.set(rt.id, rt);
    }
    if (want.size === 0) return;
    const ids = [...want.keys()];
    const r = await c.query<{ id: number; t_ms: number | null; value: number | string | null; found: boolean }>(
      `SELECT s.id, l.t_ms, l.value::text AS value, l.t_ms IS NOT NULL AS found FROM unnest($1::int[]) AS s(id)
       LEFT JOIN series ser ON ser.id = s.id
       LEFT JOIN LATERAL (
         (SELECT t_ms, value::text AS value FROM samples WHERE series_id = s.id AND ser.type = 'number' ORDER BY t_ms DESC LIMIT 1)
         UNION ALL
         (SELECT t_ms, value FROM text_samples WHERE series_id = s.id AND ser.type = 'text' ORDER BY t_ms DESC LIMIT 1)
       ) l ON true`,
      [ids],
    );
    for (const row of r.rows) {
      const rt = want.get(row.id)!;
      rt.last = row.found ? { t: row.t_ms!, value: row.value === null ? null : rt.type === 'number' ? Number(row.value) : row.value } : undefined;
      rt.loaded = true;
    }
  }

  /**
   * Creates the monthly partitions the batch's numeric samples need, ahead of the transaction,
   * under the advisory lock (two monitors creating one at once must not collide).
   */
  private async ensurePartitions(samples: readonly Sample[]): Promise<void> {
    const missing = new Map<number, { start: number; end: number; name: string }>();
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of samples) {
      const t = Math.round(s.t);
      if (t >= lo && t < hi) continue; // same month as the previous one (the common case)
      const m = monthOf(t);
      lo = m.start;
      hi = m.end;
      if (!this.partitions.has(m.start)) missing.set(m.start, m);
    }
    if (missing.size === 0) return;
    await this.withClient('cannot write to archive', async (c) => {
      await c.query('BEGIN');
      try {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
        for (const m of missing.values()) {
          await c.query(`CREATE TABLE IF NOT EXISTS ${m.name} PARTITION OF samples FOR VALUES FROM (${m.start}) TO (${m.end})`);
        }
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
    for (const start of missing.keys()) this.partitions.add(start);
  }

  private writeUnitsSoon(): void {
    void this.writeUnits().catch((e: unknown) => this.logger.warn({ err: e, url: this.url }, 'archive: could not store a unit now; retrying with the next batch'));
  }

  private async writeUnits(): Promise<void> {
    const units = [...this.dirtyUnits];
    for (const rt of units) {
      await this.q('UPDATE series SET unit = $1 WHERE id = $2', [rt.unit, rt.id], 'cannot write to archive');
      this.dirtyUnits.delete(rt);
    }
  }

  // ---- read path ----------------------------------------------------------------------------

  /** Own series by (device, name); another origin's by `<origin>/<device>` as listSeries names it. */
  private async findSeries(device: string, name: string): Promise<SeriesRef> {
    const own = this.byDevice.get(device)?.get(name);
    if (own !== undefined) return own;
    const rows = await this.q<{ id: number; unit: string; type: SeriesType }>(
      `SELECT id, unit, type FROM series WHERE name = $2 AND ((origin = $3 AND device = $1) OR (origin <> $3 AND origin || '/' || device = $1))
       ORDER BY origin = $3 DESC, id LIMIT 1`,
      [device, name, this.origin],
      'read from archive',
    );
    if (rows[0] === undefined) throw new ArchiveQueryError(`unknown series ${device}.${name}`);
    return rows[0];
  }

  private async lowerBound(id: number, from: number, to: number): Promise<number> {
    const w = to - from <= 2 * 86_400_000 ? MINUTE_MS : HOUR_MS;
    const lo = floorTo(from + w - 1, w);
    const hi = floorTo(to + 1, w) - w;
    if (hi < lo) return 0;
    const rows = await this.q<{ n: number }>(
      `SELECT coalesce(sum(count), 0)::bigint AS n FROM ${w === MINUTE_MS ? 'rollup_1m' : 'rollup_1h'} WHERE series_id = $1 AND bin_start_ms >= $2 AND bin_start_ms <= $3`,
      [id, lo, hi],
      'read from archive',
    );
    return rows[0]!.n;
  }

  private async rollupHistory(id: number, tier: RollupTier, from: number, to: number, maxPoints: number): Promise<{ points: HistoryPoint[]; binMs: number }> {
    const tierMs = TIER_MS[tier];
    const plan = planBins(from, to, maxPoints, tierMs);
    const lo = floorTo(from, tierMs);
    const table = tier === '1m' ? 'rollup_1m' : 'rollup_1h';
    const rows =
      plan.binMs === tierMs
        ? await this.rows<[number, number, number, number, number]>(
            `SELECT bin_start_ms, count, min, max, sum FROM ${table} WHERE series_id = $1 AND bin_start_ms >= $2 AND bin_start_ms <= $3 ORDER BY bin_start_ms`,
            [id, lo, to],
          )
        : await this.rows<[number, number, number, number, number]>(
            `SELECT bin_start_ms - ((bin_start_ms - $1::bigint) % $2::bigint) AS b, sum(count)::bigint, min(min), max(max), sum(sum) FROM ${table}
             WHERE series_id = $3 AND bin_start_ms >= $4 AND bin_start_ms <= $5 GROUP BY b ORDER BY b`,
            [plan.origin, plan.binMs, id, lo, to],
          );
    return { points: rows.map(([t, n, min, max, sum]) => ({ t, min, max, mean: sum / n, n })), binMs: plan.binMs };
  }

  private async textHistory(id: number, from: number, to: number, maxPoints: number): Promise<HistoryPoint[]> {
    const rows = await this.rows<[number, string | null]>(
      'SELECT t_ms, value FROM text_samples WHERE series_id = $1 AND t_ms >= $2 AND t_ms <= $3 ORDER BY t_ms LIMIT $4',
      [id, from, to, maxPoints + 1],
    );
    if (rows.length <= maxPoints) return rows.map(([t, text]) => ({ t, text }));
    // Too many changes to show: the last state of each of at most maxPoints bins.
    const plan = planBins(from, to, maxPoints, 1);
    const thinned = await this.rows<[number, string | null]>(
      `SELECT t_ms, value FROM (
         SELECT DISTINCT ON (t_ms - ((t_ms - $4::bigint) % $5::bigint)) t_ms, value FROM text_samples
         WHERE series_id = $1 AND t_ms >= $2 AND t_ms <= $3
         ORDER BY t_ms - ((t_ms - $4::bigint) % $5::bigint), t_ms DESC) x ORDER BY t_ms`,
      [id, from, to, plan.origin, plan.binMs],
    );
    return thinned.map(([t, text]) => ({ t, text }));
  }

  // ---- helpers ------------------------------------------------------------------------------

  private async loadSeries(): Promise<void> {
    const r = await this.pool.query<{ id: number; device: string; name: string; unit: string; type: SeriesType }>(
      'SELECT id, device, name, unit, type FROM series WHERE origin = $1',
      [this.origin],
    );
    for (const row of r.rows) this.remember({ ...row, filter: filterOf(undefined), last: undefined, loaded: false, warnedConflict: false });
  }

  private async loadPartitions(): Promise<void> {
    const r = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass`,
    );
    for (const { name } of r.rows) {
      const b = boundsOfPartition(name);
      if (b !== undefined) this.partitions.add(b.start);
    }
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

  /** One pooled connection for fn; a connection that failed is destroyed, not returned to the pool. */
  private async withClient<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw pgError(what, this.url, e);
    }
    // An error event on a checked-out client (server gone) must not crash the process: the
    // query in flight rejects on its own.
    let broken = false;
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (e) {
      // A connection still inside a transaction (a ROLLBACK that failed or was forgotten) would
      // poison the pool with 25P02 for every later user: destroy it too.
      if (classifyPgError(e) === 'UNAVAILABLE' || inTransaction(client)) broken = true;
      throw pgError(what, this.url, e);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[], what: string): Promise<R[]> {
    return this.withClient(what, async (c) => (await c.query<R>(sql, params)).rows);
  }

  private async rows<R extends unknown[]>(sql: string, params: unknown[]): Promise<R[]> {
    return this.withClient('read from archive', async (c) => (await c.query<R>({ text: sql, values: params, rowMode: 'array' })).rows);
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new ArchiveError('archive is closed', { code: 'CLOSED' });
  }
}

/** First and last time of a number series from its tiers (the same rule as the SQLite back-end). */
function numberSpan(
  raw: number | undefined,
  m1: number | undefined,
  h1: number | undefined,
  rawLast: number | null,
  m1Last: number | null,
  h1Last: number | null,
): { first?: number; last?: number } {
  const earliest = Math.min(raw ?? Infinity, m1 ?? Infinity, h1 ?? Infinity);
  if (earliest === Infinity) return {};
  const first = tierCovers(raw, earliest, earliest) ? raw : tierCovers(m1, earliest, earliest) ? m1 : earliest;
  const last = rawLast ?? Math.max(m1Last ?? -Infinity, h1Last ?? -Infinity);
  return { ...(first === undefined ? {} : { first }), ...(Number.isFinite(last) ? { last } : {}) };
}

/**
 * Inserts numeric rows ($1 series ids, $2 times, $3 values) and upserts their minute and hour
 * bins in one statement; returns how many rows were inserted. The rollups come from the rows this
 * statement inserted (RETURNING): a sample already stored adds nothing to them.
 */
async function insertSamples(c: pg.PoolClient, onConflict: boolean, params: unknown[]): Promise<number> {
  const upsert = (table: string, w: number): string => `
    INSERT INTO ${table} AS r (series_id, bin_start_ms, count, min, max, sum)
    SELECT series_id, t_ms - t_ms % ${w}, count(*), min(value), max(value), sum(value) FROM ins WHERE value IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (series_id, bin_start_ms) DO UPDATE SET count = r.count + excluded.count,
      min = least(r.min, excluded.min), max = greatest(r.max, excluded.max), sum = r.sum + excluded.sum
    RETURNING 1`;
  const r = await c.query<{ n: number }>(
    `WITH ins AS (
       INSERT INTO samples (series_id, t_ms, value)
       SELECT * FROM unnest($1::int[], $2::bigint[], $3::float8[])
       ${onConflict ? 'ON CONFLICT DO NOTHING ' : ''}RETURNING series_id, t_ms, value
     ), m AS (${upsert('rollup_1m', MINUTE_MS)}), h AS (${upsert('rollup_1h', HOUR_MS)})
     SELECT count(*)::int AS n FROM ins`,
    params,
  );
  return r.rows[0]!.n;
}

/** Creates or upgrades the schema in one transaction under the advisory lock; idempotent. */
async function migrate(pool: pg.Pool, origin: string): Promise<void> {
  const c = await pool.connect();
  let broken = false;
  const onError = (): void => {
    broken = true;
  };
  c.on('error', onError);
  try {
    await c.query('BEGIN');
    try {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await c.query('CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_ms bigint NOT NULL)');
      const r = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version');
      const current = r.rows[0]?.v ?? 0;
      const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
      if (current > latest) throw new ArchiveError(`schema version ${current} is newer than this labwire understands (${latest}); upgrade labwire`, { code: 'SCHEMA' });
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        await c.query(m.sql.replaceAll('$origin$', pg.escapeLiteral(origin)));
        await c.query('INSERT INTO schema_version (version, applied_ms) VALUES ($1, $2)', [m.version, Date.now()]);
      }
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  } catch (e) {
    if (classifyPgError(e) === 'UNAVAILABLE') broken = true;
    throw e;
  } finally {
    c.removeListener('error', onError);
    c.release(broken);
  }
}

/** Opens (migrating if needed) the PostgreSQL archive; rejects with an ArchiveError naming the URL without its password. */
export async function openPostgresArchive(options: PostgresArchiveOptions): Promise<PostgresArchive> {
  return PostgresArchive.open(options);
}
