/**
 * The simulated controller's state and its command words (reference/archon.md §3, §11):
 * configuration memory, the flashed power-up configuration, what is applied, the running
 * parameter table, power, the log FETCHLOG drains, the 100 MHz TIMER, the frame buffers and the
 * exposure engine. `execute` answers one command (id already stripped) with what the wire should
 * carry; sockets and streaming are the session's business.
 */
import { formatKeyValues, hex16, MAX_CONFIG_LINES, MAX_PARAM_VALUE, parseFetchCommand, parseWconfig } from '../codec.js';
import { DEMO_MODULES, demoAcf, systemPairs } from '../demo-acf.js';
import { FrameBuffers, type SimBuffer } from './buffers.js';
import { acfConfigLines, appliedGeometry, configParameters, ConfigMemory, type AppliedGeometry, type Parameter } from './config-memory.js';
import { ExposureEngine, ticks } from './engine.js';
import { bootGeometry, type ParsedArchonOptions } from './options.js';
import { POWER, StatusModel } from './status.js';

/** What a command puts on the wire. */
export type Outcome =
  | { kind: 'reply'; body: string }
  /** `?xx`; the reason went to the log. */
  | { kind: 'fail'; reason: string }
  /** An unrecognised word: no reply at all. */
  | { kind: 'silent' }
  | { kind: 'fetch'; buffer: SimBuffer; offset: number; blocks: number }
  /** The connection drops without a reply (REBOOT, WARMBOOT, APPLYNET). */
  | { kind: 'close'; restart: 'reboot' | 'warmboot' | 'none' };

/** Entries the log keeps before the oldest are lost. */
const LOG_LIMIT = 512;

const ok = (body = ''): Outcome => ({ kind: 'reply', body });

export interface ControllerHooks {
  /** Wall clock, ms. */
  now: () => number;
  /** The stuckReadout fault is on. */
  stuck: () => boolean;
}

export class ArchonController {
  readonly config = new ConfigMemory();
  /** The configuration FLASHACTIVECONFIG stored; loaded into configuration memory at boot. */
  private flash: string[];
  private applied: AppliedGeometry | undefined;
  /** Configuration keys as of the last APPLYALL (bias voltages and heater targets STATUS reports). */
  private appliedKeys = new Map<string, string>();
  private appliedSinceBoot = false;
  /** The running parameter table: upper-case name → parameter. */
  private params = new Map<string, Parameter>();
  /** PREPPARAM/FASTPREPPARAM values that the next (FAST)LOADPARAM makes take effect. */
  private staged = new Map<string, number>();
  private power: number = POWER.notConfigured;
  /** Simulated ms when POWER reaches 4 after POWERON. */
  private poweredAt = 0;
  private readonly log: string[] = [];
  /** Wall-clock ms of the last boot: TIMER counts from here. */
  private bootedAt: number;
  readonly buffers = new FrameBuffers();
  readonly engine: ExposureEngine;
  private readonly status: StatusModel;

  constructor(
    private readonly options: ParsedArchonOptions,
    private readonly hooks: ControllerHooks,
  ) {
    const g = bootGeometry(options);
    this.flash = acfConfigLines(demoAcf({ ...g, applyAll: options.configured, powerOn: options.configured }));
    const probe = new ConfigMemory();
    probe.load(this.flash);
    const problem = appliedGeometry(probe.keys());
    if (typeof problem === 'string') throw new Error(`invalid options for the archon simulator: ${problem}`);
    this.status = new StatusModel(DEMO_MODULES, options.seed);
    this.bootedAt = hooks.now();
    this.engine = new ExposureEngine(
      {
        geometry: () => this.applied,
        poweredFrom: () => (this.power === POWER.on || this.power === POWER.intermediate ? this.poweredAt : undefined),
        param: (name) => this.params.get(name.toUpperCase())?.value ?? 0,
        setParam: (name, value) => {
          const p = this.params.get(name.toUpperCase());
          if (p) p.value = value;
        },
        lineRate: () => this.options.lineRate ?? this.applied?.linecount ?? 512,
        stuck: () => hooks.stuck(),
        seed: options.seed,
        names: { exposures: options.exposuresParam, intMs: options.intMsParam, shutter: options.shutterParam, abort: options.abortParam },
      },
      this.buffers,
    );
    this.boot();
  }

  // ---- clock and state for the simulator and tests ----

  /** Simulated ms since boot. */
  get simNow(): number {
    return (this.hooks.now() - this.bootedAt) * this.options.timeScale;
  }

  /** Brings power and the exposure engine up to now; every command calls it first. */
  sync(): number {
    const now = this.simNow;
    if (this.power === POWER.intermediate && now >= this.poweredAt) this.power = POWER.on;
    this.engine.advance(now);
    return now;
  }

  get powerState(): number {
    this.sync();
    return this.power;
  }

  get geometry(): AppliedGeometry | undefined {
    return this.applied;
  }

  /** A running parameter's value, undefined if the table has none of that name. */
  parameter(name: string): number | undefined {
    this.sync();
    return this.params.get(name.toUpperCase())?.value;
  }

  /** Pending log entries, oldest first. */
  get logEntries(): readonly string[] {
    return [...this.log];
  }

  private logLine(text: string): void {
    this.log.push(text);
    if (this.log.length > LOG_LIMIT) this.log.shift();
  }

  /** A recognised command that failed: `?xx` and a log entry saying why. */
  fail(reason: string): Outcome {
    this.logLine(reason);
    return { kind: 'fail', reason };
  }

  // ---- boot ----

  /** Power-up (and REBOOT): TIMER and frame counter from zero, the flashed configuration loaded and, if it says so, applied and powered. */
  boot(): void {
    this.bootedAt = this.hooks.now();
    this.log.length = 0;
    this.config.load(this.flash);
    this.buffers.reset(0);
    this.engine.reboot(0);
    this.applied = undefined;
    this.appliedKeys = new Map();
    this.appliedSinceBoot = false;
    this.params = new Map();
    this.staged.clear();
    this.power = POWER.notConfigured;
    const keys = this.config.keys();
    if ((keys.get('APPLYALL') ?? '').trim() === '1') {
      const result = this.applyAll(0);
      if (result.kind === 'reply' && (keys.get('POWERON') ?? '').trim() === '1') {
        this.power = POWER.on;
        this.poweredAt = 0;
      }
    }
  }

  // ---- commands ----

  /** One command word with its arguments (the `>HH` already removed). */
  execute(command: string, refuse = false): Outcome {
    const text = command.trim();
    const upper = text.toUpperCase();
    const handler = this.lookup(upper, text);
    if (!handler) return { kind: 'silent' };
    if (refuse) return this.fail(`${upper.split(/\s/)[0]}: refused (simulated fault)`);
    return handler();
  }

  private lookup(upper: string, text: string): (() => Outcome) | undefined {
    const exact = this.words[upper];
    if (exact) return () => exact.call(this);
    const args = text.split(/\s+/).slice(1);
    const word = upper.split(/\s+/)[0]!;
    if (word === 'LOADPARAM') return () => this.loadParam(args);
    if (word === 'PREPPARAM') return () => this.prepParam(args);
    if (word === 'FASTLOADPARAM') return () => this.fastParam(args, false);
    if (word === 'FASTPREPPARAM') return () => this.fastParam(args, true);
    if (upper.startsWith('LOCK')) return () => this.lock(upper);
    if (upper.startsWith('FETCH')) return () => this.fetch(upper);
    if (upper.startsWith('WCONFIG')) return () => this.wconfig(text);
    if (upper.startsWith('RCONFIG')) return () => this.rconfig(upper);
    if (upper.startsWith('APPLYMOD') || upper.startsWith('APPLYDIO')) return () => this.applyModule(upper);
    return undefined;
  }

  private readonly words: Record<string, (this: ArchonController) => Outcome> = {
    SYSTEM() {
      return ok(formatKeyValues(systemPairs(DEMO_MODULES)));
    },
    STATUS() {
      const now = this.sync();
      return ok(formatKeyValues(this.status.pairs({ count: Math.floor(now / 1000), log: this.log.length, power: this.power, config: this.appliedKeys })));
    },
    FRAME() {
      const now = this.sync();
      return ok(this.buffers.frameBody(ticks(now)));
    },
    TIMER() {
      return ok(`TIMER=${hex16(ticks(this.sync()))}`);
    },
    FETCHLOG() {
      return ok(this.log.shift() ?? '(null)');
    },
    CLEARCONFIG() {
      this.config.clear();
      return ok();
    },
    POLLOFF: () => ok(),
    POLLON: () => ok(),
    BIASPOLLOFF: () => ok(),
    BIASPOLLON: () => ok(),
    FLASHACTIVECONFIG() {
      this.flash = this.config.all();
      return ok();
    },
    ERASESTOREDCONFIG() {
      this.flash = [];
      return ok();
    },
    APPLYALL() {
      return this.applyAll(this.sync());
    },
    APPLYCDS() {
      const now = this.sync();
      const g = appliedGeometry(this.config.keys());
      if (typeof g === 'string') return this.fail(`APPLYCDS: ${g}`);
      this.engine.reset(now);
      this.setGeometry(g);
      return ok();
    },
    APPLYSYSTEM: () => ok(),
    APPLYNET: () => ({ kind: 'close', restart: 'none' }),
    LOADTIMING() {
      const now = this.sync();
      const params = configParameters(this.config.keys());
      if (typeof params === 'string') return this.fail(`LOADTIMING: ${params}`);
      this.engine.reset(now);
      this.params = params;
      this.engine.parameterChanged(now);
      return ok();
    },
    LOADPARAMS() {
      const now = this.sync();
      const params = configParameters(this.config.keys());
      if (typeof params === 'string') return this.fail(`LOADPARAMS: ${params}`);
      for (const [key, p] of params) this.params.set(key, { ...p });
      this.engine.parameterChanged(now);
      return ok();
    },
    HOLDTIMING() {
      this.engine.hold(this.sync());
      return ok();
    },
    RELEASETIMING() {
      this.engine.release(this.sync());
      return ok();
    },
    RESETTIMING() {
      const now = this.sync();
      this.engine.reset(now);
      this.engine.advance(now);
      return ok();
    },
    POWERON() {
      const now = this.sync();
      if (!this.appliedSinceBoot) return this.fail('POWERON: no APPLYALL since boot');
      if (this.power === POWER.on || this.power === POWER.intermediate) return ok();
      this.power = POWER.intermediate;
      this.poweredAt = now + this.options.powerOnMs;
      this.sync();
      return ok();
    },
    POWEROFF() {
      const now = this.sync();
      if (this.appliedSinceBoot) {
        this.engine.reset(now);
        this.power = POWER.off;
      }
      return ok();
    },
    REBOOT: () => ({ kind: 'close', restart: 'reboot' }),
    WARMBOOT: () => ({ kind: 'close', restart: 'warmboot' }),
  };

  private setGeometry(g: AppliedGeometry): void {
    if (g.bigbuf !== this.buffers.bigBuffers) this.buffers.reset(g.bigbuf);
    this.applied = g;
  }

  private applyAll(now: number): Outcome {
    const keys = this.config.keys();
    const g = appliedGeometry(keys);
    if (typeof g === 'string') return this.fail(`APPLYALL: ${g}`);
    const params = configParameters(keys);
    if (typeof params === 'string') return this.fail(`APPLYALL: ${params}`);
    this.engine.reset(now);
    this.setGeometry(g);
    this.appliedKeys = keys;
    this.params = params;
    this.staged.clear();
    this.appliedSinceBoot = true;
    // APPLYALL leaves the CCD's biases and clocks off (manual p.51).
    this.power = POWER.off;
    return ok();
  }

  private applyModule(upper: string): Outcome {
    const m = /^APPLY(MOD|DIO)([0-9A-F]{2})$/.exec(upper);
    if (!m) return this.fail(`${upper.slice(0, 8)}: expected two hex digits (slot - 1)`);
    const slot = Number.parseInt(m[2]!, 16) + 1;
    const module = DEMO_MODULES.find((x) => x.slot === slot);
    if (!module || module.type === 0) return this.fail(`APPLY${m[1]}${m[2]}: no module in slot ${slot}`);
    return ok();
  }

  private lock(upper: string): Outcome {
    const m = /^LOCK(\d+)$/.exec(upper);
    const n = m ? Number(m[1]) : NaN;
    if (!(n >= 0 && n <= this.buffers.count)) return this.fail(`${upper}: buffer outside 0..${this.buffers.count}`);
    this.sync();
    this.buffers.rbuf = n;
    return ok();
  }

  private fetch(upper: string): Outcome {
    const f = parseFetchCommand(upper);
    if (!f) return this.fail(`${upper.slice(0, 30)}: expected FETCH + 8 hex digits address + 8 hex digits blocks`);
    if (f.blocks === 0) return this.fail(`${upper}: zero blocks`);
    const where = this.buffers.locate(f.address, f.blocks * 1024);
    if (!where) return this.fail(`${upper}: range outside frame-buffer memory`);
    this.sync();
    return { kind: 'fetch', buffer: where.buffer, offset: where.offset, blocks: f.blocks };
  }

  /** Bytes of a FETCH as the buffer holds them now (the engine keeps writing during a stream). */
  readMemory(buffer: SimBuffer, offset: number, bytes: number): Buffer {
    this.sync();
    return this.buffers.read(buffer, offset, bytes);
  }

  private wconfig(text: string): Outcome {
    const w = parseWconfig(text.slice(0, 7).toUpperCase() + text.slice(7));
    if (!w) return this.fail(`WCONFIG: expected WCONFIGnnnnKEY=VALUE`);
    const problem = this.config.write(w.line, `${w.key}=${w.value}`);
    return problem ? this.fail(problem) : ok();
  }

  private rconfig(upper: string): Outcome {
    const m = /^RCONFIG([0-9A-F]{4})$/.exec(upper);
    const line = m ? Number.parseInt(m[1]!, 16) : NaN;
    if (!(line >= 0 && line < MAX_CONFIG_LINES)) return this.fail(`${upper.slice(0, 20)}: expected RCONFIG + line 0000..3FFF`);
    return ok(this.config.read(line));
  }

  private applyStaged(): void {
    for (const [key, value] of this.staged) {
      const p = this.params.get(key);
      if (p) p.value = value;
    }
    this.staged.clear();
  }

  private configParameter(name: string): Parameter | string {
    const params = configParameters(this.config.keys());
    if (typeof params === 'string') return params;
    return params.get(name.toUpperCase()) ?? `parameter ${name} not in configuration memory`;
  }

  private loadParam(args: string[]): Outcome {
    if (args.length !== 1) return this.fail('LOADPARAM: expected one parameter name');
    const now = this.sync();
    const p = this.configParameter(args[0]!);
    if (typeof p === 'string') return this.fail(`LOADPARAM: ${p}`);
    this.params.set(p.name.toUpperCase(), { ...p });
    this.applyStaged();
    this.engine.parameterChanged(now);
    return ok();
  }

  private prepParam(args: string[]): Outcome {
    if (args.length !== 1) return this.fail('PREPPARAM: expected one parameter name');
    const p = this.configParameter(args[0]!);
    if (typeof p === 'string') return this.fail(`PREPPARAM: ${p}`);
    this.staged.set(p.name.toUpperCase(), p.value);
    return ok();
  }

  private fastParam(args: string[], prep: boolean): Outcome {
    const word = prep ? 'FASTPREPPARAM' : 'FASTLOADPARAM';
    if (args.length !== 2) return this.fail(`${word}: expected a parameter name and a value`);
    const [name, raw] = args as [string, string];
    const key = name.toUpperCase();
    if (!this.params.has(key)) return this.fail(`${word}: no parameter ${name}`);
    if (!/^\d+$/.test(raw) || Number(raw) > MAX_PARAM_VALUE) return this.fail(`${word}: ${raw} is not an integer 0..${MAX_PARAM_VALUE}`);
    if (prep) {
      this.staged.set(key, Number(raw));
      return ok();
    }
    const now = this.sync();
    this.params.get(key)!.value = Number(raw);
    this.applyStaged();
    this.engine.parameterChanged(now);
    return ok();
  }
}
