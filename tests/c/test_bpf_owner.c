/* The BPF side of process attribution, what runs without a kernel: the
 * ring-buffer record decoder, the table of socket owners and how a
 * connection's end is matched in it, and the /proc parsers it uses. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "process/bpf/owner.h"
#include "process/bpf/record.h"
#include "process/bpf/socktable.h"
#include "process/procinfo.h"
#include "tap.h"

static const uint8_t lo4[4] = {127, 0, 0, 1};
static const uint8_t lo6[16] = {[15] = 1};

static struct nurs_bpf_record record(uint8_t kind, uint8_t family, uint8_t proto, uint16_t lport,
                                     uint16_t rport)
{
    struct nurs_bpf_record r;
    memset(&r, 0, sizeof r);
    r.version = NURS_BPF_RECORD_VERSION;
    r.kind = kind;
    r.family = family;
    r.proto = proto;
    r.lport = lport;
    r.rport = rport;
    r.netns = 4096;
    r.cookie = 77;
    r.tgid = 1000;
    r.tid = 1001;
    r.ppid = 1;
    r.uid = 65534;
    r.start_ns = 123456789;
    r.cgroup_id = 42;
    memcpy(r.comm, "curl\x01", 5);
    static const char cmd[] = "curl\0-s\0http://x/";
    memcpy(r.cmdline, cmd, sizeof cmd);
    r.cmdline_len = sizeof cmd;
    return r;
}

static void test_decode(void)
{
    struct nurs_bpf_record r = record(NURS_BPF_CONNECT, AF_INET, IPPROTO_TCP, 40000, 80);
    memcpy(r.laddr, lo4, 4);
    memcpy(r.raddr, lo4, 4);
    struct nurs_sock_owner o;
    const char *why = NULL;
    tap_ok(nurs_bpf_record_decode(&r, sizeof r, &o, &why) == 0, "a TCP connect record");
    tap_is_int(o.t.netns, 4096, "netns");
    tap_is_int(o.t.lport, 40000, "local port");
    tap_is_int(o.t.rport, 80, "remote port");
    tap_ok(memcmp(o.t.laddr, lo4, 4) == 0 && o.t.laddr[4] == 0, "local address");
    tap_is_int(o.tgid, 1000, "pid");
    tap_is_int(o.tid, 1001, "thread");
    tap_is_str(o.comm, "curl?", "name, made printable");
    tap_ok(o.cmdline_len == 18 && memcmp(o.cmdline, "curl\0-s", 7) == 0 &&
               o.cmdline == (const char *)&r + offsetof(struct nurs_bpf_record, cmdline),
           "command line borrowed from the record");
    /* Only the used part of the command line needs to be there. */
    size_t used = offsetof(struct nurs_bpf_record, cmdline) + r.cmdline_len;
    tap_ok(nurs_bpf_record_decode(&r, used, &o, &why) == 0, "record cut after its command line");
    tap_ok(nurs_bpf_record_decode(&r, used - 1, &o, &why) < 0 && strstr(why, "command line"),
           "command line past the end: refused (%s)", why);

    struct nurs_bpf_record bad = r;
    bad.version = 2;
    tap_ok(nurs_bpf_record_decode(&bad, sizeof bad, &o, &why) < 0, "unknown version: %s", why);
    bad = r;
    bad.kind = 9;
    tap_ok(nurs_bpf_record_decode(&bad, sizeof bad, &o, &why) < 0, "unknown kind: %s", why);
    bad = r;
    bad.family = AF_UNIX;
    tap_ok(nurs_bpf_record_decode(&bad, sizeof bad, &o, &why) < 0, "not IP: %s", why);
    bad = r;
    bad.cmdline_len = NURS_BPF_CMDLINE_LEN + 1;
    tap_ok(nurs_bpf_record_decode(&bad, sizeof bad, &o, &why) < 0, "command line too long: %s", why);
    bad = r;
    bad.lport = 0;
    tap_ok(nurs_bpf_record_decode(&bad, sizeof bad, &o, &why) < 0, "no local port: %s", why);
    tap_ok(nurs_bpf_record_decode(&r, 10, &o, &why) < 0, "too short: %s", why);

    /* A dual-stack socket's IPv4 connection comes out as IPv4. */
    struct nurs_bpf_record m = record(NURS_BPF_SEND, AF_INET6, IPPROTO_UDP, 5000, 53);
    m.raddr[10] = m.raddr[11] = 0xff;
    memcpy(m.raddr + 12, lo4, 4);
    tap_ok(nurs_bpf_record_decode(&m, sizeof m, &o, &why) == 0 && o.t.family == AF_INET &&
               memcmp(o.t.raddr, lo4, 4) == 0 && o.t.raddr[4] == 0 && o.t.laddr[0] == 0,
           "IPv4-mapped addresses: IPv4");
    /* A bind record has no peer, whatever the record says. */
    struct nurs_bpf_record b = record(NURS_BPF_BIND, AF_INET6, IPPROTO_TCP, 8080, 999);
    b.raddr[0] = 0x20;
    tap_ok(nurs_bpf_record_decode(&b, sizeof b, &o, &why) == 0 && o.t.rport == 0 &&
               o.t.raddr[0] == 0,
           "bind: no peer");
    struct nurs_sock_owner *copy = nurs_sock_owner_dup(&o);
    tap_ok(copy && copy->cmdline != o.cmdline && memcmp(copy->cmdline, o.cmdline, o.cmdline_len) == 0,
           "a copy owns its command line");
    free(copy);
}

static struct nurs_sock_owner owner(uint8_t family, uint8_t proto, const uint8_t *l,
                                    uint16_t lport, const uint8_t *r, uint16_t rport,
                                    uint32_t pid)
{
    struct nurs_sock_owner o;
    memset(&o, 0, sizeof o);
    o.t.netns = 4096;
    o.t.family = family;
    o.t.proto = proto;
    size_t n = family == AF_INET ? 4 : 16;
    if (l)
        memcpy(o.t.laddr, l, n);
    if (r)
        memcpy(o.t.raddr, r, n);
    o.t.lport = lport;
    o.t.rport = rport;
    o.tgid = pid;
    return o;
}

static void test_table(void)
{
    struct nurs_socktable t;
    tap_ok(nurs_socktable_init(&t, 3) == 0, "a table of 3");
    struct nurs_sock_owner client = owner(AF_INET, IPPROTO_TCP, lo4, 40000, lo4, 80, 1);
    struct nurs_sock_owner listener = owner(AF_INET6, IPPROTO_TCP, NULL, 80, NULL, 0, 2);
    struct nurs_sock_owner sender = owner(AF_INET, IPPROTO_UDP, NULL, 5353, lo4, 53, 3);
    client.cmdline = "a\0b";
    client.cmdline_len = 3;
    tap_ok(nurs_socktable_put(&t, &client) && nurs_socktable_put(&t, &listener) &&
               nurs_socktable_put(&t, &sender),
           "three owners stored");
    const struct nurs_sock_owner *o;
    tap_is_int(nurs_socktable_match(&t, &client.t, &o), NURS_SOCK_EXACT, "the client: exact");
    tap_ok(o && o->tgid == 1 && o->cmdline != client.cmdline && memcmp(o->cmdline, "a\0b", 3) == 0,
           "with its own copy of the command line");
    /* The server's end of that connection: only the listener is known. */
    struct nurs_sock_tuple server = owner(AF_INET, IPPROTO_TCP, lo4, 80, lo4, 40000, 0).t;
    tap_is_int(nurs_socktable_match(&t, &server, &o), NURS_SOCK_BOUND,
               "the server's end: bound (an IPv6 socket on any address takes IPv4)");
    tap_is_int(o ? o->tgid : 0, 2, "the listener's owner");
    /* UDP sent from an unbound socket: its local address was not known. */
    struct nurs_sock_tuple udp = owner(AF_INET, IPPROTO_UDP, lo4, 5353, lo4, 53, 0).t;
    tap_is_int(nurs_socktable_match(&t, &udp, &o), NURS_SOCK_EXACT, "UDP from any address");
    tap_is_int(o ? o->tgid : 0, 3, "its sender");
    struct nurs_sock_tuple other = owner(AF_INET, IPPROTO_TCP, lo4, 40001, lo4, 80, 0).t;
    tap_is_int(nurs_socktable_match(&t, &other, &o), NURS_SOCK_NONE, "another port: none");
    other = client.t;
    other.netns = 1;
    tap_is_int(nurs_socktable_match(&t, &other, &o), NURS_SOCK_NONE, "another namespace: none");

    /* The same tuple again: the newer owner, in place of the older. */
    client.tgid = 11;
    client.cmdline_len = 0;
    nurs_socktable_put(&t, &client);
    tap_ok(nurs_socktable_get(&t, &client.t) && nurs_socktable_get(&t, &client.t)->tgid == 11,
           "a tuple's newer owner replaces the older");
    tap_is_int(t.count, 3, "still three");
    tap_is_int(t.replaced, 0, "nothing forgotten");
    /* Full: the oldest goes (the listener, now that the client is newer). */
    struct nurs_sock_owner more = owner(AF_INET, IPPROTO_TCP, lo4, 40002, lo4, 80, 4);
    nurs_socktable_put(&t, &more);
    tap_is_int(t.replaced, 1, "one forgotten to make room");
    tap_ok(!nurs_socktable_get(&t, &listener.t), "the oldest");
    tap_ok(nurs_socktable_get(&t, &client.t) && nurs_socktable_get(&t, &sender.t) &&
               nurs_socktable_get(&t, &more.t),
           "the others stay");
    /* Many more than room, with command lines: bounded, nothing leaks (ASan). */
    for (uint16_t p = 1; p < 1000; p++) {
        struct nurs_sock_owner x = owner(AF_INET6, IPPROTO_UDP, lo6, p, lo6, 53, p);
        x.cmdline = "xyz";
        x.cmdline_len = 3;
        nurs_socktable_put(&t, &x);
    }
    tap_is_int(t.count, 3, "bounded");
    nurs_socktable_free(&t);
}

static void test_parsers(void)
{
    uint64_t ticks = 0;
    static const char stat[] = "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 "
                               "0 987654 10000 200\n";
    tap_ok(nurs_proc_stat_start(stat, sizeof stat - 1, &ticks) && ticks == 987654,
           "start time after a name with ') '");
    tap_ok(!nurs_proc_stat_start("1 (x) S 1 2", 11, &ticks), "stat cut short: none");
    char mnt[128];
    static const char mi[] =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755\n"
        "41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,nosuid shared:10 - cgroup2 cgroup2 rw\n";
    tap_ok(nurs_mountinfo_cgroup2(mi, sizeof mi - 1, mnt, sizeof mnt) &&
               strcmp(mnt, "/sys/fs/cgroup/uni fied") == 0,
           "cgroup2 mount point, unescaped: %s", mnt);
    static const char v1[] = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
    tap_ok(!nurs_mountinfo_cgroup2(v1, sizeof v1 - 1, mnt, sizeof mnt), "v1 only: none");
    tap_ok(!nurs_mountinfo_cgroup2(mi, sizeof mi - 1, mnt, 8), "no room: none");
}

int main(void)
{
    test_decode();
    test_table();
    test_parsers();
    return tap_done();
}
