/* The conntrack table's one-message requests (get, delete, update,
 * create, flush, count): built and sent on the table's socket, a bounded
 * number at a time, their answers matched to them by sequence number; an
 * answer that does not come fails the request after ANSWER_TIMEOUT_MS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "netlink/ct_request.h"
#include "sources/ct_table_priv.h"

/* A one-message request without an answer after this long fails. */
#define ANSWER_TIMEOUT_MS 10000

static void finish_single(struct nurs_ct_table *t, struct op *op)
{
    t->slots[op->seq % t->cap] = NULL;
    if (--t->inflight == 0) {
        uv_timer_stop(&t->timer);
        uv_unref((uv_handle_t *)&t->poll);
    }
    nurs_ct_table_complete(t, op);
    free(op);
}

/* False when a callback closed the table. */
static bool single_message(struct nurs_ct_table *t, const struct nlmsghdr *nlh)
{
    struct op *op = t->slots[nlh->nlmsg_seq % t->cap];
    if (!op || op->seq != nlh->nlmsg_seq)
        return true; /* late: it timed out */
    bool is_ack;
    int err = nurs_ct_table_ack_error(nlh, &is_ack);
    if (is_ack) {
        op->res.error = err;
        finish_single(t, op);
        return !t->res.closing;
    }
    if (op->req.op == NURS_CT_OP_COUNT)
        return nurs_ct_table_stats_answer(t, op, nlh);
    bool ok;
    struct nurs_record rec = nurs_ct_table_parse_entry(t, op, nlh, false, &ok);
    return !ok || nurs_ct_table_deliver(t, op, &rec);
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

void nurs_ct_table_single_readable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct nurs_ct_table *t = poll->data;
    if (status < 0)
        uv_poll_start(poll, UV_READABLE, nurs_ct_table_single_readable);
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

int nurs_ct_table_submit_single(struct nurs_ct_table *t, const struct nurs_ct_request *req,
                                char *err, size_t errlen)
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
