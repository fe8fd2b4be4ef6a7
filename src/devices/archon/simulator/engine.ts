/**
 * What the timing script of the demo ACF does, modelled in simulated time: while the core is
 * released and the CCD powered, a watched parameter (`Exposures`) > 0 starts an integration of
 * `IntMS` ms (shutter per `Shutter`), then `Exposures` is decremented and the frame is read out
 * into the next unlocked buffer, advancing BUFnLINES at the line rate; at the end the buffer is
 * COMPLETE with the next frame number, and the loop repeats while `Exposures` > 0.
 * `AbortExposure` > 0 drops the current frame and zeroes `Exposures` (the script clears the flag).
 * HOLDTIMING pauses the script where it is; a reset (RESETTIMING, LOADTIMING, APPLYALL, power
 * off) drops the current frame. The state is computed lazily: every command first advances the
 * engine to "now", so events happen in simulated-time order however seldom the host looks.
 */
import type { AppliedGeometry } from './config-memory.js';
import type { FrameBuffers, SimBuffer } from './buffers.js';
import { imageBytes, modelImage, type ImageSpec } from './image-model.js';

/** Ticks of the 100 MHz TIMER per simulated ms. */
export const TICKS_PER_MS = 100_000;

export function ticks(ms: number): bigint {
  return BigInt(Math.max(0, Math.round(ms * TICKS_PER_MS)));
}

export interface EngineHost {
  geometry(): AppliedGeometry | undefined;
  /** Simulated ms at which the CCD is (or will be) powered; undefined while it is off. */
  poweredFrom(): number | undefined;
  /** Reads a running parameter by its name (case-insensitive); 0 when the table has none. */
  param(name: string): number;
  setParam(name: string, value: number): void;
  /** Lines per simulated second. */
  lineRate(): number;
  stuck(): boolean;
  seed: number;
  names: { exposures: string; intMs: string; shutter: string; abort: string };
}

interface Integrating {
  kind: 'integrating';
  startedAt: number;
  /** Simulated ms of integration done (the core may have been held). */
  done: number;
  intMs: number;
  shutter: boolean;
}

interface ReadingOut {
  kind: 'readout';
  buffer: SimBuffer;
  frame: number;
  spec: ImageSpec;
  /** The frame's pixels as memory bytes, made when someone can first see part of them. */
  image?: Buffer;
  geometry: AppliedGeometry;
  rowBytes: number;
  /** Simulated ms of readout done. */
  done: number;
  /** The stuck fault's limit of `done`. */
  limit?: number;
  linesCopied: number;
  reAt: number;
  feAt: number;
  intMs: number;
  shutter: boolean;
}

type Phase = { kind: 'idle' } | Integrating | ReadingOut;

export interface EngineStatus {
  phase: 'idle' | 'integrating' | 'readout';
  held: boolean;
  /** Frames completed since boot (the last BUFnFRAME). */
  frames: number;
  lines?: number;
}

export class ExposureEngine {
  private phase: Phase = { kind: 'idle' };
  private at = 0;
  held = false;
  /** Frame counter: the number of the last complete frame (0 after boot). */
  frames = 0;

  constructor(
    private readonly host: EngineHost,
    private readonly buffers: FrameBuffers,
  ) {}

  get status(): EngineStatus {
    const p = this.phase;
    const s: EngineStatus = { phase: p.kind, held: this.held, frames: this.frames };
    if (p.kind === 'readout') s.lines = this.linesOf(p, p.done);
    return s;
  }

  /** Back to boot state at simulated time `now` (REBOOT). */
  reboot(now: number): void {
    this.phase = { kind: 'idle' };
    this.at = now;
    this.held = false;
    this.frames = 0;
  }

  /** Drops the current frame (RESETTIMING, LOADTIMING, APPLYALL, POWEROFF). */
  reset(now: number): void {
    this.advance(now);
    this.phase = { kind: 'idle' };
  }

  hold(now: number): void {
    this.advance(now);
    this.held = true;
  }

  release(now: number): void {
    this.advance(now);
    this.held = false;
  }

  /** A parameter changed at `now` (after advance): the abort flag acts at once. */
  parameterChanged(now: number): void {
    const { abort, exposures } = this.host.names;
    if (this.host.param(abort) > 0) {
      this.phase = { kind: 'idle' };
      this.host.setParam(exposures, 0);
      this.host.setParam(abort, 0);
    }
    this.advance(now);
  }

  /** The stuck fault changed: a readout stops at half its lines (or where it is, if past that). */
  stuckChanged(now: number): void {
    this.advance(now);
    if (this.phase.kind === 'readout') this.phase.limit = this.host.stuck() ? this.stuckLimit(this.phase) : undefined;
  }

  private stuckLimit(p: ReadingOut): number {
    const half = (Math.floor(p.geometry.linecount / 2) / this.host.lineRate()) * 1000;
    return Math.max(p.done, half);
  }

  private readoutMs(g: AppliedGeometry): number {
    return (g.linecount / this.host.lineRate()) * 1000;
  }

  private linesOf(p: ReadingOut, done: number): number {
    return Math.min(p.geometry.linecount, Math.floor((done * this.host.lineRate()) / 1000 + 1e-9));
  }

  /** Runs the script from the last time it ran up to simulated time `to`. */
  advance(to: number): void {
    if (to < this.at) to = this.at;
    let guard = 0;
    while (this.at < to || (this.at === to && this.canStart(to))) {
      if (++guard > 10_000) break;
      if (this.held) {
        this.at = to;
        break;
      }
      const p = this.phase;
      if (p.kind === 'idle') {
        const from = this.startTime(to);
        if (from === undefined) {
          this.at = to;
          break;
        }
        const { intMs, shutter } = this.host.names;
        this.phase = { kind: 'integrating', startedAt: from, done: 0, intMs: this.host.param(intMs), shutter: this.host.param(shutter) > 0 };
        this.at = from;
        continue;
      }
      if (p.kind === 'integrating') {
        const end = this.at + (p.intMs - p.done);
        if (end > to) {
          p.done += to - this.at;
          this.at = to;
          break;
        }
        this.at = end;
        this.beginReadout(p, end);
        continue;
      }
      const total = this.readoutMs(p.geometry);
      const limit = Math.min(total, p.limit ?? Infinity);
      const reach = p.done + (to - this.at);
      if (reach < total || limit < total) {
        p.done = Math.min(reach, limit);
        this.copyLines(p, this.linesOf(p, p.done));
        this.at = to;
        break;
      }
      this.at += total - p.done;
      p.done = total;
      this.complete(p, this.at);
    }
    // What the host can now read: at most one pixel model per buffer, however many frames passed.
    for (const b of this.buffers.buffers) b.materialize();
  }

  private canStart(now: number): boolean {
    return !this.held && this.phase.kind === 'idle' && this.startTime(now) !== undefined;
  }

  /** When an idle script starts the next integration, if it does by `to`. */
  private startTime(to: number): number | undefined {
    if (this.host.param(this.host.names.exposures) <= 0 || !this.host.geometry()) return undefined;
    const powered = this.host.poweredFrom();
    if (powered === undefined) return undefined;
    const from = Math.max(this.at, powered);
    return from <= to ? from : undefined;
  }

  private beginReadout(p: Integrating, now: number): void {
    const { exposures } = this.host.names;
    this.host.setParam(exposures, Math.max(0, this.host.param(exposures) - 1));
    const g = this.host.geometry()!;
    const buffer = this.buffers.pick();
    const frame = this.frames + 1;
    const spec: ImageSpec = { width: g.width, height: g.height, sampleMode: g.sampleMode, frame, exposureMs: p.intMs, shutterOpen: p.shutter, seed: this.host.seed };
    Object.assign(buffer.info, { sample: g.sampleMode, complete: false, mode: g.framemode, width: g.width, height: g.height, pixels: 0, lines: 0 });
    const next: ReadingOut = {
      kind: 'readout', buffer, frame, spec, geometry: g, rowBytes: g.width * (g.sampleMode === 1 ? 4 : 2),
      done: 0, linesCopied: 0, reAt: p.startedAt, feAt: now, intMs: p.intMs, shutter: p.shutter,
    };
    if (this.host.stuck()) next.limit = this.stuckLimit(next);
    this.phase = next;
  }

  /** Moves the rows of line clocks [copied, lines) into buffer memory (split: one clock fills a top and a bottom row). */
  private copyLines(p: ReadingOut, lines: number): void {
    const g = p.geometry;
    if (lines <= p.linesCopied) return;
    if (!p.image) {
      // Rows not yet read out still show the buffer's previous frame.
      p.buffer.materialize();
      p.buffer.reserve(g.bytes);
      p.image = imageBytes(modelImage(p.spec));
    }
    for (let k = p.linesCopied; k < lines; k++) {
      const rows = g.framemode === 2 ? [k, g.height - 1 - k] : g.framemode === 1 ? [g.height - 1 - k] : [k];
      for (const r of rows) p.image.copy(p.buffer.memory, r * p.rowBytes, r * p.rowBytes, (r + 1) * p.rowBytes);
    }
    p.linesCopied = Math.max(p.linesCopied, lines);
    p.buffer.info.lines = p.linesCopied;
    p.buffer.info.pixels = p.linesCopied > 0 ? g.pixelcount : 0;
  }

  private complete(p: ReadingOut, now: number): void {
    if (p.image) this.copyLines(p, p.geometry.linecount);
    else {
      // Nobody saw this readout in progress: the whole frame replaces what the buffer held.
      if (p.buffer.pending && imageBytesOf(p.buffer.pending) > p.geometry.bytes) p.buffer.materialize();
      p.buffer.pending = p.spec;
      p.linesCopied = p.geometry.linecount;
      p.buffer.info.lines = p.linesCopied;
      p.buffer.info.pixels = p.geometry.pixelcount;
    }
    this.frames = p.frame;
    Object.assign(p.buffer.info, {
      complete: true,
      frame: p.frame,
      timestamp: ticks(now),
      reTimestamp: ticks(p.reAt),
      feTimestamp: ticks(p.feAt),
    });
    this.phase = { kind: 'idle' };
  }
}

function imageBytesOf(spec: ImageSpec): number {
  return spec.width * spec.height * (spec.sampleMode === 1 ? 4 : 2);
}
