#!/usr/bin/env python3
"""Security on a shared dev box, as an attacker would probe it: a foreign
Host (DNS rebinding), missing or wrong tokens, a cookie-signed write from
another origin, hostile stream ids, oversized bodies, and --allow-remote,
under which everything but /health needs the token.  Refused requests
must never reach the upstream."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, Taskgate  # noqa: E402

READS = ["/health", "/api/streams", "/api/streams/Stream-B", "/api/streams/Stream-B/health",
         "/api/tasks", "/api/activity", "/api/checkpoints?streamId=Stream-B", "/"]


class Loopback(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.double = Double().start()
        cls.tg = Taskgate(cls.double.url, args=["--poll", "60", "--allowed-host", "tg.internal"]).start()
        # The poller's first round fetches from the upstream too; the next
        # one is a minute away.  Counting starts once the first is done.
        harness.wait_for(lambda: cls.tg.get("/api/overview").json()["streams"], what="the first poll")

    @classmethod
    def tearDownClass(cls):
        cls.tg.close()
        cls.double.close()

    def setUp(self):
        self.double.reset_counts()

    def test_foreign_host_is_refused_everywhere(self):
        for path in READS + ["/api/streams/Stream-B/checkpoint"]:
            for host in ["evil.example", "evil.example:%d" % self.tg.port, "127.0.0.1.evil.example",
                         "localhost:80@evil", ""]:
                with self.subTest(path=path, host=host):
                    method = "POST" if path.endswith("checkpoint") else "GET"
                    resp = self.tg.request(method, path, host=host, headers=self.tg.bearer())
                    self.assertEqual(resp.status, 403)
                    self.assertEqual(resp.json()["code"], "forbidden-host")
        self.assertEqual(self.double.requests()["total"], 0)

    def test_own_names_are_accepted(self):
        for host in ["localhost", "LOCALHOST:%d" % self.tg.port, "127.0.0.1", "[::1]:%d" % self.tg.port,
                     "tg.internal", "tg.internal:8080"]:
            with self.subTest(host=host):
                self.assertEqual(self.tg.get("/api/streams", host=host).status, 200)

    def test_reads_need_no_token_on_loopback(self):
        for path in READS:
            with self.subTest(path=path):
                self.assertIn(self.tg.get(path).status, (200,))

    def test_writes_need_the_token(self):
        path = "/api/streams/Stream-B/checkpoint"
        for headers in [{}, {"Authorization": "Bearer " + "0" * 64},
                        {"Authorization": "Bearer " + self.tg.token[:-1]},
                        {"Authorization": "Bearer " + self.tg.token + "0"},
                        {"Authorization": "Basic " + self.tg.token},
                        {"Cookie": "taskgate_token=" + "f" * 64}]:
            with self.subTest(headers=headers):
                resp = self.tg.request("POST", path, headers=headers)
                self.assertEqual(resp.status, 401)
                self.assertEqual(resp.json()["code"], "unauthorized")
        self.assertEqual(self.double.requests()["total"], 0)

    def test_cookie_writes_need_a_matching_origin(self):
        cookie = {"Cookie": "theme=dark; taskgate_token=" + self.tg.token}
        host = "127.0.0.1:%d" % self.tg.port
        path = "/api/streams/Stream-B/checkpoint"
        for origin in [None, "http://evil.example", "http://localhost:1"]:
            with self.subTest(origin=origin):
                headers = dict(cookie)
                if origin:
                    headers["Origin"] = origin
                resp = self.tg.request("POST", path, headers=headers, host=host)
                self.assertEqual(resp.status, 403)
                self.assertEqual(resp.json()["code"], "forbidden-origin")
        self.assertEqual(self.double.requests()["total"], 0)
        resp = self.tg.request("POST", path, headers=dict(cookie, Origin="http://" + host), host=host)
        self.assertEqual(resp.status, 201)

    def test_sign_in_link_sets_a_strict_cookie(self):
        resp = self.tg.get("/?token=" + self.tg.token)
        self.assertEqual(resp.status, 303)
        self.assertEqual(resp.header("location"), "/")
        cookie = resp.header("set-cookie")
        self.assertIn("taskgate_token=" + self.tg.token, cookie)
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Strict", cookie)
        wrong = self.tg.get("/?token=" + "a" * 64)
        self.assertEqual(wrong.status, 401)
        self.assertIsNone(wrong.header("set-cookie"))

    def test_dashboard_has_a_strict_csp(self):
        resp = self.tg.get("/")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-security-policy"), "default-src 'self'")
        self.assertEqual(self.tg.get("/../../etc/passwd").status, 404)
        self.assertEqual(self.tg.get("/.hidden.js").status, 404)

    def test_hostile_stream_ids(self):
        for sid in ["-leading-dash", ".hidden", "a" * 65, "Stream%20B", "a;rm%20-rf", "%24(id)",
                    "%C3%A9t%C3%A9"]:
            with self.subTest(id=sid):
                resp = self.tg.get("/api/streams/%s/health" % sid)
                self.assertEqual(resp.status, 400)
                self.assertEqual(resp.json()["code"], "invalid-stream-id")
        for path in ["/api/streams/a%00b/health", "/api/streams/a%0/health", "/api/streams/a%zz"]:
            with self.subTest(path=path):
                resp = self.tg.get(path)
                self.assertEqual(resp.status, 400)
                self.assertEqual(resp.json()["code"], "bad-path")
        for path in ["/api/streams/..%2F..%2Fetc/health", "/api/streams/a/b/c"]:
            with self.subTest(path=path):
                self.assertEqual(self.tg.get(path).status, 404)
        self.assertEqual(self.double.requests()["total"], 0)

    def test_bodies_are_capped(self):
        resp = self.tg.request("POST", "/api/streams/Stream-B/checkpoint",
                               headers=dict(self.tg.bearer(), **{"Content-Type": "application/json"}),
                               body=b'{"reason":"' + b"x" * (65 * 1024) + b'"}')
        self.assertEqual(resp.status, 413)
        self.assertEqual(resp.json()["code"], "body-too-large")
        self.assertEqual(self.double.requests()["total"], 0)
        self.assertEqual(self.tg.get("/health").status, 200, "still alive")

    def test_wrong_methods_get_405_with_allow(self):
        resp = self.tg.request("DELETE", "/api/streams")
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.header("allow"), "GET, HEAD")
        resp = self.tg.request("GET", "/api/streams/Stream-B/checkpoint")
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.header("allow"), "POST")

    def test_the_token_never_reaches_the_log(self):
        self.tg.request("POST", "/api/streams/Stream-B/checkpoint", headers=self.tg.bearer())
        self.tg.get("/?token=" + self.tg.token)
        self.assertNotIn(self.tg.token, self.tg.stderr())


class AllowRemote(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.double = Double().start()
        cls.tg = Taskgate(cls.double.url, args=["--allow-remote"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.tg.close()
        cls.double.close()

    def test_everything_but_health_needs_the_token(self):
        self.assertEqual(self.tg.get("/health").status, 200)
        sign_in = self.tg.get("/?token=" + self.tg.token)
        self.assertEqual(sign_in.status, 303, "the sign-in link works without a cookie")
        cookie = sign_in.header("set-cookie").split(";")[0]
        self.assertEqual(self.tg.get("/api/streams", headers={"Cookie": cookie}).status, 200)
        self.assertEqual(self.tg.get("/?token=" + "0" * 64).status, 401)
        own = ["/api/overview", "/api/sessions", "/api/streams/Stream-B/history", "/metrics", "/api/whoami"]
        for path in READS[1:] + own + ["/api/nope", "/app.js"]:
            with self.subTest(path=path):
                self.assertEqual(self.tg.get(path).status, 401)
                self.assertIn(self.tg.get(path, headers=self.tg.bearer()).status, (200, 404))
        # The event stream too (with the token it would stream forever).
        self.assertEqual(self.tg.get("/api/events").status, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
