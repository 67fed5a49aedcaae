#!/bin/bash
# A real Prometheus server (Debian's) scrapes nurs.metrics in a private
# namespace while bounded UDP traffic makes conntrack entries: its query
# API returns the counters the daemon logs on SIGUSR1, the conntrack table
# of the namespace, and a histogram the script defines, bucket by bucket.
# promtool and prometheus_client's strict OpenMetrics parser accept both
# formats.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
# Scrapes and queries are TCP on loopback too: left untracked, so that the
# conntrack counters stand still once the test's own traffic is over.
collector_notrack "tcp dport { 9090, 9464 }" "tcp sport { 9090, 9464 }"
command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/install-deps.sh)"
FLOWS=500

cat >"$TMP/script.lua" <<'LUA'
local nurs = require "nurs"
local m = nurs.metrics { listen = "127.0.0.1:9464" }
local hundreds = m:histogram { name = "test_dport_hundreds",
  help = "Destination ports of new UDP flows, in hundreds above 20000.",
  labels = { "proto" }, buckets = { 1, 5, 10, 50 } }
local flows = m:counter { name = "test_flows_total", help = "Flows the script saw.",
  labels = { "proto" } }
nurs.conntrack({ events = { "new" } }, function(rec)
  local d = rec.orig.dport
  if rec.proto == "udp" and d and d >= 20000 and d < 21000 then
    hundreds:observe((d - 20000) / 100, { proto = "udp" })
    flows:inc(1, { proto = "udp" })
  end
end)
LUA

cat >"$TMP/prometheus.yml" <<'YML'
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: nurs
    static_configs:
      - targets: ["127.0.0.1:9464"]
YML

start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "serving metrics"
wait_log "listening"
nsx prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address=127.0.0.1:9090 --log.level=warn >"$TMP/prometheus.log" 2>&1 &
PIDS+=($!)

# The formats, checked by others.
nsx curl -s -m 5 http://127.0.0.1:9464/metrics >"$TMP/text.txt"
nsx curl -s -m 5 -H 'Accept: application/openmetrics-text; version=1.0.0' \
    http://127.0.0.1:9464/metrics >"$TMP/om.txt"
promtool check metrics <"$TMP/text.txt" || fail "promtool: the text format has problems"
tail -1 "$TMP/om.txt" | grep -qx '# EOF' || fail "OpenMetrics without # EOF"
# promtool reads the 0.0.4 text format only: OpenMetrics parses, and the
# only problems it sees are OpenMetrics' counter naming (family "x", samples
# "x_total"), which it takes for samples without help.
rc=0; promtool check metrics <"$TMP/om.txt" >"$TMP/om-lint.txt" 2>&1 || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || { cat "$TMP/om-lint.txt"; fail "promtool cannot parse the OpenMetrics output"; }
while read -r name rest; do
    [ "$rest" = "no help text" ] && grep -qx "# TYPE ${name%_total} counter" "$TMP/om.txt" ||
        fail "promtool on OpenMetrics: $name $rest"
done <"$TMP/om-lint.txt"
/usr/bin/python3 - "$TMP/om.txt" "$TMP/text.txt" <<'PY' || fail "prometheus_client refuses our output"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
from prometheus_client.parser import text_string_to_metric_families as text
fams = list(om(open(sys.argv[1]).read()))
assert any(f.name == "nurs_resource_in" and f.type == "counter" for f in fams)
assert len(list(text(open(sys.argv[2]).read()))) == len(fams)
print(f"prometheus_client: {len(fams)} OpenMetrics families parsed strictly")
PY

nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" $FLOWS 1 20000 >/dev/null
sleep 1
kill -USR1 "$NURS_PID"
wait_log "counters conntrack:"
line=$(grep "counters conntrack:" "$TMP/nurs.log" | tail -1)
echo "daemon: $line"

query() { # query PROMQL -> JSON
    nsx curl -s -m 5 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1"
}
# Bounded: Prometheus scrapes every second; the counters are still now.
for ((i = 0; i < 40; i++)); do
    query 'nurs_resource_in_total{resource="conntrack"}' >"$TMP/q.json" 2>/dev/null || true
    grep -q "\"$(grep -o ' in=[0-9]*' <<<"$line" | cut -d= -f2)\"" "$TMP/q.json" && break
    sleep 0.5
done

# In the namespace, where Prometheus listens.
nsx /usr/bin/python3 - "$line" "$FLOWS" <<'PY' || fail "Prometheus disagrees with the daemon"
import json, subprocess, sys
line, flows = sys.argv[1], int(sys.argv[2])

def query(q):
    out = subprocess.check_output(["curl", "-s", "-m", "5", "http://127.0.0.1:9090/api/v1/query",
                                   "--data-urlencode", "query=" + q])
    r = json.loads(out)
    assert r["status"] == "success", r
    return {tuple(sorted((k, v) for k, v in s["metric"].items() if k not in ("job", "instance"))):
            float(s["value"][1]) for s in r["data"]["result"]}

def one(q):
    r = query(q)
    assert len(r) == 1, (q, r)
    return next(iter(r.values()))

up = one('up{job="nurs"}')
assert up == 1, "the scrape failed"
common = {"in", "delivered", "errors", "overruns", "dropped", "malformed", "timeouts"}
gauges = {"rcvbuf"}
fields = dict(kv.split("=") for kv in line.split("counters conntrack: ")[1].split())
bad = []
for k, v in fields.items():
    name = (f"nurs_resource_{k}_total" if k in common else
            f"nurs_conntrack_{k}" + ("" if k in gauges else "_total"))
    got = one(f'{name}{{resource="conntrack",kind="conntrack"}}')
    print(f"{name}: daemon {v}, Prometheus {got:.0f}")
    if got != float(v):
        bad.append(name)
assert not bad, bad
assert int(fields["in"]) >= flows and fields["overruns"] == "0", fields

b = query('test_dport_hundreds_bucket{proto="udp"}')
buckets = {dict(k)["le"]: v for k, v in b.items()}
print("histogram buckets:", buckets)
want = {"1": 101, "5": flows, "10": flows, "50": flows, "+Inf": flows}
assert buckets == want, (buckets, want)
assert one('test_dport_hundreds_count{proto="udp"}') == flows
assert abs(one('test_dport_hundreds_sum{proto="udp"}') - sum(i / 100 for i in range(flows))) < 1e-6
assert one('test_flows_total{proto="udp"}') == flows
entries = one("nurs_conntrack_table_entries")
limit = one("nurs_conntrack_table_limit")
print(f"conntrack table: {entries:.0f} of {limit:.0f}")
assert flows <= entries <= limit
assert one("process_resident_memory_bytes") > 1e6
assert one("process_open_fds") > 3
assert one('nurs_build_info') == 1
print("ok")
PY
stop_nurs
echo "ok: metrics-prometheus"
