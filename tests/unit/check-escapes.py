#!/usr/bin/env python3
"""check-escapes: holds server/*.c to the rule written at the top of
server/log.c -- outside text (config values, upstream text, pane text,
tasks.db, headers, paths, argv, the environment) reaches a terminal or the
log only through log.c's writers (log_warn, log_warnx, log_info, log_debug,
log_out, fatal, fatalx), which escape each whole line once.

So a log_* call, or a message built with snprintf into an err buffer, may
carry anything.  What must not happen is text written to stdout or stderr
some other way.  This script finds every call that writes to a terminal
directly -- printf, fprintf, vprintf, vfprintf, dprintf, puts, fputs,
fwrite, write to fd 1 or 2, err/warn(3), perror -- lists it, and fails
unless its format is a literal and each text it prints (each %s, or the
text of puts/fputs/fwrite/write) is known to be safe:

  - a string literal or a macro constant (ALL_CAPS), or a ?: of such;
  - strerror(), curl_easy_strerror(), sqlite3_errstr() (the libraries'
    own constant texts);
  - a variable that, in the same function, is only ever assigned from
    log_escape() or client_safe() (or filled by log_escape_into());
  - one of the few expressions in SAFE below, each with the reason it is
    safe, for the usage texts and the screens of the client verbs.

Before it looks at the tree it checks itself on a few snippets: a raw
config field printed with fprintf must be caught.
"""

import os
import re
import sys

SRCDIR = os.environ.get("srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

# (file, function, expression) -> why it is safe.  Function "*_usage"
# stands for every function whose name ends so.
SAFE = {
    ("*", "*_usage", "v->name"): "usage text: the static table of verbs",
    ("*", "*_usage", "v->synopsis"): "usage text: the static table of verbs",
    ("*", "*_usage", "v->about"): "usage text: the static table of verbs",
    ("*", "*_usage", "r->name"): "usage text: the static table of flags",
    ("*", "*_usage", "r->env"): "usage text: the static table of flags",
    ("*", "*_usage", "r->help"): "usage text: the static table of flags",
    ("*", "*_usage", "r->arg"): "usage text: the static table of flags",
    ("*", "*_usage", "flags[i]->name"): "usage text: the static table of flags",
    ("*", "*_usage", "flags[i]->env"): "usage text: the static table of flags",
    ("*", "*_usage", "flags[i]->help"): "usage text: the static table of flags",
    ("*", "*_usage", "flags[i]->arg"): "usage text: the static table of flags",
    ("client.c", "client_parse", "v->name"):
        "the verb found by strcmp in the static table client_verbs",
    ("client-conn.c", "client_conn_refused", "what"):
        "a literal, or a verb of client_verbs and an id that passed valid_stream_id()",
    ("client.c", "client_status", "r.body.data"):
        "--json: a body json_loadb() took as a JSON object, so no raw control "
        "byte below 0x20 (jansson refuses them in strings)",
    ("client.c", "client_status", "f.lines[i].data"):
        "the status screen: client_frame_* draw every daemon string through "
        "client_safe_text()",
    ("cmd-statusline.c", "cmd_statusline_run_users", "res.out.data"):
        "what the user's own status line command (their Claude Code settings) "
        "printed, handed to Claude Code as if it had run that command itself, "
        "colours included: the user's text for the user's status bar",
    ("client.c", "client_print_argv", "b.data"):
        "each argument passed client_safe() in client_shell_quote()",
    ("client.c", "client_print_started", "verb"): "a literal or a verb of client_verbs",
    ("client.c", "client_act", "a->id"): "passed valid_stream_id() in client_parse()",
    ("client.c", "client_reply", "a->id"): "passed valid_stream_id() in client_parse()",
    ("client-watch.c", "watch_write", "p"):
        "the watch screen: frames drawn by client_frame_*, daemon text through "
        "client_safe_text()",
}

ESCAPERS = ("log_escape", "client_safe", "termtext_dup")
CONST_CALLS = ("strerror", "curl_easy_strerror", "sqlite3_errstr")

# name -> (index of the FILE/fd argument or None, index of the format or
# None, index of the text argument for the non-format writers)
WRITERS = {
    "printf": (None, 0, None), "vprintf": (None, 0, None),
    "fprintf": (0, 1, None), "vfprintf": (0, 1, None),
    "dprintf": (0, 1, None), "vdprintf": (0, 1, None),
    "puts": (None, None, 0), "fputs": (1, None, 0),
    "fwrite": (3, None, 0), "write": (0, None, 1),
    "err": (None, 1, None), "errx": (None, 1, None),
    "warn": (None, 0, None), "warnx": (None, 0, None),
    "perror": (None, None, 0),
}
TERMINAL_FDS = ("1", "2", "STDOUT_FILENO", "STDERR_FILENO")
CALL = re.compile(r"(?<![\w.>])(" + "|".join(WRITERS) + r")\s*\(")
CONV = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d*))?(hh|h|ll|l|L|q|j|z|Z|t)?([a-zA-Z%])")


def strip_comments(text):
    """Comments become spaces (newlines kept); strings stay."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j == -1 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_top(s, seps):
    """s cut at the separators that are outside brackets and literals."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            j = i + 1
            while j < len(s) and s[j] != c:
                j += 2 if s[j] == "\\" else 1
            cur.append(s[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if depth == 0 and c in seps:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def call_args(text, open_paren):
    """The arguments of the call whose '(' is at open_paren."""
    depth, i = 0, open_paren
    while True:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return split_top(text[open_paren + 1:i], ",")
        i += 1


LITERAL = re.compile(r'^(\s*("([^"\\]|\\.)*"|[A-Z][A-Z0-9_]*)\s*)+$')


def literal_text(expr):
    """The text of a literal format (macros kept as names), or None."""
    if not LITERAL.match(expr) or '"' not in expr:
        return None
    return "".join(m.group(1) for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', expr))


def ternary(expr):
    """(then, else) of a top-level a ? b : c, or None."""
    parts = split_top(expr, "?")
    if len(parts) < 2:
        return None
    rest = "?".join(parts[1:])
    # the ':' that closes this '?', past any nested ?: pairs
    depth, nested, i, cut = 0, 0, 0, None
    while i < len(rest):
        c = rest[i]
        if c in "\"'":
            j = i + 1
            while rest[j] != c:
                j += 2 if rest[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c == "?":
            nested += 1
        elif depth == 0 and c == ":":
            if nested == 0:
                cut = i
                break
            nested -= 1
        i += 1
    if cut is None:
        return None
    return rest[:cut].strip(), rest[cut + 1:].strip()


def escaped_names(body):
    """Names that body assigns only from an escaper, or fills with one."""
    names = set()
    for m in re.finditer(r"\b(\w+)\s*=\s*(\w+)\s*\(", body):
        if m.group(2) in ESCAPERS:
            names.add(m.group(1))
    for m in re.finditer(r"\blog_escape_into\s*\(\s*(\w+)\s*,", body):
        names.add(m.group(1))
    for name in list(names):
        for m in re.finditer(r"\b" + re.escape(name) + r"\s*=(?!=)\s*(\w*)", body):
            if m.group(1) not in ESCAPERS:
                names.discard(name)
    return names


def safe_reason(expr, fname, func, body):
    """Why expr is safe to print, or None."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")") and \
            split_top(expr[1:-1], ",") == [expr[1:-1].strip()]:
        expr = expr[1:-1].strip()
    if LITERAL.match(expr):
        return "constant"
    t = ternary(expr)
    if t is not None:
        a, b = (safe_reason(x, fname, func, body) for x in t)
        return a and b and "constant or escaped"
    m = re.match(r"^(\w+)\s*\(.*\)$", expr, re.S)
    if m and m.group(1) in CONST_CALLS:
        return "the library's own text"
    if re.match(r"^\w+$", expr) and expr in escaped_names(body):
        return "escaped in " + func
    for (f, fn, e), why in SAFE.items():
        if e != expr or f not in ("*", fname):
            continue
        if fn == func or (fn.startswith("*") and func.endswith(fn[1:])):
            return why
    return None


def functions(text):
    """(name, start, end) of each function definition, in the house style:
    the name at the start of a line, the body from a "{" line to a "}"
    line."""
    spans = []
    for m in re.finditer(r"^\{$", text, re.M):
        names = re.findall(r"^(\w+)\s*\(", text[:m.start()], re.M)
        end = re.compile(r"^\}", re.M).search(text, m.end())
        spans.append((names[-1] if names else "?", m.start(),
                      end.start() if end else len(text)))
    return spans


def check(fname, text):
    """[(line, verdict, what)] for each direct write in text."""
    text = strip_comments(text)
    funcs = functions(text)
    found = []
    for m in CALL.finditer(text):
        name = m.group(1)
        line = text.count("\n", 0, m.start()) + 1
        func, body = "(file scope)", ""
        for fn, start, end in funcs:
            if start <= m.start() <= end:
                func, body = fn, text[start:end]
        args = call_args(text, m.end() - 1)
        dest, fmt_at, text_at = WRITERS[name]
        if name == "write" and args[dest] not in TERMINAL_FDS:
            continue
        problems = []
        if fmt_at is not None:
            fmt = literal_text(args[fmt_at]) if len(args) > fmt_at else None
            if fmt is None:
                problems.append("the format is not a literal")
            else:
                at = fmt_at + 1
                for c in CONV.finditer(fmt):
                    if c.group(5) == "%":
                        continue
                    for star in (c.group(2), c.group(3)):
                        if star == "*":
                            at += 1
                    if c.group(5) == "s":
                        expr = args[at] if at < len(args) else "(missing)"
                        if not safe_reason(expr, fname, func, body):
                            problems.append("%%s of %s" % expr)
                    at += 1
        else:
            expr = args[text_at]
            if not safe_reason(expr, fname, func, body):
                problems.append("text %s" % expr)
        found.append((line, "raw" if problems else "ok",
                      "%s() in %s%s" % (name, func, ": " + "; ".join(problems) if problems else "")))
    return found


SELF_TEST = [
    ('int\nf(struct orchconf *c)\n{\n\tfprintf(stderr, "taskgate: %s\\n", c->project_root);\n}\n', "raw"),
    ('int\nf(char *p)\n{\n\tprintf("taskgate: wrote %s\\n", p);\n}\n', "raw"),
    ('int\nf(char *err)\n{\n\tfprintf(stderr, err);\n}\n', "raw"),
    ('int\nf(char *s)\n{\n\tfputs(s, stderr);\n}\n', "raw"),
    ('int\nf(char *s)\n{\n\twrite(STDERR_FILENO, s, strlen(s));\n}\n', "raw"),
    ('int\nf(char *s)\n{\n\tchar *e = log_escape(s, 80);\n\te = s;\n'
     '\tfprintf(stderr, "%s\\n", e);\n}\n', "raw"),
    ('int\nf(char *s)\n{\n\tchar *e = log_escape(s, 80);\n'
     '\tfprintf(stderr, "taskgate: %s: %s\\n", e, strerror(errno));\n}\n', "ok"),
    ('int\nf(int n)\n{\n\tprintf("%s%d %s\\n", n ? "# " : "", n, PACKAGE_VERSION);\n}\n', "ok"),
    ('int\nf(int fd, char *s)\n{\n\twrite(fd, s, 1);\n}\n', None),
]


def main():
    for snippet, want in SELF_TEST:
        got = check("self-test.c", snippet)
        verdict = got[0][1] if got else None
        if verdict != want:
            print("check-escapes itself is wrong: %r gave %r, not %r" % (snippet, got, want))
            return 1
    server = os.path.join(SRCDIR, "server")
    bad = 0
    total = 0
    for fname in sorted(os.listdir(server)):
        if not fname.endswith(".c") or fname == "migrations.c":
            continue
        with open(os.path.join(server, fname), encoding="utf-8") as f:
            for line, verdict, what in check(fname, f.read()):
                total += 1
                print("%s server/%s:%d: %s" % (verdict, fname, line, what))
                bad += verdict != "ok"
    print("%d direct writes to a terminal, %d with raw outside text" % (total, bad))
    if total == 0:
        print("found no writes at all: the checker is broken")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
