/**
 * The GPIB bench end to end, as a person drives it: `labwire up lab.yaml` (a real process) with the
 * simulated Prologix adapter and its three instruments, the bus daemon and one daemon per
 * instrument on `bus:` links; then the real CLI — `labwire wait` on the 6485's current, a 33120A
 * frequency set and read back, an out-of-range 487 voltage refused with its limit named — and
 * `nc`-style lines on the bus daemon's port, as CCDLab's scripts send them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CliProcess, runCli } from './helpers/cli.js';
import { RawClient } from '../src/testing/raw-client.js';

const LAB = `
name: gpib bench
data: data
simulators:
  - name: adapter
    type: prologix
    timeScale: 10
    instruments:
      14: { type: keithley6485, options: { zeroCheck: false } }   # left measuring: a current shows
      15: keithley487
      22: hp33120a
daemons:
  # Written before its bus on purpose: bus-linked daemons start after the bus daemon anyway.
  - { name: picoammeter, type: keithley6485, link: bus:gpib/14 }
  - { name: gpib, type: prologix, link: sim:adapter }
  - { name: source, type: keithley487, link: bus:gpib/15 }
  - { name: generator, type: hp33120a, link: bus:gpib/22 }
monitor: { listen: 127.0.0.1:0, web: 127.0.0.1:0 }
`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-gpib-'));
let lab: CliProcess | undefined;
const ports: Record<string, number> = {};
let monitor = '';
const clients: RawClient[] = [];

beforeAll(async () => {
  assertBuilt();
  const file = path.join(tmp, 'lab.yaml');
  fs.writeFileSync(file, LAB);
  lab = new CliProcess(['up', file, '--log-level', 'warn']);
  await lab.waitFor(/Stop with Ctrl-C/, 30_000);
  for (const m of lab.stdout.matchAll(/^\s+(\w+)\s+127\.0\.0\.1:(\d+) \((\w+) daemon/gm)) ports[m[1]!] = Number(m[2]);
  monitor = `127.0.0.1:${/monitor\s+127\.0\.0\.1:(\d+)/.exec(lab.stdout)![1]}`;
}, 40_000);

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  expect(await lab?.stop()).toBe(0);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cli = (...args: string[]): ReturnType<typeof runCli> => runCli(args, { timeoutMs: 60_000 });

describe('the GPIB bench from a lab file, with the real CLI', () => {
  it('starts the bus daemon and one daemon per instrument, listed as the lab file has them', () => {
    expect(Object.keys(ports)).toEqual(['picoammeter', 'gpib', 'source', 'generator']);
  });

  it('labwire wait on the Keithley 6485 current through the monitor (and a condition it never meets times out)', async () => {
    const met = await cli('wait', monitor, 'picoammeter.current>1e-10 and picoammeter.current<1e-6', '--timeout', '40s');
    expect(met.stderr).toBe('');
    expect(met.code).toBe(0);
    // 1.5 nA flows into the input; a milliamp never does: the same wait must then fail.
    const never = await cli('wait', monitor, 'picoammeter.current>1e-3', '--timeout', '2s');
    expect(never.code).toBe(1);
  }, 60_000);

  it('labwire send generator set frequency=2000 through the monitor, read back from the 33120A daemon', async () => {
    const set = await cli('send', monitor, 'send', 'generator', 'set', 'frequency=2000');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^ok set frequency=2000\b/m);
    const got = await cli('send', `127.0.0.1:${ports.generator}`, 'get_status');
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/ frequency=2000\b/);
    const met = await cli('wait', monitor, 'generator.frequency=2000', '--timeout', '30s');
    expect(met.code).toBe(0);
  }, 60_000);

  it('an out-of-range 487 source voltage is refused by the daemon with the limit named', async () => {
    const range = await cli('send', `127.0.0.1:${ports.source}`, 'set', 'source_range=500V');
    expect(range.code).toBe(0);
    expect(range.stdout).toMatch(/^ok set source_range=500V/m);
    const refused = await cli('send', `127.0.0.1:${ports.source}`, 'set', 'source_voltage=600');
    expect(refused.code).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/RangeError.*600 V.*505 V/);
    // Nothing reached the instrument: its source voltage is still what it was.
    const got = await cli('send', `127.0.0.1:${ports.source}`, 'get_status');
    expect(got.stdout).toMatch(/ source_voltage=0\b/);
  }, 60_000);

  it('nc on the bus daemon: set_addr 14 then ?$*IDN? answers the 6485\'s identity, set_addr 22 the 33120A\'s', async () => {
    const c = await RawClient.connect(ports.gpib!);
    clients.push(c);
    c.write('set_addr 14\n');
    expect(await c.request('?$*IDN?', 10_000)).toMatch(/^KEITHLEY INSTRUMENTS INC\.,MODEL 6485,/);
    c.write('set_addr 22\n');
    expect(await c.request('?$*IDN?', 10_000)).toMatch(/^HEWLETT-PACKARD,33120A,/);
  }, 30_000);
});
