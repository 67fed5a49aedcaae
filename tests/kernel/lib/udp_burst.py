#!/usr/bin/env python3
"""Creates COUNT conntrack entries at a bounded rate: one UDP datagram to
each of COUNT distinct destination ports on loopback (each a new entry).
Usage: udp_burst.py COUNT SECONDS [BASE_PORT] [HOST]"""
import socket
import sys
import time

count, seconds = int(sys.argv[1]), float(sys.argv[2])
base = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
assert 0 < count <= 50000 and 0 < seconds <= 60
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
batches = max(1, int(seconds * 20))
per = (count + batches - 1) // batches
sent = 0
start = time.monotonic()
for b in range(batches):
    for _ in range(per):
        if sent == count:
            break
        s.sendto(b"x", (host, base + sent))
        sent += 1
    delay = start + (b + 1) * seconds / batches - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(sent)
