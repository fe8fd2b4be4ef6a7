/**
 * The monitor's image index (issue 12, contract §3): a labwire peer whose describe lists the
 * command `image_info` is an image source. When its `last_image` changes to a non-empty path, and
 * once in the full snapshot after every (re)connect, the monitor asks it `image_info path=<p>`,
 * indexes the answer in the archive (one row per device and path, so a reconnect adds nothing),
 * says so in the message log and emits the new record for the live streams.
 *
 * Requests to one peer run one after another, in the order the paths arrived: a burst of frames
 * (`expose count=5`) is indexed in frame order. A daemon that answers with an error, or with
 * something that is not an image description, is logged; nothing is indexed and nothing crashes.
 */
import type { Archive, ImageInfo, ImageRecord, LogLevel } from '../archive/types.js';
import type { Logger } from '../util/logger.js';
import { LabwireError, quote, type DescribeDoc } from '../wire/index.js';
import type { PeerValue } from './types.js';

/** What ingestion needs of a peer. */
export interface ImageSource {
  readonly name: string;
  readonly describe: DescribeDoc | undefined;
  readonly protocol: 'labwire' | 'ccdlab';
  request(line: string): Promise<{ command: { name: string | null; kwargs: Record<string, string> } }>;
}

export interface ImageIngestDeps {
  archive: Archive | undefined;
  logger: Logger;
  /** A message-log entry (source = the device). */
  log(source: string, level: LogLevel, text: string): void;
  /** A new image was indexed. */
  indexed(image: ImageRecord): void;
}

/** How far back a source's images are indexed on first sight (none of it indexed yet). */
export const BACKFILL_WINDOW_MS = 24 * 3600_000;
const BACKFILL_PAGE = 100;
/** Pages asked per reconnect: a source that wrote more meanwhile is caught up by the next one. */
const BACKFILL_PAGES = 20;

/** The value that names a source's newest image. */
export const LAST_IMAGE = 'last_image';

export function isImageSource(source: Pick<ImageSource, 'describe' | 'protocol'>): boolean {
  return source.protocol === 'labwire' && source.describe !== undefined && Object.hasOwn(source.describe.commands, 'image_info');
}

export function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

function numberOrNull(text: string | undefined): number | null {
  if (text === undefined || text.trim() === '') return null;
  const v = Number(text);
  return Number.isFinite(v) ? v : null;
}

/**
 * An ImageInfo from the fields of `ok image_info …`; throws a readable error when the reply lacks
 * what the index must have (the size of the image).
 */
export function imageInfoFrom(device: string, requested: string, kwargs: Record<string, string>, now = Date.now()): ImageInfo {
  const width = numberOrNull(kwargs.width);
  const height = numberOrNull(kwargs.height);
  if (width === null || height === null || !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`its image_info reply gives no usable width and height (width=${kwargs.width ?? '-'} height=${kwargs.height ?? '-'})`);
  }
  const bitpix = numberOrNull(kwargs.bitpix);
  const t = numberOrNull(kwargs.t);
  const frame = numberOrNull(kwargs.frame);
  return {
    t: t ?? now,
    device,
    path: kwargs.path !== undefined && kwargs.path !== '' ? kwargs.path : requested,
    frame: frame !== null && Number.isInteger(frame) ? frame : null,
    exptime: numberOrNull(kwargs.exptime),
    type: kwargs.type ?? '',
    object: kwargs.object ?? '',
    width,
    height,
    bitpix: bitpix !== null && Number.isInteger(bitpix) ? bitpix : 16,
    bytes: numberOrNull(kwargs.bytes),
    min: numberOrNull(kwargs.min),
    max: numberOrNull(kwargs.max),
    mean: numberOrNull(kwargs.mean),
    median: numberOrNull(kwargs.median),
  };
}

function why(err: unknown): string {
  if (err instanceof LabwireError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export class ImageIngest {
  /** Per peer: the tail of its queue of image_info requests. */
  private readonly queues = new Map<string, Promise<void>>();
  /** Per peer: the path last taken into the queue, so one path is asked once per change. */
  private readonly lastPath = new Map<string, string>();
  private closed = false;
  private noArchiveSaid = false;

  constructor(private readonly deps: ImageIngestDeps) {}

  /** Called with every change of a peer's values; `full` after a (re)connect. */
  values(source: ImageSource, changes: Readonly<Record<string, PeerValue>>, full: boolean): void {
    if (this.closed || !isImageSource(source)) return;
    // Back from an absence: the frames written meanwhile first, in order, then the newest.
    if (full && Object.hasOwn(source.describe!.commands, 'image_list') && this.deps.archive?.listImages) this.enqueue(source, () => this.backfill(source));
    if (!Object.hasOwn(changes, LAST_IMAGE)) return;
    const v = changes[LAST_IMAGE];
    const path = typeof v === 'string' ? v.trim() : '';
    if (path === '') return;
    if (!full && this.lastPath.get(source.name) === path) return;
    this.lastPath.set(source.name, path);
    if (!this.deps.archive?.addImage) {
      if (!this.noArchiveSaid) {
        this.noArchiveSaid = true;
        this.deps.logger.info({ peer: source.name }, 'the archive keeps no image index: images are not indexed');
      }
      return;
    }
    this.enqueue(source, () => this.ingest(source, path));
  }

  private enqueue(source: ImageSource, work: () => Promise<void>): void {
    const tail = this.queues.get(source.name) ?? Promise.resolve();
    const next = tail.then(work);
    this.queues.set(source.name, next);
    void next.finally(() => {
      if (this.queues.get(source.name) === next) this.queues.delete(source.name);
    });
  }

  /**
   * Indexes what the source wrote since the newest image indexed for it (or within the last
   * BACKFILL_WINDOW_MS when none is), asking its `image_list` page by page: frames taken while the
   * monitor was stopped or the network was down are not lost to the index.
   */
  private async backfill(source: ImageSource): Promise<void> {
    const archive = this.deps.archive;
    if (!archive?.listImages || this.closed) return;
    for (let page = 0; page < BACKFILL_PAGES && !this.closed; page++) {
      const newest = (await archive.listImages({ device: source.name, limit: 1 }))[0];
      const since = newest ? newest.t : Date.now() - BACKFILL_WINDOW_MS;
      let paths: string[];
      let more: boolean;
      try {
        const reply = await source.request(`image_list since=${Math.floor(since)} limit=${BACKFILL_PAGE}`);
        if (reply.command.name !== 'ok') throw new Error(`it answered image_list with "${reply.command.name ?? ''} …", not ok`);
        const list: unknown = JSON.parse(reply.command.kwargs.paths ?? '[]');
        if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) throw new Error('its image_list paths are no list of file names');
        paths = list as string[];
        more = reply.command.kwargs.more === '1';
      } catch (err) {
        if (this.closed) return;
        this.deps.logger.warn({ peer: source.name, err: why(err) }, 'image_list failed; images written while away are not indexed');
        this.deps.log(source.name, 'warning', `${source.name}: cannot list the images written while the monitor was away: ${why(err)}`);
        return;
      }
      const fresh = paths.filter((p) => p !== newest?.path);
      for (const p of fresh) await this.ingest(source, p);
      if (!more || fresh.length === 0) return;
    }
  }

  /** Resolves when every queued request has settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  /** Takes no new work; resolves when the queued work is done. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  private async ingest(source: ImageSource, path: string): Promise<void> {
    const archive = this.deps.archive;
    if (!archive?.addImage || this.closed) return;
    let info: ImageInfo;
    try {
      const reply = await source.request(`image_info path=${quote(path)}`);
      if (reply.command.name !== 'ok') throw new Error(`it answered image_info with "${reply.command.name ?? ''} …", not ok`);
      info = imageInfoFrom(source.name, path, reply.command.kwargs);
    } catch (err) {
      if (this.closed) return;
      // The path stays known: the next change (or reconnect) asks again.
      if (this.lastPath.get(source.name) === path) this.lastPath.delete(source.name);
      this.deps.logger.warn({ peer: source.name, path, err: why(err) }, 'image_info failed; image not indexed');
      this.deps.log(source.name, 'warning', `${source.name}: cannot index image ${basename(path)}: ${why(err)}`);
      return;
    }
    try {
      const { image, added } = await archive.addImage(info);
      if (!added) return;
      const exptime = image.exptime === null ? '?' : String(image.exptime);
      this.deps.log(source.name, 'info', `new image ${basename(image.path)} (${source.name}, ${exptime} s, ${image.type || 'unknown type'})`);
      this.deps.indexed(image);
    } catch (err) {
      this.deps.logger.error({ peer: source.name, path, err }, 'archive: cannot index an image');
      this.deps.log(source.name, 'error', `${source.name}: image ${basename(path)} not indexed: the archive failed (${why(err)})`);
    }
  }
}
