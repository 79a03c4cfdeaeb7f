"""Shared helpers of taskgate's integration tests.

It owns starting and stopping the real processes a test talks to: the
upstream double (tests/double/tc-double.py) on a free port, and the real
taskgate binary in a private temporary state directory, listening on a
free loopback port.  It also gives a small HTTP client over real sockets.
Everything it starts is killed when the test process exits.  Paths come
from the variables automake sets (srcdir, TASKGATE_BIN), else from this
file's place in the source tree.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest


def _root():
    srcdir = os.environ.get("srcdir")
    if srcdir and os.path.exists(os.path.join(srcdir, "tests", "double", "tc-double.py")):
        return os.path.abspath(srcdir)
    return os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


ROOT = _root()
DOUBLE = os.path.join(ROOT, "tests", "double", "tc-double.py")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "task-copilot")
BIN = os.environ.get("TASKGATE_BIN") or os.path.join(ROOT, "server", "taskgate")

_started = []


def _kill_all():
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))


def skip_unless_binary():
    """Exit 77 (automake's 'skipped') when the daemon has not been built."""
    if not os.access(BIN, os.X_OK):
        print("taskgate binary not found at %s: run make first" % BIN)
        sys.exit(77)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def iso_seconds(text):
    """Seconds since the epoch of taskgate's "2026-11-27T06:40:56.123Z"."""
    import calendar
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + int(text[20:23]) / 1000.0


def judged_since_start(tg, sid):
    """The overview's streams once a poll has judged sid's current window
    (its state's judgedAt after the session's startedAt), else None."""
    streams = tg.get("/api/overview").json()["streams"]
    s = {x["streamId"]: x for x in streams}[sid]
    if not (s["session"] and s["session"].get("startedAt") and s["state"].get("judgedAt")):
        return None
    return streams if iso_seconds(s["state"]["judgedAt"]) > iso_seconds(s["session"]["startedAt"]) else None


def request(port, method, path, headers=None, body=None, host=None, timeout=30):
    """One request on a fresh connection; returns a Response."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else "127.0.0.1:%d" % port)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            if isinstance(body, str):
                body = body.encode()
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


class Double:
    """The upstream double, as a real process on a real port."""

    def __init__(self, *args, port=0):
        self.args = list(args)
        self.port = port
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="tg-double-")

    def start(self):
        port_file = os.path.join(self.dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        with open(os.path.join(self.dir, "stderr"), "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, DOUBLE, "--fixtures", FIXTURES, "--port", str(self.port),
                 "--port-file", port_file] + self.args,
                stdout=subprocess.DEVNULL, stderr=log)
        _started.append(self.proc)
        wait_for(lambda: os.path.exists(port_file), what="the double to listen")
        with open(port_file) as f:
            self.port = int(f.read().strip())
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def control(self, path, payload=None, method="POST"):
        body = json.dumps(payload) if payload is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        resp = request(self.port, method, "/__double/" + path, headers=headers, body=body)
        if resp.status >= 400:
            raise AssertionError("double control %s: %d %s" % (path, resp.status, resp.body))
        return resp.json()

    def mode(self, mode, **extra):
        payload = {"mode": mode}
        payload.update(extra)
        return self.control("mode", payload)

    def requests(self):
        return self.control("requests", method="GET")

    def count(self, path):
        return self.requests()["byPath"].get(path, 0)

    def reset_counts(self):
        self.control("requests/reset")

    def set_task(self, task, **fields):
        return self.control("tasks/" + task, fields)


class Taskgate:
    """The real daemon in a private state directory."""

    START_LINE = re.compile(r"^taskgate: dashboard at http://([^/]+):(\d+)/\?token=([0-9a-f]{64})$")

    def __init__(self, upstream=None, args=(), env=None, state=None):
        self.dir = state or tempfile.mkdtemp(prefix="tg-state-")
        self.upstream = upstream
        self.args = list(args)
        self.env = dict(env or {})
        self.proc = None
        self.port = None
        self.token = None
        self.start_line = None

    def command(self):
        cmd = [BIN, "serve", "--listen", "127.0.0.1:0",
               "--db", os.path.join(self.dir, "history.db"),
               "--token-file", os.path.join(self.dir, "token")]
        if self.upstream:
            cmd += ["--upstream", self.upstream]
        return cmd + self.args

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
        env["XDG_STATE_HOME"] = os.path.join(self.dir, "xdg")
        # A tmux server of its own (socket under self.dir), never the user's
        # default one, unless the test gives its own TMUX_TMPDIR.
        env["TMUX_TMPDIR"] = self.dir
        env.pop("TMUX", None)
        env.pop("TMUX_PANE", None)
        env.update(self.env)
        return env

    def start(self):
        self.stderr_path = os.path.join(self.dir, "stderr")
        with open(self.stderr_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=log,
                                         env=self.environment(), cwd=self.dir, text=True)
        _started.append(self.proc)
        line = self.proc.stdout.readline().rstrip("\n")
        match = self.START_LINE.match(line)
        if not match:
            self.proc.wait(timeout=10)
            raise AssertionError("taskgate did not start: %r, stderr: %s" % (line, self.stderr()))
        self.start_line = line
        self.port = int(match.group(2))
        self.token = match.group(3)
        return self

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode if self.proc else None

    def close(self):
        self.stop()
        report = self.sanitizer_report()
        shutil.rmtree(self.dir, ignore_errors=True)
        if report:
            raise AssertionError("the sanitizers found an error in taskgate:\n" + report)

    def sanitizer_report(self):
        """What AddressSanitizer, LeakSanitizer or UBSan said on its stderr
        (the sanitizer build), or None."""
        try:
            text = self.stderr()
        except OSError:
            return None
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            at = text.find(mark)
            if at >= 0:
                return text[max(0, at - 200):at + 4000]
        return None

    def get(self, path, **kw):
        return request(self.port, "GET", path, **kw)

    def request(self, method, path, **kw):
        return request(self.port, method, path, **kw)

    def bearer(self):
        return {"Authorization": "Bearer " + self.token}


class DoubleTestCase(unittest.TestCase):
    """A test with the upstream double running; the test starts taskgate
    itself as self.tg, and both are closed afterwards."""

    def setUp(self):
        skip_unless_binary()
        self.double = Double().start()
        self.tg = None

    def tearDown(self):
        if self.tg:
            self.tg.close()
        self.double.close()


def read_to_end(sock):
    """Everything the peer sends on a raw socket until it closes."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def run_taskgate(args, env=None, timeout=10):
    """Runs the binary to completion (for flags that exit); returns (rc, out, err)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    base.update(env or {})
    proc = subprocess.run([BIN] + list(args), capture_output=True, text=True,
                          env=base, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


class EventStream:
    """A client of GET /api/events, reading in a thread into a list."""

    def __init__(self, port, last_event_id=None, host=None):
        import threading
        self.events = []  # dicts: id (int or None), event, data (parsed), raw
        self.comments = []
        self.cond = threading.Condition()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.putrequest("GET", "/api/events", skip_host=True, skip_accept_encoding=True)
        self.conn.putheader("Host", host or "127.0.0.1:%d" % port)
        self.conn.putheader("Accept", "text/event-stream")
        if last_event_id is not None:
            self.conn.putheader("Last-Event-ID", str(last_event_id))
        self.conn.endheaders()
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        current = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\n")
                if line == "":
                    if "event" in current or "data" in current:
                        data = current.get("data")
                        event = {"id": int(current["id"]) if "id" in current else None,
                                 "event": current.get("event", "message"),
                                 "data": json.loads(data) if data else None}
                        with self.cond:
                            self.events.append(event)
                            self.cond.notify_all()
                    current = {}
                elif line.startswith(":"):
                    with self.cond:
                        self.comments.append(line)
                        self.cond.notify_all()
                else:
                    name, _, value = line.partition(":")
                    current[name] = value[1:] if value.startswith(" ") else value
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait(self, predicate, timeout=10.0, what="an event"):
        """Waits until predicate(events) is true; returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate(self.events)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError("timed out waiting for %s; got %s" % (
                        what, [(e["id"], e["event"]) for e in self.events]))
                self.cond.wait(left)

    def of_type(self, kind):
        with self.cond:
            return [e for e in self.events if e["event"] == kind]

    def close(self):
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
