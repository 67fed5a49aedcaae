#!/usr/bin/env python3
"""One long-lived TCP connection on loopback with known bursts, for the
kernel tests of active timeouts and of the dump at exit.

Usage: longconn.py PORT BURSTS INTERVAL GO_FILE

The client connects to 127.0.0.1:PORT and sends BURSTS bursts, INTERVAL
seconds apart; the server answers each. Then it prints "ready" and waits
(at most 30 s) until GO_FILE exists, sends one last burst, closes the
connection, and prints a JSON line: the client's port and the payload
bytes sent each way.
"""
import json
import os
import socket
import sys
import threading
import time


def recv_exactly(sock, n):
    got = 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        if not chunk:
            raise EOFError("connection closed early")
        got += len(chunk)


def main():
    port, bursts, interval, go = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    assert 0 < bursts <= 100 and 0 <= interval <= 5
    sizes = [(1000 + 700 * i, 300 + 50 * i) for i in range(bursts + 1)]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.settimeout(10)

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(40)
        for send, reply in sizes:
            recv_exactly(conn, send)
            conn.sendall(b"r" * reply)
        conn.recv(1)  # the client's close
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    cli = socket.create_connection(("127.0.0.1", port), timeout=40)
    sport = cli.getsockname()[1]

    def burst(i):
        cli.sendall(b"s" * sizes[i][0])
        recv_exactly(cli, sizes[i][1])

    for i in range(bursts):
        if i:
            time.sleep(interval)
        burst(i)
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + go)
        time.sleep(0.02)
    burst(bursts)
    cli.close()
    t.join(10)
    srv.close()
    print(json.dumps({"sport": sport, "dport": port, "sent": sum(s for s, _ in sizes),
                      "received": sum(r for _, r in sizes)}), flush=True)


if __name__ == "__main__":
    main()
