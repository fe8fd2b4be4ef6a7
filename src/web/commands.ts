/**
 * One path for every command that leaves the web server for a device — the JSON API, the
 * WebSocket and CCDLab's `/monitor/command` — so roles, read-only mode and error mapping are the
 * same everywhere (CCDLab had three command paths that differed).
 */
import { roleAtLeast, type Role } from '../server/index.js';
import type { MonitorActor, MonitorView } from '../monitor/types.js';
import { LabwireError } from '../wire/types.js';
import { HttpError, fromLabwireError } from './errors.js';
import { classifyLine, parseDeviceReply, type CommandResult } from './replies.js';

export interface CommandRequest {
  client: string;
  line: string;
  role: Role | null;
  actor: MonitorActor;
  /**
   * The role a read line needs (default operator: the command line and the WebSocket are for
   * operators). Routes that only read, such as a programme's status, let viewers through.
   */
  readRole?: Role;
}

export const MAX_LINE = 65_536;

/** Sends `line` to the device `client`; resolves with the parsed reply or throws an HttpError. */
export async function sendCommand(monitor: MonitorView, req: CommandRequest, timeoutMs = 30_000): Promise<CommandResult> {
  const peer = monitor.peer(req.client);
  if (!peer) throw new HttpError(404, 'NoSuchDevice', `no device named "${req.client}" is configured; known: ${monitor.peers().map((p) => p.name).join(', ') || 'none'}`);
  const line = req.line.trim();
  if (line === '') throw new HttpError(400, 'BadRequest', 'the command line is empty');
  if (line.length > MAX_LINE) throw new HttpError(400, 'LineTooLong', `the command line is longer than ${MAX_LINE} characters`);
  if (/[\r\n\0]/.test(line)) throw new HttpError(400, 'BadRequest', 'the command line must be a single line');
  const kind = classifyLine(line, peer.describe, peer.protocol);
  const need: Role = kind === 'admin' ? 'admin' : kind === 'read' ? (req.readRole ?? 'operator') : 'operator';
  if (!roleAtLeast(req.role, need)) {
    if (req.role === null) throw new HttpError(401, 'Unauthorized', 'a token is needed to send commands');
    throw new HttpError(403, 'Forbidden', `sending "${line.split(/\s/, 1)[0]}" needs the ${need} role; you have ${req.role}`);
  }
  if (monitor.readOnly && kind !== 'read') {
    throw new HttpError(403, 'ReadOnly', 'the monitor is read-only: commands that change a device are refused');
  }
  let reply: string;
  let timer: NodeJS.Timeout | undefined;
  try {
    reply = await Promise.race([
      monitor.send(req.client, line, req.actor),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LabwireError('Timeout', `no reply from ${req.client} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof LabwireError) throw fromLabwireError(err);
    throw new HttpError(502, 'CommunicationFailed', `the command could not be sent to ${req.client}`);
  } finally {
    clearTimeout(timer);
  }
  const parsed = parseDeviceReply(reply, peer.describe);
  if (parsed instanceof LabwireError) throw fromLabwireError(parsed, { reply });
  return parsed;
}
