"""Flow records as third-party decoders see them: nfdump (nfcapd's files)
and tshark (captures of the export, RFC 5655 files), reduced to one
common shape so that the kernel tests compare them with conntrack.

A flow is a dict: src, dst, sport, dport, proto, icmp_type, icmp_code,
post_src, post_dst, post_sport, post_dport, bytes, packets, start_ms,
end_ms, and, where the decoder shows them, reason (flowEndReason),
rev_bytes, rev_packets (RFC 5103 biflows), flow_id, template.

Every decoder runs under a time limit with its output capped: a decoder
that loops on bad input fails the test instead of filling the disk.
"""
import calendar
import json
import os
import subprocess
import time
from decimal import Decimal

OUTPUT_CAP = 64 << 20
DECODER_SECONDS = 120


def run_capped(cmd, env=None):
    """Runs a decoder; returns its stdout (at most OUTPUT_CAP bytes)."""
    full = ["timeout", str(DECODER_SECONDS)] + cmd
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, **(env or {})))
    out = p.stdout.read(OUTPUT_CAP + 1)
    if len(out) > OUTPUT_CAP:
        p.kill()
        p.wait()
        raise RuntimeError(f"{cmd[0]}: more than {OUTPUT_CAP} bytes of output")
    p.stdout.close()
    rc = p.wait()
    if rc == 124:
        raise RuntimeError(f"{cmd[0]}: timed out after {DECODER_SECONDS} s")
    return out, rc


# ---- nfdump ----

def nfdump_flows(directory):
    out, rc = run_capped(["nfdump", "-R", directory, "-o", "json"], env={"TZ": "UTC"})
    if rc != 0:
        raise RuntimeError(f"nfdump -R {directory} -o json exited {rc}")
    text = out.decode()
    if "No matching flows" in text and text.count("{") == 0:
        return []
    flows = []
    for r in json.loads(text):
        if r.get("type") != "FLOW":
            continue
        v6 = "src6_addr" in r
        a = "6" if v6 else "4"
        flows.append({
            "src": r[f"src{a}_addr"], "dst": r[f"dst{a}_addr"],
            "sport": r.get("src_port", 0), "dport": r.get("dst_port", 0),
            "proto": r["proto"],
            "icmp_type": r.get("icmp_type"), "icmp_code": r.get("icmp_code"),
            "post_src": r.get(f"src{a}_xlt_ip"), "post_dst": r.get(f"dst{a}_xlt_ip"),
            "post_sport": int(r["src_xlt_port"]) if "src_xlt_port" in r else None,
            "post_dport": int(r["dst_xlt_port"]) if "dst_xlt_port" in r else None,
            "bytes": r["in_bytes"], "packets": r["in_packets"],
            "start_ms": iso_ms(r["first"]), "end_ms": iso_ms(r["last"]),
        })
    return flows


# ---- pmacct (nfacctd's print plugin, JSON lines) ----

PMACCT_PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58}


def pmacct_flows(path):
    """nfacctd's flows, aggregated by addresses, ports, protocol, post-NAT
    fields and times. pmacct keeps whole seconds; for ICMP it shows what
    NetFlow v9 puts in the destination port (type * 256 + code)."""
    flows = []
    with open(path) as f:
        text = f.read(OUTPUT_CAP)
    for line in text.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        proto = int(PMACCT_PROTO.get(r["ip_proto"], r["ip_proto"]))
        zero = "::" if ":" in r["ip_src"] else "0.0.0.0"
        icmp = proto in (1, 58)
        dport = int(r["port_dst"])
        flows.append({
            "src": r["ip_src"], "dst": r["ip_dst"],
            "sport": int(r["port_src"]), "dport": dport, "proto": proto,
            "icmp_type": dport >> 8 if icmp else None, "icmp_code": dport & 0xFF if icmp else None,
            "post_src": r["post_nat_ip_src"] or zero, "post_dst": r["post_nat_ip_dst"] or zero,
            "post_sport": int(r["post_nat_port_src"]), "post_dport": int(r["post_nat_port_dst"]),
            "bytes": int(r["bytes"]), "packets": int(r["packets"]),
            "start_ms": int(Decimal(r["timestamp_start"]) * 1000),
            "end_ms": int(Decimal(r["timestamp_end"]) * 1000),
        })
    return flows


def nfdump_sequence_failures(directory):
    out, rc = run_capped(["nfdump", "-R", directory, "-I"])
    for line in out.decode().splitlines():
        if line.startswith("Sequence failures:"):
            return int(line.split(":")[1])
    raise RuntimeError(f"nfdump -I printed no sequence failures line (exit {rc})")


def iso_ms(text):
    """'2026-11-25T08:51:07.125' (UTC) -> ms since the epoch."""
    secs, _, frac = text.partition(".")
    t = calendar.timegm(time.strptime(secs, "%Y-%m-%dT%H:%M:%S"))
    return t * 1000 + int((frac + "000")[:3])


# ---- tshark ----

def tshark_json(path, decode_as=()):
    cmd = ["tshark", "-n", "-r", path, "-T", "json", "--no-duplicate-keys"]
    for d in decode_as:
        cmd += ["-d", d]
    out, rc = run_capped(cmd)
    if rc != 0:
        raise RuntimeError(f"tshark -r {path} exited {rc}")
    return json.loads(out.decode() or "[]")


def tshark_problems(path, decode_as=()):
    """Frames tshark marks malformed or with expert info of warning or
    error severity: [(frame, message)]."""
    cmd = ["tshark", "-n", "-r", path, "-Y", "_ws.malformed || _ws.expert.severity >= warning",
           "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message", "-e", "_ws.malformed"]
    for d in decode_as:
        cmd += ["-d", d]
    out, rc = run_capped(cmd)
    if rc != 0:
        raise RuntimeError(f"tshark -r {path} -Y ... exited {rc}")
    return [tuple(line.split("\t", 1)) for line in out.decode().splitlines() if line.strip()]


def as_list(v):
    return v if isinstance(v, list) else [v]


def abs_time_ms(text):
    """'Nov 25, 2026 08:53:38.974000000 UTC' -> ms since the epoch."""
    stamp, _, frac = text.replace(" UTC", "").partition(".")
    t = calendar.timegm(time.strptime(stamp, "%b %d, %Y %H:%M:%S"))
    return t * 1000 + int((frac + "000")[:3])


def seconds_ms(text):
    return int(Decimal(text) * 1000)


def one_value(rec, key, default=None):
    """A field tshark shows once, or several times with one value (an
    icmpTypeCodeIPv6 and an icmpTypeIPv6 element both decode as
    cflow.icmp_ipv6_type): the value, or an error if they disagree."""
    v = rec.get(key, default)
    if isinstance(v, list):
        if len(set(v)) != 1:
            raise ValueError(f"{key} has several values: {v}")
        v = v[0]
    return v


def icmp_of(rec):
    if "cflow.icmp_type_code_ipv4" in rec:
        v = int(one_value(rec, "cflow.icmp_type_code_ipv4"), 16)
        return v >> 8, v & 0xFF
    if "cflow.icmp_ipv6_type" in rec:
        return int(one_value(rec, "cflow.icmp_ipv6_type")), int(one_value(rec, "cflow.icmp_ipv6_code", 0))
    return None, None


def flow_of(rec, header, template):
    """One data record of a flow template, as decoded by tshark."""
    v6 = "cflow.srcaddrv6" in rec
    octets = [int(x) for x in as_list(rec.get("cflow.octets", "0"))]
    packets = [int(x) for x in as_list(rec.get("cflow.packets", "0"))]
    times = rec.get("cflow.timedelta_tree", {})
    if "cflow.abstimestart" in times:
        start, end = abs_time_ms(times["cflow.abstimestart"]), abs_time_ms(times["cflow.abstimeend"])
    elif "cflow.timestart" in times:
        # NetFlow v9: relative to sysUptime, anchored on unix_secs.
        base = header["unix_secs"] * 1000 - header["sysuptime_ms"]
        start, end = base + seconds_ms(times["cflow.timestart"]), base + seconds_ms(times["cflow.timeend"])
    else:
        start = end = None
    itype, icode = icmp_of(rec)
    s = "v6" if v6 else ""
    post = ("cflow.post_nat_source_ipv6_address", "cflow.post_nat_destination_ipv6_address") if v6 \
        else ("cflow.post_natsource_ipv4_address", "cflow.post_natdestination_ipv4_address")
    f = {
        "src": rec.get(f"cflow.srcaddr{s}"), "dst": rec.get(f"cflow.dstaddr{s}"),
        "sport": int(rec.get("cflow.srcport", 0)), "dport": int(rec.get("cflow.dstport", 0)),
        "proto": int(rec.get("cflow.protocol", -1)),
        "icmp_type": itype, "icmp_code": icode,
        "post_src": rec.get(post[0]), "post_dst": rec.get(post[1]),
        "post_sport": int(rec.get("cflow.post_naptsource_transport_port", 0)),
        "post_dport": int(rec.get("cflow.post_naptdestination_transport_port", 0)),
        "bytes": octets[0], "packets": packets[0],
        "start_ms": start, "end_ms": end,
        "reason": int(rec["cflow.flow_end_reason"]) if "cflow.flow_end_reason" in rec else None,
        "flow_id": int(rec["cflow.flow_id"]) if "cflow.flow_id" in rec else None,
        "template": template,
    }
    if len(octets) > 1:
        f["rev_bytes"], f["rev_packets"] = octets[1], packets[1]
    return f


def set_entries(layer):
    """The (set id, kind, body) of each set of one message."""
    sets = []
    for key, body in layer.items():
        if not (key.startswith("FlowSet ") or key.startswith("Set ")):
            continue
        for b in as_list(body):
            sid = int(b["cflow.flowset_id"])
            sets.append((sid, key, b))
    return sets


def message_of(layer, frame):
    version = int(layer["cflow.version"])
    ts = layer.get("cflow.timestamp_tree", {})
    m = {"frame": frame, "version": version, "sequence": int(layer["cflow.sequence"]),
         "domain": int(layer.get("cflow.source_id", layer.get("cflow.od_id", 0))),
         "unix_secs": int(ts.get("cflow.unix_secs", ts.get("cflow.exporttime", 0))),
         "sysuptime_ms": seconds_ms(layer["cflow.sysuptime"]) if "cflow.sysuptime" in layer else 0,
         "templates": [], "withdrawn": [], "options_templates": [],
         "flows": [], "stats": [], "reliability": [], "sets": []}
    for sid, key, body in set_entries(layer):
        if sid in (0, 2, 1, 3):
            for tkey, t in body.items():
                if not isinstance(t, dict) or "cflow.template_id" not in t:
                    continue
                tid = int(t["cflow.template_id"])
                options = tkey.startswith("Options")
                count = int(t.get("cflow.template_field_count", t.get("cflow.option_scope_length", 1)))
                if not options and count == 0:
                    m["withdrawn"].append(tid)
                else:
                    (m["options_templates"] if options else m["templates"]).append(tid)
                m["sets"].append(("template", tid))
            continue
        records = [v for k, v in body.items() if k.startswith("Flow ")]
        for rec in records:
            for r in as_list(rec):
                if "cflow.packetsexp" in r or "cflow.flowsexp" in r:
                    m["stats"].append({k.split(".", 1)[1]: v for k, v in r.items()})
                elif "cflow.notsent_flows" in r:
                    m["reliability"].append({k.split(".", 1)[1]: v for k, v in r.items()})
                else:
                    m["flows"].append(flow_of(r, m, sid))
                m["sets"].append(("data", sid))
    m["data_records"] = len(m["flows"]) + len(m["stats"]) + len(m["reliability"])
    return m


def tshark_messages(path, decode_as=()):
    """Every NetFlow v9 / IPFIX message in a capture or file, in order."""
    msgs, frames, other = [], 0, []
    for pkt in tshark_json(path, decode_as):
        layers = pkt["_source"]["layers"]
        frames += 1
        frame = int(layers["frame"]["frame.number"])
        if "cflow" not in layers:
            # TCP segments without a whole message (handshake, ACKs).
            if "tcp" in layers and int(layers["tcp"].get("tcp.len", "0")) == 0:
                continue
            other.append(frame)
            continue
        for layer in as_list(layers["cflow"]):
            msgs.append(message_of(layer, frame))
    return msgs, frames, other


# ---- protobuf flow records (the Kafka sink), decoded by protoc ----

def kcat_messages(path):
    """The payloads of a `kcat -C -f '%R%s'` dump: each a 32-bit
    big-endian length, then the bytes."""
    data = open(path, "rb").read(OUTPUT_CAP)
    msgs, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big", signed=True)
        if n < 0 or i + 4 + n > len(data):
            raise RuntimeError(f"{path}: truncated kcat dump at byte {i}")
        msgs.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return msgs


def varint(data, i=0):
    v = shift = 0
    while True:
        b = data[i]
        v |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return v, i
        shift += 7


def strip_length_prefix(msg):
    """GoFlow2's framing: a varint of the length, then the message."""
    n, i = varint(msg)
    if i + n != len(msg):
        raise RuntimeError(f"length prefix says {n} bytes, the message has {len(msg) - i}")
    return msg[i:]


def protoc_decode(msgs, proto):
    """protoc --decode's text of each message, in one run: the messages are
    wrapped as the repeated field of a message that imports proto."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "batch.proto"), "w") as f:
            f.write('syntax = "proto3";\nimport "%s";\n'
                    "message Batch { repeated nurs.flow.FlowMessage m = 1; }\n"
                    % os.path.basename(proto))
        batch = b"".join(b"\x0a" + encode_varint(len(m)) + m for m in msgs)
        p = subprocess.run(["timeout", str(DECODER_SECONDS), "protoc", "--decode=Batch",
                            "-I", d, "-I", os.path.dirname(os.path.abspath(proto)), "batch.proto"],
                           input=batch, capture_output=True)
        if p.returncode != 0:
            raise RuntimeError(f"protoc --decode failed: {p.stderr.decode()[:500]}")
    texts, cur = [], None
    for line in p.stdout.decode().splitlines():
        if line == "m {":
            cur = {}
        elif line == "}":
            texts.append(cur)
        else:
            k, v = line.strip().split(": ", 1)
            cur[k] = v
    if len(texts) != len(msgs):
        raise RuntimeError(f"protoc decoded {len(texts)} of {len(msgs)} messages")
    return texts


def encode_varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])


def pb_addr(text):
    """protoc shows bytes as a C-escaped string."""
    import codecs
    import ipaddress
    raw = codecs.escape_decode(text[1:-1].encode())[0]
    return str(ipaddress.ip_address(raw)) if raw else None


def protobuf_flows(path, proto, length_prefix=True):
    """The Kafka sink's FlowMessages in a kcat dump, as flows; each also
    keeps its decoded fields under "pb"."""
    msgs = kcat_messages(path)
    if length_prefix:
        msgs = [strip_length_prefix(m) for m in msgs]
    flows = []
    for r in protoc_decode(msgs, proto):
        num = lambda k: int(r.get(k, 0))  # noqa: E731 - proto3 leaves zeros out
        src = pb_addr(r["src_addr"])
        zero = "::" if ":" in src else "0.0.0.0"
        proto_num = num("proto")
        icmp = proto_num in (1, 58)
        flows.append({
            "src": src, "dst": pb_addr(r["dst_addr"]),
            "sport": num("src_port"), "dport": num("dst_port"), "proto": proto_num,
            "icmp_type": num("icmp_type") if icmp else 0, "icmp_code": num("icmp_code") if icmp else 0,
            "post_src": pb_addr(r["post_nat_src_addr"]) if "post_nat_src_addr" in r else zero,
            "post_dst": pb_addr(r["post_nat_dst_addr"]) if "post_nat_dst_addr" in r else zero,
            "post_sport": num("post_nat_src_port"), "post_dport": num("post_nat_dst_port"),
            "bytes": num("bytes"), "packets": num("packets"),
            "start_ms": num("time_flow_start_ns") // 1000000,
            "end_ms": num("time_flow_end_ns") // 1000000,
            "reason": num("flow_end_reason"), "flow_id": num("ct_id"),
            "rev_bytes": num("reverse_bytes"), "rev_packets": num("reverse_packets"),
            "pb": r,
        })
    return flows
