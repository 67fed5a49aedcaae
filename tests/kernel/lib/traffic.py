#!/usr/bin/env python3
"""Bounded loopback traffic with known sizes, for the kernel tests.

Runs servers and clients in this process (inside the test's namespace) and
prints, as JSON, what it did: one entry per connection with addresses,
ports, protocol and the payload bytes sent each way. Each entry also says
where the server listened (`listen`, `lport`) and whom it saw as its peer
(`peer`, `pport`): under NAT these are the post-NAT destination and source
of the original direction, seen from the sockets' side.

--flow adds a connection whose client connects to one address and port
while the server listens on another (a NAT rule of the test maps one to
the other): "tcp|udp,CONNECT_HOST,CONNECT_PORT,LISTEN_HOST,LISTEN_PORT".
--icmp sends echo requests (raw sockets, a fixed identifier) to 127.0.0.1
and ::1; the kernel answers them.
"""
import argparse
import json
import os
import socket
import struct
import threading
import time

ICMP_PAYLOAD = 56


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def entry(proto, cli, connect, srv_local, peer):
    return {"proto": proto, "src": cli[0], "dst": connect[0], "sport": cli[1], "dport": connect[1],
            "listen": srv_local[0], "lport": srv_local[1], "peer": peer[0], "pport": peer[1]}


def tcp_flow(connect, listen, send, reply):
    family = family_of(listen[0])
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(listen)
    srv.listen(1)
    srv.settimeout(5)
    seen = {}

    def serve():
        conn, peer = srv.accept()
        seen["peer"] = peer[:2]
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
    cli.connect(connect)
    local = cli.getsockname()[:2]
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
    e = entry("tcp", local, connect, listen, seen.get("peer", ("", 0)))
    e.update(sent=send, received=got)
    return e


def udp_flow(connect, listen, datagrams, size):
    family = family_of(listen[0])
    srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind(listen)
    srv.settimeout(5)
    cli = socket.socket(family, socket.SOCK_DGRAM)
    cli.settimeout(5)
    cli.connect(connect)
    local = cli.getsockname()[:2]
    peer = ("", 0)
    for _ in range(datagrams):
        cli.send(b"u" * size)
        _, peer = srv.recvfrom(65536)
        srv.sendto(b"v" * size, peer)
        cli.recv(65536)
    cli.close()
    srv.close()
    e = entry("udp", local, connect, listen, peer[:2])
    e.update(datagrams=datagrams, size=size)
    return e


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_echo(host, count, ident):
    """count echo requests of ICMP_PAYLOAD bytes, each waiting for its reply."""
    v6 = ":" in host
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    s = socket.socket(family_of(host), socket.SOCK_RAW, proto)
    s.settimeout(5)
    req, rep = (128, 129) if v6 else (8, 0)
    answered = 0
    for seq in range(count):
        payload = bytes(range(ICMP_PAYLOAD))
        head = struct.pack("!BBHHH", req, 0, 0, ident, seq)
        # The kernel computes ICMPv6 checksums (RFC 3542); ICMPv4 is ours.
        if not v6:
            head = struct.pack("!BBHHH", req, 0, checksum(head + payload), ident, seq)
        s.sendto(head + payload, (host, 0))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data = s.recv(65536)
            icmp = data if v6 else data[(data[0] & 0xF) * 4:]
            t, _, _, i, q = struct.unpack("!BBHHH", icmp[:8])
            if t == rep and i == ident and q == seq:
                answered += 1
                break
    s.close()
    ip_header = 40 if v6 else 20
    return {"proto": "icmpv6" if v6 else "icmp", "src": host, "dst": host, "type": req, "code": 0,
            "reply_type": rep, "icmp_id": ident, "requests": count, "answered": answered,
            "bytes_each": ip_header + 8 + ICMP_PAYLOAD}


def parse_flow(spec):
    proto, chost, cport, lhost, lport = spec.split(",")
    return proto, (chost, int(cport)), (lhost, int(lport))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-port", type=int, default=20000)
    ap.add_argument("--tcp", type=int, default=3, help="TCP connections per family")
    ap.add_argument("--udp", type=int, default=3, help="UDP flows per family")
    ap.add_argument("--icmp", type=int, default=0, help="echo requests per family")
    ap.add_argument("--flow", action="append", default=[],
                    help="proto,CONNECT_HOST,CONNECT_PORT,LISTEN_HOST,LISTEN_PORT")
    args = ap.parse_args()
    flows = []
    port = args.base_port
    for host in ("127.0.0.1", "::1"):
        for i in range(args.tcp):
            flows.append(tcp_flow((host, port), (host, port), 1000 * (i + 1), 300 * (i + 1)))
            port += 1
        for i in range(args.udp):
            flows.append(udp_flow((host, port), (host, port), i + 1, 100 + i))
            port += 1
    for i, spec in enumerate(args.flow):
        proto, connect, listen = parse_flow(spec)
        if proto == "tcp":
            flows.append(tcp_flow(connect, listen, 2000 + 100 * i, 500 + 10 * i))
        else:
            flows.append(udp_flow(connect, listen, 2 + i, 200 + i))
    if args.icmp:
        ident = os.getpid() & 0xFFFF
        for host in ("127.0.0.1", "::1"):
            flows.append(icmp_echo(host, args.icmp, ident))
    print(json.dumps(flows))


if __name__ == "__main__":
    main()
