/**
 * CCDLab's GPIB multiplexor protocol (gpib.py, reference/prologix-gpib.md §6) on the bus daemon's
 * port, so CCDLab's instrument daemons and scripts work unchanged: `set_addr N`, `?$CMD` queries,
 * plain writes, `send <text>`; `get_status` is the daemon's own and carries `current_addr`.
 *
 * Its flaws are fixed here, not copied: a reply goes only to the connection that asked (it is the
 * answer to that connection's request, in its order); a silent instrument costs its asker an
 * `error <cmd> code=Timeout` line, never the bus; data is escaped, so `++rst` sent as data
 * reaches the instrument and is never executed by the adapter; `send` keeps the text exactly as
 * typed (quotes included); a closed connection's writes still waiting are dropped; there is no
 * raw adapter access (address 0), since the bus owns the adapter's settings.
 */
import type { ForeignProtocol, ForeignSession, HandlerContext } from '../../daemon/api.js';
import type { GpibBusLike } from '../kits/gpib/bus.js';
import { isAddress } from '../kits/gpib/codec.js';
import { formatErrorReply } from '../../wire/format.js';
import { LabwireError } from '../../wire/types.js';

/** Writes one connection may have waiting on the bus before it has to wait for them. */
const MAX_PENDING_WRITES = 64;

export const ccdlabMultiplexor: ForeignProtocol<GpibBusLike> = {
  title: 'CCDLab GPIB multiplexor',
  open: (peer, log) => new CcdlabSession(peer, log),
};

function firstWord(line: string): string {
  return /^\s*(\S*)/.exec(line)![1]!;
}

/** What a client line asks for, or why it cannot be done. */
export type CcdlabRequest =
  | { kind: 'setAddr'; address: number }
  | { kind: 'query'; command: string }
  | { kind: 'write'; command: string }
  | { kind: 'error'; error: LabwireError };

/** Parses one forwarded text (after `send`, or a bare line): `?$CMD` is a query, `CMD` and `x$CMD` writes. */
export function parseForwarded(text: string): CcdlabRequest {
  const parts = text.split('$');
  if (parts.length > 2) return { kind: 'error', error: new LabwireError('ProtocolError', `more than one "$" in "${text}": write ?$CMD for a query, CMD for a write`, firstWord(text) || '-') };
  if (parts.length === 1) return { kind: 'write', command: text };
  const [prefix, command] = parts as [string, string];
  return prefix.trim() === '?' ? { kind: 'query', command } : { kind: 'write', command };
}

export function parseCcdlabLine(line: string): CcdlabRequest {
  const word = firstWord(line);
  if (word === 'set_addr') {
    const arg = line.trim().slice('set_addr'.length).trim();
    if (arg === '') return { kind: 'setAddr', address: -1 };
    const n = /^-?\d{1,3}$/.test(arg) ? Number(arg) : NaN;
    if (n === -1 || (isAddress(n) && n > 0)) return { kind: 'setAddr', address: n };
    return { kind: 'error', error: new LabwireError('RangeError', `set_addr takes a GPIB address 1 to 30 (or nothing to stop forwarding), not "${arg}"`, 'set_addr') };
  }
  if (word === 'send') {
    // gpib.py split `send` lines with shlex: `send "?$:SYST:ERR?"` is the query itself. Only an
    // argument that is one quoted token is unquoted; quotes inside a message stay as typed.
    const arg = line.replace(/^\s*send\s?/, '');
    const whole = /^\s*"([^"]*)"\s*$/.exec(arg) ?? /^\s*'([^']*)'\s*$/.exec(arg);
    return parseForwarded(whole ? whole[1]! : arg);
  }
  return parseForwarded(line);
}

class CcdlabSession implements ForeignSession<GpibBusLike> {
  private address = -1;
  private pendingWrites = 0;
  private readonly gone = new AbortController();

  constructor(private readonly peer: string, private readonly log: HandlerContext['log']) {}

  claims(line: string): boolean {
    const word = firstWord(line);
    return word === 'set_addr' || word === 'send' || (this.address > 0 && word !== '');
  }

  handle(bus: GpibBusLike, line: string): string[] | Promise<string[]> {
    const req = parseCcdlabLine(line);
    switch (req.kind) {
      case 'error':
        return [formatErrorReply(req.error)];
      case 'setAddr':
        // No reply, as in CCDLab: its clients count replies, and an extra line would shift them.
        this.address = req.address;
        return [];
    }
    const label = firstWord(req.command) || '-';
    if (this.address <= 0) {
      return [formatErrorReply(new LabwireError('ProtocolError', 'no GPIB address on this connection: send set_addr N (1 to 30) first; raw adapter access is not offered, the bus owns the adapter', label))];
    }
    const data = Buffer.from(req.command, 'latin1');
    const address = this.address;
    if (req.kind === 'query') {
      return bus.query(address, data, { signal: this.gone.signal }).then(
        (reply) => replyLines(reply),
        (err: unknown) => [formatErrorReply(asLabwire(err, label))],
      );
    }
    this.pendingWrites += 1;
    const done = bus.write(address, data, { signal: this.gone.signal }).then(
      (): string[] => [],
      (err: unknown) => {
        // A write has no reply line in this protocol: the failure goes to the daemon log.
        if (!this.gone.signal.aborted) this.log('warning', `CCDLab client ${this.peer}: write "${req.command.slice(0, 80)}" to GPIB ${address} failed: ${asLabwire(err, label).message}`);
        return [];
      },
    ).finally(() => {
      this.pendingWrites -= 1;
    });
    // Writes go on the bus in order without waiting; only a client far ahead of the bus waits.
    return this.pendingWrites > MAX_PENDING_WRITES ? done : [];
  }

  close(): void {
    this.gone.abort();
  }
}

/**
 * The instrument's reply as lines for a line protocol: its final terminator dropped, any CR or LF
 * inside it ending a line (the labwire `query` command returns the exact bytes instead).
 */
export function replyLines(reply: Buffer): string[] {
  const text = reply.toString('latin1').replace(/(\r\n|\n|\r)$/, '');
  return text.split(/\r\n|\n|\r/).map((l) => l.replace(/\0/g, ''));
}

function asLabwire(err: unknown, command: string): LabwireError {
  if (err instanceof LabwireError) return new LabwireError(err.code, err.message, command);
  return new LabwireError('InternalError', err instanceof Error ? err.message : String(err), command);
}
