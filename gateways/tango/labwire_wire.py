"""The labwire line protocol (PROTOCOL.md) for the Tango gateway: tokens, values, one connection.

Standard library only, so that the gateway's one dependency is PyTango.
"""
import json
import math
import queue
import socket
import threading
import time

PUSH = ("update", "log")


def tokenize(line):
    """Splits a line into tokens: whitespace separates, quotes group, backslash escapes."""
    tokens, cur, have, quote, i = [], [], False, None, 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"' and i + 1 < len(line):
                i += 1
                cur.append(line[i])
            else:
                cur.append(ch)
        elif ch in "\"'":
            quote, have = ch, True
        elif ch == "\\" and i + 1 < len(line):
            i += 1
            cur.append(line[i])
            have = True
        elif ch in " \t":
            if have or cur:
                tokens.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(ch)
            have = True
        i += 1
    if have or cur:
        tokens.append("".join(cur))
    return tokens


def parse(line):
    """(first token, positional tokens, keyword dict) of a reply or push line."""
    toks = tokenize(line)
    head = toks[0] if toks else ""
    pos, kw = [], {}
    for t in toks[1:]:
        k, eq, v = t.partition("=")
        if eq and k:
            kw[k] = v
        else:
            pos.append(t)
    return head, pos, kw


def has_control(s):
    """True if s holds a control character (C0, DEL): PROTOCOL.md quoting cannot carry a line end."""
    return any(ord(c) < 32 or ord(c) == 127 for c in s)


def fmt(value):
    """A value as labwire writes it: bare when safe, else double-quoted.

    A control character is refused (ValueError): a raw \n would end the request line, and the next
    line would reach the daemon as a second request under the gateway's token.
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    s = str(value)
    if has_control(s):
        raise ValueError("value %r holds a control character (a line end or similar); labwire values cannot" % s)
    if s and not any(c in s for c in " \t\"'\\="):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def convert(text, desc):
    """A labwire value (text from an update, or JSON from status_json) in its declared type; None if missing."""
    if text is None:
        return None
    t = desc.get("type")
    s = text if isinstance(text, str) else None
    if s is not None and s.lower() == "nan":
        return None
    try:
        if t == "float":
            v = float(text)
            return None if math.isnan(v) else v
        if t == "int":
            return int(float(text))
        if t == "bool":
            if isinstance(text, bool):
                return text
            return str(text).lower() in ("1", "true", "on", "yes")
    except ValueError:
        return None
    return str(text)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class LabwireError(Exception):
    """An `error <command> code=… message=…` reply, or no link (code CommunicationFailed)."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class Link:
    """One daemon: a connection that subscribes, keeps a value cache and carries requests.

    Replies come in request order (PROTOCOL.md), so a FIFO of waiters matches them; push lines are
    told apart by their first token. The link reconnects by itself, with a bounded back-off.
    """

    def __init__(self, host, port, token=None, log=print):
        self.host, self.port, self.token, self.log = host, port, token, log
        self.describe = None
        self.values = {}
        self.connected = False
        self.error = "not connected yet"
        self.listeners = []  # callables (changed: dict name -> value, t_ms)
        self._sock = None
        self._send_lock = threading.Lock()
        self._waiters = []
        self._wlock = threading.Lock()
        self._stop = False
        self._thread = None
        self._events = queue.Queue()
        # A context each listener thread runs in (the gateway sets tango.EnsureOmniThread: omniORB
        # must know a thread that pushes events, or the server crashes).
        self.thread_context = None

    # -- requests -------------------------------------------------------------------------
    def request(self, line, timeout=10.0):
        """Sends one request line and returns its reply line; raises LabwireError."""
        if "\n" in line or "\r" in line:
            # One request is one line: anything after a line end would be a second request.
            raise LabwireError("WrongType", "refused: the request holds a line end (%r)" % line[:60])
        sock = self._sock
        if sock is None or not self.connected and not line.startswith(("describe", "auth", "get_status", "subscribe", "id ")):
            raise LabwireError("CommunicationFailed", "daemon %s:%d unreachable: %s" % (self.host, self.port, self.error))
        q = queue.Queue(1)
        with self._send_lock:
            with self._wlock:
                self._waiters.append(q)
            try:
                sock.sendall((line + "\n").encode("utf-8"))
            except OSError as e:
                raise LabwireError("CommunicationFailed", "daemon %s:%d: %s" % (self.host, self.port, e))
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise LabwireError("Timeout", "no reply from %s:%d to %s within %gs" % (self.host, self.port, line.split(" ")[0], timeout))
        if reply is None:
            raise LabwireError("CommunicationFailed", "daemon %s:%d went away" % (self.host, self.port))
        if reply.startswith("error"):
            _, _, kw = parse(reply)
            raise LabwireError(kw.get("code", "InternalError"), kw.get("message", reply))
        return reply

    # -- connection -----------------------------------------------------------------------
    def _reader(self, sock):
        buf = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while True:
                i = buf.find(b"\n")
                if i < 0:
                    break
                line = buf[:i].decode("utf-8", "replace").rstrip("\r")
                buf = buf[i + 1:]
                if not line.strip():
                    continue
                head = line.split(" ", 1)[0]
                if head in PUSH:
                    if head == "update":
                        self._on_update(line)
                    continue
                with self._wlock:
                    w = self._waiters.pop(0) if self._waiters else None
                if w is not None:
                    w.put(line)
        with self._wlock:
            waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.put(None)

    def _on_update(self, line):
        _, _, kw = parse(line)
        t = kw.pop("t", None)
        params = (self.describe or {}).get("params", {})
        changed = {}
        for k, v in kw.items():
            if k in params:
                changed[k] = convert(v, params[k])
                self.values[k] = changed[k]
        self._notify(changed, float(t) if t else time.time() * 1000)

    def _notify(self, changed, t_ms):
        # Listeners run on their own thread: pushing a Tango event takes the device's lock, which a
        # Tango thread waiting here for a `set` reply holds (the reader must stay free to deliver it).
        self._events.put((changed, t_ms))

    def _dispatch(self):
        with (self.thread_context() if self.thread_context else _Nothing()):
            while True:
                changed, t_ms = self._events.get()
                self._call(changed, t_ms)

    def _call(self, changed, t_ms):
        for fn in list(self.listeners):
            try:
                fn(changed, t_ms)
            except Exception as e:  # a listener must not stop the reader
                self.log("listener failed: %s" % e)

    def connect_once(self, timeout=5.0):
        """Connects, authenticates, describes, reads the status and subscribes; raises on failure."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        reader = threading.Thread(target=self._reader, args=(sock,), daemon=True)
        reader.start()
        try:
            if self.token:
                self.request("auth token=%s" % fmt(self.token))
            d = self.request("describe")
            self.describe = json.loads(d[len("describe "):])
            st = self.request("get_status format=json")
            doc = json.loads(st[len("status_json "):])
            params = self.describe.get("params", {})
            values = {k: convert(v, params[k]) for k, v in doc.get("values", {}).items() if k in params}
            self.values.update(values)
            self.request("subscribe")
        except Exception:
            self._close_sock()
            raise
        self.connected = True
        self.error = ""
        self._notify(dict(values), doc.get("t", time.time() * 1000))
        return reader

    def _close_sock(self):
        s, self._sock = self._sock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _run(self):
        delay = 0.2
        while not self._stop:
            try:
                reader = self.connect_once()
                delay = 0.2
                self.log("connected to daemon %s:%d" % (self.host, self.port))
                reader.join()
                if self._stop:
                    break
                self.error = "connection closed by the daemon"
            except (OSError, LabwireError, ValueError) as e:
                self.error = str(e)
            self.connected = False
            self._close_sock()
            self._notify({}, time.time() * 1000)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        threading.Thread(target=self._dispatch, daemon=True).start()

    def stop(self):
        self._stop = True
        self._close_sock()
