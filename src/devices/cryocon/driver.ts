/**
 * Typed API for a Cryo-con Model 24C / 32 over an Exchange, which keeps at least 100 ms between
 * requests (plus a margin) and resynchronises after a timeout or a reply that cannot be right.
 *
 * Readings come back in each input's display units; the driver reads the units in the same request
 * and reports temperatures in kelvin, so a front panel set to °C or °F never turns into wrong
 * numbers (and the driver never changes the units by itself). Writes are sent together with their
 * read-back query in one line, because set commands are never answered: a refused set shows as an
 * extra `NACK` field, a clamped one as a read-back that differs.
 *
 * The status poll is one grouped request per cycle: every input's reading and units, the control
 * state and every loop's output, heater read-back and heater status, plus as many of the slower
 * settings (setpoints, sources, types, gains, alarms, names, statistics…) as fit in the
 * 255-character line, in rotation. `readEverything()` reads all of it at once, in as few lines as fit.
 */
import type { ExchangeLike, ExchangeOptions, ReplySplitter, SerialSettings } from '../../links/types.js';
import { lineSplitter } from '../../links/splitters.js';
import { LabwireError } from '../../wire/types.js';
import {
  CRYOCON_MODELS,
  DISPLAY_UNITS,
  LOOP_RANGES,
  MAX_LINE_CHARS,
  deltaFromKelvin,
  deltaToKelvin,
  encodeRequest,
  formatValue,
  fromKelvin,
  isNack,
  joinCommands,
  loopTypesFor,
  parseAlarm,
  parseHeaterPercent,
  parseNumber,
  parseOnOff,
  parsePadded,
  parseQuoted,
  parseReading,
  parseSource,
  parseSuffixed,
  quoteName,
  round6,
  splitReply,
  toKelvin,
  type AlarmState,
  type Channel,
  type CryoconModelName,
  type DisplayUnit,
  type LineItem,
  type LoopNumber,
  type LoopType,
} from './codec.js';

/**
 * The hardware takes a request every 100 ms; 20 ms more keep requests that meet delays on the way
 * (a busy network, a serial-to-TCP bridge) from arriving closer than that. A 255-character request
 * and its reply take ~0.6 s at 9600 baud, so 2 s leaves ample margin.
 */
export const cryoconExchangeOptions: ExchangeOptions = {
  minGapMs: 120,
  // A reply sent twice comes back to back: it arrives unasked within these 10 ms and is caught.
  gapAfterReplyMs: 10,
  timeoutMs: 2000,
  // After a timeout: 2 s of silence, then `*IDN?`, whose `Cryo-con,…` answer no other query shares.
  resyncProbe: {
    request: encodeRequest('*IDN?'),
    isAnswer: (reply) => isIdentityReply(reply.toString('latin1')),
  },
  // 2 s timeout + 2 × (2 s silence + 2 s probe): a unit that stops answering is reported after 10 s.
  silentLinkMs: 10_000,
  initialBackoffMs: 500,
  maxBackoffMs: 10_000,
};

/**
 * Whether a reply is an `*IDN?` answer (`Cryo-con,24C,204683,1.01A`): one field, the maker first.
 * No other query is answered like that, so `*IDN?` serves as the Exchange's resync probe.
 */
export function isIdentityReply(reply: string): boolean {
  return printable(reply) && splitReply(reply).length === 1 && /^\s*cryo-?con\s*,/i.test(reply);
}

/** RS-232 factory default: 9600 baud, 8N1, no handshake (null-modem cable). */
export const CRYOCON_SERIAL_DEFAULTS = {
  baudRate: 9600,
  dataBits: 8,
  parity: 'none',
  stopBits: 1,
  rtscts: false,
} as const satisfies Partial<SerialSettings>;

/** Replies end with LF (CR LF accepted); blank lines carry nothing. */
export function cryoconSplitter(): ReplySplitter {
  return lineSplitter({ terminators: ['\n'], stripCR: true, skipEmpty: true, maxLength: 4096 });
}

/** Why an input has no temperature in kelvin. */
export type SensorState = 'ok' | 'fault' | 'uncalibrated' | 'not_applicable' | 'sensor_units' | 'refused';
export const SENSOR_STATES: readonly SensorState[] = ['ok', 'fault', 'uncalibrated', 'not_applicable', 'sensor_units', 'refused'];

export interface ChannelReadout {
  /** Kelvin; null when there is no valid reading (see `sensor`). */
  temperature?: number | null;
  sensor?: SensorState;
  /** The reading as sent, in display units. */
  reading?: number | null;
  units?: DisplayUnit | null;
  alarm?: AlarmState | null;
  name?: string | null;
  /** Statistics since their last reset: kelvin, K², K/min. */
  minimum?: number | null;
  maximum?: number | null;
  variance?: number | null;
  slope?: number | null;
  offset?: number | null;
}

export interface LoopReadout {
  source?: Channel | null;
  /** Kelvin. */
  setpoint?: number | null;
  type?: LoopType | null;
  range?: string | null;
  /** Kelvin per minute. */
  rate?: number | null;
  pgain?: number | null;
  igain?: number | null;
  dgain?: number | null;
  /** Manual output power, %. */
  pman?: number | null;
  /** Output power, % of full scale. */
  output?: number | null;
  /** Heater read-back, %. */
  heater?: number | null;
  /** `--Htr OK--`, `-Overtemp-`, … as the unit says it. */
  heaterStatus?: string | null;
  /** The source input's temperature, K (what the loop regulates). */
  temperature?: number | null;
}

/** What one read returned; only what was read (or follows from it) is present. */
export interface CryoconReadout {
  control?: boolean | null;
  systemName?: string | null;
  channels: Partial<Record<Channel, ChannelReadout>>;
  loops: Partial<Record<LoopNumber, LoopReadout>>;
  /** Queries the unit currently answers `NACK`, e.g. `LOOP 1:HTRR?`. */
  refused: string[];
}

export interface CryoconIdentity {
  idn: string;
  manufacturer: string;
  /** Model field as sent, e.g. `24C`. */
  model: string;
  serial: string;
  firmware: string;
}

export interface CryoconDriverOptions {
  model?: CryoconModelName;
  /** Inputs that are wired and read; the others are never polled (default: all of the model's). */
  inputs?: readonly Channel[];
}

interface PollItem extends LineItem {
  /** `A.temperature`, `1.output`, `control`, `sysname`. */
  key: string;
  /** Whether a field can be the answer (NACK is always accepted). */
  valid: (field: string) => boolean;
}

const anyNumber = (f: string): boolean => parseNumber(f) !== undefined;
/** A percentage, with or without its `%`. */
const percent = (f: string): boolean => parseNumber(f) !== undefined || parseHeaterPercent(f) !== undefined;
/** Statistics: a number, or `N/A`, `-------`, `.......` when there is none. */
const statistic = (f: string): boolean => parseReading(f) !== undefined;
const anyText = (f: string): boolean => f.trim() !== '';
/** Names come back quoted; an unquoted one (as the predecessor's simulator sent), even empty, is taken too. */
const nameField = (): boolean => true;
type ChannelKey = 'temperature' | 'units' | 'alarm' | 'name' | 'minimum' | 'maximum' | 'variance' | 'slope' | 'offset';

/** Poll keys of the loop settings that setLoopNumber reads back. */
const READ_BACK_KEYS: Readonly<Record<string, string>> = { PGA: 'pgain', IGA: 'igain', DGA: 'dgain', PMAN: 'pman' };

/** Printable ASCII only: anything else is line noise, never a Cryo-con reply. */
function printable(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

export class CryoconDriver {
  readonly model: CryoconModelName;
  readonly channels: readonly Channel[];
  readonly loops: readonly LoopNumber[];
  /** Read every cycle. */
  private readonly fixed: PollItem[];
  /** Read in rotation, as many per cycle as fit. */
  private readonly rotating: PollItem[];
  private cursor = 0;
  /** Last field seen for each key: the raw text, or null for NACK. */
  private readonly raw = new Map<string, string | null>();
  /** Label (`LOOP 1:HTRR?`) of each key, for NACK reports. */
  private readonly labels = new Map<string, string>();

  constructor(
    private readonly exchange: ExchangeLike,
    options: CryoconDriverOptions = {},
  ) {
    this.model = options.model ?? 'M24C';
    const spec = CRYOCON_MODELS[this.model];
    const inputs = options.inputs ?? spec.channels;
    const unknown = inputs.filter((c) => !(spec.channels as readonly Channel[]).includes(c));
    if (unknown.length > 0) throw new Error(`the ${this.model} has no input ${unknown.join(', ')}; inputs: ${spec.channels.join(', ')}`);
    this.channels = spec.channels.filter((c) => inputs.includes(c));
    this.loops = spec.loops;
    const item = (key: string, group: string, command: string, valid: PollItem['valid']): PollItem => {
      this.labels.set(key, `${group ? `${group}:` : ''}${command}`);
      return { key, group, command, valid };
    };
    this.fixed = [
      ...this.channels.flatMap((c) => [
        item(`${c}.temperature`, `INP ${c}`, 'TEMP?', (f) => parseReading(f) !== undefined),
        item(`${c}.units`, `INP ${c}`, 'UNIT?', (f) => parsePadded(f, DISPLAY_UNITS) !== undefined),
      ]),
      item('control', '', 'CONT?', (f) => parseOnOff(f) !== undefined),
      ...this.loops.flatMap((n) => [
        item(`${n}.output`, `LOOP ${n}`, 'OUTP?', percent),
        item(`${n}.heater`, `LOOP ${n}`, 'HTRR?', percent),
        item(`${n}.heaterStatus`, `LOOP ${n}`, 'ERR?', anyText),
      ]),
    ];
    this.rotating = [
      ...this.loops.flatMap((n) => [
        item(`${n}.source`, `LOOP ${n}`, 'SOUR?', (f) => parseSource(f) !== undefined),
        item(`${n}.setpoint`, `LOOP ${n}`, 'SETP?', (f) => parseSuffixed(f) !== undefined || f.trim().toUpperCase() === 'N/A'),
        item(`${n}.type`, `LOOP ${n}`, 'TYPE?', (f) => parsePadded(f, loopTypesFor(n)) !== undefined),
        item(`${n}.range`, `LOOP ${n}`, 'RANG?', (f) => parsePadded(f, LOOP_RANGES[n]) !== undefined),
        item(`${n}.rate`, `LOOP ${n}`, 'RATE?', anyNumber),
        item(`${n}.pgain`, `LOOP ${n}`, 'PGA?', anyNumber),
        item(`${n}.igain`, `LOOP ${n}`, 'IGA?', anyNumber),
        item(`${n}.dgain`, `LOOP ${n}`, 'DGA?', anyNumber),
        item(`${n}.pman`, `LOOP ${n}`, 'PMAN?', percent),
      ]),
      ...this.channels.flatMap((c) => [
        item(`${c}.alarm`, `INP ${c}`, 'ALAR?', (f) => parseAlarm(f) !== undefined),
        item(`${c}.name`, `INP ${c}`, 'NAM?', nameField),
        item(`${c}.minimum`, `INP ${c}`, 'MIN?', statistic),
        item(`${c}.maximum`, `INP ${c}`, 'MAX?', statistic),
        item(`${c}.variance`, `INP ${c}`, 'VARI?', statistic),
        item(`${c}.slope`, `INP ${c}`, 'SLOP?', statistic),
        item(`${c}.offset`, `INP ${c}`, 'OFFS?', statistic),
      ]),
      item('sysname', 'SYST', 'NAM?', nameField),
    ];
    const fixedLength = joinCommands(this.fixed).length;
    const longest = Math.max(...this.rotating.map((i) => joinCommands([i]).length));
    if (fixedLength + 1 + longest + 1 > MAX_LINE_CHARS) {
      throw new Error(`the ${this.model} status poll does not fit in one ${MAX_LINE_CHARS}-character line`);
    }
  }

  /** How many poll cycles a full rotation of the slower settings takes. */
  get cyclesPerRotation(): number {
    let cycles = 0;
    let done = 0;
    while (done < this.rotating.length) {
      const items = [...this.fixed];
      let added = 0;
      while (done + added < this.rotating.length && fits([...items, this.rotating[done + added]!])) {
        items.push(this.rotating[done + added]!);
        added++;
      }
      done += added;
      cycles++;
    }
    return cycles;
  }

  // ---------------------------------------------------------------- low level

  /**
   * Sends one line of queries and returns one field per query, `NACK` kept as it came. The reply is
   * checked before it is accepted: printable, one field per query, each field a possible answer;
   * anything else fails the request and makes the Exchange resynchronise.
   */
  private async ask(items: readonly { label: string; valid: (field: string) => boolean }[], line: string): Promise<string[]> {
    const reply = await this.exchange.request(encodeRequest(line), {
      validate: (buf) => {
        const text = buf.toString('latin1');
        if (!printable(text)) throw new Error('the reply holds characters a Cryo-con never sends (line noise?)');
        const fields = splitReply(text);
        if (fields.length !== items.length) throw new Error(`${fields.length} field(s) for ${items.length} quer${items.length === 1 ? 'y' : 'ies'}`);
        fields.forEach((f, i) => {
          const it = items[i]!;
          if (!isNack(f) && !it.valid(f)) throw new Error(`field ${i + 1} "${f}" is no answer to ${it.label}`);
        });
        return true;
      },
    });
    if (reply === undefined) throw new LabwireError('CommunicationFailed', `no reply from the controller to ${line}`);
    return splitReply(reply.toString('latin1'));
  }

  private async askItems(items: readonly PollItem[]): Promise<Set<string>> {
    const fields = await this.ask(
      items.map((i) => ({ label: this.labels.get(i.key)!, valid: i.valid })),
      joinCommands(items),
    );
    items.forEach((it, i) => this.raw.set(it.key, isNack(fields[i]!) ? null : fields[i]!));
    return new Set(items.map((i) => i.key));
  }

  /**
   * Sends set commands with their read-back query on one line. Set commands are silent unless the
   * unit refuses one (`NACK`); returns the read-back field. The read-back is checked like the poll
   * checks that setting (`readBack` names its poll key, e.g. `1.pgain`): a field that cannot be
   * its answer fails the request and makes the Exchange resynchronise, so a set is never
   * confirmed by a reply to something else.
   */
  private async setAndRead(items: LineItem[], readBack: string, what: string): Promise<string[]> {
    const line = joinCommands(items);
    const queries = 1;
    const sets = items.length - queries;
    const valid = this.validFor(readBack);
    const reply = await this.exchange.request(encodeRequest(line), {
      validate: (buf) => {
        const text = buf.toString('latin1');
        if (!printable(text)) throw new Error('the reply holds characters a Cryo-con never sends (line noise?)');
        const fields = splitReply(text);
        const extra = fields.length - queries;
        if (extra < 0 || extra > sets || fields.slice(0, extra).some((f) => !isNack(f))) {
          throw new Error(`${fields.length} field(s) for ${queries} quer${queries === 1 ? 'y' : 'ies'}`);
        }
        const answer = fields[fields.length - 1]!;
        if (!isNack(answer) && !valid(answer)) throw new Error(`"${answer}" is no answer to ${this.labels.get(readBack) ?? readBack}`);
        return true;
      },
    });
    if (reply === undefined) throw new LabwireError('CommunicationFailed', `no reply from the controller to ${line}`);
    const fields = splitReply(reply.toString('latin1'));
    const answers = fields.slice(fields.length - queries);
    if (fields.length > queries) {
      const shown = answers.map((a) => a.trim()).join(', ');
      throw new LabwireError('HardwareError', `the controller refused ${what} (NACK to "${line}"); it still reads ${shown}`);
    }
    if (answers.some(isNack)) throw new LabwireError('HardwareError', `the controller answered NACK when reading back ${what} ("${line}")`);
    return answers;
  }

  /** The shape check of a poll key's answer (`A.units`, `1.pgain`, `control`). */
  private validFor(key: string): (field: string) => boolean {
    return [...this.fixed, ...this.rotating].find((i) => i.key === key)?.valid ?? anyText;
  }

  // ---------------------------------------------------------------- reads

  /** `*IDN?`: checks that this is a Cryo-con of the configured model. */
  async identify(): Promise<CryoconIdentity> {
    const [idn = ''] = await this.ask([{ label: '*IDN?', valid: anyText }], '*IDN?');
    const parts = idn.split(',').map((p) => p.trim());
    const identity: CryoconIdentity = {
      idn: idn.trim(),
      manufacturer: parts[0] ?? '',
      model: parts[1] ?? '',
      serial: parts[2] ?? '',
      firmware: parts[3] ?? '',
    };
    if (!/cryo-?con/i.test(identity.manufacturer)) {
      throw new LabwireError('HardwareError', `the device answers *IDN? with "${identity.idn}": not a Cryo-con controller`);
    }
    const expected = CRYOCON_MODELS[this.model].idnModels as readonly string[];
    if (!expected.includes(identity.model.toUpperCase())) {
      const other = Object.entries(CRYOCON_MODELS).find(([, m]) => (m.idnModels as readonly string[]).includes(identity.model.toUpperCase()))?.[0];
      const hint = other ? `; start the daemon with --option model=${other}` : '';
      throw new LabwireError('HardwareError', `the controller is a model ${identity.model} ("${identity.idn}"), not the configured ${this.model}${hint}`);
    }
    return identity;
  }

  /** One status cycle: exactly one request of at most 255 characters. */
  async pollCycle(): Promise<CryoconReadout> {
    const items = [...this.fixed];
    let added = 0;
    while (added < this.rotating.length) {
      const next = this.rotating[(this.cursor + added) % this.rotating.length]!;
      if (!fits([...items, next])) break;
      items.push(next);
      added++;
    }
    const fresh = await this.askItems(items);
    this.cursor = (this.cursor + added) % this.rotating.length;
    return this.readout(fresh);
  }

  /** Everything the poll covers, in as few requests as fit in 255-character lines. */
  async readEverything(): Promise<CryoconReadout> {
    const all = [...this.fixed, ...this.rotating];
    const fresh = new Set<string>();
    let batch: PollItem[] = [];
    for (const it of all) {
      if (batch.length > 0 && !fits([...batch, it])) {
        for (const k of await this.askItems(batch)) fresh.add(k);
        batch = [];
      }
      batch.push(it);
    }
    if (batch.length > 0) for (const k of await this.askItems(batch)) fresh.add(k);
    return this.readout(fresh);
  }

  /** One input: reading, units, alarm, name and statistics, in one request. */
  async readChannel(channel: Channel): Promise<ChannelReadout> {
    this.checkChannel(channel);
    const items = [...this.fixed, ...this.rotating].filter((i) => i.key.startsWith(`${channel}.`));
    const out = this.readout(await this.askItems(items));
    return out.channels[channel] ?? {};
  }

  /** One loop: every setting and output, in one request (units of its source included). */
  async readLoop(loop: LoopNumber): Promise<LoopReadout> {
    this.checkLoop(loop);
    const items = [...this.fixed, ...this.rotating].filter((i) => i.key.startsWith(`${loop}.`) || i.key.endsWith('.units'));
    const fresh = await this.askItems(items);
    const source = this.sourceOf(loop);
    if (source) {
      for (const k of await this.askItems(this.fixed.filter((i) => i.key === `${source}.temperature`))) fresh.add(k);
    }
    return this.readout(fresh).loops[loop] ?? {};
  }

  /** Temperature of one input in kelvin (null with the reason when there is none). */
  async temperature(channel: Channel): Promise<{ kelvin: number | null; sensor: SensorState; reading: number | null; units: DisplayUnit | null }> {
    this.checkChannel(channel);
    const items = this.fixed.filter((i) => i.key === `${channel}.temperature` || i.key === `${channel}.units`);
    const c = this.readout(await this.askItems(items)).channels[channel] ?? {};
    return { kelvin: c.temperature ?? null, sensor: c.sensor ?? 'refused', reading: c.reading ?? null, units: c.units ?? null };
  }

  async isControlOn(): Promise<boolean> {
    const [f = ''] = await this.ask([{ label: 'CONT?', valid: (x) => parseOnOff(x) !== undefined }], ':CONT?');
    const on = parseOnOff(f);
    if (on === undefined) throw new LabwireError('HardwareError', `the controller answered NACK to CONT?`);
    return on;
  }

  /** A raw line of queries (for people and tests): the fields of its one-line reply. */
  async query(line: string): Promise<string[]> {
    if (!line.includes('?')) throw new LabwireError('WrongType', `"${line}" holds no query; use command() for set commands`);
    const reply = await this.exchange.request(encodeRequest(line));
    if (reply === undefined) throw new LabwireError('CommunicationFailed', `no reply from the controller to ${line}`);
    return splitReply(reply.toString('latin1'));
  }

  /**
   * A raw line of set commands. The unit answers nothing to them, so `;:*OPC?` is appended and its
   * `1` awaited; a NACK in front of it means the unit refused a command of the line.
   */
  async command(line: string): Promise<void> {
    if (line.includes('?')) throw new LabwireError('WrongType', `"${line}" holds a query; use query() for it`);
    const fields = await this.query(`${line.trim().replace(/;+$/, '')};:*OPC?`);
    if (fields.some(isNack)) throw new LabwireError('HardwareError', `the controller refused "${line}" (NACK)`);
  }

  // ---------------------------------------------------------------- writes (each confirmed by read-back)

  /** Engages the control loops (`CONTrol`) or stops them (`STOP`); returns the read-back. */
  async setControl(on: boolean): Promise<boolean> {
    const [f = ''] = await this.setAndRead(
      [
        { group: '', command: on ? 'CONT' : 'STOP' },
        { group: '', command: 'CONT?' },
      ],
      'control',
      on ? 'CONTROL' : 'STOP',
    );
    const state = parseOnOff(f);
    this.raw.set('control', f);
    if (state !== on) throw new LabwireError('HardwareError', `the controller did not ${on ? 'engage' : 'stop'} the loops: control reads ${f.trim()}`);
    return state;
  }

  async setUnits(channel: Channel, units: DisplayUnit): Promise<DisplayUnit> {
    this.checkChannel(channel);
    const g = `INP ${channel}`;
    const [f = ''] = await this.setAndRead([{ group: g, command: `UNIT ${units}` }, { group: g, command: 'UNIT?' }], `${channel}.units`, `units ${units} on input ${channel}`);
    const back = parsePadded(f, DISPLAY_UNITS);
    this.raw.set(`${channel}.units`, f);
    if (back !== units) throw new LabwireError('HardwareError', `input ${channel} kept units ${f.trim()} instead of ${units}`);
    return back;
  }

  async setChannelName(channel: Channel, name: string): Promise<string> {
    this.checkChannel(channel);
    const g = `INP ${channel}`;
    const [f = ''] = await this.setAndRead([{ group: g, command: `NAM ${quoteName(name, `input ${channel} name`)}` }, { group: g, command: 'NAM?' }], `${channel}.name`, `the name of input ${channel}`);
    this.raw.set(`${channel}.name`, f);
    return this.checkText(parseQuoted(f), name, `input ${channel} name`);
  }

  async setSystemName(name: string): Promise<string> {
    const [f = ''] = await this.setAndRead([{ group: 'SYST', command: `NAM ${quoteName(name, 'system name')}` }, { group: 'SYST', command: 'NAM?' }], 'sysname', 'the system name');
    this.raw.set('sysname', f);
    return this.checkText(parseQuoted(f), name, 'system name');
  }

  async setSource(loop: LoopNumber, channel: Channel): Promise<Channel> {
    this.checkLoop(loop);
    this.checkChannel(channel);
    const g = `LOOP ${loop}`;
    const [f = ''] = await this.setAndRead([{ group: g, command: `SOUR ${channel}` }, { group: g, command: 'SOUR?' }], `${loop}.source`, `source ${channel} for loop ${loop}`);
    this.raw.set(`${loop}.source`, f);
    const back = parseSource(f);
    if (back !== channel) throw new LabwireError('HardwareError', `loop ${loop} kept source ${f.trim()} instead of ${channel}`);
    return back;
  }

  async setType(loop: LoopNumber, type: LoopType): Promise<LoopType> {
    this.checkLoop(loop);
    if (!loopTypesFor(loop).includes(type)) throw new LabwireError('RangeError', `loop ${loop} has no type ${type}; types: ${loopTypesFor(loop).join(', ')}`);
    const g = `LOOP ${loop}`;
    const [f = ''] = await this.setAndRead([{ group: g, command: `TYPE ${type}` }, { group: g, command: 'TYPE?' }], `${loop}.type`, `type ${type} for loop ${loop}`);
    this.raw.set(`${loop}.type`, f);
    const back = parsePadded(f, loopTypesFor(loop));
    if (back !== type) throw new LabwireError('HardwareError', `loop ${loop} kept type ${f.trim()} instead of ${type}`);
    return back;
  }

  async setRange(loop: LoopNumber, range: string): Promise<string> {
    this.checkLoop(loop);
    const ranges = LOOP_RANGES[loop] as readonly string[];
    const wanted = range.toUpperCase();
    if (!ranges.includes(wanted)) throw new LabwireError('RangeError', `loop ${loop} has no range ${range}; ranges: ${ranges.join(', ')}`);
    const g = `LOOP ${loop}`;
    const [f = ''] = await this.setAndRead([{ group: g, command: `RANG ${wanted}` }, { group: g, command: 'RANG?' }], `${loop}.range`, `range ${wanted} for loop ${loop}`);
    this.raw.set(`${loop}.range`, f);
    const back = parsePadded(f, ranges);
    if (back !== wanted) throw new LabwireError('HardwareError', `loop ${loop} kept range ${f.trim()} instead of ${wanted}`);
    return back;
  }

  /**
   * Sets the setpoint in kelvin. The unit takes it in its source input's display units, which are
   * read first in the same request as the source; the read-back (with its unit suffix) must match.
   */
  async setSetpoint(loop: LoopNumber, kelvin: number): Promise<number> {
    this.checkLoop(loop);
    const units = await this.sourceUnits(loop, 'setpoint');
    const value = fromKelvin(kelvin, units)!;
    const g = `LOOP ${loop}`;
    const sent = formatValue(value, 3);
    const [f = ''] = await this.setAndRead([{ group: g, command: `SETP ${sent}` }, { group: g, command: 'SETP?' }], `${loop}.setpoint`, `setpoint ${sent} ${units} for loop ${loop}`);
    this.raw.set(`${loop}.setpoint`, f);
    const back = this.setpointKelvin(f, units);
    // One digit in the third decimal of the unit, plus the unit's conversion.
    if (back === null || Math.abs(back - kelvin) > 0.0011) {
      throw new LabwireError('HardwareError', `loop ${loop} holds setpoint ${f.trim()} instead of ${sent} ${units} (${kelvin} K): refused or limited by the controller (MAXSET?)`);
    }
    return back;
  }

  /** Ramp rate in kelvin per minute (the unit takes its source's display units per minute). */
  async setRate(loop: LoopNumber, kelvinPerMinute: number): Promise<number> {
    this.checkLoop(loop);
    const units = await this.sourceUnits(loop, 'ramp rate');
    const value = deltaFromKelvin(kelvinPerMinute, units)!;
    const g = `LOOP ${loop}`;
    const sent = formatValue(value, 3);
    const [f = ''] = await this.setAndRead([{ group: g, command: `RATE ${sent}` }, { group: g, command: 'RATE?' }], `${loop}.rate`, `rate ${sent} ${units}/min for loop ${loop}`);
    this.raw.set(`${loop}.rate`, f);
    const back = parseNumber(f);
    const k = back === undefined ? undefined : deltaToKelvin(back, units);
    if (k === undefined || Math.abs(k - kelvinPerMinute) > 0.0011) throw new LabwireError('HardwareError', `loop ${loop} holds rate ${f.trim()} instead of ${sent} ${units}/min`);
    return k;
  }

  async setGain(loop: LoopNumber, which: 'P' | 'I' | 'D', value: number): Promise<number> {
    return this.setLoopNumber(loop, `${which}GA`, `${which}GA`, value, `${which} gain`);
  }

  async setManualPower(loop: LoopNumber, percent: number): Promise<number> {
    return this.setLoopNumber(loop, 'PMAN', 'PMAN', percent, 'manual output power');
  }

  /** Clears the latched alarm of one input (the predecessor always cleared input A). */
  async clearAlarm(channel: Channel): Promise<void> {
    this.checkChannel(channel);
    await this.command(`:INP ${channel}:ALAR:CLE`);
  }

  /** Restarts the statistics (minimum, maximum, variance, slope, offset) of one input. */
  async resetStatistics(channel: Channel): Promise<void> {
    this.checkChannel(channel);
    await this.command(`:INP ${channel}:STAT:RES`);
  }

  // ---------------------------------------------------------------- helpers

  private async setLoopNumber(loop: LoopNumber, set: string, get: string, value: number, what: string): Promise<number> {
    this.checkLoop(loop);
    const g = `LOOP ${loop}`;
    const sent = formatValue(value, 3);
    const [f = ''] = await this.setAndRead([{ group: g, command: `${set} ${sent}` }, { group: g, command: `${get}?` }], `${loop}.${READ_BACK_KEYS[get] ?? get.toLowerCase()}`, `${what} ${sent} for loop ${loop}`);
    const back = parseNumber(f);
    if (back === undefined || Math.abs(back - Number(sent)) > 0.0011) throw new LabwireError('HardwareError', `loop ${loop} holds ${what} ${f.trim()} instead of ${sent}`);
    return round6(back);
  }

  private checkText(back: string, wanted: string, what: string): string {
    if (back !== wanted) throw new LabwireError('HardwareError', `the controller holds ${what} "${back}" instead of "${wanted}"`);
    return back;
  }

  /** Source input of a loop and its display units, read fresh in one request. */
  private async sourceUnits(loop: LoopNumber, what: string): Promise<'K' | 'C' | 'F'> {
    const items = [...this.rotating.filter((i) => i.key === `${loop}.source`), ...this.fixed.filter((i) => i.key.endsWith('.units'))];
    await this.askItems(items);
    const source = this.sourceOf(loop);
    if (!source) throw new LabwireError('HardwareError', `cannot read the source input of loop ${loop}`);
    const units = this.unitsOf(source);
    if (units === null || units === 'S') {
      throw new LabwireError(
        'HardwareError',
        `loop ${loop} regulates on input ${source}, which shows ${units === 'S' ? 'sensor units (S)' : 'no units'}: a ${what} in kelvin cannot be converted; set ch${source}.units to K, C or F`,
      );
    }
    return units;
  }

  private sourceOf(loop: LoopNumber): Channel | undefined {
    const f = this.raw.get(`${loop}.source`);
    return f ? parseSource(f) : undefined;
  }

  private unitsOf(channel: Channel): DisplayUnit | null {
    const f = this.raw.get(`${channel}.units`);
    return f ? (parsePadded(f, DISPLAY_UNITS) ?? null) : null;
  }

  /** A setpoint reply in kelvin: its own unit suffix when it has one, else the source's units. */
  private setpointKelvin(field: string, sourceUnits: DisplayUnit | null): number | null {
    const p = parseSuffixed(field);
    if (!p) return null;
    const unit = p.unit === '' ? (sourceUnits ?? '') : p.unit;
    return toKelvin(p.value, unit) ?? null;
  }

  private checkChannel(channel: Channel): void {
    if (!this.channels.includes(channel)) {
      const wired = (CRYOCON_MODELS[this.model].channels as readonly Channel[]).includes(channel);
      throw new LabwireError(
        'Disabled',
        wired
          ? `input ${channel} is not in use (inputs in use: ${this.channels.join(', ')}; see the inputs option)`
          : `the ${this.model} has no input ${channel}; inputs: ${CRYOCON_MODELS[this.model].channels.join(', ')}`,
      );
    }
  }

  private checkLoop(loop: LoopNumber): void {
    if (!this.loops.includes(loop)) throw new LabwireError('Disabled', `the ${this.model} has no loop ${loop}; loops: ${this.loops.join(', ')}`);
  }

  /** Typed values of the fresh keys, converted with the units and sources known now. */
  private readout(fresh: ReadonlySet<string>): CryoconReadout {
    const out: CryoconReadout = { channels: {}, loops: {}, refused: [] };
    for (const [key, f] of this.raw) if (f === null) out.refused.push(this.labels.get(key) ?? key);
    if (fresh.has('control')) out.control = this.field('control', parseOnOff);
    if (fresh.has('sysname')) out.systemName = this.field('sysname', parseQuoted);
    for (const c of this.channels) {
      const r: ChannelReadout = {};
      const units = this.unitsOf(c);
      const has = (k: ChannelKey) => fresh.has(`${c}.${k}`);
      if (has('units')) r.units = units;
      if (has('temperature')) Object.assign(r, this.temperatureOf(c, units));
      if (has('alarm')) r.alarm = this.field(`${c}.alarm`, parseAlarm);
      if (has('name')) r.name = this.field(`${c}.name`, parseQuoted);
      const stat = (k: 'minimum' | 'maximum' | 'offset' | 'slope' | 'variance'): number | null => {
        const v = this.field(`${c}.${k}`, parseNumber);
        if (v === null || units === null) return null;
        if (k === 'minimum' || k === 'maximum' || k === 'offset') return toKelvin(v, units) ?? null;
        if (k === 'slope') return deltaToKelvin(v, units) ?? null;
        const d = deltaToKelvin(1, units);
        return d === undefined ? null : round6(v * d * d);
      };
      for (const k of ['minimum', 'maximum', 'variance', 'slope', 'offset'] as const) if (has(k)) r[k] = stat(k);
      if (Object.keys(r).length > 0) out.channels[c] = r;
    }
    for (const n of this.loops) {
      const r: LoopReadout = {};
      const has = (k: string) => fresh.has(`${n}.${k}`);
      const source = this.sourceOf(n);
      const srcUnits = source ? this.unitsOf(source) : null;
      if (has('source')) r.source = source ?? null;
      if (has('setpoint')) {
        const f = this.raw.get(`${n}.setpoint`);
        r.setpoint = f ? this.setpointKelvin(f, srcUnits) : null;
      }
      if (has('type')) r.type = this.field(`${n}.type`, (f) => parsePadded(f, loopTypesFor(n)));
      if (has('range')) r.range = this.field(`${n}.range`, (f) => parsePadded(f, LOOP_RANGES[n]));
      if (has('rate')) {
        const v = this.field(`${n}.rate`, parseNumber);
        r.rate = v === null || srcUnits === null ? null : (deltaToKelvin(v, srcUnits) ?? null);
      }
      for (const k of ['pgain', 'igain', 'dgain'] as const) if (has(k)) r[k] = this.field(`${n}.${k}`, parseNumber);
      for (const k of ['pman', 'output', 'heater'] as const) if (has(k)) r[k] = this.field(`${n}.${k}`, (f) => parseNumber(f) ?? parseHeaterPercent(f));
      if (has('heaterStatus')) r.heaterStatus = this.field(`${n}.heaterStatus`, (f) => f.trim());
      if (source && fresh.has(`${source}.temperature`)) r.temperature = this.temperatureOf(source, srcUnits).temperature;
      else if (has('source')) r.temperature = null;
      if (Object.keys(r).length > 0) out.loops[n] = r;
    }
    return out;
  }

  private field<T>(key: string, parse: (f: string) => T | undefined): T | null {
    const f = this.raw.get(key);
    if (f === null || f === undefined) return null;
    return parse(f) ?? null;
  }

  private temperatureOf(channel: Channel, units: DisplayUnit | null): { temperature: number | null; sensor: SensorState; reading: number | null } {
    const f = this.raw.get(`${channel}.temperature`);
    if (f === null || f === undefined) return { temperature: null, sensor: 'refused', reading: null };
    const reading = parseReading(f);
    switch (reading?.kind) {
      case 'fault':
        return { temperature: null, sensor: 'fault', reading: null };
      case 'uncalibrated':
        return { temperature: null, sensor: 'uncalibrated', reading: null };
      case 'value': {
        if (units === 'S' || units === null) return { temperature: null, sensor: 'sensor_units', reading: reading.value };
        return { temperature: toKelvin(reading.value, units) ?? null, sensor: 'ok', reading: reading.value };
      }
      default:
        return { temperature: null, sensor: 'not_applicable', reading: null };
    }
  }
}

/** Whether the items make one line within the limit (with its LF). */
function fits(items: readonly LineItem[]): boolean {
  return joinCommands(items).length + 1 <= MAX_LINE_CHARS;
}
