/**
 * The lab's archive behind its spool (decision 0022): a database archive (PostgreSQL, on another
 * host, away now and then) is wrapped in a SpoolingArchive writing to `monitor.archive.spool`;
 * SQLite is a local file and needs none.
 */
import { DeferredArchive } from '../archive/deferred.js';
import { openArchive, type ArchiveConfig } from '../archive/index.js';
import { isUnavailable, openSpoolingArchive, type SpoolOptions } from '../archive/spool.js';
import type { Archive } from '../archive/types.js';
import type { LabConfig } from '../config/lab.js';
import { parseSize } from '../config/size.js';
import type { Logger } from '../util/logger.js';

type Report = NonNullable<SpoolOptions['report']>;

/** Holds the spool's messages until the monitor (whose message log takes them) exists. */
export class EarlyReports {
  private target: Report | undefined;
  private readonly early: Array<Parameters<Report>> = [];

  readonly report: Report = (level, text) => {
    if (this.target) this.target(level, text);
    else if (this.early.length < 100) this.early.push([level, text]);
  };

  attach(target: Report): void {
    this.target = target;
    for (const [level, text] of this.early.splice(0)) target(level, text);
  }
}

export async function withSpool(archive: Archive, config: LabConfig, logger: Logger, reports: EarlyReports): Promise<Archive> {
  if (archive.kind === 'sqlite') return archive;
  const a = config.monitor.archive;
  const path = a.spool ?? `${config.data}/archive-spool-${config.monitor.name}`;
  const maxBytes = a.spoolMaxSize === undefined ? undefined : parseSize(a.spoolMaxSize);
  try {
    return await openSpoolingArchive(archive, { path, ...(maxBytes === undefined ? {} : { maxBytes }), logger, report: reports.report });
  } catch (err) {
    await archive.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Opens the lab's archive behind its spool. A database that cannot be reached at start is no
 * reason to run without history: the spool takes the rows from the first one, and the database
 * is opened when it answers (DeferredArchive). Any other failure to open is thrown.
 */
export async function openLabArchive(config: ArchiveConfig, lab: LabConfig, logger: Logger, reports: EarlyReports): Promise<Archive> {
  let opened: Archive;
  try {
    opened = await openArchive(config, { logger });
  } catch (err) {
    if (config.kind === 'sqlite' || !isUnavailable(err)) throw err;
    logger.warn({ err: (err as Error).message }, 'archive database unavailable at start: spooling until it answers');
    opened = new DeferredArchive(config.kind, () => openArchive(config, { logger }), err);
  }
  return withSpool(opened, lab, logger, reports);
}
