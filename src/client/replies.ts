/** Small helpers for reading replies and wording messages, shared by the client's modules. */
import { LabwireError, lineBody, type Reply } from '../wire/index.js';

/** A duration as people read it in a message: `250 ms`, `2.5 s`, `30 s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))} s`;
}

export function commandName(line: string): string {
  return line.trim().split(/[ \t]+/, 1)[0] ?? '-';
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A plain object from a null-prototype record; own `__proto__` keys stay data (CreateDataProperty). */
export function plain(kwargs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(kwargs));
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJsonBody(reply: Reply, what: string): unknown {
  try {
    return JSON.parse(lineBody(reply.line));
  } catch (err) {
    throw new LabwireError('ProtocolError', `${what} reply is not valid JSON: ${toError(err).message}`, what);
  }
}

export function expectReply(reply: Reply, name: string, request: string): void {
  if (reply.command.name !== name) {
    throw new LabwireError('ProtocolError', `expected '${name} ...' in reply to ${request}, got: ${reply.line.slice(0, 200)}`, request);
  }
}
