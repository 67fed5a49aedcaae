/* The conntrack source's listings of the table: a dump asked for by the
 * script or needed by a resync, each on a socket of its own; the resync
 * after an overrun (entries known alive that a listing no longer shows
 * ended unseen); the dump at exit. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <uv.h>

#include "netlink/ct_request.h"
#include "sources/conntrack_priv.h"

static void free_dump_channel(uv_handle_t *h) { free(h->data); }

void nurs_ct_close_dump(struct nurs_ct_source *s)
{
    struct channel *c = s->dump;
    s->dump = NULL;
    nurs_nl_close(&c->nl);
    c->poll.data = c;
    uv_close((uv_handle_t *)&c->poll, free_dump_channel);
}

static void on_judge_timer(uv_timer_t *t) { nurs_ct_judge_resync(t->data); }

/* Reads what waits on the events socket, at most 64 rounds; true once it
 * was read empty. */
static bool drain_events(struct nurs_ct_source *s)
{
    for (int i = 0; i < 64 && s->events.nl.fd >= 0 && !s->res.closing; i++)
        if (nurs_ct_read_channel(s, &s->events, false))
            return true;
    return false;
}

void nurs_ct_finish_dump(struct nurs_ct_source *s, const char *failure)
{
    bool resync = s->dump->resync;
    if (failure)
        nurs_err("%s: table dump failed: %s", s->res.name, failure);
    else
        nurs_debug("%s: table dump complete", s->res.name);
    nurs_ct_close_dump(s);
    if (resync && !failure) {
        /* The DESTROY events of entries that ended before the listing
         * reached them are in the events socket already: read them first. */
        if (drain_events(s))
            s->drained = true;
        s->judging = true;
        uv_timer_start(&s->judge_timer, on_judge_timer, NURS_CT_JUDGE_GRACE_MS, 0);
        return;
    }
    if (resync)
        s->resync_due = true;
    if (s->resync_due)
        nurs_ct_start_resync(s);
}

void nurs_ct_judge_resync(struct nurs_ct_source *s)
{
    if (!s->judging)
        return;
    s->judging = false;
    uv_timer_stop(&s->judge_timer);
    if (!s->known_on)
        return;
    /* Known entries the listing did not show ended inside the gap. */
    struct nurs_loss loss = {.flows = nurs_ct_known_end(&s->known)};
    s->lost_flows += loss.flows;
    nurs_warn("%s: resync after an overrun: %zu live entries known, %llu ended unseen "
              "(lost flows, %llu so far)",
              s->res.name, nurs_ct_known_count(&s->known), (unsigned long long)loss.flows,
              (unsigned long long)s->lost_flows);
    if (loss.flows)
        nurs_resource_report_loss(&s->res, &loss);
    if (s->resync_due)
        nurs_ct_start_resync(s);
}

/* Asks for the whole table on `nl`; the kernel applies the mark filter. */
static int send_dump_request(struct nurs_ct_source *s, struct nurs_nl *nl, bool zero, char *err,
                             size_t errlen)
{
    _Alignas(4) unsigned char buf[NURS_CT_REQ_MAX];
    struct nurs_ct_spec filter = {0};
    if (s->cur.filter.on) {
        filter.has = NURS_CTS_MARK;
        filter.mark = s->cur.filter.mark;
        filter.mark_mask = s->cur.filter.mask;
    }
    size_t len = s->expect ? nurs_exp_req_dump(buf, AF_UNSPEC, ++s->dump_seq)
                           : nurs_ct_req_dump(buf, &filter, zero, ++s->dump_seq);
    if (send(nl->fd, buf, len, 0) < 0) {
        snprintf(err, errlen, "dump request: %s",
                 errno == EPERM ? "permission denied (needs CAP_NET_ADMIN)" : strerror(errno));
        return -1;
    }
    return 0;
}

int nurs_ct_start_dump(struct nurs_ct_source *s, bool zero, bool deliver, bool resync, char *err,
                       size_t errlen)
{
    if (s->dump) {
        snprintf(err, errlen, "a dump is already running");
        return -1;
    }
    if (s->res.dormant)
        return 0;
    struct channel *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->deliver = deliver;
    c->resync = resync;
    if (nurs_nl_open(&c->nl, NETLINK_NETFILTER, s->netns, err, errlen) < 0) {
        free(c);
        return -1;
    }
    nurs_nl_set_rcvbuf(&c->nl, s->events.nl.rcvbuf ? s->events.nl.rcvbuf / 2
                                                    : NURS_CT_DEFAULT_RCVBUF);
    if (send_dump_request(s, &c->nl, zero, err, errlen) < 0 ||
        nurs_ct_start_channel(s, c, err, errlen) < 0) {
        nurs_nl_close(&c->nl);
        if (nurs_handle_open((uv_handle_t *)&c->poll)) {
            c->poll.data = c;
            uv_close((uv_handle_t *)&c->poll, free_dump_channel);
        } else {
            free(c);
        }
        return -1;
    }
    s->dump = c;
    return 0;
}

int nurs_ct_source_dump(struct nurs_ct_source *s, bool zero, char *err, size_t errlen)
{
    return nurs_ct_start_dump(s, zero, true, false, err, errlen);
}

static void on_resync_timer(uv_timer_t *t) { nurs_ct_start_resync(t->data); }

/* Lists the table again after an overrun, at most once per interval and
 * never beside another listing (the next one waits for it). */
void nurs_ct_start_resync(struct nurs_ct_source *s)
{
    if (!s->resync_due || !s->drained || s->dump || s->judging || s->res.closing || !s->known_on)
        return;
    uint64_t now = nurs_monotonic_ms(), next = s->last_resync_ms + s->cur.resync_interval_ms;
    if (s->last_resync_ms && now < next) {
        if (!uv_is_active((uv_handle_t *)&s->resync_timer))
            uv_timer_start(&s->resync_timer, on_resync_timer, next - now, 0);
        return;
    }
    char err[256];
    s->resync_due = false;
    s->last_resync_ms = now;
    nurs_ct_known_begin(&s->known);
    if (nurs_ct_start_dump(s, s->cur.resync_zero, true, true, err, sizeof err) < 0) {
        nurs_err("%s: resync: %s", s->res.name, err);
        return;
    }
    s->resyncs++;
    nurs_info("%s: resync: listing the table after an overrun", s->res.name);
}

/* Walks one datagram of the exit dump; false once the dump is over. */
static bool exit_dump_datagram(struct nurs_ct_source *s, const void *data, size_t len,
                               uint64_t *entries)
{
    size_t left = len;
    for (const struct nlmsghdr *nlh = data; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_type == NLMSG_DONE)
            return false;
        if (nlh->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof *e && e->error)
                nurs_err("%s: exit dump: %s", s->res.name, strerror(-e->error));
            return false;
        }
        if (!nurs_ct_msg_is_entry(nlh))
            continue;
        struct nurs_ct_delivery d = nurs_ct_live_delivery(s, true);
        if (nurs_ct_deliver(&s->res, &s->msg, nlh, NURS_CT_FROM_DUMP | NURS_CT_FINAL, &d))
            (*entries)++;
        else
            s->filtered++;
        if (s->res.closing)
            return false;
    }
    return true;
}

/* At an orderly exit, lists the table once more, so that what live
 * connections did since they were last listed reaches the callbacks
 * (records with event "dump"; exporters end their flows as forced). The
 * loop is not running: this waits, at most EXIT_DUMP_MS in all. */
#define EXIT_DUMP_MS 10000

void nurs_ct_source_finish(struct nurs_resource *r)
{
    struct nurs_ct_source *s = (struct nurs_ct_source *)r;
    bool delivering = !r->dormant && r->consumers.n > 0 && !s->expect;
    /* Events left waiting by batch_wait are read before the end; so are
     * the DESTROY events a resync's judgement waits for, which then waits
     * no longer. */
    if (s->judging || (delivering && s->cur.batch_wait_ms))
        drain_events(s);
    nurs_ct_judge_resync(s);
    if (!delivering || !s->cur.dump_at_exit || r->closing)
        return;
    struct nurs_nl nl;
    char err[256];
    if (nurs_nl_open(&nl, NETLINK_NETFILTER, s->netns, err, sizeof err) < 0 ||
        (nurs_nl_set_rcvbuf(&nl, s->events.nl.rcvbuf > 0 ? s->events.nl.rcvbuf
                                                          : NURS_CT_DEFAULT_RCVBUF),
         send_dump_request(s, &nl, s->cur.zero_at_exit, err, sizeof err) < 0)) {
        nurs_err("%s: exit dump: %s", r->name, err);
        nurs_nl_close(&nl);
        return;
    }
    uint64_t deadline = nurs_monotonic_ms() + EXIT_DUMP_MS, entries = 0;
    bool more = true;
    while (more) {
        int n = nurs_nl_recv(&nl, &s->batch);
        if (n == 0) {
            uint64_t now = nurs_monotonic_ms();
            if (now >= deadline) {
                nurs_err("%s: exit dump: no end within %d ms", r->name, EXIT_DUMP_MS);
                break;
            }
            struct pollfd pfd = {.fd = nl.fd, .events = POLLIN};
            poll(&pfd, 1, (int)(deadline - now));
            continue;
        }
        if (n < 0) {
            nurs_err("%s: exit dump: %s", r->name,
                     n == -ENOBUFS ? "receive buffer overrun (raise rcvbuf)" : strerror(-n));
            break;
        }
        for (int i = 0; i < n && more; i++) {
            const void *data;
            const char *why;
            long len = nurs_nl_datagram(&s->batch, i, &data, &why);
            if (len >= 0)
                more = exit_dump_datagram(s, data, (size_t)len, &entries);
        }
    }
    nurs_nl_close(&nl);
    nurs_info("%s: exit dump: %llu entries", r->name, (unsigned long long)entries);
}
