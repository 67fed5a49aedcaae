/* Sources and sinks are resources: C objects owned by the script that
 * declared them. On reload, a resource that the new script declares again
 * with the same identity (key) is claimed by it while it loads and adopted
 * when the load succeeds, so kernel sockets and exporter state outlive the
 * script; the rest die with the old script.
 *
 * The one claim/adopt protocol lives here. A kind keeps its settings as
 * `struct X_settings cur, next` (plain values: nothing borrowed from the
 * loading script) and names them in its ops: a claim copies what the
 * loading script asks for into `next`; adoption swaps `next` into `cur`
 * and tells the kind (`adopted`) so that it can apply what changed; a
 * failed load leaves `cur` as it was. The consumers (what takes a source's
 * records) follow the same rule: the claimant's list replaces the owner's
 * on adoption. */
#ifndef NURS_CORE_RESOURCE_H
#define NURS_CORE_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

struct nurs_host;
struct nurs_script;
struct nurs_resource;
struct nurs_record; /* records/record.h */

struct nurs_counters {
    uint64_t in;        /* records received (from the kernel, or written to a sink) */
    uint64_t delivered; /* handed to every consumer without error / written out */
    uint64_t errors;    /* consumer (Lua callback) errors, write errors */
    uint64_t overruns;  /* kernel receive-buffer overruns (ENOBUFS) */
    uint64_t dropped;   /* records lost for any other counted reason */
    uint64_t malformed; /* messages that failed to decode */
    uint64_t timeouts;  /* consumer (Lua callback) calls stopped at their time budget */
};

/* What a consumer did with a record. */
enum nurs_take {
    NURS_TAKEN,
    NURS_TAKE_FAILED, /* an error, which the consumer logged */
    NURS_TAKE_LOST,   /* it could not take it: counted as dropped */
};

/* What a source lost before its consumers could see it: kernel overruns
 * (events dropped, how many unknown) and the entries a resync found to
 * have ended inside such a gap. */
struct nurs_loss {
    uint64_t overruns;
    uint64_t flows;
};

/* A consumer takes a source's records: a sink (in C, no Lua call), or a
 * script's function (the bindings make those). */
struct nurs_consumer;
struct nurs_consumer_ops {
    unsigned kinds; /* the record kinds it takes (NURS_RECORD_* bits) */
    enum nurs_take (*take)(struct nurs_consumer *c, struct nurs_resource *from,
                           struct nurs_record *rec);
    /* Optional: frees a consumer that belongs to the list it is in (a
     * script's function), when that list is dropped. Sinks have none. */
    void (*release)(struct nurs_consumer *c);
    /* Optional: the source lost records it will never deliver (an
     * exporter tells its collectors). */
    void (*lost)(struct nurs_consumer *c, struct nurs_resource *from,
                 const struct nurs_loss *loss);
};

struct nurs_consumer {
    const struct nurs_consumer_ops *ops; /* NULL: not a consumer */
};

#define NURS_MAX_CONSUMERS 8

struct nurs_consumers {
    /* NULL: a sink closed since it was added; what it would have taken
     * is counted as dropped. */
    struct nurs_consumer *c[NURS_MAX_CONSUMERS];
    int n;
    /* How long a script's function may take per record (0: the
     * default); set by the script that made the list. */
    uint64_t budget_ns;
};

/* A counter of one kind of resource (an exporter's messages sent, a
 * queue's default verdicts...), shown beside the common ones. */
struct nurs_extra_counter {
    const char *name;
    uint64_t value;
};

#define NURS_MAX_EXTRA_COUNTERS 24

/* A label that places a resource for an operator (the netns it listens
 * in, its NFLOG groups, its collectors), as metrics show it. */
struct nurs_resource_label {
    const char *name;
    char value[256];
};

#define NURS_MAX_RESOURCE_LABELS 4

struct nurs_resource_ops {
    const char *kind;
    /* Flush, close and free; may finish asynchronously (uv_close). */
    void (*destroy)(struct nurs_resource *r);
    void (*flush)(struct nurs_resource *r);  /* optional */
    void (*reopen)(struct nurs_resource *r); /* optional: SIGHUP, log rotation */
    /* Optional: fills out[] with the kind's own counters, returns how many
     * (at most NURS_MAX_EXTRA_COUNTERS). Lua tables and the SIGUSR1 log
     * show them after the common ones. */
    int (*extra_counters)(const struct nurs_resource *r, struct nurs_extra_counter *out);
    /* Optional, NULL-terminated: the extra counters that are levels going
     * up and down (a buffer size, entries held now) rather than counts of
     * events; metrics expose them as gauges. */
    const char *const *gauges;
    /* Optional: fills out[] with r's labels (at most
     * NURS_MAX_RESOURCE_LABELS), returns how many. */
    int (*labels)(const struct nurs_resource *r, struct nurs_resource_label *out);
    /* The settings of the claim/adopt protocol: settings_size bytes at
     * cur_offset and next_offset of the kind's struct (0: none). */
    size_t settings_size, cur_offset, next_offset;
    /* Optional: the claimant loaded and adopted r; `cur` holds its
     * settings now, `next` the ones they replaced. */
    void (*adopted)(struct nurs_resource *r);
    /* Optional: the claimant's load failed; r goes on as it was. */
    void (*given_back)(struct nurs_resource *r);
    /* Optional: the script that declared (or adopted) r has loaded and is
     * now the running one. */
    void (*committed)(struct nurs_resource *r);
    /* Optional: the last work of an orderly exit, before every flush,
     * while scripts still run (a source's final table dump). */
    void (*finish)(struct nurs_resource *r);
    /* Optional: the last word of an orderly exit, after every flush and
     * before the counters are logged (a statsd push of the final counts). */
    void (*report)(struct nurs_resource *r);
    /* Sinks that take records from sources: how (NULL: none). */
    const struct nurs_consumer_ops *consumer;
    /* Optional, sinks that can be shared by worker loops (core/relay.h):
     * writes a record that a worker loop's relay packed. */
    void (*relayed)(struct nurs_resource *r, const void *data, size_t len);
};

struct nurs_resource {
    const struct nurs_resource_ops *ops;
    struct nurs_host *host;
    struct nurs_script *owner;
    struct nurs_script *claimant; /* a script being loaded that declared it again */
    char *key;                    /* identity for adoption; NULL: never adopted */
    char name[64];
    struct nurs_counters counters;
    struct nurs_consumers consumers;       /* the owner's */
    struct nurs_consumers next_consumers;  /* the claimant's, until it is adopted */
    struct nurs_consumer as_consumer;      /* a sink: what sources hold of it */
    bool closing;
    /* Declared by the script but not open in this loop (--check, or a
     * source that lives in other loops: the worker loops' own on the main
     * loop, the main loop's in a worker): it has no counters of its own. */
    bool dormant;
    struct nurs_ratelimit error_rl;
    struct nurs_resource *next;
};

/* In a kind's ops: its settings are the `cur` and `next` members of type. */
#define NURS_SETTINGS_IN(type)                                                                  \
    .settings_size = sizeof(((type *)0)->cur), .cur_offset = offsetof(type, cur),               \
    .next_offset = offsetof(type, next)

/* The sink whose consumer c is (c == &r->as_consumer). */
static inline struct nurs_resource *nurs_resource_of_consumer(struct nurs_consumer *c)
{
    return (struct nurs_resource *)((char *)c - offsetof(struct nurs_resource, as_consumer));
}

/* Links r into the host, `settings` (may be NULL) copied into its `cur`.
 * `name` may be NULL (then kind is used); it is made unique with a
 * numeric suffix. `key` is copied. */
int nurs_resource_init(struct nurs_resource *r, const struct nurs_resource_ops *ops,
                       struct nurs_script *owner, const char *name, const char *key,
                       const void *settings);
/* The resource of ops' kind with `key` owned by the running script that
 * no loading script has claimed yet, claimed now for `script` with
 * `settings` (may be NULL) copied into its `next`; or NULL. */
struct nurs_resource *nurs_resource_claim(struct nurs_script *script,
                                          const struct nurs_resource_ops *ops, const char *key,
                                          const void *settings);
/* The settings in force for `script`: the claimant's while it loads,
 * else the owner's. */
const void *nurs_resource_settings(const struct nurs_resource *r, const struct nurs_script *script);
/* Ends the claims of `script`: adopted (its load succeeded) or given back. */
void nurs_resource_end_claims(struct nurs_host *h, struct nurs_script *script, bool adopted);
/* Gives one claimed resource back to its owner, as it was. */
void nurs_resource_unclaim(struct nurs_resource *r);
/* Unlinks and destroys; sources that had it as a consumer lose it.
 * Safe to call once; later calls are no-ops. */
void nurs_resource_destroy(struct nurs_resource *r);

/* The consumer list that `script` adds to: the claimant's while r is
 * claimed by it, else the owner's. */
struct nurs_consumers *nurs_resource_consumers_of(struct nurs_resource *r,
                                                  const struct nurs_script *script);
/* Adds c; -1 when the list is full. */
int nurs_consumers_add(struct nurs_consumers *list, struct nurs_consumer *c);

/* Hands rec to every consumer of r, in order. Counts delivered, errors
 * and dropped on r. */
void nurs_resource_deliver(struct nurs_resource *r, struct nurs_record *rec);

/* Tells every consumer of r that takes notice what r lost. */
void nurs_resource_report_loss(struct nurs_resource *r, const struct nurs_loss *loss);
/* For labels ops: sets l to name=value and returns 1, or returns 0 when
 * value is NULL or empty (nothing to say). */
int nurs_label_set(struct nurs_resource_label *l, const char *name, const char *value);
/* Appends an item to a comma-separated label value. */
void nurs_label_append(struct nurs_resource_label *l, const char *item);
/* True if `name` is in the kind's list of gauges. */
bool nurs_extra_is_gauge(const struct nurs_resource_ops *ops, const char *name);

/* The common and the kind's own counters, in the order the SIGUSR1 log
 * and Lua tables show them; returns how many (at most
 * 6 + NURS_MAX_EXTRA_COUNTERS). */
#define NURS_MAX_COUNTERS (7 + NURS_MAX_EXTRA_COUNTERS)
int nurs_resource_counters(const struct nurs_resource *r, struct nurs_extra_counter *out);
void nurs_counters_log(const struct nurs_resource *r);
/* Logs "counters NAME SUFFIX: a=1 b=2..." */
void nurs_counters_log_list(const char *name, const char *suffix,
                            const struct nurs_extra_counter *all, int n);

#endif
