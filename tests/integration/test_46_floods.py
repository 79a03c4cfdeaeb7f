#!/usr/bin/env python3
"""Floods a local user can send without a token, and what taskgate must do.

Each case fills a limit from a second process over real sockets, as a
hostile user of the box would, and checks what the owner sees: /health
keeps answering (or answers again within 2 s of the clients leaving), a
request past a limit gets a clear 503 rather than a reset, no socket is
left in CLOSE-WAIT, and the poller goes on writing history.  These ran
into a hang for good before (libmicrohttpd 0.9.75 left a mutex locked
when a connection handed to a full daemon was refused, and the event
stream resumed clients while holding its own lock).  The suite runs again
under the sanitizer build (contrib/run-tests).
"""

import os
import resource
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

GENERAL_LIMIT = 4000        # http.c HTTP_MAX_CONNECTIONS
EVENTS_LIMIT = 3100         # TASKGATE_EVENTS_MAX_CLIENTS + 100
SANITIZED = "ASAN_OPTIONS" in os.environ


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return min(soft, hard) if soft >= hard else hard


def open_many(port, count, first_bytes=b""):
    """count connected sockets, each having sent first_bytes."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        if first_bytes:
            s.sendall(first_bytes)
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def close_wait_count(port):
    """Sockets of the daemon's port left in CLOSE-WAIT (state 08)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if int(local.rsplit(":", 1)[1], 16) == port and state == "08":
                        n += 1
        except OSError:
            pass
    return n


def health_within(tg, seconds):
    """/health's status, answered within seconds (else an AssertionError)."""
    start = time.monotonic()
    try:
        r = tg.get("/health", timeout=seconds)
    except (OSError, ConnectionError) as e:
        raise AssertionError("/health did not answer within %.1f s: %r" % (seconds, e))
    took = time.monotonic() - start
    if took > seconds:
        raise AssertionError("/health took %.1f s" % took)
    return r.status


def raw_request(port, head, timeout=5):
    """Sends a raw request head; returns the whole answer (b'' on a reset)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        try:
            return harness.read_to_end(s)
        except ConnectionResetError:
            return b""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Floods(harness.DoubleTestCase):
    def setUp(self):
        if raise_fd_limit() < GENERAL_LIMIT * 2 + 200:
            self.skipTest("needs %d open files" % (GENERAL_LIMIT * 2 + 200))
        super().setUp()
        self.tg = harness.Taskgate(self.double.url, args=["--poll", "0.5"]).start()
        self.addCleanup(self.tg.close)
        self.assertEqual(self.tg.get("/health").status, 200)

    def assert_recovered(self):
        deadline = time.monotonic() + 2.0
        self.assertEqual(health_within(self.tg, 2.0), 200)
        harness.wait_for(lambda: close_wait_count(self.tg.port) == 0,
                         timeout=max(0.1, deadline - time.monotonic()),
                         what="no socket left in CLOSE-WAIT")

    def test_idle_connections_past_the_limit_then_gone(self):
        socks = open_many(self.tg.port, GENERAL_LIMIT + 50)
        try:
            time.sleep(1.5)
            # Connections that never ask take no place of those that do.
            self.assertEqual(health_within(self.tg, 2.0), 200)
            self.assertEqual(self.tg.get("/api/streams").status, 200)
        finally:
            close_all(socks)
        self.assert_recovered()

    def test_busy_connections_past_the_limit_get_503_then_recover(self):
        # Each holds a place in the general server: a whole head of a POST
        # whose body never comes.
        head = (b"POST /api/streams/Stream-B/checkpoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        socks = open_many(self.tg.port, GENERAL_LIMIT + 50, head)
        try:
            time.sleep(0.5)
            # A stranger past the limit is told so, not reset.
            answer = raw_request(self.tg.port, b"GET /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer[:200])
            self.assertIn(b'"code":"unavailable"', answer)
            self.assertIn(b"Retry-After: 1", answer)
            # The owner's places: /health and a signed-in request.
            self.assertEqual(health_within(self.tg, 2.0), 200)
            r = self.tg.get("/api/audit", headers=self.tg.bearer(), timeout=2)
            self.assertEqual(r.status, 200)
        finally:
            close_all(socks)
        self.assert_recovered()
        self.assertEqual(self.tg.get("/api/streams").status, 200)

    def test_event_stream_clients_past_the_limit_then_hang_up(self):
        head = b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        socks = open_many(self.tg.port, EVENTS_LIMIT + 50, head)
        try:
            # The last ones past the limit are answered 503, not left waiting.
            last = socks[-1]
            last.settimeout(5)
            self.assertTrue(last.recv(4096).startswith(b"HTTP/1.1 503"))
            self.assertEqual(health_within(self.tg, 2.0), 200)
        finally:
            close_all(socks)
        self.assert_recovered()
        # The event stream, the overview and the poller all go on.
        stream = harness.EventStream(self.tg.port, last_event_id=0)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertEqual(self.tg.get("/api/overview", timeout=2).status, 200)
        self.double.set_task("B3", status="completed")
        stream.wait(lambda ev: any(e["event"] == "stream" and e["data"].get("streamId") == "Stream-B"
                                   and e["data"].get("completedTasks", 0) >= 1 for e in ev),
                    timeout=10, what="the poller's next change of Stream-B")

    def test_slowloris_at_the_limit(self):
        # Every connection sends one header line every 3 s and never ends
        # its head; /health must be answered throughout.
        socks = open_many(self.tg.port, GENERAL_LIMIT, b"GET /api/streams HTTP/1.1\r\n")
        try:
            end = time.monotonic() + 9
            while time.monotonic() < end:
                for s in socks:
                    try:
                        s.send(b"X-a: b\r\n")
                    except OSError:
                        pass
                self.assertEqual(health_within(self.tg, 2.0), 200)
                time.sleep(1.0)
            # Heads that never end were let go, each told why if it can read.
            cut = 0
            for s in socks[:50]:
                s.settimeout(0.5)
                try:
                    data = s.recv(4096)
                    cut += data.startswith(b"HTTP/1.1 408") or data == b""
                except ConnectionResetError:
                    cut += 1
                except socket.timeout:
                    pass
            self.assertEqual(cut, 50, "heads that never end are cut off")
        finally:
            close_all(socks)
        self.assert_recovered()

    def test_clients_that_hang_up_mid_head_are_let_go_at_once(self):
        # Half a head, then the client hangs up: the rest will never come,
        # and its socket must not wait in CLOSE-WAIT for the head deadline.
        for _ in range(3):
            close_all(open_many(self.tg.port, 100, b"GET /api/streams HTTP/1.1\r\nHost: 127."))
            self.assert_recovered()


class Queries(harness.DoubleTestCase):
    def setUp(self):
        super().setUp()
        self.tg = harness.Taskgate(self.double.url).start()
        self.addCleanup(self.tg.close)

    def query(self, n):
        return "/health?" + "&".join(["x=1"] * n)

    def test_many_arguments_are_answered(self):
        self.assertEqual(self.tg.get(self.query(128), timeout=2).status, 200)
        for n in (500, 1000, 3000):
            start = time.monotonic()
            r = self.tg.get(self.query(n), timeout=5)
            self.assertLess(time.monotonic() - start, 2.0, "%d arguments" % n)
            self.assertEqual(r.status, 431, "%d arguments" % n)
            self.assertEqual(r.json()["code"], "too-many-arguments")
        # The same on a kept-alive connection, where the front door does
        # not look: the second request is answered too.
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.tg.port, timeout=5)
        conn.request("GET", "/health")
        self.assertEqual(conn.getresponse().read() and 200, 200)
        conn.request("GET", self.query(1000))
        resp = conn.getresponse()
        self.assertEqual(resp.status, 431)
        resp.read()
        conn.close()

    def test_an_8000_character_query_is_answered(self):
        r = self.tg.get("/api/streams?pad=" + "a" * 8000, timeout=5)
        self.assertEqual(r.status, 200)

    @unittest.skipIf(SANITIZED, "RSS is not comparable under the sanitizers (LeakSanitizer checks instead)")
    def test_refused_queries_leak_nothing(self):
        big = "/health?" + "&".join("a=%05d" % i for i in range(1700))  # about 14 KB
        for _ in range(200):
            self.tg.get(big, timeout=5)
        before = rss_kib(self.tg.proc.pid)
        for _ in range(2000):
            self.assertEqual(self.tg.get(big, timeout=5).status, 431)
        grown = rss_kib(self.tg.proc.pid) - before
        self.assertLess(grown, 4096, "RSS grew by %d KiB over 2,000 refused queries" % grown)


class Headers(harness.DoubleTestCase):
    def setUp(self):
        super().setUp()
        self.tg = harness.Taskgate(self.double.url).start()
        self.addCleanup(self.tg.close)

    def test_a_second_host_is_refused(self):
        answer = raw_request(self.tg.port, b"GET /health HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1\r\n"
                             b"Host: evil.example\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:100])
        self.assertIn(b'"code":"bad-header"', answer)

    def test_a_host_with_a_nul_byte_is_refused(self):
        answer = raw_request(self.tg.port, b"GET /health HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1\x00.evil\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:100])


if __name__ == "__main__":
    harness.skip_unless_binary()
    unittest.main()
