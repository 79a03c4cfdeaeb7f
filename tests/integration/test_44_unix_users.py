#!/usr/bin/env python3
"""Two real Unix users on the unix socket (serve --socket), created by the
test as root (skipped, exit 77, when not root): alice, mapped to the
operator "alice" (user add --unix-user), stops a stream with the plain
client verb, no token, and the audit row and the event name alice; bob,
mapped to nobody, is a viewer: his stop is refused (403) and changes
nothing.  The socket is mode 0660 of the team's group, and the same
request over TCP is nobody's (Unix credentials count only on the unix
socket)."""

import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_70_sessions as sessions  # noqa: E402
from harness import Taskgate, run_taskgate, wait_for  # noqa: E402


def skip_unless_root():
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        print("needs root and useradd to create the two Unix users")
        sys.exit(77)


class UnixUsers(sessions.Base):
    project_args = {"max_parallel": 2}

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        suffix = "%d" % (os.getpid() % 100000)
        cls.team = "tgteam" + suffix
        cls.alice = "tgalice" + suffix
        cls.bob = "tgbob" + suffix
        subprocess.run(["groupadd", cls.team], check=True)
        for login in (cls.alice, cls.bob):
            subprocess.run(["useradd", "-M", "-N", "-g", cls.team, "-s", "/bin/sh", login], check=True)
        # The teammates' own copy of the client: the build tree may be
        # under a home only root can enter (/root on a fresh machine), as
        # the installed binary on a shared box is not.
        cls.bindir = tempfile.mkdtemp(prefix="tg-bin-")
        os.chmod(cls.bindir, 0o755)
        cls.client = os.path.join(cls.bindir, "taskgate")
        shutil.copy(harness.BIN, cls.client)
        os.chmod(cls.client, 0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.bindir, ignore_errors=True)
        for login in (cls.alice, cls.bob):
            subprocess.run(["userdel", login], capture_output=True)
        subprocess.run(["groupdel", cls.team], capture_output=True)

    def taskgate(self, state=None):
        self.sockdir = tempfile.mkdtemp(prefix="tg-sock-")
        os.chmod(self.sockdir, 0o755)
        self.sock = os.path.join(self.sockdir, "taskgate.sock")
        tg = super().taskgate(state)
        tg.args += ["--socket", self.sock, "--socket-group", self.team]
        return tg

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def as_user(self, login, *args, flags=True):
        """The client verb run as login, with nothing of root's: no token.
        flags=False: no TASKGATE_SOCKET, only the daemon's port, as a
        teammate who knows nothing more types it."""
        home = tempfile.mkdtemp(prefix="tg-home-")
        os.chmod(home, 0o777)
        env = {"PATH": "/usr/bin:/bin", "HOME": home}
        if flags:
            env["TASKGATE_SOCKET"] = self.sock
        else:
            env["TASKGATE_LISTEN"] = "127.0.0.1:%d" % self.tg.port
        proc = subprocess.run([self.client] + list(args), capture_output=True, text=True, env=env,
                              user=login, group=self.team, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
        return proc.returncode, proc.stdout, proc.stderr

    def audit(self):
        return self.tg.get("/api/audit", headers=self.tg.bearer()).json()["audit"]

    def test_alice_stops_as_alice_and_bob_is_a_viewer(self):
        rc, out, err = run_taskgate(["user", "add", "alice", "--role", "operator", "--unix-user", self.alice,
                                     "--db", os.path.join(self.tg.dir, "history.db")])
        self.assertEqual(rc, 0, err)
        st = os.stat(self.sock)
        self.assertEqual((stat.S_IMODE(st.st_mode), grp.getgrgid(st.st_gid).gr_name), (0o660, self.team))
        window = self.post("/api/streams/Stream-B/start").json()["window"]
        self.typed("Stream-B")
        before = self.audit()

        rc, out, err = self.as_user(self.bob, "stop", "Stream-B")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%s is a viewer" % self.bob, err)
        self.assertIn(window, [w[0] for w in self.project.windows()])
        self.assertEqual(self.audit(), before)
        # bob still reads, as a viewer reads.
        rc, out, err = self.as_user(self.bob, "status", "--no-color")
        self.assertEqual(rc, 0, err)

        # Over TCP nobody's Unix user counts.
        self.assertEqual(self.post("/api/streams/Stream-B/stop", token=False).status, 401)

        rc, out, err = self.as_user(self.alice, "stop", "Stream-B")
        self.assertEqual(rc, 0, out + err)
        wait_for(lambda: window not in [w[0] for w in self.project.windows()], what="the window closed")
        row = self.audit()[0]
        self.assertEqual((row["action"], row["actor"], row["streamId"]), ("stop", "alice", "Stream-B"))
        self.es.wait(lambda ev: self.session_events("Stream-B", "stopped"), what="stopped")
        self.assertEqual(self.session_events("Stream-B", "stopped")[0]["data"]["actor"], "alice")

    def note(self):
        return "/tmp/taskgate-%d.socket" % self.tg.port

    def test_a_teammate_finds_the_socket_with_no_flag(self):
        st = os.lstat(self.note())
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o644, os.geteuid()))
        with open(self.note()) as f:
            self.assertEqual(f.read(), os.path.realpath(self.sock) + "\n")
        rc, out, err = run_taskgate(["user", "add", "alice", "--role", "operator", "--unix-user", self.alice,
                                     "--db", os.path.join(self.tg.dir, "history.db")])
        self.assertEqual(rc, 0, err)
        self.post("/api/streams/Stream-B/start")
        self.typed("Stream-B")
        # Over TCP alice has no token: only the socket makes her stop hers.
        rc, out, err = self.as_user(self.alice, "stop", "Stream-B", flags=False)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(err, "")
        row = self.audit()[0]
        self.assertEqual((row["action"], row["actor"]), ("stop", "alice"))
        self.tg.stop()
        self.assertFalse(os.path.exists(self.note()), "a stopped daemon takes its note away")

    def test_a_note_another_user_planted_is_not_trusted(self):
        # bob replaces the daemon's note with one naming a socket of his.
        os.unlink(self.note())
        bobdir = tempfile.mkdtemp(prefix="tg-bob-")
        os.chown(bobdir, pwd.getpwnam(self.bob).pw_uid, -1)
        os.chmod(bobdir, 0o755)  # alice could reach it: only the check stops her
        bobsock = os.path.join(bobdir, "trap.sock")
        try:
            trap = socket.socket(socket.AF_UNIX)
            trap.bind(bobsock)
            trap.close()
            os.chown(bobsock, pwd.getpwnam(self.bob).pw_uid, -1)
            subprocess.run(["/bin/sh", "-c", 'printf "%s\\n" "$1" >"$2"', "sh", bobsock, self.note()],
                           user=self.bob, check=True, timeout=30)
            self.assertEqual(pwd.getpwuid(os.lstat(self.note()).st_uid).pw_name, self.bob)
            rc, out, err = self.as_user(self.alice, "status", "--no-color", flags=False)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("not using %s: it is %s's, but the taskgate on port %d is root's"
                          % (self.note(), self.bob, self.tg.port), err)
            self.assertIn("--socket PATH", err)
            self.assertNotIn(bobsock, err, "alice's client never went to bob's socket")
            self.assertIn("Stream-B", out, "it read the daemon over TCP")
        finally:
            if os.path.exists(self.note()):
                os.unlink(self.note())
            shutil.rmtree(bobdir, ignore_errors=True)

    def test_without_a_mapping_the_daemons_user_is_admin(self):
        me = pwd.getpwuid(os.geteuid()).pw_name
        env = {"PATH": "/usr/bin:/bin", "HOME": self.sockdir, "TASKGATE_SOCKET": self.sock}
        proc = subprocess.run([harness.BIN, "start", "Stream-B"], capture_output=True, text=True, env=env,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.audit()[0]["actor"], me)


if __name__ == "__main__":
    unittest.main(verbosity=2)
