#!/usr/bin/env python3
"""taskgate serving Task Copilot 3 users from `.copilot/tasks.db`
(--upstream sqlite:PATH): the fixture's five streams with tc's own
percentages, clear errors and /health 503 for a missing file or one that
is not tc's, a change written by another process shows as a `stream`
event, a concurrent writer never yields a torn view, and checkpoints
answer 501.  Each test works on a copy of the fixture database."""

import json
import os
import re
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
SCHEMA = os.path.join(harness.ROOT, "tests", "fixtures", "tc", "schema.sql")


def new_tc_db(path, streams):
    """A tasks.db made with tc's own schema: streams is a list of
    (name, [(title, status, metadata or None)]), as `tc stream create` and
    `tc task create --stream N` write them."""
    with open(SCHEMA) as f:
        # Less what SQLite makes itself: sqlite_sequence and the FTS5
        # table's shadow tables.
        schema = re.sub(r"CREATE TABLE (sqlite_sequence|IF NOT EXISTS 'work_products_fts_)[^;]*;", "", f.read())
    con = sqlite3.connect(path)
    con.executescript(schema)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("INSERT INTO schema_version (version) VALUES (1)")
    con.execute("INSERT INTO prds (title) VALUES ('plan')")
    for name, tasks in streams:
        sid = con.execute("INSERT INTO streams (name, prd_id) VALUES (?, 1)", (name,)).lastrowid
        for title, status, meta in tasks:
            con.execute("INSERT INTO tasks (prd_id, stream_id, title, status, metadata) VALUES (1, ?, ?, ?, ?)",
                        (sid, title, status, meta))
    con.commit()
    con.close()


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

    def listed(self):
        return {s["streamId"]: s for s in self.tg.get("/api/streams").json()["streams"]}

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


class TcStreams(Base):
    """Issue 17: what tc users saw wrong, each on a database in tc's schema."""

    def test_a_deleted_then_new_tasks_db_is_noticed(self):
        self.start()
        self.assertEqual(len(self.listed()), 5)
        for side in ("", "-wal", "-shm"):  # rm .copilot/tasks.db*
            if os.path.exists(self.db + side):
                os.unlink(self.db + side)
        health = wait_for(lambda: (lambda r: r if r.status == 503 else None)(self.tg.get("/health")),
                          what="/health 503 once the file is gone")
        self.assertIn("missing", health.json()["upstream"]["lastError"])
        self.assertIn(self.db, health.json()["upstream"]["lastError"])
        # The old file's rows may be served, but as the last good answer
        # (STALE), never as fresh (HIT): before, they were HIT until a restart.
        resp = wait_for(lambda: (lambda r: r if r.header("X-Cache") != "HIT" else None)(self.tg.get("/api/streams")),
                        what="the deleted file's data no longer fresh")
        self.assertEqual(resp.header("X-Cache"), "STALE")
        # tc init, then a stream whose name has a space.
        new_tc_db(self.db, [("Workstream 02", [("first", "pending", None)])])
        wait_for(lambda: self.tg.get("/health").status == 200, what="/health 200 again")
        listed = wait_for(lambda: (lambda ls: ls if "Workstream-02" in ls else None)(self.listed()),
                          what="the new file's stream")
        self.assertEqual(list(listed), ["Workstream-02"])
        self.assertEqual(listed["Workstream-02"]["streamName"], "Workstream 02")

    def test_a_file_moved_over_tasks_db_is_read(self):
        self.start()
        self.assertIn("Stream-B", self.listed())
        other = os.path.join(self.dir, ".copilot", "other.db")
        new_tc_db(other, [("solo", [("only", "completed", None)])])
        os.rename(other, self.db)
        listed = wait_for(lambda: (lambda ls: ls if "solo" in ls else None)(self.listed()),
                          what="the moved file's stream")
        self.assertEqual(list(listed), ["solo"])

    def test_cancelled_tasks_let_the_stream_complete(self):
        self.start()
        self.write("UPDATE tasks SET status = CASE id WHEN 6 THEN 'completed' ELSE 'cancelled' END "
                   "WHERE id IN (6, 7)")
        b = wait_for(lambda: (lambda s: s if s["completedTasks"] == 2 else None)(self.listed()["Stream-B"]),
                     what="Stream-B with 6 completed")
        self.assertEqual(b["status"], "completed")
        self.assertEqual(b["progressPercentage"], 67)  # tc watch: 2 of 3
        detail = self.tg.get("/api/streams/Stream-B").json()
        self.assertEqual(detail["status"], "completed")
        z = wait_for(lambda: (lambda o: o.get("Stream-Z") if o.get("Stream-B", {}).get("status") == "completed"
                              else None)({s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}),
                     what="the overview with Stream-B completed")
        self.assertFalse([r for r in z["gate"]["reasons"] if "Stream-B" in r], z["gate"])

    def test_streams_are_tc_streams(self):
        # tc task create --stream 1 with no metadata; a task in stream 2
        # whose metadata names Stream-C.
        self.write("INSERT INTO tasks (prd_id, stream_id, title) VALUES (1, 1, 'by hand')")
        self.write("INSERT INTO tasks (prd_id, stream_id, title, metadata) VALUES (1, 2, 'misfiled', ?)",
                   '{"streamId": "Stream-C", "streamName": "monitor-scripts"}')
        self.start()
        listed = self.listed()
        self.assertEqual(sorted(listed), ["Stream-A", "Stream-B", "Stream-C", "Stream-D", "Stream-Z"])
        self.assertEqual((listed["Stream-A"]["totalTasks"], listed["Stream-A"]["completedTasks"]), (5, 4))
        self.assertEqual(listed["Stream-B"]["totalTasks"], 4)
        self.assertEqual(listed["Stream-C"]["totalTasks"], 3)
        overview = wait_for(lambda: (lambda o: o if o["streams"] else None)(self.tg.get("/api/overview").json()),
                            what="an overview")
        for s in overview["streams"]:
            for r in s["gate"]["reasons"]:
                self.assertNotIn("foundation is at", r)

    def test_an_id_from_a_name_with_spaces_is_taken(self):
        self.write("INSERT INTO streams (name, prd_id) VALUES ('Workstream 02', 1)")
        self.write("INSERT INTO tasks (prd_id, stream_id, title) VALUES (1, 6, 'first')")
        self.start()
        listed = self.listed()
        self.assertIn("Workstream-02", listed)
        self.assertNotIn("Workstream 02", listed)
        resp = self.tg.get("/api/streams/Workstream-02")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json()["streamName"], "Workstream 02")
        self.assertEqual(self.tg.get("/api/streams/Workstream-02/history").status, 200)

    def test_no_tasks_table_says_so(self):
        other = os.path.join(self.dir, "notes.db")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
        con.commit()
        con.close()
        self.start("sqlite:" + other)
        error = self.tg.get("/health").json()["upstream"]["lastError"]
        self.assertIn("not a Task Copilot (tc) database", error)
        self.assertIn("no tasks table", error)
        self.assertNotIn("column", error)


class InstantFreshness(Base):
    """A poll every 30 s: what a tc command commits is on /api/events at
    once all the same (the file is watched), and the events of one change
    carry one batch marker."""
    poll = "30"

    def test_one_commit_is_one_batch_of_events_at_once(self):
        self.start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        es = EventStream(self.tg.port)
        self.streams.append(es)
        es.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])
        # One transaction (tc's Python API batches so) moving two streams.
        self.write("UPDATE tasks SET status = 'completed', updated_at = datetime('now') WHERE id IN (6, 11)")
        got = es.wait(lambda ev: (lambda b, d: [b, d] if b and d else None)(
            [e for e in ev if e["event"] == "stream" and e["data"]["streamId"] == "Stream-B"
             and e["data"]["completedTasks"] == 2],
            [e for e in ev if e["event"] == "stream" and e["data"]["streamId"] == "Stream-D"
             and e["data"]["completedTasks"] == 1]), what="Stream-B and Stream-D moved, well before the next poll")
        b, d = got[0][0]["data"]["batch"], got[1][0]["data"]["batch"]
        self.assertEqual(b, d)
        self.assertGreaterEqual(b["size"], 2)
        # A client that has the batch's N events may apply them: all N
        # come (the two above may arrive before the rest of it).
        batch = es.wait(lambda ev: (lambda m: m if len(m) >= b["size"] else None)(
            [e for e in ev if isinstance(e.get("data"), dict)
             and e["data"].get("batch", {}).get("id") == b["id"]]), what="the batch's %d events" % b["size"])
        self.assertEqual(len(batch), b["size"], batch)
        # The next change is another batch.
        self.write("UPDATE tasks SET status = 'completed', updated_at = datetime('now') WHERE id = 7")
        later = es.wait(lambda ev: [e for e in ev if e["event"] == "stream" and e["data"]["streamId"] == "Stream-B"
                                    and e["data"]["completedTasks"] == 3], what="Stream-B at 3 of 3")[0]
        self.assertGreater(later["data"]["batch"]["id"], b["id"])


class PlanFromTasksDb(Base):
    """No orchestration config: the gates come from tasks.db, and a
    stream's window opens in its tc worktree_path inside the project that
    holds .copilot/, wherever taskgate runs; without a .copilot/ directory
    the start says the project root is missing."""

    def post(self, path):
        return self.tg.request("POST", path, headers=self.tg.bearer())

    def test_a_ready_stream_starts_in_its_worktree(self):
        os.makedirs(os.path.join(self.dir, ".worktrees", "Stream-B"))
        self.write("UPDATE streams SET worktree_path = '.worktrees/Stream-B' WHERE id = 2")
        self.start()
        ov = wait_for(lambda: (lambda o: o if o["streams"] else None)(self.tg.get("/api/overview").json()),
                      what="an overview")
        gates = {s["streamId"]: s["gate"] for s in ov["streams"]}
        self.assertTrue(gates["Stream-B"]["canStart"], gates["Stream-B"])
        self.assertFalse(gates["Stream-Z"]["canStart"])
        resp = self.post("/api/streams/Stream-B/start?dryRun=true")
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json()["directory"],
                         os.path.realpath(os.path.join(self.dir, ".worktrees", "Stream-B")))
        # Stream-D has no worktree_path: the project root itself.
        resp = self.post("/api/streams/Stream-D/start?dryRun=true")
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json()["directory"], os.path.realpath(self.dir))

    def test_generate_config_from_tasks_db(self):
        out = os.path.join(self.dir, "orchestration-config.json")
        rc, stdout, stderr = harness.run_taskgate(["generate-config", "--upstream", "sqlite:" + self.db,
                                                   "--output", out])
        self.assertEqual(rc, 0, stderr)
        self.assertIn("5 streams", stdout)
        with open(out) as f:
            doc = json.load(f)
        streams = {s["streamId"]: s for s in doc["streams"]}
        self.assertEqual(sorted(streams), ["Stream-A", "Stream-B", "Stream-C", "Stream-D", "Stream-Z"])
        self.assertEqual(streams["Stream-C"]["worktreePath"], ".worktrees/Stream-C")
        self.assertEqual(streams["Stream-Z"]["dependencies"], ["Stream-B", "Stream-C"])
        self.assertEqual(streams["Stream-B"]["projectRoot"], os.path.realpath(self.dir))
        self.assertEqual(sorted(doc["executionPlan"]["parallel"]), ["Stream-B", "Stream-C", "Stream-D"])
        self.assertEqual(doc["apiEndpoint"], "sqlite:" + self.db)
        rc, stdout, stderr = harness.run_taskgate(["check-config", "--config", out])
        self.assertEqual(rc, 0, stderr)

    def test_no_project_root_is_said(self):
        loose = os.path.join(self.dir, "tasks.db")
        shutil.copy(FIXTURE, loose)
        self.start("sqlite:" + loose)
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="an overview")
        resp = self.post("/api/streams/Stream-B/start?dryRun=true")
        self.assertEqual(resp.status, 422, resp.body)
        self.assertIn("project root of Stream-B is missing", resp.json()["error"])
        self.assertIn("projectRoot", resp.json()["error"])


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
