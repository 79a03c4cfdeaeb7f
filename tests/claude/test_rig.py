#!/usr/bin/env python3
"""Smoke test of the Claude Code rig (tests/claude/rig.py) with the real
Claude Code binary: a prompt typed into its tmux window is answered by the
Messages API stand-in, and its http hooks reach the recorder in order,
UserPromptSubmit then Stop, each with the window's secret header.  Exits
77 (skipped) when the binary cannot be installed (tests/claude/install.sh
needs the npm registry the first time).  Not part of `make check`: it
needs a 186 MB download.

    python3 tests/claude/test_rig.py
"""

import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402

BINARY = None


class RigTest(unittest.TestCase):
    def setUp(self):
        self.rig = rig.Rig(BINARY)
        self.addCleanup(self.rig.close)

    def test_prompt_answered_then_idle(self):
        api, rec = self.rig.api, self.rig.recorder
        api.script([{"text": "Hello from the stand-in."}])
        win = self.rig.start("smoke")
        win.ready(timeout=60)
        win.type_line("Say hello to taskgate")
        # Wait for the Stop whatever its secret, so that a missing or wrong
        # secret header fails the assertions below, not a timeout.
        rig.wait_for(lambda: "Stop" in rec.events(), timeout=60, what="the Stop hook")

        hooks = rec.hooks()
        self.assertEqual([p.secret for p in hooks], [win.secret] * len(hooks),
                         "every hook carries the window's X-Taskgate-Secret")
        events = [p.event for p in hooks if p.event in ("UserPromptSubmit", "Stop")]
        self.assertEqual(events[:2], ["UserPromptSubmit", "Stop"])
        submit = next(p for p in hooks if p.event == "UserPromptSubmit")
        stop = next(p for p in hooks if p.event == "Stop")
        self.assertEqual(submit.body["prompt"], "Say hello to taskgate")
        self.assertEqual(stop.body["last_assistant_message"], "Hello from the stand-in.")
        self.assertEqual(submit.body["session_id"], stop.body["session_id"])

        mains = api.message_requests(main=True)
        self.assertTrue(mains, api.paths())
        self.assertIn("Say hello to taskgate", mains[0].last_user_text())
        win.wait_pane("Hello from the stand-in.")


def main():
    global BINARY
    if shutil.which("tmux") is None:
        print("tmux is not installed")
        return 77
    BINARY = rig.install()
    if not BINARY:
        print("Claude Code could not be installed (tests/claude/install.sh)")
        return 77
    result = unittest.main(exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
