#!/bin/sh
# run.sh: the dashboard's browser tests, from a clean clone after make.
# Installs what they need (contrib/install-e2e: chromium, node, and
# playwright-core into tests/e2e/node_modules), then runs them with node's
# own test runner (Node.js 18 or later; the shell expands the file names,
# since node 18 takes no patterns) and exits with its status.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
contrib/install-e2e
exec node --test tests/e2e/*.test.mjs
