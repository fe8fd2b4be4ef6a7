/**
 * The archive (DESIGN.md §4): history of every parameter, the message log and the audit trail.
 * `openArchive()` picks the back-end from the lab config; SQLite (one file) or PostgreSQL (shared by several monitors).
 */
import type { Logger } from '../util/logger.js';
import { ArchiveError } from './errors.js';
import { openPostgresArchive, type PostgresArchiveOptions } from './postgres.js';
import { openSqliteArchive, type SqliteArchiveOptions } from './sqlite.js';
import type { Archive } from './types.js';

export * from './types.js';
export { ArchiveError } from './errors.js';
export { SqliteArchive, openSqliteArchive, describeSqliteError, SCHEMA_VERSION, type SqliteArchiveOptions } from './sqlite.js';
export { PostgresArchive, openPostgresArchive, redactUrl, classifyPgError, PG_SCHEMA_VERSION, type PostgresArchiveOptions, type PostgresTls } from './postgres.js';
export { CSV_HEADER } from './csv.js';
export { MAX_HISTORY_POINTS, LEVEL_RANK } from './validate.js';

export interface SqliteArchiveConfig extends Omit<SqliteArchiveOptions, 'logger'> {
  kind: 'sqlite';
  /** The database file; its directory is created when missing. */
  path: string;
}

export interface PostgresArchiveConfig extends Omit<PostgresArchiveOptions, 'logger'> {
  kind: 'postgres';
}

export type ArchiveConfig = SqliteArchiveConfig | PostgresArchiveConfig;

/** Opens the archive a config describes; rejects with an ArchiveError naming the path and the reason. */
export async function openArchive(config: ArchiveConfig, deps: { logger?: Logger } = {}): Promise<Archive> {
  const kind: string = config.kind;
  const logger = deps.logger === undefined ? {} : { logger: deps.logger };
  if (config.kind === 'sqlite') {
    const { kind: _kind, path, ...options } = config;
    return openSqliteArchive(path, { ...options, ...logger });
  }
  if (config.kind === 'postgres') {
    const { kind: _kind, ...options } = config;
    return openPostgresArchive({ ...options, ...logger });
  }
  throw new ArchiveError(`archive kind "${kind}" is not supported (supported: sqlite, postgres)`, { code: 'UNSUPPORTED' });
}
