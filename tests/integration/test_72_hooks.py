#!/usr/bin/env python3
"""Agents that tell their own state: Claude Code's http hooks, posted to
taskgate by the fast fake agent (tests/agent/fake-claude speaks the same
hooks as the real one; tests/claude/ runs the real binary).

What a user checks: the window gets its settings and a secret of its own;
the typed /continue is confirmed by its UserPromptSubmit; a permission
prompt is waiting-input within a second and is never recovered, by a
click (even forced) or by --auto; a rate limit is usage-limited; a turn
that ended with work left is idle, not no-progress; the session shows
the tool a permission prompt is for and its exact input; every bad post is a
4xx and changes nothing; what the hooks said survives a kill -9; a
stream past its spending limit (maxCostUsd) is stopped when its turn ends
and stays budget-spent until the limit is raised; the status line runs
the user's own status line too and prints what it printed."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Taskgate, wait_for  # noqa: E402
from test_70_sessions import Base  # noqa: E402
from test_42_people import add as add_person, bearer  # noqa: E402


class Hooked(Base):
    """taskgate with --agent-hooks on, the fake agent in each window."""
    project_args = {"max_parallel": 5, "stall_minutes": 0.02}

    def taskgate(self, state=None):
        tg = super().taskgate(state)
        tg.args += ["--agent-hooks", "on"]
        return tg

    def agent_of(self, sid):
        for s in self.tg.get("/api/sessions").json()["sessions"]:
            if s["streamId"] == sid:
                return s.get("agent") or {}
        return {}

    def state(self, sid):
        for s in self.tg.get("/api/overview").json()["streams"]:
            if s["streamId"] == sid:
                return s["state"]
        return None

    def start(self, sid, mode=None):
        if mode:
            self.project.mode(sid, mode)
        resp = self.post("/api/streams/%s/start" % sid)
        self.assertEqual(resp.status, 201, resp.body)
        return resp.json()

    def settings(self, sid):
        path = os.path.join(self.tg.dir, "hooks", sid + ".json")
        with open(path) as f:
            return path, json.load(f)

    def secret(self, sid):
        """The secret in the window's agent's environment."""
        windows = dict((name, wid) for wid, name in self.project.windows())
        pid = self.project.tmux("display-message", "-p", "-t", windows[sid],
                                "#{pane_pid}").stdout.strip()
        with open("/proc/%s/environ" % pid, "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"TASKGATE_HOOK_SECRET="):
                    return item.split(b"=", 1)[1].decode()
        return None

    def hook(self, sid, body, secret=None, raw=None, headers=None):
        h = {"Content-Type": "application/json"}
        if secret is not None:
            h["X-Taskgate-Hook"] = secret
        h.update(headers or {})
        data = raw if raw is not None else json.dumps(body).encode()
        return self.tg.request("POST", "/api/hooks/" + sid, headers=h, body=data)


class Signals(Hooked):
    def test_the_window_gets_hooks_and_its_typed_line_is_confirmed(self):
        self.start("Stream-B")
        path, settings = self.settings("Stream-B")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        for event in ("UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest",
                      "Notification", "Stop", "StopFailure", "PreCompact", "SessionEnd"):
            h = settings["hooks"][event][0]["hooks"][0]
            self.assertEqual(h["type"], "http")
            self.assertEqual(h["url"], "http://127.0.0.1:%d/api/hooks/Stream-B" % self.tg.port)
            self.assertEqual(h["headers"], {"X-Taskgate-Hook": "$TASKGATE_HOOK_SECRET"})
            self.assertEqual(h["allowedEnvVars"], ["TASKGATE_HOOK_SECRET"])
        with open(path) as f:
            self.assertNotIn(self.tg.token, f.read())
        self.typed("Stream-B")
        agent = wait_for(lambda: (lambda a: a if a.get("typed", {}).get("delivery") == "delivered" else None)(
            self.agent_of("Stream-B")), timeout=10, what="the typed line confirmed")
        self.assertEqual(agent["lastPrompt"]["text"], "/continue Stream-B")
        self.assertTrue(agent["claudeSession"])
        # The turn ended with work left: idle (not no-progress, whatever
        # the stall timeout says).
        wait_for(lambda: self.state("Stream-B")["name"] == "idle", timeout=10, what="idle")
        self.assertEqual(self.state("Stream-B")["evidence"]["agent"], "its turn ended")
        time.sleep(2)  # far past the 1.2 s stall timeout
        self.assertEqual(self.state("Stream-B")["name"], "idle")

    def test_a_permission_prompt_is_waiting_input_and_never_killed(self):
        self.start("Stream-B", mode="ask")
        start = time.monotonic()
        self.typed("Stream-B")
        event = self.es.wait(lambda ev: [e for e in ev if e["event"] == "state"
                                         and e["data"]["streamId"] == "Stream-B"
                                         and e["data"]["state"] == "waiting-input"],
                             timeout=10, what="waiting-input")[0]
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn("permission to use Bash", event["data"]["evidence"]["reason"])
        self.assertIn("agentSince", event["data"]["evidence"])
        # The tool is for anyone who reads the overview; what it would
        # run, exactly, is for whoever may read the pane (the page shows
        # it beside Allow once), as the pane's text is.
        self.assertEqual(self.agent_of("Stream-B")["permission"], {"tool": "Bash"})
        self.assertNotIn("made", self.tg.get("/api/overview").body.decode())
        self.assertEqual(self.tg.get("/api/sessions/Stream-B/output?lines=1").status, 401)
        out = self.tg.get("/api/sessions/Stream-B/output?lines=1", headers=self.tg.bearer()).json()
        self.assertEqual(out["permission"], {
            "tool": "Bash", "input": {"command": "touch x && echo '<b>made</b>' > y", "description": "Create x"}})
        # A click, even forced, does not kill a window that waits for a person.
        for query in ("", "?force=true"):
            resp = self.post("/api/streams/Stream-B/recover" + query)
            self.assertEqual((resp.status, resp.json()["code"]), (409, "waits-for-person"), resp.body)
            self.assertIn("waits for a person", resp.json()["error"])
        gate = [s for s in self.tg.get("/api/overview").json()["streams"] if s["streamId"] == "Stream-B"][0]
        self.assertFalse(gate["gate"]["canRecover"])
        self.assertEqual(len(self.project.agent_log("Stream-B")), 2, "started once, one line typed")

    def test_a_stopped_window_waits_for_nobody(self):
        self.start("Stream-B", mode="ask")
        self.typed("Stream-B")
        wait_for(lambda: self.state("Stream-B")["name"] == "waiting-input", timeout=10, what="waiting-input")
        resp = self.post("/api/streams/Stream-B/stop")
        self.assertEqual(resp.status, 200, resp.body)
        # The window and its question are gone: the stream no longer says
        # it waits for a person, nor does its session.
        event = self.es.wait(lambda ev: [e for e in ev if e["event"] == "state"
                                         and e["data"]["streamId"] == "Stream-B"
                                         and e["data"]["previous"] == "waiting-input"],
                             timeout=5, what="Stream-B to leave waiting-input")[0]
        self.assertNotIn(event["data"]["state"], ("waiting-input", "usage-limited", "needs-login"))
        self.assertNotEqual(self.agent_of("Stream-B").get("state"), "waiting-input")

    def test_a_rate_limit_is_usage_limited(self):
        self.start("Stream-D", mode="limit")
        self.typed("Stream-D")
        wait_for(lambda: self.state("Stream-D")["name"] == "usage-limited", timeout=10, what="usage-limited")
        self.assertIn("rate limit", self.state("Stream-D")["evidence"]["reason"])
        resp = self.post("/api/streams/Stream-D/recover?force=true")
        self.assertEqual(resp.json()["code"], "waits-for-person")

    def test_a_line_that_never_arrives_is_reported(self):
        self.start("Stream-D", mode="ignore")
        self.typed("Stream-D")
        event = self.es.wait(lambda ev: self.session_events("Stream-D", "undelivered"), timeout=25,
                             what="undelivered")[0]
        self.assertEqual(event["data"]["text"], "/continue Stream-D")
        self.assertIn("Session Stream-D was not found.", event["data"]["pane"])
        self.assertEqual(self.agent_of("Stream-D")["typed"]["delivery"], "undelivered")


class Nudges(Hooked):
    def test_a_turn_that_ends_with_work_left_is_told_to_go_on(self):
        self.start("Stream-B")
        self.typed("Stream-B")
        # maxNudges is 2: two "go on" answers to its Stop, then it may stop.
        nudged = self.es.wait(lambda ev: (lambda n: n if len(n) >= 2 else None)(
            self.session_events("Stream-B", "nudged")), timeout=15, what="two nudges")
        self.assertIn("stream Stream-B is not complete", nudged[0]["data"]["reason"])
        self.assertEqual([n["data"]["inRow"] for n in nudged], [1, 2])
        wait_for(lambda: self.state("Stream-B")["name"] == "idle", timeout=10, what="idle after the nudges")
        time.sleep(1)
        self.assertEqual(len(self.session_events("Stream-B", "nudged")), 2, "at most maxNudges in a row")
        # The agent took each reason as its next instruction.
        told = [l[1] for l in self.project.agent_log("Stream-B") if l[1].startswith("nudged: ")]
        self.assertEqual(len(told), 2)
        self.assertIn("Stream-B", told[0])
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        self.assertEqual([a["action"] for a in audit].count("nudge"), 2)


class Replies(Hooked):
    def reply(self, sid, body, token=True):
        return self.post("/api/streams/%s/reply" % sid, token=token, body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})

    def test_a_reply_reaches_a_waiting_agent(self):
        self.start("Stream-B", mode="ask")
        self.typed("Stream-B")
        wait_for(lambda: self.state("Stream-B")["name"] == "waiting-input", timeout=10, what="waiting-input")
        # Bad replies change nothing.
        self.assertEqual(self.reply("Stream-B", {"text": "yes"}, token=False).status, 401)
        for bad in ({}, {"text": ""}, {"text": "a\nb"}, {"text": "\u001b[2J"}, {"answer": "maybe"},
                    {"text": "x", "answer": "allow"}, {"text": "x" * 1001}):
            resp = self.reply("Stream-B", bad)
            self.assertEqual(resp.status, 400, (bad, resp.body))
        # No dialog on a plain question: Allow once has nothing to press.
        self.assertEqual(self.reply("Stream-B", {"answer": "allow"}).json()["code"], "no-dialog")
        self.project.mode("Stream-B", "work")
        # From a terminal: taskgate reply ID TEXT...
        rc, out, err = harness.run_taskgate(
            ["reply", "--listen", "127.0.0.1:%d" % self.tg.port, "--token-file",
             os.path.join(self.tg.dir, "token"), "Stream-B", "yes,", "go", "on"])
        self.assertEqual((rc, out), (0, "replied to Stream-B (typed; its prompt will confirm it)\n"), err)
        agent = wait_for(lambda: (lambda a: a if a.get("typed", {}).get("delivery") == "delivered" else None)(
            self.agent_of("Stream-B")), timeout=10, what="the reply confirmed by its UserPromptSubmit: %r" % self.agent_of("Stream-B"))
        self.assertEqual(agent["lastPrompt"]["text"], "yes, go on")
        self.assertIn("yes, go on", [l[1] for l in self.project.agent_log("Stream-B")])
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        reply = [a for a in audit if a["action"] == "reply" and a["result"] == "done"][0]
        self.assertEqual(reply["evidence"]["text"], "yes, go on")
        self.assertEqual(self.reply("Stream-C", {"text": "hello"}).json()["code"], "not-running")


class Limits(Hooked):
    project_args = {"max_parallel": 5, "stall_minutes": 0.02}

    def setUp(self):
        super().setUp()
        # A usage limit without a reset time waits 3 s; streams parked
        # together resume 1.5 s apart.
        with open(self.project.config) as f:
            conf = json.load(f)
        conf["contextRecovery"].update({"usageLimitWaitMinutes": 0.05, "usageLimitSpreadSeconds": 1.5})
        with open(self.project.config, "w") as f:
            json.dump(conf, f)
        self.es.close()
        self.tg.close()
        self.tg = self.taskgate().start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        self.es = harness.EventStream(self.tg.port)

    def test_limited_streams_are_parked_then_resumed_one_at_a_time(self):
        for sid in ("Stream-B", "Stream-D"):
            self.start(sid, mode="limit")
            self.typed(sid)
        parked = self.es.wait(lambda ev: (lambda p: p if len(p) >= 2 else None)(
            [e for e in ev if e["event"] == "session" and e["data"]["event"] == "parked"]),
            timeout=15, what="both parked")
        self.assertIn("parkedUntil", self.agent_of("Stream-B"))
        # Never restarted into the wall: no recovery, the same windows.
        windows = self.project.windows()
        for sid in ("Stream-B", "Stream-D"):
            self.project.mode(sid, "work")
        resumed = self.es.wait(lambda ev: (lambda r: r if len(r) >= 2 else None)(
            [e for e in ev if e["event"] == "session" and e["data"]["event"] == "resumed"]),
            timeout=20, what="both resumed")
        self.assertEqual(self.project.windows(), windows)
        # One at a time: the audit says when each was resumed.
        times = sorted(harness.iso_seconds(a["at"]) for sid in ("Stream-B", "Stream-D")
                       for a in self.tg.get("/api/audit?streamId=" + sid, headers=self.tg.bearer()).json()["audit"]
                       if a["action"] == "resume")
        self.assertEqual(len(times), 2)
        self.assertGreaterEqual(times[1] - times[0], 1.4, "usageLimitSpreadSeconds apart")
        for sid in ("Stream-B", "Stream-D"):
            wait_for(lambda: "continue" in [l[1] for l in self.project.agent_log(sid)], timeout=10,
                     what="%s typed continue" % sid)
        self.assertEqual(self.session_events("Stream-B", "recovered"), [])
        self.assertNotIn("parkedUntil", self.agent_of("Stream-B"))

    def test_a_limit_that_says_its_reset_is_waited_out_to_it(self):
        # The demo's Stream-D: its status line says when the limit resets.
        self.start("Stream-B", mode="limit-for 6")
        self.typed("Stream-B")
        typed_at = time.time()
        self.es.wait(lambda ev: self.session_events("Stream-B", "parked"), timeout=10, what="parked")
        until = harness.iso_seconds(self.agent_of("Stream-B")["parkedUntil"])
        # Not usageLimitWaitMinutes (3 s): the reset it was told, 6 s.
        self.assertGreater(until - typed_at, 4.5)
        self.assertLess(until - typed_at, 8)
        text = self.tg.get("/metrics").body.decode()
        self.assertIn('taskgate_stream_resume_at_seconds{stream="Stream-B"}', text)
        self.es.wait(lambda ev: self.session_events("Stream-B", "resumed"), timeout=15, what="resumed")
        self.assertGreaterEqual(time.time(), until - 0.5)
        wait_for(lambda: "working on: continue" in self.tg.get(
            "/api/sessions/Stream-B/output?lines=20", headers=self.tg.bearer()).json()["text"],
            timeout=10, what="the agent at work again after the reset")

    def test_a_person_resumes_one_now(self):
        self.start("Stream-B", mode="limit")
        self.typed("Stream-B")
        self.es.wait(lambda ev: self.session_events("Stream-B", "parked"), timeout=15, what="parked")
        self.project.mode("Stream-B", "work")
        self.assertEqual(self.post("/api/streams/Stream-D/resume").status, 409)
        # An operator's "resume now" is theirs, not the daemon owner's.
        otto = add_person(self.tg, "otto", "operator")
        resp = self.post("/api/streams/Stream-B/resume", token=False, headers=bearer(otto))
        self.assertEqual(resp.status, 202, resp.body)
        event = self.es.wait(lambda ev: self.session_events("Stream-B", "resumed"), timeout=5, what="resumed")[0]
        self.assertEqual(event["data"]["actor"], "otto", "a person's resume names the person")
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        self.assertEqual([a["actor"] for a in audit if a["action"] == "resume"], ["otto"],
                         "audited as the person who asked")


def set_config(test, update, state=None):
    """Rewrites the project's orchestration config with update(conf), and
    starts taskgate again on it (on the same state when given)."""
    with open(test.project.config) as f:
        conf = json.load(f)
    update(conf)
    with open(test.project.config, "w") as f:
        json.dump(conf, f)
    test.es.close()
    if state:
        test.tg.stop()   # its state stays: a restart
    else:
        test.tg.close()
    test.tg = test.taskgate(state=state).start()
    wait_for(lambda: test.tg.get("/api/overview").json()["streams"], what="the first poll")
    test.es = harness.EventStream(test.tg.port, last_event_id=0 if state else None)


def stream_conf(conf, sid):
    return [s for s in conf["streams"] if s["streamId"] == sid][0]


class Spend(Hooked):
    def setUp(self):
        super().setUp()
        set_config(self, lambda conf: stream_conf(conf, "Stream-B").update({"maxCostUsd": 0.5}))

    def test_a_stream_past_its_limit_is_stopped_when_its_turn_ends(self):
        with open(os.path.join(self.project.wt("Stream-B"), ".fake-agent-cost"), "w") as f:
            f.write("0.75")
        self.start("Stream-B")
        self.typed("Stream-B")
        spent = self.es.wait(lambda ev: self.session_events("Stream-B", "budget-spent"), timeout=15,
                             what="stopped past its limit")[0]["data"]
        self.assertEqual(spent["actor"], "taskgate")
        self.assertEqual((spent["costUsd"], spent["maxCostUsd"]), (0.75, 0.5))
        # Stopped, not told to go on: its stream has work left, yet no nudge.
        self.assertEqual(self.session_events("Stream-B", "nudged"), [])
        wait_for(lambda: "Stream-B" not in [name for _, name in self.project.windows()], timeout=5,
                 what="its window closed")
        state = wait_for(lambda: (lambda st: st if st["name"] == "budget-spent" else None)(
            self.state("Stream-B")), timeout=10, what="budget-spent")
        self.assertIn("$0.75", state["evidence"]["reason"])
        session = [s for s in self.tg.get("/api/sessions").json()["sessions"] if s["streamId"] == "Stream-B"][0]
        self.assertEqual(session["agent"]["state"], "budget-spent")
        self.assertEqual((session["spentUsd"], session["maxCostUsd"]), (0.75, 0.5))
        resp = self.post("/api/streams/Stream-B/start")
        self.assertEqual((resp.status, resp.json()["code"]), (409, "gate-closed"), resp.body)
        self.assertTrue(any("maxCostUsd" in r for r in resp.json()["reasons"]), resp.body)
        text = self.tg.get("/metrics").body.decode()
        self.assertIn('\ntaskgate_stream_state{stream="Stream-B",state="budget-spent"} 1\n', text)
        self.assertIn('\ntaskgate_stream_cost_usd{stream="Stream-B"} 0.7500\n', text)
        self.assertIn('\ntaskgate_stream_max_cost_usd{stream="Stream-B"} 0.5000\n', text)
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        self.assertIn(("stop", "budget-spent"), [(a["action"], a["result"]) for a in audit])
        # A person raises the limit (a restart reads the config): it may
        # start again, and what it cost is still counted.
        os.unlink(os.path.join(self.project.wt("Stream-B"), ".fake-agent-cost"))
        set_config(self, lambda conf: stream_conf(conf, "Stream-B").update({"maxCostUsd": 5}),
                   state=self.tg.dir)
        gate = [s for s in self.tg.get("/api/overview").json()["streams"] if s["streamId"] == "Stream-B"][0]["gate"]
        self.assertTrue(gate["canStart"], gate)
        self.start("Stream-B")
        self.typed("Stream-B", 2)
        session = wait_for(lambda: (lambda s: s if s["spentUsd"] > 0.75 else None)(
            [s for s in self.tg.get("/api/sessions").json()["sessions"] if s["streamId"] == "Stream-B"][0]),
            timeout=10, what="the new agent's cost added to the old")
        self.assertLess(session["spentUsd"], 0.8)

    def test_a_limit_raised_is_read_again_on_sighup(self):
        with open(os.path.join(self.project.wt("Stream-B"), ".fake-agent-cost"), "w") as f:
            f.write("0.75")
        self.start("Stream-B")
        self.typed("Stream-B")
        self.es.wait(lambda ev: self.session_events("Stream-B", "budget-spent"), timeout=15,
                     what="stopped past its limit")
        self.assertEqual(self.post("/api/streams/Stream-B/start").status, 409)
        os.unlink(os.path.join(self.project.wt("Stream-B"), ".fake-agent-cost"))
        with open(self.project.config) as f:
            conf = json.load(f)
        stream_conf(conf, "Stream-B")["maxCostUsd"] = 5
        with open(self.project.config, "w") as f:
            json.dump(conf, f)
        pid = self.tg.proc.pid
        self.tg.proc.send_signal(signal.SIGHUP)
        gate = wait_for(lambda: (lambda g: g if g["canStart"] else None)(
            [s for s in self.tg.get("/api/overview").json()["streams"]
             if s["streamId"] == "Stream-B"][0]["gate"]), timeout=5, what="the gate open again")
        self.assertEqual(gate["reasons"], [])
        self.assertEqual(self.tg.proc.pid, pid, "the same taskgate")
        self.assertIsNone(self.tg.proc.poll())
        self.start("Stream-B")
        self.typed("Stream-B", 2)
        session = [s for s in self.tg.get("/api/sessions").json()["sessions"] if s["streamId"] == "Stream-B"][0]
        self.assertEqual(session["maxCostUsd"], 5)

    def test_the_limit_of_all_streams_stops_each(self):
        set_config(self, lambda conf: conf.update({"maxCostUsd": 0.3}))
        for sid in ("Stream-B", "Stream-D"):
            with open(os.path.join(self.project.wt(sid), ".fake-agent-cost"), "w") as f:
                f.write("0.2")
            self.start(sid)
            self.typed(sid)
        for sid in ("Stream-B", "Stream-D"):
            spent = self.es.wait(lambda ev: self.session_events(sid, "budget-spent"), timeout=15,
                                 what="%s stopped past the limit of all" % sid)[0]["data"]
            self.assertIn("all streams together have cost $0.40", spent["reason"])
        overview = self.tg.get("/api/overview").json()
        self.assertEqual(overview["spend"], {"totalUsd": 0.4, "maxCostUsd": 0.3})


class StatusLine(Hooked):
    def test_the_users_own_status_line_runs_too(self):
        self.settings_after_start("Stream-B")
        command = self.settings("Stream-B")[1]["statusLine"]["command"]
        home = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", home]))
        os.makedirs(os.path.join(home, ".claude"))
        with open(os.path.join(home, ".claude", "settings.json"), "w") as f:
            json.dump({"statusLine": {"type": "command",
                                      "command": "cat > status.json; echo 'my line'; echo 'my second line'"}}, f)
        doc = {"cwd": home, "context_window": {"used_percentage": 33}, "cost": {"total_cost_usd": 0.2}}
        env = dict(os.environ, HOME=home, TASKGATE_HOOK_SECRET=self.secret("Stream-B"))
        env.pop("CLAUDE_CONFIG_DIR", None)
        out = subprocess.run(["/bin/sh", "-c", command], input=json.dumps(doc).encode(), env=env,
                             capture_output=True, timeout=10, cwd=home)
        self.assertEqual((out.returncode, out.stdout), (0, b"my line\nmy second line\n"), out.stderr)
        with open(os.path.join(home, "status.json")) as f:
            self.assertEqual(json.load(f), doc, "the same JSON on its stdin")
        wait_for(lambda: self.agent_of("Stream-B").get("contextPercent") == 33, timeout=5,
                 what="taskgate got it too")
        # One that fails or hangs never fails the agent: taskgate's line.
        with open(os.path.join(home, ".claude", "settings.json"), "w") as f:
            json.dump({"statusLine": {"type": "command", "command": "sleep 30"}}, f)
        started = time.monotonic()
        out = subprocess.run(["/bin/sh", "-c", command], input=json.dumps(doc).encode(), env=env,
                             capture_output=True, timeout=20, cwd=home)
        self.assertEqual((out.returncode, out.stdout), (0, "taskgate · context 33% · $0.20\n".encode()))
        self.assertLess(time.monotonic() - started, 10)
        # Nor does a settings file that is no file (a FIFO nobody writes).
        os.unlink(os.path.join(home, ".claude", "settings.json"))
        os.mkfifo(os.path.join(home, ".claude", "settings.json"))
        out = subprocess.run(["/bin/sh", "-c", command], input=json.dumps(doc).encode(), env=env,
                             capture_output=True, timeout=20, cwd=home)
        self.assertEqual((out.returncode, out.stdout), (0, "taskgate · context 33% · $0.20\n".encode()))

    def test_the_status_line_feeds_context_and_cost(self):
        _, settings = self.settings_after_start("Stream-B")
        self.assertIn(" statusline http://127.0.0.1:%d/api/hooks/Stream-B/status" % self.tg.port,
                      settings["statusLine"]["command"])
        agent = wait_for(lambda: (lambda a: a if a.get("contextPercent") == 10 else None)(
            self.agent_of("Stream-B")), timeout=10, what="the status line's context share")
        self.assertAlmostEqual(agent["costUsd"], 0.01)
        self.assertEqual(agent["model"], "Fake")
        self.assertNotEqual(agent["state"], "context-exhausted")

    def test_a_full_context_is_context_exhausted(self):
        with open(os.path.join(self.project.wt("Stream-D"), ".fake-agent-context"), "w") as f:
            f.write("97")
        self.settings_after_start("Stream-D")
        wait_for(lambda: self.state("Stream-D")["name"] == "context-exhausted", timeout=10,
                 what="context-exhausted from the status line")
        self.assertIn("97 % of the context", self.state("Stream-D")["evidence"]["reason"])

    def test_a_full_context_hands_off_to_a_fresh_agent(self):
        ctx = os.path.join(self.project.wt("Stream-D"), ".fake-agent-context")
        with open(ctx, "w") as f:
            f.write("97")
        self.start("Stream-D")
        self.typed("Stream-D")
        self.double.reset_counts()
        handed = self.es.wait(lambda ev: self.session_events("Stream-D", "handed-off"), timeout=20,
                              what="the handoff")[0]
        os.unlink(ctx)   # the fresh agent's context is empty
        self.assertEqual(handed["data"]["actor"], "taskgate")
        self.typed("Stream-D", 2)
        pids = {l[0] for l in self.project.agent_log("Stream-D") if l[1:] == ["/continue Stream-D"]}
        self.assertEqual(len(pids), 2, "a fresh agent")
        posts = [e for e in self.double.requests()["log"] if e["method"] == "POST"]
        self.assertIn("/api/streams/Stream-D/checkpoint", [p["path"] for p in posts])
        session = [s for s in self.tg.get("/api/sessions").json()["sessions"] if s["streamId"] == "Stream-D"][0]
        self.assertEqual(session["recoveryAttempts"], 0, "a handoff counts against nothing")
        audit = self.tg.get("/api/audit?streamId=Stream-D", headers=self.tg.bearer()).json()["audit"]
        self.assertIn("handoff", [a["action"] for a in audit])
        time.sleep(2)
        self.assertEqual(len(self.session_events("Stream-D", "handed-off")), 1, "once per crossing")

    def test_a_status_needs_the_windows_secret(self):
        self.settings_after_start("Stream-B")
        body = json.dumps({"context_window": {"used_percentage": 99}}).encode()
        h = {"Content-Type": "application/json"}
        self.assertEqual(self.tg.request("POST", "/api/hooks/Stream-B/status", headers=h, body=body).status, 401)
        h["X-Taskgate-Hook"] = "0" * 64
        self.assertEqual(self.tg.request("POST", "/api/hooks/Stream-B/status", headers=h, body=body).status, 403)
        h["X-Taskgate-Hook"] = self.secret("Stream-B")
        self.assertEqual(self.tg.request("POST", "/api/hooks/Stream-B/status", headers=h,
                                         body=b'{"x": 1}').status, 422)

    def settings_after_start(self, sid):
        self.start(sid)
        self.typed(sid)
        return self.settings(sid)


class BadPosts(Hooked):
    def test_every_bad_post_is_refused_and_changes_nothing(self):
        self.start("Stream-B")
        self.start("Stream-D")
        self.typed("Stream-B")
        self.typed("Stream-D")
        wait_for(lambda: self.agent_of("Stream-B").get("lastEvent", {}).get("name") == "Stop", timeout=10,
                 what="Stream-B's Stop")
        secret_b, secret_c = self.secret("Stream-B"), self.secret("Stream-D")
        self.assertTrue(secret_b and secret_c and secret_b != secret_c)
        before = self.agent_of("Stream-B")
        permission = {"hook_event_name": "PermissionRequest", "session_id": "x", "tool_name": "Bash"}
        cases = [
            (None, None, 401),                      # no secret
            ("0" * 64, None, 403),                  # a wrong one
            (secret_c, None, 403),                  # another window's
            (self.tg.token, None, 403),             # the token is no hook secret
            (secret_b, b"not json", 400),
            (secret_b, b"[1, 2]", 400),
            (secret_b, json.dumps({"hook_event_name": "Bogus"}).encode(), 422),
            (secret_b, json.dumps({"session_id": "x"}).encode(), 422),
            (secret_b, json.dumps({"hook_event_name": "Stop", "pad": "x" * 70000}).encode(), 413),
        ]
        for secret, raw, status in cases:
            resp = self.hook("Stream-B", permission, secret=secret, raw=raw)
            self.assertEqual(resp.status, status, (secret and secret[:8], raw and raw[:20], resp.body))
        # The token does not open the hooks' door as a Bearer either.
        resp = self.hook("Stream-B", permission, headers=self.tg.bearer())
        self.assertEqual(resp.status, 401)
        # A stream taskgate never started has no secret at all.
        self.assertEqual(self.hook("Stream-C", permission, secret=secret_b).status, 403)
        after = self.agent_of("Stream-B")
        self.assertEqual((after["state"], after["lastEvent"]), (before["state"], before["lastEvent"]))
        # The secret opens nothing else.
        self.assertEqual(self.tg.get("/api/audit", headers={"Authorization": "Bearer " + secret_b}).status, 401)
        # The right secret is taken.
        self.assertEqual(self.hook("Stream-B", permission, secret=secret_b).status, 200)
        wait_for(lambda: self.agent_of("Stream-B")["state"] == "waiting-input", timeout=5, what="taken")

    def test_a_flood_from_one_window_starves_nobody(self):
        self.start("Stream-B")
        self.typed("Stream-B")
        secret = self.secret("Stream-B")
        body = json.dumps({"hook_event_name": "PostToolUse", "session_id": "x", "tool_name": "Read"}).encode()
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.tg.port, timeout=5)
        statuses = []
        for _ in range(400):
            conn.request("POST", "/api/hooks/Stream-B", body=body,
                         headers={"X-Taskgate-Hook": secret, "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
            if resp.status == 429:
                self.assertEqual(resp.getheader("Retry-After"), "1")
        conn.close()
        self.assertIn(429, statuses)
        self.assertGreaterEqual(statuses.count(200), 150, "a burst of tool calls fits")
        start = time.monotonic()
        self.assertEqual(self.tg.get("/api/overview").status, 200)
        self.assertLess(time.monotonic() - start, 1.0)


class Restart(Hooked):
    def test_what_the_hooks_said_survives_kill_9(self):
        self.start("Stream-B")
        self.typed("Stream-B")
        # Its turn ends after the two nudges (maxNudges): then it is still.
        self.es.wait(lambda ev: (lambda n: n if len(n) >= 2 else None)(
            self.session_events("Stream-B", "nudged")), timeout=15, what="the nudges")
        wait_for(lambda: (lambda a: a if a.get("lastEvent", {}).get("name") == "Stop" else None)(
            self.agent_of("Stream-B")), timeout=10, what="Stop")
        time.sleep(1)
        before = self.agent_of("Stream-B")
        secret = self.secret("Stream-B")
        state = self.tg.dir
        self.es.close()
        self.tg.proc.send_signal(signal.SIGKILL)
        self.tg.proc.wait()
        self.tg = self.taskgate(state=state).start()
        self.es = harness.EventStream(self.tg.port, last_event_id=0)
        after = self.agent_of("Stream-B")
        for key in ("lastEvent", "lastPrompt", "claudeSession"):
            self.assertEqual(after[key], before[key], key)
        # The adopted window still posts with its own secret.  The new
        # taskgate listens on another port; post there as its hooks would.
        resp = self.hook("Stream-B", {"hook_event_name": "PermissionRequest", "session_id": "x",
                                      "tool_name": "Edit"}, secret=secret)
        self.assertEqual(resp.status, 200, resp.body)


if __name__ == "__main__":
    unittest.main()
