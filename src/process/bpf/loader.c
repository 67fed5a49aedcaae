#include "process/bpf/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/types.h>

#include "core/log.h"
#include "core/privileges.h"
#include "process/bpf/owner.h"
#include "process/bpf/record.h"
#include "process/cgroupid.h"

#ifdef NURS_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "owner.skel.h" /* generated at build time from owner.bpf.c */
#endif

/* Records read per wakeup: the rest wait for the next turn of the loop. */
#define DRAIN_MAX 4096

struct nurs_bpf {
    uv_poll_t poll;
    uint64_t netns;
    struct nurs_socktable table;
    uint64_t records, invalid, unstored;
    unsigned drained;
    struct nurs_ratelimit rl;
    char cgroup[512];
    void (*closed)(void *ctx);
    void *closed_ctx;
#ifdef NURS_HAVE_BPF
    struct nurs_owner_bpf *skel;
    struct ring_buffer *rb;
#endif
};

const char *nurs_bpf_cgroup(const struct nurs_bpf *b) { return b->cgroup; }

static void drain(struct nurs_bpf *b);

enum nurs_sock_match nurs_bpf_match(struct nurs_bpf *b, const struct nurs_sock_key *k,
                                    struct nurs_sock_owner **owner)
{
    /* A socket's record is written before its first packet leaves: read
     * now, it is here before its conntrack entry's event is. */
    drain(b);
    struct nurs_sock_tuple t;
    memset(&t, 0, sizeof t);
    t.netns = b->netns;
    t.family = k->family;
    t.proto = k->proto;
    t.lport = k->lport;
    t.rport = k->rport;
    size_t alen = k->family == AF_INET ? 4 : 16;
    memcpy(t.laddr, k->local, alen);
    memcpy(t.raddr, k->remote, alen);
    const struct nurs_sock_owner *o;
    enum nurs_sock_match m = nurs_socktable_match(&b->table, &t, &o);
    *owner = m != NURS_SOCK_NONE ? nurs_sock_owner_dup(o) : NULL;
    return *owner ? m : NURS_SOCK_NONE;
}

static int on_record(void *ctx, void *data, size_t len)
{
    struct nurs_bpf *b = ctx;
    struct nurs_sock_owner o;
    const char *why;
    b->records++;
    if (nurs_bpf_record_decode(data, len, &o, &why) < 0) {
        b->invalid++;
        if (nurs_ratelimit_check(&b->rl) >= 0)
            nurs_warn("process attribution: BPF record skipped: %s", why);
    } else if (o.t.netns == b->netns && !nurs_socktable_put(&b->table, &o)) {
        b->unstored++;
    }
    return ++b->drained < DRAIN_MAX ? 0 : -EAGAIN;
}

#ifdef NURS_HAVE_BPF

static void drain(struct nurs_bpf *b)
{
    b->drained = 0;
    ring_buffer__consume(b->rb);
}

static void on_ready(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    drain(p->data);
}

/* libbpf's messages: at debug level, and the first warning kept for the
 * reason of a failure. Only the loop's thread calls libbpf. */
static char first_warning[256];

static int on_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    if (level == LIBBPF_WARN && !first_warning[0])
        snprintf(first_warning, sizeof first_warning, "%.*s", (int)sizeof first_warning - 1,
                 line);
    nurs_debug("%s", line); /* they say "libbpf:" */
    return 0;
}

/* Why BPF cannot be used here, or NULL (and *cgroup_fd the root of the
 * cgroup v2 hierarchy, its mount point in cgroup). */
static const char *unusable(char *cgroup, size_t cap, int *cgroup_fd)
{
    const uint64_t cap_perfmon = 1ull << 38, cap_bpf = 1ull << 39; /* not in older headers */
    uint64_t caps = nurs_capabilities_get(0);
    if ((caps & (cap_bpf | cap_perfmon)) != (cap_bpf | cap_perfmon) &&
        !(caps & 1ull << CAP_SYS_ADMIN))
        return "no CAP_BPF and CAP_PERFMON, nor CAP_SYS_ADMIN";
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
    if ((*cgroup_fd = nurs_cgroup2_open(cgroup, cap)) < 0)
        return "no cgroup v2 hierarchy is mounted";
    if (!cgroup[0])
        snprintf(cgroup, cap, "the cgroup v2 root (mounted for us)");
    return NULL;
}

static uint32_t ring_size(uint32_t want)
{
    uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE), n = page;
    while (n < want && n < NURS_BPF_MAX_RING)
        n <<= 1;
    return n;
}

static int attach(struct nurs_bpf *b, int cgroup_fd, char *err, size_t errlen)
{
    struct nurs_owner_bpf *s = b->skel;
    struct {
        struct bpf_program *prog;
        struct bpf_link **link;
    } all[] = {
        {s->progs.nurs_sockops, &s->links.nurs_sockops},
        {s->progs.nurs_sendmsg4, &s->links.nurs_sendmsg4},
        {s->progs.nurs_sendmsg6, &s->links.nurs_sendmsg6},
        {s->progs.nurs_connect4, &s->links.nurs_connect4},
        {s->progs.nurs_connect6, &s->links.nurs_connect6},
        {s->progs.nurs_egress, &s->links.nurs_egress},
        {s->progs.nurs_bind4, &s->links.nurs_bind4},
        {s->progs.nurs_bind6, &s->links.nurs_bind6},
    };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        *all[i].link = bpf_program__attach_cgroup(all[i].prog, cgroup_fd);
        if (!*all[i].link) {
            int e = errno;
            snprintf(err, errlen, "cannot attach %s to %s: %s%s%s", bpf_program__name(all[i].prog),
                     b->cgroup, strerror(e), first_warning[0] ? "; " : "", first_warning);
            return -1;
        }
    }
    return 0;
}

static int load(struct nurs_bpf *b, const struct nurs_bpf_opts *o, int cgroup_fd, char *err,
                size_t errlen)
{
    static bool print_set;
    if (!print_set) {
        libbpf_set_print(on_libbpf);
        print_set = true;
    }
    first_warning[0] = '\0';
    if (!(b->skel = nurs_owner_bpf__open())) {
        snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
        return -1;
    }
    bpf_map__set_max_entries(b->skel->maps.ring, ring_size(o->ring_bytes));
    bpf_map__set_max_entries(b->skel->maps.sent, o->sockets);
    int e = nurs_owner_bpf__load(b->skel);
    if (e) {
        snprintf(err, errlen, "the kernel refused the BPF programs: %s%s%s", strerror(-e),
                 first_warning[0] ? "; " : "", first_warning);
        return -1;
    }
    uint8_t one = 1;
    if (bpf_map__update_elem(b->skel->maps.watched_netns, &b->netns, sizeof b->netns, &one,
                             sizeof one, BPF_ANY) < 0) {
        snprintf(err, errlen, "cannot fill the BPF map: %s", strerror(errno));
        return -1;
    }
    if (attach(b, cgroup_fd, err, errlen) < 0)
        return -1;
    b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.ring), on_record, b, NULL);
    if (!b->rb) {
        snprintf(err, errlen, "cannot read the BPF ring buffer: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends the kernel's id of the object behind fd to out: the log says
 * which are ours (`bpftool prog show id N`, `bpftool cgroup tree`). */
static void add_id(char *out, size_t cap, int fd)
{
    union {
        struct bpf_prog_info prog;
        struct bpf_map_info map;
        struct bpf_link_info link;
    } info;
    uint32_t len = sizeof info;
    memset(&info, 0, sizeof info);
    size_t used = strlen(out);
    /* Each kind of info starts with its type, then its id. */
    if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && used < cap)
        snprintf(out + used, cap - used, " %u", info.prog.id);
}

static void log_ids(const struct nurs_bpf *b)
{
    char progs[256] = "", links[256] = "", maps[256] = "";
    struct bpf_program *p;
    bpf_object__for_each_program(p, b->skel->obj) add_id(progs, sizeof progs, bpf_program__fd(p));
    struct bpf_map *m;
    bpf_object__for_each_map(m, b->skel->obj) add_id(maps, sizeof maps, bpf_map__fd(m));
    struct bpf_link *const *l = (struct bpf_link *const *)&b->skel->links;
    for (size_t i = 0; i < sizeof b->skel->links / sizeof *l; i++)
        if (l[i])
            add_id(links, sizeof links, bpf_link__fd(l[i]));
    nurs_info("process attribution: BPF objects: programs%s; links%s; maps%s", progs, links,
              maps);
}

static void free_now(struct nurs_bpf *b)
{
    ring_buffer__free(b->rb);
    nurs_owner_bpf__destroy(b->skel);
    nurs_socktable_free(&b->table);
    free(b);
}

struct nurs_bpf *nurs_bpf_open(uv_loop_t *loop, uint64_t netns, const struct nurs_bpf_opts *o,
                               char *err, size_t errlen)
{
    struct nurs_bpf *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->netns = netns;
    b->rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    int cg = -1;
    const char *why = unusable(b->cgroup, sizeof b->cgroup, &cg);
    if (why || nurs_socktable_init(&b->table, o->sockets) < 0) {
        snprintf(err, errlen, "%s", why ? why : "out of memory");
        if (cg >= 0)
            close(cg);
        free(b);
        return NULL;
    }
    /* On a failure half-way, destroying the skeleton detaches what was
     * attached: nothing of ours stays in the kernel. */
    int r = load(b, o, cg, err, errlen);
    close(cg); /* the links hold the cgroup */
    if (r < 0) {
        free_now(b);
        return NULL;
    }
    log_ids(b);
    uv_poll_init(loop, &b->poll, ring_buffer__epoll_fd(b->rb));
    b->poll.data = b;
    uv_poll_start(&b->poll, UV_READABLE, on_ready);
    uv_unref((uv_handle_t *)&b->poll); /* it follows its source: it keeps no loop alive */
    return b;
}

static void on_closed(uv_handle_t *h)
{
    struct nurs_bpf *b = h->data;
    void (*closed)(void *) = b->closed;
    void *ctx = b->closed_ctx;
    free_now(b);
    if (closed)
        closed(ctx);
}

void nurs_bpf_close(struct nurs_bpf *b, void (*closed)(void *ctx), void *ctx)
{
    b->closed = closed;
    b->closed_ctx = ctx;
    uv_poll_stop(&b->poll);
    nurs_owner_bpf__detach(b->skel); /* now: the programs stop running */
    uv_close((uv_handle_t *)&b->poll, on_closed);
}

void nurs_bpf_counters(const struct nurs_bpf *b, struct nurs_bpf_counters *c)
{
    uint64_t kernel_dropped = __atomic_load_n(&b->skel->bss->dropped, __ATOMIC_RELAXED);
    *c = (struct nurs_bpf_counters){.records = b->records,
                                    .dropped = kernel_dropped + b->invalid + b->unstored,
                                    .replaced = b->table.replaced};
}

#else /* built without clang, bpftool or libbpf */

static void drain(struct nurs_bpf *b) { (void)b; }

struct nurs_bpf *nurs_bpf_open(uv_loop_t *loop, uint64_t netns, const struct nurs_bpf_opts *o,
                               char *err, size_t errlen)
{
    (void)loop;
    (void)netns;
    (void)o;
    (void)on_record;
    snprintf(err, errlen,
             "built without BPF support (NURS_BPF=OFF, or clang, bpftool, libbpf or BTF missing)");
    return NULL;
}

void nurs_bpf_close(struct nurs_bpf *b, void (*closed)(void *ctx), void *ctx)
{
    (void)b;
    if (closed)
        closed(ctx);
}

void nurs_bpf_counters(const struct nurs_bpf *b, struct nurs_bpf_counters *c)
{
    *c = (struct nurs_bpf_counters){.records = b->records, .dropped = b->invalid};
}

#endif
