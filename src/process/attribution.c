/* Process attribution's engine: the connections it knows, keyed by
 * conntrack id, with the answer for each end; the stage around a record's
 * delivery that starts and ends them; those who wait for an answer; its
 * counters, and its life (sockets, BPF programs, /proc readers, local
 * addresses). An end is looked up by attribution_lookup.c, its process
 * found by attribution_worker.c. */
#include "process/attribution.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/netlink.h>

#include "core/closer.h"
#include "core/grow.h"
#include "core/log.h"
#include "netlink/sockdiag.h"
#include "netlink/socket.h"
#include "process/attribution_priv.h"
#include "process/bpf/loader.h"
#include "process/localaddr.h"
#include "process/procscan.h"

#define DIAG_RCVBUF (4 << 20)
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct watcher {
    uint32_t id;
    void (*fn)(void *ctx, const struct nurs_conn_attr *c);
    void *ctx;
};

const char *nurs_attr_why_name(enum nurs_attr_why why)
{
    static const char *const names[] = {
        [NURS_WHY_PENDING] = "pending",       [NURS_WHY_FOUND] = "attributed",
        [NURS_WHY_GONE] = "gone",             [NURS_WHY_NO_SOCKET] = "no_socket",
        [NURS_WHY_REMOTE] = "remote",         [NURS_WHY_UNSUPPORTED] = "unsupported",
        [NURS_WHY_FAILED] = "failed",
    };
    return (unsigned)why < NURS_WHY_COUNT ? names[why] : "?";
}

static void drop_conn(void *e)
{
    struct conn *c = e;
    nurs_proc_unref(c->pub.end[0]);
    nurs_proc_unref(c->pub.end[1]);
}

/* ---- watchers ---- */

static void fire(struct nurs_attribution *a, uint32_t id, const struct nurs_conn_attr *c)
{
    /* A watcher's function may add watchers: take each out first. */
    for (size_t i = 0; i < a->n_watchers;) {
        if (a->watchers[i].id != id) {
            i++;
            continue;
        }
        struct watcher w = a->watchers[i];
        a->watchers[i] = a->watchers[--a->n_watchers];
        w.fn(w.ctx, c);
    }
}

int nurs_attribution_watch(struct nurs_attribution *a, uint32_t id,
                           void (*fn)(void *ctx, const struct nurs_conn_attr *c), void *ctx)
{
    struct conn *c = nurs_idtable_get(&a->conns, id);
    if (!c || a->closing)
        return -1;
    if (!nurs_grow((void **)&a->watchers, &a->cap_watchers, a->n_watchers, sizeof *a->watchers, 16))
        return -1;
    a->watchers[a->n_watchers++] = (struct watcher){id, fn, ctx};
    c->pub.watched = true;
    if (!c->pub.pending) {
        /* Already known: told from the loop, never from within this call. */
        a->watch_ready = true;
        uv_check_start(&a->check, nurs_attr_on_check);
    }
    return 0;
}

/* Tells the watchers of connections whose answer is complete. */
static void fire_ready(struct nurs_attribution *a)
{
    a->watch_ready = false;
    for (size_t i = 0; i < a->n_watchers;) {
        struct watcher w = a->watchers[i];
        struct conn *c = nurs_idtable_get(&a->conns, w.id);
        if (c && c->pub.pending) {
            i++;
            continue;
        }
        a->watchers[i] = a->watchers[--a->n_watchers];
        if (c)
            c->pub.watched = false;
        w.fn(w.ctx, c ? &c->pub : NULL);
        i = 0; /* the function may have changed the list */
    }
}

void nurs_attribution_unwatch_all(struct nurs_attribution *a)
{
    while (a->n_watchers) {
        struct watcher w = a->watchers[--a->n_watchers];
        w.fn(w.ctx, NULL);
    }
}

void nurs_attribution_flush(struct nurs_attribution *a)
{
    nurs_attr_send(a);
    if (a->watch_ready)
        fire_ready(a);
    if (!a->send_n && !a->watch_ready)
        uv_check_stop(&a->check);
}

void nurs_attr_on_check(uv_check_t *c) { nurs_attribution_flush(c->data); }

/* ---- connections ---- */

/* An end's answer is in: into the connection, if it still lives. */
void nurs_attr_complete(struct nurs_attribution *a, struct end_lookup *l, enum nurs_attr_why why,
                        struct nurs_proc *p)
{
    a->count[why]++;
    struct conn *c = nurs_idtable_get(&a->conns, l->id);
    uint8_t dir = l->dir;
    uint32_t serial = l->serial;
    nurs_attr_lookup_free(a, l);
    if (!c || c->serial != serial) {
        nurs_proc_unref(p);
        return;
    }
    nurs_proc_unref(c->pub.end[dir]);
    c->pub.end[dir] = p;
    c->pub.why[dir] = (uint8_t)why;
    if (c->pub.pending && --c->pub.pending == 0 && c->pub.watched) {
        c->pub.watched = false;
        fire(a, c->pub.head.id, &c->pub);
    }
}

void nurs_attr_fail(struct nurs_attribution *a, struct end_lookup *l, const char *why)
{
    long long suppressed = nurs_ratelimit_check(&a->rl);
    if (suppressed >= 0)
        nurs_warn("%s: process attribution: %s", a->name, why);
    nurs_attr_complete(a, l, NURS_WHY_FAILED, NULL);
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool nurs_attribution_begin(struct nurs_attribution *a, struct nurs_ct_msg *m)
{
    uint32_t id;
    uint8_t proto;
    if (a->closing || !nurs_ct_u32(m, CTA_ID, &id) || !nurs_ct_protonum(m, &proto))
        return false;
    if (nurs_idtable_get(&a->conns, id))
        return true;
    struct conn *c = nurs_idtable_put(&a->conns, id, monotonic_ns());
    if (!c) {
        a->table_full++;
        return false;
    }
    c->serial = ++a->serial;
    nurs_attr_begin_end(a, c, m, NURS_CT_ORIG, proto);
    nurs_attr_begin_end(a, c, m, NURS_CT_REPLY, proto);
    return true;
}

static void before(struct nurs_attribution *a, struct nurs_ct_msg *m, bool begin)
{
    m->attr = a;
    uint32_t id;
    if (!nurs_ct_u32(m, CTA_ID, &id))
        return;
    const struct nurs_conn_attr *c = nurs_idtable_get(&a->conns, id);
    /* The record that starts the lookups cannot have their answer: only
     * later ones count as not ready. */
    if (c && c->pending)
        a->not_ready++;
    if (!c && begin &&
        (m->event == NURS_CT_EVENT_NEW || (m->event == NURS_CT_EVENT_DUMP && !m->final)))
        nurs_attribution_begin(a, m);
}

static void after(struct nurs_attribution *a, struct nurs_ct_msg *m)
{
    uint32_t id;
    if (m->event != NURS_CT_EVENT_DESTROY || !nurs_ct_u32(m, CTA_ID, &id))
        return;
    struct conn *c = nurs_idtable_get(&a->conns, id);
    if (!c)
        return;
    /* Ended before its answer was complete: watchers get what is known. */
    if (c->pub.watched)
        fire(a, id, &c->pub);
    drop_conn(c);
    nurs_idtable_del(&a->conns, id);
}

void nurs_attribution_stage(struct nurs_attribution *a, struct nurs_ct_msg *m, bool begin,
                            bool (*deliver)(void *ctx), void *ctx)
{
    if (deliver || begin)
        before(a, m, begin);
    if (deliver && !deliver(ctx))
        return;
    after(a, m);
}

const struct nurs_conn_attr *nurs_attribution_find(const struct nurs_attribution *a, uint32_t id)
{
    return nurs_idtable_get(&a->conns, id);
}

const struct nurs_proc *nurs_ct_process(const struct nurs_ct_msg *m, enum nurs_ct_dir dir)
{
    uint32_t id;
    if (!m->attr || dir > NURS_CT_REPLY || !nurs_ct_u32(m, CTA_ID, &id))
        return NULL;
    const struct nurs_conn_attr *c = nurs_attribution_find(m->attr, id);
    return c ? c->end[dir] : NULL;
}

/* ---- counters, life ---- */

int nurs_attribution_counters(const struct nurs_attribution *a, struct nurs_extra_counter *out)
{
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"process_attributed", a->count[NURS_WHY_FOUND]};
    out[n++] = (struct nurs_extra_counter){"process_gone", a->count[NURS_WHY_GONE]};
    out[n++] = (struct nurs_extra_counter){"process_no_socket", a->count[NURS_WHY_NO_SOCKET]};
    out[n++] = (struct nurs_extra_counter){"process_remote", a->count[NURS_WHY_REMOTE]};
    out[n++] = (struct nurs_extra_counter){"process_unsupported", a->count[NURS_WHY_UNSUPPORTED]};
    out[n++] = (struct nurs_extra_counter){"process_failed", a->count[NURS_WHY_FAILED]};
    out[n++] = (struct nurs_extra_counter){"process_not_ready", a->not_ready};
    out[n++] = (struct nurs_extra_counter){"process_table_full", a->table_full};
    out[n++] = (struct nurs_extra_counter){"process_pending", a->in_use};
    out[n++] = (struct nurs_extra_counter){"process_connections", a->conns.count};
    out[n++] = (struct nurs_extra_counter){"process_scans", a->scan_stats.listings};
    out[n++] = (struct nurs_extra_counter){"process_fd_dirs", a->scan_stats.fd_dirs};
    out[n++] = (struct nurs_extra_counter){"process_denied", a->scan_stats.denied};
    struct nurs_bpf_counters bc = {0};
    if (a->bpf)
        nurs_bpf_counters(a->bpf, &bc);
    out[n++] = (struct nurs_extra_counter){"process_bpf", a->bpf_found};
    out[n++] = (struct nurs_extra_counter){"process_bpf_records", bc.records};
    out[n++] = (struct nurs_extra_counter){"process_bpf_dropped", bc.dropped};
    return n;
}

static void free_now(void *arg)
{
    struct nurs_attribution *a = arg;
    for (uint32_t i = 0; a->lookups && i < MAX_LOOKUPS; i++)
        free(a->lookups[i].owner);
    nurs_idtable_free(&a->conns);
    for (int i = 0; i < L_COUNT; i++) {
        nurs_procscan_free(a->lane[i].scan);
        free(a->lane[i].wait);
    }
    nurs_nl_close(&a->nl);
    nurs_nl_close(&a->worker_nl);
    free(a->lookups);
    nurs_nl_batch_free(&a->batch);
    free(a->sendbuf);
    free(a->timed);
    free(a->watchers);
    free(a);
}

static void on_local_closed(struct nurs_localaddr *la)
{
    struct nurs_attribution *a =
        (struct nurs_attribution *)((char *)la - offsetof(struct nurs_attribution, local));
    nurs_closer_release(&a->closer);
}

/* Engines alive, on the loop thread only. */
static unsigned live_engines;

unsigned nurs_attribution_live(void) { return live_engines; }

void nurs_attribution_free(struct nurs_attribution *a)
{
    if (!a || a->closing)
        return;
    a->closing = true;
    live_engines--;
    nurs_attribution_unwatch_all(a);
    nurs_closer_begin(&a->closer, free_now, a);
    for (int i = 0; i < L_COUNT; i++)
        if (a->lane[i].work)
            nurs_closer_hold(&a->closer); /* a worker's trip in flight */
    if (a->bpf) {
        nurs_closer_hold(&a->closer);
        nurs_bpf_close(a->bpf, nurs_closer_release_cb, &a->closer);
    }
    nurs_closer_close(&a->closer, &a->timer);
    nurs_closer_close(&a->closer, &a->check);
    if (a->local_open) {
        nurs_closer_hold(&a->closer);
        nurs_localaddr_close(&a->local, on_local_closed);
    }
    nurs_closer_end(&a->closer);
}

/* Loads the BPF programs as the mode asks, and says which path it took. */
static int open_bpf(struct nurs_attribution *a, uv_loop_t *loop,
                    const struct nurs_attribution_opts *o, char *err, size_t errlen)
{
    if (o->mode == NURS_ATTR_SOCKDIAG) {
        nurs_info("%s: process attribution: sock_diag and /proc (asked for)", a->name);
        return 0;
    }
    char why[512];
    uint64_t netns;
    socklen_t len = sizeof netns;
    struct nurs_bpf_opts bo = {.ring_bytes = o->bpf_ring ? o->bpf_ring : NURS_BPF_DEFAULT_RING,
                               .sockets = o->bpf_sockets ? o->bpf_sockets
                                                         : NURS_BPF_DEFAULT_SOCKETS};
    if (getsockopt(a->nl.fd, SOL_SOCKET, SO_NETNS_COOKIE, &netns, &len) < 0)
        snprintf(why, sizeof why, "the kernel has no network namespace cookies (5.14 has)");
    else
        a->bpf = nurs_bpf_open(loop, netns, &bo, why, sizeof why);
    if (a->bpf) {
        nurs_info("%s: process attribution: BPF (programs attached at %s; sock_diag for the "
                  "sockets they did not see)",
                  a->name, nurs_bpf_cgroup(a->bpf));
        return 0;
    }
    if (o->mode == NURS_ATTR_BPF) {
        snprintf(err, errlen, "BPF: %s", why);
        return -1;
    }
    nurs_info("%s: process attribution: sock_diag and /proc (BPF cannot be used: %s)", a->name,
              why);
    return 0;
}

struct nurs_attribution *nurs_attribution_new(uv_loop_t *loop, const char *netns,
                                              const struct nurs_attribution_opts *o,
                                              const char *name, char *err, size_t errlen)
{
    struct nurs_attribution *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->nl.fd = a->worker_nl.fd = -1;
    snprintf(a->name, sizeof a->name, "%s", name);
    a->rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    nurs_idtable_init(&a->conns, sizeof(struct conn), o->max_connections,
                      6 * 86400ull * 1000000000ull, drop_conn);
    a->lookups = calloc(MAX_LOOKUPS, sizeof *a->lookups);
    a->sendbuf = malloc(SEND_BATCH * NURS_SOCKDIAG_REQ_LEN);
    struct nurs_procscan *scan = a->lane[L_SEARCH].scan = nurs_procscan_new("/proc", o->cmdline_max);
    if (!a->lookups || !a->sendbuf || !scan || nurs_nl_batch_init(&a->batch) < 0) {
        snprintf(err, errlen, scan ? "out of memory" : "cannot read /proc");
        free_now(a);
        return NULL;
    }
    for (uint32_t i = 0; i < MAX_LOOKUPS; i++)
        a->lookups[i].next_free = i + 1 < MAX_LOOKUPS ? i + 1 : UINT32_MAX;
    if (nurs_nl_open(&a->nl, NETLINK_SOCK_DIAG, netns, err, errlen) < 0 ||
        nurs_nl_open(&a->worker_nl, NETLINK_SOCK_DIAG, netns, err, errlen) < 0) {
        free_now(a);
        return NULL;
    }
    nurs_nl_set_rcvbuf(&a->nl, DIAG_RCVBUF);
    /* "No such socket" is the usual answer: without the request echoed in
     * it, nor extended details, it costs less to make and to read. */
    int one = 1, zero = 0;
    const int fds[] = {a->nl.fd, a->worker_nl.fd};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
        setsockopt(fds[i], SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
        setsockopt(fds[i], SOL_NETLINK, NETLINK_EXT_ACK, &zero, sizeof zero);
    }
    if (open_bpf(a, loop, o, err, errlen) < 0) {
        free_now(a);
        return NULL;
    }
    /* Without it, owners go the searches' way. */
    if (a->bpf && (a->lane[L_OWNER].scan = nurs_procscan_new("/proc", o->cmdline_max)))
        nurs_procscan_name_cgroups(a->lane[L_OWNER].scan);
    if (a->bpf)
        nurs_procscan_name_cgroups(a->lane[L_SEARCH].scan);
    char why[256];
    if (nurs_localaddr_open(&a->local, loop, netns, why, sizeof why) == 0) {
        a->local_open = true;
        uv_unref((uv_handle_t *)&a->local.poll);
    } else {
        nurs_warn("%s: local addresses unknown (%s): every connection end is looked up", name,
                  why);
    }
    uv_timer_init(loop, &a->timer);
    uv_check_init(loop, &a->check);
    a->timer.data = a->check.data = a;
    /* Attribution follows its source: it does not keep the loop alive. */
    uv_unref((uv_handle_t *)&a->timer);
    uv_unref((uv_handle_t *)&a->check);
    live_engines++;
    return a;
}
