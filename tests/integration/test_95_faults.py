#!/usr/bin/env python3
"""Faults and limits, and what a user sees through them: the history
database refusing writes mid-run (a full disk or a read-only file system,
injected with LD_PRELOAD into the real daemon) loses no sample and no
event and recovers by itself; a slowloris is cut and starves nobody; an
upstream that resets connections gives stale answers and a 503 health;
tmux missing gives a clear error; a killed tmux server makes the
streams' agents dead, and a new start works."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, EventStream, Taskgate, wait_for  # noqa: E402

AGENT = os.path.join(harness.ROOT, "tests", "agent", "fake-claude")
SHIM_SRC = os.path.join(harness.ROOT, "tests", "fault", "enospc.c")


class DiskFull(unittest.TestCase):
    fault = "ENOSPC"
    says = "full"

    def setUp(self):
        harness.skip_unless_binary()
        self.dir = tempfile.mkdtemp(prefix="tg-fault-")
        self.shim = os.path.join(self.dir, "enospc.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", self.shim, SHIM_SRC, "-ldl"], check=True)
        self.flag = os.path.join(self.dir, "disk-full")
        self.double = Double().start()
        env = {"LD_PRELOAD": self.shim, "TASKGATE_FAULT_FILE": self.flag,
               "TASKGATE_FAULT_ERRNO": self.fault,
               "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", "")}
        self.tg = Taskgate(self.double.url, args=["--poll", "0.2"], env=env).start()
        # The first poll's view is published before its events are sent: this
        # may still get them (Stream-B's first sight, without "previous").
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        self.es = EventStream(self.tg.port)

    def tearDown(self):
        self.es.close()
        self.tg.close()
        self.double.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def b_changes(self, events):
        """Stream-B's stream events for a change (not the first poll's)."""
        return [e for e in events if e["event"] == "stream" and e["data"]["streamId"] == "Stream-B"
                and "previous" in e["data"]]

    def test_nothing_is_lost_while_the_disk_is_full(self):
        self.es.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])
        open(self.flag, "w").close()
        self.double.set_task("B2", status="completed")
        health = wait_for(lambda: (lambda h: h if not h["history"]["writable"] else None)(
            self.tg.get("/health").json()), what="/health to say the history cannot be written")
        self.assertIn(self.says, health["history"]["lastError"])
        wait_for(lambda: self.tg.get("/health").json()["history"]["pendingWrites"] >= 2,
                 what="the sample and the event waiting")
        time.sleep(1)
        self.assertIn(self.says, self.tg.get("/health").json()["history"]["lastError"],
                      "after a few polls' failed writes, /health still says why")
        self.assertEqual(self.b_changes(self.es.of_type("stream")), [],
                         "an event that could not be recorded is not sent")
        changed = time.time()
        self.double.set_task("B3", status="in_progress")
        time.sleep(0.6)
        self.assertEqual(self.tg.get("/api/overview").status, 200, "serving goes on")
        # An action is answered, and its audit row waits with the rest.
        waiting = self.tg.get("/health").json()["history"]["pendingWrites"]
        refused = self.tg.request("POST", "/api/streams/Stream-Z/start", headers=self.tg.bearer())
        self.assertEqual(refused.status, 409)
        asked = time.time()
        wait_for(lambda: self.tg.get("/health").json()["history"]["pendingWrites"] >= waiting + 1,
                 what="the audit row waiting with the samples and events")
        os.unlink(self.flag)
        events = self.es.wait(lambda ev: (lambda s: s if len(s) >= 2 else None)(self.b_changes(ev)),
                              what="both Stream-B events once the disk has room")
        self.assertEqual([e["data"]["completedTasks"] for e in events[:2]], [2, 2])
        self.assertEqual([e["data"]["inProgressTasks"] for e in events[:2]], [0, 1])
        ids = [e["id"] for e in self.es.events if e["id"] is not None]
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))), "ids without a gap")
        samples = self.tg.get("/api/streams/Stream-B/history").json()["samples"]
        self.assertEqual([(s["completedTasks"], s["inProgressTasks"]) for s in samples],
                         [(1, 1), (2, 0), (2, 1)])
        health = wait_for(lambda: (lambda h: h if h["pendingWrites"] == 0 else None)(
            self.tg.get("/health").json()["history"]), what="nothing left waiting")
        self.assertTrue(health["writable"])
        audit = self.tg.get("/api/audit?streamId=Stream-Z", headers=self.tg.bearer()).json()["audit"]
        self.assertEqual([(a["action"], a["result"], a["status"]) for a in audit], [("start", "refused", 409)])
        self.assertLess(abs(harness.iso_seconds(audit[0]["at"]) - asked), 2.0, "the row keeps its time")
        # A restart finds it all on disk.
        self.es.close()
        self.tg.stop()
        self.tg.start()
        again = self.tg.get("/api/streams/Stream-B/history").json()["samples"]
        self.assertEqual(again, samples)
        self.assertLess(abs(harness.iso_seconds(samples[2]["at"]) - changed), 2.0, "the sample keeps its time")


class ReadOnlyFileSystem(DiskFull):
    """The same, with the file system turned read-only under the daemon."""
    fault = "EROFS"
    says = "I/O error"


class Limits(unittest.TestCase):
    def test_a_slowloris_is_cut_and_starves_nobody(self):
        import socket
        harness.skip_unless_binary()
        double = Double().start()
        tg = Taskgate(double.url, args=["--poll", "5"]).start()
        slow = []
        try:
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", tg.port))
                s.sendall(b"GET /api/streams HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                slow.append(s)
            started = time.monotonic()
            for _ in range(10):  # others are served meanwhile
                self.assertEqual(tg.get("/api/streams").status, 200)
            slow[0].settimeout(20)
            answer = harness.read_to_end(slow[0])
            waited = time.monotonic() - started
            self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer[:100])
            self.assertIn(b'"code":"request-timeout"', answer)
            self.assertGreater(waited, 4)
            self.assertLess(waited, 9, "a head has 5 s to arrive")
            self.assertEqual(tg.get("/health").status, 200)
        finally:
            for s in slow:
                s.close()
            tg.close()
            double.close()


class UpstreamResets(unittest.TestCase):
    def test_resets_give_stale_answers_and_a_503_health(self):
        harness.skip_unless_binary()
        double = Double().start()
        tg = Taskgate(double.url, args=["--poll", "0.2"]).start()
        try:
            fresh = tg.get("/api/streams")
            double.mode("reset")
            time.sleep(0.3)
            stale = tg.get("/api/streams")
            self.assertEqual((stale.status, stale.header("x-cache"), stale.body),
                             (200, "STALE", fresh.body))
            self.assertEqual(tg.get("/health").status, 503)
            double.mode("up")
            wait_for(lambda: tg.get("/health").status == 200, what="health again")
        finally:
            tg.close()
            double.close()


class Tmux(harness.DoubleTestCase):
    def setUp(self):
        self.tmux = tempfile.mkdtemp(prefix="tg-tmux-")
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self.tmux_cmd("kill-server")
        shutil.rmtree(self.tmux, ignore_errors=True)

    def tmux_cmd(self, *args):
        env = dict(os.environ, TMUX_TMPDIR=self.tmux)
        env.pop("TMUX", None)
        return subprocess.run(["tmux"] + list(args), env=env, capture_output=True, text=True)

    def start(self, path=None):
        env = {"TMUX_TMPDIR": self.tmux, "TMUX": ""}
        if path is not None:
            env["PATH"] = path
        self.tg = Taskgate(self.double.url, args=["--poll", "0.2", "--agent-command", AGENT,
                                                  "--tmux-session", "tg-fault"], env=env).start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")

    def test_tmux_missing_is_a_clear_error(self):
        empty = tempfile.mkdtemp(prefix="tg-path-")
        self.start(path=empty)
        resp = self.tg.request("POST", "/api/streams/Stream-B/start", headers=self.tg.bearer())
        self.assertEqual(resp.status, 502)
        self.assertEqual(resp.json()["code"], "tmux-failed")
        self.assertIn("is tmux installed?", resp.json()["error"])
        self.assertEqual(self.tg.get("/health").status, 200)
        shutil.rmtree(empty)

    def test_a_killed_tmux_server_leaves_dead_agents_and_starts_work_again(self):
        if shutil.which("tmux") is None:
            self.skipTest("tmux is not installed")
        self.start()
        es = EventStream(self.tg.port)
        try:
            self.assertEqual(self.tg.request("POST", "/api/streams/Stream-B/start",
                                             headers=self.tg.bearer()).status, 201)
            es.wait(lambda ev: [e for e in ev if e["event"] == "session" and e["data"]["event"] == "started"])
            time.sleep(1.5)
            self.tmux_cmd("kill-server")
            es.wait(lambda ev: [e for e in ev if e["event"] == "session" and e["data"]["event"] == "exited"],
                    what="exited")
            es.wait(lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == "Stream-B"
                                and e["data"]["state"] == "dead"], what="dead")
            resp = self.tg.request("POST", "/api/streams/Stream-B/start", headers=self.tg.bearer())
            self.assertEqual(resp.status, 201, resp.body)
            wait_for(lambda: "Stream-B" in self.tmux_cmd("list-windows", "-t", "=tg-fault", "-F",
                                                         "#{window_name}").stdout, what="a new window")
        finally:
            es.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
