#include "process/attribution.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/netlink.h>
#include <netinet/tcp.h>

#include "core/closer.h"
#include "core/grow.h"
#include "core/log.h"
#include "netlink/sockdiag.h"
#include "netlink/socket.h"
#include "process/bpf/loader.h"
#include "process/localaddr.h"
#include "process/procscan.h"

#define SEND_BATCH 256      /* requests per datagram: their answers fit the buffer */
#define MAX_LOOKUPS 65536   /* ends being looked up at once; sequence numbers hold the slot */
#define WORK_BATCH 4096     /* sockets per trip to the worker */
#define TICK_MS 2
#define QUERY_TIMEOUT_MS 2000
/* A TCP connection that is not accepted yet has no file: ask again after
 * 2, 4, 8... 256 ms, then take the listener's process. */
#define ACCEPT_RETRIES 8
#define DIAG_RCVBUF (4 << 20)
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

enum stage { S_FREE, S_QUERY, S_RETRY, S_WORKER };

struct lookup {
    uint32_t id, serial; /* the connection, and which life of its id */
    uint8_t dir;
    uint8_t stage;
    uint8_t tries;
    bool swap;          /* UDP: the kernel reads the request's fields swapped */
    bool swap_checked;  /* the other way round was tried too */
    bool listener;
    uint16_t gen; /* sequence numbers carry it: stale answers are ignored */
    uint32_t next_free;
    uint64_t due_ms; /* retry time, or the deadline of a query */
    struct nurs_sock_key key;
    uint32_t inode, uid;
    /* What the BPF programs saw: the socket's owner, or (looked up with
     * sock_diag first) the owner of the listener it came through. */
    struct nurs_sock_owner *owner;
};

struct timed {
    uint32_t idx;
    uint16_t gen;
};

/* Two ways to the worker threads, each with its own /proc reader and one
 * trip at a time: the sockets sock_diag found (a /proc search), and the
 * owners the BPF programs saw (no search: they never wait behind one). */
enum lane { L_SEARCH, L_OWNER, L_COUNT };

struct work {
    uv_work_t req;
    struct nurs_attribution *a;
    enum lane lane;
    size_t n;
    struct nurs_procscan_want wants[WORK_BATCH];
    uint32_t idx[WORK_BATCH];
    uint16_t gen[WORK_BATCH];
    struct nurs_sock_key keys[WORK_BATCH]; /* copies: the worker does not read the loop's */
    bool swap[WORK_BATCH];
    struct nurs_procscan_stats stats;
    uint64_t queued_ms, started_ms, done_ms;
};

struct watcher {
    uint32_t id;
    void (*fn)(void *ctx, const struct nurs_conn_attr *c);
    void *ctx;
};

/* An entry of the table: the public part, then ours. */
struct conn {
    struct nurs_conn_attr pub;
    uint32_t serial;
};

struct nurs_attribution {
    uv_loop_t *loop;
    char name[64];
    struct nurs_nl nl;
    struct nurs_nl worker_nl; /* the worker's own, to ask whether a socket is still open */
    struct nurs_nl_batch batch;
    uv_timer_t timer;
    uv_check_t check; /* sends what a loop iteration queued */
    struct nurs_localaddr local;
    bool local_open;
    struct nurs_idtable conns;
    uint32_t serial;
    struct lookup *lookups;
    uint32_t free_head, in_use;
    unsigned char *sendbuf;
    size_t send_len;
    uint32_t send_idx[SEND_BATCH];
    uint32_t send_n;
    struct timed *timed;
    size_t timed_n, timed_cap;
    struct {
        uint32_t *wait; /* lookups waiting for the worker */
        size_t wait_n, wait_cap;
        struct work *work; /* in flight */
        struct nurs_procscan *scan;
    } lane[L_COUNT];
    struct watcher *watchers;
    size_t n_watchers, cap_watchers;
    uint64_t count[NURS_WHY_COUNT];
    uint64_t not_ready, table_full;
    struct nurs_procscan_stats scan_stats;
    struct nurs_closer closer;
    bool closing;
    bool watch_ready; /* watchers of complete connections wait for the check handle */
    struct nurs_ratelimit rl;
    struct nurs_bpf *bpf;
    uint64_t bpf_found; /* ends attributed from what the BPF programs saw */
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

static void flush(struct nurs_attribution *a);
static void on_tick(uv_timer_t *t);
static void on_check(uv_check_t *c);

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
        uv_check_start(&a->check, on_check);
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

/* ---- lookups ---- */

static struct lookup *lookup_new(struct nurs_attribution *a)
{
    if (a->free_head == UINT32_MAX)
        return NULL;
    struct lookup *l = &a->lookups[a->free_head];
    a->free_head = l->next_free;
    a->in_use++;
    uint16_t gen = (uint16_t)(l->gen + 1);
    memset(l, 0, sizeof *l);
    l->gen = gen;
    return l;
}

static void lookup_free(struct nurs_attribution *a, struct lookup *l)
{
    free(l->owner);
    l->owner = NULL;
    l->stage = S_FREE;
    l->next_free = a->free_head;
    a->free_head = (uint32_t)(l - a->lookups);
    a->in_use--;
}

static void add_timed(struct nurs_attribution *a, struct lookup *l)
{
    if (!nurs_grow((void **)&a->timed, &a->timed_cap, a->timed_n, sizeof *a->timed, 256))
        return; /* it then waits for its answer without a deadline */
    a->timed[a->timed_n++] = (struct timed){(uint32_t)(l - a->lookups), l->gen};
    if (!uv_is_active((uv_handle_t *)&a->timer))
        uv_timer_start(&a->timer, on_tick, TICK_MS, TICK_MS);
}

/* An end's answer is in: into the connection, if it still lives. */
static void complete(struct nurs_attribution *a, struct lookup *l, enum nurs_attr_why why,
                     struct nurs_proc *p)
{
    a->count[why]++;
    struct conn *c = nurs_idtable_get(&a->conns, l->id);
    uint8_t dir = l->dir;
    lookup_free(a, l);
    if (!c || c->serial != l->serial) {
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

static void fail(struct nurs_attribution *a, struct lookup *l, const char *why)
{
    long long suppressed = nurs_ratelimit_check(&a->rl);
    if (suppressed >= 0)
        nurs_warn("%s: process attribution: %s", a->name, why);
    complete(a, l, NURS_WHY_FAILED, NULL);
}

static void queue_request(struct nurs_attribution *a, struct lookup *l)
{
    if (a->send_n == SEND_BATCH)
        flush(a);
    uint32_t idx = (uint32_t)(l - a->lookups);
    l->stage = S_QUERY;
    l->due_ms = 0; /* set if the answer is not in right after the send */
    a->send_len += nurs_sockdiag_request(a->sendbuf + a->send_len, &l->key,
                                         (uint32_t)l->gen << 16 | idx, l->swap);
    a->send_idx[a->send_n++] = idx;
    if (!uv_is_active((uv_handle_t *)&a->check))
        uv_check_start(&a->check, on_check);
}

/* ---- the worker ---- */

/* On the worker: is the socket still held by a file? Asked again by its
 * addresses; when in doubt (no answer within 100 ms), yes. */
static bool still_open(void *ctx, const struct nurs_procscan_want *want)
{
    struct work *w = ctx;
    size_t i = (size_t)(want - w->wants);
    int fd = w->a->worker_nl.fd;
    unsigned char req[NURS_SOCKDIAG_REQ_LEN];
    uint32_t seq = (uint32_t)i + 1;
    size_t len = nurs_sockdiag_request(req, &w->keys[i], seq, w->swap[i]);
    if (fd < 0 || send(fd, req, len, 0) < 0)
        return true;
    static _Thread_local unsigned char buf[8192] __attribute__((aligned(4)));
    uint64_t deadline = nurs_monotonic_ms() + 100;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            uint64_t now = nurs_monotonic_ms();
            if (now >= deadline)
                return true;
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, (int)(deadline - now));
            continue;
        }
        if (n <= 0)
            return true;
        size_t left = (size_t)n;
        for (const struct nlmsghdr *nlh = (const void *)buf; nurs_nlmsg_ok(nlh, left);
             nlh = nurs_nlmsg_next(nlh, &left)) {
            struct nurs_sockdiag_answer ans;
            const char *why;
            if (nurs_sockdiag_parse(nlh, left, &ans, &why) == 0 && ans.seq == seq)
                return ans.error == 0 && ans.inode == want->inode;
        }
    }
}

static void work_cb(uv_work_t *req)
{
    struct work *w = req->data;
    w->started_ms = nurs_monotonic_ms();
    struct nurs_procscan *scan = w->a->lane[w->lane].scan;
    nurs_procscan_resolve(scan, w->wants, w->n, still_open, w);
    w->stats = *nurs_procscan_stats(scan);
    w->done_ms = nurs_monotonic_ms();
}

static void maybe_start_work(struct nurs_attribution *a, enum lane lane);

static void after_work(uv_work_t *req, int status)
{
    (void)status;
    struct work *w = req->data;
    struct nurs_attribution *a = w->a;
    enum lane lane = w->lane;
    a->lane[lane].work = NULL;
    nurs_debug("%s: /proc worker: %zu sockets, waited %llu ms, took %llu ms, back after %llu ms; "
               "%llu fd dirs so far",
               a->name, w->n, (unsigned long long)(w->started_ms - w->queued_ms),
               (unsigned long long)(w->done_ms - w->started_ms),
               (unsigned long long)(nurs_monotonic_ms() - w->done_ms),
               (unsigned long long)w->stats.fd_dirs);
    if (lane == L_SEARCH) {
        if (w->stats.denied && !a->scan_stats.denied)
            nurs_warn("%s: process attribution: the descriptors of other users' processes "
                      "cannot be read (/proc/PID/fd: permission denied); it needs "
                      "CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE: until then their connections "
                      "show the uid only",
                      a->name);
        a->scan_stats = w->stats;
    }
    for (size_t i = 0; i < w->n; i++) {
        struct nurs_proc *p = w->wants[i].result;
        struct lookup *l = &a->lookups[w->idx[i]];
        free((void *)w->wants[i].owner);
        if (a->closing || l->stage != S_WORKER || l->gen != w->gen[i]) {
            nurs_proc_unref(p);
            continue;
        }
        if (p && p->tid) /* only the BPF programs know the thread */
            a->bpf_found++;
        if (!p)
            fail(a, l, "out of memory");
        else
            complete(a, l, p->pid ? NURS_WHY_FOUND : NURS_WHY_GONE, p);
    }
    free(w);
    if (a->closing)
        nurs_closer_release(&a->closer); /* the worker's trip, held at free */
    else
        maybe_start_work(a, lane);
}

static void maybe_start_work(struct nurs_attribution *a, enum lane lane)
{
    uint32_t *wait = a->lane[lane].wait;
    size_t *wait_n = &a->lane[lane].wait_n;
    if (a->lane[lane].work || a->closing || *wait_n == 0)
        return;
    struct work *w = malloc(sizeof *w);
    if (!w)
        return; /* tried again when the next socket waits */
    w->a = a;
    w->lane = lane;
    w->req.data = w;
    w->queued_ms = nurs_monotonic_ms();
    w->n = *wait_n < WORK_BATCH ? *wait_n : WORK_BATCH;
    for (size_t i = 0; i < w->n; i++) {
        struct lookup *l = &a->lookups[wait[i]];
        w->idx[i] = wait[i];
        w->gen[i] = l->gen;
        w->wants[i] = (struct nurs_procscan_want){.inode = l->inode, .uid = l->uid,
                                                  .owner = l->owner};
        l->owner = NULL; /* the worker's now */
        w->keys[i] = l->key;
        w->swap[i] = l->swap;
    }
    memmove(wait, wait + w->n, (*wait_n - w->n) * sizeof *wait);
    *wait_n -= w->n;
    if (uv_queue_work(a->loop, &w->req, work_cb, after_work) < 0) {
        for (size_t i = 0; i < w->n; i++) {
            free((void *)w->wants[i].owner);
            fail(a, &a->lookups[w->idx[i]], "cannot start the /proc worker");
        }
        free(w);
        return;
    }
    a->lane[lane].work = w;
}

static void to_worker(struct nurs_attribution *a, struct lookup *l, uint32_t inode, uint32_t uid)
{
    enum lane lane = !inode && l->owner && a->lane[L_OWNER].scan ? L_OWNER : L_SEARCH;
    if (!nurs_grow((void **)&a->lane[lane].wait, &a->lane[lane].wait_cap, a->lane[lane].wait_n,
                   sizeof *a->lane[lane].wait, 256)) {
        fail(a, l, "out of memory");
        return;
    }
    l->stage = S_WORKER;
    l->inode = inode;
    l->uid = uid;
    a->lane[lane].wait[a->lane[lane].wait_n++] = (uint32_t)(l - a->lookups);
    maybe_start_work(a, lane);
}

/* ---- what the BPF programs saw ---- */

/* Looks the end up in what the BPF programs reported: true if they saw its
 * socket. A socket only known as bound (the listener of an accepted
 * connection, a UDP server) is looked up with sock_diag first, for the
 * process that holds it now; its binder answers if that finds none. */
static bool from_bpf(struct nurs_attribution *a, struct lookup *l)
{
    struct nurs_sock_owner *o;
    enum nurs_sock_match m = nurs_bpf_match(a->bpf, &l->key, &o);
    l->owner = o;
    if (m != NURS_SOCK_EXACT)
        return false;
    to_worker(a, l, 0, 0);
    return true;
}

/* sock_diag found no socket (it closed): the owner the BPF programs saw. */
static void no_socket(struct nurs_attribution *a, struct lookup *l)
{
    if (l->owner)
        to_worker(a, l, 0, 0);
    else
        complete(a, l, NURS_WHY_NO_SOCKET, NULL);
}

/* ---- sock_diag answers ---- */

static void on_answer(struct nurs_attribution *a, const struct nurs_sockdiag_answer *ans)
{
    uint32_t idx = ans->seq & 0xffff;
    struct lookup *l = &a->lookups[idx];
    if (l->stage != S_QUERY || l->gen != ans->seq >> 16)
        return; /* an answer to a request that timed out */
    bool tcp = l->key.proto == IPPROTO_TCP;
    if (ans->error) {
        if (ans->error == -ENOENT)
            no_socket(a, l);
        else
            fail(a, l, strerror(-ans->error));
        return;
    }
    if (ans->lport != l->key.lport) {
        /* Another socket than the one asked for: the kernel read the UDP
         * request's fields the other way round than ours do. */
        if (!tcp && !l->swap_checked) {
            l->swap = !l->swap;
            l->swap_checked = true;
            queue_request(a, l);
        } else {
            fail(a, l, "sock_diag answered for another socket");
        }
        return;
    }
    if (ans->inode) {
        to_worker(a, l, ans->inode, ans->uid);
        return;
    }
    /* No file holds it: closing (the states after the local close: it was
     * accepted, then closed), or accepted by nobody yet (SYN_RECV,
     * ESTABLISHED, or CLOSE_WAIT if the peer has already gone). */
    if (!tcp || l->listener || ans->state == TCP_TIME_WAIT || ans->state == TCP_CLOSE ||
        ans->state == TCP_FIN_WAIT1 || ans->state == TCP_FIN_WAIT2 ||
        ans->state == TCP_CLOSING || ans->state == TCP_LAST_ACK) {
        no_socket(a, l);
    } else if (l->tries < ACCEPT_RETRIES) {
        l->stage = S_RETRY;
        l->due_ms = nurs_monotonic_ms() + ((uint64_t)TICK_MS << l->tries);
        l->tries++;
        add_timed(a, l);
    } else {
        l->listener = true;
        memset(l->key.remote, 0, sizeof l->key.remote);
        l->key.rport = 0;
        queue_request(a, l);
    }
}

/* Reads every answer waiting. The kernel answers a sock_diag request
 * while it takes it, so after a send they are all here: the socket is not
 * watched by the loop (a wakeup per answer would cost more than the
 * answers); the timer reads it again before giving up on a query. */
static void drain(struct nurs_attribution *a)
{
    for (;;) {
        int n = nurs_nl_recv(&a->nl, &a->batch);
        if (n == -ENOBUFS) {
            /* Answers were lost: their queries time out. */
            nurs_warn("%s: process attribution: sock_diag answers lost", a->name);
            continue;
        }
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++) {
            const void *data = NULL;
            const char *why;
            long len = nurs_nl_datagram(&a->batch, i, &data, &why);
            size_t left = len > 0 ? (size_t)len : 0;
            for (const struct nlmsghdr *nlh = data; left && nurs_nlmsg_ok(nlh, left);
                 nlh = nurs_nlmsg_next(nlh, &left)) {
                struct nurs_sockdiag_answer ans;
                if (nurs_sockdiag_parse(nlh, left, &ans, &why) == 0)
                    on_answer(a, &ans);
            }
        }
        if (n < NURS_NL_SLOTS)
            return;
    }
}

static void flush(struct nurs_attribution *a)
{
    if (!a->send_n)
        return;
    size_t len = a->send_len;
    uint32_t n = a->send_n;
    uint32_t idx[SEND_BATCH];
    memcpy(idx, a->send_idx, n * sizeof *idx);
    a->send_len = 0;
    a->send_n = 0;
    if (send(a->nl.fd, a->sendbuf, len, 0) < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "sock_diag request: %s", strerror(errno));
        for (uint32_t i = 0; i < n; i++)
            if (a->lookups[idx[i]].stage == S_QUERY)
                fail(a, &a->lookups[idx[i]], msg);
        return;
    }
    /* The kernel answers while it takes the request: they are here now.
     * Queries left without one are looked at again by the timer. */
    drain(a);
    uint64_t due = nurs_monotonic_ms() + QUERY_TIMEOUT_MS;
    for (uint32_t i = 0; i < n; i++) {
        struct lookup *l = &a->lookups[idx[i]];
        if (l->stage == S_QUERY && l->due_ms == 0) {
            l->due_ms = due;
            add_timed(a, l);
        }
    }
}

void nurs_attribution_flush(struct nurs_attribution *a)
{
    flush(a);
    if (a->watch_ready)
        fire_ready(a);
    if (!a->send_n && !a->watch_ready)
        uv_check_stop(&a->check);
}

static void on_check(uv_check_t *c) { nurs_attribution_flush(c->data); }

static void on_tick(uv_timer_t *t)
{
    struct nurs_attribution *a = t->data;
    drain(a);
    uint64_t now = nurs_monotonic_ms();
    size_t keep = 0;
    /* Requeued retries go to the end of the list: walk what was there. */
    size_t n = a->timed_n;
    for (size_t i = 0; i < n; i++) {
        struct timed tm = a->timed[i];
        struct lookup *l = &a->lookups[tm.idx];
        bool live = l->gen == tm.gen && (l->stage == S_QUERY || l->stage == S_RETRY);
        if (live && l->due_ms && now >= l->due_ms) {
            if (l->stage == S_RETRY)
                queue_request(a, l);
            else
                fail(a, l, "no answer from sock_diag");
            continue;
        }
        if (live)
            a->timed[keep++] = tm;
    }
    memmove(a->timed + keep, a->timed + n, (a->timed_n - n) * sizeof *a->timed);
    a->timed_n = keep + (a->timed_n - n);
    nurs_attribution_flush(a);
    if (a->timed_n == 0)
        uv_timer_stop(t);
}

/* ---- connections ---- */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Looks up the socket the direction `dir` is sent from. */
static void begin_end(struct nurs_attribution *a, struct conn *c, struct nurs_ct_msg *m,
                      enum nurs_ct_dir dir, uint8_t proto)
{
    enum nurs_attr_why why = NURS_WHY_PENDING;
    struct nurs_sock_key k = {.family = m->family, .proto = proto};
    const void *src, *dst;
    size_t alen = nurs_ct_addr_raw(m, dir, false, &src);
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
        why = NURS_WHY_UNSUPPORTED;
    else if (!alen || nurs_ct_addr_raw(m, dir, true, &dst) != alen ||
             !nurs_ct_port(m, dir, false, &k.lport) || !nurs_ct_port(m, dir, true, &k.rport))
        why = NURS_WHY_FAILED;
    else if (!nurs_localaddr_has(&a->local, m->family, src))
        why = NURS_WHY_REMOTE;
    if (why != NURS_WHY_PENDING) {
        a->count[why]++;
        c->pub.why[dir] = (uint8_t)why;
        return;
    }
    memcpy(k.local, src, alen);
    memcpy(k.remote, dst, alen);
    struct lookup *l = lookup_new(a);
    if (!l) {
        a->count[NURS_WHY_FAILED]++;
        c->pub.why[dir] = NURS_WHY_FAILED;
        if (nurs_ratelimit_check(&a->rl) >= 0)
            nurs_warn("%s: process attribution: %d connection ends are being looked up "
                      "already; this one is not",
                      a->name, MAX_LOOKUPS);
        return;
    }
    l->id = c->pub.head.id;
    l->serial = c->serial;
    l->dir = (uint8_t)dir;
    l->key = k;
    l->swap = proto == IPPROTO_UDP;
    c->pub.pending++;
    if (!(a->bpf && from_bpf(a, l)))
        queue_request(a, l);
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
    begin_end(a, c, m, NURS_CT_ORIG, proto);
    begin_end(a, c, m, NURS_CT_REPLY, proto);
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
