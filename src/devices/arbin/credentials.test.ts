import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDotEnv, resolveCredentials } from './credentials.js';

function tempFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbin-secrets-'));
  const file = path.join(dir, '.env');
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

describe('.env parsing', () => {
  it('reads KEY=value, export, comments, quotes and escapes', () => {
    const env = parseDotEnv(
      [
        '# Arbin CTI',
        '',
        'ARBIN_CTI_USERNAME=labuser',
        'export ARBIN_CTI_PASSWORD = "p@ss #1 \\"q\\""',
        "SINGLE='a\\nb'",
        'TRAILING=value # comment',
        'EMPTY=',
      ].join('\r\n'),
    );
    expect(env).toEqual({ ARBIN_CTI_USERNAME: 'labuser', ARBIN_CTI_PASSWORD: 'p@ss #1 "q"', SINGLE: 'a\\nb', TRAILING: 'value', EMPTY: '' });
  });

  it('refuses lines that are not assignments, with the line number', () => {
    expect(() => parseDotEnv('A=1\nnot an assignment\n', 'x.env')).toThrow('x.env:2: expected KEY=value');
    expect(() => parseDotEnv('A="open', 'x.env')).toThrow('x.env:1: unterminated double quote');
  });
});

describe('resolving credentials', () => {
  it('takes them from the environment', () => {
    expect(resolveCredentials({ env: { ARBIN_CTI_USERNAME: 'u', ARBIN_CTI_PASSWORD: 'p' } })).toEqual({ username: 'u', password: 'p' });
  });

  it('the secrets file wins over the environment, key by key', () => {
    const file = tempFile('ARBIN_CTI_PASSWORD=from-file\n');
    expect(resolveCredentials({ secretsFile: file, env: { ARBIN_CTI_USERNAME: 'env-user', ARBIN_CTI_PASSWORD: 'env-pass' } })).toEqual({
      username: 'env-user',
      password: 'from-file',
    });
  });

  it('says what is missing and where to put it, never echoing a password', () => {
    expect(() => resolveCredentials({ env: { ARBIN_CTI_PASSWORD: 'hunter2' } })).toThrow(
      /^no Arbin CTI credentials: set ARBIN_CTI_USERNAME in the environment, or in a secrets file given by --option secretsFile=<path>$/,
    );
    try {
      resolveCredentials({ env: { ARBIN_CTI_PASSWORD: 'hunter2' } });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
    expect(() => resolveCredentials({ secretsFile: '/nonexistent/arbin.env', env: {} })).toThrow(/cannot read the CTI secrets file \/nonexistent\/arbin.env: ENOENT/);
  });
});
