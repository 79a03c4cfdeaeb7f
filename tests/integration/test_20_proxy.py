#!/usr/bin/env python3
"""The caching proxy as its users see it: one upstream request for many
clients, at most one fetch per URL per poll interval, ETag and 304, the
X-Cache and Age headers, stale answers while the upstream is down, clear
502s for an upstream that answers garbage, too much or too late, the
additions taskgate makes, and the forwarded checkpoint POST."""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, Taskgate, wait_for  # noqa: E402


def concurrent_gets(port, path, clients):
    results = [None] * clients
    barrier = threading.Barrier(clients)

    def one(i):
        barrier.wait()
        results[i] = harness.request(port, "GET", path)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class Caching(harness.DoubleTestCase):
    def start(self, poll="30", *extra):
        self.tg = Taskgate(self.double.url, args=["--poll", poll, "--upstream-timeout", "2"] + list(extra))
        return self.tg.start()

    def test_200_concurrent_clients_cost_at_most_two_fetches(self):
        tg = self.start()
        self.double.mode("slow", delayMs=300)  # keep the first fetch in flight while all arrive
        results = concurrent_gets(tg.port, "/api/streams", 200)
        self.assertEqual({r.status for r in results}, {200})
        self.assertEqual(len({r.body for r in results}), 1, "every client got the same body")
        self.assertLessEqual(self.double.count("/api/streams"), 2)
        self.assertGreaterEqual(self.double.count("/api/streams"), 1)

    def test_one_fetch_per_poll_interval(self):
        tg = self.start("1")
        first = tg.get("/api/tasks?status=pending")
        self.assertEqual(first.header("x-cache"), "MISS")
        for _ in range(20):
            again = tg.get("/api/tasks?status=pending")
            self.assertEqual(again.status, 200)
            self.assertEqual(again.header("x-cache"), "HIT")
            self.assertEqual(again.body, first.body)
        self.assertEqual(self.double.count("/api/tasks?status=pending"), 1)
        time.sleep(1.2)
        self.assertEqual(tg.get("/api/tasks?status=pending").header("x-cache"), "MISS")
        self.assertEqual(self.double.count("/api/tasks?status=pending"), 2)

    def test_etag_304_and_headers(self):
        tg = self.start()
        resp = tg.get("/api/streams/Stream-B")
        self.assertEqual(resp.status, 200)
        etag = resp.header("etag")
        self.assertTrue(etag and etag.startswith('"'), etag)
        self.assertEqual(resp.header("cache-control"), "no-cache")
        self.assertEqual(resp.header("content-type"), "application/json; charset=utf-8")
        self.assertRegex(resp.header("age"), r"^\d+$")
        not_modified = tg.get("/api/streams/Stream-B", headers={"If-None-Match": etag})
        self.assertEqual(not_modified.status, 304)
        self.assertEqual(not_modified.body, b"")
        self.assertEqual(not_modified.header("etag"), etag)
        self.assertEqual(not_modified.header("x-cache"), "HIT")
        listed = tg.get("/api/streams/Stream-B", headers={"If-None-Match": 'W/"other", ' + etag})
        self.assertEqual(listed.status, 304)
        other = tg.get("/api/streams/Stream-B", headers={"If-None-Match": '"something-else"'})
        self.assertEqual(other.status, 200)
        time.sleep(1.1)
        self.assertGreaterEqual(int(tg.get("/api/streams/Stream-B").header("age")), 1)

    def test_a_304_follows_age_x_cache_and_a_new_body(self):
        # Revalidations share one prepared 304 per body: it must still
        # say the current Age and X-Cache, and stop once the body changes.
        tg = self.start("0.5")
        etag = tg.get("/api/streams").header("etag")
        first = tg.get("/api/streams", headers={"If-None-Match": etag})
        self.assertEqual(first.status, 304)
        self.assertEqual(first.header("x-content-type-options"), "nosniff")
        self.assertEqual(first.header("cache-control"), "no-cache")
        self.assertEqual(first.header("etag"), etag)
        self.double.set_task("B2", status="completed")

        def new_etag():
            now = tg.get("/api/streams").header("etag")
            return now if now != etag else None
        changed = wait_for(new_etag, timeout=5, what="a new ETag after the task changed")
        old = tg.get("/api/streams", headers={"If-None-Match": etag})
        self.assertEqual(old.status, 200)
        self.assertIn(b'"progressPercentage":67', old.body)
        self.assertEqual(tg.get("/api/streams", headers={"If-None-Match": changed}).status, 304)
        self.double.stop()
        time.sleep(1.2)  # the poller finds the upstream gone; the body ages

        def stale_304():
            r = tg.get("/api/streams", headers={"If-None-Match": changed})
            return r if r.header("x-cache") == "STALE" else None
        stale = wait_for(stale_304, timeout=5, what="a STALE 304")
        self.assertEqual(stale.status, 304)
        self.assertEqual(stale.header("etag"), changed)
        self.assertGreaterEqual(int(stale.header("age")), 1)

    def test_head_has_the_length_and_no_body(self):
        tg = self.start()
        get = tg.get("/api/streams")
        head = tg.request("HEAD", "/api/streams")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        self.assertEqual(int(head.header("content-length")), len(get.body))

    def test_a_task_change_shows_after_the_poll_interval(self):
        tg = self.start("0.5")
        before = {s["streamId"]: s for s in tg.get("/api/streams").json()["streams"]}
        self.assertEqual(before["Stream-B"]["progressPercentage"], 33)
        self.assertEqual(before["Stream-B"]["status"], "in_progress")
        self.double.set_task("B2", status="completed")

        def stream_b():
            streams = {s["streamId"]: s for s in tg.get("/api/streams").json()["streams"]}
            return streams["Stream-B"] if streams["Stream-B"]["progressPercentage"] == 67 else None
        after = wait_for(stream_b, timeout=5, what="Stream-B at 67 %")
        self.assertEqual(after["status"], "pending")  # the upstream's rule: nothing running
        detail = tg.get("/api/streams/Stream-B").json()
        self.assertEqual((detail["totalTasks"], detail["completedTasks"], detail["inProgressTasks"],
                          detail["blockedTasks"], detail["pendingTasks"]), (3, 2, 0, 0, 1))

    def test_upstream_down_serves_stale_and_health_degrades(self):
        tg = self.start("0.2")
        fresh = tg.get("/api/streams")
        self.assertEqual(tg.get("/health").status, 200)
        self.double.stop()
        time.sleep(0.3)
        stale = tg.get("/api/streams")
        self.assertEqual(stale.status, 200)
        self.assertEqual(stale.header("x-cache"), "STALE")
        self.assertEqual(stale.body, fresh.body)
        health = tg.get("/health")
        self.assertEqual(health.status, 503)
        body = health.json()
        self.assertEqual(body["status"], "degraded")
        self.assertEqual(body["upstream"]["status"], "down")
        self.assertEqual(body["upstream"]["url"], self.double.url)
        self.assertIsNotNone(body["upstream"]["lastOk"])
        self.assertIn("cannot reach the upstream", body["upstream"]["lastError"])
        time.sleep(1)  # five more polls, all failing
        said = [l for l in tg.stderr().splitlines() if "cannot reach the upstream" in l]
        self.assertTrue(said)
        self.assertEqual(len(said), len(set(said)), "each failure is logged once, not at every poll")
        # A URL the poller never fetches: nothing stale to fall back on.
        never = tg.get("/api/tasks?streamId=Stream-B")
        self.assertEqual(never.status, 502)
        self.assertEqual(never.json()["code"], "upstream-unreachable")
        self.double.start()  # same port again
        wait_for(lambda: tg.get("/health").status == 200, timeout=5, what="/health back to 200")
        wait_for(lambda: tg.get("/api/streams").header("x-cache") in ("HIT", "MISS"),
                 timeout=5, what="a fresh body again")

    def test_garbage_huge_and_slow_upstreams_are_bad_responses(self):
        # A timeout long enough for 8 MiB to arrive under ASan and load (a
        # huge reply is cut at its size, not its time), short of "slow".
        tg = self.start("0.1", "--upstream-timeout", "2")
        self.assertEqual(tg.get("/api/streams").status, 200)
        for mode, extra, needle in [("garbage", {}, "not JSON"), ("huge", {}, "8 MiB"),
                                    ("slow", {"delayMs": 4000}, "within 2 s")]:
            self.double.mode(mode, **extra)
            time.sleep(0.15)
            resp = tg.get("/api/checkpoints?streamId=Stream-" + mode)
            self.assertEqual(resp.status, 502, mode)
            body = resp.json()
            self.assertEqual(body["code"], "upstream-bad-response", mode)
            self.assertIn(needle, body["error"], mode)
            # Garbage is not an outage: an earlier good answer is not
            # served in its place.
            listed = wait_for(lambda: (lambda r: r if r.status != 200 else None)(tg.get("/api/streams")),
                              timeout=5, what="/api/streams refetched in mode " + mode)
            self.assertEqual((listed.status, listed.json()["code"]), (502, "upstream-bad-response"), mode)
            self.assertIsNone(listed.header("x-cache"), mode)
        self.double.mode("up")
        wait_for(lambda: tg.get("/api/streams").status == 200, timeout=5, what="a good answer again")

    def test_wrong_shape_is_a_bad_response(self):
        # Before taskgate starts: its poller reads /api/streams at once.
        self.double.mode("status", status=200)  # a JSON body that is no stream list
        tg = self.start()
        resp = tg.get("/api/streams")
        self.assertEqual(resp.status, 502)
        self.assertEqual(resp.json()["code"], "upstream-bad-response")
        self.double.mode("up")

    def test_upstream_errors_pass_through(self):
        tg = self.start()
        resp = tg.get("/api/streams/Stream-X")
        self.assertEqual(resp.status, 404)
        self.assertEqual(resp.body, b'{"error":"Stream not found","streamId":"Stream-X"}')
        resp = tg.get("/api/tasks?status=pending&status=blocked")
        self.assertEqual(resp.status, 500)


class Compatibility(harness.DoubleTestCase):
    """What a real Task Copilot's clients and tests expect of taskgate in
    its place."""

    def start(self, poll="30"):
        self.tg = Taskgate(self.double.url, args=["--poll", poll, "--upstream-timeout", "2"])
        return self.tg.start()

    def test_a_trailing_slash_only_on_the_api_roots(self):
        tg = self.start()
        for path in ("/health/", "/api/streams/Stream-A/"):
            self.assertEqual(tg.get(path).status, harness.request(self.double.port, "GET", path).status, path)
            self.assertEqual(tg.get(path).status, 404, path)
        for path in ("/api/streams/", "/api/tasks/", "/health", "/api/streams"):
            self.assertEqual(tg.get(path).status, 200, path)

    def test_a_failed_url_is_fetched_again_once_the_upstream_is_back(self):
        tg = self.start("30")
        self.double.stop()
        failed = tg.get("/api/tasks?streamId=Stream-B")
        self.assertEqual(failed.status, 502)
        self.double.start()  # same port again, well within the poll
        self.assertEqual(tg.get("/health", headers={"Cache-Control": "no-cache"}).status, 200)
        again = tg.get("/api/tasks?streamId=Stream-B")
        self.assertEqual(again.status, 200, "the upstream is back and /health says so")

    def test_a_listed_blocked_stream_carries_its_task_reason(self):
        tg = self.start("0.2")
        detail = tg.get("/api/streams/Stream-D").json()
        reason = [t["blockedReason"] for t in detail["tasks"] if t["status"] == "blocked"][0]
        listed = wait_for(lambda: {s["streamId"]: s for s in tg.get("/api/streams").json()["streams"]
                                   if "blockedReason" in s}, timeout=5, what="a reason on the list")
        self.assertEqual(listed["Stream-D"]["blockedReason"], reason)
        self.assertEqual(list(listed), ["Stream-D"], "only the blocked stream has one")
        self.double.set_task("D2", status="in_progress")
        wait_for(lambda: all("blockedReason" not in s for s in tg.get("/api/streams").json()["streams"]),
                 timeout=5, what="no reason once nothing is blocked")

    def test_no_cache_and_max_age_0_fetch_through_one_flight(self):
        tg = self.start("30")
        first = tg.get("/api/tasks?status=pending")
        self.assertEqual(first.header("x-cache"), "MISS")
        self.assertEqual(tg.get("/api/tasks?status=pending").header("x-cache"), "HIT")
        self.double.set_task("B2", status="pending")
        for cc in ("no-cache", "max-age=0", "public, MAX-AGE=0", "no-store, no-cache"):
            self.double.reset_counts()
            resp = tg.get("/api/tasks?status=pending", headers={"Cache-Control": cc})
            self.assertEqual(resp.status, 200, cc)
            self.assertEqual(resp.header("x-cache"), "MISS", cc)
            self.assertEqual(self.double.count("/api/tasks?status=pending"), 1, cc)
        self.assertNotEqual(resp.body, first.body, "the fresh fetch shows the change")
        self.double.reset_counts()
        self.assertEqual(tg.get("/api/tasks?status=pending",
                                headers={"Cache-Control": "max-age=60"}).header("x-cache"), "HIT")
        # A hundred clients that all say no-cache still share fetches.
        self.double.mode("slow", delayMs=300)
        self.double.reset_counts()
        results = [None] * 100
        barrier = threading.Barrier(100)

        def one(i):
            barrier.wait()
            results[i] = harness.request(tg.port, "GET", "/api/tasks?status=pending",
                                         headers={"Cache-Control": "no-cache"})
        threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual({r.status for r in results}, {200})
        self.assertLessEqual(self.double.count("/api/tasks?status=pending"), 10)
        self.double.mode("up")


class NotTaskCopilot(unittest.TestCase):
    """An upstream that is no Task Copilot is called out, with where to look."""

    def setUp(self):
        harness.skip_unless_binary()
        import http.server

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"<!doctype html><html><body>dev server</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.tg = None

    def tearDown(self):
        if self.tg:
            self.tg.close()
        self.server.shutdown()
        self.server.server_close()

    def test_an_html_server_is_down_with_what_came_back(self):
        self.tg = Taskgate("http://127.0.0.1:%d" % self.server.server_address[1],
                           args=["--poll", "0.2"]).start()
        health = self.tg.get("/health")
        self.assertEqual(health.status, 503)
        up = health.json()["upstream"]
        self.assertEqual(up["status"], "down")
        self.assertIsNone(up["lastOk"], "an HTML page is no good answer")
        self.assertIn("HTML", up["lastError"])
        self.assertIn("--upstream", up["lastError"])
        listed = self.tg.get("/api/streams")
        self.assertEqual(listed.status, 502)
        self.assertIn("--upstream", listed.json()["error"])

    def test_an_upstream_url_with_a_path_is_refused_with_advice(self):
        port = self.server.server_address[1]
        rc, out, err = harness.run_taskgate(["serve", "--listen", "127.0.0.1:0",
                                             "--upstream", "http://127.0.0.1:%d/api" % port])
        self.assertEqual(rc, 2)
        self.assertIn("ends in /api (/api)", err)
        self.assertIn("http://127.0.0.1:PORT", err)
        self.assertNotIn("/api/api", err)


class Checkpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.double = Double().start()
        cls.tg = Taskgate(cls.double.url, args=["--poll", "60"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.tg.close()
        cls.double.close()

    def test_forwarded_with_body_and_type_but_not_the_token(self):
        before = self.tg.get("/api/checkpoints?streamId=Stream-D")
        self.assertEqual(before.status, 200)
        self.double.reset_counts()
        body = '{"reason":"stalled session"}'
        resp = self.tg.request("POST", "/api/streams/Stream-D/checkpoint", body=body,
                               headers=dict(self.tg.bearer(), **{"Content-Type": "application/json"}))
        self.assertEqual(resp.status, 201, resp.body)
        created = resp.json()
        self.assertTrue(created["checkpointId"].startswith("CP-"))
        log = [entry for entry in self.double.requests()["log"] if entry["method"] == "POST"]
        self.assertEqual(len(log), 1)
        sent = {k.lower(): v for k, v in log[0]["headers"].items()}
        self.assertNotIn("authorization", sent)
        self.assertNotIn("cookie", sent)
        self.assertEqual(sent.get("content-type"), "application/json")
        self.assertEqual(log[0].get("body"), body)
        # The write expired the cache: the next read goes upstream again.
        self.tg.get("/api/checkpoints?streamId=Stream-D")
        self.assertEqual(self.double.count("/api/checkpoints?streamId=Stream-D"), 1)

    def test_a_read_after_a_write_never_takes_an_older_fetch(self):
        # A read is in flight (slow) when a checkpoint is written through
        # taskgate; a read after the write must not share the older fetch.
        url = "/api/checkpoints?streamId=Stream-B"
        self.double.reset_counts()
        self.double.mode("slow", delayMs=2000)
        first = {}
        reader = threading.Thread(target=lambda: first.update(resp=self.tg.get(url)))
        reader.start()
        try:
            wait_for(lambda: self.double.count(url) == 1, what="the first read to reach the upstream")
        finally:
            self.double.mode("up")
        resp = self.tg.request("POST", "/api/streams/Stream-B/checkpoint", body='{"reason":"r"}',
                               headers=dict(self.tg.bearer(), **{"Content-Type": "application/json"}))
        self.assertEqual(resp.status, 201, resp.body)
        after = self.tg.get(url)
        reader.join()
        self.assertEqual(after.status, first["resp"].status)
        self.assertEqual(after.header("x-cache"), "MISS")
        # (The double's checkpoint list replays captured rows, so the
        # order of the upstream's requests is what shows it.)
        log = [(e["method"], e["path"]) for e in self.double.requests()["log"]]
        wrote = log.index(("POST", "/api/streams/Stream-B/checkpoint"))
        self.assertIn(("GET", url), log[wrote + 1:], "the read after the write was fetched after it")

    def test_upstream_refusals_pass_through(self):
        resp = self.tg.request("POST", "/api/streams/Stream-A/checkpoint", headers=self.tg.bearer())
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json(), {"error": "No in-progress task found for stream",
                                       "streamId": "Stream-A"})

    def test_without_the_token_nothing_is_forwarded(self):
        self.double.reset_counts()
        resp = self.tg.request("POST", "/api/streams/Stream-B/checkpoint", body="{}",
                               headers={"Content-Type": "application/json"})
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.json()["code"], "unauthorized")
        self.assertIn("Bearer", resp.header("www-authenticate"))
        # (The poller's GETs may come meanwhile; no POST may.)
        self.assertEqual(self.double.requests()["byMethod"].get("POST", 0), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
