/**
 * A typed API over the Exchange for an STA Archon controller (reference/archon.md): every request
 * carries its own message id and is taken only with a reply of that id; `?ID` becomes a
 * LabwireError naming the command and, from FETCHLOG, the controller's reason; slow commands get
 * their own timeouts; FETCH streams its blocks straight into the caller's buffer.
 */
import type { ExchangeLike, ExchangeOptions, ReplySplitter } from '../../links/types.js';
import { LabwireError } from '../../wire/types.js';
import {
  ArchonReplySplitter,
  BLOCK_PAYLOAD,
  blocksFor,
  encodeRequest,
  fetchCommand,
  formatId,
  MAX_PARAM_VALUE,
  parseFrame,
  parseKeyValues,
  parseReply,
  wconfigCommands,
  type ConfigLine,
  type FrameInfo,
} from './codec.js';

/** Per-command timeouts (reference §9): 5 s unless the vendor GUI allows a slow command more. */
export const DEFAULT_TIMEOUT_MS = 5000;
const SLOW_COMMANDS: Record<string, number> = { APPLYALL: 30_000, POWERON: 30_000, POWEROFF: 30_000 };

/**
 * Message ids 00…FF, shared by every Archon link of the process: consecutive requests (and resync
 * probes) on one link always carry different ids, so a late reply never matches the request after.
 */
let lastId = 0xff;
export function takeMessageId(): number {
  lastId = (lastId + 1) & 0xff;
  return lastId;
}

/**
 * Id of the newest resync probe: only its answer proves the link in step. A late answer to an
 * earlier probe (written before the line fell silent) must not count, or the real answer would
 * then arrive as the reply to the next request. Two links of one process probing at the same
 * moment may thus refuse each other's answer once; each simply probes again.
 */
let probeId = -1;

function probeAnswer(reply: Buffer): boolean {
  const parsed = parseReply(reply);
  return parsed.kind === 'ok' && parsed.id === probeId && parsed.body.startsWith('TIMER=');
}

/**
 * Exchange settings: replies are cut by the Archon splitter; after anything out of step the line
 * must be quiet for 1 s (the controller answers in order and every reply carries its id, so a
 * short silence is enough), then `TIMER` with a fresh id proves it in step.
 */
export const archonExchangeOptions: ExchangeOptions = {
  timeoutMs: DEFAULT_TIMEOUT_MS,
  resyncQuietMs: 1000,
  resyncProbe: {
    request: encodeRequest(0, 'TIMER'),
    makeRequest: () => {
      probeId = takeMessageId();
      return encodeRequest(probeId, 'TIMER');
    },
    isAnswer: probeAnswer,
    timeoutMs: 2000,
  },
  initialBackoffMs: 500,
  maxBackoffMs: 10_000,
};

export function archonSplitter(): ReplySplitter {
  return new ArchonReplySplitter();
}

export interface CommandOptions {
  timeoutMs?: number;
  /** false: a refusal is not explained from FETCHLOG (FETCHLOG itself). Default true. */
  explainFailure?: boolean;
}

/** The controller's `?ID`: the command was recognised and refused. */
export class ControllerRefused extends LabwireError {
  constructor(
    readonly request: string,
    readonly reason: string | undefined,
  ) {
    super('HardwareError', `the Archon refused ${request}${reason ? `: ${reason}` : ' (its log gives no reason)'}`);
  }
}

export interface FetchResult {
  blocks: number;
  /** Wall-clock ms from the FETCH write to its last block. */
  ms: number;
}

export class ArchonDriver {
  constructor(private readonly exchange: ExchangeLike) {}

  get isUp(): boolean {
    return this.exchange.isUp;
  }

  /**
   * Sends one command and returns the body of its `<ID` reply. `?ID` → ControllerRefused with the
   * controller's reason from FETCHLOG (when the log has one). A command the controller does not
   * know is answered by nothing: the Exchange's timeout then ends it.
   */
  async command(command: string, options: CommandOptions = {}): Promise<string> {
    const id = takeMessageId();
    const word = command.split(/[\s\d]/, 1)[0] ?? command;
    const timeoutMs = options.timeoutMs ?? SLOW_COMMANDS[word.toUpperCase()] ?? DEFAULT_TIMEOUT_MS;
    const reply = await this.exchange.request(encodeRequest(id, command), {
      timeoutMs,
      validate: (r) => {
        const parsed = parseReply(r);
        if (parsed.id !== id) throw new Error(`it carries id ${formatId(parsed.id)}, not ${formatId(id)}`);
        return parsed.kind !== 'block';
      },
    });
    const parsed = parseReply(reply!);
    // The reason is asked of FETCHLOG, unless FETCHLOG itself was refused: that would ask forever.
    if (parsed.kind === 'failed') throw new ControllerRefused(command, options.explainFailure === false ? undefined : await this.reasonForFailure());
    return parsed.kind === 'ok' ? parsed.body : '';
  }

  /** A command the controller answers by closing the connection (REBOOT, WARMBOOT): written, not answered. */
  async sendWithoutReply(command: string): Promise<void> {
    await this.exchange.request(encodeRequest(takeMessageId(), command), { expectReply: false });
  }

  /** The oldest entry of the controller's log, undefined when it is empty (`(null)`). */
  async fetchLog(): Promise<string | undefined> {
    const body = await this.command('FETCHLOG', { explainFailure: false });
    const text = body.trim();
    return text === '' || text === '(null)' ? undefined : text;
  }

  /** Reads up to `max` log entries (STATUS LOG=n says how many wait), stopping at an empty log. */
  async drainLog(max: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < max; i++) {
      const entry = await this.fetchLog();
      if (entry === undefined) break;
      out.push(entry);
    }
    return out;
  }

  private async reasonForFailure(): Promise<string | undefined> {
    try {
      return await this.fetchLog();
    } catch {
      return undefined;
    }
  }

  async system(): Promise<Map<string, string>> {
    return parseKeyValues(await this.command('SYSTEM'));
  }

  async status(): Promise<Map<string, string>> {
    return parseKeyValues(await this.command('STATUS'));
  }

  async frame(): Promise<FrameInfo> {
    const body = await this.command('FRAME');
    try {
      return parseFrame(body);
    } catch (err) {
      throw new LabwireError('HardwareError', `the Archon's FRAME reply cannot be read: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Locks buffer n (1…3) for reading; 0 unlocks every buffer. */
  async lock(buffer: number): Promise<void> {
    if (!Number.isInteger(buffer) || buffer < 0 || buffer > 3) throw new LabwireError('RangeError', `buffer ${buffer}: the Archon has buffers 1 to 3 (0 unlocks)`);
    await this.command(`LOCK${buffer}`);
  }

  /**
   * FETCHes `into.length` bytes from `address`: ceil(bytes / 1024) blocks, each copied at its
   * offset into `into` as it arrives (the filler after the last byte is dropped). No block is kept
   * and nothing is concatenated; `blockTimeoutMs` is the longest silence between two blocks.
   */
  async fetch(address: number, into: Uint8Array, blockTimeoutMs = DEFAULT_TIMEOUT_MS): Promise<FetchResult> {
    const blocks = blocksFor(into.length);
    if (blocks === 0) return { blocks: 0, ms: 0 };
    const id = takeMessageId();
    const command = fetchCommand(address, blocks);
    let received = 0;
    const started = performance.now();
    const last = await this.exchange.request(encodeRequest(id, command), {
      timeoutMs: blockTimeoutMs,
      validate: (r) => {
        const parsed = parseReply(r);
        if (parsed.id !== id) throw new Error(`it carries id ${formatId(parsed.id)}, not ${formatId(id)}`);
        // A FETCH is answered by blocks only, or refused at once.
        return parsed.kind === 'block' || (parsed.kind === 'failed' && received === 0);
      },
      more: (r) => {
        if (r.length !== BLOCK_PAYLOAD + 4 || r[3] !== 0x3a) return false; // the refusal
        const at = received * BLOCK_PAYLOAD;
        const take = Math.min(BLOCK_PAYLOAD, into.length - at);
        into.set(r.subarray(4, 4 + take), at);
        received += 1;
        return received < blocks;
      },
    });
    const parsed = parseReply(last!);
    if (parsed.kind === 'failed') throw new ControllerRefused(command, await this.reasonForFailure());
    return { blocks: received, ms: performance.now() - started };
  }

  /** Sets a running timing-script parameter at once (no configuration line needed). */
  async fastLoadParam(name: string, value: number): Promise<void> {
    checkParamName(name);
    if (!Number.isInteger(value) || value < 0 || value > MAX_PARAM_VALUE) {
      throw new LabwireError('RangeError', `${name}=${value}: Archon parameters are whole numbers from 0 to ${MAX_PARAM_VALUE}`);
    }
    await this.command(`FASTLOADPARAM ${name} ${value}`);
  }

  /** Loads one parameter's value from configuration memory into the running timing core. */
  async loadParam(name: string): Promise<void> {
    checkParamName(name);
    await this.command(`LOADPARAM ${name}`);
  }

  /**
   * Uploads a configuration (reference §8): POLLOFF, CLEARCONFIG, one WCONFIG per line, POLLON
   * (also after a failure, so the controller keeps polling its sensors), then APPLYALL (which
   * leaves the CCD unpowered). `progress` is told every 100 lines.
   */
  async uploadConfig(config: readonly ConfigLine[], progress?: (linesDone: number, total: number) => void): Promise<void> {
    const lines = wconfigCommands(config);
    await this.command('POLLOFF');
    try {
      await this.command('CLEARCONFIG');
      for (let i = 0; i < lines.length; i++) {
        await this.command(lines[i]!);
        if (progress && (i + 1) % 100 === 0) progress(i + 1, lines.length);
      }
    } finally {
      await this.command('POLLON').catch(() => undefined);
    }
    await this.command('APPLYALL');
  }

  async powerOn(): Promise<void> {
    await this.command('POWERON');
  }

  async powerOff(): Promise<void> {
    await this.command('POWEROFF');
  }
}

function checkParamName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) {
    throw new LabwireError('WrongType', `"${name}" is no timing-script parameter name (letters, digits and _, up to 64)`);
  }
}
