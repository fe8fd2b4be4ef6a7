/**
 * The CLI starts quickly (issue 15, defect 13): a command line loads only the module of the
 * command it names, `--version` none, and no help loads the archive, the web server, MQTT, the
 * database drivers or the metrics library. Checked by the modules a child process evaluates
 * (test/helpers/module-log.mjs), not by timing.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { COMMAND_MODULES } from '../src/cli/main.js';
import { buildProgram } from '../src/cli/program.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-cli-lazy-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** What a command line that only asks for help or the version must never evaluate. */
const HEAVY = /\/node_modules\/(better-sqlite3|fastify|@fastify\/[^/]+|pg|pg-[^/]+|mqtt|prom-client|node-pty)\//;
/** What a client command (status, send, wait) needs none of either: device families, the archive, the schemas. */
const NOT_FOR_CLIENTS = /\/src\/(devices|archive|monitor|web|lab|config)\/|\/node_modules\/(zod|serialport|@serialport\/[^/]+|yaml|pino)\//;

let n = 0;
function modulesOf(args: string[]): Promise<{ code: number | null; modules: string[]; stdout: string }> {
  const log = path.join(tmp, `modules-${n++}.log`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/helpers/module-log.mjs', 'src/cli/run.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, MODULE_LOG: log },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const modules = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((u) => decodeURIComponent(u)) : [];
      resolve({ code, modules, stdout });
    });
  });
}

describe('CLI start-up', () => {
  it('main.ts knows which module registers each command of the program', async () => {
    const names = buildProgram().commands.map((c) => c.name()).sort();
    expect(Object.keys(COMMAND_MODULES).sort()).toEqual(names);
    for (const name of names) {
      const program = new Command('labwire');
      (await COMMAND_MODULES[name]!())(program);
      expect(program.commands.map((c) => c.name()), name).toContain(name);
    }
  });

  it('--version, help and client commands load none of the heavy modules', async () => {
    const [version, help, upHelp, demoHelp, statusHelp] = await Promise.all([
      modulesOf(['--version']),
      modulesOf(['--help']),
      modulesOf(['up', '--help']),
      modulesOf(['demo', '--help']),
      modulesOf(['status', '--help']),
    ]);
    for (const run of [version, help, upHelp, demoHelp, statusHelp]) expect(run.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(help.stdout).toMatch(/^Usage: labwire/m);
    expect(statusHelp.stdout).toMatch(/^Usage: labwire status/m);
    // The log works: the CLI's own entry is in it (else an empty log would pass).
    for (const run of [version, help, statusHelp]) expect(run.modules.some((u) => u.endsWith('/src/cli/main.ts'))).toBe(true);
    for (const run of [version, help, upHelp, demoHelp, statusHelp]) expect(run.modules.filter((u) => HEAVY.test(u))).toEqual([]);
    for (const run of [version, upHelp, demoHelp, statusHelp]) expect(run.modules.filter((u) => NOT_FOR_CLIENTS.test(u))).toEqual([]);
    // Only the named command's module: `status --help` does not evaluate the daemon's.
    expect(statusHelp.modules.filter((u) => /\/src\/cli\/(daemon-cmds|up|demo|direct-cmd|sim-cmd)\.ts$/.test(u))).toEqual([]);
  }, 120_000);

  it('a help option before the command word prints the whole top-level help', async () => {
    const full = buildProgram().commands.map((c) => c.name());
    const runs = await Promise.all([modulesOf(['--help', 'status']), modulesOf(['-h', 'up']), modulesOf(['--help'])]);
    for (const run of runs) {
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: labwire /m);
      // Every command is listed, not just the ones of the word's module.
      for (const name of full) expect(run.stdout, name).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    }
    expect(runs[0]!.stdout).toBe(runs[2]!.stdout);
  }, 120_000);

  it('the README\'s `export PATH="$PWD/bin:$PATH"` makes `labwire` a command (bin/labwire, not only bin/labwire.js)', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('export PATH="$PWD/bin:$PATH"');
    // The built CLI (npm test builds first), found on PATH by its bare name, as a newcomer types it.
    const out = execFileSync('labwire', ['--version'], { cwd: tmp, env: { ...process.env, PATH: `${path.join(ROOT, 'bin')}${path.delimiter}${process.env.PATH ?? ''}` }, encoding: 'utf8' });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 60_000);
});
