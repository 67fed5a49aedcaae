/* Process attribution's /proc worker: the sockets sock_diag found, and
 * the owners the BPF programs saw, go in batches to libuv's thread pool,
 * one trip at a time on each of two lanes, where procscan.c finds (or
 * names) their processes; the answers come back to the loop. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>

#include "core/grow.h"
#include "process/attribution_priv.h"

#define WORK_BATCH 4096 /* sockets per trip to the worker */

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
        struct end_lookup *l = &a->lookups[w->idx[i]];
        free((void *)w->wants[i].owner);
        if (a->closing || l->stage != S_WORKER || l->gen != w->gen[i]) {
            nurs_proc_unref(p);
            continue;
        }
        if (p && p->tid) /* only the BPF programs know the thread */
            a->bpf_found++;
        if (!p)
            nurs_attr_fail(a, l, "out of memory");
        else
            nurs_attr_complete(a, l, p->pid ? NURS_WHY_FOUND : NURS_WHY_GONE, p);
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
        struct end_lookup *l = &a->lookups[wait[i]];
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
            nurs_attr_fail(a, &a->lookups[w->idx[i]], "cannot start the /proc worker");
        }
        free(w);
        return;
    }
    a->lane[lane].work = w;
}

void nurs_attr_to_worker(struct nurs_attribution *a, struct end_lookup *l, uint32_t inode,
                         uint32_t uid)
{
    enum lane lane = !inode && l->owner && a->lane[L_OWNER].scan ? L_OWNER : L_SEARCH;
    if (!nurs_grow((void **)&a->lane[lane].wait, &a->lane[lane].wait_cap, a->lane[lane].wait_n,
                   sizeof *a->lane[lane].wait, 256)) {
        nurs_attr_fail(a, l, "out of memory");
        return;
    }
    l->stage = S_WORKER;
    l->inode = inode;
    l->uid = uid;
    a->lane[lane].wait[a->lane[lane].wait_n++] = (uint32_t)(l - a->lookups);
    maybe_start_work(a, lane);
}
