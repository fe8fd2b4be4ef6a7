/**
 * Tokens, for every listener (daemon port, monitor port, web). A token file holds one token per line: `<role> <token> [name] [forward]`; a `#`
 * at the start of a line or after white space starts a comment. `forward` marks a monitor's token: a connection holding it may name the end
 * user a command is for (`as user=... role=...`, docs/protocol.md). `LABWIRE_TOKEN` in the environment adds one admin token (the same variable the CLI
 * sends as a client, so one export serves both sides on a workstation). Tokens never appear in
 * logs; the audit trail names the token's name.
 */
import fs from 'node:fs';
import { timingSafeEqual, createHash } from 'node:crypto';
import { isRole, type Role } from './roles.js';

export interface TokenEntry {
  role: Role;
  token: string;
  name: string;
  /** Trusted to forward commands on behalf of named end users (a monitor's token). */
  forward?: boolean;
}

export const MIN_TOKEN_LENGTH = 12;

export function parseTokenFile(text: string, source: string): TokenEntry[] {
  const out: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    // A comment starts at a `#` at the start of the line or after white space; a `#` inside a token is part of it.
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const [role, token, name, flag, ...extra] = line.split(/\s+/);
    if (!role || !token || !isRole(role)) {
      throw new Error(`${source}:${i + 1}: expected "<role> <token> [name]" with role viewer, operator or admin (and optionally "forward" after the name)`);
    }
    if (token.length < MIN_TOKEN_LENGTH) throw new Error(`${source}:${i + 1}: token is too short (at least ${MIN_TOKEN_LENGTH} characters, better 32 random ones)`);
    if ((flag !== undefined && flag !== 'forward') || extra.length > 0) {
      throw new Error(`${source}:${i + 1}: after the name only the word "forward" may follow (it lets a monitor holding this token name the end users it forwards for); got "${[flag, ...extra].join(' ')}"`);
    }
    out.push({ role, token, name: name ?? `${role}-${out.length + 1}`, ...(flag === 'forward' ? { forward: true } : {}) });
  });
  return out;
}

export function loadTokenFile(path: string): TokenEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read token file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseTokenFile(text, path);
}

export function tokensFromEnv(env: NodeJS.ProcessEnv = process.env): TokenEntry[] {
  const t = env.LABWIRE_TOKEN;
  if (!t) return [];
  if (t.length < MIN_TOKEN_LENGTH) {
    throw new Error(`LABWIRE_TOKEN is too short to be an admin token (at least ${MIN_TOKEN_LENGTH} characters, better 32 random ones)`);
  }
  return [{ role: 'admin', token: t, name: 'LABWIRE_TOKEN' }];
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class TokenStore {
  private readonly entries: Array<TokenEntry & { hash: Buffer }>;
  constructor(entries: TokenEntry[]) {
    this.entries = entries.map((e) => ({ ...e, hash: digest(e.token) }));
  }
  get enabled(): boolean {
    return this.entries.length > 0;
  }
  /**
   * Whether a session authenticated as `name` may forward for named end users: every token of
   * that name must be marked `forward` (a session knows its token only by name).
   */
  mayForward(name: string | undefined): boolean {
    if (name === undefined) return false;
    const named = this.entries.filter((e) => e.name === name);
    return named.length > 0 && named.every((e) => e.forward === true);
  }
  /** Constant-time per entry, so a wrong guess takes as long as a right one. */
  check(token: string): TokenEntry | undefined {
    const h = digest(token);
    let hit: TokenEntry | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, h)) hit = e;
    return hit;
  }
}
