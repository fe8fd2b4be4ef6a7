/**
 * An STA Archon CCD controller on TCP port 4242, wire-accurate per reference/archon.md §11: the
 * `>HH` framing with upper-case ids, `?HH` plus a log entry for recognised commands that fail,
 * silence for unknown words, configuration memory and parameters, power refused before APPLYALL,
 * a 100 MHz TIMER, three frame buffers with LOCK and FETCH, an exposure engine driven by the
 * timing-script parameters, REBOOT/WARMBOOT closing the connection, and faults.
 *
 * The parts: options.ts, controller.ts (state and command words), config-memory.ts, buffers.ts,
 * engine.ts (exposure and readout), image-model.ts (the pixels), status.ts, session.ts (the wire),
 * faults.ts.
 */
import { parseOptions, type Simulator, type SimulatorOptions, type StandardFault } from '../../../daemon/api.js';
import { SimHost, type SimClient, type SimSession } from '../../../links/sim-host.js';
import { SimFaults, Transcript } from '../../kits/sim/index.js';
import { ARCHON_FAULTS, ARCHON_UNIT_FAULTS, type ArchonFault, type ArchonUnitFault } from './faults.js';
import { ArchonController } from './controller.js';
import { archonSimulatorOptionsSchema, type ArchonSimulatorOptions, type ParsedArchonOptions } from './options.js';
import { ArchonSession } from './session.js';

export { ARCHON_FAULTS, ARCHON_UNIT_FAULTS, type ArchonFault, type ArchonUnitFault };

const TRANSCRIPT_LIMIT = 2000;

export interface TranscriptEntry {
  /** Wall-clock ms. */
  t: number;
  request: string;
  /** undefined: no reply (unknown word, REBOOT …). FETCH shows `<HH: × blocks`. */
  reply?: string;
}

export interface ArchonSimulatorHooks {
  /** Wall clock in ms (default performance.now); tests pass a fake one to step time. */
  now?: () => number;
}

export interface ArchonSimulatorStats {
  requests: number;
  /** Connections now open. */
  clients: number;
  /** Blocks sent by every FETCH. */
  blocksSent: number;
  reboots: number;
}

export class ArchonSimulator implements Simulator {
  readonly options: ParsedArchonOptions;
  readonly controller: ArchonController;
  private readonly now: () => number;
  private readonly faultSwitches: SimFaults<ArchonUnitFault>;
  private readonly host: SimHost;
  private readonly sessions = new Set<ArchonSession>();
  private readonly log = new Transcript<TranscriptEntry>(TRANSCRIPT_LIMIT);
  /** Wall-clock ms until which new connections are refused (the controller is booting). */
  private bootingUntil = -Infinity;
  private requests = 0;
  /** FETCH streams in progress (0 or 1: while one streams, nobody else is answered). */
  private streams = 0;
  private blocksSent = 0;
  private reboots = 0;

  constructor(options: ArchonSimulatorOptions | SimulatorOptions = {}, hooks: ArchonSimulatorHooks = {}) {
    this.options = parseOptions(archonSimulatorOptionsSchema, options, 'the archon simulator');
    this.now = hooks.now ?? (() => performance.now());
    this.faultSwitches = new SimFaults<ArchonUnitFault>({
      extra: ARCHON_UNIT_FAULTS,
      dropClients: () => this.host.dropTcpClients(),
      onChange: (fault) => {
        if (fault === 'stuckReadout') this.controller.engine.stuckChanged(this.controller.sync());
      },
      what: 'the Archon simulator',
    });
    this.controller = new ArchonController(this.options, { now: this.now, stuck: () => this.faultSwitches.has('stuckReadout') });
    this.host = new SimHost({ open: (client) => this.open(client), refuse: () => this.refusing() });
    for (const fault of ARCHON_FAULTS) if (this.options[fault]) this.setFault(fault, true);
  }

  // ---- state for tests and the CLI ----

  get faults(): ArchonFault[] {
    return this.faultSwitches.active;
  }

  setFault(fault: ArchonFault | StandardFault, active: boolean): void {
    this.faultSwitches.set(fault, active);
  }

  /** The next n text replies arrive garbled. */
  garbleNextReplies(n = 1): void {
    this.faultSwitches.garbleNext(n);
  }

  get stats(): Readonly<ArchonSimulatorStats> {
    let live = 0;
    for (const s of this.sessions) live += s.blocksSent;
    return { requests: this.requests, clients: this.sessions.size, blocksSent: this.blocksSent + live, reboots: this.reboots };
  }

  /** The last requests and replies, oldest first. */
  get transcript(): readonly TranscriptEntry[] {
    return this.log.all;
  }

  /** The controller's newest complete frame number (0 after boot). */
  get frameCount(): number {
    this.controller.sync();
    return this.controller.engine.frames;
  }

  // ---- serving ----

  private refusing(): boolean {
    return this.faultSwitches.refusing || this.now() < this.bootingUntil;
  }

  private open(client: SimClient): SimSession {
    const session = new ArchonSession(client, {
      execute: (command) => {
        this.requests++;
        return this.controller.execute(command, this.faultSwitches.has('refuse'));
      },
      read: (buffer, offset, bytes) => this.controller.readMemory(buffer, offset, bytes),
      deaf: () => this.faultSwitches.deaf,
      garble: () => this.faultSwitches.takeGarble(),
      bytesPerMs: () => (this.options.fetchRate > 0 ? (this.options.fetchRate * 1024 * 1024) / 1000 : 0),
      dropAfter: (blocks) => {
        if (!this.faultSwitches.has('dropMidFetch')) return undefined;
        this.faultSwitches.set('dropMidFetch', false);
        return Math.max(1, Math.floor(blocks / 2));
      },
      busy: () => this.streams > 0,
      streaming: (active) => {
        this.streams += active ? 1 : -1;
        if (this.streams === 0) for (const s of [...this.sessions]) s.resume();
      },
      restart: (kind) => this.restart(kind),
      transcript: (request, reply) => this.log.push(reply === undefined ? { t: this.now(), request } : { t: this.now(), request, reply }),
      onClose: (s) => {
        this.blocksSent += s.blocksSent;
        s.blocksSent = 0;
        this.sessions.delete(s);
      },
    });
    if (this.sessions.size >= this.options.maxClients) {
      // More clients than the backplane takes: the connection is closed at once.
      client.socket?.destroy();
      session.close();
      return session;
    }
    this.sessions.add(session);
    return session;
  }

  /** REBOOT, WARMBOOT: every connection drops and new ones are refused while the unit boots. */
  private restart(kind: 'reboot' | 'warmboot' | 'none'): void {
    for (const s of [...this.sessions]) s.drop();
    this.host.dropTcpClients();
    if (kind === 'none') return;
    this.reboots++;
    this.bootingUntil = this.now() + this.options.rebootMs;
    if (kind === 'reboot') this.controller.boot();
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

export function createArchonSimulator(options: SimulatorOptions = {}): ArchonSimulator {
  return new ArchonSimulator(options);
}
