#!/usr/bin/env python3
"""Checks what the process attribution test's daemons wrote against what
the processes themselves reported (proc_traffic.py):

  proc_check.py FLOWS.json CT.json FLOWS.ipfix V9.pcap

- CT.json (ct-json.lua ... process): the DESTROY record of every flow names
  the client in orig.process and the server in reply.process: pid, name,
  uid, user; the server's systemd unit and container id.
- FLOWS.ipfix (ctipfix.lua ... process), decoded by tshark: each direction's
  record names its source and destination processes (enterprise 32473
  elements 1, 2, 4, 5 and 11, 12, 14, 15) and the client's user in userName.
- V9.pcap (ctflow9.lua ... process), decoded by tshark: the same in the
  NetFlow v9 vendor fields 32769... (fixed lengths, zero padded).
"""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

PEN = 32473
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def tshark_flows(path, decode_as=None):
    """Every data record of the file as a dict: field name -> value, the
    enterprise/vendor fields under their type number."""
    cmd = ["timeout", "60", "tshark", "-r", path, "-T", "pdml"]
    if decode_as:
        cmd[5:5] = ["-d", decode_as]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout[:64 << 20]
    flows = []
    for flow in ET.fromstring(out).iter("field"):
        if not flow.get("show", "").startswith("Flow ") and not flow.get("showname", "").startswith("Flow "):
            continue
        rec = {}
        for f in flow:
            name, show = f.get("name"), f.get("showname", "")
            if name in ("cflow.enterprise_private_entry", "cflow.unknown_field_type"):
                num = int(show.split("Type ")[1].split(":")[0])
                rec[num] = bytes.fromhex(f.get("value", ""))
            elif name:
                rec[name] = f.get("show")
        if "cflow.srcport" in rec:
            flows.append(rec)
    return flows


def text(b):
    return b.rstrip(b"\0").decode() if b is not None else None


def number(b):
    return int.from_bytes(b, "big") if b is not None else None


def check_export(flows, records, kind, base):
    """base: the type number of sourceProcessId (1 in IPFIX, 32769 in v9)."""
    for f in flows:
        c, s = f["client"], f["server"]
        for direction, src, dst, sport, dport in (("orig", c, s, f["sport"], f["dport"]),
                                                  ("reply", s, c, f["dport"], f["sport"])):
            what = "%s %s %s %d->%d" % (kind, f["proto"], direction, sport, dport)
            recs = [r for r in records if r.get("cflow.srcport") == str(sport)
                    and r.get("cflow.dstport") == str(dport)
                    and r.get("cflow.flow_end_reason", "3") != "4"]
            if len(recs) != 1:
                check(False, "%s: %d records" % (what, len(recs)))
                continue
            r = recs[0]
            check(number(r.get(base)) == src["pid"], "%s: sourceProcessId %s, want %d" % (what, number(r.get(base)), src["pid"]))
            check(text(r.get(base + 1)) == src["name"], "%s: sourceProcessName %r" % (what, text(r.get(base + 1))))
            check(number(r.get(base + 3)) == src["uid"], "%s: sourceProcessUserId %s" % (what, number(r.get(base + 3))))
            check(text(r.get(base + 4)) == src["user"], "%s: sourceProcessUserName %r" % (what, text(r.get(base + 4))))
            check(number(r.get(base + 10)) == dst["pid"], "%s: destinationProcessId %s, want %d" % (what, number(r.get(base + 10)), dst["pid"]))
            check(text(r.get(base + 11)) == dst["name"], "%s: destinationProcessName %r" % (what, text(r.get(base + 11))))
            check(r.get("cflow.user_name") == c["user"], "%s: userName %r, want the client's %r" % (what, r.get("cflow.user_name"), c["user"]))
            unit = text(r.get(base + 6 if direction == "reply" else base + 16))
            check(unit == s["unit"], "%s: the server's unit %r, want %r" % (what, unit, s["unit"]))


def main():
    flows = json.load(open(sys.argv[1]))
    assert len(flows) == 8, flows
    records = [json.loads(line) for line in open(sys.argv[2])]
    for f in flows:
        c, s = f["client"], f["server"]
        what = "json %s %s %d->%d (%s)" % (f["proto"], f["family"], f["sport"], f["dport"],
                                           "client exited first" if f["early"] else "client alive")
        recs = [r for r in records if r["event"] == "destroy" and r["proto"] == f["proto"]
                and r["family"] == f["family"] and r["orig"].get("sport") == f["sport"]
                and r["orig"].get("dport") == f["dport"]]
        if len(recs) != 1:
            check(False, "%s: %d destroy records" % (what, len(recs)))
            continue
        r = recs[0]
        for end, who in (("orig", c), ("reply", s)):
            p = r[end].get("process")
            if not p:
                check(False, "%s: no %s.process" % (what, end))
                continue
            for key in ("pid", "name", "uid", "user"):
                check(p.get(key) == who[key], "%s: %s.process.%s = %r, want %r" % (what, end, key, p.get(key), who[key]))
            check("proc_traffic.py" in p.get("cmdline", ""),
                  "%s: %s.process.cmdline %r" % (what, end, p.get("cmdline")))
        rp = r["reply"].get("process") or {}
        check(rp.get("unit") == s["unit"], "%s: server unit %r, want %r" % (what, rp.get("unit"), s["unit"]))
        check(rp.get("container") == s.get("container"), "%s: server container %r" % (what, rp.get("container")))

    check_export(flows, tshark_flows(sys.argv[3]), "ipfix", 1)
    check_export(flows, tshark_flows(sys.argv[4], "udp.port==29055,cflow"), "v9", 32769)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("ok: %d flows, both ends named in JSON, IPFIX and NetFlow v9" % len(flows))


if __name__ == "__main__":
    main()
