#include "sources/ct_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <uv.h>

#include "core/closer.h"
#include "core/host.h"
#include "netlink/ct_request.h"
#include "netlink/exp_msg.h"
#include "netlink/socket.h"
#include "sources/source.h"

/* A one-message request without an answer after this long fails. */
#define ANSWER_TIMEOUT_MS 10000
/* Per-entry requests of a delete or update by filter waiting for their
 * answers at most: the listing pauses until half of them are in. */
#define STREAM_WINDOW 256
/* Entries a stream handles per wakeup before the loop runs the rest, and
 * the time it may take: the kernel deletes or updates entries inside our
 * send(), some 20 us each, so a stream that acts on entries reads one
 * datagram (about 100 entries) at a time and yields after STREAM_SLICE_NS. */
#define ENTRIES_PER_WAKEUP 1024
#define STREAM_SLICE_NS 4000000u
#define SINGLE_RCVBUF (4 << 20)
#define STREAM_RCVBUF (1 << 20)

struct nurs_ct_table;

struct stream {
    struct nurs_nl dump, act; /* the listing; its per-entry requests (act.fd < 0: none) */
    uv_poll_t dump_poll, act_poll;
    uint32_t act_seq;
    unsigned inflight;
    bool dump_done;
    _Alignas(8) unsigned char out[32768]; /* per-entry requests waiting to be sent */
    size_t out_len;
    unsigned out_count;
    struct nurs_nl_batch batch;
};

struct op {
    struct nurs_ct_table *t;
    struct nurs_ct_request req;
    struct nurs_ct_result res;
    uint32_t seq;
    uint64_t deadline_ms;
    struct stream *s; /* streams only */
    struct op *next;  /* streams: the table's list */
    struct nurs_closer closer;
};

struct nurs_ct_table {
    struct nurs_resource res; /* first: the resource is the table */
    char *netns;
    struct nurs_nl nl; /* one-message requests */
    uv_poll_t poll;
    uv_timer_t timer; /* fails answers that do not come */
    struct op **slots; /* by sequence number modulo cap */
    unsigned cap, inflight;
    uint32_t next_seq;
    struct op *streams;
    unsigned n_streams;
    struct nurs_nl_batch batch;
    struct nurs_ct_msg msg;
    struct nurs_exp_msg exp;
    struct nurs_ratelimit rl;
    struct nurs_closer closer;
    uint64_t refused, timeouts, not_found, deleted, updated, created, listed;
};

struct nurs_resource *nurs_ct_table_resource(struct nurs_ct_table *t) { return &t->res; }
struct nurs_ct_table *nurs_ct_table_of(struct nurs_resource *r) { return (struct nurs_ct_table *)r; }

static bool is_stream(enum nurs_ct_op op) { return op >= NURS_CT_OP_LIST; }
static bool is_exp(enum nurs_ct_op op)
{
    return op == NURS_CT_OP_EXP_GET || op == NURS_CT_OP_EXP_DELETE || op == NURS_CT_OP_EXP_CREATE ||
           op == NURS_CT_OP_EXP_FLUSH || op == NURS_CT_OP_EXP_LIST ||
           op == NURS_CT_OP_EXP_DELETE_ALL;
}

/* ---- ending a request ---- */

static void count_result(struct nurs_ct_table *t, const struct op *op)
{
    struct nurs_counters *c = &t->res.counters;
    const struct nurs_ct_result *r = &op->res;
    if (r->error == ENOENT)
        t->not_found++;
    if (r->error && r->error != ENOENT) {
        c->errors++;
        long long suppressed = nurs_ratelimit_check(&t->rl);
        if (suppressed >= 0 && !op->req.on_done)
            nurs_warn("%s: request failed: %s", t->res.name, strerror(r->error));
    } else if (!r->error) {
        c->delivered++;
    }
    switch (op->req.op) {
    case NURS_CT_OP_DELETE:
    case NURS_CT_OP_EXP_DELETE:
        t->deleted += !r->error;
        break;
    case NURS_CT_OP_DELETE_ALL:
    case NURS_CT_OP_EXP_DELETE_ALL:
        t->deleted += r->done;
        break;
    case NURS_CT_OP_UPDATE:
        t->updated += !r->error;
        break;
    case NURS_CT_OP_UPDATE_ALL:
        t->updated += r->done;
        break;
    case NURS_CT_OP_CREATE:
    case NURS_CT_OP_EXP_CREATE:
        t->created += !r->error;
        break;
    default:
        break;
    }
}

/* Hands the result over and frees what the caller no longer reaches.
 * Returns false when a callback closed the table (nothing of it may be
 * touched then). */
static bool complete(struct nurs_ct_table *t, struct op *op)
{
    count_result(t, op);
    struct nurs_ct_request req = op->req;
    struct nurs_ct_result res = op->res;
    if (req.on_done)
        req.on_done(req.arg, &res);
    if (req.release)
        req.release(req.arg);
    return !t->res.closing;
}

static void finish_single(struct nurs_ct_table *t, struct op *op)
{
    t->slots[op->seq % t->cap] = NULL;
    if (--t->inflight == 0) {
        uv_timer_stop(&t->timer);
        uv_unref((uv_handle_t *)&t->poll);
    }
    complete(t, op);
    free(op);
}

static void free_stream_op(void *arg)
{
    struct op *op = arg;
    nurs_nl_batch_free(&op->s->batch);
    free(op->s);
    free(op);
}

static void close_stream(struct op *op)
{
    struct nurs_ct_table *t = op->t;
    for (struct op **p = &t->streams; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    t->n_streams--;
    nurs_closer_begin(&op->closer, free_stream_op, op);
    nurs_closer_close(&op->closer, &op->s->dump_poll);
    nurs_closer_close(&op->closer, &op->s->act_poll);
    nurs_nl_close(&op->s->dump);
    nurs_nl_close(&op->s->act);
    nurs_closer_end(&op->closer);
}

/* False when a callback closed the table. */
static bool finish_stream(struct op *op)
{
    struct nurs_ct_table *t = op->t;
    close_stream(op);
    return complete(t, op);
}

/* ---- delivering entries ---- */

/* Parses an entry of the request's table and checks it against the
 * filter; NULL when it is not one or does not match. */
static struct nurs_record parse_entry(struct nurs_ct_table *t, const struct op *op,
                                      const struct nlmsghdr *nlh, bool from_dump, bool *ok)
{
    const char *why;
    struct nurs_record rec = {0};
    *ok = false;
    if (is_exp(op->req.op)) {
        if (!nurs_exp_msg_is_entry(nlh))
            return rec;
        if (nurs_exp_msg_parse(&t->exp, nlh, from_dump, &why) < 0) {
            nurs_source_malformed(&t->res, &t->rl, why);
            return rec;
        }
        *ok = !from_dump || nurs_exp_spec_match(&op->req.exp, &t->exp);
        rec = (struct nurs_record){.kind = NURS_RECORD_EXP, .data = &t->exp};
    } else {
        if (!nurs_ct_msg_is_entry(nlh))
            return rec;
        if (nurs_ct_msg_parse(&t->msg, nlh, from_dump, &why) < 0) {
            nurs_source_malformed(&t->res, &t->rl, why);
            return rec;
        }
        *ok = !from_dump || nurs_ct_spec_match(&op->req.spec, &t->msg);
        rec = (struct nurs_record){.kind = NURS_RECORD_CT, .data = &t->msg};
    }
    return rec;
}

/* False when the callback closed the table. */
static bool deliver(struct nurs_ct_table *t, struct op *op, struct nurs_record *rec)
{
    op->res.matched++;
    t->listed++;
    if (op->req.on_record) {
        op->req.on_record(op->req.arg, rec);
        nurs_record_end(rec);
    }
    return !t->res.closing;
}

static bool stats_answer(struct nurs_ct_table *t, struct op *op, const struct nlmsghdr *nlh)
{
    enum nurs_ct_stats_kind kind = op->req.op == NURS_CT_OP_COUNT       ? NURS_CT_STATS_GLOBAL
                                   : op->req.op == NURS_CT_OP_EXP_STATS ? NURS_CT_STATS_EXP_CPU
                                                                        : NURS_CT_STATS_CPU;
    struct nurs_ct_stats st;
    const char *why;
    int rc = nurs_ct_stats_parse(nlh, kind, &st, &why);
    if (rc < 0)
        nurs_source_malformed(&t->res, &t->rl, why);
    if (rc != 0)
        return true;
    if (kind == NURS_CT_STATS_GLOBAL) {
        op->res.entries = st.value[CTA_STATS_GLOBAL_ENTRIES];
        op->res.max_entries = st.value[CTA_STATS_GLOBAL_MAX_ENTRIES];
        op->res.matched = op->res.entries;
        return true;
    }
    op->res.matched++;
    if (op->req.on_stats)
        op->req.on_stats(op->req.arg, &st);
    return !t->res.closing;
}

static int ack_error(const struct nlmsghdr *nlh, bool *is_ack)
{
    *is_ack = nlh->nlmsg_type == NLMSG_ERROR;
    if (!*is_ack)
        return 0;
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr))
        return EBADMSG;
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
    return -e->error;
}

/* ---- one-message requests ---- */

/* False when a callback closed the table. */
static bool single_message(struct nurs_ct_table *t, const struct nlmsghdr *nlh)
{
    struct op *op = t->slots[nlh->nlmsg_seq % t->cap];
    if (!op || op->seq != nlh->nlmsg_seq)
        return true; /* late: it timed out */
    bool is_ack;
    int err = ack_error(nlh, &is_ack);
    if (is_ack) {
        op->res.error = err;
        finish_single(t, op);
        return !t->res.closing;
    }
    if (op->req.op == NURS_CT_OP_COUNT)
        return stats_answer(t, op, nlh);
    bool ok;
    struct nurs_record rec = parse_entry(t, op, nlh, false, &ok);
    return !ok || deliver(t, op, &rec);
}

static void fail_all_single(struct nurs_ct_table *t, int err)
{
    for (unsigned i = 0; i < t->cap && !t->res.closing; i++) {
        struct op *op = t->slots[i];
        if (!op)
            continue;
        op->res.error = err;
        if (err == ETIMEDOUT)
            t->timeouts++;
        finish_single(t, op);
    }
}

static void on_single_readable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct nurs_ct_table *t = poll->data;
    if (status < 0)
        uv_poll_start(poll, UV_READABLE, on_single_readable);
    for (int round = 0; round < 4 && !t->res.closing; round++) {
        int n = nurs_nl_recv(&t->nl, &t->batch);
        if (n == -ENOBUFS) {
            /* Answers were lost: which requests they belonged to is unknown. */
            t->res.counters.overruns++;
            fail_all_single(t, ENOBUFS);
            continue;
        }
        if (n <= 0)
            return;
        for (int i = 0; i < n && !t->res.closing; i++) {
            const void *data;
            const char *why;
            long len = nurs_nl_datagram(&t->batch, i, &data, &why);
            if (len < 0)
                continue;
            size_t left = (size_t)len;
            for (const struct nlmsghdr *nlh = data; nurs_nlmsg_ok(nlh, left);
                 nlh = nurs_nlmsg_next(nlh, &left))
                if (!single_message(t, nlh))
                    return;
        }
        if (n < NURS_NL_SLOTS)
            return;
    }
}

static void on_timer(uv_timer_t *timer)
{
    struct nurs_ct_table *t = timer->data;
    uint64_t now = nurs_monotonic_ms();
    for (unsigned i = 0; i < t->cap && !t->res.closing; i++) {
        struct op *op = t->slots[i];
        if (op && now >= op->deadline_ms) {
            if (!op->res.error) {
                op->res.error = ETIMEDOUT;
                t->timeouts++;
            }
            finish_single(t, op);
        }
    }
}

static size_t build_single(const struct nurs_ct_request *req, void *buf, uint32_t seq,
                           char *err, size_t errlen)
{
    switch (req->op) {
    case NURS_CT_OP_GET:
        return nurs_ct_req_entry(buf, NURS_CT_REQ_GET, &req->spec, NULL, seq, err, errlen);
    case NURS_CT_OP_DELETE:
        return nurs_ct_req_entry(buf, NURS_CT_REQ_DELETE, &req->spec, NULL, seq, err, errlen);
    case NURS_CT_OP_UPDATE:
        return nurs_ct_req_entry(buf, NURS_CT_REQ_UPDATE, &req->spec, &req->change, seq, err,
                                 errlen);
    case NURS_CT_OP_CREATE:
        return nurs_ct_req_entry(buf, NURS_CT_REQ_CREATE, &req->spec, &req->change, seq, err,
                                 errlen);
    case NURS_CT_OP_FLUSH:
        return nurs_ct_req_flush(buf, req->spec.has & NURS_CTS_FAMILY ? req->spec.family : 0,
                                 seq);
    case NURS_CT_OP_COUNT:
        return nurs_ct_req_stats(buf, NURS_CT_STATS_GLOBAL, seq);
    case NURS_CT_OP_EXP_GET:
        return nurs_exp_req_entry(buf, NURS_CT_REQ_GET, &req->exp, seq, err, errlen);
    case NURS_CT_OP_EXP_DELETE:
        return nurs_exp_req_entry(buf, NURS_CT_REQ_DELETE, &req->exp, seq, err, errlen);
    case NURS_CT_OP_EXP_CREATE:
        return nurs_exp_req_entry(buf, NURS_CT_REQ_CREATE, &req->exp, seq, err, errlen);
    case NURS_CT_OP_EXP_FLUSH:
        return nurs_exp_req_flush(buf, 0, seq);
    default:
        snprintf(err, errlen, "not a one-message request");
        return 0;
    }
}

static const char *send_error(int e)
{
    return e == EPERM ? "permission denied (needs CAP_NET_ADMIN)" : strerror(e);
}

static int submit_single(struct nurs_ct_table *t, const struct nurs_ct_request *req, char *err,
                         size_t errlen)
{
    uint32_t seq = t->next_seq;
    if (t->slots[seq % t->cap]) {
        t->refused++;
        t->res.counters.dropped++;
        snprintf(err, errlen, "%u requests wait for answers already", t->inflight);
        errno = EBUSY;
        return -1;
    }
    _Alignas(4) unsigned char buf[NURS_CT_REQ_MAX];
    size_t len = build_single(req, buf, seq, err, errlen);
    if (!len) {
        errno = EINVAL;
        return -1;
    }
    struct op *op = calloc(1, sizeof *op);
    if (!op) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    op->t = t;
    op->req = *req;
    op->seq = seq;
    op->deadline_ms = nurs_monotonic_ms() + ANSWER_TIMEOUT_MS;
    t->next_seq++;
    t->slots[seq % t->cap] = op;
    /* Answers awaited keep the loop running. */
    if (t->inflight++ == 0) {
        uv_timer_start(&t->timer, on_timer, 1000, 1000);
        uv_ref((uv_handle_t *)&t->poll);
    }
    if (send(t->nl.fd, buf, len, 0) < 0)
        /* An answer that cannot come: the error is the answer (from the
         * loop, like every other). */
        op->deadline_ms = 0, op->res.error = errno;
    return 0;
}

/* ---- streams ---- */

static void stream_flush_out(struct op *op)
{
    struct stream *s = op->s;
    if (!s->out_len)
        return;
    if (send(s->act.fd, s->out, s->out_len, 0) < 0) {
        /* No answers will come for these. */
        s->inflight -= s->out_count;
        op->res.failed += s->out_count;
        if (!op->res.first_error)
            op->res.first_error = errno;
    }
    s->out_len = 0;
    s->out_count = 0;
}

/* Queues the per-entry request for the entry just parsed. */
static void stream_act(struct nurs_ct_table *t, struct op *op)
{
    struct stream *s = op->s;
    if (s->out_len + NURS_CT_REQ_MAX > sizeof s->out)
        stream_flush_out(op);
    char err[160];
    size_t len = 0;
    uint32_t seq = ++s->act_seq;
    unsigned char *at = s->out + s->out_len;
    if (op->req.op == NURS_CT_OP_EXP_DELETE_ALL) {
        struct nurs_exp_spec es;
        if (nurs_exp_spec_from_msg(&es, &t->exp))
            len = nurs_exp_req_entry(at, NURS_CT_REQ_DELETE, &es, seq, err, sizeof err);
    } else {
        struct nurs_ct_spec cs;
        if (nurs_ct_spec_from_msg(&cs, &t->msg))
            len = nurs_ct_req_entry(at, op->req.op == NURS_CT_OP_DELETE_ALL ? NURS_CT_REQ_DELETE
                                                                            : NURS_CT_REQ_UPDATE,
                                    &cs, &op->req.change, seq, err, sizeof err);
    }
    if (!len) {
        /* An entry of a protocol without a tuple the library builds. */
        op->res.failed++;
        if (!op->res.first_error)
            op->res.first_error = EOPNOTSUPP;
        return;
    }
    s->out_len += NLMSG_ALIGN(len);
    s->out_count++;
    s->inflight++;
}

static void on_dump_readable(uv_poll_t *poll, int status, int events);

static void stream_resume(struct op *op)
{
    if (!op->s->dump_done && nurs_handle_open((uv_handle_t *)&op->s->dump_poll))
        uv_poll_start(&op->s->dump_poll, UV_READABLE, on_dump_readable);
}

/* False when the stream is over (or a callback closed the table). */
static bool stream_message(struct nurs_ct_table *t, struct op *op, const struct nlmsghdr *nlh)
{
    struct stream *s = op->s;
    bool is_ack;
    int err = ack_error(nlh, &is_ack);
    if (nlh->nlmsg_type == NLMSG_DONE || is_ack) {
        if (err)
            op->res.error = err;
        s->dump_done = true;
        return false;
    }
    if (op->req.op == NURS_CT_OP_STATS || op->req.op == NURS_CT_OP_EXP_STATS)
        return stats_answer(t, op, nlh);
    bool ok;
    struct nurs_record rec = parse_entry(t, op, nlh, true, &ok);
    if (!ok)
        return true;
    if (op->req.op == NURS_CT_OP_LIST || op->req.op == NURS_CT_OP_EXP_LIST)
        return deliver(t, op, &rec);
    op->res.matched++;
    stream_act(t, op);
    return true;
}

/* Ends the stream if nothing is left to wait for; false if it ended (or a
 * callback closed the table). */
static bool stream_check_end(struct op *op)
{
    struct stream *s = op->s;
    if (s->dump_done) {
        stream_flush_out(op);
        if (s->inflight == 0) {
            finish_stream(op);
            return false;
        }
        if (nurs_handle_open((uv_handle_t *)&s->dump_poll))
            uv_poll_stop(&s->dump_poll);
    }
    return true;
}

static void on_dump_readable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    (void)status;
    struct op *op = poll->data;
    struct nurs_ct_table *t = op->t;
    struct stream *s = op->s;
    unsigned handled = 0;
    bool acts = s->act.fd >= 0;
    uint64_t start = uv_hrtime();
    while (handled < ENTRIES_PER_WAKEUP && !s->dump_done && s->inflight < STREAM_WINDOW &&
           (!acts || uv_hrtime() - start < STREAM_SLICE_NS)) {
        int n = nurs_nl_recv_upto(&s->dump, &s->batch, acts ? 1 : NURS_NL_SLOTS);
        if (n == -ENOBUFS) {
            t->res.counters.overruns++;
            op->res.error = ENOBUFS;
            s->dump_done = true;
            break;
        }
        if (n < 0) {
            op->res.error = -n;
            s->dump_done = true;
            break;
        }
        if (n == 0)
            return;
        for (int i = 0; i < n && !s->dump_done; i++) {
            const void *data;
            const char *why;
            long len = nurs_nl_datagram(&s->batch, i, &data, &why);
            if (len < 0) {
                nurs_source_malformed(&t->res, &t->rl, why);
                continue;
            }
            size_t left = (size_t)len;
            for (const struct nlmsghdr *nlh = data; nurs_nlmsg_ok(nlh, left);
                 nlh = nurs_nlmsg_next(nlh, &left)) {
                handled++;
                if (!stream_message(t, op, nlh)) {
                    if (t->res.closing)
                        return;
                    break;
                }
            }
        }
        stream_flush_out(op);
    }
    if (!stream_check_end(op))
        return;
    /* The window is full: the listing waits for answers. */
    if (s->inflight >= STREAM_WINDOW)
        uv_poll_stop(&s->dump_poll);
}

static void on_act_readable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    (void)status;
    struct op *op = poll->data;
    struct nurs_ct_table *t = op->t;
    struct stream *s = op->s;
    for (int round = 0; round < 8; round++) {
        int n = nurs_nl_recv(&s->act, &s->batch);
        if (n == -ENOBUFS) {
            /* Answers lost: the entries they were for are counted as failed. */
            t->res.counters.overruns++;
            op->res.failed += s->inflight;
            op->res.first_error = op->res.first_error ? op->res.first_error : ENOBUFS;
            s->inflight = 0;
            break;
        }
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            const void *data;
            const char *why;
            long len = nurs_nl_datagram(&s->batch, i, &data, &why);
            if (len < 0)
                continue;
            size_t left = (size_t)len;
            for (const struct nlmsghdr *nlh = data; nurs_nlmsg_ok(nlh, left);
                 nlh = nurs_nlmsg_next(nlh, &left)) {
                bool is_ack;
                int err = ack_error(nlh, &is_ack);
                if (!is_ack || !s->inflight)
                    continue;
                s->inflight--;
                if (!err)
                    op->res.done++;
                else if (err == ENOENT)
                    op->res.gone++;
                else {
                    op->res.failed++;
                    if (!op->res.first_error)
                        op->res.first_error = err;
                }
            }
        }
        if (n < NURS_NL_SLOTS)
            break;
    }
    if (!stream_check_end(op))
        return;
    if (s->inflight < STREAM_WINDOW / 2)
        stream_resume(op);
}

static int open_socket(struct nurs_ct_table *t, struct nurs_nl *nl, int rcvbuf, char *err,
                       size_t errlen)
{
    if (nurs_nl_open(nl, NETLINK_NETFILTER, t->netns, err, errlen) < 0)
        return -1;
    nurs_nl_set_rcvbuf(nl, rcvbuf);
    return 0;
}

static size_t build_stream(const struct nurs_ct_request *req, void *buf)
{
    switch (req->op) {
    case NURS_CT_OP_STATS:
        return nurs_ct_req_stats(buf, NURS_CT_STATS_CPU, 1);
    case NURS_CT_OP_EXP_STATS:
        return nurs_ct_req_stats(buf, NURS_CT_STATS_EXP_CPU, 1);
    case NURS_CT_OP_EXP_LIST:
    case NURS_CT_OP_EXP_DELETE_ALL:
        return nurs_exp_req_dump(buf, 0, 1);
    default:
        return nurs_ct_req_dump(buf, &req->spec, req->zero, 1);
    }
}

static int submit_stream(struct nurs_ct_table *t, const struct nurs_ct_request *req, char *err,
                         size_t errlen)
{
    if (t->n_streams >= NURS_CT_TABLE_STREAMS) {
        t->refused++;
        t->res.counters.dropped++;
        snprintf(err, errlen, "%d listings run already", NURS_CT_TABLE_STREAMS);
        errno = EBUSY;
        return -1;
    }
    struct op *op = calloc(1, sizeof *op);
    struct stream *s = op ? calloc(1, sizeof *s) : NULL;
    if (!s || nurs_nl_batch_init(&s->batch) < 0) {
        free(s);
        free(op);
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    op->t = t;
    op->req = *req;
    op->s = s;
    s->dump.fd = s->act.fd = -1;
    bool acts = req->op == NURS_CT_OP_DELETE_ALL || req->op == NURS_CT_OP_UPDATE_ALL ||
                req->op == NURS_CT_OP_EXP_DELETE_ALL;
    _Alignas(4) unsigned char buf[NURS_CT_REQ_MAX];
    size_t len = build_stream(req, buf);
    int rc = open_socket(t, &s->dump, STREAM_RCVBUF, err, errlen);
    if (rc == 0 && acts)
        rc = open_socket(t, &s->act, STREAM_RCVBUF, err, errlen);
    if (rc == 0 && send(s->dump.fd, buf, len, 0) < 0) {
        snprintf(err, errlen, "%s", send_error(errno));
        rc = -1;
    }
    if (rc == 0)
        rc = nurs_source_poll(&t->res, &s->dump_poll, s->dump.fd, on_dump_readable, op, err,
                              errlen);
    if (rc == 0 && acts)
        rc = nurs_source_poll(&t->res, &s->act_poll, s->act.fd, on_act_readable, op, err,
                              errlen);
    op->next = t->streams;
    t->streams = op;
    t->n_streams++;
    if (rc < 0) {
        close_stream(op); /* frees op once its handles are closed; release not called */
        errno = EIO;
        return -1;
    }
    return 0;
}

int nurs_ct_table_submit(struct nurs_ct_table *t, const struct nurs_ct_request *req, char *err,
                         size_t errlen)
{
    if (t->res.closing) {
        snprintf(err, errlen, "the table is closed");
        errno = EBADF;
        return -1;
    }
    t->res.counters.in++;
    if (t->res.host->check_only) {
        if (req->release)
            req->release(req->arg);
        return 0;
    }
    return is_stream(req->op) ? submit_stream(t, req, err, errlen)
                              : submit_single(t, req, err, errlen);
}

/* ---- the resource ---- */

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_ct_table *t = (const struct nurs_ct_table *)r;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"inflight", t->inflight};
    out[n++] = (struct nurs_extra_counter){"streams", t->n_streams};
    out[n++] = (struct nurs_extra_counter){"refused", t->refused};
    out[n++] = (struct nurs_extra_counter){"timeouts", t->timeouts};
    out[n++] = (struct nurs_extra_counter){"not_found", t->not_found};
    out[n++] = (struct nurs_extra_counter){"deleted", t->deleted};
    out[n++] = (struct nurs_extra_counter){"updated", t->updated};
    out[n++] = (struct nurs_extra_counter){"created", t->created};
    out[n++] = (struct nurs_extra_counter){"listed", t->listed};
    return n;
}

static void free_table(void *arg)
{
    struct nurs_ct_table *t = arg;
    nurs_nl_batch_free(&t->batch);
    free(t->slots);
    free(t->netns);
    free(t);
}

/* Requests still running are dropped: their callbacks belong to a script
 * that is going away (release is still called). */
static void destroy(struct nurs_resource *r)
{
    struct nurs_ct_table *t = (struct nurs_ct_table *)r;
    for (unsigned i = 0; t->slots && i < t->cap; i++) {
        struct op *op = t->slots[i];
        if (!op)
            continue;
        t->slots[i] = NULL;
        if (op->req.release)
            op->req.release(op->req.arg);
        free(op);
    }
    t->inflight = 0;
    while (t->streams) {
        struct op *op = t->streams;
        if (op->req.release)
            op->req.release(op->req.arg);
        close_stream(op);
    }
    nurs_closer_begin(&t->closer, free_table, t);
    nurs_closer_close(&t->closer, &t->poll);
    nurs_closer_close(&t->closer, &t->timer);
    nurs_nl_close(&t->nl);
    nurs_closer_end(&t->closer);
}

static const struct nurs_resource_ops table_ops = {
    .kind = "conntrack table",
    .destroy = destroy,
    .extra_counters = extra_counters,
};

struct nurs_ct_table *nurs_ct_table_new(struct nurs_script *s, const struct nurs_ct_table_opts *o,
                                        char *err, size_t errlen)
{
    struct nurs_ct_table *t = calloc(1, sizeof *t);
    unsigned cap = o->inflight ? o->inflight : NURS_CT_TABLE_INFLIGHT;
    if (!t || !(t->slots = calloc(cap, sizeof *t->slots)) || nurs_nl_batch_init(&t->batch) < 0 ||
        (o->netns && !(t->netns = strdup(o->netns)))) {
        if (t)
            free_table(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->cap = cap;
    t->next_seq = 1;
    t->nl.fd = -1;
    t->rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    /* Not adopted on reload: its requests' callbacks are the old script's. */
    if (nurs_resource_init(&t->res, &table_ops, s, o->name ? o->name : "ct", NULL, NULL) < 0) {
        free_table(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (s->host->check_only)
        return t;
    uv_timer_init(s->host->loop, &t->timer);
    t->timer.data = t;
    uv_unref((uv_handle_t *)&t->timer);
    if (open_socket(t, &t->nl, SINGLE_RCVBUF, err, errlen) < 0 ||
        nurs_source_poll(&t->res, &t->poll, t->nl.fd, on_single_readable, t, err, errlen) < 0) {
        nurs_resource_destroy(&t->res);
        return NULL;
    }
    /* An idle table keeps nothing alive. */
    uv_unref((uv_handle_t *)&t->poll);
    return t;
}

struct nurs_ct_table *nurs_ct_table_for(struct nurs_script *s, const char *netns, char *err,
                                        size_t errlen)
{
    for (struct nurs_resource *r = s->host->resources; r; r = r->next) {
        struct nurs_ct_table *t = (struct nurs_ct_table *)r;
        if (r->ops == &table_ops && r->owner == s && !r->closing &&
            ((!netns && !t->netns) || (netns && t->netns && strcmp(netns, t->netns) == 0)))
            return t;
    }
    struct nurs_ct_table_opts o = {.netns = netns, .name = "ct"};
    return nurs_ct_table_new(s, &o, err, errlen);
}
