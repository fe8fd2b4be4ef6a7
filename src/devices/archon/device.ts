/**
 * The STA Archon CCD controller as the generic daemon sees it: CCDLab's status names (SYSTEM,
 * STATUS and FRAME keys with `/` turned into `_`, POWER and module types as words), the exposure
 * parameters (phase, progress, last image), commands for exposures, power, the ACF and timing
 * parameters, and the images the daemon wrote (`image_info`, `image`).
 *
 * Declared status keys: SYSTEM's backplane keys and MODn_TYPE/REV/VERSION/ID, STATUS's leading
 * keys, supply rails and MODn_TEMP, for slots 1…16 (an X16 backplane; an X12 leaves 13…16 empty),
 * and FRAME's buffer keys without the hex time stamps. Further module readings (heater
 * temperatures, bias rails) are declared by the device option `moduleKeys`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { BinaryResult, defineDevice, deviceFamily, type CommandDecl, type HandlerContext, type ParamDecl, type PollGroup } from '../../daemon/api.js';
import { paramsFor } from '../../daemon/declare.js';
import { LabwireError, type WireValue } from '../../wire/types.js';
import { BACKPLANE_TYPES, BUFFER_NUMBERS, POWER_STATES, backplaneTypeName, moduleTypeName, parseAcf, powerStateName, statusName, type FrameInfo } from './codec.js';
import { ArchonDriver, archonExchangeOptions, archonSplitter } from './driver.js';
import { Exposure, PHASES } from './exposure.js';
import { IMAGE_TYPES, listImages, readImageInfo, removeStaleParts, resolveImage, type ImageType } from './image-file.js';

/** Module slots declared: 16, an X16 backplane (an X12 reports 12). */
export const DECLARED_SLOTS = 16;

const moduleKeyList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter((s) => s !== '') : v),
  z.array(z.string().regex(/^MOD\d{1,2}[/_][A-Za-z0-9_]+$/, 'a module key looks like MOD8/TEMPA or MOD8_TEMPA')),
);

export const archonOptionsSchema = z
  .object({
    /** Folder of the FITS files (a day folder per UTC date inside). */
    dataDir: z.string().min(1).default('./images'),
    /** First word of every file name. */
    prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only').default('archon'),
    /** INSTRUME of the header. */
    instrument: z.string().min(1).max(60).default('STA Archon'),
    /** The ACF's timing-script parameters. */
    exposuresParam: z.string().min(1).max(64).default('Exposures'),
    intMsParam: z.string().min(1).max(64).default('IntMS'),
    shutterParam: z.string().min(1).max(64).default('Shutter'),
    abortParam: z.string().min(1).max(64).default('AbortExposure'),
    /** STATUS and FRAME are polled this often, ms. */
    pollMs: z.coerce.number().int().min(100).max(60_000).default(1000),
    /** FRAME is read this often during an exposure, ms. */
    exposurePollMs: z.coerce.number().int().min(10).max(10_000).default(200),
    /** A frame not complete this long after its integration is given up, s. */
    readoutTimeoutS: z.coerce.number().min(1).max(3600).default(120),
    /** The longest silence between two FETCH blocks, s. */
    blockTimeoutS: z.coerce.number().min(0.1).max(60).default(5),
    /** STATUS module keys to declare beyond MODn_TEMP (`MOD8/TEMPA MOD6/LVLC_V1`), as floats. */
    moduleKeys: moduleKeyList.default([]),
    /** This daemon's name for the header (set by the daemon's config; default the prefix). */
    name: z.string().optional(),
  })
  .strict();

export type ArchonOptions = z.output<typeof archonOptionsSchema>;

/** What the daemon's handlers hold: the driver and the exposure state machine. */
export interface ArchonHandle {
  driver: ArchonDriver;
  exposure: Exposure;
  dataDir: string;
}

// ---------------------------------------------------------------- declared status keys

const p = paramsFor<ArchonHandle>();

const RAILS = ['P2V5', 'P5V', 'P6V', 'N6V', 'P17V', 'N17V', 'P35V', 'N35V', 'P100V', 'N100V', 'USER', 'HEATER'];
const FRAME_FIELDS = ['SAMPLE', 'COMPLETE', 'MODE', 'BASE', 'FRAME', 'WIDTH', 'HEIGHT', 'PIXELS', 'LINES'];

function exposureParams(): Record<string, ParamDecl<ArchonHandle>> {
  return {
    phase: p.choice(PHASES, 'exposure phase: idle, exposing, reading_out, fetching, writing'),
    exposure_time: p.float('requested time of the current or last exposure', { unit: 's' }),
    exposure_elapsed: p.float('time integrated so far in the current exposure', { unit: 's', key: true }),
    readout_percent: p.float('readout progress of the frame being read (LINES of LINECOUNT)', { unit: '%', key: true }),
    frames_left: p.int('frames of the current expose count= still to come'),
    frame: p.int("the controller's newest complete frame number"),
    last_image: p.text('absolute path of the last FITS file written, empty before the first'),
    current_image: p.text('the FITS file being written now, empty otherwise'),
    last_error: p.text('why the last exposure failed; empty when it succeeded'),
    images_written: p.int('FITS files written since the daemon started', { key: true }),
  };
}

function systemParams(): Record<string, ParamDecl<ArchonHandle>> {
  const out: Record<string, ParamDecl<ArchonHandle>> = {
    power: p.choice(POWER_STATES, 'STATUS POWER as a word: unknown, not_configured, off, intermediate, on, standby'),
    backplane_type: p.choice(BACKPLANE_TYPES, 'SYSTEM BACKPLANE_TYPE: none, X12, X16'),
    BACKPLANE_REV: p.int('backplane revision (5 = Rev F, 7 = Rev H)'),
    BACKPLANE_VERSION: p.text('backplane firmware version'),
    BACKPLANE_ID: p.text('backplane serial id'),
    POWER_ID: p.text('power supply id'),
    MOD_PRESENT: p.text('populated slots as a hex bit mask (bit n−1 = slot n)'),
  };
  for (let n = 1; n <= DECLARED_SLOTS; n++) {
    out[`MOD${n}_TYPE`] = p.text(`module type in slot ${n} (none, Driver, AD, LVXBias, HVXBias, HeaterX, …)`);
    out[`MOD${n}_REV`] = p.int(`module revision in slot ${n}`);
    out[`MOD${n}_VERSION`] = p.text(`module firmware version in slot ${n}`);
    out[`MOD${n}_ID`] = p.text(`module id in slot ${n}`);
  }
  return out;
}

function statusParams(options: ArchonOptions): Record<string, ParamDecl<ArchonHandle>> {
  const out: Record<string, ParamDecl<ArchonHandle>> = {
    VALID: p.int('1 when the STATUS values are valid'),
    COUNT: p.int('status update counter'),
    LOG: p.int('controller log entries waiting (the daemon moves them into the message log)'),
    POWERGOOD: p.int("1 when the controller's own supplies are good"),
    OVERHEAT: p.int('1 when the controller overheats'),
    BACKPLANE_TEMP: p.float('backplane temperature', { unit: '°C', deadband: 0.1, key: true }),
  };
  for (const r of RAILS) {
    out[`${r}_V`] = p.float(`${r} rail voltage`, { unit: 'V', deadband: 0.01 });
    out[`${r}_I`] = p.float(`${r} rail current`, { unit: 'A', deadband: 0.005 });
  }
  out.FANTACH = p.float('fan speed (Rev F backplanes)', { unit: 'rpm' });
  for (let n = 1; n <= DECLARED_SLOTS; n++) out[`MOD${n}_TEMP`] = p.float(`temperature of the module in slot ${n}`, { unit: '°C', deadband: 0.1 });
  for (const key of options.moduleKeys) {
    const name = statusName(key).toUpperCase();
    if (!Object.hasOwn(out, name)) out[name] = p.float(`STATUS ${key.replace(/_/, '/')} (declared by the moduleKeys option)`);
  }
  return out;
}

function frameParams(): Record<string, ParamDecl<ArchonHandle>> {
  const out: Record<string, ParamDecl<ArchonHandle>> = {
    RBUF: p.int('buffer locked for reading (0 = none)'),
    WBUF: p.int('buffer being written or last written'),
  };
  for (const field of FRAME_FIELDS) for (const n of BUFFER_NUMBERS) out[`BUF${n}${field}`] = p.int(`FRAME BUF${n}${field}`);
  return out;
}

export function archonParams(options: ArchonOptions): Record<string, ParamDecl<ArchonHandle>> {
  return { ...exposureParams(), ...systemParams(), ...statusParams(options), ...frameParams() };
}

// ---------------------------------------------------------------- replies → values

const numberOrNull = (v: string): number | null => {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : null;
};

export function systemValues(kv: Map<string, string>): Record<string, WireValue> {
  const out: Record<string, WireValue> = {};
  for (const [key, value] of kv) {
    const name = statusName(key);
    if (key === 'BACKPLANE_TYPE') out.backplane_type = backplaneTypeName(Number(value));
    else if (/^MOD\d+_TYPE$/.test(name)) out[name] = moduleTypeName(Number(value));
    else if (name === 'BACKPLANE_REV' || /^MOD\d+_REV$/.test(name)) out[name] = numberOrNull(value);
    else out[name] = value;
  }
  return out;
}

/** STATUS values; an invalid STATUS (VALID=0) says nothing but that. */
export function statusValues(kv: Map<string, string>): Record<string, WireValue> {
  if (kv.get('VALID') === '0') return { VALID: 0 };
  const out: Record<string, WireValue> = {};
  for (const [key, value] of kv) {
    if (key === 'POWER') out.power = powerStateName(Number(value));
    else out[statusName(key).toUpperCase()] = numberOrNull(value);
  }
  return out;
}

export function frameValues(info: FrameInfo): Record<string, WireValue> {
  const out: Record<string, WireValue> = { RBUF: info.rbuf, WBUF: info.wbuf };
  let newest = 0;
  for (const b of info.buffers) {
    const fields: Record<string, number> = {
      SAMPLE: b.sample,
      COMPLETE: b.complete ? 1 : 0,
      MODE: b.mode,
      BASE: b.base,
      FRAME: b.frame,
      WIDTH: b.width,
      HEIGHT: b.height,
      PIXELS: b.pixels,
      LINES: b.lines,
    };
    for (const [f, v] of Object.entries(fields)) out[`BUF${b.n}${f}`] = v;
    if (b.complete && b.frame > newest) newest = b.frame;
  }
  out.frame = newest;
  return out;
}

/** At most this many controller log entries are moved per poll (the rest wait for the next). */
const LOG_PER_POLL = 20;

async function pollStatus(h: ArchonHandle, ctx?: HandlerContext): Promise<Record<string, WireValue>> {
  const values = statusValues(await h.driver.status());
  const waiting = typeof values.LOG === 'number' ? values.LOG : 0;
  if (waiting > 0) {
    for (const entry of await h.driver.drainLog(Math.min(waiting, LOG_PER_POLL))) ctx?.log('info', `controller: ${entry}`);
  }
  return values;
}

function archonPoll(options: ArchonOptions): PollGroup<ArchonHandle>[] {
  return [
    { name: 'status', everyMs: options.pollMs, read: pollStatus },
    { name: 'frame', everyMs: options.pollMs, read: async (h) => frameValues(await h.driver.frame()) },
  ];
}

// ---------------------------------------------------------------- commands

function str(v: WireValue | undefined, fallback = ''): string {
  return v === undefined || v === null ? fallback : String(v);
}

async function imageFile(h: ArchonHandle, requested: WireValue | undefined, command: string): Promise<string> {
  const wanted = str(requested) || h.exposure.lastImage?.path || '';
  if (!wanted) throw new LabwireError('RangeError', 'no image written yet: give path=<file> or take an exposure first', command);
  try {
    return await resolveImage(h.dataDir, wanted);
  } catch (err) {
    if (err instanceof LabwireError) throw new LabwireError(err.code, err.message, command);
    throw err;
  }
}

const archonCommands: Record<string, CommandDecl<ArchonHandle>> = {
  expose: {
    description: 'take count frames of time seconds each (type object|bias|dark|flat; bias and dark keep the shutter closed); returns once the controller started',
    write: true,
    args: {
      time: { type: 'float', description: 'exposure time', unit: 's' },
      count: { type: 'int', description: 'frames to take (default 1)', optional: true },
      type: { type: 'enum', values: IMAGE_TYPES, description: 'image type for IMAGETYP and the shutter (default object)', optional: true },
      object: { type: 'string', description: 'OBJECT of the header', optional: true },
    },
    run: (h, args, ctx) =>
      h.exposure.start(
        {
          time: Number(args.time),
          count: args.count === undefined ? 1 : Number(args.count),
          type: (str(args.type, 'object').toLowerCase() as ImageType),
          object: str(args.object),
        },
        ctx,
      ),
  },
  abort: {
    description: 'stop the exposure under way (the controller drops its frame)',
    write: true,
    run: (h, _args, ctx) => h.exposure.abort(ctx),
  },
  power_on: {
    description: 'switch the CCD biases and clocks on (POWERON; needs an APPLYALL since boot)',
    write: true,
    run: async (h) => {
      await h.driver.powerOn();
    },
  },
  power_off: {
    description: 'switch the CCD biases and clocks off (POWEROFF)',
    write: true,
    run: async (h) => {
      await h.driver.powerOff();
    },
  },
  load_acf: {
    description: 'upload an ACF file from the daemon host (POLLOFF, CLEARCONFIG, WCONFIG lines, POLLON, APPLYALL; the CCD is unpowered afterwards)',
    write: true,
    args: { path: { type: 'string', description: 'ACF file on the daemon host' } },
    run: async (h, args, ctx) => {
      if (h.exposure.isBusy) throw new LabwireError('IsBusy', 'an exposure is under way; abort it or wait for state=idle before loading an ACF', 'load_acf');
      const file = path.resolve(str(args.path));
      let config;
      try {
        config = parseAcf(await readFile(file, 'latin1'));
      } catch (err) {
        throw new LabwireError('RangeError', `cannot use ${file} as an ACF: ${err instanceof Error ? err.message : String(err)}`, 'load_acf');
      }
      await h.driver.uploadConfig(config);
      ctx.log('info', `loaded ${file} (${config.length} configuration lines) and applied it; power_on to power the CCD`);
      return { lines: config.length };
    },
  },
  set_param: {
    description: 'set a timing-script parameter at once (FASTLOADPARAM name value, 0…1048575)',
    write: true,
    args: { name: { type: 'string', description: 'parameter name' }, value: { type: 'int', description: 'value', min: 0, max: 0xfffff } },
    run: async (h, args) => {
      await h.driver.fastLoadParam(str(args.name), Number(args.value));
    },
  },
  load_param: {
    description: "load a parameter's value from configuration memory into the timing core (LOADPARAM name)",
    write: true,
    args: { name: { type: 'string', description: 'parameter name' } },
    run: async (h, args) => {
      await h.driver.loadParam(str(args.name));
    },
  },
  reboot: {
    description: 'reboot the controller (the connection drops; frame numbers restart; an APPLYALL is needed again)',
    write: true,
    run: async (h) => {
      await h.driver.sendWithoutReply('REBOOT');
    },
  },
  warmboot: {
    description: "restart the controller's CPU (the connection drops; frame numbers survive)",
    write: true,
    run: async (h) => {
      await h.driver.sendWithoutReply('WARMBOOT');
    },
  },
  image_info: {
    description: 'what the daemon knows of an image it wrote (default the last): time, frame, size, statistics, and for the last image the time of each step',
    write: false,
    local: true,
    args: { path: { type: 'string', description: 'FITS file in the image folder (default the last image)', optional: true } },
    run: async (h, args) => {
      const file = await imageFile(h, args.path, 'image_info');
      const last = h.exposure.lastImage;
      const info = last && last.path === file ? last : await readImageInfo(file);
      return { ...info, mean: Math.round(info.mean * 1000) / 1000 };
    },
  },
  image_list: {
    description: 'the images in the image folder whose exposure started at or after since (unix ms), oldest first: for a monitor that was away',
    write: false,
    local: true,
    args: {
      since: { type: 'float', description: 'unix ms (0: every image)', min: 0 },
      limit: { type: 'int', description: 'at most this many (default 100)', min: 1, max: 1000, optional: true },
    },
    run: async (h, args) => {
      const limit = typeof args.limit === 'number' ? args.limit : 100;
      const { paths, more } = await listImages(h.dataDir, Number(args.since), limit);
      // One value: a JSON list keeps paths with spaces whole.
      return { count: paths.length, more, paths: JSON.stringify(paths) };
    },
  },
  image: {
    description: 'the bytes of an image the daemon wrote (default the last), as a binary block of kind fits',
    write: false,
    binary: true,
    local: true,
    args: { path: { type: 'string', description: 'FITS file in the image folder (default the last image)', optional: true } },
    run: async (h, args) => {
      const file = await imageFile(h, args.path, 'image');
      const data = await readFile(file);
      return new BinaryResult('fits', data, { path: file, bytes: data.length });
    },
  },
};

function stateText(values: Readonly<Record<string, WireValue>>): string {
  const num = (k: string): number => (typeof values[k] === 'number' ? (values[k] as number) : 0);
  const left = num('frames_left');
  const tail = left > 1 ? ` (${left} frames to go)` : '';
  switch (values.phase) {
    case 'exposing':
      return `exposing ${num('exposure_elapsed').toFixed(1)} of ${num('exposure_time')} s${tail}`;
    case 'reading_out':
      return `reading out ${Math.round(num('readout_percent'))} %${tail}`;
    case 'fetching':
      return `fetching frame ${num('frame')}${tail}`;
    case 'writing':
      return `writing ${str(values.current_image)}`;
    default:
      return '';
  }
}

export const archonDevice = defineDevice({
  type: 'archon',
  title: 'STA Archon CCD controller (TCP 4242)',
  options: archonOptionsSchema,
  exchange: archonExchangeOptions,
  splitter: archonSplitter,
  params: archonParams,
  commands: archonCommands,
  poll: archonPoll,
  createDriver: (exchange, options) => {
    const driver = new ArchonDriver(exchange);
    const dataDir = path.resolve(options.dataDir);
    const exposure = new Exposure(driver, {
      dataDir,
      prefix: options.prefix,
      params: { exposures: options.exposuresParam, intMs: options.intMsParam, shutter: options.shutterParam, abort: options.abortParam },
      pollMs: options.exposurePollMs,
      readoutTimeoutMs: options.readoutTimeoutS * 1000,
      blockTimeoutMs: options.blockTimeoutS * 1000,
      instrument: options.instrument,
      daemon: options.name ?? options.prefix,
    });
    // Before any exposure can start (the link is not up yet): what a killed daemon left half written.
    void removeStaleParts(dataDir, options.prefix);
    return { driver, exposure, dataDir };
  },
  // SYSTEM once per connection; LOCK0 so that a lock left by a fetch the link cut short is gone.
  identify: async (h) => {
    const values = systemValues(await h.driver.system());
    await h.driver.lock(0);
    return { ...values, ...h.exposure.snapshot() };
  },
  stateOverride: (values) => (values.phase !== undefined && values.phase !== 'idle' ? { state: 'busy', text: stateText(values) } : undefined),
});

export const archonFamily = deviceFamily(archonDevice, {
  loadSimulator: async () => (await import('./simulator/index.js')).createArchonSimulator,
  plots: [
    { id: 'temperatures', name: 'Controller temperatures', values: ['time', 'BACKPLANE_TEMP', 'MOD2_TEMP', 'MOD4_TEMP', 'MOD8_TEMP'], ylabel: '°C' },
    { id: 'readout', name: 'Exposure and readout', values: ['time', 'exposure_elapsed', 'readout_percent'], ylabel: 's / %' },
    { id: 'images', name: 'Frames and images', values: ['time', 'frame', 'images_written'] },
  ],
  demo: ({ dataDir, name }) => ({ deviceOptions: { dataDir: path.join(dataDir, 'images'), prefix: name, name } }),
});
