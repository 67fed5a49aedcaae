#!/usr/bin/env python3
"""Short-lived processes making connections, for bench/process-churn.sh.

  churn.py N LINGER_MS BACKGROUND RATE OUT.json

First BACKGROUND idle processes holding 20 sockets each (a busier /proc to
search; started 3 s before the churn), and a TCP server process on 127.0.0.1 that keeps every connection
open. Then N processes, one after the other, RATE a second (0: as fast as they
can be forked),
each named "churn-I" and holding no other socket: it connects to the server,
sends a byte, says its pid and port, keeps the socket LINGER_MS and exits.
Writes {sport: pid} for every connection.
"""
import json
import os
import signal
import socket
import sys
import time


def reap(children):
    while children:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            children.remove(pid)


def main():
    n, linger, background = int(sys.argv[1]), float(sys.argv[2]) / 1000, int(sys.argv[3])
    rate, out = float(sys.argv[4]), sys.argv[5]
    idle = []
    if background:
        held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(20)]
        for _ in range(background):
            pid = os.fork()
            if pid == 0:
                signal.pause()
                os._exit(0)
            idle.append(pid)
        for s in held:
            s.close()
        time.sleep(3)  # long-lived ones, not young any more
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    port = srv.getsockname()[1]
    server = os.fork()
    if server == 0:
        conns = []  # kept open: no port is used twice
        while True:
            conns.append(srv.accept()[0])
    srv.close()
    r, w = os.pipe()
    flows, children = {}, []
    start = time.time()
    for i in range(n):
        if rate:
            time.sleep(max(0.0, start + i / rate - time.time()))
        pid = os.fork()
        if pid == 0:
            os.close(r)
            with open("/proc/self/comm", "w") as f:
                f.write("churn-%d" % i)
            c = socket.create_connection(("127.0.0.1", port))
            c.send(b"x")
            os.write(w, ("%d %d\n" % (os.getpid(), c.getsockname()[1])).encode())
            if linger:
                time.sleep(linger)
            os._exit(0)
        children.append(pid)
        reap(children)  # zombies would stay in /proc
    os.close(w)
    with os.fdopen(r) as f:
        for line in f:
            pid, sport = line.split()
            flows[sport] = int(pid)
    for pid in children:
        os.waitpid(pid, 0)
    rate = n / (time.time() - start)
    for pid in idle + [server]:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    json.dump({"flows": flows, "rate": rate, "server_pid": server}, open(out, "w"))


if __name__ == "__main__":
    main()
