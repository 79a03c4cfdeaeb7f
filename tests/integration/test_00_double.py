#!/usr/bin/env python3
"""Integration test of the Task Copilot test double (tests/double/tc-double.py).

This file owns the double's own correctness check: it walks every row of
tests/fixtures/task-copilot/MANIFEST.tsv in capture order against a running
double and requires status, content-type and body bytes to equal the
capture, then exercises the control API, the fault modes, task mutation,
the 431, HEAD, keep-alive and the demo.  Standard library only; runnable as
`python3 tests/integration/test_00_double.py` from any directory, or under
automake with $srcdir set.  Every double it starts is killed at the end.
"""

import atexit
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from email.utils import parsedate_to_datetime


def source_root():
    srcdir = os.environ.get("srcdir")
    if srcdir and os.path.exists(os.path.join(srcdir, "tests", "double", "tc-double.py")):
        return os.path.abspath(srcdir)
    return os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


ROOT = source_root()
DOUBLE = os.path.join(ROOT, "tests", "double", "tc-double.py")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "task-copilot")
PLACEHOLDERS = {"<8000 x A>": "A" * 8000, "<20000 x A>": "A" * 20000}
# Request headers the capture sent for rows whose name says what they probe.
ROW_HEADERS = {
    "cors-origin-streams": {"Origin": "http://evil.example"},
    "cors-preflight-streams": {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    "conditional-gzip-streams": {"If-None-Match": '"x"', "Accept-Encoding": "gzip"},
}
STARTED = []


def kill_all():
    for process in STARTED:
        if process.poll() is None:
            process.kill()
            process.wait()


atexit.register(kill_all)
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))


# --------------------------------------------------------------------------
# Fixtures


def manifest():
    rows = []
    with open(os.path.join(FIXTURES, "MANIFEST.tsv"), encoding="utf-8") as handle:
        for line in handle.read().splitlines()[1:]:
            name, method, path_query, body, status, content_type = line.split("\t")
            for placeholder, value in PLACEHOLDERS.items():
                path_query = path_query.replace(placeholder, value)
            rows.append({"name": name, "method": method, "path": path_query,
                         "body": None if body == "-" else body, "status": int(status),
                         "content_type": None if content_type == "-" else content_type})
    return rows


def fixture_body(name):
    with open(os.path.join(FIXTURES, name + ".json"), "rb") as handle:
        return handle.read()


def fixture_headers(name):
    """{lower-case name: value} from headers/NAME.txt."""
    with open(os.path.join(FIXTURES, "headers", name + ".txt"), encoding="latin-1") as handle:
        lines = handle.read().splitlines()[1:]
    return {key.strip().lower(): value.strip() for key, _, value in (line.partition(":") for line in lines if line)}


def capture_instant():
    """The capture time of the health row, as an ISO instant for --now."""
    return parsedate_to_datetime(fixture_headers("health")["date"]).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_content_type(row):
    """The content type the capture sent with a request body."""
    if row["name"] == "checkpoint-B-empty-json-400":
        return "application/json"
    if row["body"] is None:
        return None
    if row["body"] == "hello":
        return "text/plain"
    if row["body"] == "trigger=manual":
        return "application/x-www-form-urlencoded"
    return "application/json"


# --------------------------------------------------------------------------
# Running the double


class DoubleProcess:
    def __init__(self, *extra_args):
        self.directory = tempfile.TemporaryDirectory(prefix="tc-double-")
        port_file = os.path.join(self.directory.name, "port")
        self.stderr = open(os.path.join(self.directory.name, "stderr"), "w+", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, DOUBLE, "--port", "0", "--port-file", port_file, *extra_args],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        STARTED.append(self.process)
        self.port = self._wait_for_port(port_file)
        self.banner = self.process.stdout.readline().strip()

    def _wait_for_port(self, port_file):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                with open(port_file, encoding="ascii") as handle:
                    return int(handle.read())
            if self.process.poll() is not None:
                self.stderr.seek(0)
                raise RuntimeError("tc-double exited: " + self.stderr.read())
            time.sleep(0.05)
        raise RuntimeError("tc-double did not write its port file")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.stderr.close()
        self.directory.cleanup()

    def connection(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """(status, {lower-case header: value}, body bytes) on a fresh connection."""
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            payload = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
        finally:
            connection.close()

    def control(self, path, payload=None):
        """GET /__double/PATH, or POST it with a JSON payload: (status, decoded answer)."""
        if payload is None:
            status, _, answer = self.request("GET", "/__double/" + path)
        else:
            status, _, answer = self.request("POST", "/__double/" + path, json.dumps(payload),
                                             {"Content-Type": "application/json"})
        return status, json.loads(answer)

    def get_json(self, path):
        status, _, body = self.request("GET", path)
        return status, json.loads(body)


class DoubleTestCase(unittest.TestCase):
    """Starts one double per class, with EXTRA_ARGS; always stops it."""
    EXTRA_ARGS = ("--now", capture_instant())

    @classmethod
    def setUpClass(cls):
        cls.double = DoubleProcess(*cls.EXTRA_ARGS)
        cls.addClassCleanup(cls.double.stop)


# --------------------------------------------------------------------------
# The manifest walk


class ManifestWalk(DoubleTestCase):
    """Every captured row, in capture order, byte for byte.  The clock is
    frozen at the capture time (Date of the health row), which makes the
    time-dependent rows exact: isActive is computed against it, and /health
    and the stream-health timeSince* fields are replayed from the capture."""

    def prepare(self, row, seen):
        """Drive the timeline where the capture order requires it."""
        if row["name"].startswith("empty-"):
            self.assertEqual(self.double.control("scene", {"name": "empty"})[0], 200)
            return
        repeated = (row["method"], row["path"]) in seen
        if row["method"] in ("GET", "HEAD") and (repeated or row["name"].startswith("progress-after-")):
            status, _ = self.double.control("advance", {"to": row["name"]})
            self.assertEqual(status, 200)

    def send(self, row):
        headers = dict(ROW_HEADERS.get(row["name"], {}))
        content_type = request_content_type(row)
        if content_type:
            headers["Content-Type"] = content_type
        body = row["body"].encode("utf-8") if row["body"] is not None else None
        if row["name"] == "checkpoint-B-empty-json-400":
            body = b""
        if body is not None:
            headers["Content-Length"] = str(len(body))
        return self.double.request(row["method"], row["path"], body, headers)

    def test_every_row_in_capture_order(self):
        seen = set()
        for row in manifest():
            with self.subTest(row=row["name"]):
                self.prepare(row, seen)
                status, headers, body = self.send(row)
                self.assertEqual(status, row["status"])
                self.assertEqual(headers.get("content-type"), row["content_type"])
                self.assertEqual(body, fixture_body(row["name"]))
                self.assertEqual(headers.get("content-length"), fixture_headers(row["name"])["content-length"])
            seen.add((row["method"], row["path"]))


# --------------------------------------------------------------------------
# Control API, modes, mutation, transport


class ControlApi(DoubleTestCase):
    def setUp(self):
        self.assertEqual(self.double.control("mode", {"mode": "up"})[0], 200)
        self.assertEqual(self.double.control("scene", {"name": "initial"})[0], 200)
        self.assertEqual(self.double.control("requests/reset", {})[0], 200)

    def test_banner_names_the_port(self):
        self.assertEqual(self.double.banner, "tc-double: listening on http://127.0.0.1:%d" % self.double.port)

    def test_requests_are_counted_and_logged(self):
        self.double.request("GET", "/api/streams")
        self.double.request("GET", "/api/streams")
        self.double.request("GET", "/api/tasks?limit=2", headers={"X-Probe": "yes"})
        self.double.request("POST", "/api/streams/Stream-B/checkpoint", b'{"reason":"x"}',
                            {"Content-Type": "application/json"})
        status, report = self.double.control("requests")
        self.assertEqual(status, 200)
        self.assertEqual(report["total"], 4)
        self.assertEqual(report["byPath"], {"/api/streams": 2, "/api/tasks?limit=2": 1,
                                            "/api/streams/Stream-B/checkpoint": 1})
        self.assertEqual(report["byMethod"], {"GET": 3, "POST": 1})
        self.assertEqual([entry["path"] for entry in report["log"]],
                         ["/api/streams", "/api/streams", "/api/tasks?limit=2", "/api/streams/Stream-B/checkpoint"])
        self.assertEqual(report["log"][2]["headers"]["X-Probe"], "yes")
        self.assertNotIn("Authorization", report["log"][0]["headers"])
        self.assertEqual(report["log"][3]["body"], '{"reason":"x"}')
        self.assertEqual(report["log"][3]["headers"]["Content-Type"], "application/json")
        self.assertEqual(self.double.control("requests/reset", {})[1]["total"], 0)
        self.assertEqual(self.double.control("requests")[1], {"total": 0, "byPath": {}, "byMethod": {}, "log": []})

    def test_mode_garbage(self):
        self.assertEqual(self.double.control("mode", {"mode": "garbage"}), (200, {"mode": "garbage"}))
        status, _, body = self.double.request("GET", "/api/streams")
        self.assertEqual((status, body), (200, b"<html>garbage</html>"))

    def test_mode_huge(self):
        self.double.control("mode", {"mode": "huge"})
        status, headers, body = self.double.request("GET", "/api/streams")
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 9 * 1024 * 1024)
        self.assertEqual(headers["content-length"], str(9 * 1024 * 1024))
        self.assertIsInstance(json.loads(body), dict)

    def test_mode_slow(self):
        self.assertEqual(self.double.control("mode", {"mode": "slow", "delayMs": 400}),
                         (200, {"mode": "slow", "delayMs": 400}))
        started = time.monotonic()
        status, _, body = self.double.request("GET", "/api/streams")
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        self.assertEqual((status, body), (200, fixture_body("streams-list")))

    def test_mode_status(self):
        self.double.control("mode", {"mode": "status", "status": 503})
        status, headers, body = self.double.request("GET", "/api/tasks")
        self.assertEqual(status, 503)
        self.assertEqual(headers["content-type"], "application/json; charset=utf-8")
        self.assertEqual(json.loads(body)["statusCode"], 503)

    def test_mode_reset_and_back_up(self):
        self.double.control("mode", {"mode": "reset"})
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.double.request("GET", "/api/streams")
        self.assertEqual(self.double.control("requests")[1]["total"], 1, "control API unaffected, request counted")
        self.double.control("mode", {"mode": "up"})
        self.assertEqual(self.double.request("GET", "/api/streams")[2], fixture_body("streams-list"))

    def test_bad_control_input(self):
        for path, payload in (("mode", {"mode": "sideways"}), ("mode", {"mode": "slow", "delayMs": "x"}),
                              ("advance", {"to": "no-such-row"}), ("scene", {"name": "full"}),
                              ("tasks/B2", {"status": "done"}), ("tasks/B2", {"colour": "red"}),
                              ("tasks/B2", ["status"])):
            with self.subTest(path=path, payload=payload):
                status, answer = self.double.control(path, payload)
                self.assertEqual(status, 400)
                self.assertIn("error", answer)
        status, _, body = self.double.request("POST", "/__double/mode", b"{not json",
                                              {"Content-Type": "application/json"})
        self.assertEqual((status, "error" in json.loads(body)), (400, True))

    def test_mutation_changes_stream_progress(self):
        status, task = self.double.control("tasks/B2", {"status": "completed", "updatedAt": "2026-11-26T11:00:00.000Z"})
        self.assertEqual(status, 200)
        self.assertEqual((task["status"], task["updatedAt"]), ("completed", "2026-11-26T11:00:00.000Z"))
        streams = {s["streamId"]: s for s in self.double.get_json("/api/streams")[1]["streams"]}
        self.assertEqual((streams["Stream-B"]["progressPercentage"], streams["Stream-B"]["completedTasks"]), (67, 2))
        detail = self.double.get_json("/api/streams/Stream-B")[1]
        self.assertEqual((detail["status"], detail["progressPercentage"]), ("pending", 67))
        activity = self.double.get_json("/api/activity?streamId=Stream-B")[1]
        self.assertEqual(activity["activities"], [], "a completed task has no activity in the default list")

    def test_mutation_keeps_key_order_and_drops_blocked_reason(self):
        status, task = self.double.control("tasks/D2", {"status": "in_progress"})
        self.assertEqual(status, 200)
        self.assertNotIn("blockedReason", task)
        self.assertEqual(list(task), ["id", "prdId", "title", "description", "assignedAgent", "status",
                                      "metadata", "createdAt", "updatedAt"])
        activity = self.double.get_json("/api/activity?streamId=Stream-D")[1]
        self.assertEqual(activity["activities"][0]["taskId"], task["id"])
        self.assertTrue(activity["activities"][0]["isActive"], "moving to in_progress writes a heartbeat")
        self.assertEqual(self.double.get_json("/api/streams/Stream-D")[1]["status"], "in_progress")

    def test_mutation_by_full_task_id_and_unknown_task(self):
        task_id = "TASK-42eeeacb-dbb0-428e-bf41-f172e12e0a96"
        status, task = self.double.control("tasks/" + task_id, {"notes": "started", "title": "Renamed"})
        self.assertEqual((status, task["notes"], task["title"]), (200, "started", "Renamed"))
        self.assertEqual(self.double.control("tasks/TASK-nope", {"status": "completed"})[0], 404)

    def test_checkpoint_post_without_capture_left_is_synthesized(self):
        self.double.control("advance", {"to": "checkpoint-D-during-ws"})
        status, _, body = self.double.request("POST", "/api/streams/Stream-D/checkpoint")
        answer = json.loads(body)
        self.assertEqual(status, 201)
        self.assertEqual(answer["taskId"], "TASK-4675b4a9-5219-4281-a633-61e4999a0104")
        self.assertTrue(answer["checkpointId"].startswith("CP-"))

    def test_431_closes_the_connection(self):
        request = "GET /api/tasks?streamId=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % ("A" * 20000)
        with socket.create_connection(("127.0.0.1", self.double.port), timeout=10) as sock:
            sock.sendall(request.encode("ascii"))
            received = b""
            while chunk := sock.recv(65536):      # the double closes: recv reaches EOF
                received += chunk
        body = fixture_body("long-url-20k")
        self.assertEqual(received, b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: %d\r\n"
                                   b"Content-Type: application/json\r\n\r\n%s" % (len(body), body))

    def test_head_and_keep_alive_on_one_connection(self):
        connection = self.double.connection()
        try:
            connection.request("HEAD", "/api/streams")
            head = connection.getresponse()
            self.assertEqual(head.read(), b"")
            self.assertEqual(head.getheader("content-length"), str(len(fixture_body("streams-list"))))
            self.assertEqual([name for name, _ in head.getheaders()],
                             ["content-type", "content-length", "Date", "Connection", "Keep-Alive"])
            self.assertEqual((head.getheader("Connection"), head.getheader("Keep-Alive")),
                             ("keep-alive", "timeout=72"))
            connection.request("GET", "/api/streams")
            self.assertEqual(connection.getresponse().read(), fixture_body("streams-list"))
        finally:
            connection.close()

    def test_not_found_shapes(self):
        status, _, body = self.double.request("GET", "/api/nope?x=1")
        self.assertEqual((status, json.loads(body)["message"]), (404, "Route GET:/api/nope?x=1 not found"))
        self.assertEqual(self.double.request("GET", "/health/")[0], 404)
        self.assertEqual(self.double.request("GET", "/api/tasks/")[2], fixture_body("tasks-list"))


class EmptyScene(DoubleTestCase):
    EXTRA_ARGS = ("--scene", "empty")

    def test_empty_server(self):
        self.assertEqual(self.double.request("GET", "/api/streams")[2], fixture_body("empty-streams-list"))
        self.assertEqual(self.double.request("GET", "/api/activity")[2], fixture_body("empty-activity"))
        status, body = self.double.get_json("/health")
        self.assertEqual((status, body["status"]), (200, "ok"), "a live clock answers /health with now")


class Demo(DoubleTestCase):
    EXTRA_ARGS = ("--demo", "--demo-step", "0.3")

    def test_story_moves_stream_b(self):
        def stream_b():
            streams = self.double.get_json("/api/streams")[1]["streams"]
            return next(s for s in streams if s["streamId"] == "Stream-B")["progressPercentage"]
        # 67 % shows for two steps (0.6 s) of each story (2.7 s, then it
        # starts again): look until both were seen, over several stories.
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline and not (67 in seen and 100 in seen):
            seen.append(stream_b())
            time.sleep(0.05)
        self.assertIn(67, seen)
        self.assertIn(100, seen)

    def test_story_keeps_the_phase_rule(self):
        # Integration Stream-Z moves only once every parallel stream is
        # complete; Stream-D is seen stalled (blocked) and, later, complete.
        deadline = time.monotonic() + 30
        seen_d = set()
        z_moved = False
        while time.monotonic() < deadline and not (z_moved and {"blocked", "completed"} <= seen_d):
            streams = {s["streamId"]: s for s in self.double.get_json("/api/streams")[1]["streams"]}
            z = streams["Stream-Z"]
            if z["completedTasks"] or z["inProgressTasks"]:
                z_moved = True
                for sid in ("Stream-B", "Stream-C", "Stream-D"):
                    self.assertEqual(streams[sid]["progressPercentage"], 100,
                                     "Stream-Z moves while %s is at %d%%" % (sid, streams[sid]["progressPercentage"]))
            d = self.double.get_json("/api/streams/Stream-D")[1]
            seen_d.add(d["status"])
            time.sleep(0.05)
        self.assertTrue(z_moved, "Stream-Z moved in the story")
        self.assertIn("blocked", seen_d, "Stream-D is seen stalled")
        self.assertIn("completed", seen_d, "Stream-D completes before Stream-Z moves")


if __name__ == "__main__":
    unittest.main()
