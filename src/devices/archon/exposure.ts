/**
 * Exposures on an Archon as a small state machine: idle → exposing → reading_out → fetching →
 * writing → (next frame | idle). The controller's timing script does the work (reference §7); the
 * daemon writes the ACF's parameters (Shutter, IntMS, then Exposures = count, which starts it),
 * watches FRAME until the frame number advanced and that buffer says COMPLETE=1 (§7.3), locks and
 * fetches it straight into the FITS file's buffer, writes the file and reports progress through
 * ctx.publish. One exposure at a time; `abort` stops it at the next step.
 */
import type { HandlerContext, LabState } from '../../daemon/api.js';
import { finishImage, prepareImage } from '../../fits/index.js';
import { LabwireError, type WireValue } from '../../wire/types.js';
import { MAX_PARAM_VALUE, type FrameBuffer, type FrameInfo } from './codec.js';
import type { ArchonDriver } from './driver.js';
import { imageCards, imagePath, imageStats, statsFromHistogram, writeImageFile, type ImageInfo, type ImageType } from './image-file.js';

export const PHASES = ['idle', 'exposing', 'reading_out', 'fetching', 'writing'] as const;
export type Phase = (typeof PHASES)[number];

export interface ExposureSettings {
  /** Absolute folder for the FITS files. */
  dataDir: string;
  prefix: string;
  /** The ACF's parameter names. */
  params: { exposures: string; intMs: string; shutter: string; abort: string };
  /** FRAME is read this often while an exposure runs, ms. */
  pollMs: number;
  /** A frame not complete this long after its integration should have ended is given up, ms. */
  readoutTimeoutMs: number;
  /** The longest silence between two FETCH blocks, ms. */
  blockTimeoutMs: number;
  instrument: string;
  daemon: string;
}

export interface ExposeRequest {
  /** Seconds. */
  time: number;
  count: number;
  type: ImageType;
  object: string;
}

/** What `image_info` answers for the last image: the file, its statistics and the time each step took. */
export interface LastImage extends ImageInfo {
  fetch_ms: number;
  convert_ms: number;
  checksum_ms: number;
  write_ms: number;
  /** From the frame seen complete to the file renamed into place: lock, fetch, unlock, header, conversion, write. */
  save_ms: number;
}

/** Frames of one `expose count=` at most (a guard against typing mistakes, far below the 20-bit limit). */
export const MAX_COUNT = 10_000;

const round = (v: number, digits = 3): number => Math.round(v * 10 ** digits) / 10 ** digits;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const why = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The newest frame number in any buffer. */
function newestFrame(info: FrameInfo): number {
  return Math.max(0, ...info.buffers.map((b) => b.frame));
}

/** The oldest complete frame after `after` (so none is skipped when two complete between polls). */
function nextComplete(info: FrameInfo, after: number): FrameBuffer | undefined {
  let best: FrameBuffer | undefined;
  for (const b of info.buffers) if (b.complete && b.frame > after && (!best || b.frame < best.frame)) best = b;
  return best;
}

/** Readout progress of the buffer being written: LINES of LINECOUNT (split mode fills two rows per line). */
function readoutPercent(b: FrameBuffer): number {
  const lineCount = b.mode === 2 ? b.height / 2 : b.height;
  return lineCount > 0 ? Math.min(100, round((100 * b.lines) / lineCount, 1)) : 0;
}

export class Exposure {
  private phase: Phase = 'idle';
  private values: Record<string, WireValue> = {
    phase: 'idle',
    exposure_time: 0,
    exposure_elapsed: 0,
    readout_percent: 0,
    frames_left: 0,
    last_image: '',
    last_error: '',
    images_written: 0,
    current_image: '',
  };
  private aborted = false;
  private running: Promise<void> | undefined;
  private last: LastImage | undefined;
  private imagesWritten = 0;

  constructor(
    private readonly driver: ArchonDriver,
    private readonly settings: ExposureSettings,
  ) {}

  get isBusy(): boolean {
    return this.phase !== 'idle';
  }

  get lastImage(): LastImage | undefined {
    return this.last;
  }

  /** The exposure parameters as they stand (for identify after a reconnect). */
  snapshot(): Record<string, WireValue> {
    return { ...this.values };
  }

  /** Checks the request, starts the controller and returns once it accepted; the frames follow in the background. */
  async start(req: ExposeRequest, ctx: HandlerContext): Promise<Record<string, WireValue>> {
    if (this.isBusy) throw new LabwireError('IsBusy', `an exposure is under way (${this.phase}); wait for state=idle or send abort`, 'expose');
    const ms = Math.round(req.time * 1000);
    if (!Number.isFinite(req.time) || req.time < 0 || ms > MAX_PARAM_VALUE) {
      throw new LabwireError(
        'RangeError',
        `time=${req.time}: the exposure time must be from 0 to ${MAX_PARAM_VALUE / 1000} s (the ACF's ${this.settings.params.intMs} holds ${MAX_PARAM_VALUE} ms)`,
        'expose',
      );
    }
    if (!Number.isInteger(req.count) || req.count < 1 || req.count > MAX_COUNT) {
      throw new LabwireError('RangeError', `count=${req.count}: take 1 to ${MAX_COUNT} frames per expose`, 'expose');
    }
    // Taken at once so that a second expose arriving meanwhile is refused.
    this.phase = 'exposing';
    this.aborted = false;
    let lastFrame: number;
    const { params } = this.settings;
    let startMs: number;
    let lab: Promise<LabState>;
    let exposuresSent = false;
    try {
      lastFrame = newestFrame(await this.driver.frame());
      await this.driver.fastLoadParam(params.abort, 0);
      await this.driver.fastLoadParam(params.shutter, req.type === 'object' || req.type === 'flat' ? 1 : 0);
      await this.driver.fastLoadParam(params.intMs, ms);
      // The lab as it is when the shutter opens; asked while the controller is told to start.
      lab = ctx.labState();
      startMs = Date.now();
      exposuresSent = true;
      await this.driver.fastLoadParam(params.exposures, req.count);
    } catch (err) {
      // The start may have reached the controller with only its answer lost: tell it to stop.
      if (exposuresSent) await this.stopController().catch(() => undefined);
      this.phase = 'idle';
      throw err;
    }
    const started: Record<string, WireValue> = {
      phase: 'exposing',
      exposure_time: req.time,
      exposure_elapsed: 0,
      readout_percent: 0,
      frames_left: req.count,
      last_error: '',
      current_image: '',
    };
    this.update(ctx, started);
    this.running = this.sequence(req, ctx, lastFrame, startMs, lab).finally(() => {
      this.running = undefined;
    });
    return started;
  }

  /** Stops the exposure: the controller drops its frame, the daemon returns to idle. */
  async abort(ctx: HandlerContext): Promise<Record<string, WireValue>> {
    if (!this.isBusy) return { phase: 'idle' };
    this.aborted = true;
    let refused: unknown;
    try {
      await this.stopController();
    } catch (err) {
      refused = err;
    }
    await this.running;
    if (refused) ctx.log('warning', `abort: the controller was not told to stop (${why(refused)}); the daemon stopped waiting for the frame`);
    return { phase: 'idle' };
  }

  /** AbortExposure 1, Exposures 0: the controller drops its frame and takes no more. */
  private async stopController(): Promise<void> {
    const { params } = this.settings;
    await this.driver.fastLoadParam(params.abort, 1);
    await this.driver.fastLoadParam(params.exposures, 0);
  }

  private update(ctx: HandlerContext, values: Record<string, WireValue>): void {
    if (typeof values.phase === 'string') this.phase = values.phase as Phase;
    Object.assign(this.values, values);
    ctx.publish(values);
  }

  private async sequence(req: ExposeRequest, ctx: HandlerContext, firstAfter: number, firstStart: number, firstLab: Promise<LabState>): Promise<void> {
    let lastFrame = firstAfter;
    let frameStart = firstStart;
    let lab = firstLab;
    let error = '';
    try {
      // Frames are counted by the controller's numbers: the sequence ends with frame first + count,
      // also when a frame was overwritten before it could be fetched (logged as a warning).
      const finalFrame = firstAfter + req.count;
      while (lastFrame < finalFrame) {
        const done = await this.waitForFrame(req, ctx, lastFrame, frameStart);
        if (!done) break; // aborted
        const completedAt = Date.now();
        const left = Math.max(0, finalFrame - done.frame);
        const nextLab = left > 0 ? ctx.labState() : undefined;
        await this.saveFrame(req, ctx, done, frameStart, await lab, left);
        lastFrame = done.frame;
        // The script integrates the next frame right after this one's readout.
        frameStart = completedAt;
        if (nextLab) lab = nextLab;
        if (this.aborted) break;
      }
      if (this.aborted) error = 'aborted';
    } catch (err) {
      error = why(err);
      ctx.log('error', `exposure failed: ${error}`);
      if (!this.aborted) {
        // Frames still to come would go unread: tell the controller to stop (best effort).
        await this.driver.fastLoadParam(this.settings.params.abort, 1).catch(() => undefined);
        await this.driver.fastLoadParam(this.settings.params.exposures, 0).catch(() => undefined);
      }
    }
    this.update(ctx, { phase: 'idle', frames_left: 0, readout_percent: this.values.readout_percent ?? 0, last_error: error, current_image: '' });
  }

  /** Polls FRAME until the frame after `after` is complete; undefined when aborted. */
  private async waitForFrame(req: ExposeRequest, ctx: HandlerContext, after: number, startMs: number): Promise<FrameBuffer | undefined> {
    const deadline = startMs + req.time * 1000 + this.settings.readoutTimeoutMs;
    let lastProblem = '';
    for (;;) {
      if (this.aborted) return undefined;
      let info: FrameInfo | undefined;
      try {
        info = await this.driver.frame();
      } catch (err) {
        // A link that comes back within the deadline loses nothing: the frame waits in its buffer.
        lastProblem = why(err);
      }
      if (this.aborted) return undefined;
      if (info) {
        const done = nextComplete(info, after);
        if (done) {
          if (done.frame > after + 1) ctx.log('warning', `frames ${after + 1} to ${done.frame - 1} were overwritten before they could be fetched`);
          this.update(ctx, { frame: done.frame, readout_percent: 100, exposure_elapsed: req.time });
          return done;
        }
        const writing = info.buffers[info.wbuf - 1];
        // Reading out: the buffer being written is incomplete and has begun (some controllers
        // number the buffer at the start of its readout, others at the end).
        if (writing && !writing.complete && (writing.lines > 0 || writing.frame > after)) {
          this.update(ctx, { phase: 'reading_out', exposure_elapsed: req.time, readout_percent: readoutPercent(writing) });
        } else if (this.phase === 'exposing') {
          this.update(ctx, { exposure_elapsed: round(Math.min(req.time, (Date.now() - startMs) / 1000), 1) });
        }
      }
      if (Date.now() > deadline) {
        const s = round(this.settings.readoutTimeoutMs / 1000, 1);
        throw new Error(`frame ${after + 1} did not complete within ${s} s after its ${req.time} s integration${lastProblem ? ` (last error: ${lastProblem})` : ''}`);
      }
      await sleep(this.settings.pollMs);
    }
  }

  private async saveFrame(req: ExposeRequest, ctx: HandlerContext, buffer: FrameBuffer, startMs: number, lab: LabState, framesLeft: number): Promise<void> {
    const savedFrom = performance.now();
    const bitpix = buffer.sample === 1 ? 32 : 16;
    if (buffer.width <= 0 || buffer.height <= 0) throw new Error(`buffer ${buffer.n} reports an image of ${buffer.width} × ${buffer.height}`);
    const meta = { startMs, frame: buffer.frame, exptime: req.time, type: req.type, object: req.object, instrument: this.settings.instrument, daemon: this.settings.daemon };
    const prepared = prepareImage({ width: buffer.width, height: buffer.height, bitpix, cards: imageCards(meta, lab) });
    this.update(ctx, { phase: 'fetching' });
    let fetchMs: number;
    try {
      // Inside the try: a LOCKn whose reply was lost may still have locked the buffer.
      await this.driver.lock(buffer.n);
      // Between the FRAME that showed it complete and the lock, the next readout may have begun
      // in this buffer: fetched now it would mix two exposures under the old frame's number.
      const locked = (await this.driver.frame()).buffers.find((b) => b.n === buffer.n);
      if (!locked || locked.frame !== buffer.frame || !locked.complete) {
        throw new Error(`buffer ${buffer.n} no longer holds frame ${buffer.frame} complete (a new readout began in it before it was locked)`);
      }
      fetchMs = (await this.driver.fetch(buffer.base, prepared.data, this.settings.blockTimeoutMs)).ms;
    } catch (err) {
      throw new Error(`fetching frame ${buffer.frame} failed: ${why(err)}; no file written`, { cause: err });
    } finally {
      // Also after a failed fetch: a locked buffer is skipped by the next readouts.
      await this.driver.lock(0).catch(() => undefined);
    }
    const file = imagePath(this.settings.dataDir, this.settings.prefix, startMs, buffer.frame);
    this.update(ctx, { phase: 'writing', current_image: file });
    // 16-bit: the statistics come from a histogram filled during the conversion (one pass).
    const t0 = performance.now();
    const histogram = bitpix === 16 ? new Uint32Array(65536) : undefined;
    const stats32 = bitpix === 32 ? imageStats(prepared.data, 32) : undefined;
    const statsMs = performance.now() - t0;
    const { file: bytes, timings } = finishImage(prepared, histogram ? { histogram } : {});
    const stats = histogram ? statsFromHistogram(histogram, buffer.width * buffer.height) : stats32!;
    const t1 = performance.now();
    try {
      await writeImageFile(file, bytes);
    } catch (err) {
      throw new Error(`writing ${file} failed: ${why(err)}`, { cause: err });
    }
    const writeMs = performance.now() - t1;
    this.imagesWritten += 1;
    this.last = {
      path: file,
      t: startMs,
      frame: buffer.frame,
      exptime: req.time,
      type: req.type,
      object: req.object,
      width: buffer.width,
      height: buffer.height,
      bitpix,
      bytes: bytes.length,
      ...stats,
      fetch_ms: round(fetchMs, 1),
      convert_ms: round(timings.convertMs + statsMs, 1),
      checksum_ms: round(timings.checksumMs, 1),
      save_ms: round(performance.now() - savedFrom, 1),
      write_ms: round(writeMs, 1),
    };
    this.update(ctx, { last_image: file, images_written: this.imagesWritten, frames_left: framesLeft, current_image: '', ...(framesLeft > 0 ? { phase: 'exposing', exposure_elapsed: 0, readout_percent: 0 } : {}) });
    ctx.log('info', `wrote ${file} (frame ${buffer.frame}, ${buffer.width} × ${buffer.height}, fetch ${this.last.fetch_ms} ms, convert ${this.last.convert_ms} ms, checksum ${this.last.checksum_ms} ms, write ${this.last.write_ms} ms)`);
  }
}
