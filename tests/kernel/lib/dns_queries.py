#!/usr/bin/env python3
"""Sends one DNS query (A, class IN) per NAME to 127.0.0.1:53 from a
socket of its own, plus one malformed message (a label running past the
end), receives on 127.0.0.1:53, and prints the names that arrived, one
per line (the malformed one as "<malformed>").
Usage: dns_queries.py NAME..."""
import select
import socket
import struct
import sys
import time


def query(name, qid):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)


rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 53))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
names = sys.argv[1:]
for i, n in enumerate(names):
    tx.sendto(query(n, i), ("127.0.0.1", 53))
tx.sendto(struct.pack(">HHHHHH", 999, 0x0100, 1, 0, 0, 0) + b"\x3fshort", ("127.0.0.1", 53))
deadline = time.monotonic() + 1.5
while time.monotonic() < deadline:
    r, _, _ = select.select([rx], [], [], 0.1)
    if not r:
        continue
    data = rx.recv(4096)
    qid = struct.unpack(">H", data[:2])[0]
    print("<malformed>" if qid == 999 else names[qid])
