#!/usr/bin/env python3
"""Drop-in compatibility: every row that a real Task Copilot server
answered (tests/fixtures/task-copilot/MANIFEST.tsv) is replayed, in
capture order, through taskgate in front of the upstream double, and the
answer must be the captured one: status, content type and body bytes.
The only differences allowed are taskgate's additions, which are checked too:
"status" at the end of each listed stream (and the "blockedReason" of a
blocked one's task after it), the five task counters at the
end of the stream detail, and taskgate's own /health.  Where taskgate
promises something else than the upstream did (405 instead of 404 for a wrong
method on a known path, the dashboard at "/"), that is asserted instead."""

import json
import os
import re
import sys
import time
import unittest
from email.utils import parsedate_to_datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, Taskgate  # noqa: E402

POLL = 0.05
PLACEHOLDERS = {"<8000 x A>": "A" * 8000, "<20000 x A>": "A" * 20000}
ROW_HEADERS = {
    "cors-origin-streams": {"Origin": "http://evil.example"},
    "conditional-gzip-streams": {"If-None-Match": '"x"', "Accept-Encoding": "gzip"},
}
LIST_STATUS = re.compile(rb'(,"progressPercentage":\d+),"status":"([a-z_]+)"'
                         rb'(?:,"blockedReason":"(?:[^"\\]|\\.)*")?\}')
DETAIL_COUNTERS = re.compile(rb',"totalTasks":(\d+),"completedTasks":(\d+),"inProgressTasks":(\d+),'
                             rb'"blockedTasks":(\d+),"pendingTasks":(\d+)\}$')


def manifest():
    with open(os.path.join(harness.FIXTURES, "MANIFEST.tsv"), encoding="utf-8") as f:
        for line in f.read().splitlines()[1:]:
            name, method, path, body, status, ctype = line.split("\t")
            for placeholder, value in PLACEHOLDERS.items():
                path = path.replace(placeholder, value)
            yield {"name": name, "method": method, "path": path,
                   "body": None if body == "-" else body, "status": int(status),
                   "content_type": None if ctype == "-" else ctype}


def fixture(name):
    with open(os.path.join(harness.FIXTURES, name + ".json"), "rb") as f:
        return f.read()


def capture_instant():
    with open(os.path.join(harness.FIXTURES, "headers", "health.txt"), encoding="latin-1") as f:
        date = [l.split(":", 1)[1].strip() for l in f if l.lower().startswith("date:")][0]
    return parsedate_to_datetime(date).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_type(row):
    if row["name"] == "checkpoint-B-empty-json-400":
        return "application/json"
    if row["body"] is None:
        return None
    return {"hello": "text/plain", "trigger=manual": "application/x-www-form-urlencoded"}.get(
        row["body"], "application/json")


def derived_status(stream):
    total, done = stream["totalTasks"], stream["completedTasks"]
    if total > 0 and done == total:
        return "completed"
    if stream["blockedTasks"] > 0:
        return "blocked"
    if stream["inProgressTasks"] > 0:
        return "in_progress"
    return "pending"


class EveryFixtureRow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.double = Double("--now", capture_instant()).start()
        # A short poll interval: each row must see the upstream's state of
        # that moment.  After the double's state moves, a row waits two
        # intervals, then asks again for a while if the answer is not yet
        # the new one: a fetch already in flight at the move (the poller's,
        # say) may still answer with the old state on a slow machine.
        cls.tg = Taskgate(cls.double.url, args=["--poll", str(POLL)]).start()

    @classmethod
    def tearDownClass(cls):
        cls.tg.close()
        cls.double.close()

    def prepare(self, row, seen):
        """Move the double's timeline as the capture order requires; true
        when it moved."""
        if row["name"].startswith("empty-"):
            self.double.control("scene", {"name": "empty"})
        elif row["method"] in ("GET", "HEAD") and (
                (row["method"], row["path"]) in seen or row["name"].startswith("progress-after-")):
            self.double.control("advance", {"to": row["name"]})
        else:
            return False
        time.sleep(2.5 * POLL)
        return True

    def send(self, row):
        headers = dict(ROW_HEADERS.get(row["name"], {}))
        ctype = request_type(row)
        if ctype:
            headers["Content-Type"] = ctype
        body = b"" if row["name"] == "checkpoint-B-empty-json-400" else row["body"]
        if row["method"] == "POST":
            headers.update(self.tg.bearer())
        return self.tg.request(row["method"], row["path"], headers=headers, body=body)

    def send_settled(self, row):
        """Sends a GET or HEAD row until its answer passes check_row, for up
        to 5 s; returns the last answer (which the caller checks)."""
        deadline = time.monotonic() + 5.0
        while True:
            resp = self.send(row)
            if time.monotonic() >= deadline:
                return resp
            try:
                self.check_row(row, resp)
                return resp
            except (AssertionError, ValueError, LookupError, TypeError):
                time.sleep(0.05)

    def check_list(self, row, resp):
        streams = json.loads(resp.body)["streams"]
        for stream in streams:
            self.assertEqual(stream["status"], derived_status(stream), stream["streamId"])
        self.assertEqual(len(LIST_STATUS.findall(resp.body)), len(streams))
        self.assertEqual(LIST_STATUS.sub(rb"\1}", resp.body), fixture(row["name"]))

    def check_detail(self, row, resp):
        match = DETAIL_COUNTERS.search(resp.body)
        self.assertIsNotNone(match, "the counters end the detail")
        tasks = json.loads(resp.body)["tasks"]
        expect = [len(tasks)] + [sum(t["status"] == s for t in tasks)
                                 for s in ("completed", "in_progress", "blocked", "pending")]
        self.assertEqual([int(g) for g in match.groups()], expect)
        self.assertEqual(DETAIL_COUNTERS.sub(b"}", resp.body), fixture(row["name"]))

    def check_row(self, row, resp):
        path = row["path"].split("?")[0].rstrip("/")
        if row["method"] in ("DELETE", "PUT", "OPTIONS") or (
                row["method"] == "POST" and path == "/api/streams"):
            # A wrong method on a known path is 405 with Allow.
            self.assertEqual(resp.status, 405)
            self.assertEqual(resp.header("allow"), "GET, HEAD")
            self.assertEqual(resp.json()["code"], "method-not-allowed")
            return
        if row["name"] == "root-404":
            # "/" is the dashboard.
            self.assertEqual(resp.status, 200)
            self.assertTrue(resp.header("content-type").startswith("text/html"))
            return
        self.assertEqual(resp.status, row["status"])
        self.assertEqual(resp.header("content-type"), row["content_type"])
        if row["name"] == "health":
            body = resp.json()
            self.assertEqual(body["status"], "ok")
            self.assertRegex(body["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertEqual(body["upstream"]["status"], "up")
            return
        if row["method"] == "HEAD":
            self.assertEqual(resp.body, b"")
            return
        if row["status"] == 200 and re.fullmatch(r"/api/streams", path):
            self.check_list(row, resp)
        elif row["status"] == 200 and re.fullmatch(r"/api/streams/[^/]+", path):
            self.check_detail(row, resp)
        else:
            self.assertEqual(resp.body, fixture(row["name"]))

    def test_every_row_in_capture_order(self):
        seen = set()
        count = 0
        moved = False  # the double's state moved since the previous row
        for row in manifest():
            with self.subTest(row=row["name"]):
                moved = self.prepare(row, seen) or moved
                if moved and row["method"] in ("GET", "HEAD"):
                    resp = self.send_settled(row)
                else:
                    resp = self.send(row)
                moved = row["method"] == "POST"  # a write moves the double's state
                self.check_row(row, resp)
                count += 1
                if row["method"] == "POST":
                    time.sleep(2.5 * POLL)
            seen.add((row["method"], row["path"]))
        self.assertGreater(count, 100)


if __name__ == "__main__":
    unittest.main(verbosity=2)
