/* Internals shared by the conntrack source (conntrack.c), its reading of
 * events and listings (conntrack_read.c) and its listings (conntrack_dump.c). */
#ifndef NURS_SOURCES_CONNTRACK_PRIV_H
#define NURS_SOURCES_CONNTRACK_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/closer.h"
#include "core/log.h"
#include "netlink/ct_msg.h"
#include "netlink/exp_msg.h"
#include "netlink/socket.h"
#include "sources/conntrack.h"
#include "sources/ct_known.h"

struct nurs_pcap_writer;

/* A socket and its poll handle. The events channel lives as long as the
 * source; a dump channel lives for one dump and frees itself once libuv
 * has closed its handle, so that the next dump need not wait for it. */
struct channel {
    struct nurs_nl nl;
    uv_poll_t poll;
    bool deliver; /* a dump's entries reach the consumers (else they are only known) */
    bool resync;  /* a dump after an overrun */
};

/* How long a resync waits after its listing before it judges the entries
 * it did not show lost (their DESTROY may still be on its way). */
#define NURS_CT_JUDGE_GRACE_MS 250

struct nurs_ct_source {
    struct nurs_resource res; /* first: the resource is the source */
    struct nurs_ct_settings cur, next;
    struct channel events;
    struct channel *dump; /* NULL: no dump running */
    uint32_t dump_seq;
    struct nurs_closer closer;
    char *netns;
    struct nurs_nl_batch batch;
    struct nurs_ct_msg msg;
    struct nurs_ratelimit overrun_rl;
    struct nurs_ratelimit malformed_rl;
    struct nurs_pcap_writer *recorder;
    uint64_t filtered;
    struct nurs_attribution *attr;
    uv_timer_t wait_timer; /* ends a batch wait: the events are read again */
    uint64_t reads; /* receive rounds on the events socket that got datagrams */
    bool deliver_new; /* the script asked for NEW events (else they only start attribution) */
    bool joined_new;  /* member of the NEW events group */
    bool expect;      /* the expectation table */
    struct nurs_exp_msg exp;
    /* Resync: the entries known alive. */
    struct nurs_ct_known known;
    bool known_on;
    bool resync_due; /* an overrun waits for its resync */
    /* The events socket was read empty since the last overrun: the kernel
     * reports drops again (while a socket is congested it drops events
     * without a new ENOBUFS, so a resync listing before that could miss
     * the end of an entry it listed). */
    bool drained;
    uint64_t last_resync_ms;
    uv_timer_t resync_timer;
    /* A resync listing has ended: the known entries it did not show are
     * judged lost only after a grace, for the kernel may send an entry's
     * DESTROY a little after the listing skipped the dying entry. */
    bool judging;
    uv_timer_t judge_timer;
    uint64_t resyncs, lost_flows;
};

/* conntrack_read.c: the sockets read, their records delivered */
struct nurs_ct_delivery nurs_ct_live_delivery(struct nurs_ct_source *s, bool final);
/* Polls c's socket (the events, or a dump's). */
int nurs_ct_start_channel(struct nurs_ct_source *s, struct channel *c, char *err, size_t errlen);
bool nurs_ct_read_channel(struct nurs_ct_source *s, struct channel *c, bool from_dump);

/* conntrack_dump.c: the listings */
/* Lists the table on a channel of its own: its entries are delivered, or
 * only learned (a resync's first listing) without `deliver`. */
int nurs_ct_start_dump(struct nurs_ct_source *s, bool zero, bool deliver, bool resync, char *err,
                       size_t errlen);
/* The listing is over: complete (failure NULL) or not. */
void nurs_ct_finish_dump(struct nurs_ct_source *s, const char *failure);
void nurs_ct_close_dump(struct nurs_ct_source *s);
void nurs_ct_start_resync(struct nurs_ct_source *s);
/* Counts the known entries the last resync listing did not show, and
 * whose DESTROY has not come since, as lost flows. */
void nurs_ct_judge_resync(struct nurs_ct_source *s);
/* The resource's finish op: events left waiting are read, then the dump
 * at exit. */
void nurs_ct_source_finish(struct nurs_resource *r);

#endif
