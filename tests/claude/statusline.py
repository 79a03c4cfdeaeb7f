#!/usr/bin/env python3
"""Status line command of the Claude Code rig (tests/claude/rig.py).

Claude Code runs it with the status JSON on stdin.  It forwards that JSON
unchanged to the URL given as its only argument (a POST with the secret of
$TASKGATE_HOOK_SECRET in X-Taskgate-Secret), then prints a short fixed
status line so the pane shows that it ran.  A failed POST is ignored: a
status line must never break the agent.
"""

import os
import sys
import urllib.request


def main():
    data = sys.stdin.buffer.read()
    if len(sys.argv) > 1:
        req = urllib.request.Request(sys.argv[1], data=data, method="POST", headers={
            "Content-Type": "application/json",
            "X-Taskgate-Secret": os.environ.get("TASKGATE_HOOK_SECRET", "")})
        try:
            urllib.request.urlopen(req, timeout=2).read()
        except Exception:
            pass
    print("taskgate-rig status")


if __name__ == "__main__":
    main()
