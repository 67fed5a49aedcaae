"""Reads what statsd_listen.py recorded, for the kernel tests' checks:
datagrams(path) gives each datagram's record ({"t", "sport", "len",
"text"}), lines(datagram) each of its DogStatsD lines as
(name, value, type, tags, line)."""
import json


def datagrams(path):
    return [json.loads(l) for l in open(path)]


def lines(datagram):
    for line in datagram["text"].split("\n"):
        head, _, tags = line.partition("|#")
        nv, typ = head.rsplit("|", 1)
        name, value = nv.rsplit(":", 1)
        tags = dict(t.split(":", 1) for t in tags.split(",")) if tags else {}
        yield name, value, typ, tags, line
