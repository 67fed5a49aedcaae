#!/usr/bin/env python3
"""Sends COUNT numbered UDP datagrams to each of PORTS on loopback at a
bounded rate, receives on those ports, and prints per port how many
arrived and how many of those arrived byte-for-byte intact (no duplicate).
Usage: nfq_udp.py COUNT SECONDS PORT [PORT...]
Output: one line per port: "PORT received INTACT"."""
import select
import socket
import sys
import time

count, seconds = int(sys.argv[1]), float(sys.argv[2])
ports = [int(p) for p in sys.argv[3:]]
assert 0 < count <= 100000 and 0 <= seconds <= 60 and ports


def payload(port, i):
    head = b"%d:%d:" % (port, i)
    return head + bytes((i * 7 + k) % 256 for k in range(200))


rx = {}
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", p))
    s.setblocking(False)
    rx[s] = p
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
seen = {p: set() for p in ports}
got = {p: 0 for p in ports}


def drain(timeout):
    ready, _, _ = select.select(list(rx), [], [], timeout)
    for s in ready:
        while True:
            try:
                data = s.recv(4096)
            except BlockingIOError:
                break
            p = rx[s]
            got[p] += 1
            try:
                i = int(data.split(b":")[1])
            except (IndexError, ValueError):
                continue
            if data == payload(p, i) and i not in seen[p]:
                seen[p].add(i)


start = time.monotonic()
for i in range(count):
    for p in ports:
        tx.sendto(payload(p, i), ("127.0.0.1", p))
    due = start + seconds * (i + 1) / count
    while time.monotonic() < due:
        drain(max(0, due - time.monotonic()))
    drain(0)
# Let what is still queued arrive: stop 1 s after the last datagram.
deadline = time.monotonic() + 1.0
cap = time.monotonic() + 30
while time.monotonic() < min(deadline, cap):
    before = sum(got.values())
    drain(0.2)
    if sum(got.values()) != before:
        deadline = time.monotonic() + 1.0
for p in ports:
    print(p, got[p], len(seen[p]))
