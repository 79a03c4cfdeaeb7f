#!/usr/bin/env python3
"""taskgate driving agent sessions in a real tmux server on a private
socket, with a fake agent (tests/agent/fake-claude) in each window:
start types /continue, the gates refuse with reasons, dry runs show the
exact tmux argument vectors, stop and recover act on the window (recover
asks the upstream for a checkpoint first), --auto recovers a stream whose
pane says its context is exhausted until the budget is spent and then
says needs-human, a restarted taskgate adopts its windows instead of
starting twins, and every action is an event and an audit row."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, EventStream, Taskgate, wait_for  # noqa: E402

AGENT = os.path.join(harness.ROOT, "tests", "agent", "fake-claude")
STREAMS = [("Stream-A", "foundation", []), ("Stream-B", "parallel", ["Stream-A"]),
           ("Stream-C", "parallel", ["Stream-A"]), ("Stream-D", "parallel", ["Stream-A"]),
           ("Stream-Z", "integration", ["Stream-B", "Stream-C"])]


def skip_unless_tmux():
    if shutil.which("tmux") is None:
        print("tmux is not installed")
        sys.exit(77)


class Project:
    """A project root with one worktree per stream and its config."""

    def __init__(self, max_parallel=5, stall_minutes=10.0, max_recovery=3, auto_recovery=True):
        self.root = tempfile.mkdtemp(prefix="tg-project-")
        self.tmux_dir = tempfile.mkdtemp(prefix="tg-tmux-")
        self.session = "tg-test"
        streams = []
        for sid, phase, deps in STREAMS:
            os.makedirs(self.wt(sid))
            streams.append({"streamId": sid, "streamName": sid.lower(), "streamPhase": phase,
                            "dependencies": deps, "projectRoot": self.root,
                            "worktreePath": "wt/" + sid})
        self.config = os.path.join(self.root, "orchestration-config.json")
        with open(self.config, "w") as f:
            json.dump({"streams": streams, "maxParallelStreams": max_parallel,
                       "contextRecovery": {"stallTimeoutMinutes": stall_minutes,
                                           "maxRecoveryAttempts": max_recovery,
                                           "autoRecoveryEnabled": auto_recovery}}, f)

    def wt(self, sid):
        return os.path.join(self.root, "wt", sid)

    def env(self):
        return {"TMUX_TMPDIR": self.tmux_dir, "TMUX": ""}

    def tmux(self, *args):
        env = dict(os.environ, TMUX_TMPDIR=self.tmux_dir)
        env.pop("TMUX", None)
        return subprocess.run(["tmux"] + list(args), capture_output=True, text=True, env=env)

    def windows(self):
        out = self.tmux("list-windows", "-t", "=" + self.session, "-F", "#{window_id} #{window_name}")
        return [tuple(line.split(" ", 1)) for line in out.stdout.splitlines()]

    def agent_log(self, sid):
        try:
            with open(os.path.join(self.wt(sid), ".fake-agent.log")) as f:
                return [line.rstrip("\n").split(" ", 1) for line in f]
        except OSError:
            return []

    def mode(self, sid, text):
        with open(os.path.join(self.wt(sid), ".fake-agent-mode"), "w") as f:
            f.write(text)

    def close(self):
        self.tmux("kill-server")
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.tmux_dir, ignore_errors=True)


class Base(unittest.TestCase):
    project_args = {}
    auto = False
    agent = AGENT

    def setUp(self):
        harness.skip_unless_binary()
        skip_unless_tmux()
        self.project = Project(**self.project_args)
        self.double = Double().start()
        self.tg = self.taskgate().start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        self.es = EventStream(self.tg.port)

    def taskgate(self, state=None):
        args = ["--poll", "0.3", "--config", self.project.config, "--agent-command", self.agent,
                "--tmux-session", self.project.session]
        if self.auto:
            args.append("--auto")
        return Taskgate(self.double.url, args=args, env=self.project.env(), state=state)

    def tearDown(self):
        self.es.close()
        self.tg.close()
        self.double.close()
        self.project.close()

    def post(self, path, token=True, **kw):
        headers = dict(kw.pop("headers", {}))
        if token:
            headers.update(self.tg.bearer())
        return self.tg.request("POST", path, headers=headers, **kw)

    def typed(self, sid, count=1):
        return wait_for(lambda: len([l for l in self.project.agent_log(sid)
                                     if l[1:] == ["/continue " + sid]]) >= count,
                        timeout=15, what="/continue %s typed %d time(s)" % (sid, count))

    def session_events(self, sid, what):
        return [e for e in self.es.of_type("session")
                if e["data"]["streamId"] == sid and e["data"]["event"] == what]


class Control(Base):
    project_args = {"max_parallel": 1}

    def test_start_types_continue_into_a_new_window(self):
        resp = self.post("/api/streams/Stream-B/start")
        self.assertEqual(resp.status, 201, resp.body)
        body = resp.json()
        self.assertEqual(body["directory"], os.path.realpath(self.project.wt("Stream-B")))
        self.assertIn((body["window"], "Stream-B"), self.project.windows())
        self.typed("Stream-B")
        event = self.es.wait(lambda ev: self.session_events("Stream-B", "started"), what="started")[0]
        self.assertEqual(event["data"]["window"], body["window"])
        self.assertEqual(event["data"]["actor"], self.user())
        # Once /continue is typed, an event says the window is at work.
        running = self.es.wait(lambda ev: self.session_events("Stream-B", "running"), what="running")[0]
        self.assertEqual((running["data"]["window"], running["data"]["pane"]), (body["window"], body["pane"]))
        self.assertGreater(running["id"], event["id"])
        overview = {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}
        self.assertEqual(overview["Stream-B"]["session"]["phase"], "running")
        out = wait_for(lambda: (lambda r: r if "working on: /continue Stream-B" in r.json()["text"] else None)(
            self.tg.get("/api/sessions/Stream-B/output?lines=10", headers=self.tg.bearer())),
            what="the pane's text")
        self.assertNotIn("\x1b", out.json()["text"])
        sessions = self.tg.get("/api/sessions").json()["sessions"]
        self.assertEqual([s["streamId"] for s in sessions], ["Stream-B"])
        self.assertTrue(sessions[0]["live"])
        overview = {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}
        self.assertTrue(overview["Stream-B"]["session"]["live"])
        # /metrics says so too, with the whole recovery budget left.
        text = self.tg.get("/metrics").body.decode()
        self.assertIn('\ntaskgate_session_up{stream="Stream-B"} 1\n', text)
        self.assertIn('\ntaskgate_stream_recovery_attempts_left{stream="Stream-B"} %d\n'
                      % sessions[0]["maxRecoveryAttempts"], text)
        self.assertGreater(sessions[0]["maxRecoveryAttempts"], 0)

    def test_a_stream_an_agent_works_on_is_not_offered_a_second(self):
        # B2's agent (@me) takes it up again: Task Copilot's heartbeat is now.
        self.double.set_task("B2", status="pending")
        self.double.set_task("B2", status="in_progress")

        def worked_on():
            o = self.tg.get("/api/overview").json()
            b = {s["streamId"]: s for s in o["streams"]}["Stream-B"]
            return o if b["agent"] and b["agent"]["isActive"] else None
        overview = wait_for(worked_on, what="Stream-B's agent active")
        b = {s["streamId"]: s for s in overview["streams"]}["Stream-B"]
        self.assertFalse(b["gate"]["canStart"])
        self.assertTrue(b["gate"]["forceable"])
        self.assertIn("Stream-B is being worked on: agent @me is active in Task Copilot",
                      b["gate"]["reasons"])
        actions = {a["streamId"]: a for a in overview["nextActions"]}
        self.assertEqual(actions["Stream-B"]["action"], "wait")
        self.assertIn("being worked on", actions["Stream-B"]["reason"])
        refused = self.post("/api/streams/Stream-B/start")
        self.assertEqual(refused.status, 409)
        self.assertIn("Stream-B is being worked on: agent @me is active in Task Copilot",
                      refused.json()["reasons"])
        self.assertEqual(self.project.windows(), [], "no second agent")
        # A person who knows better may still start one.
        self.assertEqual(self.post("/api/streams/Stream-B/start?force=true").status, 201)
        # Stopped a moment later, the agent Task Copilot still sees at
        # work may be taskgate's own: starting it again needs no force.
        self.assertEqual(self.post("/api/streams/Stream-B/stop").status, 200)
        again = self.post("/api/streams/Stream-B/start")
        self.assertEqual(again.status, 201, again.body)

    def test_unblock_says_which_task_asks_what_and_where_to_answer(self):
        def unblock():
            acts = {a["streamId"]: a for a in self.tg.get("/api/overview").json()["nextActions"]}
            return acts["Stream-D"]
        question = "Need decision: should POST /api/streams/:id/checkpoint require auth?"
        first = unblock()
        self.assertEqual(first["action"], "unblock")
        self.assertIn('"Threat model the checkpoint endpoint": ' + question, first["reason"])
        self.assertEqual(first["task"]["blockedReason"], question)
        self.assertIn("Task Copilot", first["how"], "no agent of Stream-D to reply to yet")
        self.assertEqual(self.post("/api/streams/Stream-D/start").status, 201)
        live = wait_for(lambda: (lambda a: a if "reply box" in a.get("how", "") else None)(unblock()),
                        what="the how of a stream with a live agent")
        self.assertIn("taskgate reply Stream-D", live["how"])
        # The terminal says it too, under the action.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
        env.update(TASKGATE_LISTEN="127.0.0.1:%d" % self.tg.port,
                   TASKGATE_TOKEN_FILE=os.path.join(self.tg.dir, "token"))
        out = subprocess.run([harness.BIN, "status", "--no-color"], capture_output=True, text=True,
                             env=env, timeout=30).stdout
        lines = out.splitlines()
        at = [i for i, l in enumerate(lines) if "unblock Stream-D:" in l][0]
        self.assertIn(question, lines[at])
        self.assertIn("the reply box on its card, or taskgate reply Stream-D", lines[at + 1])

    def user(self):
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name

    def test_gates_refuse_with_reasons(self):
        resp = self.post("/api/streams/Stream-Z/start")
        self.assertEqual(resp.status, 409)
        body = resp.json()
        self.assertEqual(body["code"], "gate-closed")
        self.assertIn("Stream-B is at 33%", body["reasons"])
        self.assertTrue(any("parallel phase is not complete" in r for r in body["reasons"]), body)
        self.assertIn("Stream-A is already complete", self.post("/api/streams/Stream-A/start").json()["reasons"])
        self.assertEqual(self.post("/api/streams/Stream-B/start").status, 201)
        again = self.post("/api/streams/Stream-B/start")
        self.assertEqual(again.status, 409)
        self.assertIn("Stream-B is already running", again.json()["reasons"])
        limit = self.post("/api/streams/Stream-D/start")
        self.assertEqual(limit.status, 409)
        self.assertIn("the parallel limit is reached: 1 of 1 sessions are live", limit.json()["reasons"])
        # force opens dependencies and phase order, never the limit.
        forced = self.post("/api/streams/Stream-Z/start?force=true")
        self.assertEqual(forced.status, 409)
        self.assertEqual(forced.json()["reasons"], ["the parallel limit is reached: 1 of 1 sessions are live"])
        self.assertEqual(self.post("/api/streams/Nope/start").status, 404)
        never = self.post("/api/streams/Stream-D/recover")
        self.assertEqual((never.status, never.json()["code"]), (409, "not-running"),
                         "recover does not start a stream past its gates")
        # Once a poll has judged Stream-B's new window, it is healthy: not stuck.
        gates = {s["streamId"]: s["gate"] for s in wait_for(
            lambda: harness.judged_since_start(self.tg, "Stream-B"), what="a judgement of Stream-B's window")}
        self.assertEqual((gates["Stream-B"]["canStop"], gates["Stream-B"]["canRecover"]), (True, False))
        self.assertIn("recovery is for no-progress, context-exhausted and dead streams",
                      gates["Stream-B"]["recoverReasons"][0])
        healthy = self.post("/api/streams/Stream-B/recover")
        self.assertEqual((healthy.status, healthy.json()["code"]), (409, "not-stuck"), healthy.body)
        self.assertEqual((gates["Stream-D"]["canStop"], gates["Stream-D"]["canRecover"]), (False, False))
        self.assertEqual(gates["Stream-D"]["recoverReasons"], ["no session to recover; start it instead"])
        self.assertEqual([w[1] for w in self.project.windows()], ["Stream-B"])
        audit = self.tg.get("/api/audit?streamId=Stream-Z", headers=self.tg.bearer()).json()["audit"]
        self.assertEqual(audit[0]["result"], "refused")
        self.assertEqual(audit[0]["status"], 409)
        self.assertIn("reasons", audit[0]["evidence"])

    def test_the_page_offers_a_start_only_when_the_start_is_allowed(self):
        # A window of a stream Task Copilot does not list (made by hand, or
        # left from an older plan) is live, and counts against the limit.
        self.project.tmux("new-session", "-d", "-s", self.project.session, "-n", "Stream-Q",
                          "sleep 600")
        wait_for(lambda: [s for s in self.tg.get("/api/sessions").json()["sessions"]
                          if s["streamId"] == "Stream-Q" and s["live"]], timeout=20,
                 what="the Stream-Q window adopted")
        gate = {s["streamId"]: s["gate"] for s in self.tg.get("/api/overview").json()["streams"]}["Stream-B"]
        start = self.post("/api/streams/Stream-B/start")
        self.assertEqual((start.status, start.json()["code"]), (409, "gate-closed"), start.body)
        self.assertFalse(gate["canStart"], "the page offered a start the gates refuse")
        self.assertEqual(gate["reasons"], start.json()["reasons"])
        self.assertIn("the parallel limit is reached: 1 of 1 sessions are live", gate["reasons"])

    def test_dry_run_shows_the_tmux_argv_and_does_nothing(self):
        resp = self.post("/api/streams/Stream-B/start?dryRun=true")
        self.assertEqual(resp.status, 200)
        argv = resp.json()["argv"]
        wt = os.path.realpath(self.project.wt("Stream-B"))
        target = "=%s:" % self.project.session
        self.assertEqual(argv[0], ["tmux", "new-session", "-d", "-P", "-F", "#{window_id} #{pane_id}", "-s",
                                   self.project.session, "-n", "Stream-B", "-c", wt, "-x", "200", "-y", "50",
                                   "--", "env", "--", AGENT, ";", "set-option", "-w", "-t", target,
                                   "remain-on-exit", "on",
                                   ";", "set-hook", "-t", target, "after-new-window",
                                   "set-option -w remain-on-exit on"])
        self.assertEqual(argv[1], ["tmux", "send-keys", "-t", "{pane}", "-l", "--", "/continue Stream-B"])
        self.assertEqual(argv[2], ["tmux", "send-keys", "-t", "{pane}", "Enter"])
        self.assertEqual(len(argv), 3)
        self.assertEqual(self.project.windows(), [])
        run = self.post("/api/run?dryRun=true").json()
        self.assertEqual([s["streamId"] for s in run["started"]], ["Stream-D"][:0] + [run["started"][0]["streamId"]])
        self.assertEqual(len(run["started"]), 1, "one start within the limit of 1")
        self.assertEqual(self.project.windows(), [])

    def test_stop(self):
        window = self.post("/api/streams/Stream-B/start").json()["window"]
        self.typed("Stream-B")
        resp = self.post("/api/streams/Stream-B/stop")
        self.assertEqual(resp.status, 200)
        self.assertNotIn(window, [w[0] for w in self.project.windows()])
        self.es.wait(lambda ev: self.session_events("Stream-B", "stopped"), what="stopped")
        self.assertEqual(self.post("/api/streams/Stream-B/stop").status, 409)
        # A pane view asking now is told the session has no pane, not a 404.
        pane = self.tg.get("/api/sessions/Stream-B/output", headers=self.tg.bearer())
        self.assertEqual(pane.status, 200, pane.body)
        self.assertEqual((pane.json()["live"], pane.json()["window"], pane.json()["text"]), (False, "", ""))
        never = self.tg.get("/api/sessions/Stream-D/output", headers=self.tg.bearer())
        self.assertEqual((never.status, never.json()["code"]), (404, "not-found"), never.body)

    def test_recover_checkpoints_then_restarts(self):
        self.project.mode("Stream-B", "exhaust")
        self.post("/api/streams/Stream-B/start")
        self.typed("Stream-B")
        self.es.wait(lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == "Stream-B"
                                 and e["data"]["state"] == "context-exhausted"], timeout=20,
                     what="context-exhausted")
        self.double.reset_counts()
        resp = self.post("/api/streams/Stream-B/recover")
        self.assertEqual(resp.status, 201, resp.body)
        body = resp.json()
        self.assertEqual(body["attempt"], 1)
        self.assertEqual(body["checkpoint"]["status"], 201)
        posts = [e for e in self.double.requests()["log"] if e["method"] == "POST"]
        self.assertEqual([p["path"] for p in posts], ["/api/streams/Stream-B/checkpoint"])
        windows = self.project.windows()
        self.assertEqual(windows, [(body["window"], "Stream-B")])
        self.typed("Stream-B", 2)
        pids = {l[0] for l in self.project.agent_log("Stream-B") if l[1:] == ["/continue Stream-B"]}
        self.assertEqual(len(pids), 2, "a fresh agent process")
        event = self.es.wait(lambda ev: self.session_events("Stream-B", "recovered"), what="recovered")[0]
        self.assertEqual(event["data"]["actor"], self.user())
        self.assertEqual(event["data"]["attempt"], 1)
        # A click waits out the backoff too (2 x 10 minutes), unless forced.
        again = self.post("/api/streams/Stream-B/recover")
        self.assertEqual((again.status, again.json()["code"]), (409, "backoff"), again.body)
        self.assertGreater(again.json()["retryAfter"], 1190)
        self.assertLessEqual(again.json()["retryAfter"], 1440)
        gate = {s["streamId"]: s["gate"] for s in self.tg.get("/api/overview").json()["streams"]}["Stream-B"]
        self.assertFalse(gate["canRecover"])
        self.assertIn("the next recovery is due in", gate["recoverReasons"][0])
        forced = self.post("/api/streams/Stream-B/recover?force=true")
        self.assertEqual(forced.status, 201, forced.body)
        self.assertEqual((forced.json()["attempt"], forced.json()["forced"]), (2, "before the backoff ended"))
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        self.assertEqual([(a["action"], a["result"]) for a in audit][:3],
                         [("recover", "done"), ("recover", "refused"), ("recover", "done")])
        self.assertEqual(audit[0]["evidence"]["forced"], "before the backoff ended")
        # Progress makes the budget whole again, and ends the backoff.
        self.double.set_task("B2", status="completed")
        # (A state judged before the forced recovery's window started is the
        # old window's: Recover waits for the next judgement.)
        b = wait_for(lambda: (lambda s: s if s["session"]["recoveryAttempts"] == 0
                              and s["state"]["name"] == "context-exhausted"
                              and s["gate"]["canRecover"] else None)(
            {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}["Stream-B"]),
            timeout=20, what="the attempts reset after progress, and the agent stuck again")
        self.assertGreater(harness.iso_seconds(b["state"]["judgedAt"]),
                           harness.iso_seconds(b["session"]["startedAt"]), "judged after its window started")
        last = self.post("/api/streams/Stream-B/recover")
        self.assertEqual((last.status, last.json().get("attempt")), (201, 1), last.body)

    def test_a_recoverys_checkpoint_is_read_at_once(self):
        # A slow poll keeps every read cached: only the write may expire it.
        self.tg.close()
        self.tg = Taskgate(self.double.url, args=["--poll", "60", "--config", self.project.config,
                                                  "--agent-command", self.agent, "--tmux-session",
                                                  self.project.session], env=self.project.env()).start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        self.tg.get("/api/checkpoints?streamId=Stream-B")
        self.assertEqual(self.tg.get("/api/checkpoints?streamId=Stream-B").header("x-cache"), "HIT")
        self.assertEqual(self.post("/api/streams/Stream-B/start").status, 201)
        resp = self.post("/api/streams/Stream-B/recover?force=true")
        self.assertEqual(resp.status, 201, resp.body)
        self.assertEqual(resp.json()["checkpoint"]["status"], 201)
        self.double.reset_counts()
        after = self.tg.get("/api/checkpoints?streamId=Stream-B")
        self.assertEqual((after.status, after.header("x-cache")), (200, "MISS"))
        self.assertEqual(self.double.count("/api/checkpoints?streamId=Stream-B"), 1, "fetched after the checkpoint")

    def test_one_action_per_stream_at_a_time(self):
        import threading
        self.post("/api/streams/Stream-B/start")
        self.typed("Stream-B")
        # The checkpoint takes 5 s (the upstream timeout is 10 s): long
        # enough for the stop to land inside it on a loaded machine.
        self.double.mode("slow", delayMs=5000)
        first = {}
        worker = threading.Thread(target=lambda: first.update(
            r=self.post("/api/streams/Stream-B/recover?force=true")))
        worker.start()
        wait_for(lambda: any(e["path"] == "/api/streams/Stream-B/checkpoint"
                             for e in self.double.requests()["log"]), what="the checkpoint asked for")
        second = self.post("/api/streams/Stream-B/stop")
        worker.join()
        self.double.mode("up")
        self.assertEqual((second.status, second.json()["code"]), (409, "busy"), second.body)
        self.assertEqual(first["r"].status, 201, first["r"].body)
        self.assertEqual([w[1] for w in self.project.windows()], ["Stream-B"], "the recovery went on alone")

    def test_idempotency_key(self):
        headers = {"Idempotency-Key": "start-b-1"}
        first = self.post("/api/streams/Stream-B/start", headers=headers)
        second = self.post("/api/streams/Stream-B/start", headers=headers)
        self.assertEqual(first.status, 201)
        self.assertEqual((second.status, second.body), (first.status, first.body))
        self.assertEqual(len(self.project.windows()), 1)
        other = self.post("/api/streams/Stream-D/start", headers=headers)
        self.assertEqual(other.status, 422)

    def test_refusals_before_any_action(self):
        self.assertEqual(self.post("/api/streams/Stream-B/start", token=False).status, 401)
        self.assertEqual(self.post("/api/streams/Stream-B/start", host="evil.example").status, 403)
        self.assertEqual(self.post("/api/streams/..%2Fx/start").status, 404)
        self.assertEqual(self.post("/api/streams/-x/start").status, 400)
        self.assertEqual(self.post("/api/streams/Stream-B/start?force=maybe").status, 400)
        self.assertEqual(self.tg.get("/api/sessions/Stream-B/output").status, 401)
        self.assertEqual(self.tg.get("/api/audit").status, 401)
        self.assertEqual(self.project.windows(), [])

    def test_worktree_outside_the_project_is_422(self):
        with open(self.project.config) as f:
            conf = json.load(f)
        conf["streams"][1]["worktreePath"] = "../../etc"
        with open(self.project.config, "w") as f:
            json.dump(conf, f)
        self.tg.stop()
        self.tg.start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="a poll")
        resp = self.post("/api/streams/Stream-B/start")
        self.assertEqual(resp.status, 422)
        self.assertEqual(resp.json()["code"], "bad-worktree")
        self.assertIn("../../etc", resp.json()["path"])


class PaneStates(Base):
    def test_an_agent_that_exits_is_dead(self):
        self.project.mode("Stream-D", "exit-now 3")
        self.post("/api/streams/Stream-D/start")
        event = self.es.wait(lambda ev: self.session_events("Stream-D", "exited"), what="exited")[0]
        # tmux 3.3a sometimes never learns a dead pane's status (it then
        # stays empty); taskgate says -1 (unknown) rather than a guess.
        self.assertIn(event["data"]["exitStatus"], (3, -1))
        self.es.wait(lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == "Stream-D"
                                 and e["data"]["state"] == "dead"], what="Stream-D dead")

    def test_a_question_left_unanswered_is_waiting_input(self):
        self.project.mode("Stream-B", "ask")
        self.post("/api/streams/Stream-B/start")
        self.typed("Stream-B")
        event = self.es.wait(lambda ev: [e for e in ev if e["event"] == "state"
                                         and e["data"]["streamId"] == "Stream-B"
                                         and e["data"]["state"] == "waiting-input"], timeout=20,
                             what="waiting-input")[0]
        self.assertIn("(y/n)", event["data"]["evidence"]["reason"])


class TmuxFailingForAMoment(Base):
    """tmux not answering is no news of the windows: none is taken for
    closed, and nothing is announced.  A session that ends just before a
    new window is made in it is made again."""

    def setUp(self):
        # A tmux in front of the real one.  While the flag file "fail"
        # exists, list-windows fails (as a busy or restarting server may);
        # while "vanish" exists, the session is killed just before the
        # next command that makes a window in it.
        self.bin = tempfile.mkdtemp(prefix="tg-bin-")
        self.flag = os.path.join(self.bin, "fail")
        self.vanish = os.path.join(self.bin, "vanish")
        real = shutil.which("tmux")
        with open(os.path.join(self.bin, "tmux"), "w") as f:
            f.write('#!/bin/sh\n'
                    'if [ -e "%s" ] && [ "$1" = list-windows ]; then\n'
                    '  echo "lost server" >&2; exit 1\n'
                    'fi\n'
                    'if [ -e "%s" ] && [ "$1" = set-hook ]; then\n'
                    '  rm -f "%s"; "%s" kill-session -t "$3"\n'
                    'fi\n'
                    'exec "%s" "$@"\n' % (self.flag, self.vanish, self.vanish, real, real))
        os.chmod(os.path.join(self.bin, "tmux"), 0o755)
        super().setUp()

    def taskgate(self, state=None):
        tg = super().taskgate(state)
        tg.env["PATH"] = self.bin + os.pathsep + os.environ.get("PATH", "")
        return tg

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.bin, ignore_errors=True)

    def test_a_failed_list_closes_no_window(self):
        window = self.post("/api/streams/Stream-B/start").json()["window"]
        self.typed("Stream-B")
        open(self.flag, "w").close()
        time.sleep(2)  # several polls (0.3 s) of a tmux that fails
        os.unlink(self.flag)
        time.sleep(1)
        self.assertEqual(self.session_events("Stream-B", "exited"), [])
        self.assertEqual([e["data"]["event"] for e in self.es.of_type("session")
                          if e["data"]["streamId"] == "Stream-B"], ["started", "running"])
        b = {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}["Stream-B"]
        self.assertEqual(b["session"]["window"], window)
        self.assertTrue(b["session"]["live"])
        self.assertIn("lost server", self.tg.stderr(), "the failure is logged")

    def test_a_session_gone_in_between_is_made_again(self):
        self.assertEqual(self.post("/api/streams/Stream-B/start").status, 201)
        self.typed("Stream-B")
        open(self.vanish, "w").close()
        resp = self.post("/api/streams/Stream-D/start")
        self.assertEqual(resp.status, 201, resp.body)
        self.assertFalse(os.path.exists(self.vanish), "the session was killed in between")
        self.assertIn((resp.json()["window"], "Stream-D"), self.project.windows())
        self.typed("Stream-D")


class AnAgentThatExitsAtOnce(Base):
    """A wrong agent command: its window stays, with the exit status, so
    that a person can see what went wrong."""
    agent = "false"

    def test_its_window_stays_with_the_exit_status(self):
        for sid in ("Stream-B", "Stream-D"):  # a new tmux session, then a new window in it
            resp = self.post("/api/streams/%s/start" % sid)
            self.assertEqual(resp.status, 201, resp.body)
            window = resp.json()["window"]
            event = self.es.wait(lambda ev: self.session_events(sid, "exited"), what=sid + " exited")[0]
            self.assertIn(event["data"].get("exitStatus"), (1, -1), event["data"])
            self.assertIn(window, [w[0] for w in self.project.windows()], "the window stays")


class HumanRecovery(Base):
    """Without --auto: a run recovers what is stuck, and a spent budget
    says needs-human all the same.  A limit of one session: Stream-B's
    window (live throughout, its agent waits once exhausted) keeps the
    runs from starting Stream-D, whose own stall (6 s from its start)
    would otherwise make the second run recover it."""
    project_args = {"stall_minutes": 0.1, "max_recovery": 1, "max_parallel": 1}

    def stream_state(self, sid, name):
        return self.es.wait(lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == sid
                                        and e["data"]["state"] == name], timeout=30, what=sid + " " + name)[0]

    def test_a_run_recovers_until_the_budget_is_spent_then_needs_human(self):
        self.project.mode("Stream-B", "exhaust")
        self.assertEqual(self.post("/api/streams/Stream-B/start").status, 201)
        self.typed("Stream-B")
        self.stream_state("Stream-B", "context-exhausted")
        dry = self.post("/api/run?dryRun=true").json()
        self.assertEqual([r["streamId"] for r in dry["recovered"]], ["Stream-B"])
        self.assertEqual(len(self.session_events("Stream-B", "recovered")), 0, "a dry run does nothing")
        run = self.post("/api/run")
        self.assertEqual(run.status, 200, run.body)
        recovered = run.json()["recovered"]
        self.assertEqual([(r["streamId"], r["attempt"], r["state"]) for r in recovered],
                         [("Stream-B", 1, "context-exhausted")], run.body)
        self.assertNotIn("Stream-B", [s["streamId"] for s in run.json()["started"]])
        self.typed("Stream-B", 2)
        # The fresh agent is exhausted again, and the budget of 1 is spent.
        state = self.stream_state("Stream-B", "needs-human")
        self.assertEqual(state["data"]["evidence"]["stuck"], "context-exhausted")
        self.assertEqual(state["data"]["evidence"]["recoveryAttempts"], 1)
        again = self.post("/api/run").json()
        self.assertEqual(again["recovered"], [])
        self.assertIn({"streamId": "Stream-B", "reasons": ["the recovery budget is spent (1 of 1); it needs a human"]},
                      again["skipped"])
        self.assertEqual(len(self.session_events("Stream-B", "recovered")), 1)
        b = {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}["Stream-B"]
        # A fleet's alert on a spent budget reads it from /metrics.
        self.assertIn('\ntaskgate_stream_recovery_attempts_left{stream="Stream-B"} 0\n',
                      self.tg.get("/metrics").body.decode())
        self.assertEqual(b["state"]["name"], "needs-human")
        self.assertTrue(b["session"]["needsHuman"])
        self.assertFalse(b["gate"]["canRecover"])
        refused = self.post("/api/streams/Stream-B/recover")
        self.assertEqual((refused.status, refused.json()["code"]), (409, "budget-spent"))
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        self.assertEqual([(a["action"], a["result"], a["actor"]) for a in audit][:2],
                         [("recover", "refused", self.user()), ("recover", "done", self.user())])
        forced = self.post("/api/streams/Stream-B/recover?force=true")
        self.assertEqual((forced.status, forced.json()["forced"]), (201, "past the recovery budget"),
                         "a person may try again")

    def user(self):
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name


class StateLabels(Base):
    """A state changes only on new evidence: a stuck stream whose window is
    restarted stays stuck, with the same since, instead of reading
    "upstream says unhealthy" until its fresh stall clock runs out."""
    project_args = {"stall_minutes": 0.05, "max_recovery": 5}

    def state_of(self, sid):
        return {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}[sid]["state"]

    def test_a_restart_is_no_new_evidence(self):
        self.assertEqual(self.post("/api/streams/Stream-D/start").status, 201)
        self.typed("Stream-D")
        stuck = wait_for(lambda: (lambda st: st if st["name"] == "no-progress" else None)(self.state_of("Stream-D")),
                         timeout=20, what="Stream-D no-progress")
        wait_for(lambda: harness.judged_since_start(self.tg, "Stream-D"), what="a judgement of the window")
        mark = len(self.es.events)
        recovered = self.post("/api/streams/Stream-D/recover")
        self.assertEqual(recovered.status, 201, recovered.body)
        self.typed("Stream-D", 2)
        # The state in numbers that the poller publishes beside its view
        # (read by the sessions, the Recover button and /metrics) is the
        # label kept, not the fresh window's judgement.
        wait_for(lambda: harness.judged_since_start(self.tg, "Stream-D"), what="a judgement of the new window")
        self.assertIn('taskgate_stream_state{stream="Stream-D",state="no-progress"} 1',
                      self.tg.get("/metrics").body.decode())
        time.sleep(4)  # longer than the 3 s stall timeout the new window gets
        flips = [e["data"]["state"] for e in self.es.events[mark:]
                 if e["event"] == "state" and e["data"]["streamId"] == "Stream-D"]
        self.assertEqual(flips, [], "nothing moved, yet the label changed")
        now = self.state_of("Stream-D")
        self.assertEqual((now["name"], now["since"]), ("no-progress", stuck["since"]))
        # Progress is new evidence: the label follows it.
        self.double.set_task("D1", status="completed")
        wait_for(lambda: self.state_of("Stream-D")["name"] != "no-progress", what="a new label after progress")


class AutoRecovery(Base):
    auto = True
    # The stall timeout (6 s) is longer than an agent takes to start and
    # print its exhaustion line; it also sets the backoff: the second
    # attempt comes 12 s (up to 14.4 s with jitter) after the first.
    project_args = {"stall_minutes": 0.1, "max_recovery": 2}

    def test_exhaustion_is_recovered_until_the_budget_is_spent(self):
        self.project.mode("Stream-B", "exhaust")
        self.typed("Stream-B")  # --auto started the ready streams
        self.es.wait(lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == "Stream-B"
                                 and e["data"]["state"] == "context-exhausted"], timeout=20,
                     what="context-exhausted")
        recovered = self.es.wait(lambda ev: (lambda r: r if len(r) >= 2 else None)(
            self.session_events("Stream-B", "recovered")), timeout=40, what="two recoveries")
        self.assertEqual([(e["data"]["actor"], e["data"]["attempt"]) for e in recovered[:2]],
                         [("auto", 1), ("auto", 2)])
        # Between the two, --auto said once that it waits, and until when.
        later = self.session_events("Stream-B", "recovery-later")
        self.assertEqual([e["data"]["attempt"] for e in later], [2])
        self.assertLess(later[0]["id"], recovered[1]["id"])
        due = harness.iso_seconds(later[0]["data"]["dueAt"]) - harness.iso_seconds(
            self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"][-1]["at"])
        # dueAt counts from the 1st recovery's decision, the audit row's time
        # from its end (after the checkpoint, the kill and the relaunch): 2 x
        # the stall timeout (12 s) less that job's own time.  A backoff of
        # one stall timeout (6 s, up to 7.2 s with jitter) still fails this.
        self.assertGreaterEqual(due, 10.0, "the 2nd attempt no sooner than 2 x the stall timeout after the 1st")
        self.typed("Stream-B", 3)
        self.es.wait(lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == "Stream-B"
                                 and e["data"]["state"] == "needs-human"], timeout=30, what="needs-human")
        told = self.es.wait(lambda ev: self.session_events("Stream-B", "needs-human"), what="auto giving up")
        time.sleep(2)
        self.assertEqual(len(self.session_events("Stream-B", "recovered")), 2, "no third attempt")
        self.assertEqual(len(told), 1, "said once")
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        recoveries = [(a["actor"], a["result"]) for a in audit if a["action"] == "recover"]
        self.assertEqual(recoveries, [("auto", "needs-human"), ("auto", "done"), ("auto", "recovery-later"),
                                      ("auto", "done")])
        self.assertEqual(audit[-1]["evidence"]["state"], "context-exhausted")
        self.assertEqual(self.post("/api/streams/Stream-B/recover").status, 409)
        self.assertEqual(self.post("/api/streams/Stream-B/recover?force=true").status, 201,
                         "a human may try again")


class AutoRecoveryOff(Base):
    """--auto with autoRecoveryEnabled false starts the plan and only
    notifies: the same stall as in AutoRecovery is never recovered."""
    auto = True
    project_args = {"stall_minutes": 0.1, "max_recovery": 2, "auto_recovery": False}

    def test_a_stuck_stream_is_told_not_recovered(self):
        self.project.mode("Stream-B", "exhaust")
        self.typed("Stream-B")  # --auto still starts the ready streams
        self.es.wait(lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == "Stream-B"
                                 and e["data"]["state"] == "context-exhausted"], timeout=20,
                     what="context-exhausted")
        # AutoRecovery recovers this within a poll (0.3 s); give it 20 polls.
        time.sleep(6)
        self.assertEqual(self.session_events("Stream-B", "recovered"), [])
        self.assertEqual(len([l for l in self.project.agent_log("Stream-B") if l[1:] == ["/continue Stream-B"]]), 1)
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        self.assertEqual([a for a in audit if a["action"] == "recover"], [])
        b = {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}["Stream-B"]
        self.assertEqual(b["state"]["name"], "context-exhausted")
        self.assertTrue(b["gate"]["canRecover"], "a click still can")


class Adoption(Base):
    def test_kill_9_and_restart_adopts_without_twins(self):
        window = self.post("/api/streams/Stream-B/start").json()["window"]
        self.typed("Stream-B")
        self.tg.stop(signal.SIGKILL)
        self.tg.start()
        wait_for(lambda: [s for s in self.tg.get("/api/sessions").json()["sessions"]
                          if s["streamId"] == "Stream-B" and s["live"]], what="Stream-B adopted")
        self.assertEqual(self.tg.get("/api/sessions").json()["sessions"][0]["window"], window)
        again = self.post("/api/streams/Stream-B/start")
        self.assertEqual(again.status, 409)
        run = self.post("/api/run").json()
        self.assertNotIn("Stream-B", [s["streamId"] for s in run["started"]])
        names = [w[1] for w in self.project.windows()]
        self.assertEqual(names.count("Stream-B"), 1, names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
