/* Sources and sinks are resources: C objects owned by the script (Lua
 * state) that declared them. On reload, a resource that the new script
 * declares again with the same identity (key) is claimed by it while it
 * loads and adopted when the load succeeds, so kernel sockets and exporter
 * state outlive the Lua state; the rest die with the old script. */
#ifndef NURS_CORE_RESOURCE_H
#define NURS_CORE_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "core/log.h"

struct nurs_host;
struct nurs_script;
struct nurs_resource;
struct nurs_ct_msg;
struct nurs_l_handle;

struct nurs_counters {
    uint64_t in;        /* records received (from the kernel, or written to a sink) */
    uint64_t delivered; /* handed to every callback without error / written out */
    uint64_t errors;    /* Lua callback errors, write errors */
    uint64_t overruns;  /* kernel receive-buffer overruns (ENOBUFS) */
    uint64_t dropped;   /* records lost for any other counted reason */
    uint64_t malformed; /* messages that failed to decode */
};

#define NURS_MAX_CALLBACKS 8

/* Callbacks registered on a resource, as registry refs in L: Lua
 * functions, or sinks that take conntrack entries in C (sinks[i] set), so
 * that a script passing records straight on costs no Lua call. */
struct nurs_callbacks {
    lua_State *L;
    int refs[NURS_MAX_CALLBACKS];
    struct nurs_l_handle *sinks[NURS_MAX_CALLBACKS];
    int n;
    int n_functions;
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
    /* Optional: the script that declared (or adopted) r has loaded and is
     * now the running one. */
    void (*committed)(struct nurs_resource *r);
    /* Optional: a script that claimed r while loading either adopted it
     * (its load succeeded) or gave it back; settings the new script asked
     * for apply, or are forgotten, here. */
    void (*claim_end)(struct nurs_resource *r, bool adopted);
    /* Optional: the last work of an orderly exit, before every flush,
     * while scripts still run (a source's final table dump). */
    void (*finish)(struct nurs_resource *r);
    /* Optional, sinks: takes one conntrack entry, as the sink's Lua write
     * method would; such a sink can be a conntrack source's callback. */
    void (*take_ct)(struct nurs_resource *r, struct nurs_ct_msg *m);
};

struct nurs_resource {
    const struct nurs_resource_ops *ops;
    struct nurs_host *host;
    struct nurs_script *owner;
    struct nurs_script *claimant; /* a script being loaded that declared it again */
    char *key;                    /* identity for adoption; NULL: never adopted */
    char name[64];
    struct nurs_counters counters;
    struct nurs_callbacks cb;         /* the owner's callbacks */
    struct nurs_callbacks pending_cb; /* the claimant's, until it commits */
    bool closing;
    struct nurs_ratelimit error_rl;
    struct nurs_resource *next;
};

/* Links r into the host. `name` may be NULL (then kind is used); it is
 * made unique with a numeric suffix. `key` is copied. */
int nurs_resource_init(struct nurs_resource *r, const struct nurs_resource_ops *ops,
                       struct nurs_script *owner, const char *name, const char *key);
/* The resource of `kind` with `key` owned by the running script that no
 * loading script has claimed yet, claimed now for `script`; or NULL. */
struct nurs_resource *nurs_resource_claim(struct nurs_script *script, const char *kind,
                                          const char *key);
/* Gives a claimed resource back to its owner, as it was. */
void nurs_resource_unclaim(struct nurs_resource *r);
/* Unlinks and destroys. Safe to call once; later calls are no-ops. */
void nurs_resource_destroy(struct nurs_resource *r);

/* Adds the function at idx, or the sink handle at idx (one with a take_ct
 * op; the caller has checked which it is), to the callbacks that the script
 * running in L has on r (the pending set while r is only claimed). Raises a
 * Lua error when full. */
void nurs_resource_add_callback(struct nurs_resource *r, lua_State *L, int idx);

/* Calls every callback of r: functions with the value on top of the stack
 * (pushed by the caller when r->cb.n_functions, and left there), sinks with
 * m. Counts delivered and errors; errors are logged with their traceback,
 * rate-limited. */
void nurs_resource_dispatch(struct nurs_resource *r, struct nurs_ct_msg *m);

/* For labels ops: sets l to name=value and returns 1, or returns 0 when
 * value is NULL or empty (nothing to say). */
int nurs_label_set(struct nurs_resource_label *l, const char *name, const char *value);
/* Appends an item to a comma-separated label value. */
void nurs_label_append(struct nurs_resource_label *l, const char *item);
/* True if `name` is in r's kind's list of gauges. */
bool nurs_extra_is_gauge(const struct nurs_resource *r, const char *name);

/* Pushes a table of r's counters, its kind's own ones included. */
void nurs_counters_push(lua_State *L, const struct nurs_resource *r);
void nurs_counters_log(const struct nurs_resource *r);

#endif
