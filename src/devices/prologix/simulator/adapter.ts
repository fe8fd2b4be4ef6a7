/**
 * The simulated Prologix GPIB-ETHERNET adapter (reference/prologix-gpib.md §8): its settings, its
 * `++` command set with the replies a real unit gives, data delivery to the instrument models at
 * `++addr`, and reads that end in silence when nothing is pending. One client at a time: the
 * serving side (simulator.ts) hands it the newest client's lines.
 */
import type { BusInstrumentModel } from '../../../daemon/api.js';
import { EOS_BYTES, UNRECOGNIZED, type HostLine } from '../../kits/gpib/codec.js';

export const ADAPTER_VERSION = 'Prologix GPIB-ETHERNET Controller version 01.06.06.00';

export interface AdapterSettings {
  addr: number;
  /** Secondary address 96–126, or undefined. */
  sad: number | undefined;
  auto: 0 | 1;
  eoi: 0 | 1;
  eos: 0 | 1 | 2 | 3;
  eot_enable: 0 | 1;
  eot_char: number;
  mode: 0 | 1;
  read_tmo_ms: number;
  savecfg: 0 | 1;
}

/** The spec's starting values (§8); `++savecfg 1` keeps changes for the adapter's lifetime here. */
export const ADAPTER_DEFAULTS: Readonly<AdapterSettings> = {
  addr: 4, sad: undefined, auto: 0, eoi: 1, eos: 0, eot_enable: 0, eot_char: 0, mode: 1, read_tmo_ms: 500, savecfg: 1,
};

/** Faults of one instrument address. */
export type InstrumentFault = 'off' | 'garble';

const HELP = [
  '++addr [1-29]', '++auto [0 | 1]', '++clr', '++eoi [0 | 1]', '++eos [0 | 1 | 2 | 3]', '++eot_enable [0 | 1]',
  '++eot_char <char>', '++help', '++ifc', '++llo', '++loc', '++lon [0 | 1]', '++mode [0 | 1]',
  '++read [eoi | <char>]', '++read_tmo_ms <time>', '++rst', '++savecfg [0 | 1]', '++spoll [<PAD> [<SAD>]]',
  '++srq', '++status [<byte>]', '++trg [<PAD1> [<SAD1>] <PAD2> [<SAD2>] ...]', '++ver',
];

/** Flag settings: name → allowed values. */
const FLAGS: Readonly<Record<string, readonly number[]>> = {
  auto: [0, 1], eoi: [0, 1], eos: [0, 1, 2, 3], eot_enable: [0, 1], mode: [0, 1], savecfg: [0, 1],
};

const INTEGER = /^\d{1,6}$/;

export interface AdapterHooks {
  /** Bytes to the host. */
  send(data: Buffer): void;
  /** `++rst`: the adapter resets and the connection closes. */
  reset(): void;
  sleep(ms: number): Promise<void>;
}

export interface AdapterOptions {
  instruments: ReadonlyMap<number, BusInstrumentModel>;
  /** Time an instrument takes to start answering a read. */
  latencyMs: number;
  /** Overrides of the starting settings (read_tmo_ms, eos). */
  settings?: Partial<AdapterSettings>;
}

export class PrologixAdapter {
  settings: AdapterSettings;
  /** Power-on settings: what `++savecfg 1` stores. */
  private saved: AdapterSettings;
  private readonly faults = new Map<number, InstrumentFault>();
  /** Bytes of an instrument message a `++read <char>` left unread. */
  private readonly leftover = new Map<number, Buffer>();
  /** Every data message delivered, for tests: address and bytes. */
  readonly delivered: Array<{ address: number; data: Buffer }> = [];
  /** Adapter commands executed, for tests. */
  readonly executed: string[] = [];

  constructor(private readonly opts: AdapterOptions) {
    this.saved = { ...ADAPTER_DEFAULTS, ...opts.settings };
    this.settings = { ...this.saved };
  }

  setFault(address: number, fault: InstrumentFault | undefined): void {
    if (fault === undefined) this.faults.delete(address);
    else this.faults.set(address, fault);
  }

  /** Power cycle: settings back to what was saved. */
  powerOn(): void {
    this.settings = { ...this.saved };
    this.leftover.clear();
  }

  async handle(line: HostLine, hooks: AdapterHooks): Promise<void> {
    if (line.kind === 'data') {
      await this.data(line.data, hooks);
      return;
    }
    this.executed.push(line.raw);
    const reply = (text: string): void => hooks.send(Buffer.from(`${text}\r\n`, 'latin1'));
    const unrecognized = (): void => reply(UNRECOGNIZED);
    const { name, args } = line;
    if (Object.hasOwn(FLAGS, name)) {
      const key = name as keyof typeof FLAGS & keyof AdapterSettings;
      if (args.length === 0) return reply(String(this.settings[key]));
      const v = args.length === 1 && INTEGER.test(args[0]!) ? Number(args[0]) : NaN;
      if (!FLAGS[key]!.includes(v)) return unrecognized();
      (this.settings as unknown as Record<string, number>)[key] = v;
      return this.persist();
    }
    switch (name) {
      case 'addr': {
        if (args.length === 0) return reply(this.settings.sad === undefined ? String(this.settings.addr) : `${this.settings.addr} ${this.settings.sad}`);
        const pad = parseIn(args[0], 0, 30);
        const sad = args.length > 1 ? parseIn(args[1], 96, 126) : undefined;
        if (pad === undefined || args.length > 2 || (args.length > 1 && sad === undefined)) return unrecognized();
        this.settings.addr = pad;
        this.settings.sad = sad;
        return this.persist();
      }
      case 'read_tmo_ms': {
        if (args.length === 0) return reply(String(this.settings.read_tmo_ms));
        const v = args.length === 1 ? parseIn(args[0], 1, 3000) : undefined;
        if (v === undefined) return unrecognized();
        this.settings.read_tmo_ms = v;
        return this.persist();
      }
      case 'eot_char': {
        if (args.length === 0) return reply(String(this.settings.eot_char));
        const v = args.length === 1 ? parseIn(args[0], 0, 255) : undefined;
        if (v === undefined) return unrecognized();
        this.settings.eot_char = v;
        return this.persist();
      }
      case 'read': {
        if (args.length > 1) return unrecognized();
        const arg = args[0];
        if (arg === undefined) return this.read(hooks, 'timeout');
        if (arg === 'eoi') return this.read(hooks, 'eoi');
        const ch = parseIn(arg, 0, 255);
        if (ch === undefined) return unrecognized();
        return this.read(hooks, ch);
      }
      case 'spoll': {
        const pad = args.length > 0 ? parseIn(args[0], 0, 30) : this.settings.addr;
        if (pad === undefined || args.length > 2) return unrecognized();
        const model = this.live(pad);
        if (!model) return hooks.sleep(this.settings.read_tmo_ms);
        return reply(String(model.statusByte?.() ?? 0));
      }
      case 'clr':
        this.leftover.delete(this.settings.addr);
        this.live(this.settings.addr)?.clear();
        return;
      case 'ifc':
      case 'llo':
      case 'loc':
      case 'trg':
        return;
      case 'srq':
        return reply('0');
      case 'ver':
        return args.length === 0 ? reply(ADAPTER_VERSION) : unrecognized();
      case 'help':
        for (const h of HELP) reply(h);
        return;
      case 'rst':
        this.powerOn();
        hooks.reset();
        return;
      default:
        // ++lon and ++status are listed by ++help but refused by this firmware (measured); so is
        // every other word, and every case variant: names are lowercase and case-sensitive.
        return unrecognized();
    }
  }

  private persist(): void {
    if (this.settings.savecfg === 1) this.saved = { ...this.settings };
  }

  /** The model at the address, unless there is none or it is switched off. */
  private live(address: number): BusInstrumentModel | undefined {
    if (this.faults.get(address) === 'off') return undefined;
    return this.opts.instruments.get(address);
  }

  private async data(data: Buffer, hooks: AdapterHooks): Promise<void> {
    if (this.settings.mode !== 1) return;
    const address = this.settings.addr;
    const message = Buffer.concat([data, EOS_BYTES[this.settings.eos]!]);
    this.delivered.push({ address, data: message });
    // No instrument (or one switched off): the bytes vanish on the bus.
    this.live(address)?.receive(message);
    if (this.settings.auto === 1) await this.read(hooks, 'eoi');
  }

  private async read(hooks: AdapterHooks, until: 'eoi' | 'timeout' | number): Promise<void> {
    const address = this.settings.addr;
    const model = this.live(address);
    let out = this.leftover.get(address) ?? model?.talk();
    this.leftover.delete(address);
    if (out === undefined || out.length === 0) {
      // Nothing to say: the host hears nothing at all, after the read timeout.
      await hooks.sleep(this.settings.read_tmo_ms);
      return;
    }
    if (this.opts.latencyMs > 0) await hooks.sleep(this.opts.latencyMs);
    if (typeof until === 'number') {
      const at = out.indexOf(until);
      if (at >= 0 && at < out.length - 1) {
        this.leftover.set(address, out.subarray(at + 1));
        out = out.subarray(0, at + 1);
      }
    }
    if (this.faults.get(address) === 'garble') out = garble(out);
    hooks.send(out);
    if (this.settings.eot_enable === 1) hooks.send(Buffer.from([this.settings.eot_char]));
    if (until === 'timeout') await hooks.sleep(this.settings.read_tmo_ms);
  }
}

function parseIn(text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined || !INTEGER.test(text)) return undefined;
  const v = Number(text);
  return v >= min && v <= max ? v : undefined;
}

/** A reply hit by noise on the bus: printable bytes replaced, the terminator kept. */
function garble(reply: Buffer): Buffer {
  const out = Buffer.from(reply);
  for (let i = 0; i < out.length; i += 2) if (out[i]! > 0x20 && out[i]! < 0x7f) out[i] = 0x7e - (out[i]! - 0x21);
  return out;
}
