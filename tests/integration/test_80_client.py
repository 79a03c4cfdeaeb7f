#!/usr/bin/env python3
"""The terminal face: `taskgate status`, `watch`, `start`, `stop`,
`recover` and `run` against a running daemon and the upstream double.

status: the five streams under their phases with their percentages,
--json is the overview document, no escape bytes with --no-color or into
a pipe, colours on a terminal with every escape sequence from the
upstream's text removed.  The actions: a dry run prints the tmux argument
vectors (shell-quoted, so shlex gives them back), a refused start prints
the daemon's error and reasons and exits 1, start/recover/stop act on a
real tmux server on a private socket with the fake agent, usage errors
and a missing daemon or token file exit 2 with one line.  watch: run in
a real tmux pane, it shows Stream-B go from 33% to 67% when the double
changes a task (one SSE client, no polling), says "reconnecting" when
its connection drops and replays what it missed with Last-Event-ID, cuts
lines to a narrower window, and on Ctrl-C exits 0 with the cursor shown,
the alternate screen left and the terminal modes as they were.  The
socket note: a client that knows only the port reaches `serve --socket`
through /tmp/taskgate-PORT.socket, and a later daemon on the port takes
away a note its killed predecessor left.

The tests that need tmux are skipped without it, and then the file exits
77 (automake's "skipped") when everything else passed."""

import json
import os
import pty
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, Taskgate, wait_for  # noqa: E402

AGENT = os.path.join(harness.ROOT, "tests", "agent", "fake-claude")
HAVE_TMUX = shutil.which("tmux") is not None
PHASES = {"Stream-A": ("FOUNDATION", 100), "Stream-B": ("PARALLEL", 33),
          "Stream-C": ("PARALLEL", 100), "Stream-D": ("PARALLEL", 0),
          "Stream-Z": ("INTEGRATION", 0)}
NO_DAEMON = "taskgate: no taskgate answers at %s (is 'taskgate serve' running?)\n"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def client_env(tg, extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TASKGATE_") and k != "NO_COLOR"}
    env["TASKGATE_LISTEN"] = "127.0.0.1:%d" % tg.port
    env["TASKGATE_TOKEN_FILE"] = os.path.join(tg.dir, "token")
    env.update(extra or {})
    return env


def run_client(tg, *args, env=None, timeout=60):
    proc = subprocess.run([harness.BIN] + list(args), capture_output=True, text=True,
                          env=client_env(tg, env) if tg else env, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def run_in_pty(argv, env, timeout=30):
    """Runs argv with stdout on a pseudo-terminal; returns (rc, out, err)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=timeout), out.decode("utf-8", "replace"), err


class Base(unittest.TestCase):
    def setUp(self):
        harness.skip_unless_binary()
        self.double = Double().start()
        args, env = self.daemon()
        self.tg = Taskgate(self.double.url, args=["--poll", "0.3"] + args, env=env).start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")

    def daemon(self):
        """The daemon's extra flags and environment."""
        return [], {}

    def tearDown(self):
        if self.tg.proc.poll() is not None:
            sys.stderr.write("taskgate exited with %s during the test: %s\n"
                             % (self.tg.proc.returncode, self.tg.stderr()))
        self.tg.close()
        self.double.close()

    def client(self, *args, **kw):
        return run_client(self.tg, *args, **kw)

    def assertOneLine(self, err, needle):
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "one line expected, got %r" % err)
        self.assertTrue(lines[0].startswith("taskgate: "), lines[0])
        self.assertIn(needle, lines[0])


class Status(Base):
    def test_streams_by_phase_with_percentages(self):
        rc, out, err = self.client("status")
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        heads = {h: lines.index(h) for h in ("FOUNDATION", "PARALLEL", "INTEGRATION")}
        self.assertLess(heads["FOUNDATION"], heads["PARALLEL"])
        self.assertLess(heads["PARALLEL"], heads["INTEGRATION"])
        for sid, (phase, pct) in PHASES.items():
            at = [i for i, l in enumerate(lines) if re.match(r"^\S+ %s \(" % sid, l)]
            self.assertEqual(len(at), 1, "%s once in %s" % (sid, out))
            section = max((i, h) for h, i in heads.items() if i < at[0])[1]
            self.assertEqual(section, phase, sid)
            self.assertRegex(lines[at[0] + 1], r"Progress .* %3d%%" % pct)
        self.assertIn("Upstream  %s up" % self.double.url, out)
        self.assertRegex(out, r"Overall .* 57%  8/14 tasks in 5 streams")
        self.assertIn("1/3 done", out)
        self.assertIn("upstream-unhealthy: the upstream reports the stream unhealthy", out)
        self.assertIn("Depends   Stream-B 33%, Stream-C", out)
        self.assertIn("@me Engineer: Expose /api/tasks endpoint with filters", out)
        self.assertIn("Session   none", out)
        alerts, nexts = lines.index("ALERTS"), lines.index("NEXT ACTIONS")
        self.assertLess(heads["INTEGRATION"], alerts)
        self.assertLess(alerts, nexts)
        self.assertIn("require auth?", "\n".join(lines[alerts:nexts]))
        self.assertIn("start Stream-B: ready to start  (taskgate start Stream-B)",
                      "\n".join(lines[nexts:]))

    def test_another_users_daemon_is_said_to_be(self):
        daemon = self.tg.get("/api/overview").json()["daemon"]
        self.assertEqual((daemon["uid"], daemon["pid"]), (os.getuid(), self.tg.proc.pid))
        rc, out, err = self.client("status", "--no-color")
        self.assertEqual(rc, 0)
        self.assertNotIn("not yours", out, "our own daemon")
        # The same answer from a daemon that runs as someone else, on the
        # port the client was told of.
        import http.server
        doc = self.tg.get("/api/overview").json()
        doc["daemon"] = {"uid": os.getuid() + 4242, "user": "someone-else", "pid": 77}
        body = json.dumps(doc).encode()

        class Other(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Other)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            env = client_env(self.tg, {"TASKGATE_LISTEN": "127.0.0.1:%d" % server.server_address[1]})
            proc = subprocess.run([harness.BIN, "status", "--no-color"], capture_output=True, text=True,
                                  env=env, timeout=30)
        finally:
            server.shutdown()
            server.server_close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first = [l for l in proc.stdout.splitlines() if l.startswith("Daemon")]
        self.assertEqual(first, ["Daemon    not yours: it runs as someone-else (uid %d, pid 77); "
                                 "use --listen to reach your own" % (os.getuid() + 4242)])

    def test_json_is_the_overview(self):
        rc, out, err = self.client("status", "--json")
        self.assertEqual((rc, err), (0, ""))
        mine = json.loads(out)
        theirs = self.tg.get("/api/overview").json()
        for doc in (mine, theirs):
            for key in ("generatedAt", "polledAt"):
                doc.pop(key)
            doc["upstream"].pop("lastOk")
            for s in doc["streams"]:
                s.pop("lastChange", None)
                s["state"].pop("since", None)
        self.assertEqual(mine, theirs)

    def test_no_escape_bytes_without_colour(self):
        for args, env in ((["--no-color"], None), ([], None), (["--no-color"], {"TASKGATE_NO_COLOR": "0"})):
            rc, out, err = self.client("status", *args, env=env)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("\x1b", out, "a pipe gets no colour")
        rc, out, err = run_in_pty([harness.BIN, "status", "--no-color"], client_env(self.tg))
        self.assertEqual(rc, 0, err)
        self.assertIn("Stream-B", out)
        self.assertNotIn("\x1b", out)
        rc, out, err = run_in_pty([harness.BIN, "status"], client_env(self.tg, {"NO_COLOR": "1"}))
        self.assertEqual(rc, 0, err)
        self.assertNotIn("\x1b", out)

    def test_colours_on_a_terminal_and_upstream_escapes_removed(self):
        evil = "\x1b]0;pwned\x07\x1b[2J\x1b[1;1Hsee \x1b[31mred\x1b[0m\x9b2J\u202e!\x07 zz-end"
        self.double.set_task("D2", blockedReason=evil)
        wait_for(lambda: "zz-end" in json.dumps(self.tg.get("/api/overview").json()["alerts"]),
                 what="the new reason")
        rc, out, err = run_in_pty([harness.BIN, "status"], client_env(self.tg))
        self.assertEqual(rc, 0, err)
        self.assertIn("\x1b[32m", out, "green for complete streams")
        self.assertIn("\x1b[33m", out, "yellow for in progress")
        self.assertIn("\x1b[31m", out, "red for blocked or stalled")
        self.assertEqual(SGR.sub("", out).count("\x1b"), 0, "only colour sequences")
        self.assertNotIn("pwned", out)
        self.assertNotIn("\u202e", out)
        self.assertNotIn("\x07", out)
        self.assertIn("see red! zz-end", SGR.sub("", out))
        rc, out, err = self.client("status", "--no-color")
        self.assertIn("see red! zz-end", out)
        self.assertNotIn("\x1b", out)


class Errors(Base):
    def test_no_daemon(self):
        port = harness.free_port()
        where = "http://127.0.0.1:%d" % port
        env = {"TASKGATE_LISTEN": "127.0.0.1:%d" % port}
        for verb in (["status"], ["status", "--json"], ["start", "Stream-B"], ["stop", "Stream-B"],
                     ["recover", "Stream-B"], ["run", "--dry-run"]):
            rc, out, err = self.client(*verb, env=env)
            self.assertEqual((rc, out, err), (2, "", NO_DAEMON % where), verb)
        rc, out, err = run_in_pty([harness.BIN, "watch"], client_env(self.tg, env))
        self.assertEqual((rc, err), (2, NO_DAEMON % where))
        sock = os.path.join(self.tg.dir, "none.sock")
        rc, out, err = self.client("status", "--listen", "unix:" + sock)
        self.assertEqual((rc, err), (2, NO_DAEMON % ("unix:" + sock)))

    def test_usage_errors_exit_2_with_one_line(self):
        for args, needle in ((["start"], "start needs a stream id"),
                             (["stop", "../x"], "'../x' is not a stream id"),
                             (["recover", "a b"], "'a b' is not a stream id"),
                             (["start", "Stream-B", "Stream-C"], "unexpected argument 'Stream-C'"),
                             (["status", "--force"], "unknown option '--force'"),
                             (["watch", "--json"], "unknown option '--json'"),
                             (["run", "Stream-B"], "unexpected argument 'Stream-B'"),
                             (["status", "--listen"], "missing value for option '--listen'"),
                             (["status", "--listen", "nowhere"], "--listen nowhere: expected"),
                             (["status", "--listen", "127.0.0.1:0"], "needs the daemon's port")):
            rc, out, err = self.client(*args)
            self.assertEqual((rc, out), (2, ""), args)
            self.assertOneLine(err, needle)
        rc, out, err = self.client("start", "Stream-B", env={"TASKGATE_DRY_RUN": "maybe"})
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "TASKGATE_DRY_RUN: 'maybe' is not true or false")

    def test_help(self):
        for verb in ("status", "watch", "start", "stop", "recover", "run"):
            rc, out, err = self.client(verb, "--help")
            self.assertEqual((rc, err), (0, ""), verb)
            self.assertTrue(out.startswith("usage: taskgate %s" % verb), out)
            self.assertIn("TASKGATE_LISTEN", out)
            self.assertIn("Exit status", out)

    def test_token_file(self):
        rc, out, err = self.client("start", "Stream-B",
                                   env={"TASKGATE_TOKEN_FILE": os.path.join(self.tg.dir, "nope")})
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "no token file at %s: start 'taskgate serve' first"
                           % os.path.join(self.tg.dir, "nope"))
        self.assertFalse(os.path.exists(os.path.join(self.tg.dir, "nope")), "a client never makes it")
        other = os.path.join(self.tg.dir, "other-token")
        with open(other, "w") as f:
            f.write("ab" * 32 + "\n")
        rc, out, err = self.client("start", "Stream-B", "--token-file", other)
        self.assertEqual(rc, 1)
        self.assertIn("(401 unauthorized)", err.splitlines()[0])
        self.assertNotIn("ab" * 32, err)
        rc, out, err = self.client("status", env={"TASKGATE_TOKEN_FILE": "/nonexistent"})
        self.assertEqual(rc, 0, "reading on loopback needs no token")

    def test_watch_needs_a_terminal(self):
        rc, out, err = self.client("watch")
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "watch needs a terminal")


class WatchInAPty(Base):
    """watch on a pseudo-terminal of its own, no tmux needed."""

    def test_watch_leaves_the_terminal_as_it_was_on_sigterm(self):
        master, slave = pty.openpty()
        proc = subprocess.Popen([harness.BIN, "watch", "--no-color"], stdin=slave, stdout=slave,
                                stderr=subprocess.PIPE, env=client_env(self.tg), start_new_session=True)
        os.close(slave)
        out = b""

        def read(until):
            nonlocal out
            deadline = time.monotonic() + 10
            while until(out) is False and time.monotonic() < deadline:
                if select.select([master], [], [], 0.2)[0]:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    out += chunk
        try:
            read(lambda o: b"Stream-B" in o)
            self.assertTrue(out.startswith(b"\x1b[?1049h\x1b[?25l"), out[:40])
            self.assertIn(b"Stream-B", out)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)
            read(lambda o: False)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
            proc.stderr.close()
        self.assertTrue(out.endswith(b"\x1b[0m\x1b[?25h\x1b[?1049l"), out[-40:])
        self.assertNotIn(b"\x1b[3", out, "--no-color")


class UnixSocket(unittest.TestCase):
    def test_status_over_a_unix_socket(self):
        harness.skip_unless_binary()
        double = Double().start()
        state = tempfile.mkdtemp(prefix="tg-unix-")
        sock = os.path.join(state, "tg.sock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
        proc = subprocess.Popen([harness.BIN, "serve", "--listen", "unix:" + sock, "--upstream", double.url,
                                 "--db", os.path.join(state, "db"), "--token-file",
                                 os.path.join(state, "token"), "--poll", "0.3"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=state)
        harness._started.append(proc)
        try:
            wait_for(lambda: os.path.exists(sock), what="the socket")
            env.update(TASKGATE_LISTEN="unix:" + sock, TASKGATE_TOKEN_FILE=os.path.join(state, "token"))
            out = wait_for(lambda: (lambda r: r.stdout if r.returncode == 0 and "33%" in r.stdout else None)(
                subprocess.run([harness.BIN, "status"], capture_output=True, text=True, env=env)),
                what="status over the socket")
            self.assertIn("Stream-B", out)
            r = subprocess.run([harness.BIN, "start", "Stream-Z"], capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 1, "the token goes over the socket too: a gate, not a 401")
            self.assertIn("409 gate-closed", r.stderr)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            double.close()
            shutil.rmtree(state, ignore_errors=True)


class SocketNote(unittest.TestCase):
    """serve --socket notes the socket in /tmp/taskgate-PORT.socket; a
    client that knows only the port uses it, and a daemon of the same
    user started later on that port without --socket takes a note its
    dead predecessor left away, so clients do not go to a dead socket."""

    def setUp(self):
        harness.skip_unless_binary()
        self.double = Double().start()
        self.sockdir = tempfile.mkdtemp(prefix="tg-note-")
        self.sock = os.path.join(self.sockdir, "tg.sock")
        self.tgs = []
        self.note = None

    def tearDown(self):
        for tg in self.tgs:
            tg.close()
        self.double.close()
        if self.note and os.path.exists(self.note):
            os.unlink(self.note)
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def start(self, *args):
        tg = Taskgate(self.double.url, args=["--poll", "0.3"] + list(args)).start()
        self.tgs.append(tg)
        wait_for(lambda: tg.get("/api/overview").json()["streams"], what="the first poll")
        return tg

    def test_the_port_leads_to_the_socket_and_a_dead_note_is_taken_away(self):
        first = self.start("--socket", self.sock)
        self.note = "/tmp/taskgate-%d.socket" % first.port
        with open(self.note) as f:
            self.assertEqual(f.read(), os.path.realpath(self.sock) + "\n")
        # No token file: over TCP a start would need one; on the socket
        # the owner's Unix user is an admin, and the plan's gate answers.
        nothing = {"TASKGATE_TOKEN_FILE": os.path.join(self.sockdir, "none")}
        rc, out, err = run_client(first, "start", "Stream-Z", env=nothing)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("409 gate-closed", err)

        first.stop(signal.SIGKILL)
        self.assertTrue(os.path.exists(self.note), "a killed daemon leaves its note")
        second = self.start("--listen", "127.0.0.1:%d" % first.port)
        self.assertEqual(second.port, first.port)
        self.assertFalse(os.path.exists(self.note), "the next daemon on the port took it away")
        rc, out, err = run_client(second, "status", "--no-color")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("Stream-B", out)


class Tmux:
    """A private tmux server (TMUX_TMPDIR and -L) for the tests."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tg-tmux-")

    def env(self):
        env = dict(os.environ, TMUX_TMPDIR=self.dir, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        env.pop("TMUX", None)
        return env

    def __call__(self, *args):
        return subprocess.run(["tmux", "-u", "-f", "/dev/null", "-L", "tg"] + list(args),
                              capture_output=True, text=True, env=self.env(), timeout=30)

    def close(self):
        self("kill-server")
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(HAVE_TMUX, "tmux is not installed")
class Actions(Base):
    """start, stop, recover and run against real tmux and the fake agent."""

    def daemon(self):
        """A project with one worktree per stream, a config, a private tmux."""
        self.root = tempfile.mkdtemp(prefix="tg-project-")
        self.tmux_dir = tempfile.mkdtemp(prefix="tg-tmux-")
        streams = []
        for sid, (phase, _) in sorted(PHASES.items()):
            os.makedirs(os.path.join(self.root, "wt", sid))
            deps = ([] if sid == "Stream-A" else ["Stream-B", "Stream-C"] if sid == "Stream-Z"
                    else ["Stream-A"])
            streams.append({"streamId": sid, "streamName": sid.lower(), "streamPhase": phase.lower(),
                            "dependencies": deps, "projectRoot": self.root, "worktreePath": "wt/" + sid})
        config = os.path.join(self.root, "orchestration-config.json")
        with open(config, "w") as f:
            json.dump({"streams": streams, "maxParallelStreams": 5}, f)
        return (["--config", config, "--agent-command", AGENT, "--tmux-session", "tg-client"],
                {"TMUX_TMPDIR": self.tmux_dir, "TMUX": ""})

    def tearDown(self):
        env = dict(os.environ, TMUX_TMPDIR=self.tmux_dir)
        env.pop("TMUX", None)
        subprocess.run(["tmux", "kill-server"], capture_output=True, env=env)
        super().tearDown()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.tmux_dir, ignore_errors=True)

    def wt(self, sid):
        return os.path.realpath(os.path.join(self.root, "wt", sid))

    def windows(self):
        env = dict(os.environ, TMUX_TMPDIR=self.tmux_dir)
        env.pop("TMUX", None)
        out = subprocess.run(["tmux", "list-windows", "-t", "=tg-client", "-F", "#{window_id} #{window_name}"],
                             capture_output=True, text=True, env=env).stdout
        return [tuple(l.split(" ", 1)) for l in out.splitlines()]

    def typed(self, sid, count):
        log = os.path.join(self.root, "wt", sid, ".fake-agent.log")

        def seen():
            try:
                with open(log) as f:
                    return len([l for l in f if l.rstrip("\n").split(" ", 1)[1:] == ["/continue " + sid]])
            except OSError:
                return 0
        wait_for(lambda: seen() >= count, timeout=15, what="/continue %s typed" % sid)

    def test_dry_run_prints_the_argv(self):
        rc, out, err = self.client("start", "Stream-B", "--dry-run")
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], "# dry run: would start Stream-B in %s" % self.wt("Stream-B"))
        api = self.tg.request("POST", "/api/streams/Stream-B/start?dryRun=true",
                              headers=self.tg.bearer()).json()["argv"]
        self.assertEqual([shlex.split(l) for l in lines[1:]], api)
        self.assertTrue(lines[1].startswith("tmux new-session -d -P -F '#{window_id} #{pane_id}' "
                                            "-s tg-client -n Stream-B -c "), lines[1])
        self.assertIn("send-keys -t '{pane}' -l -- '/continue Stream-B'", out)
        self.assertIn(" ';' set-option -w -t =tg-client: remain-on-exit on ';' ", lines[1],
                      "one tmux command line: the window keeps a pane whose agent exits")
        rc, out, err = self.client("run", "--dry-run")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("# dry run: would start Stream-B in %s" % self.wt("Stream-B"), out)
        self.assertIn("# skipped Stream-Z: Stream-B is at 33%", out)
        self.assertEqual(self.windows(), [], "a dry run changes nothing")

    def test_refused_start_prints_the_reasons(self):
        rc, out, err = self.client("start", "Stream-Z")
        self.assertEqual((rc, out), (1, ""))
        lines = err.splitlines()
        self.assertEqual(lines[0], "taskgate: start Stream-Z: the gates do not allow starting this "
                                   "stream now (409 gate-closed)")
        self.assertIn("  - Stream-B is at 33%", lines[1:])
        self.assertTrue(any("the parallel phase is not complete" in l for l in lines[1:]), err)
        # Only dependencies and the phase order stop it: the flag that
        # passes them is named, in the words of the terminal.
        self.assertEqual(lines[-1], "  - 'taskgate start Stream-Z --force' skips the dependency and "
                                    "phase-order gates")
        rc, out, err = self.client("start", "Stream-Q")
        self.assertEqual(rc, 1)
        self.assertEqual(err, "taskgate: start Stream-Q: Task Copilot has no stream Stream-Q "
                              "(404 unknown-stream)\n")
        self.assertEqual(self.windows(), [])

    def test_start_recover_stop(self):
        rc, out, err = self.client("start", "Stream-B")
        self.assertEqual((rc, err), (0, ""))
        m = re.fullmatch(r"started Stream-B in window (@\d+) \((.*)\)\n", out)
        self.assertTrue(m, out)
        self.assertEqual(m.group(2), self.wt("Stream-B"))
        self.assertEqual(self.windows(), [(m.group(1), "Stream-B")])
        self.typed("Stream-B", 1)
        rc, out, err = self.client("status", "--no-color")
        self.assertRegex(out, r"Session   window %s live" % m.group(1))
        rc, out, err = self.client("start", "Stream-B")
        self.assertEqual(rc, 1)
        self.assertIn("  - Stream-B is already running", err)

        # Once a poll has judged the new window (healthy).
        wait_for(lambda: harness.judged_since_start(self.tg, "Stream-B"), what="a judgement of Stream-B's window")
        rc, out, err = self.client("recover", "Stream-B")
        self.assertEqual(rc, 1, "a working stream is not recovered")
        self.assertIn("recovery is for no-progress, context-exhausted and dead streams", err)
        rc, out, err = self.client("recover", "Stream-B", "--force")
        self.assertEqual((rc, err), (0, ""))
        r = re.fullmatch(r"recovered Stream-B in window (@\d+) \((.*)\), attempt 1; "
                         r"the upstream answered the checkpoint with 201\n", out)
        self.assertTrue(r, out)
        self.assertEqual(self.windows(), [(r.group(1), "Stream-B")])
        self.typed("Stream-B", 2)

        rc, out, err = self.client("stop", "Stream-B")
        self.assertEqual((rc, err, out), (0, "", "stopped Stream-B (window %s)\n" % r.group(1)))
        self.assertEqual(self.windows(), [])
        rc, out, err = self.client("stop", "Stream-B")
        self.assertEqual((rc, err), (1, "taskgate: stop Stream-B: Stream-B has no window to stop "
                                        "(409 not-running)\n"))

    def test_force_and_run(self):
        rc, out, err = self.client("start", "Stream-Z", "--force")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("started Stream-Z in window @"), out)
        rc, out, err = self.client("run")
        self.assertEqual((rc, err), (0, ""))
        started = re.findall(r"^started (\S+) in window @\d+ ", out, re.M)
        self.assertEqual(sorted(started), ["Stream-B", "Stream-D"])
        self.assertEqual(sorted(w[1] for w in self.windows()), ["Stream-B", "Stream-D", "Stream-Z"])


class Proxy:
    """A TCP relay to the daemon that the test can cut and restore."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = harness.free_port()
        self.conns = []
        self.lock = threading.Lock()
        self.listener = None
        self.up()

    def up(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def _accept(self, listener):
        while True:
            try:
                a, _ = listener.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pipe, args=(x, y), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@unittest.skipUnless(HAVE_TMUX, "tmux is not installed")
class Watch(Base):
    PANE = ('before=$(stty -g); trap : INT; "$TG_BIN" watch --no-color; rc=$?; '
            'after=$(stty -g); if [ "$before" = "$after" ]; then m=restored; else m=changed; fi; '
            'echo "watch exited $rc, terminal modes $m"; exec sleep 600')

    def setUp(self):
        super().setUp()
        self.tmux = Tmux()
        self.proxy = None

    def tearDown(self):
        self.tmux.close()
        if self.proxy:
            self.proxy.down()
        super().tearDown()

    def start_watch(self, port, size=("120", "50")):
        env = ["env", "TG_BIN=" + harness.BIN, "TASKGATE_LISTEN=127.0.0.1:%d" % port,
               "TASKGATE_TOKEN_FILE=" + os.path.join(self.tg.dir, "token"), "LANG=C.UTF-8",
               "LC_ALL=C.UTF-8", "NO_COLOR="]
        r = self.tmux("new-session", "-d", "-s", "w", "-x", size[0], "-y", size[1], "--", *env,
                      "sh", "-c", self.PANE)
        self.assertEqual(r.returncode, 0, r.stderr)
        return wait_for(lambda: self.line("Stream-B"), what="watch to draw Stream-B")

    def capture(self, *extra):
        return self.tmux("capture-pane", "-p", *extra, "-t", "w").stdout

    def line(self, needle, screen=None):
        for l in (screen if screen is not None else self.capture()).splitlines():
            if needle in l:
                return l
        return None

    def pane(self, fmt):
        return self.tmux("display-message", "-p", "-t", "w", fmt).stdout.strip()

    def metric(self, name):
        text = self.tg.get("/metrics").body.decode()
        return int(re.search(r"^%s (\d+)$" % name, text, re.M).group(1))

    def test_live_change_then_ctrl_c_restores_the_terminal(self):
        first = self.start_watch(self.tg.port)
        self.assertIn(" 33%", first)
        self.assertEqual(self.pane("#{alternate_on} #{cursor_flag}"), "1 0",
                         "the alternate screen, the cursor hidden")
        screen = self.capture()
        self.assertTrue(screen.startswith("taskgate watch  http://127.0.0.1:%d" % self.tg.port), screen)
        for sid in PHASES:
            self.assertRegex(self.line(sid, screen), r"%3d%%" % PHASES[sid][1])
        self.assertIn("\u25cf live", screen.splitlines()[0])
        self.assertNotIn("\x1b[3", self.capture("-e"), "--no-color")
        wait_for(lambda: self.metric("taskgate_sse_clients") == 1, what="one SSE client")
        before = self.metric("taskgate_http_requests_total")
        time.sleep(2)
        self.assertLessEqual(self.metric("taskgate_http_requests_total") - before, 1,
                             "no polling: only this test's own request")

        self.double.set_task("B2", status="completed")
        changed = wait_for(lambda: (lambda l: l if l and " 67%" in l else None)(self.line("Stream-B")),
                           what="Stream-B at 67%")
        self.assertIn("2/3", changed)
        self.assertIn("Stream-B 2/3 tasks (67%, was 33%)", self.capture(),
                      "the same watch got the event: it lists it under RECENT")
        self.assertRegex(self.line("Overall"), r" 64%")

        self.tmux("resize-window", "-t", "w", "-x", "40", "-y", "30")

        def fitted():
            # The whole redraw, not a screen caught halfway through it: every
            # line cut to the width, none wrapped onto the next.
            s = self.capture()
            return s if ("Overall" in s and "5 streams" not in s and s.startswith("taskgate watch")
                         and all(len(l) < 40 for l in s.splitlines())) else None
        wait_for(fitted, what="lines cut to the narrower window, none wrapped")

        self.tmux("send-keys", "-t", "w", "C-c")
        done = wait_for(lambda: self.line("watch exited"), what="watch to exit")
        self.assertEqual(done.strip(), "watch exited 0, terminal modes restored")
        self.assertEqual(self.pane("#{alternate_on} #{cursor_flag}"), "0 1",
                         "the alternate screen left, the cursor shown")
        self.assertNotIn("Stream-B", self.capture(), "the shell's screen again")

    def test_80_by_24_shows_the_next_actions_whole_words_and_real_changes(self):
        self.start_watch(self.tg.port, ("80", "24"))
        screen = wait_for(lambda: (lambda s: s if "NEXT ACTIONS" in s else None)(self.capture()),
                          what="NEXT ACTIONS on an 80x24 screen")
        lines = screen.splitlines()
        self.assertLessEqual(len(lines), 24)
        actions = self.tg.get("/api/overview").json()["nextActions"]
        at = lines.index("NEXT ACTIONS")
        numbered = [l for l in lines[at + 1:] if re.match(r"^  \d+\. ", l)]
        self.assertEqual(len(numbered), len(actions), "every next action is on the screen")
        for n, (action, shown) in enumerate(zip(actions, numbered), 1):
            self.assertTrue(shown.startswith("  %d. %s %s" % (n, action["action"], action["streamId"])),
                            shown)
        # A line too long for 80 columns is cut between words, and says so.
        cut = 0
        for action, shown in zip(actions, numbered):
            full = shown[:shown.index(": ") + 2] + action["reason"] if ": " in shown else shown
            if "(taskgate " in shown:
                continue
            if shown.endswith("\u2026"):
                cut += 1
                kept = shown[:-1]
                self.assertTrue(full.startswith(kept), (shown, full))
                self.assertEqual(full[len(kept)], " ", "cut inside a word: %r" % shown)
            else:
                self.assertEqual(shown, full)
        self.assertGreater(cut, 0, "a long next action was cut")
        # All of Stream-Z's dependencies done, the phase rule still closes its gate.
        self.double.set_task("B2", status="completed")
        self.double.set_task("B3", status="completed")
        z = wait_for(lambda: (lambda l: l if l and "waits" in l else None)(
            self.line("└─ waits", self.capture())), what="Stream-Z's gate line")
        wait_for(lambda: "parallel phase" in (self.line("└─ waits") or ""),
                 what="the phase rule named under Stream-Z")
        self.assertNotIn("none", self.line("└─ waits"))

        # A task that moves without moving the progress: RECENT says what moved.
        self.tmux("resize-window", "-t", "w", "-x", "120", "-y", "50")
        self.double.set_task("D1", status="pending")
        moved = wait_for(lambda: self.line("Stream-D: 0 in progress (was 1), 1 pending (was 0)"),
                         what="the move under RECENT")
        self.assertIsNotNone(moved)
        screen = self.capture()
        self.assertNotIn("0/2 tasks (0%, was 0%)", screen)
        self.assertIn("Stream-B 3/3 tasks (100%, was ", screen, "a real change is listed")

    def test_reconnects_with_last_event_id(self):
        self.proxy = Proxy(self.tg.port)
        self.start_watch(self.proxy.port)
        self.double.set_task("B2", status="completed")
        wait_for(lambda: "was 33%" in self.capture(), what="the first event")
        last = self.metric("taskgate_events_last_id")
        self.proxy.down()
        wait_for(lambda: "reconnecting" in self.capture().splitlines()[0], what="reconnecting")
        self.double.set_task("B3", status="completed")
        wait_for(lambda: self.metric("taskgate_events_last_id") > last, what="an event while cut off")
        self.proxy.up()
        wait_for(lambda: "live" in self.capture().splitlines()[0], timeout=20, what="live again")
        screen = wait_for(lambda: (lambda s: s if "Stream-B 3/3 tasks (100%, was 67%)" in s else None)(
            self.capture()), what="the missed event, replayed")
        self.assertRegex(self.line("Stream-B", screen), r" 100%")
        self.tmux("send-keys", "-t", "w", "q")
        done = wait_for(lambda: self.line("watch exited"), what="q to quit")
        self.assertEqual(done.strip(), "watch exited 0, terminal modes restored")


if __name__ == "__main__":
    program = unittest.main(verbosity=2, exit=False)
    result = program.result
    if not result.wasSuccessful():
        sys.exit(1)
    if not HAVE_TMUX:
        print("tmux is not installed: the session and watch tests were skipped")
        sys.exit(77)
    sys.exit(0)
