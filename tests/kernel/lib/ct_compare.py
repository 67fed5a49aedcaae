#!/usr/bin/env python3
"""Checks nurs-lua's JSON output against `conntrack -L -o xml,id`.

Usage: ct_compare.py TABLE.xml OUT.json [FLOWS.json]

Every entry conntrack listed must appear exactly once among the JSON
records of event EVENT (default destroy) with the same id, addresses,
ports, protocol, mark and per-direction packet/byte counters. If FLOWS.json
(traffic.py's report) is given, every flow it made must be among them.
Exits non-zero with a list of differences.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET


def table_entries(path):
    entries = {}
    for flow in ET.parse(path).getroot().iter("flow"):
        e = {"dirs": {}}
        for meta in flow.iter("meta"):
            d = meta.get("direction")
            if d in ("original", "reply"):
                l3, l4 = meta.find("layer3"), meta.find("layer4")
                c = meta.find("counters")
                e["dirs"][d] = {
                    "src": l3.findtext("src"), "dst": l3.findtext("dst"),
                    "sport": l4.findtext("sport"), "dport": l4.findtext("dport"),
                    "packets": c.findtext("packets") if c is not None else None,
                    "bytes": c.findtext("bytes") if c is not None else None,
                }
                e["proto"] = l4.get("protoname")
                e["family"] = l3.get("protoname")
            else:
                e["id"] = int(meta.findtext("id"))
                e["mark"] = meta.findtext("mark")
                start = meta.findtext("timestamp/start")  # with -o ktimestamp
                e["start"] = int(start) if start else None
        entries[e["id"]] = e
    return entries


def main():
    table = table_entries(sys.argv[1])
    event = os.environ.get("EVENT", "destroy")
    records = {}
    dup = []
    with open(sys.argv[2]) as f:
        for line in f:
            r = json.loads(line)
            if r.get("event") != event:
                continue
            if r["id"] in records:
                dup.append(r["id"])
            records[r["id"]] = r
    errors = []
    if dup:
        errors.append(f"records delivered twice: {dup}")
    for cid, e in table.items():
        r = records.get(cid)
        if not r:
            errors.append(f"id {cid} ({e['proto']} {e['dirs']['original']}) missing")
            continue
        if r["proto"] != e["proto"] or r["family"] != e["family"]:
            errors.append(f"id {cid}: proto/family {r['proto']}/{r['family']} != {e['proto']}/{e['family']}")
        # Recent kernels leave a zero mark out of events: absent means 0.
        if str(r.get("mark", 0)) != e["mark"]:
            errors.append(f"id {cid}: mark {r.get('mark')} != {e['mark']}")
        for d, key in (("original", "orig"), ("reply", "reply")):
            want, got = e["dirs"][d], r[key]
            for f in ("src", "dst", "sport", "dport", "packets", "bytes"):
                if want[f] is not None and str(got.get(f)) != want[f]:
                    errors.append(f"id {cid} {key}.{f}: {got.get(f)} != conntrack's {want[f]}")
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            flows = json.load(f)
        seen = {(r["proto"], r["orig"]["src"], r["orig"].get("sport"), r["orig"].get("dport"))
                for r in records.values()}
        for fl in flows:
            if (fl["proto"], fl["src"], fl["sport"], fl["dport"]) not in seen:
                errors.append(f"flow {fl} not reported")
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print(f"ok: {len(table)} conntrack entries match their {event} records")


if __name__ == "__main__":
    main()
