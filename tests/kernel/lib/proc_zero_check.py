#!/usr/bin/env python3
"""Checks the DESTROY records of ct-json.lua against what the processes of
proc_zero.py reported of themselves:

  proc_zero_check.py FLOWS.json CT.json

Every flow's orig.process must be its client and reply.process its server:
pid, name, uid, cgroup, and what only the BPF hook knows, the thread (the
process's only one) and the parent at the time (the driver).
"""
import json
import sys


def main():
    doc = json.load(open(sys.argv[1]))
    records = [json.loads(line) for line in open(sys.argv[2])]
    failures, right = [], 0
    for f in doc["flows"]:
        what = "%s %d->%d" % (f["kind"], f["sport"], f["dport"])
        recs = [r for r in records if r["event"] == "destroy" and r["proto"] == f["proto"]
                and r["family"] == f["family"] and r["orig"].get("sport") == f["sport"]
                and r["orig"].get("dport") == f["dport"]]
        if len(recs) != 1:
            failures.append("%s: %d destroy records" % (what, len(recs)))
            continue
        ok = True
        for end, who in (("orig", f["client"]), ("reply", f["server"])):
            p = recs[0][end].get("process") or {}
            want = dict(who, tid=who["pid"])
            for key in ("pid", "name", "uid", "cgroup", "tid", "ppid"):
                if p.get(key) != want[key]:
                    failures.append("%s: %s.process.%s = %r, want %r" % (what, end, key, p.get(key), want[key]))
                    ok = False
        right += ok
    print("%d of %d flows attributed right at both ends" % (right, len(doc["flows"])))
    if failures:
        print("\n".join(failures[:40]))
        sys.exit(1)


if __name__ == "__main__":
    main()
