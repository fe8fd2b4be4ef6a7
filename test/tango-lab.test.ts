/**
 * `tango:` in the lab file: `labwire up` starts the Tango gateway for the lab's daemons, devices
 * labwire/<lab name>/<daemon>, writing with the monitor's token (PyTango DeviceProxy client).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../src/config/lab.js';
import { startLab } from '../src/lab/run.js';
import { bridgeLabYaml } from './helpers/bridge-lab.js';
import { silentLogger } from '../src/util/logger.js';
import { freePort } from '../src/testing/free-port.js';
import { eventually } from '../src/testing/eventually.js';

const PYTHON = '/usr/bin/python3';
const HAVE_TANGO = spawnSync(PYTHON, ['-c', 'import tango']).status === 0;
if (!HAVE_TANGO) console.warn(`skipping the tango: lab file test: PyTango is not importable by ${PYTHON} (apt-get install python3-tango)`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-tango-lab-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));


const yaml = bridgeLabYaml;

describe('tango in the lab file', () => {
  it('refuses an unknown key of tango: with its path', () => {
    expect(() => parseLabConfig(yaml('tango: { port: 10000, open: yes }'), path.join(dir, 'lab.yaml'), dir)).toThrow(/tango/);
  });

  it('tango: binds loopback unless listen says otherwise', () => {
    expect(parseLabConfig(yaml('tango: { port: 10000 }'), path.join(dir, 'lab.yaml'), dir).tango?.listen).toBe('127.0.0.1');
    expect(parseLabConfig(yaml('tango: { port: 10000, listen: 0.0.0.0 }'), path.join(dir, 'lab.yaml'), dir).tango?.listen).toBe('0.0.0.0');
  });

  it.skipIf(!HAVE_TANGO)('labwire up serves the lab\'s daemons as Tango devices; a write goes through the daemon with the monitor\'s token', async () => {
    fs.writeFileSync(path.join(dir, 'tokens.txt'), 'operator monitor-token-0123456789 monitor\n');
    const port = await freePort();
    const config = parseLabConfig(yaml(`tango: { port: ${port} }`), path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    try {
      expect(lab.tango).toBeDefined();
      const script = `
import json, tango
c = tango.DeviceProxy("tango://127.0.0.1:${port}/labwire/beamline/chiller#dbase=no")
c.set_timeout_millis(10000)
assert str(c.state()) == "ON", str(c.state())
c.write_attribute("setpoint", 21.5)
print(json.dumps([c.read_attribute("setpoint").value, c.get_attribute_config("setpoint").max_value]))`;
      // Asynchronously: the daemons run in this process and must answer while the client runs.
      const run = (): Promise<[number, string]> =>
        new Promise((resolve, reject) => {
          const p = spawn(PYTHON, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
          p.on('close', (code) => {
            clearTimeout(timer);
            if (code !== 0) return reject(new Error(err.slice(-500)));
            resolve(JSON.parse(out.trim().split('\n').pop()!) as [number, string]);
          });
        });
      const r = await eventually(run, 60_000, 1000);
      expect(r).toEqual([21.5, '30']);
      expect(fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')).toMatch(/setpoint/);
    } finally {
      await lab.close();
    }
    expect(lab.tango!.child.exitCode !== null || lab.tango!.child.signalCode !== null).toBe(true);
  }, 120_000);
});
