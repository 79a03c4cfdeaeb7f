#!/usr/bin/env python3
"""taskgate acting on what the real Claude Code says (the pinned binary of
tests/claude/install.sh, offline against the Messages API stand-in), in
the groups of test_98_real_claude.py: one taskgate, a window per stream,
all started at once.

What a user checks:
  - Parked: three streams refused by a 429 together (the stand-in
    announces a reset 3 s ahead; an API key account's Claude Code passes
    no reset time on, so the config's usageLimitWaitMinutes says 3 s) are
    parked, never restarted, and resumed one at a time,
    usageLimitSpreadSeconds (2 s) apart: each window gets "continue",
    and the stand-in sees it as that stream's next turn;
  - Acts:
    - a status line over contextSharePercent (50 %: the stand-in reports
      600,000 input tokens of a 1,000,000 window) hands the stream off to
      a new window whose fresh Claude Code receives /continue;
    - a stream whose status line says it cost past its maxCostUsd ($1)
      is stopped when its turn ends: budget-spent, its window closed;
    - a reply from the API reaches an agent that asked a question (the
      stand-in sees it as the next turn), confirmed by its prompt;
    - a permission prompt shows the tool and its exact input, and Allow
      once lets the tool run (the file is made, the stand-in gets its
      result).
Exits 77 (skipped) as test_98 does.  maxNudges is 0 here, so each turn
ends when the agent says so.
"""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402
from test_70_sessions import skip_unless_tmux  # noqa: E402
import test_98_real_claude as t98  # noqa: E402
from test_98_real_claude import Group, WAIT  # noqa: E402


def update_config(path, recovery=None, streams=None):
    """Merges recovery into contextRecovery, and streams[id] into each
    stream of the orchestration config at path."""
    with open(path) as f:
        conf = json.load(f)
    conf.setdefault("contextRecovery", {}).update(recovery or {})
    for s in conf["streams"]:
        s.update((streams or {}).get(s["streamId"], {}))
    with open(path, "w") as f:
        json.dump(conf, f)


class Parked(Group):
    limited = ("Stream-B", "Stream-C", "Stream-D")
    plans = {sid: [{"error": "rate_limit", "retry_after": 3600, "reset_in": 3},
                   {"text": "Back at work on %s after the reset." % sid}] for sid in limited}

    @classmethod
    def configure(cls, path):
        update_config(path, {"usageLimitWaitMinutes": 0.05, "usageLimitSpreadSeconds": 2,
                             "maxNudges": 0})

    def test_limited_together_they_are_resumed_one_at_a_time(self):
        windows = {}
        for sid in self.limited:
            self.state_event(sid, "usage-limited")
            parked = self.es.wait(lambda ev: self.session_events(sid, "parked"), timeout=WAIT,
                                  what="%s parked\n%s" % (sid, self.story(sid)))[0]
            self.assertGreater(parked["data"]["resumeAtMs"], 0)
            windows[sid] = (self.window(sid), self.pid(sid))
        for sid in self.limited:
            self.es.wait(lambda ev: self.session_events(sid, "resumed"), timeout=WAIT,
                         what="%s resumed\n%s" % (sid, self.story(sid)))
        # One at a time: the resumes' audit rows are a spread apart (2 s,
        # less at most its jitter, 0.5 s, and a poll, 0.5 s).
        times = sorted(harness.iso_seconds(a["at"]) for sid in self.limited
                       for a in self.tg.get("/api/audit?streamId=" + sid,
                                            headers=self.tg.bearer()).json()["audit"]
                       if a["action"] == "resume")
        self.assertEqual(len(times), 3, times)
        self.assertGreaterEqual(min(b - a for a, b in zip(times, times[1:])), 1.0, times)
        for sid in self.limited:
            # The stand-in got "continue" as the stream's next turn, from
            # the same Claude Code: parked, never restarted into the wall.
            wait_for(lambda: len(self.api.calls(sid)) >= 2, timeout=WAIT,
                     what="%s's call after the resume\n%s" % (sid, self.story(sid)))
            # (Claude Code puts its reminders before the line itself.)
            said = self.api.calls(sid)[1].last_user_text().strip().splitlines()
            self.assertEqual(said[-1], "continue", said)
            self.assertEqual((self.window(sid), self.pid(sid)), windows[sid], sid)
            self.assertEqual(self.session_events(sid, "recovered"), [], sid)
            self.wait_turn_ended(sid)
            self.assertNotIn("parkedUntil", self.agent(sid))


class Acts(Group):
    plans = {
        # 600,000 input tokens of a 1,000,000-token window: 60 %.
        "Stream-B": [{"text": "Read the whole of Stream-B.", "input_tokens": 600000},
                     {"text": "Picked up Stream-B in a fresh context."}],
        "Stream-C": [{"tool_use": {"name": "Bash", "input": {"command": "touch x",
                                                             "description": "Create x"}},
                      "text": "I will create the file."},
                     {"text": "Created x."}],
        "Stream-D": [{"text": "Stream-D: should I use SQLite or Postgres?"},
                     {"text": "SQLite it is."}],
        # 400,000 input tokens: 40 % of the window, over a dollar.
        "Stream-Z": [{"text": "Stream-Z: an expensive read.", "input_tokens": 400000}],
    }

    @classmethod
    def configure(cls, path):
        update_config(path, {"contextSharePercent": 50, "maxNudges": 0},
                      {"Stream-Z": {"maxCostUsd": 1}})

    def test_a_full_context_hands_off_to_a_new_window(self):
        old = self.session_events("Stream-B", "started")[0]["data"]["window"]
        handed = self.es.wait(lambda ev: self.session_events("Stream-B", "handed-off"),
                              timeout=WAIT, what="the handoff\n" + self.story("Stream-B"))[0]
        self.assertEqual(handed["data"]["actor"], "taskgate")
        self.assertNotEqual(handed["data"]["window"], old)
        self.assertNotIn(old, [w for w, _ in self.project.windows()], "the old window closed")
        self.assertIn("of the context is used", self.es.wait(
            lambda ev: [e for e in ev if e["event"] == "state" and e["data"]["streamId"] == "Stream-B"
                        and e["data"]["state"] == "context-exhausted"] or None,
            timeout=WAIT, what="context-exhausted")[0]["data"]["evidence"]["reason"])
        # The fresh Claude Code got /continue: a new conversation for the
        # stream at the stand-in, and its prompt confirmed the line.
        fresh = wait_for(lambda: [r for r in self.api.calls("Stream-B")
                                  if "Read the whole of Stream-B." not in " ".join(r.texts())][1:],
                         timeout=WAIT, what="the new window's first call: %s\n%s" % (
                             [r.texts()[-1:] for r in self.api.calls("Stream-B")], self.story("Stream-B")))[0]
        self.assertIn("Continue work on stream Stream-B", " ".join(fresh.texts()))
        self.assert_claude("Stream-B")
        wait_for(lambda: self.agent("Stream-B").get("typed", {}).get("delivery") == "delivered",
                 timeout=WAIT, what="/continue delivered\n" + self.story("Stream-B"))
        audit = self.tg.get("/api/audit?streamId=Stream-B", headers=self.tg.bearer()).json()["audit"]
        self.assertIn("handoff", [a["action"] for a in audit])

    def test_a_cost_over_the_limit_stops_the_stream(self):
        spent = self.es.wait(lambda ev: self.session_events("Stream-Z", "budget-spent"),
                             timeout=WAIT, what="stopped past $1\n" + self.story("Stream-Z"))[0]["data"]
        self.assertGreaterEqual(spent["costUsd"], 1.0)
        self.assertEqual(spent["maxCostUsd"], 1)
        self.assertIsNone(self.window("Stream-Z"), "its window closed")
        wait_for(lambda: self.stream("Stream-Z")["state"]["name"] == "budget-spent", timeout=WAIT,
                 what="budget-spent\n" + self.story("Stream-Z"))
        self.assertEqual(len(self.api.calls("Stream-Z")), 1, "nothing more was spent on it")
        resp = self.post("/api/streams/Stream-Z/start?force=true")
        self.assertEqual((resp.status, resp.json()["code"]), (409, "gate-closed"), resp.body)

    def test_a_reply_reaches_an_agent_that_asked(self):
        # Its turn ended (its Stop; an idle_prompt notice may follow).
        wait_for(lambda: self.agent("Stream-D").get("state") == "idle" and self.api.calls("Stream-D"),
                 timeout=WAIT, what="Stream-D idle\n" + self.story("Stream-D"))
        resp = self.tg.request("POST", "/api/streams/Stream-D/reply", headers=dict(
            self.tg.bearer(), **{"Content-Type": "application/json"}),
            body=json.dumps({"text": "Use SQLite, please."}).encode())
        self.assertEqual(resp.status, 202, resp.body)
        call = wait_for(lambda: self.api.calls("Stream-D")[1:], timeout=WAIT,
                        what="the reply at the stand-in\n" + self.story("Stream-D"))[0]
        self.assertEqual(call.last_user_text().strip(), "Use SQLite, please.")
        wait_for(lambda: self.agent("Stream-D").get("typed", {}).get("delivery") == "delivered",
                 timeout=WAIT, what="the reply confirmed\n" + self.story("Stream-D"))

    def test_allow_once_lets_the_tool_run(self):
        self.state_event("Stream-C", "waiting-input")
        agent = wait_for(lambda: (lambda a: a if a.get("permission") else None)(self.agent("Stream-C")),
                         timeout=WAIT, what="what the prompt asks\n" + self.story("Stream-C"))
        # The overview names the tool; what it would run is read with the
        # pane's rights.
        self.assertEqual(agent["permission"], {"tool": "Bash"})
        out = self.tg.get("/api/sessions/Stream-C/output?lines=1", headers=self.tg.bearer()).json()
        self.assertEqual(out["permission"], {"tool": "Bash", "input": {"command": "touch x",
                                                                       "description": "Create x"}})
        wait_for(lambda: "Do you want to proceed?" in self.pane("Stream-C"), timeout=WAIT,
                 what="the dialog\n" + self.story("Stream-C"))
        made = os.path.join(self.project.wt("Stream-C"), "x")
        self.assertFalse(os.path.exists(made))
        # The pane must show the dialog to taskgate too (the keys go only
        # to a dialog): a poll or two.
        resp = wait_for(lambda: (lambda r: r if r.status != 409 else None)(self.tg.request(
            "POST", "/api/streams/Stream-C/reply", headers=dict(
                self.tg.bearer(), **{"Content-Type": "application/json"}),
            body=json.dumps({"answer": "allow"}).encode())), timeout=WAIT,
            what="a dialog taskgate sees\n" + self.story("Stream-C"))
        self.assertEqual(resp.status, 202, resp.body)
        wait_for(lambda: os.path.exists(made), timeout=WAIT,
                 what="the tool run\n" + self.story("Stream-C"))
        call = wait_for(lambda: self.api.calls("Stream-C")[1:], timeout=WAIT,
                        what="the tool's result at the stand-in\n" + self.story("Stream-C"))[0]
        self.assertIn("tool_result", call.raw.decode("utf-8", "replace"))
        self.wait_turn_ended("Stream-C")
        self.assertNotIn("permission", self.agent("Stream-C"))


def main():
    harness.skip_unless_binary()
    skip_unless_tmux()
    t98.BINARY = t98.install_or_skip()
    result = unittest.main(exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
