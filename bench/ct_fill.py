#!/usr/bin/env python3
"""Creates N conntrack entries quickly, inside the current namespace: one
UDP datagram per (destination address, port) pair over 127.0.0.0/8, each
a new entry. Bounded: N <= 500000."""
import socket
import sys

n = int(sys.argv[1])
assert 0 < n <= 500000
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ports = 50000
for i in range(n):
    host = "127.0.%d.%d" % (1 + i // ports // 250, 1 + (i // ports) % 250)
    s.sendto(b"x", (host, 10000 + i % ports))
