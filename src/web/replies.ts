/**
 * What a device line means to the web: whether a request changes state (for roles and read-only
 * mode), and the device's reply as JSON for the API and the page.
 */
import { lineBody, parseLine } from '../wire/tokenize.js';
import { parseErrorReply } from '../wire/format.js';
import { LabwireError, type DescribeDoc } from '../wire/types.js';
import { lineKind, type LineKind } from '../monitor/index.js';
import type { PeerValue } from '../monitor/types.js';

/** read: anyone who may read; write: operator (and not in read-only mode); admin: `exit`. */
export type { LineKind };

/** Classifies one labwire line sent to a device by the monitor's rule (`lineKind`); a line that does not parse counts as a write. */
export function classifyLine(line: string, describe: DescribeDoc | undefined, protocol: 'labwire' | 'ccdlab' = 'labwire'): LineKind {
  let name: string | null;
  try {
    name = parseLine(line).name;
  } catch {
    return 'write';
  }
  return name === null ? 'write' : lineKind(name, protocol, describe);
}

/** A successful reply as JSON. */
export interface CommandResult {
  /** The device's reply line, as sent. */
  reply: string;
  /** The first token of the reply: `ok`, `status`, `describe`, `pong`, … */
  kind: string;
  /** For `ok <command> ...` replies: the command it answers. */
  command?: string;
  /** The reply's `k=v` pairs, numbers and booleans typed by the device's describe when known. */
  results: Record<string, PeerValue>;
  /** Positional words of the reply after the command. */
  args: string[];
  /** The JSON body of `describe {...}` and `status_json {...}` replies. */
  json?: unknown;
}

function typed(name: string, raw: string, describe: DescribeDoc | undefined): PeerValue {
  const decl = describe?.params[name];
  if (!decl) return raw;
  if (decl.type === 'float' || decl.type === 'int') {
    // JSON has no NaN or infinity: a missing or infinite reading is null.
    if (raw === 'nan' || raw === 'inf' || raw === '-inf') return null;
    const n = Number(raw);
    return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
  }
  if (decl.type === 'bool') return raw === '1' ? true : raw === '0' ? false : raw;
  return raw;
}

/**
 * Splits a device's reply line into a result or, for an `error ...` reply, the LabwireError it
 * carries. A reply that cannot even be tokenized is kept as text.
 */
export function parseDeviceReply(reply: string, describe: DescribeDoc | undefined): CommandResult | LabwireError {
  let cmd;
  try {
    cmd = parseLine(reply);
  } catch {
    return { reply, kind: 'text', results: {}, args: [] };
  }
  const err = parseErrorReply(cmd);
  if (err) return err;
  const kind = cmd.name ?? '';
  if (kind === 'describe' || kind === 'status_json') {
    let json: unknown;
    try {
      json = JSON.parse(lineBody(reply));
    } catch {
      json = undefined;
    }
    return { reply, kind, results: {}, args: [], json };
  }
  const results: Record<string, PeerValue> = {};
  for (const [k, v] of Object.entries(cmd.kwargs)) results[k] = typed(k, v, describe);
  const out: CommandResult = { reply, kind, results, args: cmd.args };
  if (kind === 'ok' && cmd.args.length > 0) {
    out.command = cmd.args[0];
    out.args = cmd.args.slice(1);
  }
  return out;
}
