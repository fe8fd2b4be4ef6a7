/**
 * The policy every listener applies before it serves anybody — a daemon's port, the monitor's
 * port and the web page alike: which addresses count as loopback, which role a connection without
 * a token gets, and what to warn about at start when the listener is reachable from elsewhere.
 * One copy, so the three listeners cannot drift apart (they had; decision 0013).
 */
import { isIP } from 'node:net';
import { roleAtLeast, type Role } from './roles.js';

/** How a listener's configuration names the anonymous role: a role, 'none', or unset (the default). */
export type AnonymousRoleSetting = Role | 'none' | undefined;

/**
 * Whether a bind address reaches only this machine: `localhost`, 127.0.0.0/8, `::1` (also
 * bracketed or written out) and IPv4-mapped 127.x. A name that merely starts with `127.` is a
 * host name like any other and is not loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  if (isIP(h) !== 6) return false;
  // Any spelling of ::1: every group zero but a final 1.
  const [head = '', tail = ''] = h.split('::');
  const groups = h.includes('::')
    ? [...(head === '' ? [] : head.split(':')), ...(tail === '' ? [] : tail.split(':'))]
    : h.split(':');
  const last = groups.pop();
  return last !== undefined && parseInt(last, 16) === 1 && groups.every((g) => parseInt(g, 16) === 0);
}

/**
 * Whether an HTTP Host header (`host[:port]`) names a loopback address: a page bound to loopback
 * answers only those, so a web site whose name an attacker re-points at 127.0.0.1 (DNS
 * rebinding) cannot use it.
 */
export function isLoopbackHostHeader(header: string): boolean {
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(header.trim());
  return m !== null && isLoopbackHost(m[1]!);
}

/**
 * The role of a connection that has not authenticated: as configured, else admin without tokens
 * (CCDLab behaviour, a loopback demo needs no setup) and none with tokens (decision 0004).
 */
export function resolveAnonymousRole(setting: AnonymousRoleSetting, tokensEnabled: boolean): Role | null {
  if (setting === 'none') return null;
  return setting ?? (tokensEnabled ? null : 'admin');
}

export interface ExposureFacts {
  /** Who listens, as the start of a sentence: `daemon "chiller"`, `monitor "lab"`, `the web page`. */
  label: string;
  host: string;
  tokensEnabled: boolean;
  /** The resolved anonymous role (resolveAnonymousRole). */
  anonymousRole: Role | null;
  /** TLS (or HTTPS) is on. */
  encrypted: boolean;
  /** What a stranger could then do, completing "anyone who can reach it can …": `change the device`. */
  power: string;
  /** What a stranger could read: `read the device`. */
  readPower: string;
  /** How to configure tokens, a sentence: `Configure --token-file or LABWIRE_TOKEN.` */
  tokenHint: string;
  /** The name of the encryption: `TLS`, `HTTPS`. */
  encryption: string;
  /** What crosses the network in clear text without it: `tokens and commands`. */
  clearText: string;
  /** How to switch encryption on, a sentence (optional). */
  encryptionHint?: string;
}

/**
 * Warnings to log at start, empty on loopback. Beyond loopback: no tokens at all (with what that
 * means for the anonymous role), an anonymous operator or admin role besides tokens, and a
 * listener without encryption.
 */
export function exposureWarnings(f: ExposureFacts): string[] {
  if (isLoopbackHost(f.host)) return [];
  const out: string[] = [];
  const where = `${f.label} listens on ${f.host}`;
  if (!f.tokensEnabled) {
    const consequence = roleAtLeast(f.anonymousRole, 'operator')
      ? `anyone who can reach this address can ${f.power}`
      : f.anonymousRole === 'viewer'
        ? `anyone who can reach this address can ${f.readPower}, and nobody can authenticate for more`
        : 'nobody can authenticate, so no connection gets any role';
    out.push(`${where} WITHOUT any token: ${consequence}. ${f.tokenHint}`);
  } else if (roleAtLeast(f.anonymousRole, 'operator')) {
    out.push(`${where} and gives connections WITHOUT a token the ${f.anonymousRole} role: anyone who can reach it can ${f.power}.`);
  }
  if (!f.encrypted) out.push(`${where} without ${f.encryption}: ${f.clearText} cross the network in clear text.${f.encryptionHint === undefined ? '' : ` ${f.encryptionHint}`}`);
  return out;
}
