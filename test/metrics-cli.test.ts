/**
 * `labwire daemon … --metrics :0` as a process of its own (run from the TypeScript sources with
 * tsx, so no build is needed): it binds 127.0.0.1, says where, serves the daemon's metrics, and
 * stops cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { JulaboSimulator } from '../src/devices/julabo/simulator.js';
import { eventually } from '../src/testing/eventually.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = "const { main } = await import('./src/cli/main.ts'); await main(['node', 'labwire', ...process.argv.slice(1)]);";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('labwire daemon --metrics', () => {
  it('binds 127.0.0.1 by default, prints the URL and serves the metrics', async () => {
    const sim = new JulaboSimulator({ byteTiming: false, noise: 0, setpoint: 17 });
    const simPort = await sim.listenTcp('127.0.0.1', 0);
    cleanups.push(() => sim.close());
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY, 'daemon', 'julabo', '--link', `tcp://127.0.0.1:${simPort}`, '--listen', '127.0.0.1:0', '--name', 'chiller', '--metrics', ':0'], {
      cwd: ROOT,
      env: { ...process.env, LABWIRE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    let url = '';
    await eventually(() => {
      const m = /^metrics (http:\/\/\S+)$/m.exec(stdout);
      expect(m, `stdout: ${stdout} stderr: ${stderr}`).not.toBeNull();
      url = m![1]!;
    }, 60_000, 100);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await eventually(async () => {
      const body = await (await fetch(url)).text();
      expect(body).toMatch(/^labwire_link_up\{device="chiller"\} 1$/m);
      expect(body).toMatch(/^labwire_value\{device="chiller",param="setpoint",unit="°C"\} 17$/m);
    }, 30_000, 200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
