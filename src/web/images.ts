/**
 * Images on the web (issue 12, contract §3): the archive's image index, each image's FITS header,
 * the file itself and its pixels. The file lives on the daemon's host; the monitor fetches it with
 * `image path=<p>` (a binary reply) whenever the web needs the bytes, so daemon and monitor may
 * run on different machines. A small cache of recent files (bytes and parsed pixels) serves the
 * usual page — the newest image's header, then its pixels — with one transfer, and requests for
 * a file already on its way wait for that transfer instead of starting another.
 */
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Archive, ImageQuery, ImageRecord } from '../archive/types.js';
import { ArchiveQueryError } from '../archive/types.js';
import { FitsFormatError, readHeader, readImage, type FitsImage, type HeaderCard } from '../fits/index.js';
import type { MonitorView } from '../monitor/types.js';
import { LabwireError } from '../wire/types.js';
import { parseTime, requireArchive } from './api.js';
import { HttpError, badRequest } from './errors.js';
import { errorRef, ref } from './schemas.js';

export interface ImagesContext {
  monitor: MonitorView;
  /** Files kept in memory (default 4). */
  cacheFiles?: number;
  /** Bytes kept in memory at most, files and parsed pixels together (default 256 MiB). */
  cacheBytes?: number;
}

interface CachedFile {
  bytes: Buffer;
  parsed?: FitsImage;
  size: number;
}

/** Least-recently-used files by image id, with one transfer per file at a time. */
export class ImageFileCache {
  private readonly entries = new Map<number, CachedFile>();
  private readonly inflight = new Map<number, Promise<CachedFile>>();
  private total = 0;
  /** Transfers started (tests check that a page's two requests cost one). */
  fetches = 0;

  constructor(
    private readonly fetch: (image: ImageRecord) => Promise<Buffer>,
    private readonly maxFiles: number,
    private readonly maxBytes: number,
  ) {}

  async file(image: ImageRecord): Promise<CachedFile> {
    const hit = this.entries.get(image.id);
    if (hit) {
      this.entries.delete(image.id);
      this.entries.set(image.id, hit);
      return hit;
    }
    let pending = this.inflight.get(image.id);
    if (!pending) {
      this.fetches++;
      pending = this.fetch(image).then((bytes) => {
        const entry: CachedFile = { bytes, size: bytes.length };
        this.put(image.id, entry);
        return entry;
      });
      this.inflight.set(image.id, pending);
      const mine = pending;
      void mine.then(
        () => this.inflight.delete(image.id),
        () => this.inflight.delete(image.id),
      );
    }
    return pending;
  }

  /** The parsed image, parsed once per cached file. */
  async pixels(image: ImageRecord): Promise<FitsImage> {
    const entry = await this.file(image);
    if (!entry.parsed) {
      entry.parsed = readImage(entry.bytes);
      const extra = entry.parsed.pixels.byteLength;
      entry.size += extra;
      if (this.entries.get(image.id) === entry) {
        this.total += extra;
        this.trim();
      }
    }
    return entry.parsed;
  }

  private put(id: number, entry: CachedFile): void {
    const old = this.entries.get(id);
    if (old) this.total -= old.size;
    this.entries.set(id, entry);
    this.total += entry.size;
    this.trim();
  }

  private trim(): void {
    // The newest entry stays even when it alone is over the limit: it is being served.
    while (this.entries.size > 1 && (this.entries.size > this.maxFiles || this.total > this.maxBytes)) {
      const [oldest, e] = this.entries.entries().next().value as [number, CachedFile];
      this.entries.delete(oldest);
      this.total -= e.size;
    }
  }
}

const errors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef, 503: errorRef };
const fileErrors = { ...errors, 502: errorRef, 504: errorRef };

const listQuery = {
  type: 'object',
  properties: {
    device: { type: 'string', minLength: 1, maxLength: 200, description: 'only images of this device (client name)' },
    from: { type: 'string', maxLength: 40, description: 'exposure start at or after (unix ms or ISO 8601)' },
    to: { type: 'string', maxLength: 40, description: 'exposure start at or before (unix ms or ISO 8601)' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'the image id from /api/images' } },
} as const;

/** The file name for Content-Disposition: the basename, with only safe characters. */
export function downloadName(path: string): string {
  const parts = path.split(/[\\/]/);
  const base = (parts[parts.length - 1] || 'image.fits').replace(/[^A-Za-z0-9._-]/g, '_');
  return base === '' || /^\.+$/.test(base) ? 'image.fits' : base;
}

function imageIndex(monitor: MonitorView): Archive & Required<Pick<Archive, 'listImages' | 'getImage'>> {
  const archive = requireArchive(monitor);
  if (!archive.listImages || !archive.getImage) throw new HttpError(503, 'NoImageIndex', `the ${archive.kind} archive keeps no image index`);
  return archive as Archive & Required<Pick<Archive, 'listImages' | 'getImage'>>;
}

function indexFailure(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ArchiveQueryError) return badRequest(err.message);
  return new HttpError(500, 'ArchiveError', 'the archive could not answer; see the monitor log');
}

/** Pixels as the API sends them: little-endian, whatever this host's byte order. */
function littleEndian(pixels: Uint16Array | Uint32Array): Buffer {
  const view = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  if (os.endianness() === 'LE') return view;
  const copy = Buffer.from(view);
  if (pixels.BYTES_PER_ELEMENT === 2) copy.swap16();
  else copy.swap32();
  return copy;
}

export async function imageRoutes(app: FastifyInstance, ctx: ImagesContext): Promise<void> {
  const { monitor } = ctx;

  /** Fetches a file from its daemon; errors become the HTTP answers the contract names. */
  const log = app.log;
  const fetchFile = async (image: ImageRecord): Promise<Buffer> => {
    if (!monitor.fetchImage) throw new HttpError(503, 'NoImageFetch', 'this monitor cannot fetch image files');
    const peer = monitor.peer(image.device);
    if (!peer) throw new HttpError(404, 'NoSuchDevice', `image ${image.id} was written by "${image.device}", which is no longer configured`);
    if (!peer.connected) {
      throw new HttpError(503, 'CommunicationFailed', `${image.device} is not connected${peer.lastError ? ` (${peer.lastError})` : ''}; image ${image.id} can be fetched once it is back`);
    }
    try {
      return await monitor.fetchImage(image.device, image.path);
    } catch (err) {
      if (err instanceof LabwireError) {
        log.warn({ device: image.device, path: image.path, code: err.code, err: err.message }, 'image fetch failed');
        if (err.code === 'IsBusy') throw new HttpError(503, 'Busy', `cannot fetch ${downloadName(image.path)} from ${image.device} now: ${err.message}`, { daemonCode: err.code });
        const status = err.code === 'Timeout' ? 504 : 502;
        const code = err.code === 'Timeout' ? 'Timeout' : err.code === 'LineTooLong' ? 'ImageTooLarge' : 'ImageFetchFailed';
        throw new HttpError(status, code, `cannot fetch ${downloadName(image.path)} from ${image.device}: ${err.message}`, { daemonCode: err.code });
      }
      throw err;
    }
  };
  const cache = new ImageFileCache(fetchFile, ctx.cacheFiles ?? 4, ctx.cacheBytes ?? 256 * 1024 * 1024);

  const lookup = async (id: number): Promise<ImageRecord> => {
    const index = imageIndex(monitor);
    let image: ImageRecord | undefined;
    try {
      image = await index.getImage(id);
    } catch (err) {
      throw indexFailure(err);
    }
    if (!image) throw new HttpError(404, 'NoSuchImage', `no image ${id} in the index; GET /api/images lists them`);
    return image;
  };

  const badImage = (image: ImageRecord, err: unknown): HttpError => {
    if (err instanceof FitsFormatError) return new HttpError(502, 'BadImage', `${downloadName(image.path)} from ${image.device} is not a readable FITS image: ${err.message}`);
    return err instanceof HttpError ? err : new HttpError(500, 'InternalError', 'internal error; see the monitor log');
  };

  app.get<{ Querystring: { device?: string; from?: string; to?: string; limit: number } }>('/api/images', {
    schema: { summary: 'Indexed images, newest exposure first', tags: ['images'], querystring: listQuery, 'x-responses': { 200: { type: 'object', required: ['images'], properties: { images: { type: 'array', items: ref('ImageRecord') } } }, ...errors } },
  }, async (req) => {
    const q = req.query;
    const from = parseTime(q.from, 'from');
    const to = parseTime(q.to, 'to');
    if (from !== undefined && to !== undefined && from > to) throw badRequest('from is after to: give the earlier time as from');
    const index = imageIndex(monitor);
    const query: ImageQuery = { limit: q.limit };
    if (q.device !== undefined) query.device = q.device;
    if (from !== undefined) query.from = from;
    if (to !== undefined) query.to = to;
    try {
      return { images: await index.listImages(query) };
    } catch (err) {
      throw indexFailure(err);
    }
  });

  app.get<{ Params: { id: number } }>('/api/images/:id', {
    schema: {
      summary: "One image's record and its FITS header (read from the file, fetched from the daemon)",
      tags: ['images'],
      params: idParams,
      'x-responses': { 200: { type: 'object', required: ['image', 'header'], properties: { image: ref('ImageRecord'), header: { type: 'array', items: ref('HeaderCard') } } }, ...fileErrors },
    },
  }, async (req) => {
    const image = await lookup(req.params.id);
    const { bytes } = await cache.file(image);
    let header: HeaderCard[];
    try {
      header = readHeader(bytes).cards;
    } catch (err) {
      throw badImage(image, err);
    }
    return { image, header };
  });

  app.get<{ Params: { id: number } }>('/api/images/:id/fits', {
    schema: {
      summary: 'The FITS file as the daemon wrote it (fetched over labwire with image path=…)',
      tags: ['images'],
      params: idParams,
      'x-responses': { 200: { description: 'application/fits', content: 'application/fits' }, ...fileErrors },
    },
  }, async (req, reply) => {
    const image = await lookup(req.params.id);
    const { bytes } = await cache.file(image);
    return reply
      .type('application/fits')
      .header('Content-Disposition', `attachment; filename="${downloadName(image.path)}"`)
      .header('Cache-Control', 'private, max-age=3600')
      .send(bytes);
  });

  app.get<{ Params: { id: number } }>('/api/images/:id/pixels', {
    schema: {
      summary: 'The pixels: little-endian unsigned integers (uint16 for X-Image-Bitpix 16, uint32 for 32), row-major, FITS row 1 first, BZERO applied',
      tags: ['images'],
      params: idParams,
      'x-responses': { 200: { description: 'application/octet-stream; headers X-Image-Width, X-Image-Height, X-Image-Bitpix', content: 'application/octet-stream' }, ...fileErrors },
    },
  }, async (req, reply) => {
    const image = await lookup(req.params.id);
    let parsed: FitsImage;
    try {
      parsed = await cache.pixels(image);
    } catch (err) {
      throw badImage(image, err);
    }
    return reply
      .type('application/octet-stream')
      .header('X-Image-Width', String(parsed.width))
      .header('X-Image-Height', String(parsed.height))
      .header('X-Image-Bitpix', String(parsed.bitpix))
      .header('Access-Control-Expose-Headers', 'X-Image-Width, X-Image-Height, X-Image-Bitpix')
      .header('Cache-Control', 'private, max-age=3600')
      .send(littleEndian(parsed.pixels));
  });
}
