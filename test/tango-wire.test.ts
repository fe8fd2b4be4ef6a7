/**
 * The Tango gateway's labwire client (gateways/tango/labwire_wire.py) over a real socket: a fake
 * daemon in the same Python script on 127.0.0.1 port 0. Plain /usr/bin/python3, no PyTango.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const PYTHON = '/usr/bin/python3';
const HAVE_PYTHON = fs.existsSync(PYTHON);
if (!HAVE_PYTHON) console.warn(`skipping the Tango gateway client tests: no ${PYTHON}`);

/** A fake daemon: describe, get_status, subscribe; `get <p>` answers `ok get <p>=<value of p>`; `hang` is never answered. */
const PRELUDE = `
import json, socket, sys, threading, time
sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'gateways', 'tango'))})
from labwire_wire import Link, LabwireError
VALUES = {"a": "1", "b": "2", "c": "3"}
conns = []
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
def serve(c):
    f = c.makefile("rb")
    for raw in f:
        line = raw.decode().strip()
        head = line.split(" ")[0]
        if head == "describe":
            out = "describe " + json.dumps({"name": "fake", "params": {"state": {"type": "enum"}, "a": {"type": "int"}, "b": {"type": "int"}, "c": {"type": "int"}}})
        elif head == "get_status":
            out = "status_json " + json.dumps({"values": {"state": "idle"}, "t": 0})
        elif head == "get":
            p = line.split(" ")[1]
            out = "ok get %s=%s" % (p, VALUES[p])
        elif head == "hang":
            continue
        elif head == "flood":
            # 3000 updates in one write; the state goes busy at 1000 and idle at 2000.
            ups = []
            for i in range(1, 3001):
                extra = " state=busy" if i == 1000 else " state=idle" if i == 2000 else ""
                ups.append("update a=%d%s t=%d" % (i, extra, i))
            c.sendall(("\\n".join(ups) + "\\n").encode())
            out = "ok flood"
        else:
            out = "ok " + head
        try:
            c.sendall((out + "\\n").encode())
        except OSError:
            return
def accept():
    while True:
        c, _ = srv.accept(); conns.append(c)
        threading.Thread(target=serve, args=(c,), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
link = Link("127.0.0.1", srv.getsockname()[1], None, lambda m: None)
link.start()
def until(cond, s=20):
    end = time.time() + s
    while time.time() < end and not cond():
        time.sleep(0.02)
    return cond()
def get(p):
    try:
        return link.request("get " + p, timeout=5)
    except LabwireError as e:
        return e.code
`;

function py(script: string): Record<string, unknown> {
  const r = spawnSync(PYTHON, ['-c', PRELUDE + script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status} ${r.signal}): ${r.stdout.slice(-1000)} ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
}

describe.skipIf(!HAVE_PYTHON)('labwire_wire.Link: replies pair with their requests across reconnects', () => {
  it('a request caught between the old connection\'s end and its send fails cleanly; after the reconnect each read gets its own value, on one new connection', () => {
    const r = py(`
out = {"connected": until(lambda: link.connected), "a": get("a")}
# Hold the link's send lock: a request that found the link connected now waits to send, as behind
# a slow send on a busy connection. Meanwhile the daemon drops the connection.
link._send_lock.acquire()
late = {}
t = threading.Thread(target=lambda: late.update(r=get("b")))
t.start()
time.sleep(0.3)
conns[0].shutdown(socket.SHUT_RDWR); conns[0].close()
out["down"] = until(lambda: not link.connected)
link._send_lock.release()  # the late request goes on, on the old connection
t.join(10)
out["late"] = late.get("r")
out["up"] = until(lambda: link.connected and len(conns) >= 2)
out["b"], out["c"], out["a2"] = get("b"), get("c"), get("a")
time.sleep(0.5)
out["connections"] = len(conns)
print(json.dumps(out))`);
    expect(r.connected).toBe(true);
    expect(r.a).toBe('ok get a=1');
    expect(r.down).toBe(true);
    // Never another request's reply: the old connection is gone, so it is a CommunicationFailed.
    expect(r.late).toBe('CommunicationFailed');
    expect(r.up).toBe(true);
    expect([r.b, r.c, r.a2]).toEqual(['ok get b=2', 'ok get c=3', 'ok get a=1']);
    // The new connection's handshake was not thrown off by a stale waiter (no third connection).
    expect(r.connections).toBe(2);
  }, 90_000);

  it('a request the daemon never answers times out with a clear error, and the link reconnects so the next replies pair', () => {
    const r = py(`
until(lambda: link.connected)
t0 = len(conns)
try:
    link.request("hang", timeout=1); out = {"hang": "answered"}
except LabwireError as e:
    out = {"hang": [e.code, e.message]}
out["up"] = until(lambda: link.connected and len(conns) > t0)
out["b"], out["a"] = get("b"), get("a")
print(json.dumps(out))`);
    expect((r.hang as string[])[0]).toBe('Timeout');
    expect((r.hang as string[])[1]).toMatch(/no reply from daemon .* to hang within 1s/);
    expect(r.up).toBe(true);
    expect([r.b, r.a]).toEqual(['ok get b=2', 'ok get a=1']);
  }, 90_000);

  it('a flood of updates reaches a slow listener merged (latest value, far fewer calls), with every state change kept in order', () => {
    const r = py(`
until(lambda: link.connected)
calls, states = [], []
def slow(changed, t):
    if "a" in changed:
        calls.append(changed["a"])
    # The flood's updates only (t 1…3000): the connect's own status (t 0) may reach a listener
    # added just after the link came up, on a busy machine.
    if "state" in changed and t > 0:
        states.append(changed["state"])
    time.sleep(0.002)
link.listeners.append(slow)
link.request("flood")
until(lambda: calls and calls[-1] == 3000)
time.sleep(0.3)
print(json.dumps({"n": len(calls), "last": calls[-1] if calls else None, "states": states}))`);
    expect(r.last).toBe(3000);
    expect(r.n as number).toBeLessThan(1500);
    expect(r.states).toEqual(['busy', 'idle']);
  }, 90_000);

  it('a daemon that sends an endless line is cut off and reconnected, not buffered without bound', () => {
    const r = py(`
until(lambda: link.connected)
Link.MAX_LINE = 1 << 20
t0 = len(conns)
conns[-1].sendall(b"x" * (3 << 20))
out = {"up": until(lambda: link.connected and len(conns) > t0)}
out["a"] = get("a")
print(json.dumps(out))`);
    expect(r.up).toBe(true);
    expect(r.a).toBe('ok get a=1');
  }, 90_000);
});
