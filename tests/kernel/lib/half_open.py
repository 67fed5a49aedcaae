#!/usr/bin/env python3
"""Holds COUNT TCP connections to HOST:PORT open for SECONDS, each with a
request that never ends (half a header): what a slow or hostile client
does. Prints JSON: when the hold began and ended (time.time()), how many
connected, and how many the server had closed by the end.
Usage: half_open.py HOST PORT COUNT SECONDS"""
import json
import socket
import sys
import time

host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
assert 0 < count <= 1000 and 0 < seconds <= 30
socks, errors = [], 0
begin = time.time()
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: half")
        socks.append(s)
    except OSError:
        errors += 1
        s.close()
held = time.time()
time.sleep(max(0.0, seconds - (held - begin)))
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        closed += s.recv(1) == b""
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
end = time.time()
for s in socks:
    s.close()
print(json.dumps({"begin": begin, "held": held, "end": end, "connected": len(socks),
                  "connect_errors": errors, "closed_by_server": closed}))
