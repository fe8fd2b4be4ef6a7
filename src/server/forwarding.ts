/**
 * The `as user=<name> role=<role> <line ...>` built-in (docs/decisions/0009, 0023), read the same
 * way on a daemon's and a monitor's port: only a session whose token is marked `forward` may name
 * an end user, and the inner line then runs as `<name> via <that session>` with the lower of the
 * claimed role and the session's own. The caller audits a refusal and dispatches the result, since
 * those differ between the two servers.
 */
import { lineBody, parseLine, tokenize } from '../wire/tokenize.js';
import { LabwireError, type Command } from '../wire/types.js';
import { NOT_FORWARDED } from './builtins.js';
import { hasChosenName, type Session } from './line-server.js';
import { isRole, lowerRole } from './roles.js';
import type { TokenStore } from './tokens.js';

export interface ForwardingRules {
  /** Who reads the token file, for the refusal message: "daemon" or "monitor". */
  readonly host: string;
  /** Further commands that must not run for another user (e.g. the monitor's own log lines). */
  readonly alsoRefused?: (name: string) => boolean;
}

/** A line to run for an end user: the view of the session for it, its command and its text. */
export interface Forwarded {
  readonly session: Session;
  readonly cmd: Command & { name: string };
  readonly inner: string;
}

const USAGE = 'usage: as user=<name> role=viewer|operator|admin <line ...>';

/** Reads an `as` line of session `s`; a refusal comes back as a LabwireError for the caller to audit. */
export function readForwarded(s: Session, line: string, tokens: TokenStore, rules: ForwardingRules): Forwarded | LabwireError {
  if (!tokens.mayForward(s.tokenName)) {
    const why = s.tokenName === undefined ? 'this connection has not authenticated with a token' : `the token "${s.tokenName}" is not marked forward in the ${rules.host}'s token file`;
    return new LabwireError('Unauthorized', `only a trusted monitor's connection may run lines for other users: ${why}`, 'as');
  }
  const head: Record<string, string> = {};
  for (const tok of tokenize(line, 3).slice(1)) {
    if (tok.eq > 0) head[tok.text.slice(0, tok.eq)] = tok.text.slice(tok.eq + 1);
  }
  const { user, role } = head;
  if (user === undefined || role === undefined) return new LabwireError('ProtocolError', USAGE, 'as');
  if (user === '' || user.length > 200 || [...user].some((c) => c < ' ' || c === '\x7f')) return new LabwireError('ProtocolError', 'as: user must be a name of 1 to 200 printable characters', 'as');
  if (!isRole(role)) return new LabwireError('WrongType', `as: role must be viewer, operator or admin, not "${role}"`, 'as');
  const inner = lineBody(line, 3);
  let cmd: Command;
  try {
    cmd = parseLine(inner);
  } catch (err) {
    return new LabwireError('ProtocolError', `as: the line cannot be read: ${err instanceof Error ? err.message : String(err)}`, 'as');
  }
  if (cmd.name === null) return new LabwireError('ProtocolError', `as needs a line to run; ${USAGE}`, 'as');
  if (NOT_FORWARDED.has(cmd.name) || rules.alsoRefused?.(cmd.name) === true) {
    return new LabwireError('ProtocolError', `"${cmd.name}" belongs to a connection or to the ${rules.host} itself and cannot be run for another user`, 'as');
  }
  const via = hasChosenName(s) ? s.name : s.tokenName;
  // A view of the session for this one line: same connection, the end user's name and role.
  const session: Session = { id: s.id, peer: s.peer, address: s.address, name: `${user} via ${via}`, type: s.type, role: lowerRole(role, s.role), tokenName: undefined, subscribed: null };
  return { session, cmd: cmd as Command & { name: string }, inner };
}
