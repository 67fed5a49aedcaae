/* The conntrack table as a resource: its socket for one-message
 * requests, what every request shares (results handed over and counted,
 * entries parsed and delivered, statistics and acknowledgements read),
 * and submitting a request to its kind: ct_table_single.c or
 * ct_table_stream.c. */
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
#include "netlink/exp_msg.h"
#include "netlink/socket.h"
#include "sources/ct_table_priv.h"
#include "sources/source.h"

#define SINGLE_RCVBUF (4 << 20)

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
bool nurs_ct_table_complete(struct nurs_ct_table *t, struct op *op)
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

/* ---- delivering entries ---- */

/* Parses an entry of the request's table and checks it against the
 * filter; NULL when it is not one or does not match. */
struct nurs_record nurs_ct_table_parse_entry(struct nurs_ct_table *t, const struct op *op,
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
bool nurs_ct_table_deliver(struct nurs_ct_table *t, struct op *op, struct nurs_record *rec)
{
    op->res.matched++;
    t->listed++;
    if (op->req.on_record) {
        op->req.on_record(op->req.arg, rec);
        nurs_record_end(rec);
    }
    return !t->res.closing;
}

bool nurs_ct_table_stats_answer(struct nurs_ct_table *t, struct op *op,
                                const struct nlmsghdr *nlh)
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

int nurs_ct_table_ack_error(const struct nlmsghdr *nlh, bool *is_ack)
{
    *is_ack = nlh->nlmsg_type == NLMSG_ERROR;
    if (!*is_ack)
        return 0;
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr))
        return EBADMSG;
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
    return -e->error;
}

int nurs_ct_table_open_socket(struct nurs_ct_table *t, struct nurs_nl *nl, int rcvbuf, char *err,
                              size_t errlen)
{
    if (nurs_nl_open(nl, NETLINK_NETFILTER, t->netns, err, errlen) < 0)
        return -1;
    nurs_nl_set_rcvbuf(nl, rcvbuf);
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
    return is_stream(req->op) ? nurs_ct_table_submit_stream(t, req, err, errlen)
                              : nurs_ct_table_submit_single(t, req, err, errlen);
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
        nurs_ct_table_close_stream(op);
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
    if (nurs_ct_table_open_socket(t, &t->nl, SINGLE_RCVBUF, err, errlen) < 0 ||
        nurs_source_poll(&t->res, &t->poll, t->nl.fd, nurs_ct_table_single_readable, t, err,
                         errlen) < 0) {
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
