#!/usr/bin/env python3
"""Checks what nurs-lua's flow exporters sent, as nfdump and tshark decode
it, against what conntrack accounted and what the traffic was.

  flowcheck.py flows  --table T.xml [--traffic TR.json] --version 9|10
                      (--nfdump DIR | --pmacct JSON | --capture PCAP --port P | --file F)
                      [--start-window A B] [--end-window C D] [--records N] [--biflow]
      Each connection of the table (conntrack -L -o xml,ktimestamp,id taken
      just before the flush) appears as its flows with the right addresses,
      ports, protocol, ICMP type/code, post-NAT fields, bytes, packets,
      start (conntrack's, to the ms) and end (inside the flush window);
      the table itself agrees with what traffic.py did. tshark sources get
      the stream checks too. --reason N: every flow ended with reason N.
      --mark M/MASK: only connections whose conntrack mark matches.
  flowcheck.py stream (--capture PCAP --port P | --file F) --version 9|10
                      [--seq-start N] [--templates-first] [--stats exact|atmost] [--records N]
      Stream checks only; prints a JSON summary (records, next sequence
      number, template ids). --dports LO N: the UDP flows to ports LO..LO+N-1
      (udp_burst.py's) are there exactly once each. --notsent N: the last
      reliability record says N records were not sent. --expect-templates
      "256,257,258,259 256,257,259,260": the template sets announced, in order.
  flowcheck.py nfports --nfdump DIR --dports LO N... [--records N]
      nfdump shows the UDP flows to ports LO..LO+N-1 once each.
  flowcheck.py active --nfdump DIR --capture PCAP --port P --table T.xml
                      --nft COUNTERS.json --conn LONGCONN.json
      A long connection exported across active timeouts: per direction, its
      records add up to what nft counter rules counted, the last one is what
      `conntrack -L` showed before the end, every one but the last ended by
      active timeout, and their time ranges follow one another from
      conntrack's start without overlapping.
A decoder's view of a flow is in flowdecode.py. Exits 1 with every
difference listed.
"""
import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowdecode  # noqa: E402
from ct_compare import table_entries  # noqa: E402

PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
ICMP = (1, 58)
END_OF_FLOW, IDLE = 3, 1
TCP_CLOSING = ("FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE")


class Errors(list):
    def check(self, ok, msg):
        if not ok:
            self.append(msg)
        return ok


def port(v):
    return int(v) if v not in (None, "") else 0


def zero_addr(addr):
    return "::" if ":" in addr else "0.0.0.0"


# ---- what conntrack and the traffic say ----

def tuple_of(d):
    return d["src"], d["dst"], port(d["sport"]), port(d["dport"])


def tcp_states(table_path):
    states = {}
    for flow in ET.parse(table_path).getroot().iter("flow"):
        for meta in flow.iter("meta"):
            if meta.get("direction") == "independent":
                states[int(meta.findtext("id"))] = meta.findtext("state")
    return states


def check_table(entries, traffic, errors):
    """The table agrees with what traffic.py did and saw: one entry per
    flow it made and no other, reply tuples as the server's socket saw them,
    exact counters for UDP and ICMP. Returns the ICMP types of each ICMP
    entry (conntrack's XML does not show them)."""
    icmp_types, claimed = {}, set()
    for t in traffic:
        proto = PROTO[t["proto"]]
        if proto in ICMP:
            match = [e for e in entries if PROTO[e["proto"]] == proto
                     and e["dirs"]["original"]["src"] == t["src"]]
        else:
            match = [e for e in entries if PROTO[e["proto"]] == proto
                     and tuple_of(e["dirs"]["original"]) == (t["src"], t["dst"], t["sport"], t["dport"])]
        if not errors.check(len(match) == 1, f"traffic {t}: {len(match)} conntrack entries"):
            continue
        e = match[0]
        claimed.add(e["id"])
        o, r = e["dirs"]["original"], e["dirs"]["reply"]
        if proto in ICMP:
            icmp_types[e["id"]] = (t["type"], t["code"], t["reply_type"])
            errors.check(t["answered"] == t["requests"], f"traffic {t}: echo requests unanswered")
            for d, n in ((o, t["requests"]), (r, t["answered"])):
                errors.check((int(d["packets"]), int(d["bytes"])) == (n, n * t["bytes_each"]),
                             f"conntrack counted {d['packets']}/{d['bytes']} for {n} echoes: {t}")
            continue
        errors.check(tuple_of(r) == (t["listen"], t["peer"], t["lport"], t["pport"]),
                     f"conntrack's reply tuple {r} is not what the server saw: {t}")
        ip = 40 if ":" in t["src"] else 20
        if proto == 17:
            want = (t["datagrams"], t["datagrams"] * (t["size"] + 8 + ip))
            for d in (o, r):
                errors.check((int(d["packets"]), int(d["bytes"])) == want,
                             f"conntrack counted {d['packets']}/{d['bytes']}, traffic {want}: {t}")
        else:
            errors.check(int(o["bytes"]) > t["sent"] and int(r["bytes"]) > t["received"],
                         f"conntrack counted fewer bytes than were sent: {e}, {t}")
    for e in entries:
        errors.check(e["id"] in claimed, f"conntrack entry not made by the test's traffic: {e}")
    return icmp_types


def expected_flows(table_path, traffic_path, errors, timestamps=True):
    """The unidirectional flows each conntrack entry must become (each
    direction with packets), after checking the table against the traffic."""
    entries = list(table_entries(table_path).values())
    states = tcp_states(table_path)
    icmp_types = check_table(entries, json.load(open(traffic_path)), errors) if traffic_path else {}
    flows = []
    for e in entries:
        errors.check(e.get("start") is not None or not timestamps,
                     f"entry {e['id']} has no start timestamp")
        o, r = e["dirs"]["original"], e["dirs"]["reply"]
        proto = PROTO[e["proto"]]
        nat = tuple_of(o) != tuple_of({"src": r["dst"], "dst": r["src"], "sport": r["dport"], "dport": r["sport"]})
        reason = END_OF_FLOW if proto == 6 and states.get(e["id"]) in TCP_CLOSING else IDLE
        mine = {}
        for name, d, other in (("orig", o, r), ("reply", r, o)):
            if not int(d["packets"] or 0):
                continue
            f = {"src": d["src"], "dst": d["dst"], "sport": port(d["sport"]), "dport": port(d["dport"]),
                 "proto": proto, "bytes": int(d["bytes"]), "packets": int(d["packets"]),
                 "start_ms": e["start"] // 1000000 if e.get("start") else None,
                 "reason": reason, "flow_id": e["id"], "direction": name,
                 "icmp_type": None, "icmp_code": None}
            # A packet of this direction leaves with the addresses the other
            # direction's tuple answers to; zero when the entry was not NATed.
            if nat:
                f.update(post_src=other["dst"], post_dst=other["src"],
                         post_sport=port(other["dport"]), post_dport=port(other["sport"]))
            else:
                z = zero_addr(d["src"])
                f.update(post_src=z, post_dst=z, post_sport=0, post_dport=0)
            if e["id"] in icmp_types:
                ty, code, rty = icmp_types[e["id"]]
                f["icmp_type"], f["icmp_code"] = (ty, code) if name == "orig" else (rty, 0)
            mine[name] = f
        for name, f in mine.items():  # biflows carry the other direction
            f["rev"] = mine.get("reply" if name == "orig" else "orig")
        flows += mine.values()
    return flows


# ---- what the decoders show ----

class Source:
    """A decoder's view: its flows and what it can be asked about."""

    def __init__(self, args, errors):
        self.version = args.version
        self.stream = None
        self.time_slack_ms = 0  # how coarse the decoder's times are
        if args.protobuf:
            self.name = "protobuf"
            self.flows = flowdecode.protobuf_flows(args.protobuf, args.proto,
                                                   not args.no_length_prefix)
            self.has_reason = self.has_icmp6 = True
            self.has_icmp_ports = False
            self.unseen_v6 = set()
        elif args.pmacct:
            self.name = "pmacct"
            self.flows = flowdecode.pmacct_flows(args.pmacct)
            # No flowEndReason in its output, ICMP as the port shows it,
            # and times to the whole second (up to a second off either way).
            self.has_reason = self.has_icmp6 = False
            self.has_icmp_ports = True
            # pmacct 1.7.7 prints IPv6 post-NAT addresses (IEs 281, 282)
            # empty; it reads the ports.
            self.unseen_v6 = {"post_src", "post_dst"}
            self.time_slack_ms = 1000
        elif args.nfdump:
            self.name = "nfdump"
            self.flows = flowdecode.nfdump_flows(args.nfdump)
            # nfdump's JSON has no flowEndReason; for ICMP it shows type and
            # code, not ports; 1.7.1 reads ICMPv6 type/code only from IEs
            # 178/179 (icmpTypeIPv6...), not from 139 or the port.
            self.has_reason = self.has_icmp_ports = self.has_icmp6 = False
            # nfdump 1.7.1 reads postNATSource/DestinationIPv6Address (281,
            # 282) from NetFlow v9 only, not from IPFIX.
            self.unseen_v6 = {"post_src", "post_dst"} if self.version == 10 else set()
        else:
            self.stream = check_stream(args, errors)
            self.name = "tshark"
            self.flows = [f for m in self.stream["messages"] for f in m["flows"]]
            self.has_reason = self.has_icmp_ports = self.has_icmp6 = True
            self.unseen_v6 = set()

    def key(self, f):
        if f["proto"] in ICMP:
            t = f["icmp_type"] if (f["proto"] == 1 or self.has_icmp6) else None
            return (f["proto"], f["src"], f["dst"], t)
        return (f["proto"], f["src"], f["dst"], f["sport"], f["dport"])


def compare(src, expected, args, errors):
    got_by, want_by = {}, {}
    for f in src.flows:
        got_by.setdefault(src.key(f), []).append(f)
    for f in expected:
        want_by.setdefault(src.key(f), []).append(f)
    for k in sorted(set(got_by) | set(want_by), key=str):
        got, want = got_by.get(k, []), want_by.get(k, [])
        if not errors.check(len(got) == len(want),
                            f"{src.name}: {len(got)} flows for {k}, conntrack says {len(want)}"):
            continue
        order = lambda f: (f["bytes"], f["packets"])  # noqa: E731
        for g, w in zip(sorted(got, key=order), sorted(want, key=order)):
            compare_flow(src, g, w, args, errors)


def compare_flow(src, g, w, args, errors):
    where = f"{src.name} {w['direction']} flow {w['src']}:{w['sport']} > {w['dst']}:{w['dport']} proto {w['proto']}"
    fields = ["src", "dst", "proto", "bytes", "packets", "post_src", "post_dst", "post_sport",
              "post_dport"]
    slack = src.time_slack_ms
    if not args.no_timestamps and slack:
        errors.check(w["start_ms"] is not None and abs(g["start_ms"] - w["start_ms"]) <= slack,
                     f"{where}: start {g['start_ms']}, want {w['start_ms']} within {slack} ms")
    elif not args.no_timestamps:
        fields.append("start_ms")
    if w["proto"] not in ICMP:
        fields += ["sport", "dport"]
    elif src.has_icmp_ports:
        # v9 collectors read ICMP type and code from the destination port.
        w = dict(w, sport=0, dport=(w["icmp_type"] << 8 | w["icmp_code"]) if src.version == 9 else 0)
        fields += ["sport", "dport"]
    if w["proto"] == 1 or (w["proto"] == 58 and src.has_icmp6):
        fields += ["icmp_type", "icmp_code"]
    elif w["proto"] not in ICMP and src.has_icmp6:
        w = dict(w, icmp_type=0, icmp_code=0)
        fields += ["icmp_type", "icmp_code"]
    if src.has_reason:
        fields.append("reason")
    if (args.version == 10 and src.name == "tshark") or src.name == "protobuf":
        fields.append("flow_id")
    if ":" in w["src"]:
        fields = [k for k in fields if k not in src.unseen_v6]
    for k in fields:
        errors.check(g.get(k) == w.get(k), f"{where}: {k} {g.get(k)!r}, want {w.get(k)!r}")
    if args.end_window:
        lo, hi = args.end_window[0] - slack, args.end_window[1] + slack
        errors.check(g["end_ms"] is not None and lo <= g["end_ms"] <= hi,
                     f"{where}: end {g['end_ms']} outside the flush window [{lo}, {hi}]")
    if args.start_window:
        lo, hi = args.start_window[0] - slack, args.start_window[1] + slack
        errors.check(g["start_ms"] is not None and lo <= g["start_ms"] <= hi,
                     f"{where}: start {g['start_ms']} outside the traffic window [{lo}, {hi}]")
    errors.check(g["end_ms"] is not None and g["start_ms"] is not None and g["end_ms"] >= g["start_ms"],
                 f"{where}: ends ({g['end_ms']}) before it starts ({g['start_ms']})")
    if args.biflow:
        rev = w.get("rev")
        want = (rev["bytes"], rev["packets"]) if rev else (0, 0)
        errors.check((g.get("rev_bytes"), g.get("rev_packets")) == want,
                     f"{where}: reverse octets/packets {(g.get('rev_bytes'), g.get('rev_packets'))}, "
                     f"reply direction counted {want}")


# ---- the message stream ----

def check_protobuf(flows, args, errors):
    """The Kafka sink's own fields: GoFlow2's constants, messages numbered
    from 1 without a gap or a repeat, one message per connection's
    direction (or connection, for biflows), keyed by conntrack id."""
    seqs = sorted(int(f["pb"].get("sequence_num", 0)) for f in flows)
    errors.check(seqs == list(range(1, len(flows) + 1)),
                 f"protobuf: sequence numbers {seqs[:20]}..., want 1..{len(flows)}")
    for f in flows:
        pb = f["pb"]
        errors.check(pb.get("type") == "IPFIX" and pb.get("sampling_rate") == "1",
                     f"protobuf: type {pb.get('type')}, sampling_rate {pb.get('sampling_rate')}")
        want_etype = "34525" if ":" in f["src"] else "2048"
        errors.check(pb.get("etype") == want_etype, f"protobuf: etype {pb.get('etype')}")
        want_dir = "1" if args.biflow else pb.get("ct_direction")
        errors.check(pb.get("ct_direction") in ("1", "2") and pb.get("ct_direction") == want_dir,
                     f"protobuf: ct_direction {pb.get('ct_direction')}")
        if args.keys:
            errors.check(f.get("key") == str(f["flow_id"]),
                         f"protobuf: key {f.get('key')!r}, want the conntrack id {f['flow_id']}")
    if args.records is not None:
        errors.check(len(flows) == args.records,
                     f"protobuf: {len(flows)} messages; the sink counted {args.records}")


def check_ports(flows, lo, n, name, errors):
    """udp_burst.py's flows to ports lo..lo+n-1 are there, each once."""
    seen = {}
    for f in flows:
        if f["proto"] == 17 and lo <= f["dport"] < lo + n:
            seen[f["dport"]] = seen.get(f["dport"], 0) + 1
    missing = [p for p in range(lo, lo + n) if p not in seen]
    twice = [p for p, c in seen.items() if c > 1]
    errors.check(not missing, f"{name}: {len(missing)} of the {n} UDP flows to {lo}.. missing: {missing[:10]}")
    errors.check(not twice, f"{name}: UDP flows exported more than once: {twice[:10]}")


def check_template_history(msgs, want, errors):
    """The template sets announced go through the groups of ids `want`
    ("256,257,258 256,258,259 ..."), in order, each repeated at will."""
    history = []
    for m in msgs:
        ids = sorted(m["templates"] + m["options_templates"])
        if ids and (not history or history[-1] != ids):
            history.append(ids)
    want = [sorted(int(x) for x in g.split(",")) for g in want.split()]
    errors.check(history == want, f"template sets announced: {history}, expected {want}")


def check_stream(args, errors):
    """Decodes a capture or file with tshark and checks the stream: every
    frame decodes, no malformed set or expert warning, templates before the
    data that uses them, sequence numbers without gaps, statistics records
    that count what was sent before them."""
    if args.capture:
        path, decode = args.capture, [f"udp.port=={args.port},cflow"]
    else:
        path, decode = args.file, []
    msgs, frames, other = flowdecode.tshark_messages(path, decode)
    errors.check(not other, f"tshark: frames {other[:10]} of {path} are not NetFlow/IPFIX")
    for frame, what in flowdecode.tshark_problems(path, decode)[:20]:
        errors.append(f"tshark: frame {frame}: {what}")
    errors.check(msgs, f"tshark: no message in {path}")
    known, seq, seen_data = set(), {}, 0
    sent_msgs = sent_records = 0
    last_said = (0, 0)
    templates = {}
    for i, m in enumerate(msgs):
        errors.check(m["version"] == args.version, f"frame {m['frame']}: version {m['version']}")
        dom = m["domain"]
        if dom in seq:
            errors.check(m["sequence"] == seq[dom],
                         f"frame {m['frame']}: sequence {m['sequence']}, expected {seq[dom]}")
        elif args.seq_start is not None:
            errors.check(m["sequence"] == args.seq_start,
                         f"frame {m['frame']}: first sequence {m['sequence']}, expected {args.seq_start}")
        seq[dom] = m["sequence"] + (1 if m["version"] == 9 else m["data_records"])
        if i == 0 and args.templates_first:
            errors.check(m["sets"] and m["sets"][0][0] == "template",
                         f"frame {m['frame']}: the stream does not start with templates: {m['sets'][:3]}")
        for kind, sid in m["sets"]:
            if kind == "template":
                known.add(sid)
            else:
                errors.check(sid in known, f"frame {m['frame']}: data of set {sid} before its template")
        for tid in m["withdrawn"]:
            known.discard(tid)
        for tid in m["templates"]:
            templates.setdefault(tid, m["frame"])
        for s in m["stats"]:
            said = (int(s["packetsexp"]), int(s["flowsexp"]))
            # Over UDP, messages wait for one sendmmsg and count once sent:
            # a statistics record may not count the ones just before it.
            ok = said == (sent_msgs, sent_records) if args.stats == "exact" else \
                said[0] <= sent_msgs and said[1] <= sent_records and said >= last_said
            errors.check(args.stats is None or ok,
                         f"frame {m['frame']}: statistics say {said[0]} messages, {said[1]} records "
                         f"before; tshark saw {sent_msgs}, {sent_records} (expected {args.stats})")
            last_said = said
        sent_msgs += 1
        sent_records += len(m["flows"])
        seen_data += len(m["flows"])
    for lo, n in args.dports or []:
        check_ports([f for m in msgs for f in m["flows"]], lo, n, "tshark", errors)
    if args.expect_templates:
        check_template_history(msgs, args.expect_templates, errors)
    if args.notsent is not None:
        rel = [s for m in msgs for s in m["reliability"]]
        errors.check(rel and int(rel[-1]["notsent_flows"]) == args.notsent,
                     f"last reliability record: {rel[-1] if rel else None}; {args.notsent} not sent")
    if args.records is not None:
        errors.check(seen_data == args.records,
                     f"tshark decoded {seen_data} flow records; the exporter counted {args.records}")
    return {"messages": msgs, "frames": frames, "records": seen_data,
            "next_sequence": seq, "templates": sorted(templates)}


def nft_counters(path):
    out = {}
    for obj in json.load(open(path))["nftables"]:
        if "counter" in obj:
            c = obj["counter"]
            out[c["name"]] = (c["packets"], c["bytes"])
    return out


def check_active(args, errors):
    conn = json.loads(open(args.conn).read().splitlines()[-1])
    entry = [e for e in table_entries(args.table).values()
             if (port(e["dirs"]["original"]["sport"]), port(e["dirs"]["original"]["dport"]))
             == (conn["sport"], conn["dport"])]
    if not errors.check(len(entry) == 1, f"conntrack -L: {len(entry)} entries for {conn}"):
        return
    entry = entry[0]
    nft = nft_counters(args.nft)
    tshark = check_stream(args, errors)["messages"]
    sources = {"nfdump": flowdecode.nfdump_flows(args.nfdump),
               "tshark": [f for m in tshark for f in m["flows"]]}
    counts = {}
    for name, flows in sources.items():
        for d, key, ports in (("original", "orig", (conn["sport"], conn["dport"])),
                              ("reply", "reply", (conn["dport"], conn["sport"]))):
            recs = sorted((f for f in flows if f["proto"] == 6 and (f["sport"], f["dport"]) == ports),
                          key=lambda f: (f["start_ms"], f["end_ms"]))
            where = f"{name} {key}"
            counts[where] = len(recs)
            if not errors.check(len(recs) >= 3, f"{where}: {len(recs)} records, want an active "
                                f"timeout or more and the end"):
                continue
            total = (sum(f["packets"] for f in recs), sum(f["bytes"] for f in recs))
            errors.check(total == nft[key], f"{where}: records add up to {total} packets/bytes, "
                         f"nft counted {nft[key]}")
            snap = entry["dirs"][d]
            last = (recs[-1]["packets"], recs[-1]["bytes"])
            errors.check(last == (int(snap["packets"]), int(snap["bytes"])),
                         f"{where}: last record {last}, conntrack -L showed {snap['packets']}/{snap['bytes']}")
            errors.check(recs[0]["start_ms"] == entry["start"] // 1000000,
                         f"{where}: starts at {recs[0]['start_ms']}, conntrack at {entry['start'] // 1000000}")
            for a, b in zip(recs, recs[1:]):
                errors.check(a["start_ms"] <= a["end_ms"] <= b["start_ms"] <= b["end_ms"],
                             f"{where}: [{a['start_ms']}, {a['end_ms']}] and [{b['start_ms']}, {b['end_ms']}] overlap")
            if name == "tshark":
                reasons = [f["reason"] for f in recs]
                errors.check(reasons == [2] * (len(recs) - 1) + [END_OF_FLOW],
                             f"{where}: end reasons {reasons}: active timeouts (2), then end of flow (3)")
    errors.check(len(set(counts.values())) == 1, f"record counts differ: {counts}")
    if not errors:
        print(f"ok: {counts['nfdump orig']} records per direction add up to nft's counters")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["flows", "stream", "active", "nfports"])
    ap.add_argument("--version", type=int, choices=[9, 10], default=9)
    ap.add_argument("--table")
    ap.add_argument("--traffic")
    ap.add_argument("--nfdump")
    ap.add_argument("--pmacct", help="nfacctd's print plugin output (JSON lines)")
    ap.add_argument("--protobuf", help="the Kafka sink's messages: kcat -C -f '%%R%%s' output")
    ap.add_argument("--proto", help="the .proto to decode --protobuf with (protoc --decode)")
    ap.add_argument("--no-length-prefix", action="store_true")
    ap.add_argument("--keys", help="kcat -C -f '%%k\\n' output: each message's key, in order")
    ap.add_argument("--capture")
    ap.add_argument("--port", type=int)
    ap.add_argument("--file")
    ap.add_argument("--start-window", type=int, nargs=2)
    ap.add_argument("--no-timestamps", action="store_true",
                    help="the kernel had conntrack timestamps off: starts are only checked against --start-window")
    ap.add_argument("--end-window", type=int, nargs=2)
    ap.add_argument("--records", type=int)
    ap.add_argument("--biflow", action="store_true")
    ap.add_argument("--nat-entries", type=int)
    ap.add_argument("--seq-start", type=int)
    ap.add_argument("--templates-first", action="store_true")
    ap.add_argument("--stats", choices=["exact", "atmost"],
                    help="statistics records count exactly / at most the messages and records before them")
    ap.add_argument("--dports", type=int, nargs=2, action="append")
    ap.add_argument("--expect-templates")
    ap.add_argument("--notsent", type=int)
    ap.add_argument("--mark", help="MARK/MASK: only these connections are exported")
    ap.add_argument("--reason", type=int, help="every flow ended so (4: forced end)")
    ap.add_argument("--nft")
    ap.add_argument("--conn")
    args = ap.parse_args()
    errors = Errors()
    if args.cmd == "active":
        check_active(args, errors)
    elif args.cmd == "nfports":
        flows = flowdecode.nfdump_flows(args.nfdump)
        for lo, n in args.dports:
            check_ports(flows, lo, n, "nfdump", errors)
        if args.records is not None:
            errors.check(len(flows) == args.records,
                         f"nfdump shows {len(flows)} flows; the exporter counted {args.records}")
    elif args.cmd == "stream":
        s = check_stream(args, errors)
        summary = {k: v for k, v in s.items() if k != "messages"}
        summary["next_sequence"] = {str(k): v for k, v in s["next_sequence"].items()}
        print(json.dumps(summary))
    else:
        expected = expected_flows(args.table, args.traffic, errors, not args.no_timestamps)
        if args.nat_entries is not None:
            nat = {f["flow_id"] for f in expected if f["post_sport"] or f["post_dport"]}
            errors.check(len(nat) == args.nat_entries,
                         f"{len(nat)} NATed connections, the test made {args.nat_entries}")
        if args.mark:  # only the connections whose mark matches are exported
            mark, mask = (int(x, 0) for x in args.mark.split("/"))
            marks = {e["id"]: int(e["mark"] or 0) for e in table_entries(args.table).values()}
            expected = [f for f in expected if marks[f["flow_id"]] & mask == mark]
            errors.check(expected, f"no connection with mark {args.mark}")
        if args.reason is not None:
            for f in expected:
                f["reason"] = args.reason
        if args.biflow:  # one record per connection, the reply in reverse elements
            expected = [f for f in expected if f["direction"] == "orig"]
        src = Source(args, errors)
        if src.name == "protobuf":
            if args.keys:
                keys = open(args.keys).read().splitlines()
                errors.check(len(keys) == len(src.flows),
                             f"{len(keys)} keys for {len(src.flows)} messages")
                for f, k in zip(src.flows, keys):
                    f["key"] = k
            check_protobuf(src.flows, args, errors)
        compare(src, expected, args, errors)
        if src.name == "nfdump" and args.records is not None:
            errors.check(len(src.flows) == args.records,
                         f"nfdump shows {len(src.flows)} flows; the exporter counted {args.records}")
        if not errors:
            print(f"ok: {src.name}: {len(src.flows)} flow records of "
                  f"{len({f['flow_id'] for f in expected})} connections as conntrack counted them")
    if errors:
        print("\n".join(errors[:60]), file=sys.stderr)
        if len(errors) > 60:
            print(f"... and {len(errors) - 60} more", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
