#!/usr/bin/env python3
"""Round trips of a UDP echo on loopback, for bench/nfqueue.sh.
  nfq_rtt.py server PORT          echo every datagram back (until killed)
  nfq_rtt.py client PORT N        N sequential round trips (<= 100000);
                                  prints "median_us M p99_us P lost L"."""
import socket
import sys
import time

mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if mode == "server":
    s.bind(("127.0.0.1", port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)
n = int(sys.argv[3])
assert 0 < n <= 100000
s.settimeout(1.0)
rtts, lost = [], 0
for i in range(n):
    msg = b"%d" % i
    t = time.perf_counter_ns()
    s.sendto(msg, ("127.0.0.1", port))
    try:
        while s.recv(2048) != msg:
            pass
    except socket.timeout:
        lost += 1
        continue
    rtts.append((time.perf_counter_ns() - t) / 1000)
rtts.sort()
med = rtts[len(rtts) // 2] if rtts else 0
p99 = rtts[int(len(rtts) * 0.99)] if rtts else 0
print("median_us %.1f p99_us %.1f lost %d" % (med, p99, lost))
