/* The conntrack table's streams: a listing (entries, expectations,
 * statistics per CPU), or a delete or update of every entry a filter
 * matches, each on sockets of its own. The listing is read as it comes, a
 * bounded number of entries per wakeup; the per-entry requests of a delete
 * or update go out in batches, a bounded window ahead of their answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "netlink/ct_request.h"
#include "sources/ct_table_priv.h"
#include "sources/source.h"

/* Per-entry requests of a delete or update by filter waiting for their
 * answers at most: the listing pauses until half of them are in. */
#define STREAM_WINDOW 256
/* Entries a stream handles per wakeup before the loop runs the rest, and
 * the time it may take: the kernel deletes or updates entries inside our
 * send(), some 20 us each, so a stream that acts on entries reads one
 * datagram (about 100 entries) at a time and yields after STREAM_SLICE_NS. */
#define ENTRIES_PER_WAKEUP 1024
#define STREAM_SLICE_NS 4000000u
#define STREAM_RCVBUF (1 << 20)

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

static void free_stream_op(void *arg)
{
    struct op *op = arg;
    nurs_nl_batch_free(&op->s->batch);
    free(op->s);
    free(op);
}

void nurs_ct_table_close_stream(struct op *op)
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
    nurs_ct_table_close_stream(op);
    return nurs_ct_table_complete(t, op);
}

static const char *send_error(int e)
{
    return e == EPERM ? "permission denied (needs CAP_NET_ADMIN)" : strerror(e);
}

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
    int err = nurs_ct_table_ack_error(nlh, &is_ack);
    if (nlh->nlmsg_type == NLMSG_DONE || is_ack) {
        if (err)
            op->res.error = err;
        s->dump_done = true;
        return false;
    }
    if (op->req.op == NURS_CT_OP_STATS || op->req.op == NURS_CT_OP_EXP_STATS)
        return nurs_ct_table_stats_answer(t, op, nlh);
    bool ok;
    struct nurs_record rec = nurs_ct_table_parse_entry(t, op, nlh, true, &ok);
    if (!ok)
        return true;
    if (op->req.op == NURS_CT_OP_LIST || op->req.op == NURS_CT_OP_EXP_LIST)
        return nurs_ct_table_deliver(t, op, &rec);
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
                int err = nurs_ct_table_ack_error(nlh, &is_ack);
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

int nurs_ct_table_submit_stream(struct nurs_ct_table *t, const struct nurs_ct_request *req,
                                char *err, size_t errlen)
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
    int rc = nurs_ct_table_open_socket(t, &s->dump, STREAM_RCVBUF, err, errlen);
    if (rc == 0 && acts)
        rc = nurs_ct_table_open_socket(t, &s->act, STREAM_RCVBUF, err, errlen);
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
        /* Frees op once its handles are closed; release not called. */
        nurs_ct_table_close_stream(op);
        errno = EIO;
        return -1;
    }
    return 0;
}
