#!/usr/bin/env python3
"""taskgate serve as a user starts it: flags, their TASKGATE_* twins,
defaults, the start line, the token file, and the one-line exit-2 errors
for a bad flag, a busy port, an unwritable database, a non-loopback
address and a broken config."""

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, Taskgate, run_taskgate  # noqa: E402


class ExitTwo(unittest.TestCase):
    """Each startup error is one clear line on stderr and status 2."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tg-cli-")
        self.env = {"XDG_STATE_HOME": self.tmp}

    def assertOneLineError(self, args, needle, env=None):
        rc, out, err = run_taskgate(args, env=dict(self.env, **(env or {})))
        self.assertEqual(rc, 2, "exit status for %s: %s" % (args, err))
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, "one line expected, got: %r" % err)
        self.assertIn(needle, lines[0])
        self.assertTrue(lines[0].startswith("taskgate: "), lines[0])
        return lines[0]

    def test_unknown_flag(self):
        self.assertOneLineError(["serve", "--frobnicate"], "--frobnicate")

    def test_missing_value(self):
        self.assertOneLineError(["serve", "--poll"], "--poll")

    def test_bad_poll_in_flag_and_in_env(self):
        self.assertOneLineError(["serve", "--poll", "soon"], "--poll: 'soon'")
        self.assertOneLineError(["serve"], "TASKGATE_POLL: 'x'", env={"TASKGATE_POLL": "x"})

    def test_non_loopback_needs_allow_remote(self):
        line = self.assertOneLineError(["serve", "--listen", "0.0.0.0:0"], "--allow-remote")
        self.assertIn("not a loopback address", line)
        self.assertOneLineError(["serve"], "not a loopback", env={"TASKGATE_LISTEN": "192.0.2.1:9191"})

    def test_bad_listen_syntax(self):
        self.assertOneLineError(["serve", "--listen", "nowhere"], "--listen nowhere")

    def test_busy_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            self.assertOneLineError(["serve", "--listen", "127.0.0.1:%d" % port,
                                     "--db", os.path.join(self.tmp, "h.db")], "in use")

    def test_unwritable_db(self):
        blocker = os.path.join(self.tmp, "file")
        open(blocker, "w").close()
        self.assertOneLineError(["serve", "--listen", "127.0.0.1:0",
                                 "--db", os.path.join(blocker, "history.db")], "history.db")

    def test_db_that_is_not_ours(self):
        other = os.path.join(self.tmp, "other.db")
        with open(other, "wb") as f:
            f.write(b"this is not a database at all" * 100)
        self.assertOneLineError(["serve", "--listen", "127.0.0.1:0", "--db", other], "other.db")

    def test_missing_or_unreadable_config(self):
        missing = os.path.join(self.tmp, "nowhere.json")
        self.assertEqual(self.assertOneLineError(["serve", "--listen", "127.0.0.1:0", "--config", missing],
                                                 "cannot read it"),
                         "taskgate: %s: cannot read it: No such file or directory" % missing)
        broken = os.path.join(self.tmp, "broken.json")
        with open(broken, "w") as f:
            f.write('{"streams": [')
        self.assertOneLineError(["serve", "--listen", "127.0.0.1:0", "--config", broken], "not valid JSON")

    def test_a_command_after_an_option_says_where_it_goes(self):
        line = self.assertOneLineError(["--listen", "127.0.0.1:0", "status"], "'status' must come first")
        self.assertIn("taskgate status --help", line)
        self.assertOneLineError(["serve", "frobnicate"], "unexpected argument 'frobnicate'")

    def test_broken_config_names_the_field(self):
        conf = os.path.join(self.tmp, "orch.json")
        with open(conf, "w") as f:
            json.dump({"apiEndpoint": "http://127.0.0.1:9090", "maxParallelStreams": "five"}, f)
        self.assertOneLineError(["serve", "--listen", "127.0.0.1:0", "--config", conf],
                                "maxParallelStreams")
        self.assertOneLineError(["serve", "--listen", "127.0.0.1:0", "--config",
                                 os.path.join(self.tmp, "missing.json")], "missing.json")

    def test_bad_upstream_url(self):
        self.assertOneLineError(["serve", "--listen", "127.0.0.1:0", "--upstream", "ftp://x"],
                                "http and https")

    def test_unknown_verb(self):
        self.assertOneLineError(["launch"], "unknown command 'launch'")


class HelpAndVersion(unittest.TestCase):
    def test_help_lists_every_flag_and_its_variable(self):
        rc, out, err = run_taskgate(["--help"])
        self.assertEqual(rc, 0)
        for flag, env in [("--listen", "TASKGATE_LISTEN"), ("--upstream", "TASKGATE_UPSTREAM"),
                          ("--db", "TASKGATE_DB"), ("--token-file", "TASKGATE_TOKEN_FILE"),
                          ("--poll", "TASKGATE_POLL"), ("--tmux-session", "TASKGATE_TMUX_SESSION"),
                          ("--agent-command", "TASKGATE_AGENT_COMMAND"),
                          ("--web-root", "TASKGATE_WEB_ROOT"), ("--auto", "TASKGATE_AUTO"),
                          ("--webhook", "TASKGATE_WEBHOOK"), ("--allow-remote", "TASKGATE_ALLOW_REMOTE"),
                          ("--config", "TASKGATE_CONFIG")]:
            self.assertIn(flag, out)
            self.assertIn(env, out)
        self.assertIn("127.0.0.1:9191", out)

    def test_version(self):
        rc, out, err = run_taskgate(["--version"])
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^taskgate \d+\.\d+\.\d+\n$")


class Startup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.double = Double().start()

    @classmethod
    def tearDownClass(cls):
        cls.double.close()

    def test_start_line_token_file_and_restart(self):
        tg = Taskgate(self.double.url).start()
        try:
            token_path = os.path.join(tg.dir, "token")
            mode = stat.S_IMODE(os.stat(token_path).st_mode)
            self.assertEqual(mode, 0o600)
            with open(token_path) as f:
                self.assertEqual(f.read().strip(), tg.token)
            self.assertRegex(tg.token, r"^[0-9a-f]{64}$")
            self.assertTrue(tg.start_line.startswith("taskgate: dashboard at http://127.0.0.1:"))
            self.assertNotIn(tg.token, tg.stderr(), "the token must not reach the log")
            self.assertTrue(os.path.exists(os.path.join(tg.dir, "history.db")))
            self.assertEqual(tg.stop(), 0)
            first = tg.token
            tg.start()
            self.assertEqual(tg.token, first, "a restart keeps the token")
        finally:
            tg.close()

    def test_defaults_come_from_xdg_state_home(self):
        tmp = tempfile.mkdtemp(prefix="tg-xdg-")
        tg = Taskgate(self.double.url, env={"XDG_STATE_HOME": tmp})
        tg.command = lambda: [harness.BIN, "--listen", "127.0.0.1:0", "--upstream", self.double.url]
        tg.start()
        try:
            self.assertTrue(os.path.exists(os.path.join(tmp, "taskgate", "token")))
            self.assertTrue(os.path.exists(os.path.join(tmp, "taskgate", "history.db")))
            self.assertEqual(tg.get("/api/streams").status, 200)
        finally:
            tg.close()

    def test_environment_twins(self):
        tg = Taskgate(env={"TASKGATE_UPSTREAM": self.double.url, "TASKGATE_POLL": "60"})
        tg.start()
        try:
            self.assertEqual(tg.get("/api/streams").status, 200)
            self.double.reset_counts()
            for _ in range(3):
                self.assertEqual(tg.get("/api/tasks").status, 200)
            self.assertEqual(self.double.count("/api/tasks"), 1, "TASKGATE_POLL=60 holds the cache")
        finally:
            tg.close()

    def test_upstream_from_the_config(self):
        tmp = tempfile.mkdtemp(prefix="tg-conf-")
        conf_dir = os.path.join(tmp, ".claude", "orchestration")
        os.makedirs(conf_dir)
        with open(os.path.join(conf_dir, "orchestration-config.json"), "w") as f:
            json.dump({"apiEndpoint": self.double.url, "streams": [], "unknownField": 1}, f)
        tg = Taskgate(state=tmp)  # runs in tmp, so the default config path is found
        tg.start()
        try:
            resp = tg.get("/health")
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.json()["upstream"]["url"], self.double.url)
        finally:
            tg.close()

    def test_unix_socket(self):
        tmp = tempfile.mkdtemp(prefix="tg-unix-")
        path = os.path.join(tmp, "tg.sock")
        tg = Taskgate(self.double.url, args=["--listen", "unix:" + path])
        proc = subprocess.Popen(tg.command(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=tg.environment(), text=True)
        harness._started.append(proc)
        try:
            proc_line = proc.stdout.readline()
            self.assertIn("listening on unix:" + path, proc_line)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                s.sendall(b"GET /api/streams HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = harness.read_to_end(s)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
        finally:
            proc.terminate()
            proc.wait()
            proc.stdout.close()
        self.assertFalse(os.path.exists(path), "the socket file is removed on exit")


if __name__ == "__main__":
    unittest.main(verbosity=2)
