/**
 * `labwire daemon` runs next to real hardware: it must not evaluate simulator code (physics, fault
 * switches, simulator servers). Families load their simulators lazily; this fails as soon as a
 * device.ts (or anything the CLI, the registry or the daemon imports) imports a simulator again.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { deviceFamilies } from '../src/devices/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-nosim-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * Simulator code wherever a family or kit keeps it: simulator.ts, simulator/…, the sim kits, and
 * the simulated instruments behind a bus (model.ts, sim/bus-model.ts).
 */
const SIMULATOR_MODULE = /\/src\/devices\/(?:.*\/)?(?:simulator(?:\.ts|\/)|sim-kit\.ts|sim\/|sim\.ts|model\.ts|bus-model\.ts)/;

function runChild(log: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './test/helpers/module-log.mjs', 'test/helpers/daemon-modules-child.ts'],
      { cwd: ROOT, env: { ...process.env, MODULE_LOG: log, DATA_DIR: tmp, LABWIRE_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('daemons do not load simulators', () => {
  it('the CLI, the device registry and a running daemon of every family evaluate no simulator module', async () => {
    const log = path.join(tmp, 'modules.log');
    const { code, stderr } = await runChild(log);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = fs.readFileSync(log, 'utf8').split('\n');
    const mark = lines.indexOf('MARK simulators from here on');
    expect(mark).toBeGreaterThan(0);
    const daemonModules = lines.slice(0, mark).map((u) => decodeURIComponent(u));
    // The child did load the daemon path (else an empty log would pass).
    expect(daemonModules.some((u) => u.endsWith('/src/daemon/runner.ts'))).toBe(true);
    for (const type of Object.keys(deviceFamilies)) expect(daemonModules.some((u) => u.endsWith(`/src/devices/${type}/device.ts`))).toBe(true);
    expect(daemonModules.filter((u) => SIMULATOR_MODULE.test(u))).toEqual([]);
    // Nor labwire/testing or vitest (src/testing imports vitest; decision 0018).
    expect(daemonModules.filter((u) => /\/src\/testing\/|\/node_modules\/vitest\//.test(u))).toEqual([]);
    // Control: the same log shows the simulators once the child loads them on purpose.
    const simModules = lines.slice(mark).map((u) => decodeURIComponent(u)).filter((u) => SIMULATOR_MODULE.test(u));
    for (const [type, family] of Object.entries(deviceFamilies)) {
      if (family.loadSimulator) expect(simModules.some((u) => u.includes(`/src/devices/${type}/simulator`)), type).toBe(true);
      if (family.loadBusInstrument) expect(simModules.some((u) => u.includes(`/src/devices/${type}/`)), type).toBe(true);
    }
  }, 60_000);
});
