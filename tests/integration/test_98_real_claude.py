#!/usr/bin/env python3
"""taskgate driving the real Claude Code (the pinned binary of
tests/claude/install.sh), offline: the agent command is a wrapper that
runs it against the Messages API stand-in (tests/claude/messages_api.py)
with a private HOME that trusts the worktrees, so Claude Code runs in
taskgate's own tmux windows and posts its hooks to taskgate.  The
stand-in answers each window by the stream its /continue names (the
worktree's .claude/commands/continue.md puts the name in the request).

What a user checks, per window, on /api/overview, /api/sessions and
/api/events (what the real binary does in each case is in
tests/claude/OBSERVED.md):
  - an answer: idle, and the typed /continue delivered; a worktree
    without the continue command: the line reported undelivered;
  - a Bash permission prompt: waiting-input within 2 s of the
    PermissionRequest, and Recover (even forced) is 409 waits-for-person;
  - a 429 (retry-after over 60 s): usage-limited;
  - prompt too long: context-exhausted;
  - 529 overloaded: api-error;
  - an API that never answers: working, and no-progress once the stall
    timeout passed;
  - the process killed with SIGKILL: dead;
  - with --auto, the permission prompt and the 429 windows are left
    alone (same windows, same processes, no recovery) while the dead one
    is recovered.
Exits 77 (skipped) when tmux is missing, or when the binary is not
there and the npm registry cannot be reached (no npm, no network).  The
windows of a group run in parallel, the groups one after the other.
"""

import json
import os
import re
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
from test_70_sessions import Project, skip_unless_tmux  # noqa: E402

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "claude"))
import rig  # noqa: E402
from messages_api import MessagesAPI  # noqa: E402

BINARY = None
CONTINUE_MD = "Continue work on stream $ARGUMENTS from its last checkpoint.\n"
WAIT = 60.0  # seconds, for a state: Claude Code starting on shared cores


class StandIn(MessagesAPI):
    """The Messages API stand-in, answering each window by its stream:
    plans maps a stream id to its steps, taken in turn, the last one
    for every call after it."""

    NAMED = re.compile(r"Continue work on stream (\S+) from its last checkpoint")

    def __init__(self, plans):
        super().__init__()
        self.plans = {sid: list(steps) for sid, steps in plans.items()}

    def stream_of(self, req):
        for text in req.texts():
            match = self.NAMED.search(text)
            if match:
                return match.group(1)
        return None

    def _next_step(self, req):
        sid = self.stream_of(req) if req.is_main else None
        with self._lock:
            steps = self.plans.get(sid)
            if not steps:
                step = self.default if req.is_main else self.side
            else:
                step = steps.pop(0) if len(steps) > 1 else steps[0]
            self.served.append((sid, step))
            return step

    def calls(self, sid):
        return [r for r in self.message_requests(main=True) if self.stream_of(r) == sid]


class Group(unittest.TestCase):
    """One taskgate (--agent-hooks on, --poll 0.5) with the real Claude
    Code in a window per stream of plans, all started at once."""
    plans = {}              # stream id -> the stand-in's steps
    without_continue = ()   # worktrees with no .claude/commands/continue.md
    forced = ("Stream-Z",)  # started past its gates
    stall_minutes = 0.05
    auto = False

    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.project = Project(max_parallel=5, stall_minutes=cls.stall_minutes)
        cls.configure(cls.project.config)
        cls.dir = tempfile.mkdtemp(prefix="tg-real-")
        home = os.path.join(cls.dir, "home")
        os.makedirs(home)
        worktrees = []
        for sid in cls.plans:
            wt = cls.project.wt(sid)
            worktrees.append(os.path.realpath(wt))
            if sid not in cls.without_continue:
                os.makedirs(os.path.join(wt, ".claude", "commands"))
                with open(os.path.join(wt, ".claude", "commands", "continue.md"), "w") as f:
                    f.write(CONTINUE_MD)
        rig.write_claude_json(home, worktrees)
        cls.api = StandIn(cls.plans).start()
        wrapper = rig.write_wrapper(os.path.join(cls.dir, "claude"), BINARY,
                                    rig.environment(home, cls.api.base_url))
        cls.double = Double().start()
        # Stream-C is complete in the captures: one task back in progress,
        # with no agent of Task Copilot's at work on it (which would close
        # its gate), gives a third parallel stream to start.
        cls.double.set_task("C3", status="in_progress", assignedAgent="")
        args = ["--poll", "0.5", "--config", cls.project.config,
                "--agent-command", wrapper + " --permission-mode default",
                "--agent-hooks", "on", "--tmux-session", cls.project.session]
        if cls.auto:
            args.append("--auto")
        cls.tg = Taskgate(cls.double.url, args=args, env=cls.project.env()).start()
        wait_for(lambda: cls.tg.get("/api/overview").json()["streams"], what="the first poll")
        cls.es = EventStream(cls.tg.port, last_event_id=0)
        cls.started = time.monotonic()
        if not cls.auto:
            for sid in cls.plans:
                resp = cls.post("/api/streams/%s/start%s" % (sid, "?force=true" if sid in cls.forced else ""))
                assert resp.status == 201, (sid, resp.status, resp.body)

    @classmethod
    def configure(cls, path):
        """Changes the project's orchestration config at path before
        taskgate reads it (a group's own settings); nothing here."""

    @classmethod
    def tearDownClass(cls):
        cls.es.close()
        cls.tg.close()
        cls.project.close()
        cls.api.stop()
        cls.double.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def post(cls, path):
        return cls.tg.request("POST", path, headers=cls.tg.bearer())

    def stream(self, sid):
        return {s["streamId"]: s for s in self.tg.get("/api/overview").json()["streams"]}[sid]

    def agent(self, sid):
        for s in self.tg.get("/api/sessions").json()["sessions"]:
            if s["streamId"] == sid:
                return s.get("agent") or {}
        return {}

    def state_event(self, sid, name, timeout=WAIT):
        """The first state event that put sid in name."""
        return self.es.wait(lambda ev: [e for e in ev if e["event"] == "state"
                                        and e["data"]["streamId"] == sid
                                        and e["data"]["state"] == name],
                            timeout=timeout, what="%s %s\n%s" % (sid, name, self.story(sid)))[0]

    def story(self, sid):
        """What happened to sid, for a failure's message: its state and
        session events, and its pane."""
        lines = ["%s %s" % (e["event"], json.dumps(e["data"])[:300]) for e in self.es.events
                 if e["event"] in ("state", "session") and (e["data"] or {}).get("streamId") == sid]
        return "\n".join(lines) + "\npane:\n" + self.pane(sid)

    def session_events(self, sid, what):
        return [e for e in self.es.of_type("session")
                if e["data"]["streamId"] == sid and e["data"]["event"] == what]

    def window(self, sid):
        return dict((name, wid) for wid, name in self.project.windows()).get(sid)

    def pid(self, sid):
        """The pid of the window's process: Claude Code itself (the
        wrapper and env exec it)."""
        out = self.project.tmux("display-message", "-p", "-t", self.window(sid), "#{pane_pid}")
        return int(out.stdout.strip())

    def pane(self, sid):
        window = self.window(sid)
        if window is None:
            return "(no window)"
        return self.project.tmux("capture-pane", "-p", "-t", window).stdout.rstrip()

    def assert_claude(self, sid):
        """The window runs the pinned Claude Code, with hooks."""
        self.assertEqual(os.path.realpath("/proc/%d/exe" % self.pid(sid)), os.path.realpath(BINARY))
        self.assertTrue(self.agent(sid).get("hooks"), "taskgate gave the window its hooks")

    def wait_turn_ended(self, sid):
        """Waits for the Stop hook of the typed line's turn (a fresh
        Claude Code at its prompt is idle before it, by its pane)."""
        return wait_for(lambda: (lambda a: a if a.get("lastEvent", {}).get("name") == "Stop"
                                 else None)(self.agent(sid)), timeout=WAIT,
                        what="%s's Stop\n%s" % (sid, self.story(sid)))

    def assert_waits_for_person(self, sid):
        for query in ("", "?force=true"):
            before = (self.stream(sid)["state"], self.agent(sid))
            resp = self.post("/api/streams/%s/recover%s" % (sid, query))
            self.assertEqual((resp.status, resp.json().get("code")), (409, "waits-for-person"),
                             "%s\n%r" % (resp.body, before))


class Answers(Group):
    plans = {
        "Stream-B": [{"text": "Picked up Stream-B from its checkpoint; more to do."}],
        "Stream-C": [{"tool_use": {"name": "Bash", "input": {"command": "touch x",
                                                             "description": "Create x"}},
                      "text": "I will create the file."}],
        "Stream-D": [{"error": "rate_limit", "retry_after": 3600}],
        "Stream-Z": [{"error": "too_long", "tokens": 212000, "limit": 200000}],
    }

    def test_an_answer_is_idle_and_the_typed_line_delivered(self):
        self.wait_turn_ended("Stream-B")
        agent = wait_for(lambda: (lambda a: a if a.get("typed", {}).get("delivery") == "delivered"
                                  else None)(self.agent("Stream-B")), what="the typed line confirmed")
        self.assertEqual(agent["lastPrompt"]["text"], "/continue Stream-B")
        self.assertTrue(agent["claudeSession"])
        self.assert_claude("Stream-B")
        # Its turn ended with work left: taskgate's Stop hook answered
        # "go on" maxNudges (2) times, and each reason reached the API.
        wait_for(lambda: len(self.api.calls("Stream-B")) >= 3, timeout=WAIT,
                 what="the two nudges' calls\n" + self.story("Stream-B"))
        time.sleep(1.5)
        calls = self.api.calls("Stream-B")
        self.assertEqual(len(calls), 3, "one turn and two nudges, no more")
        self.assertIn("stream Stream-B is not complete", calls[-1].raw.decode("utf-8", "replace"))
        # Its last turn over, it is idle, and stays so past the 3-s stall
        # timeout: an idle agent is not a stalled one.
        wait_for(lambda: self.stream("Stream-B")["state"]["name"] == "idle", timeout=WAIT,
                 what="idle after the nudges\n" + self.story("Stream-B"))
        time.sleep(3.5)
        self.assertEqual(self.stream("Stream-B")["state"]["name"], "idle")
        self.assertEqual(self.agent("Stream-B")["state"], "idle")

    def test_a_permission_prompt_is_waiting_input_at_once_and_never_killed(self):
        event = self.state_event("Stream-C", "waiting-input")
        seen = time.time()
        # The hook said it first (the dialog is drawn after it): since
        # when is the PermissionRequest's arrival.
        self.assertIn("permission to use Bash", event["data"]["evidence"]["reason"])
        since = harness.iso_seconds(event["data"]["evidence"]["agentSince"])
        self.assertLess(seen - since, 2.0, "waiting-input within 2 s of the PermissionRequest")
        self.assert_waits_for_person("Stream-C")
        self.assertFalse(self.stream("Stream-C")["gate"]["canRecover"])
        wait_for(lambda: "Do you want to proceed?" in self.pane("Stream-C"), what="the dialog")
        self.assertEqual(self.stream("Stream-C")["state"]["name"], "waiting-input")
        self.assert_claude("Stream-C")

    def test_a_rate_limit_is_usage_limited(self):
        event = self.state_event("Stream-D", "usage-limited")
        self.assertIn("rate limit", event["data"]["evidence"]["reason"])
        self.assert_waits_for_person("Stream-D")
        self.assertEqual(len(self.api.calls("Stream-D")), 1, "retry-after 3600: no retry")
        self.assertEqual(self.stream("Stream-D")["state"]["name"], "usage-limited")

    def test_a_prompt_too_long_is_context_exhausted(self):
        event = self.state_event("Stream-Z", "context-exhausted")
        self.assertIn("too long", event["data"]["evidence"]["reason"].lower())
        self.assertEqual(self.agent("Stream-Z")["lastEvent"]["name"], "StopFailure")


class Failures(Group):
    plans = {
        "Stream-B": [{"text": "never asked"}],
        "Stream-C": [{"error": "overloaded"}],
        "Stream-D": [{"hang": True}],
        "Stream-Z": [{"text": "Done for now."}],
    }
    without_continue = ("Stream-B",)

    def test_a_line_claude_code_does_not_take_is_undelivered(self):
        event = self.es.wait(lambda ev: self.session_events("Stream-B", "undelivered"), timeout=WAIT,
                             what="undelivered\n" + self.story("Stream-B"))[0]
        self.assertEqual(event["data"]["text"], "/continue Stream-B")
        self.assertTrue(event["data"]["pane"])
        self.assertIn("Session Stream-B was not found.", self.pane("Stream-B"))
        self.assertEqual(self.agent("Stream-B")["typed"]["delivery"], "undelivered")
        self.assertEqual([r for r in self.api.message_requests()
                          if any("Stream-B" in t for t in r.texts())], [], "no API call for it at all")

    def test_overloaded_is_api_error(self):
        # While it retries, its pane says so; then its StopFailure.
        self.state_event("Stream-C", "api-error")
        wait_for(lambda: self.agent("Stream-C").get("lastEvent", {}).get("name") == "StopFailure",
                 timeout=WAIT, what="Stream-C's StopFailure\n" + self.story("Stream-C"))
        state = self.stream("Stream-C")["state"]
        self.assertEqual(state["name"], "api-error")
        self.assertIn("server_error", state["evidence"]["reason"])
        self.assertEqual(len(self.api.calls("Stream-C")), 3, "three tries, then it gives up")

    def test_an_api_that_hangs_is_working_then_no_progress(self):
        wait_for(lambda: self.api.calls("Stream-D"), timeout=WAIT, what="Stream-D's call")
        agent = wait_for(lambda: (lambda a: a if a.get("typed", {}).get("delivery") == "delivered"
                                  else None)(self.agent("Stream-D")), what="the typed line confirmed")
        self.assertEqual(agent["state"], "working")
        event = self.es.wait(lambda ev: [e for e in ev if e["event"] == "state"
                                         and e["data"]["streamId"] == "Stream-D"
                                         and e["data"]["state"] == "no-progress"
                                         and self.agent("Stream-D").get("state") == "working"],
                             timeout=WAIT, what="no-progress")
        state = self.stream("Stream-D")["state"]
        self.assertEqual(state["name"], "no-progress", state)
        self.assertGreaterEqual(state["evidence"]["unchangedMinutes"], 0.05)
        self.assertEqual(self.agent("Stream-D")["state"], "working")
        self.assertTrue(event)

    def test_a_killed_agent_is_dead(self):
        self.wait_turn_ended("Stream-Z")
        self.assert_claude("Stream-Z")
        os.kill(self.pid("Stream-Z"), signal.SIGKILL)
        event = self.state_event("Stream-Z", "dead")
        self.assertTrue(event["data"]["evidence"]["reason"])
        self.es.wait(lambda ev: self.session_events("Stream-Z", "exited"), what="exited")
        self.assertEqual(self.agent("Stream-Z")["state"], "dead")


class Auto(Group):
    """--auto starts the plan's ready streams (B, C, D) itself."""
    auto = True
    stall_minutes = 10.0
    plans = {
        "Stream-B": [{"tool_use": {"name": "Bash", "input": {"command": "touch x",
                                                             "description": "Create x"}},
                      "text": "I will create the file."}],
        "Stream-C": [{"error": "rate_limit", "retry_after": 3600}],
        "Stream-D": [{"text": "Working on Stream-D."}],
    }

    def test_1_waiting_windows_are_left_alone_and_the_dead_one_restarted(self):
        self.state_event("Stream-B", "waiting-input")
        self.state_event("Stream-C", "usage-limited")
        self.wait_turn_ended("Stream-D")
        # Its turn ends after taskgate's two nudges (maxNudges): then it is
        # still, and every call it made is counted.
        wait_for(lambda: len(self.session_events("Stream-D", "nudged")) >= 2, timeout=WAIT,
                 what="Stream-D's nudges\n" + self.story("Stream-D"))
        self.wait_turn_ended("Stream-D")
        time.sleep(1)
        kept = {sid: (self.window(sid), self.pid(sid)) for sid in ("Stream-B", "Stream-C")}
        dead = (self.window("Stream-D"), self.pid("Stream-D"))
        calls = len(self.api.calls("Stream-D"))
        os.kill(dead[1], signal.SIGKILL)
        self.state_event("Stream-D", "dead")
        # --auto brings it back: a fresh Claude Code whose /continue
        # reached the stand-in (a call after the killed one's last).
        wait_for(lambda: len(self.api.calls("Stream-D")) > calls, timeout=WAIT,
                 what="Stream-D's call after the kill\n" + self.story("Stream-D"))
        self.assertNotEqual(self.pid("Stream-D"), dead[1], "a new Claude Code")
        # Several polls (0.5 s) later the waiting windows are the same
        # windows with the same Claude Code processes, never recovered.
        time.sleep(4)
        for sid, (window, pid) in kept.items():
            self.assertEqual((self.window(sid), self.pid(sid)), (window, pid), sid)
            self.assertEqual(self.session_events(sid, "recovered"), [], sid)
        self.assertEqual(self.stream("Stream-B")["state"]["name"], "waiting-input")
        self.assertEqual(self.stream("Stream-C")["state"]["name"], "usage-limited")
        Auto.dead_window = dead[0]

    def test_2_the_dead_one_is_recovered_not_started_beside_its_window(self):
        # What the README says --auto does with a dead stream: a recovery
        # (checkpoint, the old window killed, a "recovered" event, one
        # attempt of the budget), never a new start beside the dead window
        # (which it was, before: the plan saw it not live).
        wait_for(lambda: getattr(Auto, "dead_window", None), timeout=WAIT, what="test_1")
        self.assertTrue(self.session_events("Stream-D", "recovered"), self.story("Stream-D"))
        self.assertNotIn(Auto.dead_window, [w for w, name in self.project.windows()])


def install_or_skip():
    """The Claude Code binary's path; exits 77 when it cannot be had
    because the npm registry cannot be reached, 1 when it can."""
    binary = rig.install()
    if binary:
        return binary
    if shutil.which("npm") is None:
        print("skipped: npm not found, the pinned Claude Code cannot be fetched "
              "(contrib/run-tests installs Debian's npm)")
        sys.exit(77)
    try:
        ping = subprocess.run(["npm", "ping"], capture_output=True, timeout=120)
        reachable = ping.returncode == 0
    except (subprocess.SubprocessError, OSError):
        reachable = False
    if not reachable:
        print("skipped: the npm registry cannot be reached")
        sys.exit(77)
    print("tests/claude/install.sh failed although the npm registry answers")
    sys.exit(1)


def main():
    global BINARY
    harness.skip_unless_binary()
    skip_unless_tmux()
    BINARY = install_or_skip()
    result = unittest.main(exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
