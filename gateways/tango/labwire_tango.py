#!/usr/bin/python3
"""labwire Tango gateway: every labwire daemon as a Tango device `labwire/<lab>/<device>`.

Built from each daemon's `describe` (no per-family code, decision 0029): parameters become
attributes (type, unit, min/max, writability), commands become Tango commands, State/Status follow
labwire `state`/`state_text`, change events are pushed from a labwire `subscribe`. Writes go
through the daemon's `set`, so its limits, roles and audit apply; the operator token comes from
--token-file or $LABWIRE_TOKEN, never from the command line.

    labwire_tango.py --daemon 127.0.0.1:7001 [--daemon ...] [--lab lab] [--nodb --port 10000]
"""
import argparse
import ctypes
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from labwire_wire import Link, LabwireError, convert, fmt, parse  # noqa: E402

try:
    import tango
    from tango import AttrQuality, AttrWriteType, DevState
    from tango.server import Device, command
except ImportError as _e:  # one line, an exit code of its own (2: usage/environment)
    sys.stderr.write("labwire tango: PyTango is not available to %s (%s); install it with "
                     "`apt-get install python3-tango` and run it with /usr/bin/python3\n" % (sys.executable, _e))
    sys.exit(2)

STATES = {
    "idle": DevState.ON,
    "busy": DevState.MOVING,
    "ramping": DevState.MOVING,
    "stabilizing": DevState.MOVING,
    "warn": DevState.ALARM,
    "error": DevState.FAULT,
    "disabled": DevState.DISABLE,
}
STANDARD = ("state", "state_text")
RESERVED = ("state", "status", "init")
TYPES = {"float": tango.DevDouble, "int": tango.DevLong64, "bool": tango.DevBoolean,
         "enum": tango.DevString, "string": tango.DevString}
MISSING = {"float": float("nan"), "int": 0, "bool": False, "enum": "", "string": ""}

LINKS = {}  # Tango device name (lower case) -> Link
# Seconds a write waits for the daemon's reply: below DeviceProxy's default timeout (3 s), so a
# client sees the gateway's Timeout with its message, not a bare API_DeviceTimedOut. (--write-timeout)
WRITE_TIMEOUT = [2.5]


def log(msg):
    sys.stderr.write("labwire tango: %s\n" % msg)
    sys.stderr.flush()


def attr_name(param):
    """A Tango attribute name: `loop1.setpoint` -> `loop1_setpoint` (Tango names have no dot)."""
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in param)
    return "lw_" + name if name.lower() in RESERVED else name


def unique_names(names, kind):
    """Tango names for labwire names, distinct case-insensitively (Tango compares names so).

    `loop1.setpoint` and `loop1_setpoint`, or `Temp` and `temp`, would otherwise be one attribute;
    the later one (in a fixed order, so the result does not depend on describe's order) gets a
    suffix `_2`, `_3`, … and a log line says so.
    """
    out, taken = {}, set()
    # A name Tango can carry as it is keeps it; among the rest, sorted order decides.
    for n in sorted(names, key=lambda n: (attr_name(n) != n, n)):
        base = attr_name(n)
        name, i = base, 2
        while name.lower() in taken:
            name, i = "%s_%d" % (base, i), i + 1
        if name != base:
            log("%s %r would clash with another as Tango %s; it is %s" % (kind, n, base, name))
        taken.add(name.lower())
        out[n] = name
    return out


def throw(err):
    # PyTango 9.3 clients decode an error's text as Latin-1 while a str goes out as UTF-8 ("°C"
    # arrived as "Â°C"): Latin-1 bytes, with "?" for what Latin-1 cannot hold.
    tango.Except.throw_exception(err.code, err.message.encode("latin-1", "replace"), "labwire")


class LabwireDevice(Device):
    """One labwire daemon; everything else is added from its describe in init_device."""

    def init_device(self):
        Device.init_device(self)
        self.link = LINKS[self.get_name().lower()]
        doc = self.link.describe
        # labwire parameter -> Tango attribute name, and back (by lower case, as Tango looks up).
        self.names = unique_names([p for p in doc["params"] if p not in STANDARD], "parameter")
        self.params = {name.lower(): p for p, name in self.names.items()}
        cmds = {c: spec for c, spec in doc.get("commands", {}).items() if not spec.get("binary")}
        # Commands share Tango's name space with State/Status/Init (attr_name's RESERVED).
        for c, tname in unique_names(list(cmds), "command").items():
            self._add_cmd(c, cmds[c], tname)
        self.set_change_event("State", True, False)
        self.set_change_event("Status", True, False)
        self._last_state = None
        self._last_status = None
        # Init runs delete_device then init_device: the old listener goes first, or each Init adds one.
        self.link.listeners.append(self._on_change)

    def delete_device(self):
        try:
            self.link.listeners.remove(self._on_change)
        except (AttributeError, ValueError):
            pass

    def initialize_dynamic_attributes(self):
        doc = self.link.describe
        for p, d in doc["params"].items():
            if p in STANDARD:
                continue
            name = self.names[p]
            writable = not d.get("readonly", True) and not doc.get("readOnly", False)
            attr = tango.Attr(name, TYPES.get(d.get("type"), tango.DevString),
                              AttrWriteType.READ_WRITE if writable else AttrWriteType.READ)
            props = tango.UserDefaultAttrProp()
            text = d.get("description", "") or p
            if d.get("type") == "enum":
                text = "%s (one of: %s)" % (text, ", ".join(d.get("values", [])))
            props.set_label(p)
            if d.get("unit"):
                props.set_unit(d["unit"])
            if d.get("type") in ("float", "int"):
                # The daemon's limits as warning levels, not min_value/max_value: with those Tango
                # refuses a write itself (API_WAttrOutsideLimit, its own text), and the client
                # never sees the daemon's message ("55 °C is above the FL1703 limit of 40 °C").
                # Jive and Taurus still show the range; the description says what it is.
                lo, hi = d.get("min"), d.get("max")
                if lo is not None:
                    props.set_min_warning(str(lo))
                if hi is not None:
                    props.set_max_warning(str(hi))
                if lo is not None or hi is not None:
                    text = "%s; limits %s … %s%s (the daemon refuses a %s outside them)" % (
                        text, "-inf" if lo is None else lo, "+inf" if hi is None else hi,
                        " " + d["unit"] if d.get("unit") else "", "write" if writable else "value")
            props.set_description(text)
            attr.set_default_properties(props)
            self.add_attribute(attr, self.read_param, self.write_param if writable else None)
            self.set_change_event(name, True, False)

    # -- attributes -----------------------------------------------------------------------
    def read_param(self, attr):
        p = self.params[attr.get_name().lower()]
        if not self.link.connected:
            throw(LabwireError("CommunicationFailed", "daemon %s:%d unreachable: %s" % (self.link.host, self.link.port, self.link.error)))
        v = self.link.values.get(p)
        d = self.link.describe["params"][p]
        if v is None:
            attr.set_value_date_quality(MISSING.get(d.get("type"), ""), time.time(), AttrQuality.ATTR_INVALID)
        else:
            attr.set_value(v)

    def write_param(self, attr):
        p = self.params[attr.get_name().lower()]
        try:
            reply = self.link.request("set %s=%s" % (p, wire_value(attr.get_write_value())), timeout=WRITE_TIMEOUT[0])
        except LabwireError as e:
            throw(e)
        # The applied value (it may be rounded by the device) is what readers see next.
        _, _, kw = parse(reply)
        if p in kw:
            self.link.values[p] = convert(kw[p], self.link.describe["params"][p])

    # -- State / Status -------------------------------------------------------------------
    def dev_state(self):
        if not self.link.connected:
            return DevState.UNKNOWN
        return STATES.get(self.link.values.get("state"), DevState.UNKNOWN)

    def dev_status(self):
        if not self.link.connected:
            return "daemon %s:%d unreachable: %s" % (self.link.host, self.link.port, self.link.error)
        return self.link.values.get("state_text") or str(self.link.values.get("state"))

    # -- events (from the link's reader thread) --------------------------------------------
    def _on_change(self, changed, t_ms):
        # Tango's device lock: a push must not race a client's read of the same attribute.
        with tango.AutoTangoMonitor(self):
            self._push(changed, t_ms)

    def _push(self, changed, t_ms):
        t = t_ms / 1000.0
        params = self.link.describe["params"]
        for p, v in changed.items():
            name = self.names.get(p)
            if name is None:
                continue
            if v is None:
                self.push_change_event(name, MISSING.get(params[p].get("type"), ""), t, AttrQuality.ATTR_INVALID)
            else:
                self.push_change_event(name, v, t, AttrQuality.ATTR_VALID)
        # The state this update carries (the cache may already hold a later one: a MOVING
        # between two quick updates must still be pushed).
        if "state" in changed and self.link.connected:
            state = STATES.get(changed["state"], DevState.UNKNOWN)
        else:
            state = self.dev_state()
        # With no value, Tango reads State/Status through dev_state/dev_status (pushing a DevState
        # value from this thread crashes PyTango 9.3).
        state_changed = state != self._last_state
        if state_changed:
            self._last_state = state
            self.set_state(state)
            self.push_change_event("State")
            if not self.link.connected:
                # The daemon is gone: every subscriber learns its last value is no longer current
                # (the reconnect pushes fresh values with the daemon's status).
                for p, name in self.names.items():
                    self.push_change_event(name, MISSING.get(params[p].get("type"), ""), t, AttrQuality.ATTR_INVALID)
        status = self.dev_status()
        if state_changed or status != self._last_status or "state_text" in changed or not changed:
            self._last_status = status
            # Without a value Tango pushes the device's own status string, not dev_status().
            self.set_status(status)
            self.push_change_event("Status")

    # -- commands -------------------------------------------------------------------------
    def _add_cmd(self, cname, spec, tname):
        args = list(spec.get("args", {}).items())
        link = self.link

        def run(line):
            try:
                reply = link.request(line, timeout=60.0)
            except LabwireError as e:
                throw(e)
            return reply[3:] if reply.startswith("ok ") else reply

        if not args:
            def fn(self_):
                return run(cname)
            dtype_in = None
            doc_in = "none"
        elif len(args) == 1:
            aname, adesc = args[0]
            dtype_in = TYPES.get(adesc.get("type"), tango.DevString)

            def fn(self_, value):
                return run("%s %s=%s" % (cname, aname, wire_value(value)))
            doc_in = "%s: %s" % (aname, adesc.get("description", ""))
        else:
            dtype_in = tango.DevString

            declared = [a for a, _ in args]

            def fn(self_, text):
                return run(kw_line(cname, declared, text))
            doc_in = "keyword arguments as one string: " + " ".join("%s=<%s>" % (a, d.get("type")) for a, d in args)
        fn.__name__ = tname
        cmd = command(fn, dtype_in=dtype_in, doc_in=doc_in, dtype_out=str,
                      doc_out="the daemon's reply, e.g. `start` or `set setpoint=20`")
        setattr(self, tname, cmd.__get__(self, type(self)))
        self.add_command(cmd, True)


def wire_value(value):
    """fmt, with its refusal (a control character) as a Tango error."""
    try:
        return fmt(value)
    except ValueError as e:
        throw(LabwireError("WrongType", str(e)))


def kw_line(cname, declared, text):
    """`<cname> k=v ...` rebuilt from the client's string: only the declared argument names, each
    value re-quoted by fmt, so the string cannot add a line, a second command or an `as=`."""
    _, pos, kw = parse("x " + text)
    if pos:
        throw(LabwireError("WrongType", "%s takes keyword arguments %s, not %r" % (cname, " ".join(a + "=<value>" for a in declared), " ".join(pos))))
    unknown = [k for k in kw if k not in declared]
    if unknown:
        throw(LabwireError("WrongType", "%s has no argument %s (it takes %s)" % (cname, ", ".join(unknown), ", ".join(declared))))
    return " ".join([cname] + ["%s=%s" % (k, wire_value(v)) for k, v in kw.items()])


def watch_parent():
    """Ends the gateway when its parent dies, even by SIGKILL: Linux's PR_SET_PDEATHSIG, and EOF on
    stdin when the parent gave us a pipe (`labwire up` does; a terminal or /dev/null does not)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError) as e:
            log("cannot set PR_SET_PDEATHSIG: %s" % e)
    if os.environ.get("LABWIRE_PARENT_PIPE") == "1":
        def wait_eof():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except (OSError, ValueError):
                pass
            log("parent gone (stdin closed); exiting")
            os._exit(0)
        threading.Thread(target=wait_eof, daemon=True).start()


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="labwire_tango.py", description=__doc__.split("\n")[0])
    ap.add_argument("--daemon", action="append", required=True, help="host:port of a labwire daemon (repeatable)")
    ap.add_argument("--lab", default="lab", help="the <lab> of labwire/<lab>/<device> (default lab)")
    ap.add_argument("--instance", default=None, help="Tango server instance name (default: the lab)")
    ap.add_argument("--nodb", action="store_true", help="run without a Tango database (clients add #dbase=no)")
    ap.add_argument("--port", type=int, default=None, help="the server's TCP port (needed with --nodb)")
    ap.add_argument("--listen", default="127.0.0.1",
                    help="address the Tango port binds (default 127.0.0.1; Tango clients are not authenticated, "
                         "so anyone reaching it writes with the gateway's token)")
    ap.add_argument("--token-file", default=None, help="file holding the operator token (default: $LABWIRE_TOKEN)")
    ap.add_argument("--write-timeout", type=float, default=2.5,
                    help="seconds a write waits for the daemon (default 2.5, below DeviceProxy's default 3 s)")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for each daemon's describe at start")
    return ap.parse_args(argv)


def main(argv):
    o = parse_args(argv)
    watch_parent()
    WRITE_TIMEOUT[0] = o.write_timeout
    if o.nodb and not o.port:
        log("--nodb needs --port <n>: without a database, clients find the server only by its port")
        return 2
    token = os.environ.get("LABWIRE_TOKEN") or None
    if o.token_file:
        try:
            with open(o.token_file) as f:
                token = f.read().strip()
        except OSError as e:
            log("cannot read token file %s: %s" % (o.token_file, e))
            return 2
    links = []
    for d in o.daemon:
        host, _, port = d.rpartition(":")
        if not host or not port.isdigit():
            log("daemon %r is not host:port" % d)
            return 2
        link = Link(host, int(port), token, log)
        link.thread_context = tango.EnsureOmniThread
        link.start()
        links.append(link)
    # No-database mode needs the device names before the server starts, so wait for describe.
    deadline = time.time() + o.wait
    while time.time() < deadline and any(l.describe is None for l in links):
        time.sleep(0.1)
    for link in links:
        if link.describe is None:
            log("no describe from daemon %s:%d within %gs: %s" % (link.host, link.port, o.wait, link.error))
            return 1
        name = "labwire/%s/%s" % (o.lab, link.describe["name"])
        if name.lower() in LINKS:
            log("two daemons are both called %s" % link.describe["name"])
            return 2
        LINKS[name.lower()] = link
    names = [("labwire/%s/%s" % (o.lab, l.describe["name"])) for l in links]
    args = ["LabwireTango", o.instance or o.lab]
    if o.nodb:
        args += ["-nodb", "-dlist", ",".join(names)]
    # Both modes bind through omniORB's endpoint (not -port, which binds every interface).
    args += ["-ORBendPoint", "giop:tcp:%s:%s" % (o.listen, o.port or "")]
    log("serving %s" % ", ".join(names))
    tango.server.run((LabwireDevice,), args=args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
