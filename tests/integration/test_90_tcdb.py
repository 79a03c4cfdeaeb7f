#!/usr/bin/env python3
"""taskgate serving Task Copilot 3 users from `.copilot/tasks.db`
(--upstream sqlite:PATH): the fixture's five streams with tc's own
percentages, clear errors and /health 503 for a missing file or one that
is not tc's, a change written by another process shows as a `stream`
event, a concurrent writer never yields a torn view, and checkpoints
answer 501.  Each test works on a copy of the fixture database."""

import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EventStream, Taskgate, wait_for  # noqa: E402

FIXTURE = os.path.join(harness.ROOT, "tests", "fixtures", "tc", "tasks.db")


class Base(unittest.TestCase):
    poll = "0.2"

    def setUp(self):
        harness.skip_unless_binary()
        self.dir = tempfile.mkdtemp(prefix="tg-tc-")
        os.makedirs(os.path.join(self.dir, ".copilot"))
        self.db = os.path.join(self.dir, ".copilot", "tasks.db")
        shutil.copy(FIXTURE, self.db)
        os.chmod(self.db, 0o644)
        self.tg = None
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()
        if self.tg:
            self.tg.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, upstream=None):
        self.tg = Taskgate(upstream or "sqlite:" + self.db, args=["--poll", self.poll]).start()
        return self.tg

    def write(self, sql, *args):
        con = sqlite3.connect(self.db, timeout=5)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=5000")
            con.execute(sql, args)
            con.commit()
        finally:
            con.close()

    def progress(self):
        return {s["streamId"]: s["progressPercentage"] for s in self.tg.get("/api/streams").json()["streams"]}


class TcSource(Base):

    def test_the_five_streams_with_tc_percentages(self):
        self.start()
        resp = self.tg.get("/api/streams")
        self.assertEqual(resp.status, 200)
        self.assertEqual(self.progress(), {"Stream-A": 100, "Stream-B": 33, "Stream-C": 100,
                                           "Stream-D": 0, "Stream-Z": 0})
        streams = resp.json()["streams"]
        self.assertEqual([s["streamPhase"] for s in streams],
                         ["foundation", "parallel", "parallel", "parallel", "integration"])
        health = self.tg.get("/health")
        self.assertEqual(health.status, 200)
        self.assertEqual(health.json()["upstream"]["url"], "sqlite:" + self.db)
        overview = wait_for(lambda: (lambda o: o if o["streams"] else None)(self.tg.get("/api/overview").json()),
                            what="an overview")
        self.assertEqual(overview["overall"]["progressPercentage"], 57)  # tc watch: 57.1 %
        detail = self.tg.get("/api/streams/Stream-B").json()
        self.assertEqual([t["id"] for t in detail["tasks"]], [5, 6, 7])
        self.assertEqual((detail["totalTasks"], detail["completedTasks"]), (3, 1))

    def test_checkpoints_are_501(self):
        self.start()
        self.assertEqual(self.tg.get("/api/checkpoints?streamId=Stream-B").status, 501)
        resp = self.tg.request("POST", "/api/streams/Stream-B/checkpoint", headers=self.tg.bearer())
        self.assertEqual(resp.status, 501)
        self.assertEqual(resp.json()["code"], "not-implemented")

    def test_a_missing_file_is_a_clear_503(self):
        self.start("sqlite:" + os.path.join(self.dir, "nope", "tasks.db"))
        health = self.tg.get("/health")
        self.assertEqual(health.status, 503)
        self.assertIn("nope/tasks.db", health.json()["upstream"]["lastError"])
        resp = self.tg.get("/api/streams")
        self.assertEqual(resp.status, 502)
        self.assertEqual(resp.json()["code"], "upstream-unreachable")
        self.assertIn("cannot open the tc database", resp.json()["error"])

    def test_a_file_that_is_not_tc_is_a_clear_503(self):
        other = os.path.join(self.dir, "other.db")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE notes (x)")
        con.commit()
        con.close()
        self.start("sqlite:" + other)
        health = self.tg.get("/health")
        self.assertEqual(health.status, 503)
        self.assertIn("not a Task Copilot (tc) database", health.json()["upstream"]["lastError"])

    def test_a_write_by_tc_shows_as_a_stream_event(self):
        self.start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        es = EventStream(self.tg.port)
        self.streams.append(es)
        es.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])
        self.write("UPDATE tasks SET status = 'completed', updated_at = datetime('now') WHERE id = 6")
        event = es.wait(lambda ev: [e for e in ev if e["event"] == "stream"
                                    and e["data"]["streamId"] == "Stream-B"
                                    and e["data"]["progressPercentage"] == 67], what="Stream-B 67 %")[0]
        self.assertEqual(event["data"]["previous"]["progressPercentage"], 33)
        samples = self.tg.get("/api/streams/Stream-B/history").json()["samples"]
        self.assertEqual([s["progressPercentage"] for s in samples], [33, 67])


class ConcurrentWriter(Base):
    poll = "0.02"

    def test_a_concurrent_writer_never_yields_a_torn_view(self):
        """The writer moves Stream-B between two states in single
        transactions; any mix of them (one task moved, not the other)
        would show 0 or 2 tasks in progress."""
        self.start()
        stop = threading.Event()
        errors = []

        def writer():
            con = sqlite3.connect(self.db, timeout=5)
            con.execute("PRAGMA journal_mode=WAL")
            flip = False
            while not stop.is_set():
                try:
                    with con:
                        if flip:
                            con.execute("UPDATE tasks SET status='in_progress' WHERE id=6")
                            con.execute("UPDATE tasks SET status='pending' WHERE id=7")
                        else:
                            con.execute("UPDATE tasks SET status='pending' WHERE id=6")
                            con.execute("UPDATE tasks SET status='in_progress' WHERE id=7")
                    flip = not flip
                except sqlite3.OperationalError as e:  # a busy writer is the writer's problem
                    errors.append(str(e))
                time.sleep(0.001)
            con.close()

        thread = threading.Thread(target=writer)
        thread.start()
        seen = set()
        try:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                resp = self.tg.get("/api/streams/Stream-B")
                self.assertEqual(resp.status, 200)
                body = resp.json()
                self.assertEqual(body["inProgressTasks"], 1, body)
                self.assertEqual(body["pendingTasks"], 1, body)
                seen.add(tuple(t["status"] for t in body["tasks"]))
        finally:
            stop.set()
            thread.join()
        self.assertGreater(len(seen), 1, "the reader saw the writer's changes")
        for sample in self.tg.get("/api/streams/Stream-B/history?limit=100000").json()["samples"]:
            self.assertEqual(sample["inProgressTasks"], 1, sample)
        self.assertEqual(self.tg.get("/health").status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
