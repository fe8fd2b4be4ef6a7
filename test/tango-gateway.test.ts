/**
 * The Tango gateway (gateways/tango, decision 0029) as Tango clients see it: PyTango DeviceProxy
 * scripts run by /usr/bin/python3 against `labwire tango --nodb`, started from source, in front of
 * a simulated Julabo and a simulated Cryo-con whose daemons run in-process on port 0.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../src/daemon/daemon.js';
import { TANGO_GATEWAY } from '../src/cli/tango-cmd.js';
import { freePort } from '../src/testing/free-port.js';
import { startCryoconLab, type CryoconLab } from './helpers/cryocon-lab.js';
import { eventually, kv, startJulaboLab, type JulaboLab } from './helpers/julabo-lab.js';
import { ROOT } from './helpers/cli.js';
import { cliInProcess } from './helpers/cli-in-process.js';

import { PYTHON, runPythonJson } from './helpers/python.js';
const probe = spawnSync(PYTHON, ['-c', 'import tango'], { encoding: 'utf8' });
const HAVE_TANGO = probe.status === 0;
if (!HAVE_TANGO) console.warn(`skipping the Tango gateway tests: PyTango is not importable by ${PYTHON} (apt-get install python3-tango)`);

const TOKEN = 'tango-test-token-0123456789';
let dir: string;
let julabo: JulaboLab;
let cryoLab: CryoconLab;
let cryo: Daemon;
let gateway: ChildProcess | undefined;
let gatewayLog = '';
let port = 0;


/** Runs a PyTango client script; `dev(name)` gives a DeviceProxy; the script prints one JSON line. */
function py(script: string, timeoutMs = 60_000): Promise<unknown> {
  const prelude = [
    'import json, sys, time, tango',
    `def dev(name):`,
    `    p = tango.DeviceProxy("tango://127.0.0.1:${port}/labwire/testlab/%s#dbase=no" % name)`,
    `    p.set_timeout_millis(10000)`,
    `    return p`,
    '',
  ].join('\n');
  return runPythonJson(`${prelude}${script}`, { timeoutMs, note: () => `gateway: ${gatewayLog.slice(-1500)}` });
}

const describeTango = HAVE_TANGO ? describe : describe.skip;

describeTango('labwire tango: the lab as Tango devices (PyTango DeviceProxy, no database)', () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-tango-'));
    const tokens = [{ role: 'operator' as const, token: TOKEN, name: 'tango' }];
    // Anonymous peers may only read: a write that works proves the gateway used its token.
    julabo = await startJulaboLab({}, { tokens, anonymousRole: 'viewer', auditFile: path.join(dir, 'audit.jsonl') });
    cryoLab = await startCryoconLab({ tokens, anonymousRole: 'viewer' });
    cryo = cryoLab.daemon;
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    port = await freePort();
    const tsx = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    gateway = spawn(process.execPath, [tsx, path.join(ROOT, 'src/cli/run.ts'), 'tango', '--daemon', `127.0.0.1:${julabo.port}`, '--daemon', `127.0.0.1:${cryo.port}`, '--lab', 'testlab', '--nodb', '--port', String(port), '--token-file', tokenFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LABWIRE_TOKEN: '' },
    });
    gateway.stdout!.on('data', (d: Buffer) => (gatewayLog += d.toString()));
    gateway.stderr!.on('data', (d: Buffer) => (gatewayLog += d.toString()));
    gateway.on('exit', (code, signal) => (gatewayLog += `\n[gateway exited: code ${code} signal ${signal}]`));
    await eventually(() => expect(gatewayLog).toMatch(/Ready to accept request/), 60_000, 200);
    // Both instruments read before the tests start.
    await eventually(async () => {
      const r = (await py('print(json.dumps([str(dev("chiller").state()), str(dev("cryo").state())]))')) as string[];
      expect(r).toEqual(['ON', 'ON']);
    }, 60_000, 500);
  }, 120_000);

  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      gateway.kill('SIGTERM');
      await new Promise((r) => gateway!.once('exit', r));
    }
    await julabo?.close();
    await cryoLab?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads temperature and setpoint with the unit and limits of describe; commands are Tango commands', async () => {
    const r = (await py(`
c, k = dev("chiller"), dev("cryo")
cfg = c.get_attribute_config("setpoint")
print(json.dumps({
  "t": c.read_attribute("temperature").value, "sp": c.read_attribute("setpoint").value,
  "unit": cfg.unit, "max": cfg.alarms.max_warning, "min": cfg.alarms.min_warning,
  "max_value": cfg.max_value, "desc": cfg.description,
  "sp_w": str(cfg.writable), "t_w": str(c.get_attribute_config("temperature").writable),
  "cmds": [x.cmd_name for x in c.command_list_query()],
  "loop": k.read_attribute("loop1_setpoint").value, "chA": k.read_attribute("chA_temperature").value,
  "chA_unit": k.get_attribute_config("chA_temperature").unit,
  "clear": str(k.command_query("clear_alarm").in_type)}))`)) as Record<string, unknown>;
    const status = kv(await (await julabo.client()).request('get_status'));
    expect(r.t).toBeCloseTo(Number(status.temperature), 1);
    expect(r.sp).toBe(Number(status.setpoint));
    expect(r.unit).toBe('°C');
    // describe's limits are shown as warning levels and in the description; Tango's own
    // min_value/max_value stay unset, so the daemon, not Tango, refuses (its message, below).
    expect([r.min, r.max]).toEqual(['-20', '40']);
    expect(r.max_value).toBe('Not specified');
    expect(r.desc).toMatch(/limits -20 … 40 °C/);
    expect(r.sp_w).toBe('READ_WRITE');
    expect(r.t_w).toBe('READ');
    expect(r.cmds).toEqual(expect.arrayContaining(['start', 'stop', 'State', 'Status']));
    expect(typeof r.loop).toBe('number');
    expect(typeof r.chA).toBe('number');
    expect(r.chA_unit).toBe('K');
    expect(r.clear).toBe('DevString');
  }, 90_000);

  it('a setpoint write goes through the daemon\'s set (applied, audited); refusals carry the daemon\'s message', async () => {
    const r = (await py(`
c, k = dev("chiller"), dev("cryo")
out = {}
c.write_attribute("setpoint", 23.5)
out["sp"] = c.read_attribute("setpoint").value
try:
    c.write_attribute("setpoint", 55.0)
    out["range"] = "accepted"
except tango.DevFailed as e:
    out["range"] = [e.args[0].reason, e.args[0].desc]
try:
    k.write_attribute("chA_name", 'bad"name')
    out["name"] = "accepted"
except tango.DevFailed as e:
    out["name"] = [e.args[0].reason, e.args[0].desc]
try:
    k.write_attribute("loop1_setpoint", -5.0)
    out["low"] = "accepted"
except tango.DevFailed as e:
    out["low"] = [e.args[0].reason, e.args[0].desc]
print(json.dumps(out))`)) as { sp: number; range: [string, string]; low: [string, string]; name: [string, string] };
    expect(r.sp).toBe(23.5);
    await eventually(async () => expect(kv(await (await julabo.client()).request('get_status')).setpoint).toBe('23.5'), 30_000, 200);
    expect(fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')).toMatch(/setpoint/);
    // Beyond describe's max the daemon refuses, and its code and message reach the client
    // (not Tango's API_WAttrOutsideLimit with Tango's own text).
    expect(r.range[0]).toBe('RangeError');
    expect(r.range[1]).toMatch(/setpoint 55 °C is above the \S+ limit of 40 °C/);
    expect(r.low[0]).toBe('RangeError');
    expect(r.low[1]).toMatch(/below/);
    // Within Tango's checks, the daemon decides, and its code and message reach the client.
    expect(r.name[0]).toMatch(/WrongType|RangeError/);
    expect(r.name[1]).toMatch(/quote/);
  }, 90_000);

  it('pushes change events from the labwire subscription; State follows the labwire state', async () => {
    const r = (await py(`
k = dev("cryo")
temps, states = [], []
k.subscribe_event("loop1_temperature", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else temps.append(e.attr_value.value))
k.subscribe_event("State", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else states.append(str(e.attr_value.value)))
time.sleep(1)
n = len(temps)
sp = k.read_attribute("loop1_setpoint").value
k.write_attribute("loop1_setpoint", sp + 15 if sp < 200 else sp - 15)
deadline = time.time() + 45
while time.time() < deadline and not (len(temps) > n and "MOVING" in states and states[-1] == "ON"):
    time.sleep(0.2)
print(json.dumps({"n": n, "temps": temps[-5:], "count": len(temps), "states": states, "final": str(k.state())}))`)) as { n: number; count: number; states: string[]; final: string };
    expect(r.count).toBeGreaterThan(r.n);
    expect(r.states).toContain('MOVING');
    expect(r.states[r.states.length - 1]).toBe('ON');
    expect(r.final).toBe('ON');
  }, 90_000);

  it('a daemon that goes away makes its device UNKNOWN, with a status saying so; it recovers by itself', async () => {
    await julabo.daemon.close();
    const down = (await eventually(async () => {
      const s = (await py(`
c = dev("chiller")
try:
    c.read_attribute("temperature"); err = None
except tango.DevFailed as e:
    err = e.args[0].reason
print(json.dumps({"state": str(c.state()), "status": c.status(), "err": err, "cryo": str(dev("cryo").state())}))`)) as Record<string, string>;
      expect(s.state).toBe('UNKNOWN');
      return s;
    }, 60_000, 500)) as Record<string, string>;
    expect(down.status).toMatch(/unreachable/);
    expect(down.err).toBe('CommunicationFailed');
    expect(down.cryo).toBe('ON');
    await julabo.startAgain();
    await eventually(async () => {
      const s = (await py('c = dev("chiller"); print(json.dumps([str(c.state()), c.read_attribute("setpoint").value]))')) as [string, number];
      expect(s).toEqual(['ON', 23.5]);
    }, 90_000, 1000);
  }, 200_000);
});

describe('labwire tango without PyTango', () => {
  it('says in one line what to install and exits 2', () => {
    // -S leaves out site-packages, where Debian's python3-tango lives: the import really fails.
    const r = spawnSync(fs.existsSync(PYTHON) ? PYTHON : 'python3', ['-S', TANGO_GATEWAY, '--daemon', '127.0.0.1:1'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/apt-get install python3-tango/);
  });

  it('labwire tango: --nodb without --port and a daemon that is not host:port are one-line errors; no token option', async () => {
    const a = await cliInProcess('tango', '--daemon', '127.0.0.1:7001', '--nodb');
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--nodb needs --port/);
    const b = await cliInProcess('tango', '--daemon', 'nonsense');
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/not host:port/);
    const w = await cliInProcess('tango', '--daemon', '127.0.0.1:7001', '--write-timeout', 'soon');
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/--write-timeout "soon" is not a number of seconds/);
    const h = await cliInProcess('tango', '--help');
    expect(h.stdout).toMatch(/--token-file/);
    expect(h.stdout).not.toMatch(/--token </);
  });
});
