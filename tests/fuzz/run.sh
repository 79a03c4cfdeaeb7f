#!/bin/sh
# run.sh: builds the libFuzzer targets with clang (ASan + UBSan) and runs
# each for SECONDS (default 15) on its seed corpus, made from the
# fixtures.  A crash leaves its input in tests/fuzz/out/ and fails.
# Usage: tests/fuzz/run.sh [SECONDS]   (after ./configure; needs clang)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-15}
out=${FUZZ_OUT:-$top/tests/fuzz/out}
command -v clang >/dev/null 2>&1 || { echo "fuzz: clang is missing (apt-get install clang)"; exit 77; }
[ -f "$top/config.h" ] || { echo "fuzz: run ./configure first"; exit 99; }
mkdir -p "$out"
cd "$top"
SRC="server/validate.c server/xmalloc.c server/log.c server/buf.c server/clock.c
server/model.c server/orchconf.c server/plan.c server/tmux.c server/spawn.c
server/auth.c server/files.c server/acceptor.c server/tcdb-render.c"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
-D_GNU_SOURCE -DTASKGATE_SRCDIR=\"$top\" -DTASKGATE_BUILDDIR=\"$top\"
-DTASKGATE_WEBROOT=\"$top/web\" -I. -Iserver $(pkg-config --cflags jansson libmicrohttpd)"
LIBS="$(pkg-config --libs jansson libmicrohttpd) -lm -lpthread"

seed() {	# seed DIR FILES...: a corpus directory from fixture files
	d=$out/corpus-$1
	shift
	mkdir -p "$d"
	for f in "$@"; do [ -f "$f" ] && cp "$f" "$d/" || true; done
}
fx=tests/fixtures/task-copilot
seed model $fx/streams-list.json $fx/stream-B.json $fx/stream-D.json $fx/tasks-list.json \
	$fx/progress-after-streams-list.json $fx/empty-streams-list.json
seed orchconf tests/fuzz/seeds/*.json
seed pane tests/fixtures/tc/watch.txt tests/fixtures/tc/watch-stream-2.txt tests/fuzz/seeds/*.txt
seed input tests/fuzz/seeds/*.input
seed tcdb-render tests/fuzz/seeds/*.rows

status=0
for t in orchconf model input pane tcdb-render; do
	# shellcheck disable=SC2086
	clang $CFLAGS -o "$out/fuzz-$t" "tests/fuzz/fuzz-$t.c" $SRC $LIBS
	echo "fuzz: fuzz-$t for ${secs}s"
	if ! "$out/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
	    -artifact_prefix="$out/crash-$t-" "$out/corpus-$t" >"$out/fuzz-$t.log" 2>&1; then
		echo "fuzz: fuzz-$t FAILED; see $out/fuzz-$t.log and $out/crash-$t-*"
		tail -n 30 "$out/fuzz-$t.log"
		status=1
	else
		tail -n 1 "$out/fuzz-$t.log"
	fi
done
exit $status
