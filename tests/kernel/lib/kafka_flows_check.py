#!/usr/bin/env python3
"""The Kafka sink's protobuf messages of udp_burst.py's flows: each UDP
flow to the given ports is there exactly once, messages are numbered 1..N
without a gap or a repeat, and each is keyed by its conntrack id.

Usage: kafka_flows_check.py PROTO DUMP KEYS --dports LO N [--dports LO N]... [--records N]
                            [--some LO N COUNT] [--dropped N]
  DUMP: kcat -C -f '%R%s' output (length-prefixed FlowMessages); KEYS:
  kcat -C -f '%k\\n' output of the same topic. --some: exactly COUNT of the
  flows to LO..LO+N-1 are there, each once. --dropped: N messages were
  dropped by the sink: the sequence numbers skip exactly N.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowdecode  # noqa: E402
from flowcheck import Errors, check_ports  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proto")
    ap.add_argument("dump")
    ap.add_argument("keys")
    ap.add_argument("--dports", type=int, nargs=2, action="append", default=[])
    ap.add_argument("--records", type=int)
    ap.add_argument("--some", type=int, nargs=3, action="append", default=[])
    ap.add_argument("--dropped", type=int, default=0)
    args = ap.parse_args()
    flows = flowdecode.protobuf_flows(args.dump, args.proto)
    keys = open(args.keys).read().splitlines()
    errors = Errors()
    if len(keys) != len(flows):
        errors.append(f"{len(keys)} keys for {len(flows)} messages")
    seqs = sorted(int(f["pb"].get("sequence_num", 0)) for f in flows)
    if args.dropped:
        if len(set(seqs)) != len(seqs) or seqs[-1] != len(flows) + args.dropped:
            errors.append(f"sequence numbers: {len(seqs) - len(set(seqs))} repeated, the last is "
                          f"{seqs[-1]}, want {len(flows)} + {args.dropped} dropped")
    elif seqs != list(range(1, len(flows) + 1)):
        dup = sorted({s for s in seqs if seqs.count(s) > 1})[:10]
        errors.append(f"sequence numbers not 1..{len(flows)}: repeated {dup}, "
                      f"first {seqs[:5]}, last {seqs[-5:]}")
    for f, k in zip(flows, keys):
        if k != str(f["flow_id"]):
            errors.append(f"key {k!r} for conntrack id {f['flow_id']}")
            break
    for lo, n, count in args.some:
        seen = {}
        for f in flows:
            if f["proto"] == 17 and lo <= f["dport"] < lo + n:
                seen[f["dport"]] = seen.get(f["dport"], 0) + 1
        if len(seen) != count or any(c > 1 for c in seen.values()):
            errors.append(f"{len(seen)} distinct UDP flows to {lo}..{lo + n - 1}, want {count}, "
                          f"repeated: {[p for p, c in seen.items() if c > 1][:10]}")
    for lo, n in args.dports:
        check_ports(flows, lo, n, "kafka", errors)
    if args.records is not None and len(flows) != args.records:
        errors.append(f"{len(flows)} messages; the sink counted {args.records}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"ok: {len(flows)} messages, each flow once, numbered 1..{len(flows)}")


if __name__ == "__main__":
    main()
