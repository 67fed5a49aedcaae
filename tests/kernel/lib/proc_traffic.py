#!/usr/bin/env python3
"""Connections made by processes with distinctive names, for the process
attribution test (run inside the test's namespace, as root).

  proc_traffic.py CGROUP_DIR PORT_BASE [RELOAD_PID]

Two servers, each its own process: "nurs-tcp-srv" (root, in cgroup
CGROUP_DIR/nurs-web.service) and "nurs-udp-srv" (in cgroup
CGROUP_DIR/docker-<64 hex>.scope, binding as root, then running as uid
65534), listening on 127.0.0.1 and ::1. Eight clients, each
its own process named after its flow ("nurs-c-tcp4-0"...), half of them as
uid 65534, make one TCP connection or UDP exchange each and report what they
did. The "early" half exit before the connections end; RELOAD_PID (a
daemon) gets a SIGHUP, so that what it knows must outlive a reload; then
conntrack -F ends every connection while the others still run. Prints, as JSON, every
flow with the pid, name, uid and user of the process at each end and the
server's cgroup.
"""
import json
import os
import pwd
import secrets
import select
import signal
import socket
import subprocess
import sys
import time

NOBODY = 65534
LINGER = 1.0  # seconds an early client keeps its socket before exiting


def set_name(name):
    with open("/proc/self/comm", "w") as f:
        f.write(name)


def join_cgroup(path):
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


def become(uid):
    if uid != os.getuid():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def me(name):
    uid = os.getuid()
    return {"pid": os.getpid(), "name": name, "uid": uid, "user": pwd.getpwuid(uid).pw_name}


def server(kind, port, cgroup, uid):
    name = "nurs-%s-srv" % kind
    set_name(name)
    join_cgroup(cgroup)
    stype = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    socks = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(family, stype)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        if kind == "tcp":
            s.listen(16)
        socks.append(s)
    become(uid)
    print(json.dumps(me(name)), flush=True)
    conns = []
    deadline = time.time() + 30
    while time.time() < deadline:
        ready, _, _ = select.select(socks + conns + [sys.stdin], [], [], 0.5)
        if sys.stdin in ready:
            return  # the driver is done
        for s in ready:
            if kind == "tcp" and s in socks:
                c, _ = s.accept()
                conns.append(c)
            elif kind == "tcp":
                data = s.recv(4096)
                if data:
                    s.sendall(b"r" * len(data))
                else:
                    conns.remove(s)
                    s.close()
            else:
                data, peer = s.recvfrom(4096)
                s.sendto(b"v" * len(data), peer)


def client(flow, port, uid, early):
    kind, family = flow[:3], flow[3]
    name = "nurs-c-" + flow
    set_name(name)
    become(uid)
    af, host = (socket.AF_INET, "127.0.0.1") if family == "4" else (socket.AF_INET6, "::1")
    s = socket.socket(af, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect((host, port))
    s.send(b"q" * 100)
    s.recv(4096)
    report = me(name)
    report.update(proto=kind, family="ipv" + family, sport=s.getsockname()[1], dport=port,
                  early=early)
    print(json.dumps(report), flush=True)
    if early:
        time.sleep(LINGER)
        return
    sys.stdin.read()  # until the driver is done


def spawn(*args):
    return subprocess.Popen([sys.executable, __file__] + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def driver(cgroup_dir, port_base, reload_pid):
    web = os.path.join(cgroup_dir, "nurs-web.service")
    container = secrets.token_hex(32)
    box = os.path.join(cgroup_dir, "docker-%s.scope" % container)
    for path in (web, box):
        os.makedirs(path)
    tcp_port, udp_port = port_base, port_base + 1
    servers = {"tcp": spawn("server", "tcp", tcp_port, web, 0),
               "udp": spawn("server", "udp", udp_port, box, NOBODY)}
    srv = {k: json.loads(p.stdout.readline()) for k, p in servers.items()}
    srv["tcp"].update(unit="nurs-web.service")
    srv["udp"].update(unit="docker-%s.scope" % container, container=container)
    clients = []
    for i, flow in enumerate(("tcp4", "tcp4", "tcp6", "tcp6", "udp4", "udp4", "udp6", "udp6")):
        uid = NOBODY if i % 2 else 0
        early = i % 4 in (0, 3)
        port = tcp_port if flow.startswith("tcp") else udp_port
        clients.append(spawn("client", flow, port, uid, int(early)))
    flows = []
    for p in clients:
        c = json.loads(p.stdout.readline())
        flows.append({"proto": c.pop("proto"), "family": c.pop("family"), "sport": c.pop("sport"),
                      "dport": c.pop("dport"), "early": c.pop("early"), "client": c,
                      "server": srv[c["name"][7:10]]})
    for p, f in zip(clients, flows):
        if f["early"]:
            p.wait(timeout=10)
    if reload_pid:
        os.kill(reload_pid, signal.SIGHUP)
        time.sleep(1)
    # Every connection ends now; the early clients are gone already.
    subprocess.run(["conntrack", "-F"], stderr=subprocess.DEVNULL, check=False)
    time.sleep(0.2)
    for p in clients + list(servers.values()):
        if p.poll() is None:
            p.stdin.close()
            p.wait(timeout=10)
    print(json.dumps(flows))


def main():
    role = sys.argv[1]
    if role == "server":
        server(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif role == "client":
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")
    else:
        driver(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)


if __name__ == "__main__":
    main()
