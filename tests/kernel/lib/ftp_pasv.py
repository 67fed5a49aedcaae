#!/usr/bin/env python3
"""A tiny FTP exchange for the conntrack FTP helper, bounded in time.
  ftp_pasv.py server PORT         answers USER, PASS, PASV (one data
                                  transfer), QUIT for a few sessions
  ftp_pasv.py client PORT PAUSE   logs in, asks PASV, prints the data port,
                                  waits PAUSE seconds (the expectation
                                  lives), then fetches the data and quits
"""
import socket
import sys
import time


def serve(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    srv.settimeout(60)
    for _ in range(4):
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            return
        conn.settimeout(30)
        f = conn.makefile("rwb", buffering=0)
        f.write(b"220 tiny ftp\r\n")
        data = None
        for line in f:
            cmd = line.strip().split(b" ")[0].upper()
            if cmd == b"USER":
                f.write(b"331 password\r\n")
            elif cmd == b"PASS":
                f.write(b"230 in\r\n")
            elif cmd == b"PASV":
                data = socket.socket()
                data.bind(("127.0.0.1", 0))
                data.listen(1)
                data.settimeout(30)
                p = data.getsockname()[1]
                f.write(b"227 Entering Passive Mode (127,0,0,1,%d,%d)\r\n" % (p >> 8, p & 255))
            elif cmd == b"RETR" and data:
                f.write(b"150 here\r\n")
                try:
                    d, _ = data.accept()
                    d.sendall(b"hello\n")
                    d.close()
                except socket.timeout:
                    pass
                data.close()
                data = None
                f.write(b"226 done\r\n")
            elif cmd == b"QUIT":
                f.write(b"221 bye\r\n")
                break
            else:
                f.write(b"502 no\r\n")
        conn.close()


def client(port, pause):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = c.makefile("rwb", buffering=0)
    f.readline()
    for cmd in (b"USER a", b"PASS b"):
        f.write(cmd + b"\r\n")
        f.readline()
    f.write(b"PASV\r\n")
    reply = f.readline().decode()
    nums = [int(x) for x in reply[reply.index("(") + 1:reply.index(")")].split(",")]
    dport = nums[4] * 256 + nums[5]
    print(dport, flush=True)
    time.sleep(pause)
    f.write(b"RETR x\r\n")
    f.readline()
    try:
        d = socket.create_connection(("127.0.0.1", dport), timeout=5)
        d.recv(100)
        d.close()
    except OSError:
        pass
    f.readline()
    f.write(b"QUIT\r\n")
    f.readline()
    c.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    else:
        client(int(sys.argv[2]), float(sys.argv[3]))
