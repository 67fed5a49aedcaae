/* The conntrack source's way in: its sockets read in batches (a bounded
 * number per wakeup, or after a batch wait), their messages walked, and
 * each entry or expectation delivered to the consumers, through the mark
 * filter and the attribution stage; what it tells of an entry's life is
 * kept for a resync. */
#include <errno.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <uv.h>

#include "records/record.h"
#include "sources/conntrack_priv.h"
#include "sources/recorder.h"
#include "sources/source.h"

/* A wakeup reads at most this many batches, so one busy source cannot
 * starve timers and other sources. */
#define MAX_BATCHES_PER_WAKEUP 8

/* What the live source's records go through. */
struct nurs_ct_delivery nurs_ct_live_delivery(struct nurs_ct_source *s, bool final)
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
                nurs_ct_finish_dump(s, NULL);
            return;
        case NLMSG_ERROR: {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof *e)
                log_malformed(s, "short error message");
            else if (from_dump && e->error != 0)
                nurs_ct_finish_dump(s, strerror(-e->error));
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
        struct nurs_ct_delivery d = nurs_ct_live_delivery(s, false);
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
bool nurs_ct_read_channel(struct nurs_ct_source *s, struct channel *c, bool from_dump)
{
    for (int round = 0; round < MAX_BATCHES_PER_WAKEUP && !s->res.closing; round++) {
        int n = nurs_nl_recv(&c->nl, &s->batch);
        if (n == -ENOBUFS) {
            on_overrun(s, c);
            if (from_dump) {
                nurs_ct_finish_dump(s, "receive buffer overrun (raise rcvbuf)");
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
    bool empty = nurs_ct_read_channel(s, c, from_dump);
    if (empty && !from_dump && !s->res.closing) {
        s->drained = true;
        if (s->resync_due)
            nurs_ct_start_resync(s);
    }
    /* Events that come one by one cost a wakeup each: let them gather in
     * the kernel's buffer for a while. A busy socket is never read empty,
     * so it is read without a pause. */
    if (empty && !from_dump && s->cur.batch_wait_ms && !s->res.closing) {
        uv_poll_stop(poll);
        uv_timer_start(&s->wait_timer, on_wait_over, s->cur.batch_wait_ms, 0);
    }
}

int nurs_ct_start_channel(struct nurs_ct_source *s, struct channel *c, char *err, size_t errlen)
{
    return nurs_source_poll(&s->res, &c->poll, c->nl.fd, on_readable, s, err, errlen);
}
