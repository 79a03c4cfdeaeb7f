#!/usr/bin/env python3
"""No outside text becomes a command through tmux, checked with a real
tmux on a private socket: a worktree directory named "#(touch $TG_MARK)"
(from the config, from the upstream's worktreePath for a stream the
config does not list, and from a config that generate-config wrote from
the upstream) is where the agent runs, and tmux runs nothing of its name;
a one-word --agent-command with ';' in it is a program that cannot be
found, not shell text; and a machine that gives tmux no pty (devpts not
mounted on /dev/pts, as in a bare chroot) gets a refusal that says so."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, Taskgate, wait_for  # noqa: E402
from test_70_sessions import AGENT, Project, skip_unless_tmux  # noqa: E402

# A directory name that is a tmux format: "#(...)" would run its text.
HOSTILE = "#(touch $TG_MARK)"


class Sessions(unittest.TestCase):
    """A project, the upstream double, and taskgate started by the test."""

    def setUp(self):
        harness.skip_unless_binary()
        skip_unless_tmux()
        self.project = Project()
        self.double = Double().start()
        self.scratch = tempfile.mkdtemp(prefix="tg-mark-")
        # What a command run by tmux would create; the tmux server (started
        # by taskgate) has TG_MARK in its environment.
        self.mark = os.path.join(self.scratch, "pwned")
        self.tg = None

    def tearDown(self):
        if self.tg:
            self.tg.close()
        self.double.close()
        self.project.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def start_taskgate(self, config=None, agent=AGENT, state=None, cls=Taskgate):
        env = dict(self.project.env(), TG_MARK=self.mark)
        args = ["--poll", "0.3", "--config", config or self.project.config, "--agent-command", agent,
                "--tmux-session", self.project.session]
        self.tg = cls(self.double.url, args=args, env=env, state=state).start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="the first poll")
        return self.tg

    def start(self, sid):
        return self.tg.request("POST", "/api/streams/%s/start" % sid, headers=self.tg.bearer())

    def upstream_worktree(self, sid, path):
        """Sets the worktreePath the upstream reports for sid (on each of its tasks)."""
        key = sid[-1]
        for n in (1, 2, 3):
            try:
                self.double.set_task("%s%d" % (key, n), worktreePath=path)
            except AssertionError:
                break

    def assert_agent_ran_in(self, sid, directory, start):
        """The window was made in directory, the agent was typed /continue
        there, and nothing ran the directory's name."""
        self.assertEqual(start.status, 201, start.body)
        self.assertEqual(start.json()["directory"], os.path.realpath(directory))
        log = os.path.join(directory, ".fake-agent.log")

        def typed():
            try:
                with open(log) as f:
                    return "/continue " + sid in f.read()
            except OSError:
                return False
        # By then tmux would long have run a "#(...)" job.
        ok = wait_for_or_false(typed, timeout=15)
        self.assertFalse(os.path.exists(self.mark), "tmux ran a command from the directory's name")
        self.assertTrue(ok, "the agent did not run in %s" % directory)



class Injection(Sessions):
    def test_a_directory_from_the_config_is_only_a_directory(self):
        directory = os.path.join(self.project.root, "wt", HOSTILE)
        os.makedirs(directory)
        with open(self.project.config) as f:
            conf = json.load(f)
        conf["streams"][1]["worktreePath"] = "wt/" + HOSTILE
        with open(self.project.config, "w") as f:
            json.dump(conf, f)
        self.start_taskgate()
        self.assert_agent_ran_in("Stream-B", directory, self.start("Stream-B"))
        # A second window (new-window, not new-session) as well.
        other = os.path.join(self.project.root, "wt", "C#", "#{pane_id}#S")
        os.makedirs(other)
        conf["streams"][3]["worktreePath"] = "wt/C#/#{pane_id}#S"
        with open(self.project.config, "w") as f:
            json.dump(conf, f)
        self.tg.stop()
        self.tg.start()
        wait_for(lambda: self.tg.get("/api/overview").json()["streams"], what="a poll")
        self.assert_agent_ran_in("Stream-D", other, self.start("Stream-D"))

    def test_a_directory_from_the_upstream_is_only_a_directory(self):
        # Stream-D is not in the config: its directory is the upstream's
        # worktreePath under taskgate's working directory.
        with open(self.project.config) as f:
            conf = json.load(f)
        conf["streams"] = [s for s in conf["streams"] if s["streamId"] != "Stream-D"]
        with open(self.project.config, "w") as f:
            json.dump(conf, f)
        self.upstream_worktree("Stream-D", HOSTILE)
        state = tempfile.mkdtemp(prefix="tg-state-")
        directory = os.path.join(state, HOSTILE)
        os.makedirs(directory)
        self.start_taskgate(state=state)
        streams = {s["streamId"]: s for s in self.tg.get("/api/streams").json()["streams"]}
        self.assertEqual(streams["Stream-D"]["worktreePath"], HOSTILE)
        self.assert_agent_ran_in("Stream-D", directory, self.start("Stream-D"))

    def test_a_directory_through_generate_config_is_only_a_directory(self):
        self.upstream_worktree("Stream-D", HOSTILE)
        config = os.path.join(self.project.root, "generated.json")
        rc, out, err = harness.run_taskgate(["generate-config", "--upstream", self.double.url,
                                             "--output", config, "--project-root", self.project.root])
        self.assertEqual(rc, 0, err)
        with open(config) as f:
            made = {s["streamId"]: s for s in json.load(f)["streams"]}
        # The name is copied as it is: it is a directory's name, nothing more.
        self.assertEqual(made["Stream-D"]["worktreePath"], HOSTILE)
        directory = os.path.join(self.project.root, HOSTILE)
        os.makedirs(directory)
        self.start_taskgate(config=config)
        self.assert_agent_ran_in("Stream-D", directory, self.start("Stream-D"))

    def test_a_one_word_agent_command_is_not_shell_text(self):
        agent = "true;touch${IFS}" + self.mark
        self.start_taskgate(agent=agent)
        resp = self.start("Stream-B")
        self.assertEqual(resp.status, 201, resp.body)
        # The window is made; its program, named "true;touch...", is not
        # found: the agent is dead at once, with env's 127 when tmux learns
        # the status (a shell would have run both commands and exited 0).
        sessions = wait_for(lambda: [s for s in self.tg.get("/api/sessions").json()["sessions"]
                                     if s["streamId"] == "Stream-B" and s["dead"]],
                            what="Stream-B dead")
        self.assertFalse(os.path.exists(self.mark), "a shell ran the agent command")
        self.assertIn(sessions[0]["exitStatus"], (127, -1), sessions[0])

    def test_an_agent_command_taken_for_a_variable_is_refused(self):
        rc, out, err = harness.run_taskgate(["serve", "--listen", "127.0.0.1:0", "--agent-command", "A=1 claude",
                                             "--db", os.path.join(self.scratch, "h.db"),
                                             "--token-file", os.path.join(self.scratch, "token")],
                                            env=dict(self.project.env(), XDG_STATE_HOME=self.scratch))
        self.assertNotEqual(rc, 0)
        self.assertIn("--agent-command: the program may not have '='", err)


class NoPty(Taskgate):
    """taskgate (and so its tmux server) in a mount namespace of its own
    where /dev/pts is an empty tmpfs: tmux finds no pseudo-terminal."""

    def command(self):
        return ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /dev/pts && exec "$@"', "sh"] + \
            super().command()


def can_hide_pts():
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /dev/pts"],
                          capture_output=True).returncode == 0


class NoPseudoTerminal(Sessions):
    def test_no_pty_is_said_in_plain_words(self):
        if not can_hide_pts():
            self.skipTest("cannot unmount /dev/pts in a mount namespace here (needs root and unshare)")
        self.start_taskgate(cls=NoPty)
        resp = self.start("Stream-B")
        self.assertEqual(resp.status, 502, resp.body)
        body = resp.json()
        self.assertEqual(body["code"], "tmux-failed")
        self.assertIn("no pseudo-terminal (pty)", body["error"])
        self.assertIn("/dev/pts", body["error"])
        self.assertIn("fork failed", body["error"])


def wait_for_or_false(predicate, timeout):
    try:
        return wait_for(predicate, timeout=timeout)
    except AssertionError:
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
