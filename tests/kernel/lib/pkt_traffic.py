#!/usr/bin/env python3
"""A known, bounded sequence of packets on loopback, for the NFLOG tests:
UDP, TCP and ICMP echo over IPv4 and IPv6, each payload telling what it
is, then (with --trigger PORT) one UDP datagram "dump" to PORT on
127.0.0.1, where nothing listens.

Usage: pkt_traffic.py [--tcp-bytes N] [--udp N] [--trigger PORT]
Prints the number of application payloads sent.
"""
import argparse
import socket
import subprocess
import threading


def udp_exchange(family, host, port, count):
    srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((host, port))
    srv.settimeout(5)
    cli = socket.socket(family, socket.SOCK_DGRAM)
    cli.settimeout(5)
    cli.connect((host, port))
    for i in range(count):
        cli.send(b"nurs-udp-%d-%d-" % (family, i) + b"x" * (50 + i))
        data, peer = srv.recvfrom(65536)
        srv.sendto(b"nurs-udp-reply-" + data[-8:], peer)
        cli.recv(65536)
    cli.close()
    srv.close()
    return 2 * count


def tcp_exchange(family, host, port, nbytes):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    srv.settimeout(5)

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(5)
        got = 0
        while got < nbytes:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        conn.sendall(b"nurs-tcp-reply-%d" % got)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    cli = socket.socket(family, socket.SOCK_STREAM)
    cli.settimeout(5)
    cli.connect((host, port))
    pattern = bytes(range(256))
    cli.sendall((pattern * (nbytes // 256 + 1))[:nbytes])
    cli.recv(65536)
    cli.close()
    t.join(5)
    srv.close()
    return 2


def ping(host, count):
    subprocess.run(["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1", host],
                   stdout=subprocess.DEVNULL, check=True, timeout=10)
    return 2 * count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp-bytes", type=int, default=20000)
    ap.add_argument("--udp", type=int, default=5)
    ap.add_argument("--base-port", type=int, default=20001)
    ap.add_argument("--trigger", type=int, default=0)
    args = ap.parse_args()
    assert 0 < args.tcp_bytes <= 10 << 20 and 0 <= args.udp <= 1000
    sent = 0
    port = args.base_port
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sent += udp_exchange(family, host, port, args.udp)
        sent += tcp_exchange(family, host, port + 1, args.tcp_bytes)
        sent += ping(host, 2)
        port += 2
    if args.trigger:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"dump", ("127.0.0.1", args.trigger))
        sent += 1
    print(sent)


if __name__ == "__main__":
    main()
