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


class _Conn:
    """One socket and the waiters for its replies, in request order.

    Waiters belong to the socket they were sent on: a reply on a new connection can never go to a
    request sent on an old one (a shared list shifted every reply by one after a reconnect).
    """

    def __init__(self, sock):
        self.sock = sock
        self.waiters = []
        self.lock = threading.Lock()
        self.closed = False
        # Why the gateway ended it (None: the daemon did).
        self.why = None

    def add(self, q):
        """Registers a waiter; False if the connection has ended (its reader drained it)."""
        with self.lock:
            if self.closed:
                return False
            self.waiters.append(q)
            return True

    def discard(self, q):
        with self.lock:
            try:
                self.waiters.remove(q)
            except ValueError:
                pass

    def next_waiter(self):
        with self.lock:
            return self.waiters.pop(0) if self.waiters else None

    def end(self):
        """No more replies: every waiter learns it now, and no new one is taken."""
        with self.lock:
            self.closed = True
            waiters, self.waiters = self.waiters, []
        for w in waiters:
            w.put(None)


class Link:
    """One daemon: a connection that subscribes, keeps a value cache and carries requests.

    Replies come in request order (PROTOCOL.md), so a FIFO of waiters per connection matches them;
    push lines are told apart by their first token. The link reconnects by itself, with a bounded
    back-off. A request that gets no reply within its timeout ends the connection: a daemon that
    skipped one reply cannot be trusted to pair the next ones, and a new connection pairs afresh.
    """

    def __init__(self, host, port, token=None, log=print):
        self.host, self.port, self.token, self.log = host, port, token, log
        self.describe = None
        self.values = {}
        self.connected = False
        self.error = "not connected yet"
        self.listeners = []  # callables (changed: dict name -> value, t_ms)
        self._conn = None
        self._send_lock = threading.Lock()
        self._stop = False
        self._thread = None
        self._events = queue.Queue()
        # A context each listener thread runs in (the gateway sets tango.EnsureOmniThread: omniORB
        # must know a thread that pushes events, or the server crashes).
        self.thread_context = None

    def _unreachable(self):
        return LabwireError("CommunicationFailed", "daemon %s:%d unreachable: %s" % (self.host, self.port, self.error))

    # -- requests -------------------------------------------------------------------------
    def request(self, line, timeout=10.0, conn=None):
        """Sends one request line and returns its reply line; raises LabwireError.

        `conn` is for the handshake of a connection not yet published as the link's own.
        """
        if "\n" in line or "\r" in line:
            # One request is one line: anything after a line end would be a second request.
            raise LabwireError("WrongType", "refused: the request holds a line end (%r)" % line[:60])
        if conn is None:
            conn = self._conn
            if conn is None or not self.connected:
                raise self._unreachable()
        q = queue.Queue(1)
        with self._send_lock:
            if not conn.add(q):
                raise LabwireError("CommunicationFailed", "daemon %s:%d went away before %s was sent" % (self.host, self.port, line.split(" ")[0]))
            try:
                conn.sock.sendall((line + "\n").encode("utf-8"))
            except OSError as e:
                conn.discard(q)
                raise LabwireError("CommunicationFailed", "daemon %s:%d: %s" % (self.host, self.port, e))
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            # The waiter stays first in line for the late reply; the connection ends, so no later
            # request can be paired with it, and the link reconnects.
            self.log("no reply from %s:%d to %s within %gs; reconnecting" % (self.host, self.port, line.split(" ")[0], timeout))
            self._drop(conn, "no reply to %s within %gs" % (line.split(" ")[0], timeout))
            raise LabwireError("Timeout", "no reply from daemon %s:%d to %s within %gs (it may still be carried out; the gateway reconnects)" % (self.host, self.port, line.split(" ")[0], timeout))
        if reply is None:
            raise LabwireError("CommunicationFailed", "daemon %s:%d went away before it answered %s" % (self.host, self.port, line.split(" ")[0]))
        if reply.startswith("error"):
            _, _, kw = parse(reply)
            raise LabwireError(kw.get("code", "InternalError"), kw.get("message", reply))
        return reply

    # -- connection -----------------------------------------------------------------------
    # A line longer than this without an end is no labwire line: a daemon gone wrong.
    MAX_LINE = 16 * 1024 * 1024

    def _reader(self, conn):
        buf = bytearray()
        try:
            while True:
                try:
                    data = conn.sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                start = len(buf)
                buf += data
                lines, cut = [], 0
                i = buf.find(b"\n", start)
                while i >= 0:
                    lines.append(bytes(buf[cut:i]))
                    cut = i + 1
                    i = buf.find(b"\n", cut)
                del buf[:cut]
                for raw in lines:
                    self._on_line(conn, raw.decode("utf-8", "replace").rstrip("\r"))
                if len(buf) > self.MAX_LINE:
                    self.log("daemon %s:%d sent %d bytes without a line end; reconnecting" % (self.host, self.port, len(buf)))
                    conn.why = "the daemon sent a line longer than %d bytes" % self.MAX_LINE
                    break
        finally:
            conn.end()

    def _on_line(self, conn, line):
        if not line.strip():
            return
        head = line.split(" ", 1)[0]
        if head in PUSH:
            if head == "update":
                self._on_update(line)
            return
        w = conn.next_waiter()
        if w is not None:
            w.put(line)

    def _on_update(self, line):
        _, _, kw = parse(line)
        t = kw.pop("t", None)
        params = (self.describe or {}).get("params", {})
        changed = {}
        for k, v in kw.items():
            if k in params:
                changed[k] = convert(v, params[k])
                self.values[k] = changed[k]
        try:
            t_ms = float(t) if t else time.time() * 1000
        except ValueError:
            t_ms = time.time() * 1000
        self._notify(changed, t_ms)

    def _notify(self, changed, t_ms):
        # Listeners run on their own thread: pushing a Tango event takes the device's lock, which a
        # Tango thread waiting here for a `set` reply holds (the reader must stay free to deliver it).
        self._events.put((changed, t_ms))

    def _dispatch(self):
        with (self.thread_context() if self.thread_context else _Nothing()):
            while True:
                changed, t_ms = self._events.get()
                # A daemon that floods: what is queued meanwhile is merged into one push per
                # parameter (the latest value), so the queue cannot grow without bound behind
                # slow Tango clients.
                while True:
                    try:
                        more, t2 = self._events.get_nowait()
                    except queue.Empty:
                        break
                    if not more or not changed or "state" in more:
                        # A connection change (empty dict) and a state change are pushed on their
                        # own, in order: MOVING between two merged updates must not be lost.
                        self._call(changed, t_ms)
                        changed, t_ms = more, t2
                        continue
                    changed = dict(changed, **more)
                    t_ms = t2
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
        conn = _Conn(sock)
        reader = threading.Thread(target=self._reader, args=(conn,), daemon=True)
        reader.start()
        try:
            if self.token:
                self.request("auth token=%s" % fmt(self.token), conn=conn)
            d = self.request("describe", conn=conn)
            self.describe = json.loads(d[len("describe "):])
            st = self.request("get_status format=json", conn=conn)
            doc = json.loads(st[len("status_json "):])
            params = self.describe.get("params", {})
            values = {k: convert(v, params[k]) for k, v in doc.get("values", {}).items() if k in params}
            self.values.update(values)
            self.request("subscribe", conn=conn)
        except Exception:
            _close(sock)
            raise
        self._conn = conn
        self.connected = True
        self.error = ""
        self._notify(dict(values), doc.get("t", time.time() * 1000))
        return reader

    def _drop(self, conn, why):
        """Ends one connection (the reader then ends it for its waiters and _run reconnects)."""
        if conn is not None and not conn.closed:
            conn.why = why
            _close(conn.sock)

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
                self.error = (self._conn and self._conn.why) or "connection closed by the daemon"
            except (OSError, LabwireError, ValueError) as e:
                self.error = str(e)
            self.connected = False
            conn, self._conn = self._conn, None
            if conn is not None:
                _close(conn.sock)
            self._notify({}, time.time() * 1000)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        threading.Thread(target=self._dispatch, daemon=True).start()

    def stop(self):
        self._stop = True
        conn = self._conn
        if conn is not None:
            _close(conn.sock)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
