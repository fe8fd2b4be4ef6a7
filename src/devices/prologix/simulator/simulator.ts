/**
 * `labwire sim prologix`: a GPIB-ETHERNET adapter on TCP with instrument models behind it. The
 * adapter takes one client: a new connection gets it and the previous socket is closed, as the
 * real unit does. Host lines are executed strictly one after another (a read holds the lines
 * behind it until it ends), which is what lets the bus end every transaction with `++ver`.
 */
import { STANDARD_FAULTS, type BusInstrumentModel, type Simulator, type SimulatorOptions, type StandardFault } from '../../../daemon/api.js';
import { SimHost, type SimClient, type SimSession } from '../../../links/sim-host.js';
import { HostLineAssembler, isAddress, type HostLine } from '../../kits/gpib/codec.js';
import { PrologixAdapter, type AdapterSettings, type InstrumentFault } from './adapter.js';

export interface PrologixSimulatorOptions {
  /** Instrument models by GPIB address; the CLI builds them with each family's createBusInstrument. */
  instruments: ReadonlyMap<number, BusInstrumentModel>;
  /** How long an instrument takes to start answering (default 0; tens of ms are realistic). */
  latencyMs: number;
  settings?: Partial<AdapterSettings>;
}

export class PrologixSimulator implements Simulator {
  readonly adapter: PrologixAdapter;
  private readonly host: SimHost;
  private current: { client: SimClient; session: AdapterSession } | undefined;
  private refusing = false;
  private readonly active: Record<StandardFault, boolean> = { linkDrop: false, garble: false, silence: false };
  /** TCP clients accepted so far (the count a takeover test watches). */
  clientsAccepted = 0;

  constructor(private readonly opts: PrologixSimulatorOptions) {
    this.adapter = new PrologixAdapter({ instruments: opts.instruments, latencyMs: opts.latencyMs, settings: opts.settings });
    this.host = new SimHost({
      open: (client) => this.open(client),
      refuse: () => this.refusing,
    });
  }

  listenTcp(host: string, port: number): Promise<number> {
    return this.host.listenTcp(host, port);
  }

  listenPty(): Promise<string> {
    return Promise.reject(new Error('the Prologix GPIB-ETHERNET adapter is a network device: serve it with --listen host:port'));
  }

  /**
   * The standard faults of every simulator: `linkDrop` closes the client and refuses new ones
   * until cleared; `silence` keeps the connection open but ignores everything (a half-open
   * link, an adapter that hangs); `garble` corrupts every instrument's replies. One instrument's
   * own faults are `setInstrumentFault`.
   */
  setFault(fault: StandardFault, on: boolean): void {
    if (fault === 'silence') this.adapter.hung = on;
    else if (fault === 'linkDrop') {
      this.refusing = on;
      if (on) this.host.dropTcpClients();
    } else {
      for (const address of this.opts.instruments.keys()) this.setInstrumentFault(address, 'garble', on);
    }
    this.active[fault] = on;
  }

  get faults(): readonly string[] {
    return STANDARD_FAULTS.filter((f) => this.active[f]);
  }

  /** `off`: the instrument at `address` answers nothing; `garble`: its replies are corrupted. */
  setInstrumentFault(address: number, fault: InstrumentFault, on: boolean): void {
    if (!isAddress(address)) throw new Error(`fault ${fault} needs a GPIB address 0–30, not ${address}`);
    this.adapter.setFault(address, on ? fault : undefined);
  }

  async close(): Promise<void> {
    this.current?.session.close();
    await this.host.close();
    for (const m of this.opts.instruments.values()) m.close?.();
  }

  private open(client: SimClient): SimSession {
    // One client only: the newest takes the adapter, the previous socket is closed.
    const previous = this.current;
    if (previous) {
      previous.session.close();
      previous.client.socket?.destroy();
    }
    this.clientsAccepted += 1;
    const session = new AdapterSession(this.adapter, client, () => {
      if (this.current?.session === session) this.current = undefined;
    });
    this.current = { client, session };
    return session;
  }
}

class AdapterSession implements SimSession {
  private readonly assembler = new HostLineAssembler();
  private readonly queue: HostLine[] = [];
  private running = false;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly adapter: PrologixAdapter, private readonly client: SimClient, private readonly onClose: () => void) {}

  receive(chunk: Buffer): void {
    if (this.closed || this.adapter.hung) return;
    this.queue.push(...this.assembler.push(chunk));
    if (!this.running) void this.run();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.onClose();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let line = this.queue.shift(); line !== undefined && !this.closed; line = this.queue.shift()) {
        await this.adapter.handle(line, {
          send: (data) => {
            if (!this.closed) this.client.write(data);
          },
          reset: () => {
            this.client.socket?.destroy();
            this.close();
          },
          sleep: (ms) => this.sleep(ms),
        });
      }
    } finally {
      this.running = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
      // A closed session's pending read ends at once, and the loop stops.
      if (this.closed) {
        clearTimeout(t);
        resolve();
      }
    });
  }
}

/**
 * Builds the simulator from `labwire sim` options: `instruments` maps an address (number or
 * text) to a ready model; `latencyMs`, `readTimeoutMs` and `eos` tune the adapter.
 */
export function createPrologixSimulator(options: SimulatorOptions): PrologixSimulator {
  const instruments = new Map<number, BusInstrumentModel>();
  const given = options.instruments;
  if (given !== undefined) {
    if (typeof given !== 'object' || given === null) throw new Error('instruments must map GPIB addresses to instrument models');
    const entries = given instanceof Map ? [...(given as Map<unknown, unknown>).entries()] : Object.entries(given);
    for (const [key, model] of entries) {
      const address = Number(key);
      if (!isAddress(address) || address === 0) throw new Error(`instrument address "${String(key)}" must be 1 to 30`);
      if (!isModel(model)) throw new Error(`the instrument at ${address} is not a bus instrument model`);
      instruments.set(address, model);
    }
  }
  const latencyMs = Number(options.latencyMs ?? 0);
  if (!(latencyMs >= 0)) throw new Error('latencyMs must be 0 or more');
  const settings: Partial<AdapterSettings> = {};
  if (options.readTimeoutMs !== undefined) {
    const v = Number(options.readTimeoutMs);
    if (!(Number.isInteger(v) && v >= 1 && v <= 3000)) throw new Error('readTimeoutMs must be 1 to 3000');
    settings.read_tmo_ms = v;
  }
  if (options.eos !== undefined) {
    const v = Number(options.eos);
    if (v !== 0 && v !== 1 && v !== 2 && v !== 3) throw new Error('eos must be 0, 1, 2 or 3');
    settings.eos = v;
  }
  return new PrologixSimulator({ instruments, latencyMs, settings });
}

function isModel(m: unknown): m is BusInstrumentModel {
  const o = m as Partial<BusInstrumentModel> | null;
  return typeof o === 'object' && o !== null && typeof o.receive === 'function' && typeof o.talk === 'function' && typeof o.clear === 'function';
}
