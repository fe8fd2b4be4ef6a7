/**
 * The Tango gateway's edges (review findings of decision 0029's gateway): a client's string cannot
 * add a request line or an `as=`, the Tango port binds loopback, names that Tango would merge stay
 * apart, Status follows a state change, Init does not multiply events, and a SIGKILLed parent does
 * not leave the gateway behind. The daemon is a fake on 127.0.0.1 port 0 that records every line
 * it receives, so "nothing extra reached the daemon" is checked on the wire.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTangoGateway, type TangoGateway } from '../src/bridges/tango/gateway.js';
import { TANGO_GATEWAY } from '../src/cli/tango-cmd.js';
import { silentLogger } from '../src/util/logger.js';
import { eventually } from '../src/testing/eventually.js';

import { PYTHON, runPythonJson } from './helpers/python.js';
const HAVE_TANGO = spawnSync(PYTHON, ['-c', 'import tango']).status === 0;
if (!HAVE_TANGO) console.warn(`skipping the Tango gateway safety tests: PyTango is not importable by ${PYTHON} (apt-get install python3-tango)`);

const DESCRIBE = {
  name: 'fake',
  params: {
    state: { type: 'enum', readonly: true },
    state_text: { type: 'string', readonly: true },
    'loop1.setpoint': { type: 'float', readonly: false, min: 0, max: 100 },
    loop1_setpoint: { type: 'float', readonly: false },
    label: { type: 'string', readonly: false },
    Temp: { type: 'float', readonly: true },
    temp: { type: 'float', readonly: true },
    /** Its `set` is never answered. */
    stuck: { type: 'float', readonly: false },
  },
  commands: { start: {}, drop: {}, go: { args: { a: { type: 'int' }, b: { type: 'string' } } } },
};
const VALUES = { state: 'idle', state_text: '', 'loop1.setpoint': 1, loop1_setpoint: 2, label: 'x', Temp: 3, temp: 4, stuck: 0 };

/** Every line the fake daemon received, in order, over all connections. */
const received: string[] = [];
let fake: net.Server;
let fakePort = 0;
let gateway: TangoGateway | undefined;
let gatewayLog = '';
let port = 0;

function startFake(): Promise<number> {
  const subscribers = new Set<net.Socket>();
  let starts = 0;
  /** `drop` ends every connection and refuses new ones for a while: a daemon that went away. */
  let downUntil = 0;
  const all = new Set<net.Socket>();
  fake = net.createServer((sock) => {
    if (Date.now() < downUntil) return void sock.destroy();
    all.add(sock);
    sock.on('close', () => all.delete(sock));
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('close', () => subscribers.delete(sock));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        received.push(line);
        const head = line.split(' ')[0];
        if (head === 'describe') sock.write(`describe ${JSON.stringify(DESCRIBE)}\n`);
        else if (head === 'get_status') sock.write(`status_json ${JSON.stringify({ values: VALUES, t: Date.now() })}\n`);
        else if (head === 'subscribe') {
          subscribers.add(sock);
          sock.write('ok subscribe\n');
        } else if (head === 'set' && line.startsWith('set stuck=')) {
          // never answered
        } else if (head === 'set') sock.write(`ok ${line}\n`);
        else if (head === 'drop') {
          sock.write('ok drop\n');
          downUntil = Date.now() + 1500;
          setTimeout(() => {
            for (const s of all) s.destroy();
          }, 100);
        }
        else if (head === 'start') {
          sock.write('ok start\n');
          // One update with a new value and a new state (no state_text): events for both, Status too.
          starts += 1;
          for (const s of subscribers) s.write(`update Temp=${6 + starts} state=${starts % 2 ? 'busy' : 'idle'} t=${Date.now()}\n`);
        } else sock.write(`ok ${head}\n`);
      }
    });
  });
  return new Promise((resolve) => fake.listen(0, '127.0.0.1', () => resolve((fake.address() as net.AddressInfo).port)));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function py(script: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const prelude = [
    'import json, sys, time, tango',
    `p = tango.DeviceProxy("tango://127.0.0.1:${port}/labwire/safe/fake#dbase=no")`,
    'p.set_timeout_millis(10000)',
    'def err(f):',
    '    try:',
    '        f(); return None',
    '    except tango.DevFailed as e:',
    '        return [e.args[0].reason, e.args[0].desc]',
    '',
  ].join('\n');
  return runPythonJson<Record<string, unknown>>(`${prelude}${script}`, { timeoutMs, note: () => `gateway: ${gatewayLog.slice(-1500)}` });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!HAVE_TANGO)('labwire tango gateway: injection, exposure, names, events, lifetime', () => {
  beforeAll(async () => {
    fakePort = await startFake();
    port = await freePort();
    const logger = silentLogger();
    gateway = startTangoGateway({ daemons: [{ host: '127.0.0.1', port: fakePort }], lab: 'safe', port, nodb: true, logger });
    gateway.child.stderr!.on('data', (d: string) => (gatewayLog += d));
    // "Ready to accept request" goes to stdout, which startTangoGateway drops: ask as a client.
    await eventually(async () => expect((await py('print(json.dumps({"s": str(p.state())}))', 20_000)).s).toBe('ON'), 60_000, 1000);
  }, 90_000);

  afterAll(async () => {
    await gateway?.close();
    await new Promise((r) => fake?.close(r));
  });

  it('a string with a line end is refused with a clear error; multi-argument commands take only their declared keywords; the daemon gets no extra line', async () => {
    const before = received.length;
    const r = await py(`
print(json.dumps({
  "write": err(lambda: p.write_attribute("label", "a\\nstart")),
  "cr": err(lambda: p.write_attribute("label", "a\\rstart")),
  "go_nl": err(lambda: p.command_inout("go", "a=1 b=2\\nstop")),
  "go_as": err(lambda: p.command_inout("go", "a=1 as=root")),
  "go_pos": err(lambda: p.command_inout("go", "a=1 stop")),
  "go_ok": p.command_inout("go", "a=1 b='x y'"),
}))`);
    for (const k of ['write', 'cr', 'go_nl']) {
      expect(r[k], k).not.toBeNull();
      expect((r[k] as string[])[1], k).toMatch(/control character/);
    }
    expect((r.go_as as string[])[1]).toMatch(/no argument as/);
    expect((r.go_pos as string[])[1]).toMatch(/keyword arguments/);
    expect(r.go_ok).toBe('go');
    const lines = received.slice(before);
    // Only the one good command reached the daemon, rebuilt and re-quoted by the gateway.
    expect(lines).toEqual(['go a=1 b="x y"']);
  }, 90_000);

  it('the Tango port listens on 127.0.0.1 only: a non-loopback address of this machine is refused', async () => {
    const ss = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
    if (ss.status === 0) {
      const listeners = ss.stdout.trim().split('\n').filter(Boolean);
      expect(listeners.length).toBeGreaterThan(0);
      for (const l of listeners) expect(l).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}\\b`));
    }
    const other = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
    if (!other) return console.warn('no non-loopback IPv4 address: only the ss check ran');
    const outcome = await new Promise<string>((resolve) => {
      const s = net.connect({ host: other.address, port, timeout: 10_000 });
      s.once('connect', () => (s.destroy(), resolve('connected')));
      s.once('timeout', () => (s.destroy(), resolve('timeout')));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(outcome).not.toBe('connected');
  }, 30_000);

  it('names Tango would merge (case, dot vs underscore) stay apart with a deterministic suffix and a log line', async () => {
    const r = await py(`
print(json.dumps({
  "attrs": sorted(p.get_attribute_list()),
  "l1": p.read_attribute("loop1_setpoint").value, "l1_label": p.get_attribute_config("loop1_setpoint").label,
  "l2": p.read_attribute("loop1_setpoint_2").value, "l2_label": p.get_attribute_config("loop1_setpoint_2").label,
  "T": p.read_attribute("Temp").value, "t2": p.read_attribute("temp_2").value,
}))`);
    expect(r.attrs).toEqual(['State', 'Status', 'Temp', 'label', 'loop1_setpoint', 'loop1_setpoint_2', 'stuck', 'temp_2']);
    // A name Tango can carry as it is keeps it; the dotted one gets the suffix.
    expect([r.l1, r.l1_label, r.l2, r.l2_label]).toEqual([2, 'loop1_setpoint', 1, 'loop1.setpoint']);
    expect([r.T, r.t2]).toEqual([3, 4]);
    expect(gatewayLog).toMatch(/'loop1\.setpoint' would clash .* it is loop1_setpoint_2/);
    expect(gatewayLog).toMatch(/'temp' would clash .* it is temp_2/);
  }, 90_000);

  it('a write the daemon never answers fails within DeviceProxy\'s default timeout with the gateway\'s Timeout and message; the link recovers', async () => {
    const r = await py(`
p.set_timeout_millis(3000)  # DeviceProxy's default
out = {"stuck": err(lambda: p.write_attribute("stuck", 1.0))}
deadline = time.time() + 30
while time.time() < deadline:
    try:
        p.write_attribute("label", "after")
        out["after"] = "ok"; break
    except tango.DevFailed as e:
        out["after"] = e.args[0].reason; time.sleep(0.3)
print(json.dumps(out))`);
    const stuck = r.stuck as [string, string];
    expect(stuck[0]).toBe('Timeout');
    expect(stuck[1]).toMatch(/no reply from daemon 127\.0\.0\.1:\d+ to set within 2\.5s/);
    expect(r.after).toBe('ok');
    expect(received).toContain('set label=after');
  }, 90_000);

  it('a daemon that goes away: State UNKNOWN, subscribers get their attributes INVALID, and both recover when it returns', async () => {
    const r = await py(`
temps, states = [], []
p.subscribe_event("Temp", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else temps.append(str(e.attr_value.quality)))
p.subscribe_event("State", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else states.append(str(e.attr_value.value)))
time.sleep(1)
p.command_inout("drop")
deadline = time.time() + 45
while time.time() < deadline and not ("UNKNOWN" in states and states[-1] == "ON" and "ATTR_INVALID" in temps and temps[-1] == "ATTR_VALID"):
    time.sleep(0.1)
print(json.dumps({"temps": temps, "states": states, "final": str(p.state())}), flush=True)
import os; os._exit(0)`);
    const temps = r.temps as string[];
    const states = r.states as string[];
    expect(states).toContain('UNKNOWN');
    expect(states[states.length - 1]).toBe('ON');
    expect(temps).toContain('ATTR_INVALID');
    expect(temps[temps.length - 1]).toBe('ATTR_VALID');
    expect(r.final).toBe('ON');
  }, 90_000);

  it('after Init twice, one update gives no more events than before Init; a state change pushes State and Status', async () => {
    // The fake's n-th start pushes Temp=6+n and a new state (busy, idle, …). Tango may deliver one push more than
    // once to a client (seen right after subscribing), so the count after Init is bounded by the one before.
    const r = await py(`
temps, states, statuses = [], [], []
def sub():
    ids = [p.subscribe_event("Temp", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else temps.append(e.attr_value.value)),
           p.subscribe_event("State", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else states.append(str(e.attr_value.value))),
           p.subscribe_event("Status", tango.EventType.CHANGE_EVENT, lambda e: None if e.err else statuses.append(e.attr_value.value))]
    time.sleep(1)
    return ids
ids = sub()
p.command_inout("start")
deadline = time.time() + 30
while time.time() < deadline and not (7 in temps and "MOVING" in states and "busy" in statuses):
    time.sleep(0.1)
time.sleep(2)
for i in ids:
    p.unsubscribe_event(i)
first = {"temps": list(temps), "states": list(states), "statuses": list(statuses)}
p.command_inout("Init")
p.command_inout("Init")
temps[:] = []
ids = sub()
p.command_inout("start")
deadline = time.time() + 30
while time.time() < deadline and 8 not in temps:
    time.sleep(0.1)
time.sleep(2)  # a duplicate listener's extra pushes arrive by now
print(json.dumps({"first": first, "temps": temps}), flush=True)
import os; os._exit(0)  # PyTango 9.3 may crash tearing down event subscriptions at exit`);
    const first = r.first as { temps: number[]; states: string[]; statuses: string[] };
    const once = first.temps.filter((v) => v === 7).length;
    expect(once).toBeGreaterThan(0);
    // One listener: no more than before Init (with one listener per Init, three pushes).
    const after = (r.temps as number[]).filter((v) => v === 8).length;
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThanOrEqual(once);
    expect(first.states).toContain('MOVING');
    // Status follows the state change although the update carried no state_text.
    expect(first.statuses).toContain('busy');
  }, 120_000);
});

describe.skipIf(!HAVE_TANGO)('labwire tango gateway: a SIGKILLed parent', () => {
  it('the python gateway exits (PR_SET_PDEATHSIG) when the node process that started it is SIGKILLed', async () => {
    const port = await freePort();
    // The parent: a bare node that spawns the gateway (stdin ignored: the pipe EOF path is off), prints its pid, and waits.
    const parentScript = `
const { spawn } = require('node:child_process');
const c = spawn(${JSON.stringify(PYTHON)}, [${JSON.stringify(TANGO_GATEWAY)}, '--daemon', '127.0.0.1:1', '--wait', '120', '--nodb', '--port', '${port}'], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, LABWIRE_PARENT_PIPE: '' } });
console.log(c.pid);
setInterval(() => undefined, 1000);`;
    const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    expect(pid).toBeGreaterThan(0);
    // The gateway is up and waiting for a daemon that never answers.
    await eventually(() => expect(alive(pid)).toBe(true), 10_000, 100);
    await new Promise((r) => setTimeout(r, 1500));
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    try {
      await eventually(() => expect(alive(pid)).toBe(false), 30_000, 200);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 60_000);

  it('startTangoGateway: close() ends a gateway that ignores SIGTERM by SIGKILL after its timeout', async () => {
    // A stand-in interpreter that ignores SIGTERM (exec: the process close() signals is node itself).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-tango-stub-'));
    const stub = path.join(dir, 'python');
    fs.writeFileSync(stub, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} -e "process.on('SIGTERM', () => undefined); process.stderr.write('up\\\\n'); setInterval(() => undefined, 1000)"\n`, { mode: 0o755 });
    try {
      const g = startTangoGateway({ daemons: [{ host: '127.0.0.1', port: 1 }], lab: 'x', port: 1, nodb: true, logger: silentLogger(), python: stub, killAfterMs: 1000 });
      let up = '';
      g.child.stderr!.on('data', (d: string) => (up += d));
      await eventually(() => expect(up).toMatch(/up/), 20_000, 50);
      await g.close();
      expect(g.child.signalCode).toBe('SIGKILL');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
