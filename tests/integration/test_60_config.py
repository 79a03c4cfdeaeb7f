#!/usr/bin/env python3
"""The offline verbs: `taskgate check-config` over a table of broken
configs (exact lines, exit 1 for plan problems, 2 for a file that cannot
be read or parsed or a bad flag) and a sound one; `taskgate
generate-config` against the upstream double: the file it writes, that
check-config accepts it, --force, and one-line exit-2 errors.  Hostile
text in any field of a config (a clipboard write, a screen clear, C1
controls) reaches neither check-config's nor serve's output raw: each
line stays printable ASCII and still names the field."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Double, run_taskgate  # noqa: E402

NO_FOUNDATION = 'no foundation stream (at least one stream needs streamPhase "foundation")'
FIXTURE_STREAMS = {
    "Stream-A": ("foundation", []),
    "Stream-B": ("parallel", ["Stream-A"]),
    "Stream-C": ("parallel", ["Stream-A"]),
    "Stream-D": ("parallel", ["Stream-A"]),
    "Stream-Z": ("integration", ["Stream-B", "Stream-C"]),
}


def stream(sid, phase, deps=(), **extra):
    s = {"streamId": sid, "streamName": sid.lower(), "streamPhase": phase,
         "dependencies": list(deps), "projectRoot": "/srv/project", "worktreePath": None}
    s.update(extra)
    return s


def config(*streams, **top):
    doc = {"apiEndpoint": "http://127.0.0.1:9090", "streams": list(streams),
           "pollInterval": 5, "maxParallelStreams": 5,
           "contextRecovery": {"stallTimeoutMinutes": 10, "autoRecoveryEnabled": True,
                               "maxRecoveryAttempts": 3}}
    doc.update(top)
    return doc


FOUNDATION = stream("Stream-A", "foundation")

# (name, document, exit status, the problems after "taskgate: PATH: ")
BROKEN = [
    ("no-foundation", config(stream("Stream-B", "parallel")), 1, [NO_FOUNDATION]),
    ("no-streams", config(), 1, [NO_FOUNDATION]),
    ("cycle", config(FOUNDATION, stream("Stream-B", "parallel", ["Stream-C"]),
                     stream("Stream-C", "parallel", ["Stream-B"])), 1,
     ["circular dependency: Stream-B -> Stream-C -> Stream-B"]),
    ("self-cycle", config(stream("Stream-A", "foundation", ["Stream-A"])), 1,
     ["circular dependency: Stream-A -> Stream-A"]),
    ("unknown-dependency", config(FOUNDATION, stream("Stream-B", "parallel", ["Stream-Q"])), 1,
     ["Stream-B depends on unknown stream Stream-Q"]),
    ("too-many-parallel", config(FOUNDATION, *[stream("P%d" % i, "parallel", ["Stream-A"])
                                               for i in range(3)], maxParallelStreams=2), 1,
     ["too many parallel streams: 3, maxParallelStreams is 2"]),
    ("unknown-phase", config(FOUNDATION, stream("Stream-B", "sequential")), 1,
     ["Stream-B has an unknown streamPhase 'sequential' (expected foundation, "
      "parallel or integration)"]),
    ("no-phase", config(FOUNDATION, {"streamId": "Stream-B"}), 1,
     ["Stream-B has no streamPhase (expected foundation, parallel or integration)"]),
    ("duplicate", config(FOUNDATION, stream("Stream-B", "parallel"), stream("Stream-B", "parallel")), 1,
     ["duplicate streamId Stream-B (streams[1] and streams[2])"]),
    ("absolute-worktree", config(FOUNDATION, stream("Stream-B", "parallel", worktreePath="/tmp/B")), 1,
     ["Stream-B has an absolute worktreePath '/tmp/B' (it must be relative to projectRoot)"]),
    ("escaping-worktree", config(FOUNDATION, stream("Stream-B", "parallel",
                                                    worktreePath="wt/../../B")), 1,
     ["Stream-B has a worktreePath 'wt/../../B' that resolves outside projectRoot"]),
    ("later-phase", config(stream("Stream-A", "foundation", ["Stream-B"]),
                           stream("Stream-B", "parallel")), 1,
     ["Stream-A (foundation) depends on Stream-B of a later phase (parallel)"]),
    ("bad-endpoint", config(FOUNDATION, apiEndpoint="ftp://example.org"), 1,
     ["apiEndpoint 'ftp://example.org' is not an http or https URL such as "
      "http://127.0.0.1:9090"]),
    ("several", config(stream("Stream-B", "parallel", ["Stream-C", "Stream-Q"]),
                       stream("Stream-C", "parallel", ["Stream-B"]), maxParallelStreams=1), 1,
     ["Stream-B depends on unknown stream Stream-Q", NO_FOUNDATION,
      "too many parallel streams: 2, maxParallelStreams is 1",
      "circular dependency: Stream-B -> Stream-C -> Stream-B"]),
    ("wrong-type", config(FOUNDATION, maxParallelStreams="five"), 2,
     ["maxParallelStreams: expected a whole number above 0"]),
    ("wrong-type-in-stream", config(stream("Stream-A", "foundation", worktreePath=7)), 2,
     ["streams[0].worktreePath: expected a string"]),
]


class Base(unittest.TestCase):
    def setUp(self):
        harness.skip_unless_binary()
        self.tmp = tempfile.mkdtemp(prefix="tg-config-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, doc):
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
        return path

    def run_in(self, cwd, args, env=None):
        """Runs taskgate in cwd with no TASKGATE_* from outside."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
        base.update(env or {})
        proc = subprocess.run([harness.BIN] + list(args), capture_output=True, text=True,
                              env=base, cwd=cwd, timeout=30)
        return proc.returncode, proc.stdout, proc.stderr

    def assertOneLine(self, err, needle):
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "one line expected, got %r" % err)
        self.assertTrue(lines[0].startswith("taskgate: "), lines[0])
        self.assertIn(needle, lines[0])
        return lines[0]


class CheckConfig(Base):
    def test_broken_configs(self):
        for name, doc, status, problems in BROKEN:
            with self.subTest(name):
                path = self.write(name, doc)
                rc, out, err = run_taskgate(["check-config", "--config", path])
                self.assertEqual(rc, status, err)
                self.assertEqual(out, "")
                self.assertEqual(err.splitlines(),
                                 ["taskgate: %s: %s" % (path, p) for p in problems])

    def test_sound_config(self):
        streams = [stream(sid, phase, deps) for sid, (phase, deps) in sorted(FIXTURE_STREAMS.items())]
        streams[2]["worktreePath"] = ".claude/worktrees/Stream-C"
        path = self.write("sound", config(*streams))
        rc, out, err = run_taskgate(["check-config", "--config", path])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "taskgate: %s: ok (5 streams)\n" % path)

    def test_env_twin_and_default_path(self):
        path = self.write("one", config(FOUNDATION))
        rc, out, err = run_taskgate(["check-config"], env={"TASKGATE_CONFIG": path})
        self.assertEqual((rc, out), (0, "taskgate: %s: ok (1 stream)\n" % path), err)
        rc, out, err = self.run_in(self.tmp, ["check-config"])
        self.assertEqual(rc, 2)
        self.assertOneLine(err, ".claude/orchestration/orchestration-config.json: there is no config there")
        self.assertIn("taskgate generate-config", err)
        self.assertIn("--config PATH", err)
        os.makedirs(os.path.join(self.tmp, ".claude", "orchestration"))
        shutil.copy(path, os.path.join(self.tmp, ".claude", "orchestration",
                                       "orchestration-config.json"))
        rc, out, err = self.run_in(self.tmp, ["check-config"])
        self.assertEqual(rc, 0, err)

    def test_unreadable_and_unparsable(self):
        missing = os.path.join(self.tmp, "missing.json")
        rc, out, err = run_taskgate(["check-config", "--config", missing])
        self.assertEqual(rc, 2)
        self.assertEqual(err, "taskgate: %s: there is no config there; write one from Task Copilot's "
                              "streams with 'taskgate generate-config', or name yours with --config PATH\n" % missing)
        rc, out, err = run_taskgate(["check-config", "--config", self.tmp])
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "is a directory")
        broken = self.write("broken", '{"streams": [')
        rc, out, err = run_taskgate(["check-config", "--config", broken])
        self.assertEqual(rc, 2)
        self.assertOneLine(err, broken)

    def test_every_structural_error_is_reported(self):
        doc = {"apiEndpoint": 9090, "maxParallelStreams": "five",
               "contextRecovery": {"stallTimeoutMinutes": -1, "autoRecoveryEnabled": "yes"},
               "streams": [{"streamId": "Stream-A", "dependencies": "Stream-B"},
                           {"streamId": 7},
                           {"streamId": "bad id!", "dependencies": ["Stream-A", 3]}]}
        path = self.write("many", json.dumps(doc))
        rc, out, err = run_taskgate(["check-config", "--config", path])
        self.assertEqual(rc, 2)
        self.assertEqual(err.splitlines(), ["taskgate: %s: %s" % (path, line) for line in [
            "apiEndpoint: expected a string",
            "maxParallelStreams: expected a whole number above 0",
            "contextRecovery.stallTimeoutMinutes: expected a number of minutes above 0",
            "contextRecovery.autoRecoveryEnabled: expected true or false",
            "streams[0].dependencies: expected an array of stream ids",
            "streams[1].streamId: expected a string",
            "streams[2].streamId: 'bad id!' is not a valid stream id ([A-Za-z0-9][A-Za-z0-9._-]{0,63})",
            "streams[2].dependencies[1]: expected a string"]])
        # serve still stops at the first, in one line.
        rc, out, err = run_taskgate(["serve", "--config", path, "--listen", "127.0.0.1:0"])
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "apiEndpoint: expected a string")

    def test_flags(self):
        rc, out, err = run_taskgate(["check-config", "--frobnicate"])
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "unknown option '--frobnicate'")
        rc, out, err = run_taskgate(["check-config", "--config"])
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "missing value for option '--config'")
        rc, out, err = run_taskgate(["check-config", "extra"])
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "unexpected argument 'extra'")
        rc, out, err = run_taskgate(["check-config", "--help"])
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("usage: taskgate check-config", out)
        self.assertIn("TASKGATE_CONFIG", out)


class GenerateConfig(Base):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_binary()
        cls.double = Double().start()

    @classmethod
    def tearDownClass(cls):
        cls.double.close()

    def tearDown(self):
        self.double.mode("up")
        self.double.control("scene", {"name": "initial"})
        super().tearDown()

    def generate(self, *args, env=None, cwd=None):
        return self.run_in(cwd or self.tmp, ["generate-config"] + list(args), env=env)

    def test_writes_a_config_check_config_accepts(self):
        out_path = os.path.join(self.tmp, "deep", "dir", "orch.json")
        rc, out, err = self.generate("--upstream", self.double.url, "--output", out_path,
                                     "--project-root", self.tmp)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "taskgate: wrote %s (5 streams from %s)\n" % (out_path, self.double.url))
        with open(out_path) as f:
            text = f.read()
        self.assertTrue(text.endswith("}\n"))
        self.assertTrue(text.startswith('{\n  "version": '), text[:40])
        doc = json.loads(text)
        self.assertEqual(list(doc), ["version", "generatedAt", "initiative", "apiEndpoint", "streams",
                                     "executionPlan", "pollInterval", "maxParallelStreams",
                                     "contextRecovery"])
        self.assertIsNone(doc["initiative"])
        self.assertEqual(doc["apiEndpoint"], self.double.url)
        self.assertRegex(doc["generatedAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(doc["pollInterval"], 5)
        self.assertEqual(doc["maxParallelStreams"], 5)
        self.assertEqual(doc["contextRecovery"], {"stallTimeoutMinutes": 10,
                                                  "autoRecoveryEnabled": True,
                                                  "maxRecoveryAttempts": 3})
        got = {s["streamId"]: (s["streamPhase"], s["dependencies"]) for s in doc["streams"]}
        self.assertEqual(got, FIXTURE_STREAMS)
        root = os.path.realpath(self.tmp)
        for s in doc["streams"]:
            self.assertEqual(list(s), ["streamId", "streamName", "streamPhase", "totalTasks",
                                       "completedTasks", "dependencies", "projectRoot",
                                       "worktreePath"])
            self.assertEqual(s["projectRoot"], root)
        by_id = {s["streamId"]: s for s in doc["streams"]}
        self.assertEqual(by_id["Stream-C"]["worktreePath"], ".claude/worktrees/Stream-C")
        self.assertIsNone(by_id["Stream-B"]["worktreePath"])
        self.assertEqual((by_id["Stream-B"]["totalTasks"], by_id["Stream-B"]["completedTasks"]), (3, 1))
        self.assertEqual(by_id["Stream-B"]["streamName"], "status-api")
        self.assertEqual(doc["executionPlan"], {"foundation": ["Stream-A"],
                                                "parallel": ["Stream-D", "Stream-C", "Stream-B"],
                                                "integration": ["Stream-Z"]})
        rc, out, err = run_taskgate(["check-config", "--config", out_path])
        self.assertEqual((rc, out, err), (0, "taskgate: %s: ok (5 streams)\n" % out_path, ""))
        self.assertEqual([n for n in os.listdir(os.path.dirname(out_path))], ["orch.json"],
                         "no temporary file is left behind")

    def test_default_output_env_twins_and_force(self):
        env = {"TASKGATE_UPSTREAM": self.double.url + "/"}
        rc, out, err = self.generate(env=env)
        self.assertEqual(rc, 0, err)
        path = os.path.join(self.tmp, ".claude", "orchestration", "orchestration-config.json")
        with open(path) as f:
            doc = json.load(f)
        self.assertEqual(doc["apiEndpoint"], self.double.url)
        self.assertEqual(doc["streams"][0]["projectRoot"], os.path.realpath(self.tmp))

        with open(path, "w") as f:
            f.write("hand-edited\n")
        rc, out, err = self.generate(env=env)
        self.assertEqual(rc, 2)
        self.assertEqual(err, "taskgate: .claude/orchestration/orchestration-config.json already "
                              "exists; add --force to replace it\n")
        with open(path) as f:
            self.assertEqual(f.read(), "hand-edited\n", "refused means untouched")

        rc, out, err = self.generate("--force", env=env)
        self.assertEqual(rc, 0, err)
        with open(path) as f:
            self.assertEqual(len(json.load(f)["streams"]), 5)
        rc, out, err = self.generate(env=dict(env, TASKGATE_FORCE="1"))
        self.assertEqual(rc, 0, err)
        rc, out, err = self.generate(env=dict(env, TASKGATE_FORCE="maybe"))
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "TASKGATE_FORCE: 'maybe'")

    def test_unreachable_upstream(self):
        url = "http://127.0.0.1:%d" % harness.free_port()
        out_path = os.path.join(self.tmp, "orch.json")
        rc, out, err = self.generate("--upstream", url, "--output", out_path)
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "cannot reach the upstream at %s" % url)
        self.assertFalse(os.path.exists(out_path))
        self.assertEqual(os.listdir(self.tmp), [])

    def test_upstream_errors(self):
        out_path = os.path.join(self.tmp, "orch.json")
        cases = [
            ({"mode": "status", "status": 503}, "answered GET /api/streams with status 503"),
            ({"mode": "garbage"}, "is not a stream list"),
            ({"mode": "huge"}, "over 8 MiB"),
        ]
        for mode, needle in cases:
            with self.subTest(mode["mode"]):
                self.double.control("mode", mode)
                rc, out, err = self.generate("--upstream", self.double.url, "--output", out_path)
                self.assertEqual(rc, 2)
                self.assertOneLine(err, needle)
                self.assertFalse(os.path.exists(out_path))

    def test_unsound_upstream_plan_writes_nothing(self):
        self.double.control("scene", {"name": "empty"})
        out_path = os.path.join(self.tmp, "orch.json")
        rc, out, err = self.generate("--upstream", self.double.url, "--output", out_path)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "taskgate: %s/api/streams: %s\n" % (self.double.url, NO_FOUNDATION))
        self.assertFalse(os.path.exists(out_path))

    def test_bad_flags(self):
        rc, out, err = self.generate("--upstream", "ftp://example.org")
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "only http and https")
        rc, out, err = self.generate("--project-root", os.path.join(self.tmp, "nowhere"))
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "--project-root")
        rc, out, err = self.generate("--bogus")
        self.assertEqual(rc, 2)
        self.assertOneLine(err, "unknown option '--bogus'")
        rc, out, err = self.generate("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("usage: taskgate generate-config", out)


# A clipboard write (OSC 52), a bell, a screen clear, then CSI and NEL in
# their C1 forms (UTF-8 in the file, as JSON allows).
EVIL = "\x1b]52;c;aGk=\x07\x1b[2J\u009b31m\u0085"
SHOWN = "\\x1b]52;c;aGk=\\x07\\x1b[2J"   # what a reader sees of it
PRINTABLE = re.compile(rb"^[\x20-\x7e\n]*$")


def hostile(**fields):
    """A config whose one stream (or top level) carries fields."""
    top = {k: fields.pop(k) for k in ("apiEndpoint", "executionPlan") if k in fields}
    s = stream("Stream-A", "foundation")
    s.update(fields)
    return config(s, **top)


# (name, document, what check-config's lines must contain, what serve's
# must contain; None where the value is in no message of that verb)
HOSTILE = [
    ("streamId", hostile(streamId="S" + EVIL),
     "streams[0].streamId: 'S" + SHOWN, "streams[0].streamId: 'S" + SHOWN),
    ("streamName", hostile(streamName=EVIL, dependencies=["Q" + EVIL]),
     "Stream-A depends on unknown stream Q" + SHOWN, None),
    ("streamPhase", hostile(streamPhase=EVIL),
     "Stream-A has an unknown streamPhase '" + SHOWN, None),
    ("dependencies", hostile(dependencies=["Stream-" + EVIL]),
     "Stream-A depends on unknown stream Stream-" + SHOWN, None),
    ("projectRoot", hostile(projectRoot="/srv/" + EVIL, worktreePath="../" + EVIL),
     "Stream-A has a worktreePath '../" + SHOWN, None),
    ("worktreePath", hostile(worktreePath="/wt/" + EVIL),
     "Stream-A has an absolute worktreePath '/wt/" + SHOWN, None),
    ("apiEndpoint", hostile(apiEndpoint="http://example.org/" + EVIL),
     "apiEndpoint 'http://example.org/" + SHOWN, "upstream 'http://example.org/" + SHOWN),
    ("executionPlan", hostile(executionPlan={"foundation": ["Stream-A"],
                                             "parallel": ["P" + EVIL]},
                              dependencies=["Stream-" + EVIL]),
     "Stream-A depends on unknown stream Stream-" + SHOWN, None),
    ("duplicate key", '{"streams": [], "k\u009b\\u001b[2J": 1, "k\u009b\\u001b[2J": 2}',
     "not valid JSON: duplicate object key", "not valid JSON: duplicate object key"),
]


class HostileText(Base):
    """What an operator's terminal receives from a config it did not write."""

    def assertPrintable(self, data, what):
        bad = sorted({b for b in data if not (0x20 <= b < 0x7f or b == 0x0a)})
        self.assertTrue(PRINTABLE.match(data),
                        "%s: raw bytes %s reached the terminal: %r"
                        % (what, ", ".join("0x%02x" % b for b in bad), data))

    def serve(self, path):
        """serve --config path until it exits or starts; (stdout, stderr)."""
        state = tempfile.mkdtemp(prefix="tg-state-", dir=self.tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
        env["TMUX_TMPDIR"] = state
        proc = subprocess.Popen([harness.BIN, "serve", "--config", path,
                                 "--listen", "127.0.0.1:0",
                                 "--db", os.path.join(state, "history.db"),
                                 "--token-file", os.path.join(state, "token")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        first = proc.stdout.readline()    # the start line, or b"" at exit
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        return first + out, err

    def test_every_field_is_escaped(self):
        for name, doc, checked, served in HOSTILE:
            with self.subTest(name):
                path = self.write(name.replace(" ", "-"), doc if isinstance(doc, str) else
                                  json.dumps(doc, ensure_ascii=False))
                proc = subprocess.run([harness.BIN, "check-config", "--config", path],
                                      capture_output=True, timeout=30)
                self.assertPrintable(proc.stdout, "check-config's stdout")
                self.assertPrintable(proc.stderr, "check-config's stderr")
                self.assertNotEqual(proc.returncode, 0)
                self.assertIn(checked, proc.stderr.decode())
                out, err = self.serve(path)
                self.assertPrintable(out, "serve's stdout")
                self.assertPrintable(err, "serve's stderr")
                if served is not None:
                    self.assertIn(served, err.decode())

    def test_config_path(self):
        """The path of the config is outside text too."""
        path = self.write("conf\x1b]0;title\x07", config(FOUNDATION))
        proc = subprocess.run([harness.BIN, "check-config", "--config", path],
                              capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertPrintable(proc.stdout, "check-config's stdout")
        self.assertIn("conf\\x1b]0;title\\x07.json: ok (1 stream)", proc.stdout.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
