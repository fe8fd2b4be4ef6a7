/**
 * A CTI server that behaves like MITS Pro: login required (result 2 for other credentials),
 * per-channel state (assigned schedule, running / idle / finished, test and step time), one cell
 * per channel (battery.ts) driven by a tiny schedule format, SET_MV at most once per 200 ms per
 * meta variable, and the vendor's result codes. Wire quirks and faults for tests: the pycti
 * spoofer's two extra feedback bytes, replies cut into small pieces, a connection closed in the
 * middle of a reply, and the standard faults of the sim kit (`linkDrop`, `garble`, `silence`).
 */
import fs from 'node:fs';
import net from 'node:net';
import { z } from 'zod';
import { boolOption, type Simulator, type SimulatorOptions, type StandardFault } from '../../daemon/api.js';
import { SimHost, type SimSession } from '../../links/sim-host.js';
import { SimFaults, Transcript, gaussian, seededRandom } from '../kits/sim/index.js';
import { Cell, BUILTIN_SCHEDULES, exitConditionText, parseSchedule, parseScheduleLibrary, stepText, type RunState, type Schedule, type Step } from './battery.js';
import {
  ALARM_STATUSES,
  CHECKSUM_BYTES,
  CMD,
  CtiDecodeError,
  CtiStreamDecoder,
  FEEDBACK,
  META_VARIABLE_COUNT,
  MV_TYPE_IV,
  MV_VALUE_FLOAT,
  STATUS,
  blankChannelRecord,
  checksum,
  commandName,
  decodeAssignRequest,
  decodeChannelActionRequest,
  decodeChannelsInfoRequest,
  decodeConnectRequest,
  decodeLoginRequest,
  decodeSetMvRequest,
  decodeStartRequest,
  encodeChannelsInfoFeedback,
  encodeCommonFeedback,
  encodeConnectFeedback,
  encodeLoginFeedback,
  parseFrame,
  udFromMetaCode,
  type ChannelRecord,
  type Credentials,
  type CtiFrame,
} from './codec.js';
import { PASSWORD_VARIABLE, USERNAME_VARIABLE, parseDotEnv } from './credentials.js';

/** Text options may arrive as numbers from the CLI (`--option password=1234`). */
const text = (max: number) =>
  z
    .union([z.string(), z.number()])
    .transform(String)
    .pipe(z.string().max(max));

export const arbinSimulatorOptionsSchema = z.object({
  /** Physics speed-up: 60 makes a simulated minute pass per second. */
  timeScale: z.coerce.number().positive().max(1e7).default(1),
  seed: z.coerce.number().int().default(1),
  channels: z.coerce.number().int().min(1).max(512).default(16),
  /** Accepted credentials; default: ARBIN_CTI_USERNAME / ARBIN_CTI_PASSWORD from `secretsFile`, then the environment. */
  username: text(32).optional(),
  password: text(32).optional(),
  secretsFile: z.string().min(1).optional(),
  /** IsAllowToControl in the login reply; without it control commands are refused. */
  allowControl: boolOption.default(true),
  serialNumber: text(16).default('LWSIM0001'),
  note: text(255).optional(),
  /** Cell of every channel. */
  capacityAh: z.coerce.number().positive().max(10_000).default(2),
  initialSoc: z.coerce.number().min(0).max(1).default(0.5),
  resistanceOhm: z.coerce.number().min(0.001).max(10).default(0.05),
  maxCurrentA: z.coerce.number().positive().max(10_000).default(10),
  /** Standard deviation of the voltage noise, V (reported values only). */
  noise: z.coerce.number().min(0).max(0.1).default(0.0005),
  /** Extra schedules: `name: steps | name2: steps` (see battery.ts for the step format). */
  schedules: z.string().default(''),
  /** SET_MV on the same meta variable more often than this is refused (result 0x14). */
  mvMinIntervalMs: z.coerce.number().min(0).max(60_000).default(200),
  /** Answer aux requests (AuxDataOptions 0x400) with one temperature per channel. */
  auxTemperature: boolOption.default(true),
  ambientC: z.coerce.number().min(-40).max(80).default(25),
  /** Emit feedback 2 bytes too long, as pycti's ArbinSpoofer does. */
  pyctiFrames: boolOption.default(false),
  /** Write replies in pieces of this many bytes (0: whole), to exercise reassembly. */
  chunkBytes: z.coerce.number().int().min(0).max(1 << 20).default(0),
});

type ParsedOptions = z.output<typeof arbinSimulatorOptionsSchema>;
/** Typed options; the schema also takes the strings a command line passes (`'60'`, `'off'`). */
export type ArbinSimulatorOptions = Partial<z.input<typeof arbinSimulatorOptionsSchema>>;

export interface ArbinSimulatorHooks {
  /** Clock in ms (default performance.now); tests pass a fake one to step physics and rate limits. */
  now?: () => number;
  /** Environment for the credentials (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** A condition forced onto a channel for tests (what the status then says). */
export type ChannelFault = 'unsafe' | 'commFailure';

export interface ArbinTranscriptEntry {
  t: number;
  cmd: number;
  name: string;
  /** The raw 0-based channel field of the request, where it has one (−1: all). */
  channelIndex?: number;
  /** Result byte or login result sent back; undefined: no reply. */
  result?: number;
}

export interface ArbinSimulatorStats {
  requests: number;
  logins: number;
  failedLogins: number;
  /** Requests other than LOGIN before a successful login: not answered. */
  beforeLogin: number;
  /** Requests with a command code the server does not serve: not answered. */
  unanswered: number;
  /** Frames with a bad checksum or length, and bytes of garbage, from clients. */
  badFrames: number;
  connections: number;
}

/** What one connection knows: whether it logged in. */
export interface ArbinSession {
  loggedIn: boolean;
  username?: string;
  /** IPv4 address the client reached, for the login reply. */
  localAddress?: string;
}

interface SimChannel {
  cell: Cell;
  assigned: string | undefined;
  testName: string;
  barcode: string;
  mv: number[];
  mvSetAt: (number | undefined)[];
  /** A stopped run that RESUME can continue. */
  stopped: { run: RunState; schedule: string } | undefined;
  fault: ChannelFault | undefined;
}

const LOG_LIMIT = 2000;

function statusForStep(step: Step | undefined): number {
  switch (step?.kind) {
    case 'charge':
    case 'cv':
      return STATUS.charge;
    case 'discharge':
      return STATUS.discharge;
    case 'rest':
      return STATUS.rest;
    default:
      return STATUS.running;
  }
}

/** pycti's feedback: the checksum after two zero bytes, dwLen unchanged (total = dwLen + 2). */
export function toPyctiFrame(frame: Buffer): Buffer {
  const total = frame.length;
  const out = Buffer.alloc(total + CHECKSUM_BYTES);
  frame.copy(out, 0, 0, total - CHECKSUM_BYTES);
  out.writeUInt16LE(checksum(out, total), total);
  return out;
}

export class ArbinSimulator implements Simulator {
  private readonly options: ParsedOptions;
  private readonly now: () => number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly noise: () => number;
  private readonly startedAt: number;
  private offsetS = 0;
  private simulatedS = 0;
  private readonly chans: SimChannel[];
  private readonly library = new Map<string, Schedule>();
  private credentials: Credentials | undefined;
  private allowControl: boolean;
  private closeMidReply = false;
  private readonly faultSwitches: SimFaults = new SimFaults({ dropClients: () => this.host.dropTcpClients(), what: 'the Arbin simulator' });
  private readonly host = new SimHost({ open: (client) => this.openSession(client.socket!), refuse: () => this.faultSwitches.refusing });
  private readonly log = new Transcript<ArbinTranscriptEntry>(LOG_LIMIT);
  private readonly _stats: ArbinSimulatorStats = { requests: 0, logins: 0, failedLogins: 0, beforeLogin: 0, unanswered: 0, badFrames: 0, connections: 0 };

  constructor(options: ArbinSimulatorOptions | SimulatorOptions = {}, hooks: ArbinSimulatorHooks = {}) {
    this.options = arbinSimulatorOptionsSchema.parse(options);
    this.now = hooks.now ?? (() => performance.now());
    this.env = hooks.env ?? process.env;
    const o = this.options;
    this.noise = gaussian(seededRandom(o.seed));
    this.startedAt = this.now();
    this.allowControl = o.allowControl;
    for (const [name, steps] of Object.entries(BUILTIN_SCHEDULES)) this.library.set(name.toLowerCase(), parseSchedule(name, steps));
    for (const s of parseScheduleLibrary(o.schedules)) this.library.set(s.name.toLowerCase(), s);
    this.chans = Array.from({ length: o.channels }, () => ({
      cell: new Cell({ capacityAh: o.capacityAh, resistanceOhm: o.resistanceOhm, maxCurrentA: o.maxCurrentA }, o.initialSoc),
      assigned: undefined,
      testName: '',
      barcode: '',
      mv: new Array<number>(META_VARIABLE_COUNT).fill(0),
      mvSetAt: new Array<number | undefined>(META_VARIABLE_COUNT).fill(undefined),
      stopped: undefined,
      fault: undefined,
    }));
    this.credentials = this.resolveCredentials();
  }

  private resolveCredentials(): Credentials | undefined {
    const o = this.options;
    let file: Record<string, string> = {};
    if (o.secretsFile) {
      // The simulator reads its secrets at start; a missing file is a configuration error.
      file = parseDotEnv(readFileOrThrow(o.secretsFile), o.secretsFile);
    }
    const username = o.username ?? file[USERNAME_VARIABLE] ?? this.env[USERNAME_VARIABLE];
    const password = o.password ?? file[PASSWORD_VARIABLE] ?? this.env[PASSWORD_VARIABLE];
    return username && password ? { username, password } : undefined;
  }

  // ---- state for tests and the CLI ----

  get channelCount(): number {
    return this.chans.length;
  }

  /** Whether any credentials are configured (without them every login gets result 2). */
  get hasCredentials(): boolean {
    return this.credentials !== undefined;
  }

  get stats(): Readonly<ArbinSimulatorStats> {
    return { ...this._stats };
  }

  /** Requests with their replies, oldest first. */
  get transcript(): readonly ArbinTranscriptEntry[] {
    return this.log.all;
  }

  /** Schedule names the simulator knows. */
  get scheduleNames(): string[] {
    return [...this.library.values()].map((s) => s.name);
  }

  /** The channel as the cycler would report it now (1-based; no noise). */
  channel(channel: number): ChannelRecord & { soc: number; mv: number[]; assigned: string | undefined } {
    this.sync();
    const c = this.chan(channel);
    return { ...this.record(channel - 1, false), soc: c.cell.soc, mv: [...c.mv], assigned: c.assigned };
  }

  /** Runs the physics forward by simulated seconds without waiting. */
  advance(seconds: number): void {
    if (seconds > 0) this.offsetS += seconds;
    this.sync();
  }

  setAllowControl(allow: boolean): void {
    this.allowControl = allow;
  }

  setCredentials(credentials: Credentials | undefined): void {
    this.credentials = credentials;
  }

  /** Forces a channel into Unsafe or CommFailure (undefined clears it). */
  setChannelFault(channel: number, fault: ChannelFault | undefined): void {
    this.chan(channel).fault = fault;
  }

  /** The next n replies arrive with one byte flipped (the checksum no longer matches). */
  garbleNextReplies(n = 1): void {
    this.faultSwitches.garbleNext(n);
  }

  /** `linkDrop` (connections closed, new ones refused), `garble` (every reply), `silence` (nothing heard or answered). */
  setFault(fault: StandardFault, active: boolean): void {
    this.faultSwitches.set(fault, active);
  }

  get faults(): StandardFault[] {
    return this.faultSwitches.active;
  }

  /** The next reply stops half-way and the server closes the connection. */
  closeMidNextReply(): void {
    this.closeMidReply = true;
  }

  private chan(channel: number): SimChannel {
    const c = this.chans[channel - 1];
    if (!Number.isInteger(channel) || !c) throw new Error(`the simulator has channels 1 … ${this.chans.length}, not ${channel}`);
    return c;
  }

  // ---- physics clock ----

  private sync(): void {
    const target = ((this.now() - this.startedAt) / 1000) * this.options.timeScale + this.offsetS;
    const dt = target - this.simulatedS;
    if (dt <= 0) return;
    this.simulatedS = target;
    for (const c of this.chans) {
      if (c.cell.run) c.cell.advance(dt, (ud) => c.mv[ud - 1] ?? 0);
    }
  }

  private record(index: number, noisy: boolean, aux = false): ChannelRecord {
    const c = this.chans[index]!;
    const cell = c.cell;
    const run = cell.run ?? cell.lastRun;
    const r = blankChannelRecord(index + 1);
    let status = cell.run ? statusForStep(cell.step) : cell.finished ? STATUS.finished : STATUS.idle;
    if (c.fault === 'unsafe') status = STATUS.unsafe;
    r.status = status;
    r.commFailure = c.fault === 'commFailure';
    r.schedule = c.assigned ?? '';
    r.testName = c.testName;
    r.barcode = c.barcode;
    r.exitCondition = cell.run ? exitConditionText(cell.step) : 'N/A';
    r.stepText = run ? stepText(run.schedule, run.stepIndex, run.cycle) : '';
    r.testTime = run?.testTime ?? 0;
    r.stepTime = run?.stepTime ?? 0;
    const current = cell.current;
    r.voltage = cell.voltage + (noisy ? this.options.noise * this.noise() : 0);
    r.current = current;
    r.power = r.voltage * current;
    r.chargeCapacity = cell.counters.chargeCapacity;
    r.dischargeCapacity = cell.counters.dischargeCapacity;
    r.chargeEnergy = cell.counters.chargeEnergy;
    r.dischargeEnergy = cell.counters.dischargeEnergy;
    r.internalResistance = this.options.resistanceOhm;
    r.dvdt = cell.dvdt;
    if (aux && this.options.auxTemperature) {
      // A little I²R heating on a cell with ~0.5 K/W to ambient.
      r.aux.temperature.push({ value: this.options.ambientC + 0.5 * current * current * this.options.resistanceOhm, dt: 0 });
    }
    return r;
  }

  // ---- the protocol ----

  /** A fresh per-connection state, for driving `handleRequest` without a socket. */
  newSession(): ArbinSession {
    return { loggedIn: false };
  }

  /**
   * Answers one request frame (checked: prefix, length, checksum) with zero or more feedback
   * frames, exactly as on the wire but without the wire quirks. Unknown commands, and anything
   * but LOGIN before a login, get no answer.
   */
  handleRequest(bytes: Buffer, session: ArbinSession): Buffer[] {
    this.sync();
    const frame = parseFrame(bytes, 'request');
    this._stats.requests++;
    const entry: ArbinTranscriptEntry = { t: this.now(), cmd: frame.cmd, name: commandName(frame.cmd) };
    this.log.push(entry);
    if (frame.cmd !== CMD.LOGIN && !session.loggedIn) {
      this._stats.beforeLogin++;
      return [];
    }
    let replies: Buffer[];
    try {
      replies = this.dispatch(frame, session, entry);
    } catch (err) {
      // A request of the right code but the wrong size: MITS Pro would not answer it either.
      if (err instanceof CtiDecodeError) {
        this._stats.badFrames++;
        return [];
      }
      throw err;
    }
    if (replies.length === 0) this._stats.unanswered++;
    return replies;
  }

  private dispatch(frame: CtiFrame, session: ArbinSession, entry: ArbinTranscriptEntry): Buffer[] {
    switch (frame.cmd) {
      case CMD.LOGIN:
        return [this.login(frame, session, entry)];
      case CMD.CONNECT: {
        const req = decodeConnectRequest(frame);
        entry.result = 0;
        return [encodeConnectFeedback({ kickOutProtection: req.kickOutProtection, result: 0 })];
      }
      case CMD.GET_CHANNELS_INFO:
        return [this.channelsInfo(frame, entry)];
      case CMD.ASSIGN_SCHEDULE:
        return this.assign(frame, entry);
      case CMD.START_SCHEDULE:
        return [this.start(frame, entry)];
      case CMD.STOP_SCHEDULE:
      case CMD.RESUME_SCHEDULE:
        return this.stopOrResume(frame, entry);
      case CMD.SET_MV_VALUE:
        return [this.setMv(frame, entry)];
      default:
        return [];
    }
  }

  private login(frame: CtiFrame, session: ArbinSession, entry: ArbinTranscriptEntry): Buffer {
    const given = decodeLoginRequest(frame);
    const ok = this.credentials !== undefined && given.username === this.credentials.username && given.password === this.credentials.password;
    session.loggedIn = ok;
    session.username = ok ? given.username : undefined;
    entry.result = ok ? 1 : 2;
    if (!ok) {
      this._stats.failedLogins++;
      return encodeLoginFeedback({ result: 2 });
    }
    this._stats.logins++;
    const ip = session.localAddress && net.isIPv4(session.localAddress) ? session.localAddress : '127.0.0.1';
    return encodeLoginFeedback({
      result: 1,
      ip,
      serialNumber: this.options.serialNumber,
      note: this.options.note ?? `labwire simulated cycler, ${this.chans.length} channels`,
      nickname: 'labwire simulator',
      version: 1,
      allowControl: this.allowControl,
      channelCount: this.chans.length,
      userType: 0,
    });
  }

  private exists(index: number): boolean {
    return Number.isInteger(index) && index >= 0 && index < this.chans.length;
  }

  private channelsInfo(frame: CtiFrame, entry: ArbinTranscriptEntry): Buffer {
    const req = decodeChannelsInfoRequest(frame);
    entry.channelIndex = req.onlyChannel;
    const aux = (req.auxOptions & 0x400) !== 0;
    let records: ChannelRecord[] = [];
    if (req.onlyChannel === -1) {
      records = this.chans.map((_, i) => this.record(i, true, aux));
      if (req.selection === 2) records = records.filter((r) => this.chans[r.channel - 1]!.cell.run !== undefined);
      if (req.selection === 3) records = records.filter((r) => ALARM_STATUSES.has(r.status));
    } else if (this.exists(req.onlyChannel)) {
      records = [this.record(req.onlyChannel, true, aux)];
    }
    // An index the cycler does not have: an empty list (there is no error code for it).
    return encodeChannelsInfoFeedback(records);
  }

  private assign(frame: CtiFrame, entry: ArbinTranscriptEntry): Buffer[] {
    const req = decodeAssignRequest(frame);
    entry.channelIndex = req.all ? -1 : req.channelIndex;
    const indices = req.all ? this.chans.map((_, i) => i) : [req.channelIndex];
    const replies = indices.map((index) => {
      const result = this.assignOne(index, req.schedule, req.barcode);
      entry.result = result;
      return encodeCommonFeedback(FEEDBACK.ASSIGN_SCHEDULE, { channelIndex: index, result });
    });
    return replies;
  }

  private assignOne(index: number, schedule: string, barcode: string): number {
    if (!this.exists(index)) return 0x10;
    if (!this.allowControl) return 0x11;
    const c = this.chans[index]!;
    if (c.cell.run) return 0x14;
    if (schedule.trim() === '') return 0x12;
    if (!this.library.has(schedule.toLowerCase())) return 0x13;
    c.assigned = schedule;
    c.barcode = barcode;
    c.cell.finished = false;
    return 0;
  }

  private start(frame: CtiFrame, entry: ArbinTranscriptEntry): Buffer {
    const req = decodeStartRequest(frame);
    entry.channelIndex = req.channelIndices[0];
    const fail = (index: number, result: number): Buffer => {
      entry.result = result;
      return encodeCommonFeedback(FEEDBACK.START_SCHEDULE, { channelIndex: index, result });
    };
    if (req.testName.trim() === '') return fail(req.channelIndices[0] ?? 0, 0x23);
    if (req.channelIndices.length === 0) return fail(0, 0x1f);
    if (!this.allowControl) return fail(req.channelIndices[0]!, 0x11);
    for (const index of req.channelIndices) {
      if (!this.exists(index)) return fail(index, 0x10);
      const c = this.chans[index]!;
      if (c.cell.run || c.fault === 'unsafe') return fail(index, 0x12);
      if (c.fault === 'commFailure') return fail(index, 0x13);
      if (!c.assigned) return fail(index, 0x15);
    }
    for (const index of req.channelIndices) {
      const c = this.chans[index]!;
      c.testName = req.testName;
      // MITS Pro 8 ignores the MV_UD values of ASSIGN: meta variables start at 0.
      c.mv.fill(0);
      c.mvSetAt.fill(undefined);
      c.stopped = undefined;
      c.cell.start(this.library.get(c.assigned!.toLowerCase())!, (ud) => c.mv[ud - 1] ?? 0);
    }
    // v1.1: −1 in the channel field means success.
    entry.result = 0;
    return encodeCommonFeedback(FEEDBACK.START_SCHEDULE, { channelIndex: -1, result: 0 });
  }

  private stopOrResume(frame: CtiFrame, entry: ArbinTranscriptEntry): Buffer[] {
    const req = decodeChannelActionRequest(frame);
    const stop = frame.cmd === CMD.STOP_SCHEDULE;
    entry.channelIndex = req.all ? -1 : req.channelIndex;
    const indices = req.all ? this.chans.map((_, i) => i) : [req.channelIndex];
    const fbCode = stop ? FEEDBACK.STOP_SCHEDULE : FEEDBACK.RESUME_SCHEDULE;
    return indices.map((index) => {
      const result = stop ? this.stopOne(index) : this.resumeOne(index);
      entry.result = result;
      return encodeCommonFeedback(fbCode, { channelIndex: index, result });
    });
  }

  private stopOne(index: number): number {
    if (!this.exists(index)) return 0x10;
    if (!this.allowControl) return 0x11;
    const c = this.chans[index]!;
    const run = c.cell.stop();
    if (run && c.assigned) c.stopped = { run, schedule: c.assigned };
    return 0;
  }

  private resumeOne(index: number): number {
    if (!this.exists(index)) return 0x10;
    if (!this.allowControl) return 0x11;
    const c = this.chans[index]!;
    if (c.cell.run || c.fault === 'unsafe') return 0x12;
    if (!c.stopped) return 0x15;
    if (c.assigned?.toLowerCase() !== c.stopped.schedule.toLowerCase()) return 0x23;
    c.cell.resume(c.stopped.run, (ud) => c.mv[ud - 1] ?? 0);
    c.stopped = undefined;
    return 0;
  }

  private setMv(frame: CtiFrame, entry: ArbinTranscriptEntry): Buffer {
    const req = decodeSetMvRequest(frame);
    entry.channelIndex = req.channelIndex;
    const reply = (result: number): Buffer => {
      entry.result = result;
      return encodeCommonFeedback(FEEDBACK.SET_MV_VALUE, { channelIndex: req.channelIndex, result });
    };
    if (!this.exists(req.channelIndex) || !this.allowControl) return reply(0x10);
    if (req.mvType !== MV_TYPE_IV || req.valueType !== MV_VALUE_FLOAT || !Number.isFinite(req.value)) return reply(0x10);
    const ud = udFromMetaCode(req.metaCode);
    if (ud === undefined) return reply(0x11);
    const c = this.chans[req.channelIndex]!;
    if (!c.cell.run) return reply(0x12);
    const t = this.now();
    const last = c.mvSetAt[ud - 1];
    if (last !== undefined && t - last < this.options.mvMinIntervalMs) return reply(0x14);
    c.mvSetAt[ud - 1] = t;
    c.mv[ud - 1] = req.value;
    return reply(0);
  }

  // ---- serving ----

  listenTcp(host: string, port: number): Promise<number> {
    return this.host.listenTcp(host, port);
  }

  /** CTI is TCP only: there is no serial form of it. */
  async listenPty(): Promise<string> {
    throw new Error('Arbin CTI runs over TCP only (MITS Pro port 9031); serve the simulator with --listen host:port');
  }

  private openSession(socket: net.Socket): SimSession {
    this._stats.connections++;
    const session: ArbinSession = { loggedIn: false, localAddress: socket.localAddress?.replace(/^::ffff:/, '') };
    const decoder = new CtiStreamDecoder({ kind: 'request' });
    let out = Promise.resolve();
    return {
      receive: (chunk: Buffer) => {
        if (this.faultSwitches.deaf) return;
        const { frames, errors } = decoder.push(chunk);
        this._stats.badFrames += errors.length;
        for (const bytes of frames) {
          const replies = this.handleRequest(bytes, session);
          for (const reply of replies) out = out.then(() => this.send(socket, reply));
        }
      },
      close: () => undefined,
    };
  }

  private async send(socket: net.Socket, frame: Buffer): Promise<void> {
    if (socket.destroyed) return;
    let data = this.options.pyctiFrames ? toPyctiFrame(frame) : frame;
    if (this.faultSwitches.takeGarble()) {
      data = Buffer.from(data);
      // A byte in the arguments: prefix and length still frame it, the checksum fails.
      const at = Math.min(data.length - 3, 24);
      data[at] = data[at]! ^ 0x5a;
    }
    if (this.closeMidReply) {
      this.closeMidReply = false;
      socket.write(data.subarray(0, Math.floor(data.length / 2)), () => socket.destroy());
      return;
    }
    const size = this.options.chunkBytes;
    if (size <= 0) {
      socket.write(data);
      return;
    }
    for (let i = 0; i < data.length && !socket.destroyed; i += size) {
      socket.write(data.subarray(i, i + size));
      // A pause lets each piece leave as its own segment.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  close(): Promise<void> {
    return this.host.close();
  }

}

function readFileOrThrow(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the simulator's secrets file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

export function createArbinSimulator(options: SimulatorOptions = {}): ArbinSimulator {
  return new ArbinSimulator(options);
}
