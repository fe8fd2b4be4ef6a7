/**
 * `tango:` in the lab file: `labwire up` starts the Tango gateway for the lab's daemons, devices
 * labwire/<lab name>/<daemon>, writing with a token of its own (not the monitor's forward one) (PyTango DeviceProxy client).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLabConfig } from '../src/config/lab.js';
import { TANGO_GATEWAY_TOKEN_NAME, startLab } from '../src/lab/run.js';
import { bridgeLabYaml } from './helpers/bridge-lab.js';
import { silentLogger } from '../src/util/logger.js';
import { freePort } from '../src/testing/free-port.js';
import { eventually } from '../src/testing/eventually.js';

import { PYTHON, runPythonJson } from './helpers/python.js';
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

  it('refuses tango: when a lab daemon listens with TLS, naming the daemon (the gateway speaks plain TCP only)', () => {
    const text = yaml('tango: { port: 10000 }').replace('limits: { setpoint: { max: 30 } } }', 'limits: { setpoint: { max: 30 } }, tls: { cert: server.pem, key: server.key } }');
    expect(text).toMatch(/tls: \{ cert: server\.pem/);
    expect(() => parseLabConfig(text, path.join(dir, 'lab.yaml'), dir)).toThrow(/the Tango gateway cannot reach daemon "chiller": it listens with TLS, which the gateway does not speak yet/);
    // Without tango: the same daemon is fine as far as this check goes.
    expect(() => parseLabConfig(yaml('').replace('limits: { setpoint: { max: 30 } } }', 'limits: { setpoint: { max: 30 } }, tls: { cert: server.pem, key: server.key } }'), path.join(dir, 'lab.yaml'), dir)).not.toThrow(/Tango/);
  });

  it.skipIf(!HAVE_TANGO)('labwire up serves the lab\'s daemons as Tango devices: a write is audited as the gateway (its own token, not the monitor\'s forward one); State goes MOVING then ON', async () => {
    fs.writeFileSync(path.join(dir, 'tokens.txt'), 'operator monitor-token-0123456789 monitor\n');
    const port = await freePort();
    // A quick bath and a short settling time: MOVING → ON within seconds (the defaults settle 30 s).
    const text = yaml(`tango: { port: ${port} }`)
      .replace('options: { byteTiming: false }', 'options: { byteTiming: false }, timeScale: 20')
      .replace('auditFile: audit.jsonl,', 'auditFile: audit.jsonl, options: { settleSeconds: 1, tolerance: 0.5 },');
    expect(text).toMatch(/timeScale: 20/);
    expect(text).toMatch(/settleSeconds: 1/);
    const config = parseLabConfig(text, path.join(dir, 'lab.yaml'), dir);
    const lab = await startLab({ ...config, data: path.join(dir, 'data') }, silentLogger());
    try {
      expect(lab.tango).toBeDefined();
      const script = `
import json, time, tango
c = tango.DeviceProxy("tango://127.0.0.1:${port}/labwire/beamline/chiller#dbase=no")
c.set_timeout_millis(10000)
assert str(c.state()) == "ON", str(c.state())
states = []
c.subscribe_event("State", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else states.append(str(e.attr_value.value)))
time.sleep(1)
c.command_inout("start")
c.write_attribute("setpoint", 21.5)
deadline = time.time() + 60
while time.time() < deadline and not ("MOVING" in states and states[-1] == "ON"):
    time.sleep(0.2)
print(json.dumps({"sp": c.read_attribute("setpoint").value, "warn": c.get_attribute_config("setpoint").alarms.max_warning, "states": states, "final": str(c.state())}), flush=True)
import os; os._exit(0)  # PyTango 9.3 may crash tearing down event subscriptions at exit`;
      // Asynchronously: the daemons run in this process and must answer while the client runs.
      const run = (): Promise<{ sp: number; warn: string; states: string[]; final: string }> => runPythonJson(script, { timeoutMs: 90_000 });
      const r = await eventually(run, 100_000, 1000);
      // The site limit (30) of the lab file, shown as the attribute's warning level.
      expect([r.sp, r.warn]).toEqual([21.5, '30']);
      expect(r.states).toContain('MOVING');
      expect(r.states[r.states.length - 1]).toBe('ON');
      expect(r.final).toBe('ON');
      const audit = fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const write = audit.find((e) => /setpoint/.test(JSON.stringify(e)));
      expect(write, JSON.stringify(audit)).toBeDefined();
      const text = JSON.stringify(write);
      expect(text).toContain(TANGO_GATEWAY_TOKEN_NAME);
      expect(text).not.toMatch(/"monitor"/);
    } finally {
      await lab.close();
    }
    expect(lab.tango!.child.exitCode !== null || lab.tango!.child.signalCode !== null).toBe(true);
  }, 150_000);
});
