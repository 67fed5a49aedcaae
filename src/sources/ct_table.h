/* Acting on the conntrack and expectation tables: get, delete, update,
 * create, flush, count, list, statistics; one entry, or every entry a
 * filter matches (as `conntrack -D -p tcp --dport 993` does). Everything
 * is asynchronous on the loop: one-entry requests share a socket and are
 * matched to their answers by sequence number, a bounded number at a
 * time; each listing (and each delete or update by filter) is a stream of
 * its own, with its own sockets, read as it comes a bounded number of
 * entries per wakeup, its per-entry requests a bounded window ahead of
 * their answers. Results are handed to callbacks (the bindings make Lua
 * calls of them); errors are results (ENOENT for an entry that is gone). */
#ifndef NURS_SOURCES_CT_TABLE_H
#define NURS_SOURCES_CT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/resource.h"
#include "netlink/ct_spec.h"
#include "netlink/ct_stats.h"
#include "records/record.h"

struct nurs_script;
struct nurs_ct_table;

enum nurs_ct_op {
    /* One message each. */
    NURS_CT_OP_GET,
    NURS_CT_OP_DELETE,
    NURS_CT_OP_UPDATE,
    NURS_CT_OP_CREATE,
    NURS_CT_OP_FLUSH,
    NURS_CT_OP_COUNT, /* the whole table: entries and the limit */
    NURS_CT_OP_EXP_GET,
    NURS_CT_OP_EXP_DELETE,
    NURS_CT_OP_EXP_CREATE,
    NURS_CT_OP_EXP_FLUSH,
    /* Streams. */
    NURS_CT_OP_LIST,       /* every entry the filter matches */
    NURS_CT_OP_DELETE_ALL, /* ...deleted */
    NURS_CT_OP_UPDATE_ALL, /* ...updated */
    NURS_CT_OP_STATS,      /* per CPU */
    NURS_CT_OP_EXP_LIST,
    NURS_CT_OP_EXP_DELETE_ALL,
    NURS_CT_OP_EXP_STATS,
};

struct nurs_ct_result {
    int error;         /* 0, or the errno of the request (ENOENT: no such entry) */
    uint64_t matched;  /* entries listed, or matched by the filter */
    uint64_t done;     /* ...deleted or updated */
    uint64_t gone;     /* ...gone before their turn (ENOENT) */
    uint64_t failed;   /* ...refused otherwise */
    int first_error;   /* the errno of the first refused one */
    uint32_t entries, max_entries; /* NURS_CT_OP_COUNT */
};

struct nurs_ct_request {
    enum nurs_ct_op op;
    struct nurs_ct_spec spec;   /* the entry, or the filter */
    struct nurs_ct_spec change; /* update and create: what to set */
    struct nurs_exp_spec exp;   /* expectations: the entry, or the filter */
    bool zero;                  /* listings: reset the counters listed */
    /* Each entry found (get, list): the record lives during the call. */
    void (*on_record)(void *arg, struct nurs_record *rec);
    /* Each statistics answer (stats: one per CPU). */
    void (*on_stats)(void *arg, const struct nurs_ct_stats *st);
    /* Once, when the request is over. */
    void (*on_done)(void *arg, const struct nurs_ct_result *res);
    /* Always, exactly once, last (also when the table closes first). */
    void (*release)(void *arg);
    void *arg;
};

struct nurs_ct_table_opts {
    const char *netns; /* NULL: ours */
    const char *name;
    unsigned inflight; /* one-message requests waiting for answers at most (0: default) */
};

#define NURS_CT_TABLE_INFLIGHT 1024
#define NURS_CT_TABLE_STREAMS 8

struct nurs_ct_table *nurs_ct_table_new(struct nurs_script *s, const struct nurs_ct_table_opts *o,
                                        char *err, size_t errlen);
/* The table a script acts on through its conntrack source in `netns`:
 * made on first use, owned by the script. */
struct nurs_ct_table *nurs_ct_table_for(struct nurs_script *s, const char *netns, char *err,
                                        size_t errlen);
struct nurs_resource *nurs_ct_table_resource(struct nurs_ct_table *t);
struct nurs_ct_table *nurs_ct_table_of(struct nurs_resource *r);

/* Starts a request. Its callbacks run later, from the loop, never during
 * this call. Returns 0, or -1 with errno and err: EINVAL for a request
 * that cannot be built (its release is not called), EBUSY when the bound
 * on requests in flight is reached (counted as refused). */
int nurs_ct_table_submit(struct nurs_ct_table *t, const struct nurs_ct_request *req, char *err,
                         size_t errlen);

#endif
