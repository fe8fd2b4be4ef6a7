/**
 * Typed API for a Julabo FL chiller over an Exchange (which paces requests 250 ms apart and
 * resynchronises after a timeout or an invalid reply). Writes are never answered by the unit,
 * so every write is confirmed by reading the value back.
 */
import type { ExchangeLike, ExchangeOptions, ReplySplitter, RequestOptions, SerialSettings } from '../../links/types.js';
import { lineSplitter } from '../../links/splitters.js';
import { LabwireError } from '../../wire/types.js';
import {
  checkReply,
  checkRequestLine,
  commands,
  deviceError,
  encodeRequest,
  expectsReply,
  formatSetpoint,
  formatStatus,
  isVersionText,
  parseDeviceError,
  parseMode,
  parseNumber,
  parseStatus,
  validators,
  type JulaboStatus,
} from './codec.js';

/**
 * Manual §11.2: ≥ 250 ms between commands and ≥ 10 ms after a reply. A reply is at most ~80
 * characters, about 170 ms at 4800 baud, so a 2 s timeout leaves ample margin.
 */
export const julaboExchangeOptions: ExchangeOptions = {
  minGapMs: 250,
  gapAfterReplyMs: 10,
  timeoutMs: 2000,
  // After a timeout: 2 s of silence, then `version`, whose text answer no other query shares.
  resyncProbe: {
    request: encodeRequest(commands.version()),
    isAnswer: (reply) => isVersionText(reply.toString('latin1')),
  },
  // 2 s timeout + 2 × (2 s silence + 2 s probe): a unit that stops answering is reported after 10 s.
  silentLinkMs: 10_000,
};

/** Manual §11.1: 4800 baud, 7 data bits, even parity, 1 stop bit, hardware handshake. */
export const JULABO_SERIAL_DEFAULTS = {
  baudRate: 4800,
  dataBits: 7,
  parity: 'even',
  stopBits: 1,
  rtscts: true,
} as const satisfies Partial<SerialSettings>;

/** Replies end with LF (CR LF on some units); blank lines carry nothing. */
export function julaboSplitter(): ReplySplitter {
  return lineSplitter({ terminators: ['\n'], stripCR: true, skipEmpty: true, maxLength: 256 });
}

export interface JulaboDriverOptions {
  /** Terminate requests with CR LF instead of CR. */
  crlf?: boolean;
  /** Read-back must match the written setpoint within this, °C. */
  verifyTolerance?: number;
  /** Read-backs after a write before giving up. */
  verifyTries?: number;
}

export class JulaboDriver {
  private readonly crlf: boolean;
  private readonly verifyTolerance: number;
  private readonly verifyTries: number;

  constructor(
    private readonly exchange: ExchangeLike,
    options: JulaboDriverOptions = {},
  ) {
    this.crlf = options.crlf ?? false;
    this.verifyTolerance = options.verifyTolerance ?? 0.05;
    this.verifyTries = Math.max(1, options.verifyTries ?? 3);
  }

  private async query(line: string, validate: RequestOptions['validate']): Promise<string> {
    const reply = await this.exchange.request(encodeRequest(line, { crlf: this.crlf }), { expectReply: true, validate });
    // The Exchange resolves a query with a reply; guard anyway rather than trust a fake.
    if (reply === undefined) throw new LabwireError('CommunicationFailed', `no reply from the chiller to ${line}`);
    return reply.toString('latin1').trim();
  }

  private async write(line: string): Promise<void> {
    await this.exchange.request(encodeRequest(line, { crlf: this.crlf }), { expectReply: false });
  }

  private async queryNumber(line: string, what: string): Promise<number> {
    const reply = checkReply(await this.query(line, validators.number), `chiller reports an error reading ${what}`);
    const value = parseNumber(reply);
    if (value === undefined) throw new LabwireError('HardwareError', `chiller sent ${JSON.stringify(reply)} for ${what}, not a number`);
    return value;
  }

  /** The unit's software version string, e.g. `JULABO FL1703 V 1.02`. */
  async version(): Promise<string> {
    return checkReply(await this.query(commands.version(), validators.version), 'chiller reports an error reading its version');
  }

  /** Status or error, e.g. {code: 3, text: 'REMOTE START', error: false}. Reading it clears a latched error. */
  async status(): Promise<JulaboStatus> {
    const reply = await this.query(commands.status(), validators.status);
    const status = parseStatus(reply);
    if (!status) throw new LabwireError('HardwareError', `chiller sent ${JSON.stringify(reply)} for its status`);
    return status;
  }

  /** Bath temperature, °C. */
  async temperature(): Promise<number> {
    return this.queryNumber(commands.temperature(), 'the bath temperature');
  }

  /** Working setpoint, °C. */
  async setpoint(): Promise<number> {
    return this.queryNumber(commands.setpoint(), 'the setpoint');
  }

  async isRunning(): Promise<boolean> {
    const reply = checkReply(await this.query(commands.mode(), validators.mode), 'chiller reports an error reading its run state');
    const running = parseMode(reply);
    if (running === undefined) throw new LabwireError('HardwareError', `chiller sent ${JSON.stringify(reply)} for its run state, not 0 or 1`);
    return running;
  }

  /**
   * Writes the setpoint and confirms it by read-back; returns the value the unit holds. A refusal
   * (`-10 VALUE TOO SMALL`, `-09 …` in keypad mode) becomes a HardwareError naming the value.
   */
  async setSetpoint(celsius: number): Promise<number> {
    const sent = Number(formatSetpoint(celsius));
    const text = String(sent);
    await this.write(commands.setSetpoint(celsius));
    let readBack = NaN;
    for (let attempt = 1; attempt <= this.verifyTries; attempt++) {
      readBack = await this.setpoint();
      if (Math.abs(readBack - sent) <= this.verifyTolerance) return readBack;
      // The unit reports a refusal only through `status`; ask before trying again.
      await this.throwIfRefused(`chiller refused setpoint ${text}`);
    }
    throw new LabwireError(
      'HardwareError',
      `chiller did not take setpoint ${text} °C: it still reads ${readBack} °C after ${this.verifyTries} read-backs`,
    );
  }

  /** Starts or stops the unit and confirms by read-back; returns the confirmed state. */
  async setRunning(running: boolean): Promise<boolean> {
    const what = running ? 'start' : 'stop';
    await this.write(commands.setMode(running));
    for (let attempt = 1; attempt <= this.verifyTries; attempt++) {
      if ((await this.isRunning()) === running) return running;
      await this.throwIfRefused(`chiller refused to ${what}`);
    }
    throw new LabwireError('HardwareError', `chiller did not ${what}: it still reports ${running ? 'stopped' : 'running'}`);
  }

  async start(): Promise<boolean> {
    return this.setRunning(true);
  }

  async stop(): Promise<boolean> {
    return this.setRunning(false);
  }

  /**
   * Sends one raw line (for the CLI) and returns the reply, or undefined for an `out_` command,
   * which the unit never answers. Device error replies are returned as text, not thrown.
   */
  async sendRaw(line: string): Promise<string | undefined> {
    const checked = checkRequestLine(line);
    if (!expectsReply(checked)) {
      await this.write(checked);
      return undefined;
    }
    return this.query(checked, undefined);
  }

  private async throwIfRefused(what: string): Promise<void> {
    const status = await this.status();
    if (status.error) {
      const err = parseDeviceError(formatStatus(status.code, status.text));
      if (err) throw deviceError(err, what);
    }
    if (status.code === 0 || status.code === 1) {
      throw new LabwireError(
        'HardwareError',
        `${what}: the unit is under keypad control (${formatStatus(status.code, status.text)}); enable remote control on the unit`,
      );
    }
  }
}
