#include "sources/conntrack.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <uv.h>

#include "core/closer.h"
#include "core/host.h"
#include "netlink/ct_msg.h"
#include "netlink/ct_request.h"
#include "netlink/doctor.h"
#include "netlink/exp_msg.h"
#include "netlink/socket.h"
#include "records/record.h"
#include "sources/ct_known.h"
#include "sources/recorder.h"
#include "sources/source.h"

/* A wakeup reads at most this many batches, so one busy source cannot
 * starve timers and other sources. */
#define MAX_BATCHES_PER_WAKEUP 8

/* A socket and its poll handle. The events channel lives as long as the
 * source; a dump channel lives for one dump and frees itself once libuv
 * has closed its handle, so that the next dump need not wait for it. */
struct channel {
    struct nurs_nl nl;
    uv_poll_t poll;
    bool deliver; /* a dump's entries reach the consumers (else they are only known) */
    bool resync;  /* a dump after an overrun */
};

struct nurs_ct_source {
    struct nurs_resource res; /* first: the resource is the source */
    struct nurs_ct_settings cur, next;
    struct channel events;
    struct channel *dump; /* NULL: no dump running */
    uint32_t dump_seq;
    struct nurs_closer closer;
    char *netns;
    struct nurs_nl_batch batch;
    struct nurs_ct_msg msg;
    struct nurs_ratelimit overrun_rl;
    struct nurs_ratelimit malformed_rl;
    struct nurs_pcap_writer *recorder;
    uint64_t filtered;
    struct nurs_attribution *attr;
    uv_timer_t wait_timer; /* ends a batch wait: the events are read again */
    uint64_t reads; /* receive rounds on the events socket that got datagrams */
    bool deliver_new; /* the script asked for NEW events (else they only start attribution) */
    bool joined_new;  /* member of the NEW events group */
    bool expect;      /* the expectation table */
    struct nurs_exp_msg exp;
    /* Resync: the entries known alive. */
    struct nurs_ct_known known;
    bool known_on;
    bool resync_due; /* an overrun waits for its resync */
    /* The events socket was read empty since the last overrun: the kernel
     * reports drops again (while a socket is congested it drops events
     * without a new ENOBUFS, so a resync listing before that could miss
     * the end of an entry it listed). */
    bool drained;
    uint64_t last_resync_ms;
    uv_timer_t resync_timer;
    uint64_t resyncs, lost_flows;
};

struct nurs_resource *nurs_ct_source_resource(struct nurs_ct_source *src) { return &src->res; }
const char *nurs_ct_source_netns(const struct nurs_ct_source *src) { return src->netns; }

struct nurs_ct_source *nurs_ct_source_of(struct nurs_resource *r)
{
    return (struct nurs_ct_source *)r;
}

bool nurs_ct_source_dumping(const struct nurs_ct_source *src) { return src->dump != NULL; }

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_ct_source *s = (const struct nurs_ct_source *)r;
    out[0] = (struct nurs_extra_counter){"rcvbuf", (uint64_t)s->events.nl.rcvbuf};
    out[1] = (struct nurs_extra_counter){"filtered", s->filtered};
    out[2] = (struct nurs_extra_counter){"reads", s->reads};
    int n = 3;
    if (s->known_on) {
        out[n++] = (struct nurs_extra_counter){"resyncs", s->resyncs};
        out[n++] = (struct nurs_extra_counter){"lost_flows", s->lost_flows};
        out[n++] = (struct nurs_extra_counter){"known", nurs_ct_known_count(&s->known)};
    }
    return n + (s->attr ? nurs_attribution_counters(s->attr, out + n) : 0);
}

struct nurs_attribution *nurs_ct_source_attribution(struct nurs_ct_source *s, char *err,
                                                    size_t errlen)
{
    if (!s->attr && !s->res.host->check_only)
        s->attr = nurs_attribution_new(s->res.host->loop, s->netns, &s->cur.process_opts,
                                       s->res.name, err, errlen);
    else if (!s->attr)
        snprintf(err, errlen, "not under --check");
    return s->attr;
}

/* What the live source's records go through. */
static struct nurs_ct_delivery delivery(struct nurs_ct_source *s, bool final)
{
    return (struct nurs_ct_delivery){.filter = &s->cur.filter, .attr = s->attr,
                                     .begin = s->cur.process && !final, .rl = &s->malformed_rl};
}

static void log_malformed(struct nurs_ct_source *s, const char *why)
{
    nurs_source_malformed(&s->res, &s->malformed_rl, why);
}

static bool filtered_out(const struct nurs_ct_msg *m, const struct nurs_ct_filter *f)
{
    if (!f || !f->on)
        return false;
    /* Events leave a zero mark out. */
    uint32_t mark = 0;
    nurs_ct_u32(m, CTA_MARK, &mark);
    return (mark & f->mask) != f->mark;
}

struct delivery {
    struct nurs_resource *r;
    struct nurs_record rec;
};

/* Returns false when a consumer closed the source (and its attribution). */
static bool deliver_record(void *arg)
{
    struct delivery *dl = arg;
    nurs_resource_deliver(dl->r, &dl->rec);
    nurs_record_end(&dl->rec);
    return !dl->r->closing;
}

bool nurs_ct_deliver(struct nurs_resource *r, struct nurs_ct_msg *scratch,
                     const struct nlmsghdr *nlh, unsigned flags, const struct nurs_ct_delivery *d)
{
    const char *why;
    r->counters.in++;
    if (nurs_ct_msg_parse(scratch, nlh, flags & NURS_CT_FROM_DUMP, &why) < 0) {
        nurs_source_malformed(r, d->rl, why);
        return true;
    }
    if (filtered_out(scratch, d->filter))
        return false;
    scratch->final = flags & NURS_CT_FINAL;
    struct delivery dl = {.r = r, .rec = {.kind = NURS_RECORD_CT, .data = scratch}};
    bool consumed = r->consumers.n > 0;
    if (!consumed)
        r->counters.dropped++;
    if (d->attr)
        nurs_attribution_stage(d->attr, scratch, consumed && d->begin,
                               consumed ? deliver_record : NULL, &dl);
    else if (consumed)
        deliver_record(&dl);
    return true;
}

static void free_dump_channel(uv_handle_t *h) { free(h->data); }

static void close_dump(struct nurs_ct_source *s)
{
    struct channel *c = s->dump;
    s->dump = NULL;
    nurs_nl_close(&c->nl);
    c->poll.data = c;
    uv_close((uv_handle_t *)&c->poll, free_dump_channel);
}

static void start_resync(struct nurs_ct_source *s);
static bool read_channel(struct nurs_ct_source *s, struct channel *c, bool from_dump);

static void finish_dump(struct nurs_ct_source *s, const char *failure)
{
    bool resync = s->dump->resync;
    if (failure)
        nurs_err("%s: table dump failed: %s", s->res.name, failure);
    else
        nurs_debug("%s: table dump complete", s->res.name);
    close_dump(s);
    if (resync && !failure) {
        /* The DESTROY events of entries that ended before the listing
         * reached them are in the events socket already: read them first. */
        for (int i = 0; i < 64 && s->events.nl.fd >= 0 && !s->res.closing; i++)
            if (read_channel(s, &s->events, false)) {
                s->drained = true;
                break;
            }
        /* Known entries the listing did not show ended inside the gap. */
        struct nurs_loss loss = {.flows = nurs_ct_known_end(&s->known)};
        s->lost_flows += loss.flows;
        nurs_warn("%s: resync after an overrun: %zu live entries known, %llu ended unseen "
                  "(lost flows, %llu so far)",
                  s->res.name, nurs_ct_known_count(&s->known), (unsigned long long)loss.flows,
                  (unsigned long long)s->lost_flows);
        if (loss.flows)
            nurs_resource_report_loss(&s->res, &loss);
    } else if (resync) {
        s->resync_due = true;
    }
    if (s->resync_due)
        start_resync(s);
}

/* What an event or a listing tells of an entry's life. */
static void track(struct nurs_ct_source *s, struct nurs_ct_msg *m)
{
    uint32_t id;
    if (!s->known_on)
        return;
    if (!nurs_ct_u32(m, CTA_ID, &id))
        return;
    if (m->event == NURS_CT_EVENT_DESTROY)
        nurs_ct_known_gone(&s->known, id);
    else
        nurs_ct_known_seen(&s->known, id);
}

/* A NEW event the script did not ask for: it only starts attribution. */
static bool attribute_only(struct nurs_ct_source *s, const struct nlmsghdr *nlh, bool from_dump)
{
    if (s->deliver_new || from_dump || NFNL_MSG_TYPE(nlh->nlmsg_type) != IPCTNL_MSG_CT_NEW ||
        !(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)))
        return false;
    const char *why;
    if (nurs_ct_msg_parse(&s->msg, nlh, false, &why) < 0 || filtered_out(&s->msg, &s->cur.filter))
        return true;
    track(s, &s->msg);
    if (s->attr && s->cur.process)
        nurs_attribution_stage(s->attr, &s->msg, true, NULL, NULL);
    return true;
}

/* An expectation: parsed in place and handed to the consumers. */
static void deliver_expectation(struct nurs_ct_source *s, const struct nlmsghdr *nlh,
                                bool from_dump)
{
    const char *why;
    s->res.counters.in++;
    if (nurs_exp_msg_parse(&s->exp, nlh, from_dump, &why) < 0) {
        log_malformed(s, why);
        return;
    }
    struct nurs_record rec = {.kind = NURS_RECORD_EXP, .data = &s->exp};
    nurs_resource_deliver(&s->res, &rec);
    nurs_record_end(&rec);
}

/* A listed entry only learned (the listing a resync needs at start). */
static void learn(struct nurs_ct_source *s, const struct nlmsghdr *nlh)
{
    const char *why;
    if (nurs_ct_msg_parse(&s->msg, nlh, true, &why) == 0 && !filtered_out(&s->msg, &s->cur.filter))
        track(s, &s->msg);
}

/* Walks the netlink messages of one datagram. */
static void process_datagram(struct nurs_ct_source *s, const void *data, long len,
                             bool from_dump)
{
    size_t left = (size_t)len;
    const struct nlmsghdr *nlh = data;
    for (; nurs_nlmsg_ok(nlh, left); nlh = nurs_nlmsg_next(nlh, &left)) {
        if (s->res.closing)
            return;
        switch (nlh->nlmsg_type) {
        case NLMSG_NOOP:
            continue;
        case NLMSG_DONE:
            if (from_dump && s->dump)
                finish_dump(s, NULL);
            return;
        case NLMSG_ERROR: {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof *e)
                log_malformed(s, "short error message");
            else if (from_dump && e->error != 0)
                finish_dump(s, strerror(-e->error));
            continue;
        }
        default:
            break;
        }
        if (from_dump && (nlh->nlmsg_flags & NLM_F_DUMP_INTR))
            nurs_warn("%s: the table changed during the dump; some entries may be missing",
                      s->res.name);
        if (s->expect) {
            if (nurs_exp_msg_is_entry(nlh))
                deliver_expectation(s, nlh, from_dump);
            continue;
        }
        if (!nurs_ct_msg_is_entry(nlh) || attribute_only(s, nlh, from_dump))
            continue;
        if (from_dump && !s->dump->deliver) {
            learn(s, nlh);
            continue;
        }
        struct nurs_ct_delivery d = delivery(s, false);
        if (!nurs_ct_deliver(&s->res, &s->msg, nlh, from_dump ? NURS_CT_FROM_DUMP : 0, &d))
            s->filtered++;
        else if (s->msg.nlh == nlh && !s->res.closing)
            track(s, &s->msg);
    }
    if (left > 0 && !s->res.closing)
        log_malformed(s, "trailing bytes after the last message");
}

static void on_overrun(struct nurs_ct_source *s, struct channel *c)
{
    nurs_source_overrun(&s->res, &c->nl, &s->overrun_rl);
    if (c != &s->events)
        return;
    struct nurs_loss loss = {.overruns = 1};
    nurs_resource_report_loss(&s->res, &loss);
    s->drained = false;
    if (s->cur.resync)
        s->resync_due = true;
}

/* Reads what the socket of c holds, a few batches at most; true when it
 * was read empty (fewer datagrams than a batch came). */
static bool read_channel(struct nurs_ct_source *s, struct channel *c, bool from_dump)
{
    for (int round = 0; round < MAX_BATCHES_PER_WAKEUP && !s->res.closing; round++) {
        int n = nurs_nl_recv(&c->nl, &s->batch);
        if (n == -ENOBUFS) {
            on_overrun(s, c);
            if (from_dump) {
                finish_dump(s, "receive buffer overrun (raise rcvbuf)");
                return false;
            }
            continue;
        }
        if (n < 0) {
            nurs_err("%s: netlink receive: %s", s->res.name, strerror(-n));
            return false;
        }
        if (n > 0 && !from_dump)
            s->reads++;
        for (int i = 0; i < n && !s->res.closing; i++) {
            const void *data;
            const char *why;
            long len = nurs_nl_datagram(&s->batch, i, &data, &why);
            if (len < 0) {
                log_malformed(s, why);
                continue;
            }
            if (s->recorder)
                nurs_recorder_write(s->recorder, NETLINK_NETFILTER, data, (size_t)len);
            process_datagram(s, data, len, from_dump);
            if (from_dump && !s->dump)
                return false;
        }
        if (n < NURS_NL_SLOTS)
            return true;
    }
    return false;
}

static void on_readable(uv_poll_t *poll, int status, int events);

static void on_wait_over(uv_timer_t *t)
{
    struct nurs_ct_source *s = t->data;
    if (!s->res.closing && nurs_handle_open((uv_handle_t *)&s->events.poll))
        uv_poll_start(&s->events.poll, UV_READABLE, on_readable);
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct nurs_ct_source *s = poll->data;
    bool from_dump = poll != &s->events.poll;
    struct channel *c = from_dump ? s->dump : &s->events;
    if (status < 0) {
        /* libuv stops the handle on POLLERR, which is how a netlink socket
         * reports an overrun: the receive below collects the error (ENOBUFS)
         * and polling starts again. */
        uv_poll_start(poll, UV_READABLE, on_readable);
    }
    bool empty = read_channel(s, c, from_dump);
    if (empty && !from_dump && !s->res.closing) {
        s->drained = true;
        if (s->resync_due)
            start_resync(s);
    }
    /* Events that come one by one cost a wakeup each: let them gather in
     * the kernel's buffer for a while. A busy socket is never read empty,
     * so it is read without a pause. */
    if (empty && !from_dump && s->cur.batch_wait_ms && !s->res.closing) {
        uv_poll_stop(poll);
        uv_timer_start(&s->wait_timer, on_wait_over, s->cur.batch_wait_ms, 0);
    }
}

static void free_source(void *arg)
{
    struct nurs_ct_source *s = arg;
    nurs_ct_known_free(&s->known);
    nurs_attribution_free(s->attr);
    nurs_recorder_put(s->res.host, s->recorder);
    nurs_nl_batch_free(&s->batch);
    free(s->netns);
    free(s);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_ct_source *s = (struct nurs_ct_source *)r;
    if (s->dump)
        close_dump(s);
    nurs_closer_begin(&s->closer, free_source, s);
    nurs_closer_close(&s->closer, &s->wait_timer);
    nurs_closer_close(&s->closer, &s->resync_timer);
    nurs_closer_close(&s->closer, &s->events.poll);
    nurs_nl_close(&s->events.nl);
    nurs_closer_end(&s->closer);
}

static int send_dump_request(struct nurs_ct_source *s, struct nurs_nl *nl, bool zero, char *err,
                             size_t errlen);
static int start_dump(struct nurs_ct_source *s, bool zero, bool deliver, bool resync, char *err,
                      size_t errlen);

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
        struct nurs_ct_delivery d = delivery(s, true);
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

static void finish(struct nurs_resource *r)
{
    struct nurs_ct_source *s = (struct nurs_ct_source *)r;
    if (r->host->check_only || r->consumers.n == 0 || s->expect)
        return;
    /* Events left waiting by batch_wait are read before the end. */
    for (int i = 0; i < 64 && s->cur.batch_wait_ms && s->events.nl.fd >= 0 && !r->closing; i++)
        if (read_channel(s, &s->events, false))
            break;
    if (!s->cur.dump_at_exit || r->closing)
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

static int join_new(struct nurs_ct_source *s, bool on, char *err, size_t errlen);

/* conntrackd's NetlinkEventsReliable: delivery failures reach the kernel's
 * event code (which keeps DESTROY events and retries them), none reaches
 * us as ENOBUFS. */
static void set_reliable(struct nurs_ct_source *s)
{
    int on = s->cur.reliable;
    if (s->events.nl.fd < 0)
        return;
    if (setsockopt(s->events.nl.fd, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &on, sizeof on) < 0 ||
        setsockopt(s->events.nl.fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof on) < 0)
        nurs_warn("%s: reliable events: %s", s->res.name, strerror(errno));
}

/* A reloaded script kept the source: its settings apply. What is known
 * of live connections stays; the old script's waiting callbacks go with
 * its Lua state. A running engine keeps the settings it started with. */
static void adopted(struct nurs_resource *r)
{
    struct nurs_ct_source *s = (struct nurs_ct_source *)r;
    char err[256];
    set_reliable(s);
    if (s->cur.resync && !s->known_on && !s->expect) {
        nurs_ct_known_init(&s->known, NURS_CT_KNOWN_MAX);
        s->known_on = true;
        if (!s->dump && start_dump(s, false, false, false, err, sizeof err) < 0)
            nurs_err("%s: resync: %s", r->name, err);
    } else if (!s->cur.resync && s->known_on) {
        nurs_ct_known_free(&s->known);
        s->known_on = false;
    }
    if (join_new(s, s->cur.process || s->cur.resync, err, sizeof err) < 0)
        nurs_err("%s: process attribution: NEW events: %s", r->name, err);
    if (s->attr) {
        s->cur.process_opts = s->next.process_opts;
        nurs_attribution_unwatch_all(s->attr);
    } else if (s->cur.process && !nurs_ct_source_attribution(s, err, sizeof err)) {
        nurs_err("%s: process attribution: %s", r->name, err);
    }
}

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    return nurs_label_set(out, "netns", ((const struct nurs_ct_source *)r)->netns);
}

static const char *const gauges[] = {"rcvbuf", NURS_ATTRIBUTION_GAUGES, NULL};

static const struct nurs_resource_ops ct_ops = {
    .kind = "conntrack",
    .destroy = destroy,
    .extra_counters = extra_counters,
    NURS_SETTINGS_IN(struct nurs_ct_source),
    .adopted = adopted,
    .gauges = gauges,
    .labels = labels,
    .finish = finish,
};

static int start_channel(struct nurs_ct_source *s, struct channel *c, char *err, size_t errlen)
{
    return nurs_source_poll(&s->res, &c->poll, c->nl.fd, on_readable, s, err, errlen);
}

static const char *explain_join_error(int err)
{
    switch (err) {
    case EPERM:
    case EACCES:
        return "subscribing to conntrack events needs CAP_NET_ADMIN (run as root or grant "
               "the capability)";
    case ENOENT:
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
        return "conntrack netlink is not available in this kernel (modprobe "
               "nf_conntrack_netlink)";
    default:
        return strerror(err);
    }
}

/* Attribution starts at NEW events: listen to them when it is on, even if
 * the script did not ask for them (they then reach no callback). */
static int join_new(struct nurs_ct_source *s, bool on, char *err, size_t errlen)
{
    bool want = on || s->deliver_new;
    if (want == s->joined_new || s->events.nl.fd < 0)
        return 0;
    unsigned group = NFNLGRP_CONNTRACK_NEW;
    if (setsockopt(s->events.nl.fd, SOL_NETLINK,
                   want ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group,
                   sizeof group) < 0) {
        snprintf(err, errlen, "%s", explain_join_error(errno));
        return -1;
    }
    s->joined_new = want;
    return 0;
}

static int open_events(struct nurs_ct_source *s, const struct nurs_ct_source_opts *o, char *err,
                       size_t errlen)
{
    if (nurs_nl_open(&s->events.nl, NETLINK_NETFILTER, o->netns, err, errlen) < 0)
        return -1;
    bool want_new = o->ev_new || o->set.process || o->set.resync;
    const struct {
        bool on;
        unsigned group;
    } groups[] = {
        {!o->expect && want_new, NFNLGRP_CONNTRACK_NEW},
        {!o->expect && o->ev_update, NFNLGRP_CONNTRACK_UPDATE},
        {!o->expect && o->ev_destroy, NFNLGRP_CONNTRACK_DESTROY},
        {o->expect && o->ev_new, NFNLGRP_CONNTRACK_EXP_NEW},
        {o->expect && o->ev_destroy, NFNLGRP_CONNTRACK_EXP_DESTROY},
    };
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) {
        if (!groups[i].on)
            continue;
        if (setsockopt(s->events.nl.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i].group,
                       sizeof groups[i].group) < 0) {
            snprintf(err, errlen, "%s", explain_join_error(errno));
            return -1;
        }
    }
    s->joined_new = !o->expect && want_new;
    nurs_source_rcvbuf(&s->res, &s->events.nl, o->rcvbuf, o->rcvbuf_max);
    set_reliable(s);
    return 0;
}

/* The checks of --doctor, once per namespace, as warnings at start-up. */
static void check_kernel(struct nurs_ct_source *s, const struct nurs_ct_source_opts *o)
{
    static char done[8][64];
    static int n_done;
    const char *ns = o->netns ? o->netns : "";
    for (int i = 0; i < n_done; i++)
        if (strcmp(done[i], ns) == 0)
            return;
    if (n_done < 8)
        snprintf(done[n_done++], sizeof done[0], "%s", ns);
    struct nurs_doctor_report r;
    struct nurs_doctor_opts d = {.netns = o->netns, .rcvbuf = o->rcvbuf};
    if (nurs_doctor_run(&d, &r) != NURS_DOCTOR_OK)
        nurs_doctor_log(s->res.name, o->netns, &r);
}

static int set_recorder(struct nurs_ct_source *s, const struct nurs_ct_source_opts *o, char *err,
                        size_t errlen)
{
    return nurs_source_set_recorder(&s->res, &s->recorder, o->record, err, errlen);
}

static void make_key(const struct nurs_ct_source_opts *o, char *key, size_t len)
{
    snprintf(key, len, "netns=%s;expect=%d;new=%d;update=%d;destroy=%d", o->netns ? o->netns : "",
             o->expect, o->ev_new, o->ev_update, o->ev_destroy);
}

struct nurs_ct_source *nurs_ct_source_get(struct nurs_script *script,
                                          const struct nurs_ct_source_opts *o, bool *adopted,
                                          char *err, size_t errlen)
{
    char key[4200];
    make_key(o, key, sizeof key);
    struct nurs_resource *r = nurs_resource_claim(script, &ct_ops, key, &o->set);
    if (r) {
        struct nurs_ct_source *s = (struct nurs_ct_source *)r;
        s->events.nl.rcvbuf_max = o->rcvbuf_max;
        if (s->events.nl.fd >= 0 && o->rcvbuf > s->events.nl.rcvbuf / 2)
            nurs_nl_set_rcvbuf(&s->events.nl, o->rcvbuf);
        *adopted = true;
        /* On failure the load fails and gives the source back as it was. */
        return set_recorder(s, o, err, errlen) < 0 ? NULL : s;
    }
    *adopted = false;

    struct nurs_ct_source *s = calloc(1, sizeof *s);
    if (!s || nurs_nl_batch_init(&s->batch) < 0 || (o->netns && !(s->netns = strdup(o->netns)))) {
        if (s)
            free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->events.nl.fd = -1;
    s->deliver_new = o->ev_new;
    s->expect = o->expect;
    s->overrun_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    s->malformed_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    if (nurs_resource_init(&s->res, &ct_ops, script, o->name, key, &o->set) < 0) {
        free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (script->host->check_only)
        return s;
    uv_timer_init(script->host->loop, &s->wait_timer);
    s->wait_timer.data = s;
    uv_timer_init(script->host->loop, &s->resync_timer);
    s->resync_timer.data = s;
    uv_unref((uv_handle_t *)&s->resync_timer);
    if (set_recorder(s, o, err, errlen) < 0) {
        nurs_resource_destroy(&s->res);
        return NULL;
    }
    bool any = o->ev_new || o->ev_update || o->ev_destroy;
    if ((any && (open_events(s, o, err, errlen) < 0 ||
                 start_channel(s, &s->events, err, errlen) < 0)) ||
        (o->set.process && !nurs_ct_source_attribution(s, err, errlen))) {
        nurs_resource_destroy(&s->res);
        return NULL;
    }
    /* A resync needs to know the entries alive before it started: the
     * first listing is made for it if the script asked for none. */
    if (o->set.resync) {
        nurs_ct_known_init(&s->known, NURS_CT_KNOWN_MAX);
        s->known_on = true;
    }
    if (o->dump || o->set.resync) {
        if (start_dump(s, false, o->dump, false, err, errlen) < 0) {
            nurs_resource_destroy(&s->res);
            return NULL;
        }
    }
    if (!o->expect)
        check_kernel(s, o);
    if (any) {
        char list[80] = "";
        const char *names[] = {o->ev_new           ? "new"
                               : o->set.process ? "new (for process attribution only)"
                                                : NULL,
                               o->ev_update ? "update" : NULL, o->ev_destroy ? "destroy" : NULL};
        for (int i = 0; i < 3; i++)
            if (names[i])
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         *list ? ", " : "", names[i]);
        nurs_info("%s: listening for %s events (%s) in %s, receive buffer %d bytes%s%s",
                  s->res.name, o->expect ? "expectation" : "conntrack", list,
                  o->netns ? o->netns : "our namespace", s->events.nl.rcvbuf,
                  o->set.reliable ? ", reliable" : "", o->set.resync ? ", resync" : "");
    }
    return s;
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

static int start_dump(struct nurs_ct_source *s, bool zero, bool deliver, bool resync, char *err,
                      size_t errlen)
{
    if (s->dump) {
        snprintf(err, errlen, "a dump is already running");
        return -1;
    }
    if (s->res.host->check_only)
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
        start_channel(s, c, err, errlen) < 0) {
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
    return start_dump(s, zero, true, false, err, errlen);
}

static void on_resync_timer(uv_timer_t *t) { start_resync(t->data); }

/* Lists the table again after an overrun, at most once per interval and
 * never beside another listing (the next one waits for it). */
static void start_resync(struct nurs_ct_source *s)
{
    if (!s->resync_due || !s->drained || s->dump || s->res.closing || !s->known_on)
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
    if (start_dump(s, s->cur.resync_zero, true, true, err, sizeof err) < 0) {
        nurs_err("%s: resync: %s", s->res.name, err);
        return;
    }
    s->resyncs++;
    nurs_info("%s: resync: listing the table after an overrun", s->res.name);
}
