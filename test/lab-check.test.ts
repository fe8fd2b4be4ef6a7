/**
 * A lab file with several problems reports all of them in one run, secrets included: the schema's
 * mistakes, the cross-references, missing token files and unset `${VAR}`s (issue 15, defect 11).
 * `labwire check` says so without starting anything; `labwire up` refuses with the same list.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadLabConfig } from '../src/config/lab.js';
import { ConfigError } from '../src/config/yaml.js';
import { cliInProcess } from './helpers/cli-in-process.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-check-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const FOUR_PROBLEMS = [
  'simulators:',
  '  - { name: chiller-sim, type: julabo }',
  'daemons:',
  '  - name: chiller',
  '    type: julabo',
  '    link: sim:chiler-sim',          // 1: no such simulator
  '    tokenFile: tokens.txt',         // 2: not there
  'peers:',
  '  - { name: cycler, host: 127.0.0.1, port: 7030, token: "${CYCLER_TOKEN}" }', // 3: not set
  'monitor:',
  '  archive:',
  '    retention: { raw: 30d, minute: 1 year }', // 4: not a duration
  '',
].join('\n');

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** The problems the loader lists for a lab file, secrets checked, in one ConfigError. */
function problemsOf(file: string): readonly string[] {
  let err: unknown;
  try {
    loadLabConfig(file, { secrets: true, env: {} });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).problems;
}

describe('a lab file with several problems', () => {
  it('lists every problem, secrets too, in one ConfigError', () => {
    const file = write('four.yaml', FOUR_PROBLEMS);
    const problems = problemsOf(file);
    expect(problems).toHaveLength(4);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^12:\d+: monitor\.archive\.retention\.minute: expected a duration/),
      expect.stringMatching(/^6:\d+: daemons\.0\.link: no simulator named "chiler-sim"; simulators: chiller-sim/),
      expect.stringMatching(/^7:\d+: daemons\.chiller\.tokenFile: cannot read tokens\.txt .*ENOENT/),
      expect.stringMatching(/^9:\d+: peers\.cycler\.token: refers to the environment variable CYCLER_TOKEN, which is not set/),
    ]));
  });

  it('`labwire check` prints all four and exits 2; once fixed it says ok and exits 0', async () => {
    const file = write('four-cli.yaml', FOUR_PROBLEMS);
    const saved = process.env.CYCLER_TOKEN;
    delete process.env.CYCLER_TOKEN;
    let bad: Awaited<ReturnType<typeof cliInProcess>>;
    try {
      bad = await cliInProcess('check', file);
    } finally {
      if (saved !== undefined) process.env.CYCLER_TOKEN = saved;
    }
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${file}: 4 problems:`);
    expect(bad.stderr.trim().split('\n').slice(1)).toHaveLength(4);
    expect(bad.stdout).toBe('');

    fs.writeFileSync(path.join(dir, 'tokens.txt'), 'operator 0123456789abcdef alice\n');
    const good = write('good.yaml', FOUR_PROBLEMS.replace('sim:chiler-sim', 'sim:chiller-sim').replace('1 year', '1y').replace('"${CYCLER_TOKEN}"', 'fixed-token-0123'));
    const ok = await cliInProcess('check', good);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${good}: ok — lab: 1 simulator, 1 daemon, 1 peer, 0 alarms\n`);
  });

  it('a token file with a bad line is named with its line, with the rest', () => {
    fs.writeFileSync(path.join(dir, 'short.txt'), 'viewer short\n');
    const file = write('short.yaml', 'daemons:\n  - { name: a, type: julabo, link: tcp://127.0.0.1:5050, tokenFile: short.txt }\nmonitor: { tokenFile: nowhere.txt }\n');
    expect(() => loadLabConfig(file, { secrets: true, env: {} })).toThrow(/2 problems:\n {2}2:\d+: daemons\.a\.tokenFile: short\.txt:1: token is too short.*\n {2}3:\d+: monitor\.tokenFile: cannot read nowhere\.txt/s);
    // Without `secrets` (tools that only read the lab's shape) the file loads.
    expect(loadLabConfig(file).daemons[0]!.name).toBe('a');
  });

  it('certificate problems are listed with the schema\'s mistakes and the secrets, in one run', async () => {
    const text = [
      'daemons:',
      '  - { name: chiller, type: julabo, link: tcp://127.0.0.1:5050, tokenFile: missing-tokens.txt }', // a secret: not there
      'monitor:',
      '  webTls: { cert: pki/missing.pem, key: pki/missing.key }', // certificates: not there
      '  archive:',
      '    retention: { raw: 30d, minute: 1 year }', // the schema: not a duration
      '',
    ].join('\n');
    const file = write('tls-too.yaml', text);
    const problems = problemsOf(file);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^6:\d+: monitor\.archive\.retention\.minute: expected a duration/),
      expect.stringMatching(/^2:\d+: daemons\.chiller\.tokenFile: cannot read missing-tokens\.txt .*ENOENT/),
      expect.stringMatching(/^4:\d+: monitor\.webTls\.cert: cannot read pki\/missing\.pem .*ENOENT/),
      expect.stringMatching(/^4:\d+: monitor\.webTls\.key: cannot read pki\/missing\.key .*ENOENT/),
    ]));
    expect(problems).toHaveLength(4);
    // `labwire check` lists the same four.
    const cli = await cliInProcess('check', file);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(`${file}: 4 problems:`);
    expect(cli.stderr).toMatch(/monitor\.webTls\.cert: cannot read/);
    // Once the schema passes, the certificates are still checked (the same problems, not twice).
    fs.writeFileSync(path.join(dir, 'missing-tokens.txt'), 'operator 0123456789abcdef alice\n');
    const onlyTls = write('tls-only.yaml', text.replace('1 year', '1y'));
    expect(() => loadLabConfig(onlyTls, { secrets: true, env: {} })).toThrow(/2 problems:\n {2}4:\d+: monitor\.webTls\.cert: cannot read.*\n {2}4:\d+: monitor\.webTls\.key: cannot read/s);
  });
});
