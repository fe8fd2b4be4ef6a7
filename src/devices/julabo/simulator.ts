/**
 * A Julabo FL1703 on the wire: the manual's dialect (CR requests, LF-terminated replies, silent
 * `out_` commands, `-NN TEXT` errors latched into `status`), the bath physics of physics.ts, the
 * byte timing of 4800 baud 7E1, and injectable faults. Served on TCP and on a pseudo-terminal.
 */
import { z } from 'zod';
import { boolOption, parseOptions, type Simulator, type SimulatorOptions } from '../../daemon/api.js';
import { SimHost, type SimClient, type SimSession } from '../../links/sim-host.js';
import { formatStatus, parseNumber, STATUS_CODES } from './codec.js';
import { ThermalModel } from './physics.js';
import { LineSession, RequestPacer, SimFaults, STANDARD_FAULTS, Transcript, garbleText, gaussian, seededRandom, type ByteTiming } from '../kits/sim/index.js';

/**
 * Assumed reply to `version`. The manual gives the form "V X.xx" and the unit shows `v 1.02` and
 * `FL1703` at power-up; the exact string of a real FL1703 is not documented.
 */
export const SIMULATED_VERSION = 'JULABO FL1703 V 1.02';

/** FL1703 working temperature range (manual): the unit refuses setpoints outside it. */
export const SIM_SETPOINT_MIN = -20;
export const SIM_SETPOINT_MAX = 40;

/** 4800 baud, 1 start + 7 data + 1 parity + 1 stop bits = 10 bits per character. */
export const CHAR_TIME_MS = (10 / 4800) * 1000;

const EXCESS_TEMPERATURE_WARNING_C = 82;
const EXCESS_TEMPERATURE_CUTOUT_C = 85;
/** Longest request line kept; the longest real command is ~20 characters. */
const MAX_LINE = 128;
const LOG_LIMIT = 1000;

/** The Julabo's own faults, besides the standard `linkDrop`, `garble` and `silence` of every simulator. */
export const JULABO_UNIT_FAULTS = [
  /** −01 LOW LEVEL ALARM: the unit shuts down. */
  'lowLevel',
  /** −05 WORKING SENSOR ALARM: the unit shuts down; temperature queries answer the alarm. */
  'sensorAlarm',
  /** −03 EXCESS TEMPERATURE WARNING: reported, no shutdown. */
  'excessTemperatureWarning',
  /** −20 clean condenser warning: reported, cooling capacity halved. */
  'condenserWarning',
] as const;
export const JULABO_FAULTS = [...STANDARD_FAULTS, ...JULABO_UNIT_FAULTS] as const;
export type JulaboFault = (typeof JULABO_FAULTS)[number];

export const julaboSimulatorOptionsSchema = z.object({
  /** Physics speed-up: 60 makes a simulated minute pass per second. */
  timeScale: z.coerce.number().positive().max(1e6).default(1),
  seed: z.coerce.number().int().default(1),
  ambient: z.coerce.number().min(-30).max(60).default(22),
  /** Bath temperature at start; default: ambient. */
  initialTemperature: z.coerce.number().min(-50).max(120).optional(),
  /** Factory setpoint per the manual. */
  setpoint: z.coerce.number().min(SIM_SETPOINT_MIN).max(SIM_SETPOINT_MAX).default(25),
  running: boolOption.default(false),
  /** Remote control enabled on the unit (`rOFF` after the power-up key sequence). */
  remote: boolOption.default(true),
  /** Standard deviation of the measurement noise, °C; added to reported values only. */
  noise: z.coerce.number().min(0).max(5).default(0.01),
  /** Emulate 4800 baud character timing and processing latency on replies. */
  byteTiming: boolOption.default(true),
  /** Time from the request's terminator to the first reply character, ms. Assumed. */
  latencyMs: z.coerce.number().min(0).max(1000).default(5),
  /** External heat into the bath, W. */
  heatLoadW: z.coerce.number().min(-5000).max(5000).default(0),
  version: z.string().min(1).max(80).default(SIMULATED_VERSION),
  lowLevel: boolOption.default(false),
  sensorAlarm: boolOption.default(false),
  excessTemperatureWarning: boolOption.default(false),
  condenserWarning: boolOption.default(false),
  linkDrop: boolOption.default(false),
  silent: boolOption.default(false),
}).strict();

type ParsedOptions = z.output<typeof julaboSimulatorOptionsSchema>;
/** Typed options; the schema also takes the strings a command line passes (`'60'`, `'off'`). */
export type JulaboSimulatorOptions = Partial<ParsedOptions>;

export interface JulaboSimulatorHooks {
  /** Clock in ms (default performance.now); tests pass a fake one to step the physics. */
  now?: () => number;
}

export interface TranscriptEntry {
  /** Clock ms when the request's terminator arrived. */
  t: number;
  request: string;
  /** undefined: no reply (an `out_` command, or the unit was silent). */
  reply?: string;
}

export interface JulaboSimulatorStats {
  requests: number;
  replies: number;
  /** Shortest time between two consecutive requests, ms (Infinity before the second). */
  minRequestGapMs: number;
  /** Requests that came less than 250 ms after the previous one (the manual's minimum). */
  gapViolations: number;
}

export class JulaboSimulator implements Simulator {
  private readonly options: ParsedOptions;
  private readonly model: ThermalModel;
  private readonly now: () => number;
  private readonly noise: () => number;
  private readonly faultSwitches: SimFaults<(typeof JULABO_UNIT_FAULTS)[number]> = new SimFaults({
    extra: JULABO_UNIT_FAULTS,
    aliases: { silent: 'silence' },
    dropClients: () => this.host.dropTcpClients(),
    what: 'the Julabo simulator',
  });
  private readonly startedAt: number;
  /** Simulated seconds added by advance(), on top of the clock. */
  private offsetS = 0;
  private _setpoint: number;
  private _running: boolean;
  private _remote: boolean;
  private ambient: number;
  private heatLoadW: number;
  private replyLatencyMs: number;
  /** A command error waiting to be reported by the next `status`. */
  private latched: number | undefined;
  private readonly host = new SimHost({ open: (client) => this.openSession(client), refuse: () => this.faultSwitches.refusing });
  private readonly timing: ByteTiming = {
    latencyMs: () => (this.byteTiming ? this.replyLatencyMs : 0),
    charTimeMs: () => (this.byteTiming ? CHAR_TIME_MS : 0),
    granularity: 'byte',
  };
  private readonly log = new Transcript<TranscriptEntry>(LOG_LIMIT);
  /** The manual asks for 250 ms between commands; the unit takes them anyway, and the stats count it. */
  private readonly pacer = new RequestPacer(() => 250, () => 'accept');
  private replies = 0;

  constructor(options: JulaboSimulatorOptions | SimulatorOptions = {}, hooks: JulaboSimulatorHooks = {}) {
    this.options = parseOptions(julaboSimulatorOptionsSchema, options, 'the julabo simulator');
    this.now = hooks.now ?? (() => performance.now());
    const o = this.options;
    this.model = new ThermalModel(o.initialTemperature ?? o.ambient);
    this.noise = gaussian(seededRandom(o.seed));
    this.startedAt = this.now();
    this._setpoint = o.setpoint;
    this._running = o.running;
    this._remote = o.remote;
    this.ambient = o.ambient;
    this.heatLoadW = o.heatLoadW;
    this.replyLatencyMs = o.latencyMs;
    for (const fault of [...JULABO_UNIT_FAULTS, 'linkDrop', 'silent'] as const) if (o[fault]) this.setFault(fault, true);
    this.checkTemperatureTrips();
  }

  // ---- state for tests and the CLI ----

  /** True bath temperature (no noise), °C. */
  get temperature(): number {
    this.sync();
    return this.model.temperature;
  }

  get setpoint(): number {
    return this._setpoint;
  }

  get running(): boolean {
    this.sync();
    return this._running;
  }

  get remote(): boolean {
    return this._remote;
  }

  /** Power the unit put into the bath in the last step, W (negative: cooling). */
  get powerW(): number {
    this.sync();
    return this.model.lastPowerW;
  }

  get faults(): JulaboFault[] {
    return this.faultSwitches.active;
  }

  /** The same as `faults`. */
  get activeFaults(): JulaboFault[] {
    return this.faults;
  }

  get stats(): Readonly<JulaboSimulatorStats> {
    const p = this.pacer.stats;
    return { requests: p.requests, replies: this.replies, minRequestGapMs: p.minRequestGapMs, gapViolations: p.earlyRequests };
  }

  /** The last requests and replies, oldest first. */
  get transcript(): readonly TranscriptEntry[] {
    return this.log.all;
  }

  get byteTiming(): boolean {
    return this.options.byteTiming;
  }

  get latencyMs(): number {
    return this.replyLatencyMs;
  }

  /** Delay before a reply starts (only with byteTiming); a long one makes clients time out. */
  setLatency(ms: number): void {
    this.replyLatencyMs = Math.max(0, ms);
  }

  /** The next n replies arrive corrupted (line noise), to prove the driver resynchronises. */
  garbleNextReplies(n = 1): void {
    this.faultSwitches.garbleNext(n);
  }

  isDeaf(): boolean {
    return this.faultSwitches.deaf;
  }

  /** A standard fault, one of the unit's alarms, or the old name `silent` (= `silence`). */
  setFault(fault: JulaboFault | 'silent', active: boolean): void {
    this.sync();
    this.faultSwitches.set(fault, active);
    if (active && (fault === 'lowLevel' || fault === 'sensorAlarm')) this._running = false;
  }

  /** Switches remote control on or off, like the power-up key sequence on the unit. */
  setRemote(remote: boolean): void {
    this.sync();
    this._remote = remote;
  }

  /** The keypad's start/stop key; works in either mode unless an alarm is active. */
  pressStartStop(): void {
    this.sync();
    if (!this.alarmCode()) this._running = !this._running;
  }

  setAmbient(celsius: number): void {
    this.sync();
    this.ambient = celsius;
  }

  setHeatLoad(watts: number): void {
    this.sync();
    this.heatLoadW = watts;
  }

  /** Runs the physics forward by simulated seconds without waiting (tests). */
  advance(seconds: number): void {
    this.sync();
    if (seconds > 0) this.offsetS += seconds;
    this.sync();
  }

  // ---- the protocol ----

  /** Answers one request line (terminator removed); undefined when the unit says nothing. */
  handleLine(line: string): string | undefined {
    this.sync();
    const t = this.now();
    this.pacer.arrive();
    const reply = this.dispatch(line.trim());
    if (reply !== undefined) this.replies++;
    this.log.push(reply === undefined ? { t, request: line } : { t, request: line, reply });
    return reply;
  }

  /** A request longer than any command: dropped, reported as an invalid command. */
  lineOverflow(): void {
    this.latched = -8;
  }

  private dispatch(line: string): string | undefined {
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) return undefined;
    const word = (m[1] ?? '').toLowerCase();
    const param = (m[2] ?? '').trim();
    switch (word) {
      case 'version':
        return this.options.version;
      case 'status':
        return this.statusLine();
      case 'in_pv_00': {
        if (this.faultSwitches.has('sensorAlarm')) return formatStatus(-5, STATUS_CODES.get(-5)!.text);
        return (this.model.temperature + this.options.noise * this.noise()).toFixed(2);
      }
      case 'in_sp_00':
        return this._setpoint.toFixed(2);
      case 'in_mode_05':
        return this._running ? '1' : '0';
      case 'out_sp_00':
        this.outSetpoint(param);
        return undefined;
      case 'out_mode_05':
        this.outMode(param);
        return undefined;
      default:
        if (word.startsWith('out_')) {
          this.latched = -8;
          return undefined;
        }
        return formatStatus(-8, 'INVALID COMMAND');
    }
  }

  private outSetpoint(param: string): void {
    if (!this._remote) {
      this.latched = -9;
      return;
    }
    const value = parseNumber(param);
    if (value === undefined) this.latched = -8;
    else if (value < SIM_SETPOINT_MIN) this.latched = -10;
    else if (value > SIM_SETPOINT_MAX) this.latched = -11;
    else this._setpoint = Number(value.toFixed(2));
  }

  private outMode(param: string): void {
    if (!this._remote) {
      this.latched = -9;
      return;
    }
    const value = parseNumber(param);
    if (value === undefined || !Number.isInteger(value)) this.latched = -8;
    else if (value < 0) this.latched = -10;
    else if (value > 1) this.latched = -11;
    // An alarm keeps the unit shut down; its status already says why.
    else if (value === 1 && this.alarmCode()) return;
    else this._running = value === 1;
  }

  private alarmCode(): number | undefined {
    if (this.faultSwitches.has('lowLevel')) return -1;
    if (this.faultSwitches.has('sensorAlarm')) return -5;
    if (this.model.temperature > EXCESS_TEMPERATURE_CUTOUT_C) return -14;
    return undefined;
  }

  private statusLine(): string {
    const latched = this.latched;
    this.latched = undefined;
    const alarm = this.alarmCode();
    let code: number;
    if (alarm !== undefined) code = alarm;
    else if (latched !== undefined) code = latched;
    else if (this.faultSwitches.has('excessTemperatureWarning') || this.model.temperature >= EXCESS_TEMPERATURE_WARNING_C) code = -3;
    else if (this.faultSwitches.has('condenserWarning')) code = -20;
    else code = (this._remote ? 2 : 0) + (this._running ? 1 : 0);
    return formatStatus(code, STATUS_CODES.get(code)?.text ?? '');
  }

  // ---- physics clock ----

  private thermalInputs() {
    return {
      running: this._running,
      setpoint: this._setpoint,
      ambient: this.ambient,
      heatLoadW: this.heatLoadW,
      coolingFactor: this.faultSwitches.has('condenserWarning') ? 0.5 : 1,
    };
  }

  /** Brings the physics up to the clock; every state change calls this first. */
  private sync(): void {
    const simulatedS = ((this.now() - this.startedAt) / 1000) * this.options.timeScale + this.offsetS;
    this.model.advanceTo(simulatedS, this.thermalInputs());
    this.checkTemperatureTrips();
  }

  private checkTemperatureTrips(): void {
    if (this.model.temperature > EXCESS_TEMPERATURE_CUTOUT_C) this._running = false;
  }

  // ---- serving ----

  private openSession(client: SimClient): SimSession {
    return new LineSession(client, {
      terminators: '\r\n',
      replyTerminator: '\r\n',
      maxLineChars: MAX_LINE,
      sevenBit: true,
      deaf: () => this.isDeaf(),
      timing: this.timing,
      onLine: (line, session) => {
        const reply = this.handleLine(line);
        if (reply !== undefined) session.reply(this.faultSwitches.takeGarble() ? garbleText(reply) : reply);
      },
      onOverflow: () => this.lineOverflow(),
    });
  }

  listenTcp(host: string, port: number): Promise<number> {
    return this.host.listenTcp(host, port);
  }

  listenPty(): Promise<string> {
    return this.host.listenPty();
  }

  close(): Promise<void> {
    return this.host.close();
  }
}

export function createJulaboSimulator(options: SimulatorOptions = {}): JulaboSimulator {
  return new JulaboSimulator(options);
}
