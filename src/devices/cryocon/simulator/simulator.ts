/**
 * A Cryo-con Model 24C (or 32) on the wire: the SCPI-style command tree with short/long keywords,
 * relative (`;`) and absolute (`;:`) paths, channel lists, one `;`-joined reply line per request
 * line, silent set commands, `NACK` for anything it does not take (never a dropped connection),
 * readings in each input's display units, `-------` / `.......` on sensor faults, real PID loops
 * driving heaters on the cryostat model of physics.ts, the one-request-per-100-ms pace of the
 * hardware, and injectable faults. Served on TCP and on a pseudo-terminal.
 *
 * This file ties the parts together: options.ts, controller.ts (state and physics), commands.ts
 * (the command table), scpi-tree.ts (the dialect), line-session.ts (the wire).
 */
import { parseOptions, type Simulator, type SimulatorOptions, type StandardFault } from '../../../daemon/api.js';
import { SimHost } from '../../../links/sim-host.js';
import { RequestPacer, SimFaults, Transcript } from '../../kits/sim/index.js';
import type { ScpiTree } from '../../kits/scpi/index.js';
import { MAX_LINE_CHARS, NACK, splitOutsideQuotes, type Channel, type CryoconModelName, type HeaterStatusKey, type LoopNumber } from '../codec.js';
import type { NodeName } from '../physics.js';
import { CryoconController, type ChannelState, type LoopState } from './controller.js';
import { corruptReply, openCryoconSession, type ReplyCorruption } from './line-session.js';
import { cryoconSimulatorOptionsSchema, type CryoconSimulatorOptions, type ParsedOptions, type SensorState } from './options.js';
import { createCryoconTree } from './scpi-tree.js';

export type { ReplyCorruption };
const LOG_LIMIT = 1000;

/** The standard faults, and `silent`, the old name of `silence`. */
export type CryoconFault = StandardFault | 'silent';

export interface TranscriptEntry {
  /** Wall-clock ms (performance.now) when the request was processed (or lost). */
  t: number;
  /** Simulated seconds of the physics when it was processed: a setpoint change takes effect here. */
  simulatedS?: number;
  request: string;
  /** undefined: no reply (set commands only, or the request was lost). */
  reply?: string;
  /** The request came too soon after the previous one and was lost (earlyRequests: drop). */
  dropped?: boolean;
}

export interface CryoconSimulatorStats {
  /** Request lines received. */
  requests: number;
  /** Reply lines sent. */
  replies: number;
  /** NACK fields sent. */
  nacks: number;
  /** Requests that arrived less than 100 ms after the previous one. */
  earlyRequests: number;
  /** Of those, lost (earlyRequests: drop). */
  dropped: number;
  /** Shortest time between two consecutive request arrivals, ms (Infinity before the second). */
  minRequestGapMs: number;
  /** Longest request line, characters without the LF. */
  longestRequest: number;
}

export interface CryoconSimulatorHooks {
  /** Physics clock in ms (default performance.now); tests pass a fake one to step the physics. */
  now?: () => number;
}

export class CryoconSimulator implements Simulator {
  private readonly options: ParsedOptions;
  private readonly ctl: CryoconController;
  private readonly tree: ScpiTree;
  private nackList: string[];
  private readonly faultSwitches: SimFaults = new SimFaults({
    aliases: { silent: 'silence' },
    dropClients: () => this.host.dropTcpClients(),
    what: 'the Cryo-con simulator',
  });
  private readonly host = new SimHost({
    open: (client) =>
      openCryoconSession(client, {
        pacer: this.pacer,
        deaf: () => this.isDeaf(),
        byteTiming: () => this.options.byteTiming,
        baud: () => this.options.baud,
        latencyMs: () => this.options.latencyMs,
        respond: (line) => this.respond(line),
        overlong: () => this.recordReply(NACK),
        arrived: (line, dropped) => this.arrived(line, dropped),
      }),
    refuse: () => this.faultSwitches.refusing,
  });
  private corruptions: ReplyCorruption[] = [];
  private readonly pacer: RequestPacer;
  private readonly log = new Transcript<TranscriptEntry>(LOG_LIMIT);
  private replies = 0;
  private nacks = 0;
  private longestRequest = 0;

  constructor(options: CryoconSimulatorOptions | SimulatorOptions = {}, hooks: CryoconSimulatorHooks = {}) {
    this.options = parseOptions(cryoconSimulatorOptionsSchema, options, 'the cryocon simulator') as ParsedOptions;
    const o = this.options;
    this.ctl = new CryoconController(o, hooks.now ?? (() => performance.now()));
    this.nackList = o.nack;
    if (o.linkDrop) this.faultSwitches.set('linkDrop', true);
    if (o.silent) this.faultSwitches.set('silence', true);
    this.pacer = new RequestPacer(() => o.minGapMs, () => o.earlyRequests);
    this.tree = createCryoconTree(this.ctl, () => this.nackList);
  }

  get model(): CryoconModelName {
    return this.ctl.model;
  }

  // ---- state for tests and the CLI ----

  /** Simulated seconds since the start. */
  get simulatedSeconds(): number {
    this.ctl.sync();
    return this.ctl.cryostat.time;
  }

  /** True temperature of a node, K. */
  nodeTemperature(node: NodeName): number {
    this.ctl.sync();
    return this.ctl.cryostat.temperatures[node];
  }

  /** True temperature at an input's sensor, K (no noise, whatever the display units). */
  temperature(channel: Channel): number {
    return this.nodeTemperature(this.ctl.channelState(channel).node);
  }

  /** A loop's settings and output, for tests. */
  loop(n: LoopNumber): Readonly<Omit<LoopState, 'pid'>> & { powerW: number } {
    this.ctl.sync();
    const l = this.ctl.loopState(n);
    const { pid: _pid, ...rest } = l;
    return { ...rest, powerW: (l.output / 100) * this.ctl.maxPowerW(n, l) };
  }

  channel(ch: Channel): Readonly<Omit<ChannelState, 'stats'>> {
    const { stats: _stats, ...rest } = this.ctl.channelState(ch);
    return { ...rest };
  }

  get control(): boolean {
    return this.ctl.controlOn;
  }

  get stats(): Readonly<CryoconSimulatorStats> {
    const p = this.pacer.stats;
    return {
      requests: p.requests,
      replies: this.replies,
      nacks: this.nacks,
      earlyRequests: p.earlyRequests,
      dropped: p.dropped,
      minRequestGapMs: p.minRequestGapMs,
      longestRequest: this.longestRequest,
    };
  }

  /** The last requests and replies, oldest first. */
  get transcript(): readonly TranscriptEntry[] {
    return this.log.all;
  }

  get byteTiming(): boolean {
    return this.options.byteTiming;
  }

  get baud(): number {
    return this.options.baud;
  }

  get latencyMs(): number {
    return this.options.latencyMs;
  }

  get faults(): StandardFault[] {
    return this.faultSwitches.active;
  }

  /** The same as `faults`. */
  get activeFaults(): StandardFault[] {
    return this.faults;
  }

  isDeaf(): boolean {
    return this.faultSwitches.deaf;
  }

  /** `linkDrop`, `garble` (every reply), `silence` (or its old name `silent`). */
  setFault(fault: CryoconFault, active: boolean): void {
    this.faultSwitches.set(fault, active);
  }

  /** Puts an input's sensor into a fault (`-------`) or out of calibration (`.......`), or back to `ok`. */
  setSensor(channel: Channel, state: SensorState): void {
    this.ctl.sync();
    const ch = this.ctl.channelState(channel);
    ch.sensor = state;
    this.ctl.evaluateAlarm(ch);
  }

  /** Sets a loop's heater status (`otdisconn` and `lowR` disable the output). */
  setHeaterStatus(loop: LoopNumber, status: HeaterStatusKey): void {
    this.ctl.sync();
    this.ctl.loopState(loop).heaterStatus = status;
  }

  /** Commands to answer `NACK`, e.g. `['LOOP:HTRRead']`, as firmware without them would. */
  setNack(commands: string[]): void {
    this.nackList = [...commands];
  }

  /** The next `n` replies arrive corrupted: line noise, one field missing, or cut short. */
  corruptNextReplies(n: number, kind: ReplyCorruption = 'garble'): void {
    for (let i = 0; i < n; i++) this.corruptions.push(kind);
  }

  /** The next `n` replies arrive as line noise. */
  garbleNextReplies(n = 1): void {
    this.corruptNextReplies(n, 'garble');
  }

  /** Runs the physics forward by simulated seconds without waiting (tests). */
  advance(seconds: number): void {
    this.ctl.advance(seconds);
  }

  /** Changes the room temperature or switches the cryocooler (a warm-up). */
  setCooler(on: boolean): void {
    this.ctl.sync();
    this.ctl.cryostat.params.cooler = on;
  }

  // ---- the protocol ----

  /**
   * Answers one request line at once (LF removed), bypassing the 100 ms pacing; undefined when the
   * line holds only set commands. The wire path goes through the paced queue.
   */
  handleLine(line: string): string | undefined {
    this.ctl.sync();
    const reply = this.execute(line);
    this.recordReply(reply);
    const entry: TranscriptEntry = { t: performance.now(), simulatedS: this.ctl.cryostat.time, request: line };
    this.log.push(reply === undefined ? entry : { ...entry, reply });
    return reply;
  }

  /** What goes back on the wire for a line: handleLine's answer, corrupted if a corruption is pending. */
  respond(line: string): string | undefined {
    const reply = this.handleLine(line);
    if (reply === undefined) return undefined;
    const kind = this.corruptions.shift() ?? (this.faultSwitches.takeGarble() ? 'garble' : undefined);
    return kind ? corruptReply(reply, kind) : reply;
  }

  private recordReply(reply: string | undefined): void {
    if (reply === undefined) return;
    this.replies++;
    this.nacks += splitOutsideQuotes(reply).filter((f) => f === NACK).length;
  }

  private arrived(line: string | undefined, dropped: boolean): void {
    this.longestRequest = Math.max(this.longestRequest, line?.length ?? MAX_LINE_CHARS);
    // Lost, like a command the unit was not ready to take; the next one is measured from the last accepted.
    if (dropped) this.log.push({ t: performance.now(), request: line ?? '(overlong line)', dropped: true });
  }

  private execute(line: string): string | undefined {
    if (line.length >= MAX_LINE_CHARS) return NACK;
    const reply = this.tree.execute(line);
    if (reply === undefined) return undefined;
    return reply + (this.options.trailingSemicolon ? ';' : '');
  }

  // ---- serving ----

  listenTcp(host: string, port: number): Promise<number> {
    return this.host.listenTcp(host, port);
  }

  listenPty(): Promise<string> {
    return this.host.listenPty();
  }

  async close(): Promise<void> {
    this.pacer.close();
    await this.host.close();
  }
}

export function createCryoconSimulator(options: SimulatorOptions = {}): CryoconSimulator {
  return new CryoconSimulator(options);
}
