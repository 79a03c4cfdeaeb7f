#!/bin/sh
# Installs the real Claude Code binary that taskgate's Claude Code tests
# run against, offline, from the npm registry: the platform package
# @anthropic-ai/claude-code-linux-x64 at one pinned version, fetched with
# `npm pack` and unpacked into a cache directory (default
# tests/claude/.cache/, or $TASKGATE_CLAUDE_CACHE).  Idempotent: when the
# binary of the pinned version is already there it only prints its path;
# installs running at once take turns (flock).
# Prints the absolute path of the binary on stdout; everything else goes to
# stderr.  Exit 0 on success, 1 when it cannot install (no npm, no
# network, unsupported machine).
set -eu

CLAUDE_CODE_VERSION=2.1.332
PACKAGE=@anthropic-ai/claude-code-linux-x64

here=$(cd "$(dirname "$0")" && pwd)
cache=${TASKGATE_CLAUDE_CACHE:-$here/.cache}
dest=$cache/claude-code-$CLAUDE_CODE_VERSION
bin=$dest/package/claude

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

case $(uname -s)-$(uname -m) in
Linux-x86_64) ;;
*)	echo "install.sh: $PACKAGE runs on Linux x86-64 only" >&2
	exit 1 ;;
esac
if ! command -v npm >/dev/null 2>&1; then
	echo "install.sh: npm not found (Node 18 or newer is needed)" >&2
	exit 1
fi

mkdir -p "$cache"
# Tests that run at once (make -j) install one at a time: the second
# finds the first's binary, and never replaces it under a running agent.
exec 9>"$cache/.install.lock"
flock 9
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
work=$(mktemp -d "$cache/.install.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

echo "install.sh: fetching $PACKAGE@$CLAUDE_CODE_VERSION" >&2
# npm pack prints the tarball's file name as its last line of stdout.
tarball=$(cd "$work" && npm pack --silent "$PACKAGE@$CLAUDE_CODE_VERSION" | tail -n 1)
if [ -z "$tarball" ] || [ ! -f "$work/$tarball" ]; then
	echo "install.sh: npm pack gave no tarball" >&2
	exit 1
fi
mkdir "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked"
if [ ! -f "$work/unpacked/package/claude" ]; then
	echo "install.sh: package/claude missing from $tarball" >&2
	exit 1
fi
chmod 755 "$work/unpacked/package/claude"
rm -rf "$dest"
mv "$work/unpacked" "$dest"
echo "$bin"
