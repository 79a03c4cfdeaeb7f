#!/usr/bin/env python3
"""History, health states and the event stream, as a person watching a
plan would rely on them: a task change becomes a sample and a `stream`
event within two polls; counts that do not move for the stall timeout
(fractional minutes) become a `no-progress` state with evidence; time
while the upstream is down never counts as a stall; after kill -9 and a
restart, history, states and event ids are intact and Last-Event-ID
replays exactly what was missed; a client that never reads delays nobody;
the history database deleted under a running taskgate is noticed, said
once, and made again with everything it held, and one replaced by
something else makes /health say the history is not writable.
"""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, EventStream, Taskgate, wait_for  # noqa: E402

POLL = 0.3


def config(stall_minutes):
    path = os.path.join(tempfile.mkdtemp(prefix="tg-conf-"), "orchestration-config.json")
    with open(path, "w") as f:
        json.dump({"contextRecovery": {"stallTimeoutMinutes": stall_minutes}}, f)
    return path


def state_events(stream, sid):
    return [e for e in stream.of_type("state") if e["data"]["streamId"] == sid]


class Base(unittest.TestCase):
    stall_minutes = 10

    def setUp(self):
        harness.skip_unless_binary()
        self.double = Double().start()
        self.wall_before = time.time()
        self.tg = Taskgate(self.double.url, args=["--poll", str(POLL), "--config",
                                                  config(self.stall_minutes)]).start()
        # Its first poll (and the clocks it starts) may come just before this.
        self.started = time.monotonic()
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()
        self.tg.close()
        self.double.close()

    def events(self, **kw):
        stream = EventStream(self.tg.port, **kw)
        self.streams.append(stream)
        return stream


class Progress(Base):
    def test_a_task_change_is_a_sample_and_a_stream_event_within_two_polls(self):
        es = self.events()
        self.assertEqual(es.status, 200)
        self.assertTrue(es.headers["content-type"].startswith("text/event-stream"))
        snapshot = es.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])[0]
        self.assertIsNone(snapshot["id"], "the snapshot is not a replayable event")
        wait_for(lambda: len(self.tg.get("/api/streams/Stream-B/history").json()["samples"]) == 1,
                 what="the first sample of Stream-B")
        self.double.set_task("B2", status="completed")
        changed_at = time.monotonic()
        event = es.wait(lambda ev: [e for e in ev if e["event"] == "stream"
                                    and e["data"]["streamId"] == "Stream-B"
                                    and e["data"]["progressPercentage"] == 67],
                        what="Stream-B at 67 %")[0]
        # Two polls, a round and a control request, with room for a loaded
        # machine and sanitizers.
        self.assertLess(time.monotonic() - changed_at, 2 * POLL + 5)
        self.assertEqual(event["data"]["previous"]["progressPercentage"], 33)
        self.assertEqual(event["data"]["completedTasks"], 2)
        samples = self.tg.get("/api/streams/Stream-B/history").json()["samples"]
        self.assertEqual([s["progressPercentage"] for s in samples], [33, 67])
        self.assertLess(samples[0]["at"], samples[1]["at"])
        ids = [e["id"] for e in es.events if e["id"] is not None]
        self.assertEqual(ids, sorted(ids))

    def test_unchanged_counts_write_no_samples(self):
        time.sleep(6 * POLL)
        for sid in ["Stream-A", "Stream-B", "Stream-D"]:
            self.assertEqual(len(self.tg.get("/api/streams/%s/history" % sid).json()["samples"]), 1)

    def test_history_query(self):
        wait_for(lambda: self.tg.get("/api/streams/Stream-B/history").json()["samples"],
                 what="a first sample")
        self.double.set_task("B2", status="completed")
        wait_for(lambda: len(self.tg.get("/api/streams/Stream-B/history").json()["samples"]) == 2,
                 what="a second sample")
        samples = self.tg.get("/api/streams/Stream-B/history").json()["samples"]
        for sample in samples:  # the upstream's own time format, and now
            self.assertRegex(sample["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            at = datetime.datetime.strptime(sample["at"], "%Y-%m-%dT%H:%M:%S.%fZ")
            self.assertLess(abs((datetime.datetime.utcnow() - at).total_seconds()), 60)
        latest = self.tg.get("/api/streams/Stream-B/history?limit=1").json()["samples"]
        self.assertEqual(latest, samples[-1:])
        since = self.tg.get("/api/streams/Stream-B/history?since=" + samples[1]["at"]).json()
        self.assertEqual(since["samples"], samples[1:])
        until = self.tg.get("/api/streams/Stream-B/history?until=" + samples[0]["at"]).json()
        self.assertEqual(until["samples"], samples[:1])
        # With since, limit counts from since, even from 0 (the epoch).
        first = self.tg.get("/api/streams/Stream-B/history?since=0&limit=1").json()["samples"]
        self.assertEqual(first, samples[:1])
        self.assertEqual(self.tg.get("/api/streams/Nobody/history").json()["samples"], [])
        for query in ["limit=0", "limit=abc", "since=yesterday", "limit=1&limit=2", "until=2026-13-45T00:00:00Z",
                      "limit=+5", "limit=%205", "since=2026-02-30T00:00:00Z", "since=%202026-11-26T10:00:00Z",
                      "since=-1"]:
            with self.subTest(query=query):
                resp = self.tg.get("/api/streams/Stream-B/history?" + query)
                self.assertEqual(resp.status, 400)
                self.assertEqual(resp.json()["code"], "bad-query")

    def test_overview_and_metrics(self):
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="an overview")
        ov = self.tg.get("/api/overview").json()
        by_id = {s["streamId"]: s for s in ov["streams"]}
        self.assertEqual(set(by_id), {"Stream-A", "Stream-B", "Stream-C", "Stream-D", "Stream-Z"})
        self.assertEqual(by_id["Stream-B"]["progressPercentage"], 33)
        self.assertEqual(by_id["Stream-Z"]["dependencies"],
                         [{"streamId": "Stream-B", "status": "in_progress", "progressPercentage": 33},
                          {"streamId": "Stream-C", "status": "completed", "progressPercentage": 100}])
        self.assertEqual(by_id["Stream-B"]["agent"]["agentId"], "me")
        self.assertEqual(by_id["Stream-D"]["blockedTaskList"][0]["title"], "Threat model the checkpoint endpoint")
        self.assertTrue(any(a["kind"] == "blocked" and a["streamId"] == "Stream-D" for a in ov["alerts"]))
        self.assertEqual(ov["overall"], {"totalTasks": 14, "completedTasks": 8, "progressPercentage": 57,
                                         "streams": 5})
        self.assertEqual(ov["upstream"]["status"], "up")
        # Stream-D: the upstream reports it unhealthy (no activity for 10+ minutes).
        self.assertEqual(by_id["Stream-D"]["state"]["name"], "upstream-unhealthy")
        self.assertIn("Task in_progress but no activity for 10+ minutes",
                      by_id["Stream-D"]["state"]["evidence"]["warnings"])
        metrics = self.tg.get("/metrics")
        self.assertEqual(metrics.status, 200)
        text = metrics.body.decode()
        self.assertIn('taskgate_stream_progress_percent{stream="Stream-B"} 33', text)
        self.assertIn('taskgate_stream_state{stream="Stream-D",state="upstream-unhealthy"} 1', text)
        self.assertIn("taskgate_upstream_up 1", text)
        self.assertRegex(text, r"taskgate_upstream_fetches_total [1-9]")

    def metric(self, text, name):
        m = re.search(r"^%s ([0-9.e+]+)$" % re.escape(name), text, re.M)
        self.assertIsNotNone(m, "no %s in /metrics" % name)
        return float(m.group(1))

    def test_metrics_a_fleet_needs(self):
        """/metrics passes promtool's lint, and has what alerting on many
        boxes needs: time since each stream moved, the build, and the
        process figures every exporter gives."""
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="an overview")
        text = self.tg.get("/metrics").body.decode()
        if shutil.which("promtool"):
            lint = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                  capture_output=True, timeout=30)
            self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        self.assertIn('taskgate_build_info{version="', text)
        self.assertRegex(text, r'(?m)^taskgate_build_info\{version="[0-9][^"]*"\} 1$')
        # Counts unchanged since taskgate first saw them: the time since then.
        since = self.metric(text, 'taskgate_stream_seconds_since_progress{stream="Stream-B"}')
        self.assertGreaterEqual(since, 0)
        self.assertLess(since, time.time() - self.wall_before + 1)
        # A task moves: the clock of that stream starts again, not the others'.
        time.sleep(1.5)
        self.double.set_task("B3", status="completed")
        wait_for(lambda: {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}
                 ["Stream-B"]["progressPercentage"] != 33, what="Stream-B's progress moved")
        text = self.tg.get("/metrics").body.decode()
        b = self.metric(text, 'taskgate_stream_seconds_since_progress{stream="Stream-B"}')
        a = self.metric(text, 'taskgate_stream_seconds_since_progress{stream="Stream-A"}')
        self.assertLess(b, 1.5)
        self.assertGreater(a, b + 1)
        # The process: figures a person would call sane for this daemon.
        rss = self.metric(text, "process_resident_memory_bytes")
        self.assertGreater(rss, 1 << 20)
        self.assertGreaterEqual(self.metric(text, "process_virtual_memory_bytes"), rss)
        fds = self.metric(text, "process_open_fds")
        self.assertGreater(fds, 3)
        # Give or take the connections open at either moment.
        self.assertLessEqual(abs(fds - len(os.listdir("/proc/%d/fd" % self.tg.proc.pid))), 4)
        self.assertGreater(self.metric(text, "process_max_fds"), fds)
        self.assertGreaterEqual(self.metric(text, "process_cpu_seconds_total"), 0)
        start = self.metric(text, "process_start_time_seconds")
        self.assertGreater(start, self.wall_before - 2)
        self.assertLess(start, time.time())

    def test_heartbeat_every_15_seconds(self):
        es = self.events()
        with es.cond:
            es.cond.wait_for(lambda: es.comments, timeout=20)
        self.assertIn(": heartbeat", es.comments)

    def test_a_client_that_never_reads_delays_nobody(self):
        silent = socket.create_connection(("127.0.0.1", self.tg.port))
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        silent.sendall(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reader = self.events()
        reader.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])
        try:
            last = 0
            for n, status in enumerate(["in_progress", "completed", "pending"] * 4):
                before = time.monotonic()
                self.double.set_task("B3", status=status)
                event = reader.wait(lambda ev, last=last: [
                    e for e in ev if e["event"] == "stream" and e["data"]["streamId"] == "Stream-B"
                    and e["id"] > last], what="a stream event after change %d" % n)[0]
                last = event["id"]
                self.assertLess(time.monotonic() - before, 2 * POLL + 5)
        finally:
            silent.close()


class FrontDoor(Base):
    """Event-stream clients reach taskgate however they send their request."""

    def clients(self):
        text = self.tg.get("/metrics").body.decode()
        return int(re.search(r"^taskgate_sse_clients (\d+)$", text, re.M).group(1))

    def raw_stream(self, *parts, pause=0.0):
        sock = socket.create_connection(("127.0.0.1", self.tg.port), timeout=10)
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)
        got = b""
        while b"event: snapshot" not in got:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return sock, got

    def test_a_closed_dashboard_is_let_go_at_once(self):
        es = self.events()
        es.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])
        wait_for(lambda: self.clients() == 1, what="one event-stream client")
        es.close()
        # Not at the next heartbeat (15 s): when the client hangs up.
        wait_for(lambda: self.clients() == 0, timeout=8, what="the client gone from /metrics")

    def test_a_head_in_pieces_a_big_cookie_and_a_slow_client(self):
        head = b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n"
        sock, got = self.raw_stream(b"GET /api/ev", b"ents HTTP/1.1\r\nHost: loc",
                                    b"alhost\r\n\r\n", pause=0.2)
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        self.assertIn(b"event: snapshot", got)
        sock.close()
        # A head bigger than the event-stream pool takes (localhost cookies
        # of other tools): served all the same.
        sock, got = self.raw_stream(head + b"Cookie: other=" + b"c" * 9000 + b"\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        self.assertIn(b"event: snapshot", got)
        sock.close()
        # A client that waits before it says anything.
        sock, got = self.raw_stream(b"", head + b"\r\n", pause=1.5)
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        sock.close()

    def test_a_refused_stream_closes_its_connection(self):
        sock = socket.create_connection(("127.0.0.1", self.tg.port), timeout=10)
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        got = harness.read_to_end(sock)
        self.assertTrue(got.startswith(b"HTTP/1.1 4"), got[:100])
        self.assertIn(b"\r\nConnection: close\r\n", got)
        sock.close()


class Webhook(harness.DoubleTestCase):
    """--webhook URL: every recorded event is POSTed there."""

    def setUp(self):
        import http.server
        import threading
        harness.skip_unless_binary()
        self.posts = []
        self.cond = threading.Condition()
        test = self

        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with test.cond:
                    test.posts.append((self.path, self.headers["Content-Type"], json.loads(body)))
                    test.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self.receiver.shutdown()
        self.receiver.server_close()

    def test_events_are_posted_in_order_with_their_ids(self):
        url = "http://127.0.0.1:%d/hook" % self.receiver.server_address[1]
        self.tg = Taskgate(self.double.url, args=["--poll", str(POLL), "--webhook", url]).start()
        es = EventStream(self.tg.port)
        try:
            es.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])
            self.double.set_task("B2", status="completed")
            event = es.wait(lambda ev: [e for e in ev if e["event"] == "stream"
                                        and e["data"]["streamId"] == "Stream-B"])[0]
        finally:
            es.close()
        with self.cond:
            self.cond.wait_for(lambda: any(p[2]["id"] == event["id"] for p in self.posts), timeout=10)
            posts = list(self.posts)
        path, ctype, body = [p for p in posts if p[2]["id"] == event["id"]][0]
        self.assertEqual((path, ctype), ("/hook", "application/json"))
        self.assertEqual(body, {"id": event["id"], "event": "stream", "data": event["data"]})
        ids = [p[2]["id"] for p in posts]
        self.assertEqual(ids, sorted(ids))

    def test_a_dead_receiver_delays_nothing(self):
        port = harness.free_port()  # nobody listens there
        self.tg = Taskgate(self.double.url, args=["--poll", str(POLL), "--webhook",
                                                  "http://127.0.0.1:%d/" % port]).start()
        es = EventStream(self.tg.port)
        try:
            es.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"])
            self.double.set_task("B2", status="completed")
            es.wait(lambda ev: [e for e in ev if e["event"] == "stream"], timeout=2 * POLL + 3)
        finally:
            es.close()
        wait_for(lambda: "webhook: cannot POST" in self.tg.stderr(), what="a warning")
        self.assertEqual(self.tg.stderr().count("webhook: cannot POST"), 1)  # once per failing run

    def test_not_an_http_url_is_refused(self):
        for bad in ["ftp://example.com/", "not a url", "file:///etc/passwd"]:
            with self.subTest(bad=bad):
                rc, out, err = harness.run_taskgate(["serve", "--listen", "127.0.0.1:0", "--webhook", bad,
                                                     "--upstream", self.double.url])
                self.assertEqual(rc, 2)
                self.assertIn("--webhook: '%s' is not an http:// or https:// URL" % bad, err)


class Stall(Base):
    stall_minutes = 0.03  # 1.8 s

    def test_unchanged_for_the_stall_timeout_is_no_progress(self):
        # The stall may come before this connects: replay from the start.
        es = self.events(last_event_id=0)
        event = es.wait(lambda ev: [e for e in state_events(es, "Stream-D")
                                    if e["data"]["state"] == "no-progress"],
                        timeout=10, what="Stream-D no-progress")[0]
        evidence = event["data"]["evidence"]
        self.assertEqual(evidence["inProgressTasks"], 1)
        self.assertAlmostEqual(evidence["stallTimeoutMinutes"], 0.03)
        self.assertGreaterEqual(evidence["unchangedMinutes"], 0.0)
        # Stream-Z has nothing in progress: waiting to start is not a stall.
        time.sleep(1)
        self.assertEqual(state_events(es, "Stream-Z"), [])
        ov = {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}
        self.assertEqual(ov["Stream-D"]["state"]["name"], "no-progress")
        self.assertEqual(ov["Stream-Z"]["state"]["name"], "ok")

    def test_progress_clears_the_state(self):
        # The stall may come before this connects: replay from the start.
        es = self.events(last_event_id=0)
        stalled = es.wait(lambda ev: [e for e in state_events(es, "Stream-B")
                                      if e["data"]["state"] == "no-progress"],
                          timeout=10, what="Stream-B no-progress")[0]
        self.double.set_task("B2", status="completed")
        self.double.set_task("B3", status="in_progress")
        event = es.wait(lambda ev: [e for e in state_events(es, "Stream-B") if e["data"]["state"] == "ok"
                                    and e["id"] > stalled["id"]], what="Stream-B ok again")[0]
        self.assertEqual(event["data"]["previous"], "no-progress")


class UpstreamDown(Base):
    stall_minutes = 0.05  # 3 s

    def test_no_clock_runs_while_the_upstream_is_down(self):
        # `upstream up` comes only with the first poll, which may be done
        # before this connects: replay from the start.
        es = self.events(last_event_id=0)
        es.wait(lambda ev: [e for e in ev if e["event"] == "upstream" and e["data"]["status"] == "up"],
                what="upstream up")
        # About 1 s of the clock before the outage, counted from the first
        # poll, however late this connected.
        time.sleep(max(0.0, self.started + 1.0 - time.monotonic()))
        self.double.stop()
        es.wait(lambda ev: [e for e in ev if e["event"] == "upstream" and e["data"]["status"] == "down"],
                what="upstream down")
        time.sleep(4.0)  # longer than the stall timeout
        self.assertEqual([e for e in es.of_type("state") if e["data"]["state"] == "no-progress"], [])
        self.double.start()
        back = time.monotonic()
        es.wait(lambda ev: [e for e in ev if e["event"] == "upstream" and e["data"]["status"] == "up"
                            and e["id"] > es.of_type("upstream")[0]["id"]], what="upstream up again")
        event = es.wait(lambda ev: [e for e in state_events(es, "Stream-D")
                                    if e["data"]["state"] == "no-progress"], timeout=10,
                        what="Stream-D no-progress once the upstream is back")[0]
        # About 1 s was seen before the outage: the rest must be seen after it.
        self.assertGreater(time.monotonic() - back, 1.2)
        self.assertGreaterEqual(event["data"]["evidence"]["unchangedMinutes"], 0.04)


class Restart(Base):
    stall_minutes = 0.02

    def test_kill_9_keeps_history_states_and_event_ids(self):
        # The stall (1.2 s) may come before this connects: replay from the start.
        es = self.events(last_event_id=0)
        es.wait(lambda ev: [e for e in state_events(es, "Stream-D") if e["data"]["state"] == "no-progress"],
                timeout=10, what="Stream-D no-progress")
        self.double.set_task("B2", status="completed")
        es.wait(lambda ev: [e for e in ev if e["event"] == "stream" and e["data"]["streamId"] == "Stream-B"
                            and e["data"]["completedTasks"] == 2], what="Stream-B 2 done")
        time.sleep(2 * POLL)
        seen = [e for e in es.events if e["id"] is not None]
        last_seen = seen[-1]["id"]
        history = self.tg.get("/api/streams/Stream-B/history").json()["samples"]
        before = {s["streamId"]: s["state"] for s in self.tg.get("/api/overview").json()["streams"]}
        es.close()
        self.streams.remove(es)

        self.tg.stop(signal.SIGKILL)
        # Happens while taskgate is dead.  Completed, not in progress: a
        # working Stream-B would stall 1.2 s after the restart, and that
        # state event could come between the replay below and live_ids.
        self.double.set_task("B3", status="completed")
        self.tg.start()

        # The first poll may come before this connects, so the watcher asks for
        # everything after the last id it saw: replayed or live, the change must come.
        watcher = self.events(last_event_id=last_seen)
        watcher.wait(lambda ev: [e for e in ev if e["event"] == "stream" and e["data"]["streamId"] == "Stream-B"
                                 and e["data"]["completedTasks"] == 3], what="the change made while down")
        time.sleep(2 * POLL)
        replay = self.events(last_event_id=last_seen)
        live_ids = [e["id"] for e in watcher.events if e["id"] is not None]
        replay.wait(lambda ev: [e for e in ev if e["event"] == "snapshot"], what="the replay's snapshot")
        replayed = [e for e in replay.events if e["id"] is not None and e["id"] <= max(live_ids)]
        ids = [e["id"] for e in replayed]
        self.assertEqual(ids, list(range(last_seen + 1, max(live_ids) + 1)), "exactly the missed events")
        self.assertEqual(replay.events[len(replayed)]["event"], "snapshot", "replay comes before the snapshot")
        self.assertTrue(all(i > last_seen for i in live_ids), "ids continue after the restart")
        kinds = [(e["event"], e["data"].get("streamId")) for e in replayed]
        self.assertIn(("stream", "Stream-B"), kinds)
        self.assertNotIn(("state", "Stream-D"), kinds, "a persisted state is not announced again")
        after = {s["streamId"]: s["state"] for s in self.tg.get("/api/overview").json()["streams"]}
        self.assertEqual(after["Stream-D"]["name"], "no-progress")
        self.assertEqual(after["Stream-D"]["since"], before["Stream-D"]["since"])
        self.assertEqual(self.tg.get("/api/streams/Stream-B/history").json()["samples"][:len(history)], history)


class DeletedDatabase(Base):
    """history.db removed while taskgate runs (a cleanup script, a wrong
    rm): what a user would check afterwards."""

    def path(self, suffix=""):
        return os.path.join(self.tg.dir, "history.db" + suffix)

    def history(self):
        return self.tg.get("/api/streams/Stream-B/history").json()["samples"]

    def in_file(self):
        """Stream-B's samples in the file at the path, read as a user would."""
        con = sqlite3.connect("file:%s?mode=ro" % self.path(), uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM samples WHERE stream_id = 'Stream-B'").fetchone()[0]
        finally:
            con.close()

    def health(self):
        return self.tg.get("/health").json()["history"]

    def said(self, words):
        return [line for line in self.tg.stderr().splitlines() if words in line]

    def two_samples(self):
        wait_for(lambda: len(self.history()) == 1, what="the first sample of Stream-B")
        self.double.set_task("B2", status="completed")
        wait_for(lambda: len(self.history()) == 2, what="the second sample of Stream-B")
        return self.history()

    def deleted(self, suffixes):
        before = self.two_samples()
        for suffix in suffixes:
            os.remove(self.path(suffix))
        wait_for(lambda: os.path.exists(self.path()), what="history.db made again")
        wait_for(lambda: self.in_file() == 2, what="the samples taken before, in the new file")
        self.assertTrue(self.health()["writable"], self.health())
        self.assertEqual(len(self.said("was deleted")), 1, self.tg.stderr())
        # What happens next is written to the new file too ...
        self.double.set_task("B3", status="completed")
        wait_for(lambda: self.in_file() == 3, what="a sample taken after, in the new file")
        self.assertEqual(len(self.said("was deleted")), 1, "said once")
        # ... and a restart finds the whole history.
        history = self.history()
        self.assertEqual(history[:2], before)
        self.tg.stop()
        con = sqlite3.connect(self.path())
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        finally:
            con.close()
        self.tg.start()
        self.assertEqual(self.history()[:3], history)

    def test_database_and_its_wal_deleted(self):
        self.deleted(["", "-wal", "-shm"])

    def test_only_the_database_file_deleted(self):
        # Its -wal and -shm are left: they must not be taken for the new file's.
        self.deleted([""])

    def test_replaced_by_what_is_no_database(self):
        self.two_samples()
        os.remove(self.path())
        os.mkdir(self.path())
        health = wait_for(lambda: (lambda h: h if not h["writable"] else None)(self.health()),
                          what="/health to say the history is not writable")
        self.assertIn(self.path(), health["lastError"])
        self.assertIn("replaced", health["lastError"])
        self.assertEqual(len(self.said("was replaced")), 1, self.tg.stderr())
        # Taken away again: made again, with what was held all along.
        self.double.set_task("B3", status="completed")
        wait_for(lambda: len(self.history()) == 3, what="the third sample, held in the old file")
        os.rmdir(self.path())
        wait_for(lambda: self.health()["writable"], what="/health to say writable again")
        self.assertEqual(self.in_file(), 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
