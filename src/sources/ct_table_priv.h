/* Internals shared by the conntrack table (ct_table.c), its one-message
 * requests (ct_table_single.c) and its streams (ct_table_stream.c). */
#ifndef NURS_SOURCES_CT_TABLE_PRIV_H
#define NURS_SOURCES_CT_TABLE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/closer.h"
#include "core/log.h"
#include "netlink/ct_msg.h"
#include "netlink/exp_msg.h"
#include "netlink/socket.h"
#include "sources/ct_table.h"

struct nurs_ct_table;
struct stream;

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

/* ct_table.c: what every request shares */
bool nurs_ct_table_complete(struct nurs_ct_table *t, struct op *op);
struct nurs_record nurs_ct_table_parse_entry(struct nurs_ct_table *t, const struct op *op,
                                             const struct nlmsghdr *nlh, bool from_dump, bool *ok);
/* An entry to the request's callback. */
bool nurs_ct_table_deliver(struct nurs_ct_table *t, struct op *op, struct nurs_record *rec);
/* A statistics answer (counted, or to the request's callback); false
 * when the callback closed the table. */
bool nurs_ct_table_stats_answer(struct nurs_ct_table *t, struct op *op,
                                const struct nlmsghdr *nlh);
/* Whether nlh is an acknowledgement (*is_ack), and its errno. */
int nurs_ct_table_ack_error(const struct nlmsghdr *nlh, bool *is_ack);
int nurs_ct_table_open_socket(struct nurs_ct_table *t, struct nurs_nl *nl, int rcvbuf, char *err,
                              size_t errlen);

/* ct_table_single.c: one-message requests, on the table's socket */
void nurs_ct_table_single_readable(uv_poll_t *poll, int status, int events);
int nurs_ct_table_submit_single(struct nurs_ct_table *t, const struct nurs_ct_request *req,
                                char *err, size_t errlen);

/* ct_table_stream.c: listings, and deletes or updates by filter */
int nurs_ct_table_submit_stream(struct nurs_ct_table *t, const struct nurs_ct_request *req,
                                char *err, size_t errlen);
/* Takes it off the table's list and frees it once its handles are closed
 * (its release is not called). */
void nurs_ct_table_close_stream(struct op *op);

#endif
