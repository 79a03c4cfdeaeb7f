#!/usr/bin/env python3
"""A table of malformed requests against every endpoint: very long URLs,
bad percent-encoding, NUL bytes, non-UTF-8, huge and malformed bodies,
wrong content types, repeated parameters, hostile ids, missing or wrong
tokens, a foreign Host, a cookie-signed write without its Origin.  Each
gets its documented status and a JSON error; afterwards the daemon still
answers, no window was started, no action reached the upstream and the
audit log is empty."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, Taskgate, wait_for  # noqa: E402

AGENT = os.path.join(harness.ROOT, "tests", "agent", "fake-claude")
LONG = "A" * 20000


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.tmux = tempfile.mkdtemp(prefix="tg-tmux-")
        cls.double = Double().start()
        cls.tg = Taskgate(cls.double.url, args=["--poll", "60", "--agent-command", AGENT,
                                                "--tmux-session", "tg-bad"],
                          env={"TMUX_TMPDIR": cls.tmux, "TMUX": ""}).start()
        wait_for(lambda: cls.tg.get("/api/overview").json()["streams"], what="the first poll")
        cls.double.reset_counts()

    @classmethod
    def tearDownClass(cls):
        cls.tg.close()
        cls.double.close()
        env = dict(os.environ, TMUX_TMPDIR=cls.tmux)
        env.pop("TMUX", None)
        subprocess.run(["tmux", "kill-server"], env=env, capture_output=True)
        shutil.rmtree(cls.tmux, ignore_errors=True)

    def token(self):
        return {"Authorization": "Bearer " + self.tg.token}

    def check(self, method, path, status, code=None, headers=None, body=None, host=None):
        resp = self.tg.request(method, path, headers=headers or {}, body=body, host=host)
        self.assertEqual(resp.status, status, (method, path[:80], resp.body[:200]))
        if resp.body:
            doc = json.loads(resp.body)  # every error is JSON
            self.assertIsInstance(doc, dict)
            if code is not None:
                self.assertEqual(doc.get("code"), code, doc)
        return resp

    def test_table(self):
        own_posts = ["/api/streams/Stream-B/start", "/api/streams/Stream-B/stop",
                     "/api/streams/Stream-B/recover", "/api/run"]
        reads = ["/api/streams", "/api/streams/Stream-B", "/api/streams/Stream-B/health",
                 "/api/tasks", "/api/activity", "/api/checkpoints", "/api/overview",
                 "/api/streams/Stream-B/history", "/api/sessions", "/metrics", "/health"]
        cases = []
        for path in reads + own_posts + ["/api/streams/Stream-B/checkpoint"]:
            method = "POST" if path in own_posts or path.endswith("checkpoint") else "GET"
            cases += [
                (method, path + "?x=" + LONG, {}, None, None, 431, None),
                (method, path, self.token(), None, "evil.example", 403, "forbidden-host"),
                (method, path, self.token(), None, "", 403, "forbidden-host"),
            ]
        for path in own_posts + ["/api/streams/Stream-B/checkpoint"]:
            cases += [
                ("POST", path, {}, None, None, 401, "unauthorized"),
                ("POST", path, {"Authorization": "Bearer " + "0" * 64}, None, None, 401, "unauthorized"),
                ("POST", path, {"Authorization": "Bearer"}, None, None, 401, "unauthorized"),
                ("POST", path, {"Cookie": "taskgate_token=" + self.tg.token}, None, None, 403,
                 "forbidden-origin"),
                ("POST", path, {"Cookie": "taskgate_token=" + self.tg.token, "Origin": "null"}, None, None,
                 403, "forbidden-origin"),
                ("POST", path, dict(self.token(), **{"Content-Type": "application/json"}),
                 "[" * 70000, None, 413, "body-too-large"),
            ]
        for path in own_posts[:3]:
            cases += [
                ("POST", path + "?force=true&force=false", self.token(), None, None, 400, "bad-query"),
                ("POST", path + "?dryRun=perhaps", self.token(), None, None, 400, "bad-query"),
                ("POST", path.replace("Stream-B", "..%2F..%2Fetc"), self.token(), None, None, 404, None),
                ("POST", path.replace("Stream-B", "%24%28id%29"), self.token(), None, None, 400,
                 "invalid-stream-id"),
                ("POST", path.replace("Stream-B", "a%3Brm%20-rf"), self.token(), None, None, 400,
                 "invalid-stream-id"),
                ("POST", path.replace("Stream-B", "%FF%FE"), self.token(), None, None, 400,
                 "invalid-stream-id"),
                ("POST", path.replace("Stream-B", "a%00b"), self.token(), None, None, 400, "bad-path"),
                ("POST", path.replace("Stream-B", "a%G1"), self.token(), None, None, 400, "bad-path"),
            ]
        cases += [
            ("GET", "/api/streams/Stream-B/history?limit=1&limit=2", {}, None, None, 400, "bad-query"),
            ("GET", "/api/streams/Stream-B/history?since=%FF", {}, None, None, 400, "bad-query"),
            ("GET", "/api/sessions/Stream-B/output?lines=0", self.token(), None, None, 400, "bad-query"),
            ("GET", "/api/sessions/Stream-B/output?lines=9999999999999999999", self.token(), None, None,
             400, "bad-query"),
            ("GET", "/api/audit?limit=-1", self.token(), None, None, 400, "bad-query"),
            ("GET", "/api/audit?streamId=..%2F", self.token(), None, None, 400, "bad-query"),
            ("GET", "/api/streams/%00", {}, None, None, 400, "bad-path"),
            ("GET", "/api/streams/%", {}, None, None, 400, "bad-path"),
            ("GET", "/api/run", {}, None, None, 405, "method-not-allowed"),
            ("DELETE", "/api/streams/Stream-B", self.token(), None, None, 405, "method-not-allowed"),
            ("PUT", "/api/streams/Stream-B/start", self.token(), "{}", None, 405, "method-not-allowed"),
            ("GET", "/api/streams/Stream-B/start", self.token(), None, None, 405, "method-not-allowed"),
            ("GET", "/api/nothing/here", {}, None, None, 404, None),
            ("GET", "/%2e%2e/%2e%2e/etc/passwd", {}, None, None, 404, None),
            ("GET", "/index.html%00.js", {}, None, None, 400, "bad-path"),
            ("POST", "/api/streams/Stream-B/start", dict(self.token(), **{"Content-Type": "text/html"}),
             "<script>", None, 201, None),  # a body is not read: the action runs (checked below)
        ]
        for method, path, headers, body, host, status, code in cases:
            with self.subTest(method=method, path=path[:60], host=host, headers=list(headers)):
                self.check(method, path, status, code, headers=headers, body=body, host=host)

        # Alive, and nothing but the one valid start happened.
        self.assertEqual(self.tg.get("/health").status, 200)
        posts = [e for e in self.double.requests()["log"] if e["method"] != "GET"]
        self.assertEqual(posts, [], "no write reached the upstream")
        audit = self.tg.get("/api/audit", headers=self.token()).json()["audit"]
        self.assertEqual([(a["action"], a["streamId"], a["status"]) for a in audit],
                         [("start", "Stream-B", 201)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
