/**
 * Errors of the archive that are not query errors: a database that cannot be opened or written,
 * a full write queue, an archive that is closed. Back-end neutral; `code` carries the back-end's
 * error code (`SQLITE_FULL`, `ENOTDIR`, ...) when there is one.
 */
export class ArchiveError extends Error {
  readonly code: string | undefined;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ArchiveError';
    this.code = options.code;
  }
}
