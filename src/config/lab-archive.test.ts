import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { archiveConfigOf, parseLabConfig } from './lab.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-lab-archive-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const lab = (archive: string, name = 'room1'): string => `
monitor:
  name: ${name}
  archive:
${archive
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
const parse = (archive: string): ReturnType<typeof parseLabConfig> => parseLabConfig(lab(archive), 'lab.yaml', dir);

describe('lab config: monitor.archive', () => {
  it('defaults to SQLite in the data folder, and keeps the older key kind', () => {
    const c = parseLabConfig('monitor: { name: m }\n', 'lab.yaml', dir);
    expect(archiveConfigOf(c)).toEqual({ kind: 'sqlite', path: path.join(dir, 'labwire-data', 'archive.sqlite') });
    expect(archiveConfigOf(parse('kind: sqlite\npath: db/a.sqlite'))).toEqual({ kind: 'sqlite', path: path.join(dir, 'db', 'a.sqlite') });
    expect(archiveConfigOf(parse('type: sqlite'))).toMatchObject({ kind: 'sqlite' });
  });

  it('takes a PostgreSQL archive with the password from a file next to lab.yaml, and the monitor name as origin', () => {
    fs.mkdirSync(path.join(dir, 'secrets'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'secrets', 'pg-password'), 'p4ss\n');
    const c = parse('type: postgres\nurl: postgres://labwire@db.example.org:5432/labwire\npasswordFile: secrets/pg-password');
    expect(archiveConfigOf(c)).toEqual({ kind: 'postgres', url: 'postgres://labwire@db.example.org:5432/labwire', origin: 'room1', password: 'p4ss' });
    expect(archiveConfigOf(parse('kind: postgres\nurl: postgres://labwire@db/labwire'))).toEqual({ kind: 'postgres', url: 'postgres://labwire@db/labwire', origin: 'room1' });
  });

  it('reads the password from the environment, and the TLS files', () => {
    fs.writeFileSync(path.join(dir, 'ca.pem'), 'CA PEM');
    const c = parse('type: postgres\nurl: postgres://labwire@db/labwire\npassword: ${LABWIRE_PG_PASSWORD}\ntls: { ca: ca.pem, servername: db.example.org }');
    expect(archiveConfigOf(c, { LABWIRE_PG_PASSWORD: 'from-env' })).toMatchObject({ password: 'from-env', ssl: { ca: 'CA PEM', servername: 'db.example.org' } });
    expect(() => archiveConfigOf(c, {})).toThrow(/monitor\.archive\.password refers to the environment variable LABWIRE_PG_PASSWORD, which is not set/);
    expect(archiveConfigOf(parse('type: postgres\nurl: postgres://labwire@db/labwire\ntls: true'))).toMatchObject({ ssl: true });
    const missing = parse('type: postgres\nurl: postgres://labwire@db/labwire\npasswordFile: nowhere/pw');
    expect(() => archiveConfigOf(missing)).toThrow(/monitor\.archive\.passwordFile: cannot read .*nowhere\/pw/);
  });

  it('refuses a password inside the URL, saying where to put it, and never echoes it', () => {
    let message = '';
    try {
      parse('type: postgres\nurl: postgres://labwire:hunter2@db/labwire');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/monitor\.archive\.url/);
    expect(message).toMatch(/holds a password.*monitor\.archive\.passwordFile.*monitor\.archive\.password: \$\{LABWIRE_PG_PASSWORD\}/);
    expect(message).not.toContain('hunter2');
  });

  it('refuses URL query parameters that would be ignored (sslmode) or leak (password), pointing to tls / passwordFile', () => {
    const messageOf = (url: string): string => {
      try {
        parse(`type: postgres\nurl: ${url}`);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    };
    const ssl = messageOf('postgres://labwire@db/labwire?sslmode=verify-full');
    expect(ssl).toMatch(/monitor\.archive\.url/);
    expect(ssl).toMatch(/"sslmode" is not supported.*monitor\.archive\.tls/);
    const pw = messageOf('postgres://labwire@db/labwire?password=hunter2');
    expect(pw).toMatch(/"password" is not supported.*monitor\.archive\.passwordFile/);
    expect(pw).not.toContain('hunter2');
    expect(archiveConfigOf(parse('type: postgres\nurl: postgres://labwire@db/labwire?options=-c%20search_path%3Dx'))).toMatchObject({ kind: 'postgres' });
  });

  it('refuses mixed-up keys with the reason', () => {
    expect(() => parse('type: postgres')).toThrow(/needs url: postgres:\/\/user@host:5432\/database/);
    expect(() => parse('type: postgres\nurl: mysql://db/x')).toThrow(/must start with postgres:\/\//);
    expect(() => parse('url: postgres://labwire@db/labwire')).toThrow(/url is for a PostgreSQL archive: add type: postgres/);
    expect(() => parse('type: postgres\nurl: postgres://u@db/x\npath: a.sqlite')).toThrow(/path is for an SQLite archive/);
    expect(() => parse('type: postgres\nkind: sqlite\nurl: postgres://u@db/x\npassword: a\npasswordFile: b')).toThrow(/either passwordFile or password/);
    expect(() => parse('type: mongo')).toThrow(/type/);
  });
});
