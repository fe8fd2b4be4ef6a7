/**
 * End to end with real processes: `labwire sim arbin` + `labwire daemon arbin` + `labwire send /
 * status / wait` — the script: start a test on channel 3, set a meta variable while it
 * runs, watch the voltage rise under charge, stop it. Credentials reach the simulator through the
 * environment and the daemon through a secrets file: never on a command line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';
import { eventually } from './helpers/julabo-lab.js';

const USER = 'e2e-user';
const PASSWORD = 'e2e-password-9f2c';
const SIM_ENV = { ARBIN_CTI_USERNAME: USER, ARBIN_CTI_PASSWORD: PASSWORD };
/** The daemon gets no credentials from its environment, only the secrets file. */
const DAEMON_ENV = { ARBIN_CTI_USERNAME: '', ARBIN_CTI_PASSWORD: '' };

const procs: CliProcess[] = [];
function start(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const p = new CliProcess(args, env);
  procs.push(p);
  return p;
}

function secretsFile(password: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-arbin-e2e-'));
  const file = path.join(dir, 'arbin-cti.env');
  fs.writeFileSync(file, `# CTI user for the cycler\nARBIN_CTI_USERNAME=${USER}\nARBIN_CTI_PASSWORD="${password}"\n`, { mode: 0o600 });
  return file;
}

interface Status {
  values: Record<string, string | number | boolean | null>;
}

async function status(addr: string): Promise<Status> {
  const r = await runCli(['status', addr, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

async function simAndDaemon(password: string): Promise<{ addr: string; daemon: CliProcess }> {
  const sim = start(['sim', 'arbin', '--listen', '127.0.0.1:0', '--time-scale', '60', '--option', 'noise=0'], SIM_ENV);
  const simPort = (await sim.waitFor(/^listening 127\.0\.0\.1:(\d+)$/m))[1];
  const daemon = start(
    ['daemon', 'arbin', '--link', `tcp://127.0.0.1:${simPort}`, '--listen', '127.0.0.1:0', '--name', 'cycler', '--option', `secretsFile=${secretsFile(password)}`],
    DAEMON_ENV,
  );
  const m = await daemon.waitFor(/^listening 127\.0\.0\.1:(\d+)$/m);
  return { addr: `127.0.0.1:${m[1]}`, daemon };
}

beforeAll(() => assertBuilt());
afterAll(async () => {
  for (const p of procs) await p.stop();
});

describe('labwire sim arbin + daemon arbin + the client commands', () => {
  let addr = '';
  let daemon: CliProcess;
  beforeAll(async () => {
    ({ addr, daemon } = await simAndDaemon(PASSWORD));
    await eventually(async () => expect((await status(addr)).values).toMatchObject({ hw_connected: true, state: 'idle' }), 15_000, 200);
  }, 30_000);

  it('starts a test on channel 3, sets a meta variable while it runs, sees the voltage rise under charge, stops it', async () => {
    const started = await runCli(['send', addr, 'start', 'channel=3', 'test=e2e-charge', 'schedule=MV_Charge.sdx']);
    expect(started.stderr).toBe('');
    expect(started.stdout).toBe('ok start channel=3 status=charge\n');

    // MV_Charge.sdx charges at the current in MV_UD1, which starts at 0 A: nothing moves yet. At a
    // time scale of 60 its constant-current phase lasts about 40 s, so a loaded machine still finds
    // it charging when it looks (at 600 it could be over before the next CLI process started).
    const before = (await status(addr)).values;
    expect(before['ch3.current']).toBe(0);
    const v0 = Number(before['ch3.voltage']);
    expect(v0).toBeGreaterThan(3);

    expect((await runCli(['send', addr, 'set_mv', 'channel=3', 'mv=UD1', 'value=1.5'])).stdout).toBe('ok set_mv channel=3 mv=UD1 value=1.5\n');
    const target = (v0 + 0.05).toFixed(3);
    const waited = await runCli(['wait', addr, `ch3.current>1 && ch3.voltage>${target}`, '--timeout', '30s'], { timeoutMs: 40_000 });
    expect(waited.stderr).toBe('');
    expect(waited.code).toBe(0);
    const running = (await status(addr)).values;
    expect(running).toMatchObject({ 'ch3.status': 'charge', 'ch3.test_name': 'e2e-charge', 'ch3.schedule': 'MV_Charge.sdx', 'ch3.current': 1.5 });
    expect(Number(running['ch3.voltage'])).toBeGreaterThan(v0 + 0.05);
    expect(Number(running['ch3.charge_capacity'])).toBeGreaterThan(0);
    expect(running.state_text).toBe('channels running: 3 (charge)');

    expect((await runCli(['send', addr, 'stop', 'channel=3'])).stdout).toBe('ok stop channel=3 status=idle\n');
    await eventually(async () => expect((await status(addr)).values).toMatchObject({ 'ch3.status': 'idle', 'ch3.current': 0, state_text: 'no test running' }), 10_000, 200);
  }, 60_000);

  it('channel 0 is refused with a clear error; a table shows units', async () => {
    const refused = await runCli(['send', addr, 'stop', 'channel=0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('labwire: RangeError: channel 0 is below the arbin limit of 1\n');
    const table = await runCli(['status', addr]);
    expect(table.stdout).toMatch(/^ch3\.voltage\s+\d\.\d+ V$/m);
    expect(table.stdout).toMatch(/^ch3\.charge_capacity\s+[\d.e-]+ Ah$/m);
  });

  it('no password on any command line', () => {
    for (const p of procs) expect(p.proc.spawnargs.join(' ')).not.toContain(PASSWORD);
  });

  it('the daemon stops cleanly on SIGTERM', async () => {
    expect(await daemon.stop()).toBe(0);
  });
});

describe('a daemon whose CTI login is refused', () => {
  it('stays up, shows hw_connected=0 and says why', async () => {
    const { addr } = await simAndDaemon('wrong-password');
    await eventually(
      async () => {
        const v = (await status(addr)).values;
        expect(v.hw_connected).toBe(false);
        expect(v.state).toBe('error');
        expect(String(v.state_text)).toMatch(/CTI login refused for user "e2e-user" \(result 2/);
        expect(String(v.state_text)).not.toContain('wrong-password');
      },
      15_000,
      200,
    );
  }, 30_000);
});
