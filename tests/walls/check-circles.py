#!/usr/bin/env python3
"""check-circles.py: no two files of server/ call each other, however
far round.  It reads the built objects next to $TASKGATE_BIN with nm(1):
a file that uses a function another file defines depends on that file,
and a circle of such dependencies (a calls b, b calls a; or a, b, c round)
is printed as a breach, exit 1.  Callbacks a file is handed (main.c wires
the poller to the sessions with poller_set_sessions()) are no dependency:
that is how one file calls back into another it does not know.
First it checks itself on a planted circle.  Exit 77 without nm or the
built objects (it needs the build)."""

import glob
import os
import shutil
import subprocess
import sys

RULES_PREFIX = "libtaskgate_rules_a-"


def symbols(obj):
    """(defined, used) function and data names of one object file."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
    return defined, used


def graph(objects):
    """file -> the files whose names it uses, from {file: (defined, used)}."""
    owner = {name: f for f, (defined, _) in objects.items() for name in defined}
    return {f: {owner[n] for n in used if n in owner and owner[n] != f}
            for f, (_, used) in objects.items()}


def circles(g):
    """The strongly connected groups of more than one file (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def main():
    binary = os.environ.get("TASKGATE_BIN", "")
    objdir = os.path.dirname(binary)
    objs = sorted(glob.glob(os.path.join(objdir, "*.o")))
    if shutil.which("nm") is None or not objs:
        print("check-circles: needs nm and the built objects of server/ (make first)")
        return 77
    objects = {}
    for obj in objs:
        name = os.path.basename(obj)[:-2]
        if name.startswith(RULES_PREFIX):
            name = name[len(RULES_PREFIX):]
        defined, used = symbols(obj)
        d, u = objects.get(name, (set(), set()))
        objects[name] = (d | defined, u | used)

    # The self-check: a planted call back from the callee must be caught.
    planted = dict(objects)
    planted["poller"] = (objects["poller"][0], objects["poller"][1] | {"session_watch_progress"})
    if not circles(graph(planted)):
        print("check-circles: a planted circle (poller calls the sessions back) was not caught")
        return 1

    found = circles(graph(objects))
    for group in found:
        g = graph(objects)
        links = ["%s -> %s" % (a, b) for a in group for b in sorted(g[a]) if b in group]
        print("check-circles: these files call each other: %s (%s)" % (", ".join(group), "; ".join(links)))
    if found:
        return 1
    print("check-circles: no circle among the %d files of server/" % len(objects))
    return 0


if __name__ == "__main__":
    sys.exit(main())
