#!/usr/bin/env python3
"""A NetFlow v9 / IPFIX sink for the benchmarks: receives datagrams on a
loopback UDP port and counts datagrams, bytes, data records (records of
data sets, from the templates' record lengths) and, apart, options records
(an exporter's statistics), and the datagrams the kernel dropped for a full
receive buffer (the sink's own losses, from /proc/net/udp).

Usage: flow_sink.py PORT [IDLE_SECONDS] [MAX_SECONDS]
Prints "listening PORT" on stderr once bound (PORT 0: a free port); prints one JSON line when nothing
arrived for IDLE_SECONDS (default 3) after the first datagram, after
MAX_SECONDS in all (default 600), or on SIGTERM.
"""
import json
import signal
import socket
import struct
import sys
import time


class Counter:
    def __init__(self):
        self.datagrams = self.bytes = self.records = self.options = self.malformed = 0
        self.lengths = {}  # (domain, template id) -> record length
        self.is_options = set()  # (domain, template id) of options templates

    def templates(self, domain, body, options, v9):
        """Learns each template's record length (None: variable length)."""
        off = 0
        while off + 4 <= len(body):
            tid, count = struct.unpack_from("!HH", body, off)
            off += 4
            if tid < 256:  # padding
                return
            if options and v9:  # scope and option lengths, in bytes
                if off + 2 > len(body):
                    self.malformed += 1
                    return
                count = (count + struct.unpack_from("!H", body, off)[0]) // 4
                off += 2
            elif options:  # scope field count
                off += 2
            length = 0
            for _ in range(count):
                if off + 4 > len(body):
                    self.malformed += 1
                    return
                ie, flen = struct.unpack_from("!HH", body, off)
                off += 8 if (not v9 and ie & 0x8000) else 4
                length = None if (length is None or flen == 0xFFFF) else length + flen
            if count:
                self.lengths[(domain, tid)] = length
                if options:
                    self.is_options.add((domain, tid))
            else:  # an IPFIX withdrawal
                self.lengths.pop((domain, tid), None)

    def datagram(self, data):
        self.datagrams += 1
        self.bytes += len(data)
        if len(data) < 16:
            self.malformed += 1
            return
        version = struct.unpack_from("!H", data)[0]
        if version == 9:
            if len(data) < 20:
                self.malformed += 1
                return
            domain, off = struct.unpack_from("!I", data, 16)[0], 20
            tset, oset = (0,), (1,)
        elif version == 10:
            domain, off = struct.unpack_from("!I", data, 12)[0], 16
            tset, oset = (2,), (3,)
        else:
            self.malformed += 1
            return
        while off + 4 <= len(data):
            sid, slen = struct.unpack_from("!HH", data, off)
            if slen < 4 or off + slen > len(data):
                self.malformed += 1
                return
            body = data[off + 4:off + slen]
            if sid in tset or sid in oset:
                self.templates(domain, body, sid in oset, version == 9)
            elif sid >= 256:
                reclen = self.lengths.get((domain, sid))
                if reclen and (domain, sid) in self.is_options:
                    self.options += len(body) // reclen
                elif reclen:
                    self.records += len(body) // reclen
            off += slen


def drops(port):
    """Datagrams dropped at this socket (the last column of /proc/net/udp)."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port:
                return int(cols[-1])
    return -1


def main():
    port = int(sys.argv[1])
    idle = float(sys.argv[2]) if len(sys.argv) > 2 else 3
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 600
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # SO_RCVBUFFORCE (root): past net.core.rmem_max
        s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind(("127.0.0.1", port))
    s.settimeout(0.2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(f"listening {s.getsockname()[1]}", file=sys.stderr, flush=True)
    c = Counter()
    start = time.monotonic()
    last = None
    buf = bytearray(65536)
    while not stop and time.monotonic() - start < limit:
        try:
            n = s.recv_into(buf)
        except socket.timeout:
            if last is not None and time.monotonic() - last > idle:
                break
            continue
        last = time.monotonic()
        c.datagram(bytes(buf[:n]))
    print(json.dumps({"datagrams": c.datagrams, "bytes": c.bytes, "records": c.records,
                      "options": c.options, "malformed": c.malformed,
                      "dropped": drops(s.getsockname()[1])}), flush=True)


if __name__ == "__main__":
    main()
