/**
 * End to end with real processes: `labwire sim julabo` + `labwire daemon julabo` + the client
 * commands, over TCP and over a pseudo-terminal, plus `nc` driving the daemon by hand.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, CommanderError } from 'commander';
import { buildProgram } from '../src/cli/program.js';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';
import { eventually } from './helpers/julabo-lab.js';

const procs: CliProcess[] = [];
function start(args: string[]): CliProcess {
  const p = new CliProcess(args);
  procs.push(p);
  return p;
}

beforeAll(() => assertBuilt());

/** `labwire <args> --help` through the CLI's own program object, with its output captured. */
async function helpInProcess(args: string[]): Promise<{ code: number; stdout: string }> {
  const program = buildProgram();
  let stdout = '';
  const capture = (c: Command): void => {
    c.configureOutput({ writeOut: (t) => (stdout += t), writeErr: (t) => (stdout += t) });
    for (const sub of c.commands) capture(sub);
  };
  capture(program);
  try {
    await program.parseAsync(['node', 'labwire', ...args, '--help']);
    return { code: 0, stdout };
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode, stdout };
    throw err;
  }
}
afterAll(async () => {
  for (const p of procs) await p.stop();
});

/** Starts a simulator and a daemon in front of it; returns the daemon's address. */
async function simAndDaemon(simArgs: string[], linkFor: (simOut: RegExpMatchArray) => string): Promise<{ addr: string; sim: CliProcess; daemon: CliProcess }> {
  const sim = start(['sim', 'julabo', '--time-scale', '600', '--seed', '3', ...simArgs]);
  const simOut = await sim.waitFor(/^(listening 127\.0\.0\.1:(\d+)|pty (\S+))/m);
  const daemon = start(['daemon', 'julabo', '--link', linkFor(simOut), '--listen', '127.0.0.1:0', '--name', 'chiller', '--option', 'settleSeconds=1']);
  const m = await daemon.waitFor(/^listening 127\.0\.0\.1:(\d+)$/m);
  const addr = `127.0.0.1:${m[1]}`;
  // Wait for the first poll so the scenario starts from a known device state.
  await eventually(async () => {
    const out = (await runCli(['status', addr, '--json'])).stdout;
    expect(out).toContain('"hw_connected":true');
    expect(out).not.toContain('"state":"busy"');
  }, 15_000, 200);
  return { addr, sim, daemon };
}

async function coolDownScenario(addr: string): Promise<void> {
  expect((await runCli(['send', addr, 'set', 'setpoint=10'])).stdout).toBe('ok set setpoint=10\n');
  expect((await runCli(['send', addr, 'start'])).stdout).toBe('ok start running=1\n');
  const waited = await runCli(['wait', addr, 'temperature<15', '--stable', '5s', '--timeout', '60s'], { timeoutMs: 70_000 });
  expect(waited.stderr).toBe('');
  expect(waited.code).toBe(0);
  expect(waited.stdout).toMatch(/^met for 5 s: temperature<15 \(temperature=\d/);
  const status = JSON.parse((await runCli(['status', addr, '--json'])).stdout) as { values: Record<string, unknown> };
  expect(status.values.temperature).toBeLessThan(15);
  expect(status.values.running).toBe(true);
  // The completion contract: the chiller reaches its setpoint and state returns to idle.
  const idle = await runCli(['wait', addr, 'state=idle', '--timeout', '60s'], { timeoutMs: 70_000 });
  expect(idle.code).toBe(0);
}

describe('labwire sim + daemon + wait over TCP', () => {
  let addr = '';
  let daemon: CliProcess;
  beforeAll(async () => {
    ({ addr, daemon } = await simAndDaemon(['--listen', '127.0.0.1:0'], (m) => `tcp://127.0.0.1:${m[2]}`));
  }, 30_000);

  it('cools down and waits for "temperature<15" stable for 5 s', async () => {
    await coolDownScenario(addr);
  }, 90_000);

  it('wait exits 1 when the condition is not met in time and 2 on a malformed condition', async () => {
    const r = await runCli(['wait', addr, 'temperature<-99.9', '--timeout', '3s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^not met: condition "temperature<-99\.9" not met within 3 s; last temperature=/);
    const bad = await runCli(['wait', addr, 'temperature<']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^labwire: .*temperature</);
  });

  it('status prints a table with units; send prints error replies; a dead address exits 2', async () => {
    const table = await runCli(['status', addr]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^hw_connected\s+1$/m);
    expect(table.stdout).toMatch(/^temperature\s+-?\d+(\.\d+)? °C$/m);
    const err = await runCli(['send', addr, 'set', 'setpoint=99']);
    expect(err.code).toBe(2);
    expect(err.stderr).toBe('labwire: RangeError: setpoint 99 °C is above the FL1703 limit of 40 °C\n');
    const dead = await runCli(['status', '127.0.0.1:1']);
    expect(dead.code).toBe(2);
    expect(dead.stderr).toMatch(/^labwire: .*127\.0\.0\.1:1/);
  });

  it('watch exits 2 with the reason when the subscription is refused', async () => {
    const r = await runCli(['watch', addr, 'nosuch'], { timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^labwire: NoSuchParameter: cannot subscribe to unknown parameter\(s\) nosuch/);
  });

  it('nc can drive the daemon by hand', async () => {
    const [host, port] = addr.split(':') as [string, string];
    const nc = spawn('nc', ['-N', host, port], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    nc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    nc.stdin.end('get_id\nget_status\nset setpoint=12.5\nstart\nset setpoint=99\nbogus\n');
    const code = await new Promise<number | null>((resolve) => nc.on('close', resolve));
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^id name=chiller type=julabo protocol=labwire\/1 version=\S+$/);
    expect(lines[1]).toMatch(/^status hw_connected=1 state=\w+ state_text=.* temperature=-?[\d.]+ setpoint=[\d.]+ /);
    expect(lines[2]).toBe('ok set setpoint=12.5');
    expect(lines[3]).toBe('ok start running=1');
    expect(lines[4]).toBe('error set code=RangeError message="setpoint 99 °C is above the FL1703 limit of 40 °C"');
    expect(lines[5]).toMatch(/^error bogus code=NoSuchCommand/);
  });

  it('the daemon stops cleanly on SIGTERM', async () => {
    expect(await daemon.stop()).toBe(0);
  });
});

describe('labwire sim --pty + daemon on a pseudo-terminal', () => {
  it('cools down and waits for "temperature<15" stable for 5 s', async () => {
    // PTYs are opened at 8N1 here: Linux PTYs ignore 7E1 and refuse re-opening with only that change.
    const { addr, sim } = await simAndDaemon(['--pty'], (m) => `serial://${m[3]}?baud=9600&bits=8&parity=none&rtscts=0`);
    await coolDownScenario(addr);
    expect(await sim.stop()).toBe(0);
  }, 90_000);
});

describe('device-direct commands', () => {
  let link = '';
  beforeAll(async () => {
    const sim = start(['sim', 'julabo', '--listen', '127.0.0.1:0', '--time-scale', '600']);
    link = `tcp://127.0.0.1:${(await sim.waitFor(/^listening 127\.0\.0\.1:(\d+)$/m))[1]}`;
  });

  it('version, status, setpoint, temperature, start, stop, send, watch', async () => {
    const j = (...a: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => runCli(['julabo', '--link', link, ...a]);
    expect((await j('version')).stdout).toMatch(/FL1703/);
    expect((await j('status')).stdout).toBe('02 REMOTE STOP\n');
    expect((await j('set-setpoint', '12.5')).stdout).toBe('setpoint 12.5 °C\n');
    expect((await j('get-setpoint')).stdout).toBe('12.5\n');
    expect((await j('get-temperature')).stdout).toMatch(/^-?\d+(\.\d+)?\n$/);
    expect((await j('start')).stdout).toBe('running\n');
    expect((await j('status')).stdout).toBe('03 REMOTE START\n');
    expect((await j('send', 'in_mode_05')).stdout).toBe('1\n');
    expect((await j('stop')).stdout).toBe('stopped\n');
    const empty = await j('set-setpoint', '');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('labwire: WrongType: setpoint "" is not a number\n');
    expect((await j('get-setpoint')).stdout).toBe('12.5\n');
    const refused = await j('set-setpoint', '55');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('labwire: RangeError: setpoint 55 °C is above the FL1703 limit of 40 °C\n');
    const csv = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-watch-')), 'bath.csv');
    const watched = await j('watch', '--interval', '100ms', '--count', '2', '--csv', csv);
    expect(watched.stdout.trim().split('\n')).toHaveLength(2);
    expect(fs.readFileSync(csv, 'utf8').trim().split('\n')).toHaveLength(3);
  }, 60_000);

  it('sim --config starts several simulators from YAML and reports mistakes with file and line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-sims-'));
    const good = path.join(dir, 'sims.yaml');
    fs.writeFileSync(good, 'simulators:\n  - name: one\n    listen: 127.0.0.1:0\n    options: { setpoint: 15 }\n  - name: two\n    listen: 127.0.0.1:0\n');
    const fleet = start(['sim', 'julabo', '--config', good]);
    const one = await fleet.waitFor(/^listening 127\.0\.0\.1:(\d+) one$/m);
    await fleet.waitFor(/^listening 127\.0\.0\.1:(\d+) two$/m);
    expect((await runCli(['julabo', '--link', `tcp://127.0.0.1:${one[1]}`, 'get-setpoint'])).stdout).toBe('15\n');
    expect(await fleet.stop()).toBe(0);
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'simulators:\n  - name: one\n    listen: nowhere\n');
    const r = await runCli(['sim', 'julabo', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`labwire: ${bad}: 3:13: simulators.0.listen: expected host:port, e.g. 127.0.0.1:5000\n`);
  });

  it('every command has --help with examples', async () => {
    // Each command's help is checked in this process (one process start per command took more than
    // the test's time on a loaded machine); one real process proves the executable prints it too.
    const commands = ['daemon', 'sim', 'send', 'status', 'wait', 'watch', 'julabo', 'demo', 'up', 'check', 'config', 'programme', 'programme load', 'programme status', 'alarms', 'alarms ack'];
    for (const cmd of commands) {
      const r = await helpInProcess(cmd.split(' '));
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/^Examples/m);
    }
    const real = await runCli(['daemon', '--help']);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/^Usage: labwire daemon/m);
    expect(real.stdout).toMatch(/^Examples/m);
  });
});
