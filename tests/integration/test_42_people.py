#!/usr/bin/env python3
"""People on a shared box, over TCP: `taskgate user add|list|remove|link`,
each person's role enforced (a viewer reads panes but may not act, an
operator acts and is audited by name, only an admin lists people), sign-in
links that start a sign-in of their own and signing out that ends it, and
the attacks of the issue -- a viewer's action, a removed person's token
and cookie, a token of another taskgate, a name with control characters,
guessing, a forged peer over TCP -- each a 401/403 (429 for guessing)
with nothing changed: the agent's window stays and no audit row is
added.  A real tmux and the fake agent, as in test_70_sessions.py."""

import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_70_sessions as sessions  # noqa: E402
from harness import Taskgate, run_taskgate  # noqa: E402

LINK = re.compile(r"sign-in link, shown this once: http://[^/]+/\?token=([0-9a-f]{64})$", re.M)


def user(tg, *args):
    """Runs `taskgate user ...` on tg's database, as its owner; (rc, out, err)."""
    return run_taskgate(["user"] + list(args) + ["--db", os.path.join(tg.dir, "history.db"),
                                                 "--listen", "127.0.0.1:%d" % tg.port,
                                                 "--token-file", os.path.join(tg.dir, "token")])


def add(tg, name, role):
    rc, out, err = user(tg, "add", name, "--role", role)
    if rc != 0:
        raise AssertionError("user add %s: %s" % (name, err))
    return LINK.search(out).group(1)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def open_event_stream(tg, token):
    """A raw GET /api/events as the person of token, its head read."""
    sock = socket.create_connection(("127.0.0.1", tg.port), timeout=10)
    sock.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n\r\n"
                  % (tg.port, token)).encode())
    first = sock.recv(65536)
    if b"200 OK" not in first:
        raise AssertionError("the event stream did not open: %r" % first[:200])
    return sock


class RemovalWithASlowPoll(harness.DoubleTestCase):
    """A poll of 30 s: whatever ends a removed person's stream within a
    few seconds is `user remove` telling the daemon, not the poll."""

    def setUp(self):
        super().setUp()
        self.tg = Taskgate(self.double.url, args=["--poll", "30"]).start()
        harness.wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        self.vera = add(self.tg, "vera", "viewer")

    def test_removing_a_person_ends_their_event_stream_at_once(self):
        sock = open_event_stream(self.tg, self.vera)
        rc, out, err = user(self.tg, "remove", "vera")
        self.assertEqual(rc, 0, err)
        self.assertIn("ended vera's open event streams", out)
        sock.settimeout(5)  # the next poll is up to 30 s away
        try:
            rest = harness.read_to_end(sock)
        except socket.timeout:
            rest = None
        sock.close()
        self.assertIsInstance(rest, bytes, "the stream was closed at once, not at the next poll")
        self.assertEqual(self.tg.get("/api/audit", headers=bearer(self.vera)).status, 401)

    def test_a_new_link_ends_the_streams_of_the_old_token_at_once(self):
        old = open_event_stream(self.tg, self.vera)
        rc, out, err = user(self.tg, "link", "vera")
        self.assertEqual(rc, 0, err)
        self.assertIn("ended the event streams opened with vera's old token", out)
        new = open_event_stream(self.tg, LINK.search(out).group(1))
        old.settimeout(5)  # the next poll is up to 30 s away
        try:
            rest = harness.read_to_end(old)
        except socket.timeout:
            rest = None
        old.close()
        self.assertIsInstance(rest, bytes, "the old token's stream was closed at once")
        rc, out, err = user(self.tg, "link", "vera")
        self.assertEqual(rc, 0, err)
        new.settimeout(5)
        self.assertIsInstance(harness.read_to_end(new), bytes, "each new link ends the one before's streams")
        new.close()

    def test_only_an_admin_may_ask_the_daemon_to_check(self):
        ada = add(self.tg, "ada", "admin")
        self.assertEqual(self.tg.request("POST", "/api/people/check", headers=bearer(self.vera)).status, 403)
        self.assertEqual(self.tg.request("POST", "/api/people/check").status, 401)
        resp = self.tg.request("POST", "/api/people/check", headers=bearer(ada))
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json()["endedStreams"], 0, "no one was removed")

    def test_without_a_daemon_to_tell_the_removal_still_stands(self):
        self.tg.stop()
        rc, out, err = user(self.tg, "remove", "vera")
        self.assertEqual(rc, 0, err)
        self.assertIn("removed vera", out)
        self.assertIn("end at its next poll", err)
        rc, out, err = user(self.tg, "list")
        self.assertNotIn("vera", out)


class People(sessions.Base):
    project_args = {"max_parallel": 2}

    def setUp(self):
        super().setUp()
        self.vera = add(self.tg, "vera", "viewer")
        self.otto = add(self.tg, "otto", "operator")
        self.ada = add(self.tg, "ada", "admin")
        self.window = self.post("/api/streams/Stream-B/start").json()["window"]
        self.typed("Stream-B")

    def audit(self):
        return self.tg.get("/api/audit", headers=self.tg.bearer()).json()["audit"]

    def assert_nothing_changed(self, audit_before):
        self.assertIn(self.window, [w[0] for w in self.project.windows()], "the agent's window stays")
        self.assertEqual(self.audit(), audit_before, "no audit row is added")

    def sign_in(self, token):
        resp = self.tg.get("/?token=" + token)
        self.assertEqual(resp.status, 303, resp.body)
        cookie = resp.header("Set-Cookie").split(";")[0]
        self.assertNotIn(token, cookie, "a person's cookie is a sign-in of its own, not their token")
        return {"Cookie": cookie, "Origin": "http://127.0.0.1:%d" % self.tg.port}

    def test_user_list_shows_names_and_roles_never_tokens(self):
        rc, out, err = user(self.tg, "list")
        self.assertEqual(rc, 0, err)
        self.assertEqual([line.split()[:2] for line in out.splitlines()],
                         [["ada", "admin"], ["otto", "operator"], ["vera", "viewer"]])
        for token in (self.vera, self.otto, self.ada):
            self.assertNotIn(token, out)
            with open(os.path.join(self.tg.dir, "history.db"), "rb") as f:
                self.assertNotIn(token.encode(), f.read(), "only the token's hash is stored")

    def test_a_unix_login_names_one_person_at_most(self):
        rc, out, err = user(self.tg, "add", "uma", "--role", "viewer", "--unix-user", "uma")
        self.assertEqual(rc, 0, err)
        rc, out, err = user(self.tg, "add", "ulf", "--role", "admin", "--unix-user", "uma")
        self.assertNotEqual(rc, 0)
        self.assertIn("the Unix user uma already names another person", err)
        rc, out, err = user(self.tg, "list")
        self.assertNotIn("ulf", out)
        self.assertEqual(user(self.tg, "remove", "uma")[0], 0)

    def test_a_viewer_reads_panes_but_may_not_act(self):
        pane = self.tg.get("/api/sessions/Stream-B/output", headers=bearer(self.vera))
        self.assertEqual(pane.status, 200, pane.body)
        self.assertEqual(self.tg.get("/api/audit", headers=bearer(self.vera)).status, 200)
        before = self.audit()
        for path in ["/api/streams/Stream-B/stop", "/api/streams/Stream-B/recover", "/api/run",
                     "/api/streams/Stream-C/start", "/api/streams/Stream-B/checkpoint"]:
            with self.subTest(path=path):
                resp = self.post(path, token=False, headers=bearer(self.vera))
                self.assertEqual(resp.status, 403, resp.body)
                self.assertEqual(resp.json()["code"], "forbidden-role")
                self.assertIn("vera is a viewer", resp.json()["error"])
        self.assert_nothing_changed(before)
        self.assertEqual(self.double.count("/api/streams/Stream-B/checkpoint"), 0)

    def test_an_operators_stop_is_audited_and_told_as_theirs(self):
        resp = self.post("/api/streams/Stream-B/stop", token=False, headers=bearer(self.otto))
        self.assertEqual(resp.status, 200, resp.body)
        self.assertNotIn(self.window, [w[0] for w in self.project.windows()])
        row = self.audit()[0]
        self.assertEqual((row["action"], row["actor"], row["streamId"]), ("stop", "otto", "Stream-B"))
        self.es.wait(lambda ev: self.session_events("Stream-B", "stopped"), what="stopped")
        self.assertEqual(self.session_events("Stream-B", "stopped")[0]["data"]["actor"], "otto")
        # The overview and `taskgate status` say who did it last.
        streams = {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}
        self.assertEqual((streams["Stream-B"]["lastAction"]["action"], streams["Stream-B"]["lastAction"]["actor"]),
                         ("stop", "otto"))
        self.assertIsNone(streams["Stream-C"]["lastAction"])
        rc, out, err = run_taskgate(["status", "--no-color", "--listen", "127.0.0.1:%d" % self.tg.port])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"stopped by otto, \d+s ago")

    def test_only_an_admin_manages_people(self):
        listed = self.tg.get("/api/people", headers=bearer(self.ada))
        self.assertEqual(listed.status, 200, listed.body)
        self.assertEqual([(p["name"], p["role"]) for p in listed.json()["people"]],
                         [("ada", "admin"), ("otto", "operator"), ("vera", "viewer")])
        self.assertEqual(self.tg.get("/api/people", headers=bearer(self.otto)).status, 403)
        self.assertEqual(self.tg.get("/api/people").status, 401)

    def test_whoami_names_the_person_and_their_role(self):
        me = self.tg.get("/api/whoami", headers=bearer(self.vera)).json()
        self.assertEqual((me["name"], me["role"], me["mayOperate"]), ("vera", "viewer", False))
        me = self.tg.get("/api/whoami", headers=bearer(self.otto)).json()
        self.assertEqual((me["name"], me["role"], me["mayOperate"]), ("otto", "operator", True))
        anon = self.tg.get("/api/whoami").json()
        self.assertEqual((anon["signedIn"], anon["role"]), (False, "none"))

    def test_signing_out_ends_the_cookie(self):
        cookie = self.sign_in(self.vera)
        self.assertEqual(self.tg.get("/api/audit", headers=cookie).status, 200)
        out = self.tg.request("POST", "/api/signout", headers=cookie)
        self.assertEqual(out.status, 204, out.body)
        self.assertIn("Max-Age=0", out.header("Set-Cookie"))
        self.assertEqual(self.tg.get("/api/audit", headers=cookie).status, 401,
                         "a copy of the cookie opens nothing once signed out")
        self.assertEqual(self.tg.get("/api/audit", headers=bearer(self.vera)).status, 200,
                         "the person's own token still works")

    def test_a_new_link_replaces_the_old_one(self):
        rc, out, err = user(self.tg, "link", "otto")
        self.assertEqual(rc, 0, err)
        new = LINK.search(out).group(1)
        self.assertEqual(self.tg.get("/api/audit", headers=bearer(new)).status, 200)
        self.assertEqual(self.tg.get("/api/audit", headers=bearer(self.otto)).status, 401)

    def test_attacks_are_refused_and_change_nothing(self):
        cookie = self.sign_in(self.otto)
        self.assertEqual(self.tg.get("/api/audit", headers=cookie).status, 200)
        rc, out, err = user(self.tg, "remove", "otto")
        self.assertEqual(rc, 0, err)
        other = Taskgate(self.double.url).start()
        try:
            foreign = add(other, "otto", "operator")
            foreign_owner = other.token
        finally:
            other.close()
        before = self.audit()
        stop = "/api/streams/Stream-B/stop"
        cases = [
            ("a viewer POSTing an action", bearer(self.vera), 403),
            ("a removed person's token", bearer(self.otto), 401),
            ("a removed person's cookie", cookie, 401),
            ("a token for another taskgate", bearer(foreign), 401),
            ("another taskgate's owner token", bearer(foreign_owner), 401),
            ("a forged peer over TCP", {"X-Remote-User": "root", "X-Forwarded-User": "root",
                                        "Remote-User": "root"}, 401),
        ]
        for what, headers, status in cases:
            with self.subTest(what=what):
                resp = self.post(stop, token=False, headers=headers)
                self.assertEqual(resp.status, status, resp.body)
        rc, out, err = user(self.tg, "add", "eve\x1b]0;x\x07", "--role", "admin")
        self.assertEqual(rc, 2)
        self.assertIn("is not a name", err)
        self.assertNotIn("\x1b", err)
        rc, out, err = user(self.tg, "list")
        self.assertNotIn("eve", out)
        self.assert_nothing_changed(before)

    def test_guessing_is_rate_limited_per_address(self):
        before = self.audit()
        statuses = []
        for i in range(25):
            resp = self.post("/api/streams/Stream-B/stop", token=False, headers=bearer("%064x" % i))
            statuses.append(resp.status)
        self.assertEqual(statuses[:20], [401] * 20)
        self.assertEqual(statuses[-1], 429)
        retry = int(resp.header("Retry-After"))
        self.assertTrue(0 < retry <= 61, retry)
        self.assertEqual(resp.json()["code"], "too-many-attempts")
        self.assert_nothing_changed(before)
        # A guesser on loopback does not lock the team out.
        self.assertEqual(self.tg.get("/api/audit", headers=bearer(self.vera)).status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
