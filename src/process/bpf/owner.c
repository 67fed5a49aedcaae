#include "process/bpf/owner.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/types.h>

#include "process/bpf/record.h"
#include "process/procinfo.h"

_Static_assert(sizeof(struct nurs_bpf_record) == 376 &&
                   offsetof(struct nurs_bpf_record, netns) == 48 &&
                   offsetof(struct nurs_bpf_record, comm) == 104,
               "record layout changed: bump the version");
_Static_assert(sizeof(struct nurs_sock_tuple) == 48, "the tuple is hashed as bytes: no padding");

static bool v4_mapped(const uint8_t *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, sizeof prefix) == 0;
}

static bool all_zero(const uint8_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i])
            return false;
    return true;
}

/* A dual-stack socket's IPv4 traffic: the far end is IPv4-mapped, the
 * near one mapped too, or unbound (::). */
static void unmap(struct nurs_sock_tuple *t)
{
    if (t->family != AF_INET6 || !v4_mapped(t->raddr) ||
        !(v4_mapped(t->laddr) || all_zero(t->laddr, 16)))
        return;
    t->family = AF_INET;
    memmove(t->laddr, t->laddr + 12, 4);
    memmove(t->raddr, t->raddr + 12, 4);
    memset(t->laddr + 4, 0, 12);
    memset(t->raddr + 4, 0, 12);
}

int nurs_bpf_record_decode(const void *data, size_t len, struct nurs_sock_owner *o,
                           const char **why)
{
    const size_t fixed = offsetof(struct nurs_bpf_record, cmdline);
    struct nurs_bpf_record r;
    if (len < fixed) {
        *why = "record too short";
        return -1;
    }
    /* Copied: the ring's bytes are not aligned for us to read in place. */
    memcpy(&r, data, len < sizeof r ? len : sizeof r);
    if (r.version != NURS_BPF_RECORD_VERSION) {
        *why = "unknown record version";
        return -1;
    }
    if (r.kind < NURS_BPF_CONNECT || r.kind > NURS_BPF_KIND_MAX) {
        *why = "unknown record kind";
        return -1;
    }
    if ((r.family != AF_INET && r.family != AF_INET6) ||
        (r.proto != IPPROTO_TCP && r.proto != IPPROTO_UDP)) {
        *why = "not a TCP or UDP socket over IP";
        return -1;
    }
    if (r.cmdline_len > NURS_BPF_CMDLINE_LEN || fixed + r.cmdline_len > len) {
        *why = "command line beyond the record";
        return -1;
    }
    if (r.lport == 0 || r.tgid == 0) {
        *why = r.lport ? "no process" : "no local port";
        return -1;
    }
    memset(o, 0, sizeof *o);
    struct nurs_sock_tuple *t = &o->t;
    t->netns = r.netns;
    t->family = r.family;
    t->proto = r.proto;
    t->lport = r.lport;
    t->rport = r.kind == NURS_BPF_BIND ? 0 : r.rport;
    size_t alen = r.family == AF_INET ? 4 : 16;
    memcpy(t->laddr, r.laddr, alen);
    if (r.kind != NURS_BPF_BIND)
        memcpy(t->raddr, r.raddr, alen);
    unmap(t);
    o->kind = r.kind;
    o->cookie = r.cookie;
    o->start_ns = r.start_ns;
    o->cgroup_id = r.cgroup_id;
    o->tgid = r.tgid;
    o->tid = r.tid;
    o->ppid = r.ppid;
    o->uid = r.uid;
    o->gid = r.gid;
    size_t n = strnlen(r.comm, sizeof r.comm);
    nurs_proc_clean_text(o->comm, sizeof o->comm, r.comm, n);
    o->cmdline_len = r.cmdline_len;
    o->cmdline = r.cmdline_len ? (const char *)data + fixed : NULL;
    return 0;
}

struct nurs_sock_owner *nurs_sock_owner_dup(const struct nurs_sock_owner *o)
{
    struct nurs_sock_owner *c = malloc(sizeof *c + o->cmdline_len);
    if (!c)
        return NULL;
    *c = *o;
    if (o->cmdline_len) {
        memcpy(c + 1, o->cmdline, o->cmdline_len);
        c->cmdline = (const char *)(c + 1);
    }
    return c;
}
