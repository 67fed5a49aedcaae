/* The conntrack source: ctnetlink events (NEW, UPDATE, DESTROY) and table
 * dumps, delivered to Lua as borrowed records. */
#ifndef NURS_SOURCES_CONNTRACK_H
#define NURS_SOURCES_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/resource.h"
#include "netlink/ct_msg.h"
#include "process/attribution.h"

struct nurs_script;
struct nurs_ct_source;

/* Entries whose mark, masked, is not `mark` never reach Lua. */
struct nurs_ct_filter {
    bool on;
    uint32_t mark, mask;
};

/* How a message reached us. */
enum {
    NURS_CT_FROM_DUMP = 1u << 0,
    NURS_CT_FINAL = 1u << 1, /* the dump at exit */
};

/* What a reloaded script may change on a kept source (plain values: the
 * claim/adopt protocol of core/resource.h copies them). */
struct nurs_ct_settings {
    struct nurs_ct_filter filter;
    bool dump_at_exit, zero_at_exit;
    bool process; /* attribute every connection to its processes */
    /* ms to leave events in the kernel's buffer after the socket is read
     * empty, so that events arriving one by one are read in batches; 0:
     * read at once */
    unsigned batch_wait_ms;
    struct nurs_attribution_opts process_opts;
    /* NETLINK_BROADCAST_ERROR and NETLINK_NO_ENOBUFS: the kernel keeps
     * the DESTROY events it could not deliver and sends them again. */
    bool reliable;
    /* After an overrun, list the table again (at most once per
     * resync_interval_ms): live entries are known again, those that ended
     * unseen are counted as lost flows. */
    bool resync, resync_zero;
    unsigned resync_interval_ms;
};

struct nurs_ct_source_opts {
    bool expect; /* the expectation table (nurs.expect) */
    bool ev_new, ev_update, ev_destroy;
    bool dump; /* list the table at start (a new source only) */
    struct nurs_ct_settings set;
    const char *netns; /* NULL: our own namespace */
    int rcvbuf;        /* bytes; 0: default */
    int rcvbuf_max;    /* bytes; growth limit on overrun */
    const char *name;
    const char *record; /* pcap file for what this source receives; NULL: none */
};

#define NURS_CT_DEFAULT_RCVBUF (16 << 20)
#define NURS_CT_KNOWN_MAX (4u << 20) /* live entries a resyncing source remembers */
#define NURS_CT_DEFAULT_RCVBUF_MAX (64 << 20)

/* A source with the same namespace and events that the running script
 * owns, claimed for the loading one; else a new source. NULL on error,
 * with the reason in err. *adopted says which. */
struct nurs_ct_source *nurs_ct_source_get(struct nurs_script *s,
                                          const struct nurs_ct_source_opts *o, bool *adopted,
                                          char *err, size_t errlen);
struct nurs_resource *nurs_ct_source_resource(struct nurs_ct_source *src);
/* The namespace it listens in (NULL: ours). */
const char *nurs_ct_source_netns(const struct nurs_ct_source *src);
struct nurs_ct_source *nurs_ct_source_of(struct nurs_resource *r);
/* Starts listing the whole table (zero: and reset its counters, so that
 * the next dump reports deltas). Records arrive with event "dump". */
int nurs_ct_source_dump(struct nurs_ct_source *src, bool zero, char *err, size_t errlen);
bool nurs_ct_source_dumping(const struct nurs_ct_source *src);

/* The engine that attributes this source's connections to processes,
 * created with the source's settings on first use (src:attribute() on a
 * source without `process`); NULL with a message in err if it cannot be. */
struct nurs_attribution *nurs_ct_source_attribution(struct nurs_ct_source *src, char *err,
                                                    size_t errlen);

/* How a record is delivered: the filter (may be NULL) leaves some out;
 * with `attr`, records see the attribution of their connection, which
 * starts at their NEW event when `begin` is set. */
struct nurs_ct_delivery {
    const struct nurs_ct_filter *filter;
    struct nurs_attribution *attr;
    bool begin;
    struct nurs_ratelimit *rl;
};

/* Decodes a conntrack message in `scratch` and hands it to r's consumers
 * as a record (live and replayed messages alike). Returns false if the
 * filter left it out. */
bool nurs_ct_deliver(struct nurs_resource *r, struct nurs_ct_msg *scratch,
                     const struct nlmsghdr *nlh, unsigned flags, const struct nurs_ct_delivery *d);

#endif
