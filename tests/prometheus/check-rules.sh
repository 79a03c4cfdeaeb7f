#!/bin/sh
# check-rules.sh: contrib/prometheus's rules and example configurations
# are valid (promtool check rules, check config), the rules do what their
# tests say (promtool test rules: input series and the alerts expected at
# each time), and the Grafana dashboard is JSON with the variable and
# panels a fleet needs.  Skips (77) without promtool; contrib/run-tests
# gets it with contrib/install-promtool.
set -u
dir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/contrib/prometheus
if ! command -v promtool >/dev/null 2>&1; then
	echo "SKIP: promtool not found (PATH=\$(contrib/install-promtool):\$PATH)"
	exit 77
fi
fail=0
promtool check rules "$dir/taskgate-rules.yml" || fail=1
# The example configurations (each loads the rules it names beside it).
promtool check config "$dir/prometheus-box.yml" || fail=1
promtool check config "$dir/prometheus-central.yml" || fail=1
# promtool reads rule_files relative to the tests file.
promtool test rules "$dir/taskgate-rules.test.yml" || fail=1
python3 - "$dir/grafana-taskgate.json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
names = [v["name"] for v in d["templating"]["list"]]
assert "instance" in names, names
exprs = " ".join(t["expr"] for p in d["panels"] for t in p.get("targets", []))
for m in ("taskgate_stream_progress_percent", "taskgate_stream_state",
          "taskgate_hook_events_total", "taskgate_upstream_up", "taskgate_sse_clients"):
    assert m in exprs, "no panel shows " + m
for p in d["panels"]:
    for t in p.get("targets", []):
        assert "$instance" in t["expr"], "panel %r ignores $instance" % p["title"]
print("grafana-taskgate.json: %d panels, variable instance" % len(d["panels"]))
PY
[ "$fail" -eq 0 ] && echo "PASS: contrib/prometheus checks" || echo "FAIL: contrib/prometheus checks"
exit "$fail"
