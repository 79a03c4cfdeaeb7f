#!/bin/sh
# check-walls.sh: the walls between taskgate's modules, checked on the
# sources (make check-walls; also one of `make check`'s tests):
#   1. a pure rule (the files of libtaskgate-rules.a, rules.h) includes no
#      header of I/O: not taskgate.h, libmicrohttpd, libcurl, SQLite,
#      pthread, sockets or files;
#   2. a handler (api-*.c, assets.c, reply.c, request.c) calls no sqlite3_*
#      and no curl_*;
#   3. only spawn.c forks or execs;
#   4. only tmux.c builds tmux argument vectors (tmux's command words);
#   5. data goes one way, from the poller to the sessions: poller.c calls
#      nothing of the session layer (main.c hands it the two functions it
#      may call back, poller_set_sessions()); the sessions read the
#      poller's published facts themselves.
# Each breach is printed as FILE:LINE: what; the exit status is 1 then.
# First it checks itself: a copy of the sources with one breach planted
# for each wall must fail, or this script could pass on anything.
set -u
src=${1:-${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}}/server

RULES="agent buf clock fifo model plan recovery stall validate xmalloc"

# code FILE: the file without its comment lines (a wall is about code).
code() {
	sed -e 's|/\*.*\*/||' -e '/^[[:space:]]*\/\*/d' -e '/^[[:space:]]*\*/d' "$1"
}

breaches() {	# breaches DIR: prints every breach in DIR
	d=$1
	for r in $RULES; do
		f=$d/$r.c
		[ -f "$f" ] || continue
		grep -nE '^#include[[:space:]]*[<"](taskgate\.h|client\.h|microhttpd\.h|curl/|sqlite3\.h|pthread\.h|unistd\.h|fcntl\.h|sys/socket\.h|sys/stat\.h)' "$f" |
		    sed "s|^|$f:|; s|\$| (a pure rule includes I/O)|"
	done
	grep -nE '^#include[[:space:]]*[<"](taskgate\.h|microhttpd\.h|curl/|sqlite3\.h|pthread\.h)' "$d/rules.h" |
	    sed "s|^|$d/rules.h:|; s|\$| (the rules' header includes I/O)|"
	for f in "$d"/api-*.c "$d"/assets.c "$d"/reply.c "$d"/request.c; do
		[ -f "$f" ] || continue
		code "$f" | grep -nE '\b(sqlite3|curl)_[a-z_]+[[:space:]]*\(' |
		    sed "s|^|$f:|; s|\$| (a handler calls SQLite or libcurl)|"
	done
	for f in "$d"/*.c; do
		case $f in */spawn.c) continue ;; esac
		code "$f" | grep -nE '\b(fork|vfork|execl|execlp|execle|execv|execvp|execvpe|posix_spawnp?|system|popen)[[:space:]]*\(' |
		    sed "s|^|$f:|; s|\$| (only spawn.c forks or execs)|"
	done
	for f in "$d"/*.c; do
		case $f in */tmux.c) continue ;; esac
		code "$f" | grep -nE '"(new-window|new-session|send-keys|kill-window|list-windows|capture-pane|has-session|set-hook|set-option)"' |
		    sed "s|^|$f:|; s|\$| (only tmux.c builds tmux argument vectors)|"
	done
	code "$d/poller.c" | grep -nE '\bsession_[a-z_]+[[:space:]]*\(' |
	    sed "s|^|$d/poller.c:|; s|\$| (the poller calls into the sessions)|"
}

# The self-check: each wall broken on purpose in a copy must be caught.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for wall in rule handler fork tmux poller; do
	mkdir -p "$tmp/$wall"
	cp "$src"/*.c "$src"/*.h "$tmp/$wall/"
	case $wall in
	rule)	printf '#include <pthread.h>\n' >>"$tmp/$wall/stall.c" ;;
	handler) printf 'void f(void) { sqlite3_exec(0, 0, 0, 0, 0); }\n' >>"$tmp/$wall/api-streams.c" ;;
	fork)	printf 'void f(void) { fork(); }\n' >>"$tmp/$wall/poller.c" ;;
	tmux)	printf 'const char *f[] = { "tmux", "kill-window", 0 };\n' >>"$tmp/$wall/session.c" ;;
	poller)	printf 'void f(void) { session_progress(0, "a"); }\n' >>"$tmp/$wall/poller.c" ;;
	esac
	if [ -z "$(breaches "$tmp/$wall")" ]; then
		echo "check-walls: a broken wall ($wall) was not caught" >&2
		exit 1
	fi
done

found=$(breaches "$src")
if [ -n "$found" ]; then
	echo "$found"
	echo "check-walls: the walls are broken (see above)" >&2
	exit 1
fi
echo "check-walls: every wall holds (pure rules, handlers, spawn, tmux, poller to sessions)"
