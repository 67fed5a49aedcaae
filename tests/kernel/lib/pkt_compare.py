#!/usr/bin/env python3
"""Checks for the NFLOG kernel tests, against third-party decoders.

views JSON TSV     The packet views nurs-lua wrote as JSON lines (one per
                   logged packet, in order) agree, packet by packet, with
                   what tshark decoded from an independent capture of the
                   same packets, or from an NFLOG-link-type pcap of them
                   (TSV of the fields below; `fields` lists them).
slice TRUTH DUMP   `tcpdump -x` text of a ring dump is a run of whole
                   packets of the truth capture, ending at the trigger
                   packet, and shorter than the whole capture (the ring
                   evicted the oldest).
"""
import json
import sys

# tshark field -> (JSON key, how to turn tshark's text into our value)
FIELDS = [
    ("ip.src", "src", str), ("ip.dst", "dst", str),
    ("ipv6.src", "src", str), ("ipv6.dst", "dst", str),
    ("ip.ttl", "ttl", int), ("ipv6.hlim", "ttl", int),
    ("ip.proto", "protonum", int),  # (ipv6.nxt names the first extension header)
    ("ip.id", "ip_id", lambda v: int(v, 16)), ("ip.len", "ip_len", int),
    ("tcp.srcport", "sport", int), ("tcp.dstport", "dport", int),
    ("udp.srcport", "sport", int), ("udp.dstport", "dport", int),
    ("tcp.seq_raw", "seq", int), ("tcp.ack_raw", "ack", int),
    ("tcp.window_size_value", "window", int), ("tcp.hdr_len", "tcp_hdrlen", int),
    ("tcp.flags", "tcp_flags_bits", lambda v: int(v, 16)),
    ("udp.length", "udp_len", int),
    ("icmp.type", "type", int), ("icmp.code", "code", int),
    ("icmpv6.type", "type", int), ("icmpv6.code", "code", int),
    ("icmp.ident", "icmp_id", int), ("icmp.seq", "icmp_seq", int),
    ("icmpv6.echo.identifier", "icmp_id", lambda v: int(v, 16)),
    ("icmpv6.echo.sequence_number", "icmp_seq", int),
    # NFLOG's own attributes, when the capture is LINKTYPE_NFLOG
    ("nflog.res_id", "group", int), ("nflog.protocol", "hw_protocol", lambda v: int(v, 16)),
    ("nflog.hook", "hooknum", int), ("nflog.prefix", "prefix", str),
    ("nflog.ifindex_indev", "iif", int), ("nflog.ifindex_outdev", "oif", int),
    ("nflog.uid", "uid", int), ("nflog.gid", "gid", int),
]


LAYER_PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}


def tshark_fields():
    """tshark's arguments: -e for each field, in the order views() reads
    them; no reassembly, so that each fragment is decoded as it is."""
    return "-o ip.defragment:FALSE -o ipv6.defragment:FALSE " + " ".join(
        "-e " + f for f, _, _ in FIELDS)


def views(json_path, tsv_path):
    recs = [json.loads(l) for l in open(json_path) if l.strip()]
    rows = [l.rstrip("\n").split("\t") for l in open(tsv_path) if l.strip()]
    if len(recs) != len(rows):
        sys.exit(f"FAIL: {len(recs)} records from nurs-lua, {len(rows)} packets in the capture")
    checked = 0
    for n, (rec, row) in enumerate(zip(recs, rows), 1):
        for (field, key, conv), text in zip(FIELDS, row):
            layer = field.split(".")[0]
            # An ICMP error quotes a packet, whose headers tshark decodes too.
            if not text or LAYER_PROTO.get(layer, rec.get("protonum")) != rec.get("protonum"):
                continue
            # ICMP errors quote a packet: tshark lists the outer value first.
            want = conv(text.split(",")[0])
            if key == "tcp_flags_bits":
                want &= 0x1ff
            if rec.get(key) != want:
                sys.exit(f"FAIL: packet {n}: {key} is {rec.get(key)!r}, tshark's {field} says "
                         f"{want!r}\n  record: {json.dumps(rec)}")
            checked += 1
    print(f"views: {len(recs)} packets, {checked} fields agree with tshark")


def packets(path):
    out, cur = [], None
    for line in open(path):
        if not line.startswith("\t"):
            cur = [line]
            out.append(cur)
        elif cur is not None:
            cur.append(line)
    return ["".join(p) for p in out]


def slice_check(truth_path, dump_path):
    truth, dump = packets(truth_path), packets(dump_path)
    if not dump:
        sys.exit("FAIL: the ring dump holds no packet")
    if len(dump) >= len(truth):
        sys.exit(f"FAIL: the ring dump holds {len(dump)} packets, the capture {len(truth)}: "
                 "nothing was evicted")
    for start in range(len(truth) - len(dump) + 1):
        if truth[start:start + len(dump)] == dump:
            if "dump" not in "".join(dump[-1:]) and "6475 6d70" not in dump[-1]:
                sys.exit("FAIL: the ring dump does not end with the trigger packet")
            print(f"slice: the ring dump is packets {start + 1}..{start + len(dump)} of "
                  f"{len(truth)}, bytes intact")
            return
    sys.exit("FAIL: the ring dump is not a run of the captured packets")


if __name__ == "__main__":
    if sys.argv[1] == "fields":
        print(tshark_fields())
    elif sys.argv[1] == "views":
        views(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "slice":
        slice_check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
