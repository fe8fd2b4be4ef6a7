/**
 * One device run in this process, for `labwire direct`: the daemon's DeviceRunner on the link (the
 * same driver, poll plan, pacing, validation and limits), with no server and no listening port.
 * It answers the requests a daemon answers about the device itself, so `direct … send` and
 * `labwire send` print the same reply lines.
 */
import { BinaryResult, type AnyDeviceDefinition } from '../daemon/api.js';
import { DeviceRunner, toLabwireError, type Actor, type UpdateEvent } from '../daemon/runner.js';
import type { LinkSpec } from '../links/types.js';
import { formatLinkSpec } from '../links/index.js';
import type { Logger } from '../util/logger.js';
import { formatErrorReply, formatOk, formatValue, quote } from '../wire/format.js';
import { parseLine } from '../wire/tokenize.js';
import { LabwireError, type StatusDoc, type WireValue } from '../wire/types.js';

export interface DirectDeviceOptions {
  definition: AnyDeviceDefinition;
  /** Device options, parsed by the definition's schema. */
  options?: unknown;
  link: LinkSpec;
  siteLimits?: Record<string, { min?: number; max?: number }>;
  /** Bounds the connect and the first reading of every poll group. */
  timeoutMs: number;
  logger: Logger;
  version: string;
}

/** Who the audit trail names for commands given on this command line. */
const ACTOR: Actor = { who: 'direct', peer: 'local' };
/** The runner's state_text before its first connection attempt has ended. */
const NOT_TRIED = 'no link to the device: not connected yet';
/** Requests that only make sense on a daemon's port. */
const DAEMON_ONLY = new Set(['subscribe', 'unsubscribe', 'auth', 'as', 'exit', 'programme_load', 'programme_start', 'programme_pause', 'programme_stop', 'programme_status', 'programme_profile']);

export class DirectDevice {
  private constructor(
    private readonly runner: DeviceRunner,
    private readonly linkText: string,
  ) {}

  /**
   * Opens the link and waits until the device has been read once (every poll group answered or
   * failed). A link that cannot be opened fails at once with the reason: a one-shot command does
   * not retry. Rejects with LabwireError('CommunicationFailed' | 'Timeout').
   */
  static async open(o: DirectDeviceOptions): Promise<DirectDevice> {
    const runner = new DeviceRunner({
      definition: o.definition,
      options: o.options,
      link: o.link,
      siteLimits: o.siteLimits,
      logger: o.logger,
      version: o.version,
      name: o.definition.type,
    });
    const device = new DirectDevice(runner, formatLinkSpec(o.link));
    runner.start();
    try {
      await device.firstReading(o.timeoutMs);
    } catch (err) {
      await runner.stop();
      throw err;
    }
    return device;
  }

  get type(): string {
    return this.runner.definition.type;
  }

  close(): Promise<void> {
    return this.runner.stop();
  }

  /** The cached values as a status document, every parameter or the named ones (in that order). */
  status(names: string[] = []): StatusDoc {
    const all = this.runner.valueMap();
    for (const n of names) {
      if (!Object.hasOwn(all, n)) throw new LabwireError('NoSuchParameter', `no parameter "${n}"; parameters: ${Object.keys(all).join(', ')}`, 'get');
    }
    const keys = names.length > 0 ? names : Object.keys(all);
    const units = this.runner.units();
    const ts = this.runner.timestamps();
    const doc: StatusDoc = { name: this.runner.name, t: Date.now(), values: {}, units: {}, ts: {} };
    for (const k of keys) {
      const v = all[k] ?? null;
      doc.values[k] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
      if (units[k]) doc.units[k] = units[k];
      if (ts[k] !== undefined) doc.ts[k] = ts[k];
    }
    return doc;
  }

  /** Validates every pair against the limits, then writes them; resolves with the values as applied. */
  set(pairs: Record<string, string>): Promise<Record<string, WireValue>> {
    return this.runner.setParams(pairs, ACTOR);
  }

  /** A device command; positional arguments fill the declared ones in order. */
  call(command: string, args: string[], kwargs: Record<string, string>): Promise<Record<string, WireValue> | BinaryResult> {
    return this.runner.runCommand(command, args, kwargs, ACTOR);
  }

  /** Calls `onUpdate` with every change of the cached values until the returned function is called. */
  follow(onUpdate: (update: UpdateEvent) => void): () => void {
    this.runner.on('update', onUpdate);
    return () => this.runner.off('update', onUpdate);
  }

  /**
   * One labwire request line, answered as the daemon answers it (PROTOCOL.md): the reply line,
   * `error <Code> …` included. Requests that belong to a daemon's port are refused with a hint.
   */
  async answer(line: string): Promise<string> {
    let name = '-';
    try {
      const cmd = parseLine(line);
      if (cmd.name === null) throw new LabwireError('ProtocolError', 'empty request: give a labwire line such as get_status or set setpoint=12.5', '-');
      name = cmd.name;
      switch (name) {
        case 'ping':
          return 'pong';
        case 'help':
          return formatOk('help', { commands: ['get_id', 'get_status', 'describe', 'set', 'ping', 'help', ...this.runner.commandNames()].join(' ') });
        case 'get_id':
          return `id name=${quote(this.runner.name)} type=${quote(this.type)} protocol=labwire/1 version=${quote(this.runner.version)}`;
        case 'describe':
          return `describe ${JSON.stringify(this.runner.describe())}`;
        case 'get_status': {
          const format = cmd.kwargs.format ?? 'text';
          if (format === 'json') return `status_json ${JSON.stringify(this.status())}`;
          if (format !== 'text') throw new LabwireError('WrongType', `unknown status format "${format}": expected text or json`, 'get_status');
          return `status ${this.runner.values().map(([k, v]) => `${k}=${quote(formatValue(v))}`).join(' ')}`;
        }
        case 'set':
          if (cmd.args.length > 0) throw new LabwireError('ProtocolError', `set takes name=value pairs, e.g. set setpoint=12.5; got "${cmd.args[0]}"`, 'set');
          return formatOk('set', await this.set(cmd.kwargs));
      }
      if (DAEMON_ONLY.has(name)) {
        throw new LabwireError('NoSuchCommand', `${name} needs a daemon; labwire direct runs the device without one (use watch to follow changes)`, name);
      }
      const result = await this.call(name, cmd.args, cmd.kwargs);
      // A line answer cannot carry bytes: say what came instead.
      if (result instanceof BinaryResult) return formatOk(name, { binary: result.kind, size: result.data.length, ...result.fields });
      return formatOk(name, result);
    } catch (err) {
      return formatErrorReply(toLabwireError(err, name));
    }
  }

  /** Resolves once the link is up and every poll group has been read; rejects on a failed link or the deadline. */
  private firstReading(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const v = this.runner.valueMap();
        if (v.hw_connected === true) {
          // Busy after connecting means "reading every poll group"; nothing else runs yet.
          if (v.state !== 'busy') done();
          return;
        }
        const text = String(v.state_text ?? '');
        if (text !== NOT_TRIED) {
          done(new LabwireError('CommunicationFailed', `cannot reach the ${this.type} device over ${this.linkText}: ${text.replace(/^no link to the device: /, '')}`, 'direct'));
        }
      };
      const timer = setTimeout(() => {
        const v = this.runner.valueMap();
        const why = v.hw_connected === true ? 'it did not answer every poll in time' : String(v.state_text ?? 'no link');
        done(new LabwireError('Timeout', `no complete reading from the ${this.type} device over ${this.linkText} within ${timeoutMs} ms: ${why}`, 'direct'));
      }, timeoutMs);
      const onUpdate = (): void => check();
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.runner.off('update', onUpdate);
        if (err) reject(err);
        else resolve();
      };
      this.runner.on('update', onUpdate);
      check();
    });
  }
}
