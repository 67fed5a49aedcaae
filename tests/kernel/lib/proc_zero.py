#!/usr/bin/env python3
"""Connections of processes that exit the moment they are done, for the
BPF process attribution test (run inside the test's namespace, as root,
with nsenter: it needs the host's cgroup mounts).

  proc_zero.py CGROUP_DIR PORT_BASE ROUNDS OUT.json

Per round, for each kind (TCP, UDP with sendto, UDP with connect; IPv4 and
IPv6): a server process that binds, takes one connection or datagram and
exits at once, and a client process that connects or sends one datagram
and exits at once (no linger). Each is forked from this driver, named
after its flow, in a cgroup of its own kind (CGROUP_DIR/nurs-zero-srv.service
or CGROUP_DIR/nurs-zero-cli.scope), as root or uid 65534 every other round,
and reports pid, name, uid, cgroup and parent just before it exits. Writes
every flow with both reports to OUT.json.
"""
import encodings.idna  # noqa: F401 (as uid 65534 the children cannot import it)
import json
import os
import socket
import sys
import traceback

NOBODY = 65534
KINDS = ("tcp4", "tcp6", "udp4", "udp6", "udpc4", "udpc6")


def cgroup_path():
    for line in open("/proc/self/cgroup"):
        if line.startswith("0::"):
            return line[3:].strip()
    return None


def become(name, cgroup, uid):
    with open("/proc/self/comm", "w") as f:
        f.write(name)
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    if uid:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def report(w, **extra):
    me = {"pid": os.getpid(), "name": open("/proc/self/comm").read().strip(),
          "uid": os.geteuid(), "cgroup": cgroup_path(), "ppid": os.getppid()}
    me.update(extra)
    os.write(w, (json.dumps(me) + "\n").encode())


def child(fn):
    """Forks fn(write_end); returns (pid, read_end)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            fn(w)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    os.close(w)
    return pid, r


def read_report(r):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(r, 4096)
        if not chunk:
            raise SystemExit("a child exited without reporting")
        data += chunk
    os.close(r)
    return json.loads(data)


def server(kind, port, name, cgroup, uid):
    family = socket.AF_INET6 if kind.endswith("6") else socket.AF_INET
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    tcp = kind.startswith("tcp")

    def run(w):
        become(name, cgroup, uid)
        s = socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        s.bind((host, port))
        if tcp:
            s.listen(1)
        report(w)
        s.settimeout(10)
        if tcp:
            s.accept()  # and exit at once
        else:
            s.recvfrom(100)
    return child(run)


def client(kind, port, name, cgroup, uid):
    family = socket.AF_INET6 if kind.endswith("6") else socket.AF_INET
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"

    def run(w):
        become(name, cgroup, uid)
        if kind.startswith("tcp"):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect((host, port))
            s.send(b"x")
        elif kind.startswith("udpc"):
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.connect((host, port))
            s.send(b"x")
        else:
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.sendto(b"x", (host, port))
        report(w, sport=s.getsockname()[1])
    return child(run)


def main():
    cgroup_dir, port_base, rounds, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    srv_cg = os.path.join(cgroup_dir, "nurs-zero-srv.service")
    cli_cg = os.path.join(cgroup_dir, "nurs-zero-cli.scope")
    for path in (srv_cg, cli_cg):
        os.makedirs(path, exist_ok=True)
    flows = []
    port = port_base
    for r in range(rounds):
        for kind in KINDS:
            uid = NOBODY if r % 2 else 0
            spid, sr = server(kind, port, "zs-%s-%d" % (kind, r), srv_cg, uid)
            srv = read_report(sr)
            cpid, cr = client(kind, port, "zc-%s-%d" % (kind, r), cli_cg, NOBODY - uid)
            cli = read_report(cr)
            for pid in (cpid, spid):
                os.waitpid(pid, 0)
            flows.append({"kind": kind, "proto": "tcp" if kind.startswith("tcp") else "udp",
                          "family": "ipv6" if kind.endswith("6") else "ipv4",
                          "sport": cli.pop("sport"), "dport": port, "client": cli, "server": srv})
            port += 1
    json.dump({"driver": os.getpid(), "flows": flows}, open(out, "w"))


if __name__ == "__main__":
    main()
