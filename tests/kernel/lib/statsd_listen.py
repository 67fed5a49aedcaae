#!/usr/bin/env python3
"""A statsd server's socket, for the kernel tests: records every datagram
it gets on 127.0.0.1:PORT as a JSON line {"t", "sport", "len", "text"} in
OUT (flushed at once), for at most SECONDS and MAX datagrams.
Usage: statsd_listen.py PORT OUT SECONDS [MAX]"""
import json
import os
import socket
import sys
import time

port, out, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
most = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
assert 0 < seconds <= 120 and 0 < most <= 100000
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
s.settimeout(0.2)
end = time.monotonic() + seconds
n = 0
open(out + ".tmp", "w").close()
os.rename(out + ".tmp", out)  # it exists once the socket is bound
with open(out, "a") as f:
    while time.monotonic() < end and n < most:
        try:
            data, addr = s.recvfrom(65536)
        except socket.timeout:
            continue
        f.write(json.dumps({"t": time.time(), "sport": addr[1], "len": len(data),
                            "text": data.decode()}) + "\n")
        f.flush()
        n += 1
