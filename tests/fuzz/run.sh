#!/bin/sh
# run.sh: builds the libFuzzer targets (./configure --enable-fuzzing, with
# clang, ASan and UBSan) in a build directory of their own, and runs each
# for SECONDS (default 15) on its seed corpus, made from the fixtures.  A
# crash leaves its input in tests/fuzz/out/ and fails.
# Usage: tests/fuzz/run.sh [SECONDS]   (after ./configure; needs clang)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-15}
out=${FUZZ_OUT:-$top/tests/fuzz/out}
build=$out/build
command -v clang >/dev/null 2>&1 || { echo "fuzz: clang is missing (apt-get install clang)"; exit 77; }
[ -f "$top/Makefile" ] || { echo "fuzz: run ./configure first"; exit 99; }
mkdir -p "$out"
cd "$top"
targets="orchconf model input pane tcdb-render"

# The source tree holds the ordinary build, so the fuzzing build is made
# from a copy of the distributed sources (make distdir).
echo "fuzz: building the targets in $build"
rm -rf "$build"
make -s distdir distdir="$build" >/dev/null
(cd "$build" && CC=clang ./configure -q --enable-fuzzing &&
    make -s -j2 >/dev/null $(for t in $targets; do printf 'tests/fuzz/fuzz-%s ' "$t"; done)) ||
	{ echo "fuzz: the build FAILED"; exit 1; }

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
for t in $targets; do
	echo "fuzz: fuzz-$t for ${secs}s"
	if ! "$build/tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
	    -artifact_prefix="$out/crash-$t-" "$out/corpus-$t" >"$out/fuzz-$t.log" 2>&1; then
		echo "fuzz: fuzz-$t FAILED; see $out/fuzz-$t.log and $out/crash-$t-*"
		tail -n 30 "$out/fuzz-$t.log"
		status=1
	else
		tail -n 1 "$out/fuzz-$t.log"
	fi
done
exit $status
