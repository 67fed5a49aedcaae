#!/usr/bin/env python3
"""Bounded loopback traffic with known sizes, for the kernel tests.

Runs servers and clients in this process (inside the test's namespace) and
prints, as JSON, what it did: one entry per connection with addresses,
ports, protocol and the payload bytes sent each way.
"""
import argparse
import json
import socket
import threading


def tcp_flow(family, host, port, send, reply):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    srv.settimeout(5)

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(5)
        got = 0
        while got < send:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        conn.sendall(b"r" * reply)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    cli = socket.socket(family, socket.SOCK_STREAM)
    cli.settimeout(5)
    cli.connect((host, port))
    sport = cli.getsockname()[1]
    cli.sendall(b"s" * send)
    got = 0
    while got < reply:
        chunk = cli.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    cli.close()
    t.join(5)
    srv.close()
    return {"proto": "tcp", "src": host, "dst": host, "sport": sport, "dport": port,
            "sent": send, "received": got}


def udp_flow(family, host, port, datagrams, size):
    srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((host, port))
    srv.settimeout(5)
    cli = socket.socket(family, socket.SOCK_DGRAM)
    cli.settimeout(5)
    cli.connect((host, port))
    sport = cli.getsockname()[1]
    for _ in range(datagrams):
        cli.send(b"u" * size)
        _, peer = srv.recvfrom(65536)
        srv.sendto(b"v" * size, peer)
        cli.recv(65536)
    cli.close()
    srv.close()
    return {"proto": "udp", "src": host, "dst": host, "sport": sport, "dport": port,
            "datagrams": datagrams, "size": size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-port", type=int, default=20000)
    ap.add_argument("--tcp", type=int, default=3, help="TCP connections per family")
    ap.add_argument("--udp", type=int, default=3, help="UDP flows per family")
    args = ap.parse_args()
    flows = []
    port = args.base_port
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        for i in range(args.tcp):
            flows.append(tcp_flow(family, host, port, 1000 * (i + 1), 300 * (i + 1)))
            port += 1
        for i in range(args.udp):
            flows.append(udp_flow(family, host, port, i + 1, 100 + i))
            port += 1
    print(json.dumps(flows))


if __name__ == "__main__":
    main()
