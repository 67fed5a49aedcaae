#!/bin/bash
# Acting on the conntrack table from Lua (nurs.ct), checked against
# conntrack-tools on the same table: count (-C), get (-G), update (-U),
# delete one and by filter (-D, zone filter in the kernel), create (-I),
# statistics (-S, within what moved between the two reads), flush (-F).
. "$(dirname "$0")/lib/common.sh"
ns_setup

ct() { nsx conntrack "$@" 2>/dev/null; }
# Runs a few lines of Lua with `ct` a table handle; the script stops
# itself (nurs.stop()) once its answers are in.
lua() {
    printf 'local nurs = require "nurs"\nlocal ct = nurs.ct()\n%s\n' "$1" >"$TMP/step.lua"
    nsx timeout 20 "$NURS" "$TMP/step.lua" 2>>"$TMP/nurs.log"
}

for i in $(seq 1 20); do
    ct -I -p tcp -s 10.0.0.$i -d 10.0.1.1 --sport 1000 --dport 993 --state ESTABLISHED -t 300 -u ASSURED >/dev/null
done
for i in $(seq 1 10); do ct -I -p udp -s 10.0.0.$i -d 10.0.1.1 --sport 1000 --dport 53 -t 300 >/dev/null; done
for i in $(seq 1 5); do
    ct -I -p tcp -s 10.0.7.$i -d 10.0.1.1 --sport 1000 --dport 993 --state ESTABLISHED -t 300 --zone 7 >/dev/null
done
[ "$(ct -C)" = 35 ] || fail "setup: $(ct -C) entries"

# count: the whole table as conntrack -C, and with a filter as conntrack -L
out=$(lua 'ct:count(function(n, max) print(n, max) ct:count({ proto = "tcp", dport = 993 }, function(m) print(m) nurs.stop() end) end)')
[ "$(echo "$out" | head -1 | cut -f1)" = "$(ct -C)" ] || fail "count: $out vs $(ct -C)"
[ "$(echo "$out" | head -1 | cut -f2)" = "$(nsx cat /proc/sys/net/netfilter/nf_conntrack_max)" ] || fail "count max: $out"
[ "$(echo "$out" | sed -n 2p)" = "$(ct -L -p tcp --dport 993 | wc -l)" ] || fail "count tcp/993: $out"

# get: one entry by its tuple, as conntrack -G; ENOENT for one that is not there
out=$(lua 'ct:get({ proto = "tcp", orig = { src = "10.0.0.3", dst = "10.0.1.1", sport = 1000, dport = 993 } },
  function(rec, err) print(rec.orig.src, rec.state, rec.id)
    ct:get({ proto = "tcp", src = "10.9.9.9", dst = "10.0.1.1", sport = 1, dport = 2 }, function(r, e) print(r, e) nurs.stop() end)
  end)')
id=$(ct -G -p tcp -s 10.0.0.3 -d 10.0.1.1 --sport 1000 --dport 993 -o id | grep -o 'id=[0-9]*' | cut -d= -f2)
[ "$(echo "$out" | head -1)" = "$(printf '10.0.0.3\tESTABLISHED\t%s' "$id")" ] || fail "get: $out (conntrack -G: id $id)"
[ "$(echo "$out" | sed -n 2p)" = "$(printf 'nil\tENOENT')" ] || fail "get of a missing entry: $out"
# ...and by id (a listing finds it)
out=$(lua "ct:get({ id = $id }, function(rec, err) print(rec and rec.orig.src, err) nurs.stop() end)")
[ "$out" = "$(printf '10.0.0.3\tnil')" ] || fail "get by id: $out"

# update: the mark of every entry a filter matches (zone 0 only), as conntrack -U
out=$(lua 'ct:update({ proto = "tcp", dport = 993, zone = 0 }, { mark = 0x42 }, function(n, i) print(n, i.matched, i.failed) nurs.stop() end)')
[ "$out" = "$(printf '20\t20\t0')" ] || fail "update by filter: $out"
[ "$(ct -L -m 0x42 | wc -l)" = 20 ] || fail "conntrack -L -m 0x42: $(ct -L -m 0x42 | wc -l)"
[ "$(ct -L --zone 7 -m 0x42 | wc -l)" = 0 ] || fail "zone 7 entries were marked"
# ...and one entry through its record: timeout
out=$(lua 'ct:list({ proto = "udp", src = "10.0.0.4" }, function(rec)
    ct:update(rec, { timeout = 1234 }, function(n, err) print(n, err) nurs.stop() end)
  end)')
[ "$out" = "$(printf '1\tnil')" ] || fail "update of a record: $out"
t=$(ct -L -p udp -s 10.0.0.4 | awk '{print $3}')
[ "$t" -gt 1200 ] && [ "$t" -le 1234 ] || fail "timeout after update: $t"

# delete one entry through its record; again: ENOENT, not an error
out=$(lua 'ct:list({ proto = "udp", src = "10.0.0.1" }, function(rec)
    ct:delete(rec, function(n, err) print(n, err) end)
  end, function() nurs.after(0.2, function()
    ct:delete({ proto = "udp", orig = { src = "10.0.0.1", dst = "10.0.1.1", sport = 1000, dport = 53 } },
      function(n, i) print(n, i.matched) nurs.stop() end) end) end)')
[ "$out" = "$(printf '1\tnil\n0\t0')" ] || fail "delete of a record: $out"
[ "$(ct -L -p udp -s 10.0.0.1 | wc -l)" = 0 ] || fail "the deleted entry is still listed"
[ "$(ct -L -p udp | wc -l)" = 9 ] || fail "other udp entries were deleted"

# delete by filter: zone 7 (filtered by the kernel), then tcp/993, as conntrack -D
before=$(ct -C)
out=$(lua 'ct:delete({ zone = 7 }, function(n, i) print(n, i.matched, i.gone, i.failed) nurs.stop() end)')
[ "$out" = "$(printf '5\t5\t0\t0')" ] || fail "delete zone 7: $out"
[ "$(ct -L --zone 7 | wc -l)" = 0 ] && [ "$(ct -C)" = $((before - 5)) ] || fail "after delete zone 7: $(ct -C)"
out=$(lua 'ct:delete({ proto = "tcp", dport = 993 }, function(n, i) print(n) nurs.stop() end)')
[ "$out" = 20 ] && [ "$(ct -L -p tcp --dport 993 | wc -l)" = 0 ] || fail "delete tcp/993: $out, $(ct -L -p tcp --dport 993 | wc -l) left"
[ "$(ct -C)" = 9 ] || fail "after deletes: $(ct -C) entries, 9 udp expected"

# create, as conntrack -I
out=$(lua 'ct:create({ proto = "tcp", orig = { src = "192.0.2.1", dst = "192.0.2.2", sport = 40000, dport = 443 },
    timeout = 600, state = "ESTABLISHED", mark = 9, zone = 3 }, function(ok, err) print(ok, err)
  ct:create({ proto = "tcp", orig = { src = "192.0.2.1", dst = "192.0.2.2", sport = 40000, dport = 443 },
    timeout = 600, zone = 3 }, function(ok2, err2) print(ok2, err2) nurs.stop() end) end)')
[ "$out" = "$(printf 'true\tnil\nnil\tEEXIST')" ] || fail "create: $out"
line=$(ct -L -m 9)
echo "$line" | grep -q 'ESTABLISHED src=192.0.2.1 dst=192.0.2.2 sport=40000 dport=443 .* zone=3' || fail "conntrack -L after create: $line"

# statistics, as conntrack -S: each counter between a read before and one after
ct -S >"$TMP/s0"
lua 'ct:stats(function(cpus, total)
  for _, c in ipairs(cpus) do
    local t = {}
    for _, k in ipairs { "found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart", "clash_resolve", "chaintoolong" } do
      t[#t + 1] = k .. "=" .. (c[k] or "x") end
    print("cpu=" .. c.cpu, table.concat(t, " "))
  end nurs.stop() end)' >"$TMP/nurs-stats"
ct -S >"$TMP/s1"
python3 - "$TMP/s0" "$TMP/nurs-stats" "$TMP/s1" <<'PY' || fail "statistics"
import re, sys
def read(p):
    out = {}
    for line in open(p):
        f = dict(kv.split("=") for kv in line.split() if "=" in kv)
        if "cpu" in f:
            out[f.pop("cpu")] = {k: int(v) for k, v in f.items()}
    return out
a, n, b = (read(p) for p in sys.argv[1:])
assert n and set(n) == set(a), f"cpus: {sorted(n)} vs {sorted(a)}"
for cpu, vals in n.items():
    for k, v in vals.items():
        assert a[cpu][k] <= v <= b[cpu][k], f"cpu {cpu} {k}: {a[cpu][k]} <= {v} <= {b[cpu][k]}"
PY

# flush, as conntrack -F
out=$(lua 'ct:flush(function(ok, err) print(ok, err) nurs.stop() end)')
[ "$out" = "$(printf 'true\tnil')" ] && [ "$(ct -C)" = 0 ] || fail "flush: $out, $(ct -C) left"

# misuse is a Lua error; a full bound is a result
out=$(lua 'print(pcall(ct.delete, ct, 42)) print(pcall(ct.get, ct, { proto = "tcp" }, print)) nurs.stop()')
echo "$out" | grep -q 'false.*conntrack record or table' || fail "misuse: $out"
echo "$out" | grep -q 'false.*whole original tuple or its id' || fail "misuse of get: $out"
echo "PASS ct-table"
