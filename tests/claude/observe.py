#!/usr/bin/env python3
"""Runs the scenarios of tests/claude/OBSERVED.md against the real Claude
Code binary (through tests/claude/rig.py) and prints what happened: the
hook events with their JSON and timings, the Messages API requests, the
status line JSON and each distinct screen of the pane.  It is how
OBSERVED.md was written; run it again after changing the pinned version.

    python3 tests/claude/observe.py [scenario ...]   (default: all)
"""

import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402

LONG = 160


def trim(value):
    if isinstance(value, str):
        return value if len(value) <= LONG else value[:LONG] + "…(%d chars)" % len(value)
    if isinstance(value, dict):
        return {k: trim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trim(v) for v in value[:8]] + (["…%d more" % (len(value) - 8)]
                                               if len(value) > 8 else [])
    return value


def screen(win):
    """The pane with runs of blank lines collapsed, trailing spaces gone."""
    out, blank = [], 0
    for line in win.pane().split("\n"):
        line = line.rstrip()
        if not line:
            blank += 1
            continue
        if blank and out:
            out.append("    [%d blank lines]" % blank if blank > 1 else "")
        blank = 0
        out.append(line)
    return "\n".join(out)


class Watch:
    """Samples the pane every 0.25 s and keeps each distinct screen."""

    def __init__(self, win, t0):
        self.win, self.t0 = win, t0
        self.screens = []
        self.enters = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        last = None
        while not self._stop.is_set():
            try:
                s = screen(self.win)
            except Exception:
                break
            # The logo (first three lines) is animated: leave it out of
            # the comparison, or every frame is a new screen.
            key = "\n".join(s.split("\n")[3:])
            if key != last:
                self.screens.append((time.monotonic() - self.t0, s))
                last = key
            time.sleep(0.25)

    def stop(self):
        self._stop.set()
        self._thread.join()


def report(name, r, win, t0, watch, max_screens=12, note=""):
    print("=" * 78)
    print("SCENARIO", name, note)
    for t in watch.enters:
        print("-- Enter sent at %+.2fs" % (t - t0))
    print("-- hooks (t from the trigger)")
    for p in win.hooks():
        print("  %+7.2fs %-18s %s" % (p.time - t0, p.event, json.dumps(trim(
            {k: v for k, v in p.body.items()
             if k not in ("session_id", "transcript_path", "cwd")}), ensure_ascii=False)))
    hooks = win.hooks()
    if hooks:
        print("-- headers of the first hook:", json.dumps(hooks[0].headers))
    others = [p for p in r.recorder.hooks() if p.secret != win.secret]
    if others:
        print("-- hooks with a wrong secret:", len(others))
    print("-- API requests")
    for q in r.api.requests:
        body = q.body if isinstance(q.body, dict) else {}
        print("  %+7.2fs %s %s main=%s model=%s stream=%s msgs=%d last_user=%r" % (
            q.time - t0, q.method, q.path, q.is_main, body.get("model"), body.get("stream"),
            len(q.messages()), trim(q.last_user_text())[-300:]))
    st = win.statuses()
    print("-- status line posts:", len(st))
    if st:
        print("   last keys:", sorted(st[-1].body.keys()))
    shown = watch.screens
    if len(shown) > max_screens:
        shown = shown[:max_screens // 2] + shown[-max_screens // 2:]
        print("-- pane screens (%d distinct, first and last %d shown)" % (
            len(watch.screens), max_screens // 2))
    else:
        print("-- pane screens (%d distinct)" % len(shown))
    for t, s in shown:
        print("   .... at %+.2fs" % t)
        print(s)
    sys.stdout.flush()


def run(name, fn, binary):
    r = rig.Rig(binary)
    try:
        fn(r)
    except Exception as e:  # report and go on with the next scenario
        print("SCENARIO %s failed: %r" % (name, e))
    finally:
        r.close()


def start_ready(r, name, **kw):
    win = r.start(name, **kw)
    t = time.monotonic()
    win.ready(60)
    return win, time.monotonic() - t


def sc_a(r):
    r.api.script([{"text": "Hello from the stand-in."}])
    win, startup = start_ready(r, "a")
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.enters.append(win.type_line("Say hello"))
    win.wait_event("Stop")
    # Idle at the prompt: does a Notification idle_prompt come, and when?
    try:
        win.wait_event("Notification", timeout=100)
    except AssertionError:
        pass
    time.sleep(1)
    watch.stop()
    report("a: a prompt answered, then idle", r, win, t0, watch,
           note="(startup to prompt %.2fs; t0 = first send-keys)" % startup)
    st = win.statuses()
    if st:
        print("-- status line JSON (last):")
        print(json.dumps(trim(st[-1].body), indent=1))


def sc_b(r):
    r.api.script([{"text": "I will create the file.",
                   "tool_use": {"name": "Bash", "input": {"command": "touch x",
                                                          "description": "Create x"}}},
                  {"text": "Created x."}])
    win, _ = start_ready(r, "b")
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.enters.append(win.type_line("Create a file named x"))
    win.wait_pane("Do you want to proceed?")
    try:
        win.wait_event("Notification", timeout=15)
    except AssertionError:
        pass
    time.sleep(2)
    print("-- permission dialog, whole pane at rest:")
    print(screen(win))
    win.keys("Enter")   # 1. Yes (the highlighted choice)
    win.wait_event("Stop")
    time.sleep(2)
    watch.stop()
    report("b: a tool that needs permission, then Yes", r, win, t0, watch, max_screens=16)
    print("-- x exists:", os.path.exists(os.path.join(win.cwd, "x")))


def failing(kind, extra=None, wait=120, esc=False):
    def sc(r):
        step = dict({"error": kind}, **(extra or {}))
        r.api.script([], default=step, side=step)
        win, _ = start_ready(r, kind)
        t0 = time.monotonic()
        watch = Watch(win, t0)
        watch.enters.append(win.type_line("Do the work"))
        try:
            wait_for_any(win, ("Stop", "StopFailure"), wait)
        except AssertionError:
            print("-- no Stop/StopFailure within %ds" % wait)
        time.sleep(3)
        if esc:
            print("-- pressing Escape at %+.2fs" % (time.monotonic() - t0))
            win.keys("Escape")
            time.sleep(5)
        watch.stop()
        report(kind, r, win, t0, watch, max_screens=16)
        print("-- requests to /v1/messages:", len(r.api.message_requests()))
    return sc


def wait_for_any(win, events, timeout):
    return rig.wait_for(lambda: [p for p in win.hooks() if p.event in events],
                        timeout=timeout, what=" or ".join(events))


def sc_f(r):
    r.api.script([{"hang": True}], default={"hang": True}, side={"hang": True})
    win, _ = start_ready(r, "hang")
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.enters.append(win.type_line("Do the work"))
    time.sleep(90)
    print("-- pressing Escape at %+.2fs" % (time.monotonic() - t0))
    win.keys("Escape")
    time.sleep(5)
    watch.stop()
    report("f: the API hangs (90 s), then Escape", r, win, t0, watch, max_screens=16)


def sc_g(r):
    r.api.script([{"text": "Hello."}])
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGHUP):
        name = "g-%s" % sig.name
        win, _ = start_ready(r, name)
        win.type_line("Say hello")
        win.wait_event("Stop")
        t0 = time.monotonic()
        watch = Watch(win, t0)
        pid = win.pid()
        os.kill(pid, sig)
        try:
            rig.wait_for(win.dead, timeout=15, what="the pane to die")
        except AssertionError:
            print("-- %s: pane still alive after 15 s" % name)
        time.sleep(3)
        watch.stop()
        report("g: claude (pid %d) gets %s" % (pid, sig.name), r, win, t0, watch)
    # tmux kill-window, as taskgate's stop does
    win, _ = start_ready(r, "g-kill-window")
    win.type_line("Say hello")
    win.wait_event("Stop")
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.stop()
    r.tmux("kill-window", "-t", win.target)
    time.sleep(5)
    report("g: tmux kill-window", r, win, t0, watch)
    # /exit typed
    win, _ = start_ready(r, "g-exit")
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.enters.append(win.type_line("/exit"))
    time.sleep(5)
    watch.stop()
    report("g: /exit typed", r, win, t0, watch)


def sc_h(r):
    r.api.script([], default={"text": "Continuing the stream."})
    win, _ = start_ready(r, "h-plain")
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.enters.append(win.type_line("/continue Stream-B"))
    time.sleep(8)
    watch.stop()
    report("h: /continue Stream-B without .claude/commands/continue.md", r, win, t0, watch)
    r.api.reset()
    project = r.project("with-command")
    os.makedirs(os.path.join(project, ".claude", "commands"))
    with open(os.path.join(project, ".claude", "commands", "continue.md"), "w") as f:
        f.write("---\ndescription: Continue a stream\n---\n"
                "Continue work on stream $ARGUMENTS from its last checkpoint.\n")
    win, _ = start_ready(r, "h-cmd", cwd=project)
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.enters.append(win.type_line("/continue Stream-B"))
    try:
        win.wait_event("Stop")
    except AssertionError:
        pass
    time.sleep(2)
    watch.stop()
    report("h: /continue Stream-B with .claude/commands/continue.md", r, win, t0, watch)
    for q in r.api.message_requests():
        users = [m for m in q.messages() if m.get("role") == "user"]
        print("-- user turn sent:", json.dumps(users[-1:], ensure_ascii=False, indent=1)[:3000])


def sc_i(r):
    r.api.script([{"text": "First answer."}], default={"text": "Another answer."})
    r.recorder.answer("Stop", *[{"decision": "block",
                                 "reason": "taskgate: block %d, go on with step %d" % (n, n)}
                                for n in range(1, 11)])
    win, _ = start_ready(r, "i")
    t0 = time.monotonic()
    watch = Watch(win, t0)
    watch.enters.append(win.type_line("Do step 1"))
    time.sleep(20)
    watch.stop()
    report("i: every Stop answered with decision block (10 queued)", r, win, t0, watch)
    for q in r.api.message_requests(main=True):
        print("-- main request, last user turn:",
              json.dumps(q.messages()[-1], ensure_ascii=False)[:600])


def sc_k(r):
    """Typing a line: how fast each hook comes, five prompts in a row."""
    r.api.script([], default={"text": "Done."})
    win, startup = start_ready(r, "k")
    print("=" * 78)
    print("SCENARIO k: typing a line, five times (startup to prompt %.2fs)" % startup)
    time.sleep(3)
    for n in range(5):
        r.recorder.clear()
        r.api.reset()
        enter = win.type_line("Prompt number %d" % n)
        win.wait_event("Stop")
        time.sleep(1)
        submit = [p for p in win.hooks() if p.event == "UserPromptSubmit"][0]
        stop = [p for p in win.hooks() if p.event == "Stop"][0]
        req = r.api.message_requests(main=True)[0]
        status = win.statuses()
        print("  Enter -> UserPromptSubmit %.2fs, -> API request %.2fs, -> Stop %.2fs,"
              " status posts %s" % (submit.time - enter, req.time - enter, stop.time - enter,
                                    ["%.2fs" % (p.time - enter) for p in status]))
        if n == 0:
            print("-- API request headers:", json.dumps(
                {k: v for k, v in req.headers.items() if k != "x-api-key"}))
            print("-- API request last 3 messages:", json.dumps(
                trim(req.messages()[-3:]), ensure_ascii=False, indent=1))
    print(screen(win))


def sc_i2(r):
    """The turn a Stop block gives the model, in full."""
    r.api.script([{"text": "First answer."}], default={"text": "Second answer."})
    r.recorder.answer("Stop", {"decision": "block",
                               "reason": "taskgate: go on with step 2 of Stream-B"})
    win, _ = start_ready(r, "i2")
    win.type_line("Do step 1")
    win.wait_event("Stop", count=2)
    time.sleep(2)
    reqs = r.api.message_requests(main=True)
    print("=" * 78)
    print("SCENARIO i2: one Stop block; the request that follows, last 4 messages:")
    print(json.dumps(reqs[1].messages()[-4:], ensure_ascii=False, indent=1))
    print("-- Stop hooks:")
    for p in win.hooks():
        if p.event == "Stop":
            print(json.dumps(trim(p.body), ensure_ascii=False))
    print(screen(win))


def sc_b2(r):
    """The permission dialog refused: Escape, then "4" (No)."""
    for answer in ("Escape", "4"):
        r.api.reset()
        r.api.script([{"tool_use": {"name": "Bash", "input": {"command": "touch x",
                                                             "description": "Create x"}}}],
                     default={"text": "Understood."})
        win, _ = start_ready(r, "b2-%s" % answer)
        t0 = time.monotonic()
        watch = Watch(win, t0)
        watch.enters.append(win.type_line("Create x"))
        win.wait_pane("Do you want to proceed?")
        win.wait_event("Notification", timeout=20)
        time.sleep(1)
        print("-- key %s at %+.2fs" % (answer, time.monotonic() - t0))
        win.keys(answer)
        time.sleep(6)
        watch.stop()
        report("b2: permission refused with %s" % answer, r, win, t0, watch, max_screens=4)


def sc_c3(r):
    """Which retry-after makes Claude Code retry a 429 (no retry: StopFailure)."""
    print("=" * 78)
    print("SCENARIO c3: 429 with various retry-after")
    for after in (45, 60, 61, 120, 300):
        r.api.reset()
        step = {"error": "rate_limit", "retry_after": after}
        r.api.script([], default=step, side=step)
        win, _ = start_ready(r, "c3-%d" % after)
        win.type_line("go")
        end = time.monotonic() + 15
        while time.monotonic() < end and "StopFailure" not in win.events():
            time.sleep(0.2)
        time.sleep(1)
        lines = [x for x in win.pane().split("\n") if "429" in x or "retrying" in x]
        print("  retry-after %d: hooks %s, requests %d, pane %r" % (
            after, win.events(), len(r.api.message_requests()), lines[-1:]))
        win.keys("Escape")


def too_long_later(always):
    """Prompt too long on the second turn: auto-compaction, which succeeds
    (always=False) or fails too (always=True)."""
    def sc(r):
        tl = {"error": "too_long"}
        if always:
            r.api.script([{"text": "First."}], default=tl, side=tl)
        else:
            r.api.script([{"text": "First."}, tl],
                         default={"text": "<summary>Summary of the work.</summary>"})
        win, _ = start_ready(r, "d2")
        win.type_line("one")
        win.wait_event("Stop")
        time.sleep(1)
        r.api.reset()
        t0 = time.monotonic()
        watch = Watch(win, t0)
        watch.enters.append(win.type_line("two"))
        time.sleep(15)
        watch.stop()
        report("d2: too long on the second turn, compaction %s" % (
            "failing too" if always else "answered"), r, win, t0, watch, max_screens=4)
    return sc


SCENARIOS = {
    "b2": sc_b2, "c3": sc_c3, "d2": too_long_later(False), "d3": too_long_later(True),
    "k": sc_k, "i2": sc_i2,
    "a": sc_a, "b": sc_b,
    "c": failing("rate_limit", {"retry_after": 30}, wait=150),
    "c2": failing("rate_limit", {"retry_after": 3600}, wait=150),
    "d": failing("too_long"),
    "e": failing("overloaded", wait=400),
    "e500": failing("server", wait=400),
    "f": sc_f, "g": sc_g, "h": sc_h, "i": sc_i,
}


def main():
    binary = rig.install()
    if not binary:
        print("Claude Code could not be installed")
        return 77
    print("binary:", binary)
    for name in sys.argv[1:] or sorted(SCENARIOS):
        run(name, SCENARIOS[name], binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
