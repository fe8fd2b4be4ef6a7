/**
 * Typed API for an Arbin cycler (MITS Pro) over CTI, on an Exchange: one request in flight, each
 * answered by its feedback. Channels are 1-based here; the codec turns them into wire indices.
 *
 * The driver logs in with credentials from a secrets file or the environment, keeps what the login
 * reply says (channel count, control permission), refuses control commands it knows the cycler
 * would refuse, spaces SET_MV updates of one meta variable at least 200 ms apart, and turns every
 * result code into an error that says what happened.
 */
import type { ExchangeLike, ExchangeOptions, ReplySplitter } from '../../links/types.js';
import { LabwireError } from '../../wire/types.js';
import {
  ALL_CHANNELS,
  CMD,
  CtiDecodeError,
  CtiStreamDecoder,
  FEEDBACK,
  LOGIN_RESULTS,
  META_VARIABLE_COUNT,
  commandName,
  decodeChannelsInfoFeedback,
  decodeCommonFeedback,
  decodeConnectFeedback,
  decodeLoginFeedback,
  encodeAssignRequest,
  encodeChannelsInfoRequest,
  encodeConnectRequest,
  encodeLoginRequest,
  encodeResumeRequest,
  encodeSetMvRequest,
  encodeStartRequest,
  encodeStopRequest,
  parseFrame,
  parseMetaVariable,
  resultText,
  wireIndex,
  type AuxRequest,
  type ChannelRecord,
  type ChannelSelection,
  type ConnectFeedback,
  type Credentials,
  type CtiFrame,
  type LoginFeedback,
  type ResultTable,
} from './codec.js';
import { resolveCredentials } from './credentials.js';

/** Vendor advice: about 10 s for a feedback. Reconnect with back-off from 1 s to 30 s. */
export const ARBIN_REPLY_TIMEOUT_MS = 10_000;

export const arbinExchangeOptions: ExchangeOptions = {
  timeoutMs: ARBIN_REPLY_TIMEOUT_MS,
  // A feedback sent twice comes back to back: it arrives unasked within these 10 ms and is caught.
  gapAfterReplyMs: 10,
  // Feedback carries its command code and the probe's code is unique (the driver never sends
  // CONNECT otherwise), so a second of silence is drain enough; 10 s would stall polling.
  resyncQuietMs: 1000,
  // CONNECT, the vendor's "kick-out flag / ping", with the flag the driver always leaves at 0.
  resyncProbe: {
    request: encodeConnectRequest(false),
    isAnswer: (reply) => feedbackCodeOf(reply) === FEEDBACK.CONNECT >>> 0,
  },
  initialBackoffMs: 1000,
  maxBackoffMs: 30_000,
};

/** The command code of a feedback frame, or -1 for a frame too short to have one. */
function feedbackCodeOf(frame: Buffer): number {
  return frame.length >= 16 ? frame.readUInt32LE(12) >>> 0 : -1;
}

/** MITS Pro accepts one update per 200 ms per meta variable (result 0x14 otherwise). */
export const MV_MIN_INTERVAL_MS = 200;

/**
 * The Exchange's splitter: CTI feedback frames, tolerating the pycti spoofer's two extra bytes
 * (a strict frame is never mistaken for one). A corrupt frame is thrown, so the request in flight
 * fails with CommunicationFailed and the Exchange resynchronises; garbage before a good frame in
 * the same chunk is skipped.
 */
export function arbinSplitter(options: { pyctiTolerance?: boolean; maxFrameBytes?: number } = {}): ReplySplitter & { readonly decoder: CtiStreamDecoder; takePartial(): Buffer } {
  const decoder = new CtiStreamDecoder({ kind: 'feedback', pyctiTolerance: options.pyctiTolerance ?? true, maxFrameBytes: options.maxFrameBytes });
  return {
    decoder,
    push(chunk: Buffer): Buffer[] {
      const { frames, errors } = decoder.push(chunk);
      if (frames.length === 0 && errors.length > 0) throw errors[0]!;
      return frames;
    },
    reset: () => decoder.reset(),
    takePartial: () => decoder.takePartial(),
  };
}

export interface ArbinDriverOptions {
  /** `.env`-style file with ARBIN_CTI_USERNAME and ARBIN_CTI_PASSWORD; read at every login. */
  secretsFile?: string;
  /** Environment to read the credentials from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Credentials supplied directly (tests, embedding); wins over the file and the environment. */
  credentials?: Credentials;
  /** Read-only, like pycti's CyclerInterface: no control command is ever sent. */
  readOnly?: boolean;
  /** How readAllChannels asks: one request for all channels (default), or one per channel. */
  pollMode?: 'all' | 'each';
  /** Per-request feedback timeout. */
  timeoutMs?: number;
  mvMinIntervalMs?: number;
  /** Clock and sleep for the SET_MV spacing (tests pass fakes). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** What the cycler said at login, for identify and for checks before control commands. */
export interface ArbinSession {
  username: string;
  result: number;
  serialNumber: string;
  ip: string;
  note: string;
  version: number;
  allowControl: boolean;
  channelCount: number;
  userType: number;
  login: LoginFeedback;
}

export interface StartTestOptions {
  /** One channel or several (started by one START request). */
  channels: number | number[];
  testName: string;
  /** Assigned to each channel first (as pycti did); omit to start with the schedule already assigned. */
  schedule?: string;
  capacityAh?: number;
  barcode?: string;
}

export class ArbinDriver {
  private readonly options: ArbinDriverOptions;
  private readonly timeoutMs: number;
  private readonly mvMinIntervalMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly lastMv = new Map<string, number>();
  private current: ArbinSession | undefined;

  constructor(
    private readonly exchange: ExchangeLike,
    options: ArbinDriverOptions = {},
  ) {
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? ARBIN_REPLY_TIMEOUT_MS;
    this.mvMinIntervalMs = options.mvMinIntervalMs ?? MV_MIN_INTERVAL_MS;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get readOnly(): boolean {
    return this.options.readOnly ?? false;
  }

  get pollMode(): 'all' | 'each' {
    return this.options.pollMode ?? 'all';
  }

  /** The last successful login, or undefined before the first. */
  get session(): ArbinSession | undefined {
    return this.current;
  }

  // ---- transport ----

  /**
   * Sends one request and returns its decoded feedback frame. A feedback of another command, or one
   * that `belongs` says answers another request (another channel), is refused: the Exchange then
   * fails the request and resynchronises, so it never answers a later request either.
   */
  private async transact(request: Buffer, feedback: number, what: string, belongs?: (frame: CtiFrame) => void): Promise<CtiFrame> {
    const reply = await this.exchange.request(request, {
      timeoutMs: this.timeoutMs,
      validate: (r) => {
        const code = feedbackCodeOf(r);
        if (code !== feedback >>> 0) throw new Error(`${commandName(code)} does not answer ${what}; expected ${commandName(feedback)}`);
        if (belongs) belongs(parseFrame(r, 'feedback'));
        return true;
      },
    });
    if (reply === undefined) throw new LabwireError('CommunicationFailed', `no feedback to ${what}`);
    try {
      return parseFrame(reply, 'feedback');
    } catch (err) {
      throw new LabwireError('CommunicationFailed', `bad feedback to ${what}: ${(err as Error).message}`);
    }
  }

  private decode<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof CtiDecodeError) throw new LabwireError('CommunicationFailed', `malformed feedback to ${what}: ${err.message}`);
      throw err;
    }
  }

  // ---- session ----

  /**
   * Logs in (run after every connect: the server forgets the session with the connection).
   * Result 2 becomes an error naming the user, never the password.
   */
  async login(): Promise<ArbinSession> {
    const credentials = this.options.credentials ?? resolveCredentials({ secretsFile: this.options.secretsFile, env: this.options.env });
    const frame = await this.transact(encodeLoginRequest(credentials), FEEDBACK.LOGIN, 'LOGIN');
    const fb = this.decode('LOGIN', () => decodeLoginFeedback(frame));
    if (fb.result !== 1 && fb.result !== 3) {
      this.current = undefined;
      const why = LOGIN_RESULTS[fb.result] ?? `unexpected result ${fb.result}`;
      throw new LabwireError(
        'HardwareError',
        `CTI login refused for user "${credentials.username}" (result ${fb.result}: ${why}); check the user in MITS Pro's CTI user management`,
      );
    }
    this.current = {
      username: credentials.username,
      result: fb.result,
      serialNumber: fb.serialNumber,
      ip: fb.ip,
      note: fb.note,
      version: fb.version,
      allowControl: fb.allowControl,
      channelCount: fb.channelCount,
      userType: fb.userType,
      login: fb,
    };
    return this.current;
  }

  /** CONNECT: asks the server not to kick this client out (or allows it). */
  async connect(kickOutProtection: boolean): Promise<ConnectFeedback> {
    const frame = await this.transact(encodeConnectRequest(kickOutProtection), FEEDBACK.CONNECT, 'CONNECT');
    const fb = this.decode('CONNECT', () => decodeConnectFeedback(frame));
    if (fb.result !== 0) throw new LabwireError('HardwareError', `the cycler rejected CONNECT (result ${fb.result}: no room for another CTI client)`);
    return fb;
  }

  // ---- reading ----

  /** Refuses channel 0 and channels the cycler does not have, before anything is sent. */
  checkChannel(channel: number, command = '-'): number {
    const index = wireIndex(channel, command);
    const count = this.current?.channelCount;
    if (count !== undefined && count > 0 && channel > count) {
      throw new LabwireError('RangeError', `channel ${channel} does not exist: this cycler has ${count} channels (1 … ${count})`, command);
    }
    return index;
  }

  /** One channel's record. */
  async channelInfo(channel: number, options: { aux?: AuxRequest } = {}): Promise<ChannelRecord> {
    this.checkChannel(channel, 'channel_info');
    const what = `GET_CHANNELS_INFO for channel ${channel}`;
    const frame = await this.transact(encodeChannelsInfoRequest({ channel, aux: options.aux }), FEEDBACK.GET_CHANNELS_INFO, what, (f) => {
      const sent = decodeChannelsInfoFeedback(f).map((r) => r.channel);
      if (sent.length > 0 && !sent.includes(channel)) throw new Error(`the feedback holds channel ${sent.join(', ')}, not ${channel}`);
    });
    const records = this.decode(what, () => decodeChannelsInfoFeedback(frame));
    const record = records.find((r) => r.channel === channel);
    if (!record) {
      throw new LabwireError('HardwareError', `the cycler sent no record for channel ${channel}${records.length > 0 ? ` (it sent channel ${records.map((r) => r.channel).join(', ')})` : ''}`);
    }
    return record;
  }

  /** Every channel in one request (OnlyChannel −1; MITS Pro answers with one message of N records). */
  async channels(options: { selection?: ChannelSelection; aux?: AuxRequest } = {}): Promise<ChannelRecord[]> {
    const what = 'GET_CHANNELS_INFO for all channels';
    const frame = await this.transact(encodeChannelsInfoRequest({ channel: ALL_CHANNELS, selection: options.selection, aux: options.aux }), FEEDBACK.GET_CHANNELS_INFO, what);
    return this.decode(what, () => decodeChannelsInfoFeedback(frame));
  }

  /**
   * Every channel one request at a time, for servers that answer "all" otherwise (v1.1 describes
   * one feedback per channel; the pycti spoofer wraps −1 to the last channel).
   */
  async channelsOneByOne(count = this.current?.channelCount ?? 0, options: { aux?: AuxRequest } = {}): Promise<ChannelRecord[]> {
    const out: ChannelRecord[] = [];
    for (let ch = 1; ch <= count; ch++) out.push(await this.channelInfo(ch, options));
    return out;
  }

  /** Every channel, the way `pollMode` says. */
  async readAllChannels(): Promise<ChannelRecord[]> {
    return this.pollMode === 'each' ? this.channelsOneByOne() : this.channels();
  }

  // ---- control ----

  private checkControl(command: string): void {
    if (this.readOnly) {
      throw new LabwireError('ReadOnly', `${command} refused: the Arbin driver is read-only (the cycler interface of the predecessor: channel readings only)`, command);
    }
    if (this.current && !this.current.allowControl) {
      throw new LabwireError(
        'HardwareError',
        `${command} refused: the CTI user "${this.current.username}" may not control this cycler (IsAllowToControl = 0 at login); grant control in MITS Pro's CTI user management`,
        command,
      );
    }
  }

  private async common(request: Buffer, cmd: number, table: ResultTable, what: string, command: string): Promise<void> {
    const frame = await this.transact(request, cmd, what);
    const fb = this.decode(what, () => decodeCommonFeedback(frame, cmd));
    if (fb.result !== 0) {
      throw new LabwireError('HardwareError', `cycler refused ${what}: ${resultText(table, fb.result)} (result 0x${fb.result.toString(16).padStart(2, '0')})`, command);
    }
  }

  async assignSchedule(channel: number, schedule: string, options: { capacityAh?: number; barcode?: string } = {}): Promise<void> {
    this.checkControl('assign');
    this.checkChannel(channel, 'assign');
    if (schedule.trim() === '') throw new LabwireError('ProtocolError', 'the schedule file name must not be empty', 'assign');
    await this.common(
      encodeAssignRequest({ channel, schedule, capacityAh: options.capacityAh, barcode: options.barcode }),
      FEEDBACK.ASSIGN_SCHEDULE,
      'assign',
      `ASSIGN_SCHEDULE of ${schedule} to channel ${channel}`,
      'assign',
    );
  }

  /** Assigns the schedule to each channel (if given), then starts them all with one START. */
  async startTest(options: StartTestOptions): Promise<void> {
    this.checkControl('start');
    const channels = Array.isArray(options.channels) ? options.channels : [options.channels];
    if (channels.length === 0) throw new LabwireError('ProtocolError', 'start needs at least one channel', 'start');
    for (const ch of channels) this.checkChannel(ch, 'start');
    if (options.testName.trim() === '') throw new LabwireError('ProtocolError', 'the test name must not be empty (MITS Pro refuses START without one)', 'start');
    if (options.schedule !== undefined) {
      for (const ch of channels) await this.assignSchedule(ch, options.schedule, { capacityAh: options.capacityAh, barcode: options.barcode });
    }
    const list = channels.join(', ');
    await this.common(
      encodeStartRequest({ testName: options.testName, channels }),
      FEEDBACK.START_SCHEDULE,
      'start',
      `START_SCHEDULE of test "${options.testName}" on channel ${list}`,
      'start',
    );
  }

  async stopTest(channel: number): Promise<void> {
    this.checkControl('stop');
    this.checkChannel(channel, 'stop');
    await this.common(encodeStopRequest(channel), FEEDBACK.STOP_SCHEDULE, 'stop', `STOP_SCHEDULE on channel ${channel}`, 'stop');
  }

  async resumeTest(channel: number): Promise<void> {
    this.checkControl('resume');
    this.checkChannel(channel, 'resume');
    await this.common(encodeResumeRequest(channel), FEEDBACK.RESUME_SCHEDULE, 'resume', `RESUME_SCHEDULE on channel ${channel}`, 'resume');
  }

  /**
   * Sets meta variable MV_UD<ud> of a running channel. Updates of the same variable on the same
   * channel are spaced at least 200 ms apart (waiting, not failing), as MITS Pro requires.
   */
  async setMetaVariable(channel: number, mv: number | string, value: number): Promise<void> {
    this.checkControl('set_mv');
    this.checkChannel(channel, 'set_mv');
    const ud = typeof mv === 'number' ? mv : parseMetaVariable(mv);
    if (!Number.isInteger(ud) || ud < 1 || ud > META_VARIABLE_COUNT) throw new LabwireError('RangeError', `meta variable UD${ud} does not exist; there are UD1 … UD${META_VARIABLE_COUNT}`, 'set_mv');
    if (!Number.isFinite(value) || Math.abs(value) > 3.4e38) throw new LabwireError('RangeError', `meta variable value ${value} does not fit a 32-bit float`, 'set_mv');
    const request = encodeSetMvRequest({ channel, ud, value });
    const key = `${channel}:${ud}`;
    const last = this.lastMv.get(key);
    if (last !== undefined) {
      const wait = last + this.mvMinIntervalMs - this.now();
      if (wait > 0) await this.sleep(wait);
    }
    this.lastMv.set(key, this.now());
    await this.common(request, FEEDBACK.SET_MV_VALUE, 'setMv', `SET_MV_VALUE of MV_UD${ud} = ${value} on channel ${channel}`, 'set_mv');
  }
}

/** The request codes the driver sends, for tests and docs. */
export const DRIVER_COMMANDS = [CMD.LOGIN, CMD.CONNECT, CMD.GET_CHANNELS_INFO, CMD.ASSIGN_SCHEDULE, CMD.START_SCHEDULE, CMD.STOP_SCHEDULE, CMD.RESUME_SCHEDULE, CMD.SET_MV_VALUE] as const;
