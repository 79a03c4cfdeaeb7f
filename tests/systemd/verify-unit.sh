#!/bin/sh
# verify-unit.sh: `systemd-analyze verify` finds nothing to say about the
# generated user unit contrib/systemd/taskgate.service: no unknown key, no
# bad value.  ExecStart names the installed binary, which a build tree
# does not have yet, so a copy that runs the built one is checked.  Needs
# no running systemd (a private XDG_RUNTIME_DIR stands in for the user
# manager's); skips (77) where systemd-analyze is missing.
set -u
: "${TASKGATE_BIN:?}"
unit=${UNIT:-contrib/systemd/taskgate.service}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not found (apt-get install systemd)"
	exit 77
fi
if [ ! -f "$unit" ]; then
	echo "FAIL: $unit was not generated"
	exit 1
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -m 700 "$tmp/run"
sed "s|^ExecStart=[^ ]*/taskgate |ExecStart=$TASKGATE_BIN |" "$unit" \
    >"$tmp/taskgate.service"
grep -q "^ExecStart=$TASKGATE_BIN serve" "$tmp/taskgate.service" || {
	echo "FAIL: no ExecStart=.../taskgate serve in $unit"
	exit 1
}
XDG_RUNTIME_DIR="$tmp/run" systemd-analyze --user --man=no verify \
    "$tmp/taskgate.service" >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
if grep -q "Failed to initialize manager" "$tmp/out"; then
	echo "SKIP: systemd-analyze cannot run a user manager here"
	exit 77
fi
if [ "$rc" -ne 0 ] || [ -s "$tmp/out" ]; then
	echo "FAIL: systemd-analyze verify complained about $unit"
	exit 1
fi
echo "PASS: $unit verifies"
