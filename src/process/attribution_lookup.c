/* Process attribution's lookups of connection ends: a slot per end being
 * looked up, first in what the BPF programs saw, else with sock_diag on
 * the loop: requests sent in batches once per loop iteration, answers
 * read right after and matched by sequence number, retried while a TCP
 * connection waits to be accepted, failed when none comes in time. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netinet/tcp.h>

#include "core/grow.h"
#include "process/attribution_priv.h"
#include "process/bpf/loader.h"

#define TICK_MS 2
#define QUERY_TIMEOUT_MS 2000
/* A TCP connection that is not accepted yet has no file: ask again after
 * 2, 4, 8... 256 ms, then take the listener's process. */
#define ACCEPT_RETRIES 8

struct timed {
    uint32_t idx;
    uint16_t gen;
};

static void on_tick(uv_timer_t *t);

/* ---- lookups ---- */

static struct end_lookup *lookup_new(struct nurs_attribution *a)
{
    if (a->free_head == UINT32_MAX)
        return NULL;
    struct end_lookup *l = &a->lookups[a->free_head];
    a->free_head = l->next_free;
    a->in_use++;
    uint16_t gen = (uint16_t)(l->gen + 1);
    memset(l, 0, sizeof *l);
    l->gen = gen;
    return l;
}

void nurs_attr_lookup_free(struct nurs_attribution *a, struct end_lookup *l)
{
    free(l->owner);
    l->owner = NULL;
    l->stage = S_FREE;
    l->next_free = a->free_head;
    a->free_head = (uint32_t)(l - a->lookups);
    a->in_use--;
}

static void add_timed(struct nurs_attribution *a, struct end_lookup *l)
{
    if (!nurs_grow((void **)&a->timed, &a->timed_cap, a->timed_n, sizeof *a->timed, 256))
        return; /* it then waits for its answer without a deadline */
    a->timed[a->timed_n++] = (struct timed){(uint32_t)(l - a->lookups), l->gen};
    if (!uv_is_active((uv_handle_t *)&a->timer))
        uv_timer_start(&a->timer, on_tick, TICK_MS, TICK_MS);
}

static void queue_request(struct nurs_attribution *a, struct end_lookup *l)
{
    if (a->send_n == SEND_BATCH)
        nurs_attr_send(a);
    uint32_t idx = (uint32_t)(l - a->lookups);
    l->stage = S_QUERY;
    l->due_ms = 0; /* set if the answer is not in right after the send */
    a->send_len += nurs_sockdiag_request(a->sendbuf + a->send_len, &l->key,
                                         (uint32_t)l->gen << 16 | idx, l->swap);
    a->send_idx[a->send_n++] = idx;
    if (!uv_is_active((uv_handle_t *)&a->check))
        uv_check_start(&a->check, nurs_attr_on_check);
}

/* ---- what the BPF programs saw ---- */

/* Looks the end up in what the BPF programs reported: true if they saw its
 * socket. A socket only known as bound (the listener of an accepted
 * connection, a UDP server) is looked up with sock_diag first, for the
 * process that holds it now; its binder answers if that finds none. */
static bool from_bpf(struct nurs_attribution *a, struct end_lookup *l)
{
    struct nurs_sock_owner *o;
    enum nurs_sock_match m = nurs_bpf_match(a->bpf, &l->key, &o);
    l->owner = o;
    if (m != NURS_SOCK_EXACT)
        return false;
    nurs_attr_to_worker(a, l, 0, 0);
    return true;
}

/* sock_diag found no socket (it closed): the owner the BPF programs saw. */
static void no_socket(struct nurs_attribution *a, struct end_lookup *l)
{
    if (l->owner)
        nurs_attr_to_worker(a, l, 0, 0);
    else
        nurs_attr_complete(a, l, NURS_WHY_NO_SOCKET, NULL);
}

/* ---- sock_diag answers ---- */

static void on_answer(struct nurs_attribution *a, const struct nurs_sockdiag_answer *ans)
{
    uint32_t idx = ans->seq & 0xffff;
    struct end_lookup *l = &a->lookups[idx];
    if (l->stage != S_QUERY || l->gen != ans->seq >> 16)
        return; /* an answer to a request that timed out */
    bool tcp = l->key.proto == IPPROTO_TCP;
    if (ans->error) {
        if (ans->error == -ENOENT)
            no_socket(a, l);
        else
            nurs_attr_fail(a, l, strerror(-ans->error));
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
            nurs_attr_fail(a, l, "sock_diag answered for another socket");
        }
        return;
    }
    if (ans->inode) {
        nurs_attr_to_worker(a, l, ans->inode, ans->uid);
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

void nurs_attr_send(struct nurs_attribution *a)
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
                nurs_attr_fail(a, &a->lookups[idx[i]], msg);
        return;
    }
    /* The kernel answers while it takes the request: they are here now.
     * Queries left without one are looked at again by the timer. */
    drain(a);
    uint64_t due = nurs_monotonic_ms() + QUERY_TIMEOUT_MS;
    for (uint32_t i = 0; i < n; i++) {
        struct end_lookup *l = &a->lookups[idx[i]];
        if (l->stage == S_QUERY && l->due_ms == 0) {
            l->due_ms = due;
            add_timed(a, l);
        }
    }
}

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
        struct end_lookup *l = &a->lookups[tm.idx];
        bool live = l->gen == tm.gen && (l->stage == S_QUERY || l->stage == S_RETRY);
        if (live && l->due_ms && now >= l->due_ms) {
            if (l->stage == S_RETRY)
                queue_request(a, l);
            else
                nurs_attr_fail(a, l, "no answer from sock_diag");
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

/* ---- a new connection's ends ---- */

/* Looks up the socket the direction `dir` is sent from. */
void nurs_attr_begin_end(struct nurs_attribution *a, struct conn *c, struct nurs_ct_msg *m,
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
    struct end_lookup *l = lookup_new(a);
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
