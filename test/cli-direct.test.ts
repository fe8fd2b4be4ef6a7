/**
 * `labwire direct <type> --link <url> …` against real simulators on 127.0.0.1 port 0: the CLI runs
 * in this process (its stdout, stderr and exit code captured), plus one real process for the exit
 * code of an unreachable link. Every value printed here came over TCP from the simulator.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, CommanderError } from 'commander';
import type { DeviceFamily, Simulator, SimulatorOptions } from '../src/daemon/api.js';
import { deviceFamilies, getFamily } from '../src/devices/index.js';
import { buildProgram } from '../src/cli/program.js';
import { assertBuilt, runCli } from './helpers/cli.js';
import { cliInProcess, type InProcessRun } from './helpers/cli-in-process.js';

const cli = cliInProcess;

const CREDS = { username: 'direct-test', password: 'not-a-real-password' };
const secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-direct-'));
const secretsFile = path.join(secretsDir, 'arbin.env');
fs.writeFileSync(secretsFile, `ARBIN_CTI_USERNAME=${CREDS.username}\nARBIN_CTI_PASSWORD=${CREDS.password}\n`, { mode: 0o600 });

/** What a family's simulator and device need beyond defaults (the Arbin checks credentials). */
const SETUP: Record<string, { sim: SimulatorOptions; options: string[] }> = {
  arbin: { sim: { ...CREDS, noise: 0 }, options: [`secretsFile=${secretsFile}`] },
};

type SimulatorFactory = (options: SimulatorOptions) => Simulator;

/** A family's simulator factory, whether the family loads it lazily (loadSimulator) or not. */
async function simulatorOf(family: DeviceFamily): Promise<SimulatorFactory | undefined> {
  const f = family as DeviceFamily & { loadSimulator?: () => Promise<SimulatorFactory>; createSimulator?: SimulatorFactory };
  return f.loadSimulator ? f.loadSimulator() : f.createSimulator;
}

const sims: Simulator[] = [];
async function simulate(type: string): Promise<string> {
  const create = await simulatorOf(getFamily(type));
  if (!create) throw new Error(`device type ${type} has no simulator`);
  const sim = create({ timeScale: 60, seed: 7, ...SETUP[type]?.sim });
  sims.push(sim);
  const port = await sim.listenTcp('127.0.0.1', 0);
  return `tcp://127.0.0.1:${port}`;
}

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

afterAll(async () => {
  for (const s of sims) await s.close();
  fs.rmSync(secretsDir, { recursive: true, force: true });
});

describe('labwire direct cryocon', () => {
  let link = '';
  beforeAll(async () => {
    link = await simulate('cryocon');
  });
  const direct = (...a: string[]): Promise<InProcessRun> => cli('direct', 'cryocon', '--link', link, ...a);

  it('gets values with their units, as a table or as JSON', async () => {
    const r = await direct('get', 'chA.temperature', 'loop1.setpoint');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^chA\.temperature {2}\d+(\.\d+)? K\nloop1\.setpoint {3}\d+(\.\d+)? K\n$/);
    const json = JSON.parse((await direct('get', 'hw_connected', 'idn', '--json')).stdout) as { values: Record<string, unknown> };
    expect(json.values).toEqual({ hw_connected: true, idn: expect.stringMatching(/^Cryo-con,/) as unknown });
  });

  it('sets a value, and a new run reads it back from the controller', async () => {
    const set = await direct('set', 'loop1.setpoint=123.5');
    expect(set).toEqual({ code: 0, stdout: 'ok set loop1.setpoint=123.5\n', stderr: '' });
    expect((await direct('get', 'loop1.setpoint')).stdout).toBe('loop1.setpoint  123.5 K\n');
  });

  it('refuses an out-of-range set with the limit named, and writes nothing', async () => {
    await direct('set', 'loop1.setpoint=200');
    const model = await direct('set', 'loop1.setpoint=5000');
    expect(model.code).toBe(2);
    expect(model.stdout).toBe('');
    expect(model.stderr).toBe('labwire: RangeError: loop1.setpoint 5000 K is above the M24C limit of 500 K\n');
    const site = await direct('--limit', 'loop1.setpoint=4:320', 'set', 'loop1.setpoint=400');
    expect(site.code).toBe(2);
    expect(site.stderr).toMatch(/^labwire: RangeError: loop1\.setpoint 400 K is above the site limit of 320 K/);
    expect((await direct('get', 'loop1.setpoint')).stdout).toBe('loop1.setpoint  200 K\n');
  });

  it('calls a device command and prints its results; the change is on the device', async () => {
    expect((await direct('call', 'stop')).stdout).toBe('ok stop control=0\n');
    expect((await direct('get', 'control')).stdout).toBe('control  0\n');
    expect((await direct('call', 'control')).stdout).toBe('ok control control=1\n');
    expect((await direct('get', 'control')).stdout).toBe('control  1\n');
    const bad = await direct('call', 'clear_alarm', 'E');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^labwire: WrongType: .*channel/);
    // The Cryo-con's commands depend on its model: `call` alone lists them, not "no commands".
    const none = await direct('call');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^labwire: call needs a command: one of .*\bstop\b.*\bclear_alarm\b/);
  });

  it('sends a labwire line and prints the reply a daemon would give; a refusal goes to stderr with exit 2', async () => {
    expect((await direct('send', 'get_id')).stdout).toMatch(/^id name=cryocon type=cryocon protocol=labwire\/1 version=\S+\n$/);
    expect((await direct('send', 'set', 'loop1.setpoint=210')).stdout).toBe('ok set loop1.setpoint=210\n');
    const refused = await direct('send', 'set loop1.setpoint=nope');
    expect(refused).toEqual({ code: 2, stdout: '', stderr: 'labwire: WrongType: loop1.setpoint "nope" is not a number\n' });
    const daemonOnly = await direct('send', 'subscribe');
    expect(daemonOnly.code).toBe(2);
    expect(daemonOnly.stderr).toMatch(/^labwire: NoSuchCommand: subscribe needs a daemon; /);
  });

  it('watches values: the current reading first, then every change, until --count', async () => {
    const r = await direct('watch', 'chA.temperature', '--count', '3');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\S+Z {2}chA\.temperature=\d+(\.\d+)?$/);
    const csv = path.join(secretsDir, 'watch.csv');
    const timed = await direct('watch', 'loop1.setpoint', 'control', '--interval', '50ms', '--count', '2', '--csv', csv);
    expect(timed.stdout.trim().split('\n')).toHaveLength(2);
    expect(fs.readFileSync(csv, 'utf8').trim().split('\n')).toEqual([
      'timestamp_utc,loop1.setpoint,control',
      expect.stringMatching(/^\S+Z,210,1$/) as unknown as string,
      expect.stringMatching(/^\S+Z,210,1$/) as unknown as string,
    ]);
  });

  it('names unknown parameters and actions', async () => {
    const r = await direct('get', 'temperatureA');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^labwire: NoSuchParameter: no parameter "temperatureA"; parameters: hw_connected, state, /);
    const a = await direct('read');
    expect(a.code).toBe(2);
    expect(a.stderr).toBe('labwire: unknown action "read": expected one of get, set, call, send, watch\n');
  });
});

describe('labwire direct for every family in the registry', () => {
  it('reads each family from its simulator with the daemon\'s definition', async () => {
    const types: string[] = [];
    for (const [type, family] of Object.entries(deviceFamilies)) if (await simulatorOf(family)) types.push(type);
    expect(types).toEqual(expect.arrayContaining(['julabo', 'cryocon', 'arbin']));
    for (const type of types) {
      const link = await simulate(type);
      const options = (SETUP[type]?.options ?? []).flatMap((o) => ['--option', o]);
      const r = await cli('direct', type, '--link', link, ...options, 'get', 'hw_connected', '--json');
      expect(r.stderr, type).toBe('');
      expect(JSON.parse(r.stdout), type).toMatchObject({ name: type, values: { hw_connected: true } });
      // For the julabo, `send` is the julabo tool's raw line (the alias keeps its meaning).
      if (type === 'julabo') continue;
      const described = await cli('direct', type, '--link', link, ...options, 'send', 'describe');
      expect(described.stdout, type).toMatch(new RegExp(`^describe \\{"name":"${type}","type":"${type}"`));
    }
  }, 120_000);
});

describe('labwire direct julabo and its alias labwire julabo', () => {
  let link = '';
  beforeAll(async () => {
    link = await simulate('julabo');
  });

  it('sets through the daemon\'s limits and reads back, in both spellings', async () => {
    expect((await cli('direct', 'julabo', '--link', link, 'set', 'setpoint=17.5')).stdout).toBe('ok set setpoint=17.5\n');
    expect((await cli('julabo', '--link', link, 'get', 'setpoint')).stdout).toBe('setpoint  17.5 °C\n');
    // The julabo tool's own actions answer under direct too.
    expect((await cli('direct', 'julabo', '--link', link, 'get-setpoint')).stdout).toBe('17.5\n');
    const refused = await cli('julabo', '--link', link, '--model', 'FL1703', 'set', 'setpoint=55');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('labwire: RangeError: setpoint 55 °C is above the FL1703 limit of 40 °C\n');
  }, 60_000);
});

describe('labwire direct with a link that cannot be reached', () => {
  it('fails at once with the reason and exit code 2 (in process and as a real process)', async () => {
    const port = await closedPort();
    const r = await cli('direct', 'cryocon', '--link', `tcp://127.0.0.1:${port}`, 'get');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^labwire: CommunicationFailed: cannot reach the cryocon device over tcp://127\\.0\\.0\\.1:${port}: .*refused`));
    assertBuilt();
    const real = await runCli(['direct', 'cryocon', '--link', `tcp://127.0.0.1:${port}`, 'get']);
    expect(real.code).toBe(2);
    expect(real.stdout).toBe('');
    expect(real.stderr).toMatch(/^labwire: CommunicationFailed: cannot reach the cryocon device over .*refused/);
  });

  it('a link that opens but never answers ends with a Timeout, not a hang', async () => {
    const silent = net.createServer((s) => s.on('data', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const r = await cli('direct', 'cryocon', '--link', `tcp://127.0.0.1:${port}`, '--timeout', '1s', 'get');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^labwire: (Timeout: no complete reading|CommunicationFailed: cannot reach)/);
    } finally {
      silent.close();
    }
  });
});

describe('labwire direct --help', () => {
  it('documents the actions with examples', async () => {
    for (const args of [['direct'], ['julabo']]) {
      const program = buildProgram();
      let stdout = '';
      const capture = (c: Command): void => {
        c.configureOutput({ writeOut: (t) => (stdout += t), writeErr: (t) => (stdout += t) });
        for (const sub of c.commands) capture(sub);
      };
      capture(program);
      await expect(program.parseAsync(['node', 'labwire', ...args, '--help'])).rejects.toBeInstanceOf(CommanderError);
      expect(stdout, args[0]).toMatch(/^Examples/m);
      expect(stdout, args[0]).toMatch(/get/);
    }
  });
});
