/**
 * The built-in requests of the labwire servers, in one table: the role each needs, what it does
 * (reads, writes, stops the server, changes only the asking connection, no reply at all), whether
 * it is audited, and whether a CCDLab peer means the same by it. The daemon's port, the monitor's
 * port, and the monitor's and the web's classification of a line sent to a device all read it, so
 * a rule changes in one place. A device's own commands are not here: its `describe` says which
 * of them write.
 */
import type { Role } from './roles.js';

/**
 * - read: changes nothing (any role that may read; a read-only server carries it out).
 * - write: changes a device or the lab (refused in read-only mode).
 * - admin: stops the server.
 * - connection: changes only the asking connection (its identity, role or subscription).
 * - notice: gets no reply; accepted silently, before the rate limit.
 * - forward: carries another line (`send`, `as`); that line's kind decides its role and audit.
 */
export type BuiltinEffect = 'read' | 'write' | 'admin' | 'connection' | 'notice' | 'forward';

export interface BuiltinRule {
  /** The least role; null: answered to every connection, before any role check. */
  role: Role | null;
  effect: BuiltinEffect;
  /** Carried out and refused requests are written to the audit trail. */
  audited: boolean;
  /** Listed by `help` (default true; `id` and the notices are not requests one asks for). */
  listed?: boolean;
  /** Answered always, but listed by `help` only when the feature is configured. */
  feature?: 'alarms';
}

export interface BuiltinCommand {
  name: string;
  /** On a device daemon's port. */
  daemon?: BuiltinRule;
  /** On the monitor's port. */
  monitor?: BuiltinRule;
  /**
   * Sent to a CCDLab peer, the line is classified by this entry too: CCDLab's common commands
   * (`get_id`, `get_status`, `exit`) and the protocol's reads, which no CCDLab daemon takes as a
   * write. False: labwire's own; a CCDLab daemon's command of that name is one of its raw
   * commands and may change anything, so it counts as a write.
   */
  ccdlab: boolean;
  /** Why the monitor does not forward it to a peer with `send` (nor a daemon run it with `as`); undefined: forwarded. */
  notForwarded?: string;
}

const anyone = (effect: BuiltinEffect, extra: Partial<BuiltinRule> = {}): BuiltinRule => ({ role: null, effect, audited: false, ...extra });
const viewer = (effect: BuiltinEffect, extra: Partial<BuiltinRule> = {}): BuiltinRule => ({ role: 'viewer', effect, audited: false, ...extra });
const operator = (audited: boolean, extra: Partial<BuiltinRule> = {}): BuiltinRule => ({ role: 'operator', effect: 'write', audited, ...extra });
const admin: BuiltinRule = { role: 'admin', effect: 'admin', audited: true };
const notice: BuiltinRule = { role: null, effect: 'notice', audited: false, listed: false };

const LOG_NOT_FORWARDED = 'log lines are notices and get no reply; send them to the monitor itself';
const STATUS_NOT_FORWARDED = 'a status line is a notice and gets no reply';

/** In the order `help` lists them on each port. */
export const BUILTIN_COMMANDS: readonly BuiltinCommand[] = [
  { name: 'get_id', daemon: anyone('read'), monitor: anyone('read'), ccdlab: true },
  { name: 'get_status', daemon: viewer('read'), monitor: viewer('read'), ccdlab: true },
  // No CCDLab command: a CCDLab daemon hands it to its device handler, often raw to the instrument (reference/ccdlab.md §3).
  { name: 'describe', daemon: viewer('read'), ccdlab: false },
  { name: 'set', daemon: operator(true), ccdlab: false },
  { name: 'send', monitor: viewer('forward', { audited: true }), ccdlab: false },
  { name: 'clients', monitor: viewer('read'), ccdlab: false },
  { name: 'connections', monitor: viewer('read'), ccdlab: false },
  { name: 'snapshot', monitor: viewer('read'), ccdlab: false },
  // On a daemon's port CCDLab's log notices; on the monitor's, log writes by scripts (the message
  // log keeps the writer's token name, so they are not audited besides).
  ...(['message', 'info', 'warning', 'error', 'success', 'debug'] as const).map((name) => ({ name, daemon: notice, monitor: operator(false), ccdlab: false, notForwarded: LOG_NOT_FORWARDED })),
  { name: 'subscribe', daemon: viewer('connection'), monitor: viewer('connection'), ccdlab: false, notForwarded: 'the monitor holds the subscription of its connection; subscribe to the monitor itself instead' },
  { name: 'unsubscribe', daemon: viewer('connection'), monitor: viewer('connection'), ccdlab: false, notForwarded: 'the monitor holds the subscription of its connection' },
  { name: 'auth', daemon: anyone('connection'), monitor: anyone('connection'), ccdlab: false, notForwarded: 'the monitor authenticates to its peers with its own configured token' },
  { name: 'ping', daemon: anyone('read'), monitor: anyone('read'), ccdlab: true },
  { name: 'help', daemon: anyone('read'), monitor: anyone('read'), ccdlab: true },
  { name: 'exit', daemon: admin, monitor: admin, ccdlab: true },
  { name: 'as', daemon: anyone('forward', { audited: true }), monitor: anyone('forward', { audited: true }), ccdlab: false, notForwarded: 'the monitor names the end user of a forwarded line itself; nobody may claim another name through it' },
  { name: 'programme_load', daemon: operator(true), ccdlab: false },
  { name: 'programme_start', daemon: operator(true), ccdlab: false },
  { name: 'programme_pause', daemon: operator(true), ccdlab: false },
  { name: 'programme_stop', daemon: operator(true), ccdlab: false },
  { name: 'programme_status', daemon: viewer('read'), ccdlab: false },
  { name: 'programme_profile', daemon: viewer('read'), ccdlab: false },
  { name: 'alarms', monitor: viewer('read', { feature: 'alarms' }), ccdlab: false },
  { name: 'ack', monitor: operator(false, { feature: 'alarms' }), ccdlab: false },
  // Handled by the line server itself on every port: a peer names itself, no reply.
  { name: 'id', daemon: anyone('connection', { listed: false }), monitor: anyone('connection', { listed: false }), ccdlab: false, notForwarded: 'the monitor names its own connection' },
  { name: 'status', daemon: notice, monitor: notice, ccdlab: false, notForwarded: STATUS_NOT_FORWARDED },
  { name: 'status_json', daemon: notice, monitor: notice, ccdlab: false, notForwarded: STATUS_NOT_FORWARDED },
];

const BY_NAME: ReadonlyMap<string, BuiltinCommand> = new Map(BUILTIN_COMMANDS.map((c) => [c.name, c]));

export type ServerKind = 'daemon' | 'monitor';

export function builtin(name: string): BuiltinCommand | undefined {
  return BY_NAME.get(name);
}

/** The rule of a built-in on one kind of server; undefined when that server has no such built-in. */
export function builtinRule(server: ServerKind, name: string): BuiltinRule | undefined {
  return BY_NAME.get(name)?.[server];
}

/** The built-ins `help` lists on a server (those of an unconfigured feature left out). */
export function listedBuiltins(server: ServerKind, features: ReadonlySet<'alarms'> = new Set()): string[] {
  return BUILTIN_COMMANDS.filter((c) => {
    const r = c[server];
    return r !== undefined && r.listed !== false && (r.feature === undefined || features.has(r.feature));
  }).map((c) => c.name);
}

/** First words that get no reply on a server (the LineServer drops them before the rate limit). */
export function noticesOf(server: ServerKind): ReadonlySet<string> {
  return new Set(BUILTIN_COMMANDS.filter((c) => c[server]?.effect === 'notice').map((c) => c.name));
}

/** The lines the monitor does not forward, with the reason it gives. */
export const NOT_FORWARDED: ReadonlyMap<string, string> = new Map(
  BUILTIN_COMMANDS.flatMap((c) => (c.notForwarded === undefined ? [] : [[c.name, c.notForwarded] as const])),
);

/** Kind of a line sent to a device through the monitor: the role it needs and whether read-only mode refuses it. */
export type LineKind = 'read' | 'write' | 'admin';

/** A device's own commands as its `describe` declares them (only `write` matters here). */
export interface DeclaredCommands {
  commands: Readonly<Record<string, { write: boolean } | undefined>>;
}

/**
 * Reads are `get_*` (CCDLab's convention, a device's own `get_…` included), the built-ins that
 * read, and the commands the device's describe declares as not writing; `exit` is an admin
 * matter; anything else may change state, a command the device does not describe included (the
 * safe side; a CCDLab peer's raw commands too). One rule for the monitor's `send`, its port and
 * the web.
 */
export function lineKind(command: string, protocol: 'labwire' | 'ccdlab' = 'labwire', describe?: DeclaredCommands): LineKind {
  if (command.startsWith('get_')) return 'read';
  const entry = BY_NAME.get(command);
  const rule = entry?.daemon;
  if (entry !== undefined && rule !== undefined && (protocol === 'labwire' || entry.ccdlab)) {
    return rule.effect === 'read' ? 'read' : rule.effect === 'admin' ? 'admin' : 'write';
  }
  const declared = describe?.commands[command];
  return declared !== undefined && !declared.write ? 'read' : 'write';
}
