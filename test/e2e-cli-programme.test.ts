/**
 * `labwire programme …` as a separate process against an in-process daemon with the Julabo
 * simulator behind it (600× fast, programme tick 50 ms): load from files, start, pause, stop,
 * status while running and until finished, and a refused load. Programmes last seconds
 * (minutes as fractions).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';
import { eventually, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';

let lab: JulaboLab;
let addr = '';
let dir = '';
const procs: CliProcess[] = [];

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-cli-programme-'));
  lab = await startJulaboLab(
    { timeScale: 600, initialTemperature: 20, setpoint: 20 },
    { options: { settleSeconds: 0.3, tolerance: 0.3 }, programme: { tickMs: 50, minStep: 0.05 } },
  );
  addr = `127.0.0.1:${lab.port}`;
  const c = await lab.client();
  await eventually(async () => expect(await c.request('get_status')).toMatch(/ hw_connected=1 /), 10_000);
}, 20_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await lab?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

async function statusJson(): Promise<Record<string, unknown>> {
  const r = await runCli(['programme', 'status', addr, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('labwire programme', () => {
  it('loads a CSV file, starts it, shows it running, and --watch follows it until finished', async () => {
    // 0.2 min = 12 s up and 12 s down: long enough that, even on a loaded machine where each CLI
    // process takes seconds to start, `status` and `--watch` see it running from another process.
    const csv = file('cycle.csv', 'elapsed_minutes,temperature_c\n0,20\n0.2,22\n0.4,20\n');
    const loaded = await runCli(['programme', 'load', addr, csv, '--param', 'setpoint', '--loops', '1']);
    expect(loaded.stderr).toBe('');
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toBe('loaded cycle.csv for setpoint: 3 points, 0 holds, 1 loop, 24 s in all; state loaded\n');
    expect(await statusJson()).toMatchObject({ state: 'loaded', param: 'setpoint', total_s: 24, loops: 1 });

    const started = await runCli(['programme', 'start', addr]);
    expect(started).toMatchObject({ code: 0, stdout: 'programme running\n', stderr: '' });
    // The watcher starts at once, before the one-shot status, so it sees the programme run.
    const watch = new CliProcess(['programme', 'status', addr, '--watch']);
    procs.push(watch);
    const running = await runCli(['programme', 'status', addr]);
    expect(running.code).toBe(0);
    expect(running.stdout).toMatch(/^state {5}running$/m);
    expect(running.stdout).toMatch(/^param {5}setpoint$/m);
    expect(running.stdout).toMatch(/^progress {2}\d+(\.\d)? %$/m);
    expect(running.stdout).toMatch(/^elapsed {3}[\d.]+ s of 24 s$/m);
    expect(running.stdout).toMatch(/^cycle {5}1\/1$/m);
    expect(running.stdout).toMatch(/^target {4}2[0-2](\.\d+)? °C$/m);

    await watch.waitFor(/^state {5}running$/m, 30_000);
    await watch.waitFor(/^state {5}finished$/m, 60_000);
    // It ends by itself once the programme is at rest.
    await eventually(() => expect(watch.proc.exitCode).toBe(0), 10_000);
    // Blocks while running, then the finished one: at least two blocks.
    expect(watch.stdout.match(/^state /gm)!.length).toBeGreaterThanOrEqual(2);
    expect(watch.stdout).toMatch(/^progress {2}100 %$/m);
    expect(watch.stdout).toMatch(/^next {6}end$/m);
    expect(await statusJson()).toMatchObject({ state: 'finished', progress: 100, target: 20, next: 'end' });
    expect(lab.sim.setpoint).toBe(20);
  }, 120_000);

  it('pauses, resumes and stops a running programme', async () => {
    const csv = file('long.csv', '0,20\n1,25\n');
    expect((await runCli(['programme', 'load', addr, csv, '--param', 'setpoint', '--min-step', '0.1'])).code).toBe(0);
    expect((await runCli(['programme', 'start', addr])).stdout).toBe('programme running\n');
    expect((await runCli(['programme', 'pause', addr])).stdout).toBe('programme paused\n');
    expect(await statusJson()).toMatchObject({ state: 'paused' });
    expect((await runCli(['programme', 'start', addr])).stdout).toBe('programme running\n');
    const stopped = await runCli(['programme', 'stop', addr]);
    expect(stopped).toMatchObject({ code: 0, stdout: 'programme stopped\n', stderr: '' });
    const st = await runCli(['programme', 'status', addr]);
    expect(st.stdout).toMatch(/^state {5}stopped$/m);
    // A stopped programme is at rest: --watch prints once and ends.
    const watched = await runCli(['programme', 'status', addr, '--watch', '--json'], { timeoutMs: 10_000 });
    expect(watched.code).toBe(0);
    expect(watched.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { state: string }).state)).toEqual(['stopped']);
  }, 120_000);

  it('reads YAML by its extension and sends loops; --format overrides the extension', async () => {
    const yaml = file('hold.yml', 'loop: 2\npoints:\n  - {minutes: 0, value: 20}\n  - hold: {until: stable}\n  - {minutes: 0.5, value: 21}\n');
    const r = await runCli(['programme', 'load', addr, yaml, '--param', 'setpoint', '--loops', '3']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('loaded hold.yml for setpoint: 2 points, 1 hold, 3 loops, 1:30 in all, plus the holds; state loaded\n');
    const txt = file('profile.txt', '0,20\n0.5,21\n');
    const guessed = await runCli(['programme', 'load', addr, txt, '--param', 'setpoint']);
    expect(guessed.code).toBe(2);
    expect(guessed.stderr).toMatch(/^labwire: cannot tell the format of .*profile\.txt.*--format csv\|yaml\n$/);
    const given = await runCli(['programme', 'load', addr, txt, '--param', 'setpoint', '--format', 'csv']);
    expect(given.stdout).toBe('loaded profile.txt for setpoint: 2 points, 0 holds, 1 loop, 30 s in all; state loaded\n');
  });

  it('a point outside the limits: exit 2 with the code and the line number on stderr, nothing loaded', async () => {
    const before = await statusJson();
    const bad = file('bad.csv', 'elapsed_minutes,value\n0,20\n0.1,30\n0.2,55\n');
    const r = await runCli(['programme', 'load', addr, bad, '--param', 'setpoint']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('labwire: RangeError: line 4: 55 °C is above the FL1703 limit of 40 °C\n');
    expect(await statusJson()).toEqual(before);
    const missing = await runCli(['programme', 'load', addr, path.join(dir, 'nope.csv'), '--param', 'setpoint']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^labwire: cannot read programme file .*nope\.csv/);
    const loops = await runCli(['programme', 'load', addr, bad, '--param', 'setpoint', '--loops', 'two']);
    expect(loops).toMatchObject({ code: 2, stderr: 'labwire: --loops "two" is not a whole number\n' });
  });
});
