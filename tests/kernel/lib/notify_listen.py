#!/usr/bin/env python3
"""A stand-in for the service manager's notification socket.

Binds a datagram socket at ADDRESS (a path, or '@name' for an abstract
one, as $NOTIFY_SOCKET writes them) and writes one line per datagram to
OUT (created once the socket listens): the monotonic time it arrived, a space, the datagram with its
newlines as '|'. Exits after SECONDS at most, or on SIGTERM.
"""
import signal
import socket
import sys
import time

address, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + address[1:] if address.startswith("@") else address)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
deadline = time.monotonic() + seconds
with open(out, "w", buffering=1) as f:
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        f.write("%.3f %s\n" % (time.monotonic(), data.decode(errors="replace").replace("\n", "|")))
