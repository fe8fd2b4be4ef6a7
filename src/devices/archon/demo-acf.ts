/**
 * The demo configuration: an ACF as the vendor GUI writes one (an INI file through QSettings:
 * keys sorted, module keys with a backslash, values holding `,` `;` or `=` in double quotes),
 * for a 12-slot X12 backplane with two AD taps reading a 512 × 512 frame. The simulator boots with
 * it flashed (APPLYALL=1, POWERON=1), so the demo lab exposes without a `load_acf`; a driver may
 * upload it like any other ACF. The timing script is a sketch of the usual parameter-driven loop
 * (the simulator does not interpret script lines: it models what such a script does).
 */

/** One populated or empty slot of the backplane, as SYSTEM reports it. */
export interface DemoModule {
  /** Slot 1…12. */
  slot: number;
  /** Module type code (reference/archon.md §4.1): 0 none, 1 Driver, 2 AD, 8 HVXBias, 9 LVXBias, 11 HeaterX … */
  type: number;
  rev: number;
  version: string;
  /** 16 hex digits. */
  id: string;
}

/** The backplane of the demo controller: an X12 (BACKPLANE_TYPE 1), Rev H (7: four connections). */
export const DEMO_BACKPLANE = {
  type: 1,
  rev: 7,
  version: '1.0.1271',
  id: '0123A4B5C6D7E8F9',
  powerId: '00A1B2C3D4E5',
} as const;

/** Slots 2…11 populated (MOD_PRESENT = 7FE), 1 and 12 empty. Ids and versions are made up. */
export const DEMO_MODULES: readonly DemoModule[] = [
  { slot: 1, type: 0, rev: 0, version: '0.0.0', id: '0000000000000000' },
  { slot: 2, type: 2, rev: 3, version: '1.0.1106', id: '1A2B3C4D00000002' },
  { slot: 3, type: 2, rev: 3, version: '1.0.1106', id: '1A2B3C4D00000003' },
  { slot: 4, type: 1, rev: 4, version: '1.0.1190', id: '1A2B3C4D00000004' },
  { slot: 5, type: 1, rev: 4, version: '1.0.1190', id: '1A2B3C4D00000005' },
  { slot: 6, type: 9, rev: 2, version: '1.0.1032', id: '1A2B3C4D00000006' },
  { slot: 7, type: 8, rev: 2, version: '1.0.1032', id: '1A2B3C4D00000007' },
  { slot: 8, type: 11, rev: 3, version: '1.0.1218', id: '1A2B3C4D00000008' },
  { slot: 9, type: 2, rev: 3, version: '1.0.1106', id: '1A2B3C4D00000009' },
  { slot: 10, type: 2, rev: 3, version: '1.0.1106', id: '1A2B3C4D0000000A' },
  { slot: 11, type: 1, rev: 4, version: '1.0.1190', id: '1A2B3C4D0000000B' },
  { slot: 12, type: 0, rev: 0, version: '0.0.0', id: '0000000000000000' },
];

/** MOD_PRESENT: bit (slot − 1) set for every populated slot, uppercase hex. */
export function modPresent(modules: readonly DemoModule[]): string {
  let mask = 0;
  for (const m of modules) if (m.type !== 0) mask |= 1 << (m.slot - 1);
  return mask.toString(16).toUpperCase();
}

/** The SYSTEM reply's pairs for an inventory, in the controller's order. */
export function systemPairs(modules: readonly DemoModule[] = DEMO_MODULES): Array<[string, string]> {
  const b = DEMO_BACKPLANE;
  const pairs: Array<[string, string]> = [
    ['BACKPLANE_TYPE', String(b.type)],
    ['BACKPLANE_REV', String(b.rev)],
    ['BACKPLANE_VERSION', b.version],
    ['BACKPLANE_ID', b.id],
    ['POWER_ID', b.powerId],
    ['MOD_PRESENT', modPresent(modules)],
  ];
  for (const m of modules) {
    pairs.push([`MOD${m.slot}_TYPE`, String(m.type)], [`MOD${m.slot}_REV`, String(m.rev)], [`MOD${m.slot}_VERSION`, m.version], [`MOD${m.slot}_ID`, m.id]);
  }
  return pairs;
}

/** What the demo ACF may be generated for (the simulator's geometry options). */
export interface DemoAcfGeometry {
  /** Lines per tap (LINECOUNT). */
  linecount?: number;
  /** Pixels per tap (PIXELCOUNT). */
  pixelcount?: number;
  /** Number of taps (TAPLINES), 1…16. */
  taps?: number;
  /** 0 top, 1 bottom, 2 split. */
  framemode?: number;
  /** 0 16-bit, 1 32-bit. */
  sampleMode?: number;
  /** The power-up flags: apply the configuration and power the CCD at boot. */
  applyAll?: boolean;
  powerOn?: boolean;
}

export const DEMO_GEOMETRY = { linecount: 512, pixelcount: 256, taps: 2, framemode: 0, sampleMode: 0 } as const;

/** The timing script: a sketch of the parameter-driven loop most Archon ACFs use. */
const SCRIPT = [
  'Start:',
  'IF AbortExposure GOTO Abort',
  'IF Exposures GOTO Expose',
  'CALL Idle',
  'GOTO Start',
  'Expose:',
  'IF Shutter CALL OpenShutter',
  'CALL Integrate(IntMS)',
  'CALL CloseShutter',
  'Exposures--',
  'CALL ReadFrame(Lines)',
  'GOTO Start',
  'Abort:',
  'CALL CloseShutter',
  'Exposures=0',
  'AbortExposure=0',
  'GOTO Start',
];

/** Quotes a value the way QSettings does when it holds a character INI treats specially. */
function iniValue(value: string): string {
  return /[,;=]/.test(value) ? `"${value}"` : value;
}

/** The ACF text for a geometry (defaults: the demo's 2 × 256 pixels × 512 lines, 16-bit). */
export function demoAcf(geometry: DemoAcfGeometry = {}): string {
  const g = { ...DEMO_GEOMETRY, ...geometry };
  const taps = Math.max(1, Math.min(16, Math.trunc(g.taps)));
  const config: Record<string, string> = {
    ADXCDS: '0',
    APPLYALL: geometry.applyAll === false ? '0' : '1',
    BIGBUF: '0',
    CONSTANTS: '1',
    CONSTANT0: 'ClockPeriod=10',
    FRAMEMODE: String(g.framemode),
    LINECOUNT: String(g.linecount),
    PIXELCOUNT: String(g.pixelcount),
    POWERON: geometry.powerOn === false ? '0' : '1',
    RAWENABLE: '0',
    RAWENDLINE: '0',
    RAWSAMPLES: '1024',
    RAWSEL: '0',
    RAWSTARTLINE: '0',
    RAWSTARTPIXEL: '0',
    SAMPLEMODE: String(g.sampleMode),
    SHD1: '120',
    SHD2: '220',
    SHP1: '20',
    SHP2: '120',
    STATES: '2',
    'STATE0/NAME': 'Idle',
    'STATE0/CONTROL': '0',
    'STATE1/NAME': 'Readout',
    'STATE1/CONTROL': '0',
    TAPLINES: String(taps),
    TRIGINENABLE: '0',
    TRIGOUTFORCE: '0',
    LINES: String(SCRIPT.length),
    PARAMETERS: '6',
    PARAMETER0: 'Exposures=0',
    PARAMETER1: 'IntMS=0',
    PARAMETER2: 'Shutter=0',
    PARAMETER3: 'AbortExposure=0',
    PARAMETER4: `Lines=${g.linecount}`,
    PARAMETER5: `Pixels=${g.pixelcount}`,
    'MOD2/LABEL': 'AD top',
    'MOD3/LABEL': 'AD bottom',
    'MOD6/LVLC_V1': '5',
    'MOD6/LVLC_LABEL1': 'VDD_OUT',
    'MOD7/HVHC_V1': '24',
    'MOD7/HVHC_LABEL1': 'VOD',
    'MOD8/HEATERATARGET': '-100',
    'MOD8/HEATERAP': '10',
    'MOD8/HEATERAI': '1',
    'MOD8/HEATERAD': '0',
    'MOD8/SENSORALABEL': 'CCD',
  };
  SCRIPT.forEach((line, i) => (config[`LINE${i}`] = line));
  for (let i = 0; i < taps; i++) config[`TAPLINE${i}`] = `AD${i + 1}${i % 2 === 0 ? 'L' : 'R'}, 1, 1000`;
  const keys = Object.keys(config).sort();
  const out = ['[CONFIG]'];
  for (const key of keys) out.push(`${key.replace(/\//g, '\\')}=${iniValue(config[key]!)}`);
  out.push('', '[SYSTEM]');
  for (const [key, value] of systemPairs()) out.push(`${key}=${value}`);
  out.push('');
  return out.join('\n');
}

/** The demo controller's configuration as an ACF file's text. */
export const DEMO_ACF: string = demoAcf();
