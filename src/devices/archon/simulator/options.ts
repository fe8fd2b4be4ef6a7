/**
 * The Archon simulator's options: one zod schema that takes typed objects, YAML and the strings of
 * a command line (`--option fetchRate=unlimited`), and the geometry they make of the demo ACF.
 */
import { z } from 'zod';
import { boolOption } from '../../../daemon/api.js';
import { DEMO_GEOMETRY } from '../demo-acf.js';

const int = z.coerce.number().int();
/** MiB/s; `0`, `unlimited`, `inf` or `Infinity` stream as fast as the socket takes bytes. */
const rate = z.preprocess(
  (v) => (typeof v === 'string' && /^(unlimited|inf|infinity|none)$/i.test(v.trim()) ? 0 : v),
  z.coerce.number().min(0).max(1e6),
);

export const archonSimulatorOptionsSchema = z
  .object({
    /** Simulated time runs this many times faster than the wall clock (integration, readout, TIMER). */
    timeScale: z.coerce.number().positive().max(1e6).default(1),
    seed: int.default(1),
    /** Image width, pixels (= pixelcount × taps, or × taps/2 in split mode); overrides pixelcount. */
    width: int.min(1).max(65535).optional(),
    /** Image height, pixels (= linecount, or 2 × linecount in split mode); overrides linecount. */
    height: int.min(1).max(65535).optional(),
    linecount: int.min(1).max(65535).default(DEMO_GEOMETRY.linecount),
    pixelcount: int.min(1).max(65535).default(DEMO_GEOMETRY.pixelcount),
    taps: int.min(1).max(16).default(DEMO_GEOMETRY.taps),
    /** FRAMEMODE of the boot ACF: 0 top, 1 bottom, 2 split (half the taps fill the top, half the bottom). */
    frameMode: z.coerce.number().int().min(0).max(2).default(DEMO_GEOMETRY.framemode),
    /** 0: 16-bit pixels, 1: 32-bit. */
    sampleMode: z.coerce.number().int().min(0).max(1).default(DEMO_GEOMETRY.sampleMode),
    /** Readout line rate, lines per simulated second; default: one LINECOUNT per second. */
    lineRate: z.coerce.number().positive().max(1e7).optional(),
    /** FETCH throughput, MiB/s (wall clock); 0 or `unlimited` for as fast as the socket goes. */
    fetchRate: rate.default(100),
    /** false: boot like a real unit whose flashed ACF has APPLYALL=0, POWERON=0 (POWER=1, not configured). */
    configured: boolOption.default(true),
    /** POWERON leaves POWER=3 (intermediate) this long, simulated ms, before POWER=4. */
    powerOnMs: z.coerce.number().min(0).max(60_000).default(300),
    /** After REBOOT/WARMBOOT new connections are refused this long, wall-clock ms. */
    rebootMs: z.coerce.number().min(0).max(120_000).default(2000),
    /** Concurrent TCP clients (Rev F backplanes: 1, Rev H: 4); more are closed at once. */
    maxClients: int.min(1).max(64).default(4),
    /** The timing-script parameters the exposure engine watches (matched case-insensitively). */
    exposuresParam: z.string().min(1).max(64).default('Exposures'),
    intMsParam: z.string().min(1).max(64).default('IntMS'),
    shutterParam: z.string().min(1).max(64).default('Shutter'),
    abortParam: z.string().min(1).max(64).default('AbortExposure'),
    /** Faults switched on from the start (also settable later with setFault). */
    linkDrop: boolOption.default(false),
    garble: boolOption.default(false),
    silence: boolOption.default(false),
    dropMidFetch: boolOption.default(false),
    refuse: boolOption.default(false),
    stuckReadout: boolOption.default(false),
  })
  .strict();

export type ParsedArchonOptions = z.output<typeof archonSimulatorOptionsSchema>;
/** Typed options; the schema also takes the strings a command line passes (`'100'`, `'off'`). */
export type ArchonSimulatorOptions = Partial<z.input<typeof archonSimulatorOptionsSchema>>;

export interface BootGeometry {
  linecount: number;
  pixelcount: number;
  taps: number;
  sampleMode: number;
  framemode: number;
}

/** LINECOUNT/PIXELCOUNT/TAPLINES of the boot ACF; width and height win over linecount and pixelcount. */
export function bootGeometry(o: ParsedArchonOptions): BootGeometry {
  const split = o.frameMode === 2;
  const bad = (why: string) => new Error(`invalid options for the archon simulator: ${why}`);
  if (split && o.taps % 2 !== 0) throw bad(`frameMode 2 (split) needs an even number of taps, not ${o.taps}`);
  // Split mode: half the taps side by side, two rows of taps; one line clock fills two rows.
  const across = split ? o.taps / 2 : o.taps;
  let pixelcount = o.pixelcount;
  if (o.width !== undefined) {
    if (o.width % across !== 0) throw bad(`width ${o.width} is not a multiple of ${across} taps across`);
    pixelcount = o.width / across;
  }
  let linecount = o.linecount;
  if (o.height !== undefined) {
    if (split && o.height % 2 !== 0) throw bad(`height ${o.height} of a split frame must be even`);
    linecount = split ? o.height / 2 : o.height;
  }
  return { linecount, pixelcount, taps: o.taps, sampleMode: o.sampleMode, framemode: o.frameMode };
}
