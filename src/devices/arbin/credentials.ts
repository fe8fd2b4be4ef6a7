/**
 * Where the CTI user name and password come from: a `.env`-style secrets file named by the device
 * option `secretsFile`, or the environment (`ARBIN_CTI_USERNAME`, `ARBIN_CTI_PASSWORD`), as the
 * predecessor (pycti + python-dotenv) read them. Never from the command line, never logged.
 */
import fs from 'node:fs';
import { LabwireError } from '../../wire/types.js';
import type { Credentials } from './codec.js';

export const USERNAME_VARIABLE = 'ARBIN_CTI_USERNAME';
export const PASSWORD_VARIABLE = 'ARBIN_CTI_PASSWORD';

/**
 * Parses `.env` text: `KEY=value` lines, optional `export `, `#` comments, blank lines, values in
 * single quotes (literal) or double quotes (with \n, \", \\ escapes); an unquoted value ends at
 * ` #`. Lines that are not assignments are refused with their line number.
 */
export function parseDotEnv(text: string, source = 'secrets file'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${source}:${i + 1}: expected KEY=value`);
    const key = m[1]!;
    let value = m[2]!;
    if (value.startsWith("'")) {
      const end = value.indexOf("'", 1);
      if (end < 0) throw new Error(`${source}:${i + 1}: unterminated single quote`);
      value = value.slice(1, end);
    } else if (value.startsWith('"')) {
      let v = '';
      let j = 1;
      for (; j < value.length && value[j] !== '"'; j++) {
        if (value[j] === '\\' && j + 1 < value.length) {
          j++;
          const c = value[j]!;
          v += c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c;
        } else v += value[j];
      }
      if (j >= value.length) throw new Error(`${source}:${i + 1}: unterminated double quote`);
      value = v;
    } else {
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash);
      value = value.trim();
    }
    out[key] = value;
  });
  return out;
}

export interface CredentialSources {
  /** A `.env`-style file; its values win over the environment. */
  secretsFile?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Resolves the credentials now (the file is read on every call, so a changed password applies at
 * the next login). Errors say where to put them and never contain the password.
 */
export function resolveCredentials(sources: CredentialSources): Credentials {
  const env = sources.env ?? process.env;
  let file: Record<string, string> = {};
  if (sources.secretsFile) {
    let text: string;
    try {
      text = fs.readFileSync(sources.secretsFile, 'utf8');
    } catch (err) {
      throw new LabwireError('CommunicationFailed', `cannot read the CTI secrets file ${sources.secretsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      file = parseDotEnv(text, sources.secretsFile);
    } catch (err) {
      throw new LabwireError('CommunicationFailed', `CTI secrets file: ${(err as Error).message}`);
    }
  }
  const username = file[USERNAME_VARIABLE] ?? env[USERNAME_VARIABLE];
  const password = file[PASSWORD_VARIABLE] ?? env[PASSWORD_VARIABLE];
  const missing = [username ? undefined : USERNAME_VARIABLE, password ? undefined : PASSWORD_VARIABLE].filter(Boolean);
  if (missing.length > 0) {
    const where = sources.secretsFile ? `the secrets file ${sources.secretsFile} or the environment` : 'the environment, or in a secrets file given by --option secretsFile=<path>';
    throw new LabwireError('CommunicationFailed', `no Arbin CTI credentials: set ${missing.join(' and ')} in ${where}`);
  }
  return { username: username!, password: password! };
}
