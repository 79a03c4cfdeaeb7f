"""The rig that runs the real Claude Code binary offline, for taskgate's
tests and for observing what Claude Code really does.

It owns, for one test: a private temporary directory with a HOME (a
.claude.json that skips the first-run screens for the API key and the
project), a project directory, a settings file, a private tmux server
(`tmux -S socket`), the scripted Messages API stand-in
(tests/claude/messages_api.py) and a recorder, a loopback HTTP server that
stores every hook POST and status line JSON with its headers.  Each window
runs Claude Code with `--settings FILE`: http hooks for every event,
pointing at the recorder, with a per-window secret in X-Taskgate-Secret
taken from $TASKGATE_HOOK_SECRET through allowedEnvVars, and a status line
command (tests/claude/statusline.py) that forwards its JSON the same way.
Telemetry, error reporting, auto-update and non-essential traffic are off.

The binary comes from tests/claude/install.sh (or $TASKGATE_CLAUDE_BIN).
Everything the rig starts is stopped by close().
"""

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from messages_api import MessagesAPI  # noqa: E402

INSTALL = os.path.join(HERE, "install.sh")
STATUSLINE = os.path.join(HERE, "statusline.py")
API_KEY = "sk-ant-api03-taskgate-rig-" + "0" * 20 + "offlineKEY0123456789"
SECRET_HEADER = "X-Taskgate-Secret"
SECRET_VAR = "TASKGATE_HOOK_SECRET"
HOOK_EVENTS = ("SessionStart", "SessionEnd", "Setup", "UserPromptSubmit",
               "UserPromptExpansion", "PreToolUse", "PostToolUse", "PostToolUseFailure",
               "PermissionRequest", "PermissionDenied", "Notification", "Stop",
               "StopFailure", "SubagentStart", "SubagentStop", "PreCompact", "PostCompact")
QUIET_ENV = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_UPDATES": "1",
    "DISABLE_GROWTHBOOK": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
}


def install():
    """Path of the Claude Code binary, installing it when needed (into
    $TASKGATE_CLAUDE_CACHE, else tests/claude/.cache, else, when the source
    tree is read-only, ~/.cache/taskgate/claude); None when it cannot be
    had (no npm, no network)."""
    given = os.environ.get("TASKGATE_CLAUDE_BIN")
    if given:
        return given if os.access(given, os.X_OK) else None
    env = dict(os.environ)
    if not env.get("TASKGATE_CLAUDE_CACHE") and not os.access(HERE, os.W_OK):
        # A read-only source tree (make distcheck): a cache of the user's.
        env["TASKGATE_CLAUDE_CACHE"] = os.path.join(
            env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "taskgate", "claude")
    try:
        out = subprocess.run(["sh", INSTALL], stdout=subprocess.PIPE, timeout=900, check=True,
                             env=env)
    except (subprocess.SubprocessError, OSError):
        return None
    lines = out.stdout.decode().split()
    path = lines[-1] if lines else ""
    return path if os.access(path, os.X_OK) else None


def write_claude_json(home, projects):
    """Writes home/.claude.json so that Claude Code skips its first-run
    screens: onboarding done, the rig's API key approved, and each
    directory of projects (absolute, real paths) trusted."""
    state = {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": "2.1.332",
        "numStartups": 1,
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "autoUpdates": False,
        "projects": {p: {"hasTrustDialogAccepted": True, "allowedTools": [],
                         "hasCompletedProjectOnboarding": True}
                     for p in projects},
    }
    with open(os.path.join(home, ".claude.json"), "w") as f:
        json.dump(state, f, indent=1)


def environment(home, api_url):
    """Claude Code's whole environment in the rig: that HOME, the Messages
    API stand-in at api_url, the fake key, and the quiet variables."""
    env = {
        "HOME": home,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": api_url,
        "ANTHROPIC_API_KEY": API_KEY,
    }
    env.update(QUIET_ENV)
    return env


def write_wrapper(path, binary, env, keep=(SECRET_VAR,)):
    """Writes an executable sh script at path that runs binary with its
    arguments in exactly env, plus the variables named in keep taken from
    its own environment (the window's hook secret): a program that
    taskgate can start as its --agent-command.  It execs, so the pane's
    process is Claude Code itself."""
    words = ["%s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items())]
    words += ['%s="${%s-}"' % (k, k) for k in keep]
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec env -i %s %s \"$@\"\n" % (" ".join(words), shlex.quote(binary)))
    os.chmod(path, 0o755)
    return path


def wait_for(predicate, timeout=30.0, step=0.1, what="condition"):
    """harness.wait_for, with the rig's longer default (Claude Code starts
    in seconds, not milliseconds)."""
    return harness.wait_for(predicate, timeout=timeout, step=step, what=what)


class Post:
    """One POST the recorder received: a hook event or a status line."""

    def __init__(self, path, headers, body):
        self.time = time.monotonic()
        self.wall = time.time()
        self.path = path
        self.headers = headers  # dict, lower-case names
        self.body = body        # parsed JSON (or None)

    @property
    def event(self):
        if isinstance(self.body, dict):
            return self.body.get("hook_event_name")
        return None

    @property
    def secret(self):
        return self.headers.get(SECRET_HEADER.lower())


class Recorder:
    """Stores each POST; answers hooks with an empty 200 unless a test
    queued answers for an event (answer())."""

    def __init__(self):
        self._lock = threading.Lock()
        self.posts = []
        self._answers = {}
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length > 0 else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                post = Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with rec._lock:
                    rec.posts.append(post)
                    queue = rec._answers.get(post.event) if self.path == "/hook" else None
                    answer = queue.pop(0) if queue else None
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(200)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def answer(self, event, *answers):
        """Queues JSON answers for the next hooks of `event`."""
        with self._lock:
            self._answers.setdefault(event, []).extend(answers)

    def hooks(self, secret=None):
        with self._lock:
            return [p for p in self.posts if p.path == "/hook"
                    and (secret is None or p.secret == secret)]

    def events(self, secret=None):
        return [p.event for p in self.hooks(secret)]

    def statuses(self, secret=None):
        with self._lock:
            return [p for p in self.posts if p.path == "/status"
                    and (secret is None or p.secret == secret)]

    def clear(self):
        with self._lock:
            self.posts = []

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


class Window:
    """One tmux window running Claude Code."""

    def __init__(self, rig, name, secret, cwd):
        self.rig = rig
        self.name = name
        self.secret = secret
        self.cwd = cwd
        self.target = "%s:%s" % (rig.session, name)

    def pane(self):
        out = self.rig.tmux("capture-pane", "-p", "-t", self.target, check=False)
        return out.rstrip("\n")

    def tail(self, n=15):
        lines = [line.rstrip() for line in self.pane().split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines[-n:])

    def type_line(self, text):
        """Types text literally, then Enter, as a person (or taskgate) would.
        Returns the monotonic time of the Enter."""
        self.rig.tmux("send-keys", "-t", self.target, "-l", text)
        time.sleep(0.3)
        t = time.monotonic()
        self.rig.tmux("send-keys", "-t", self.target, "Enter")
        return t

    def keys(self, *keys):
        self.rig.tmux("send-keys", "-t", self.target, *keys)

    def wait_pane(self, text, timeout=30.0):
        return wait_for(lambda: text in self.pane(), timeout=timeout,
                        what="%r in the pane of %s:\n%s" % (text, self.name, self.tail(25)))

    def wait_event(self, event, count=1, timeout=30.0):
        return wait_for(lambda: [p for p in self.hooks() if p.event == event][count - 1:],
                        timeout=timeout, what="hook %s #%d of %s" % (event, count, self.name))

    def hooks(self):
        return self.rig.recorder.hooks(self.secret)

    def events(self):
        return self.rig.recorder.events(self.secret)

    def statuses(self):
        return self.rig.recorder.statuses(self.secret)

    def pid(self):
        """The pid of Claude Code (the pane's process: it was exec'd)."""
        out = self.rig.tmux("display-message", "-p", "-t", self.target, "#{pane_pid}")
        return int(out.strip())

    def dead(self):
        out = self.rig.tmux("display-message", "-p", "-t", self.target, "#{pane_dead}",
                            check=False)
        return out.strip() == "1"

    def at_prompt(self):
        """True when the pane shows the input box: a line starting with `❯`
        with a rule under it.  Claude Code draws it while it works too."""
        lines = [line.rstrip() for line in self.pane().split("\n")]
        for i, line in enumerate(lines[:-1]):
            if line.startswith("❯") and lines[i + 1].startswith("─"):
                return True
        return False

    def idle(self):
        """True when Claude Code waits for a prompt: the input box, no
        "esc to interrupt" on the mode line, no dialog in front."""
        text = self.pane()
        return (self.at_prompt() and "esc to interrupt" not in text
                and "Do you want to proceed?" not in text)

    def ready(self, timeout=60.0):
        """Waits for the idle prompt of a fresh session."""
        wait_for(self.idle, timeout=timeout, what="the prompt of %s:\n%s" % (self.name, self.tail(25)))


class Rig:
    def __init__(self, binary, api=None):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="tg-claude-")
        self.home = os.path.join(self.dir, "home")
        self.socket = os.path.join(self.dir, "tmux.sock")
        self.session = "rig"
        os.makedirs(self.home)
        self.api = api or MessagesAPI().start()
        self.recorder = Recorder()
        self.windows = []
        self._projects = []
        self._write_claude_json()
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", self.session,
                  "-x", "160", "-y", "50", "-n", "shell", "sleep 100000", top=True)
        self.tmux("set-option", "-g", "-w", "remain-on-exit", "on")

    # --- plumbing --------------------------------------------------------

    def tmux(self, *args, check=True, top=False):
        argv = ["tmux", "-S", self.socket] + list(args)
        env = dict(os.environ)
        env.pop("TMUX", None)
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if check and out.returncode != 0:
            raise RuntimeError("tmux %s: %s" % (" ".join(args), out.stderr.decode()))
        return out.stdout.decode("utf-8", "replace")

    def _write_claude_json(self):
        write_claude_json(self.home, self._projects)

    def project(self, name="project"):
        """A new project directory, trusted in .claude.json."""
        path = os.path.join(self.dir, name)
        os.makedirs(path, exist_ok=True)
        path = os.path.realpath(path)
        if path not in self._projects:
            self._projects.append(path)
            self._write_claude_json()
        return path

    def settings(self, path, extra=None):
        hook = {"type": "http", "url": self.recorder.url + "/hook",
                "headers": {SECRET_HEADER: "$" + SECRET_VAR},
                "allowedEnvVars": [SECRET_VAR], "timeout": 10}
        settings = {
            "hooks": {event: [{"hooks": [hook]}] for event in HOOK_EVENTS},
            "statusLine": {"type": "command", "command": "%s %s %s" % (
                shlex.quote(sys.executable), shlex.quote(STATUSLINE),
                shlex.quote(self.recorder.url + "/status"))},
        }
        settings.update(extra or {})
        with open(path, "w") as f:
            json.dump(settings, f, indent=1)
        return path

    def environment(self, secret):
        env = environment(self.home, self.api.base_url)
        env[SECRET_VAR] = secret
        return env

    # --- windows ---------------------------------------------------------

    def start(self, name="agent", args=("--permission-mode", "default"), cwd=None,
              settings=None, env=None, secret=None):
        """Starts Claude Code in a new window; returns the Window.  settings
        are merged over the rig's (a "hooks" key replaces its hooks, e.g.
        to aim them at taskgate); secret is the window's $TASKGATE_HOOK_SECRET
        (a fresh random one by default)."""
        cwd = cwd or self.project()
        secret = secret or secrets.token_hex(16)
        path = self.settings(os.path.join(self.dir, "settings-%s.json" % name), settings)
        environment = self.environment(secret)
        environment.update(env or {})
        command = "cd %s && exec env -i %s %s --settings %s %s" % (
            shlex.quote(cwd),
            " ".join(shlex.quote("%s=%s" % kv) for kv in sorted(environment.items())),
            shlex.quote(self.binary), shlex.quote(path),
            " ".join(shlex.quote(a) for a in args))
        self.tmux("new-window", "-d", "-t", self.session, "-n", name, command)
        win = Window(self, name, secret, cwd)
        self.windows.append(win)
        return win

    def close(self):
        self.tmux("kill-server", check=False)
        self.recorder.stop()
        self.api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
