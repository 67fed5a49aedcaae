/* The NFQUEUE source: packets the kernel queued (nft `queue num N`), each
 * handed to Lua as a record and sent back with a verdict. Every packet
 * gets exactly one verdict: from a callback, or the queue's default one
 * when the script errs, overruns its time budget, gives none, holds a
 * packet too long, is replaced by a reload or the daemon exits.
 *
 * Files: source.c (socket, queue config, receive loop, reload and exit),
 * verdicts.c (sending verdicts, batching, held packets), record.c (the
 * record's fields); the Lua side (nfq_consumer.c of the bindings) calls
 * the script under its time budget and reads its answers. */
#ifndef NURS_SOURCES_NFQUEUE_SOURCE_H
#define NURS_SOURCES_NFQUEUE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/closer.h"
#include "core/log.h"
#include "core/resource.h"
#include "netlink/ifnames.h"
#include "netlink/nfq_msg.h"
#include "netlink/socket.h"

struct nurs_script;

#define NURS_NFQ_MAX_QUEUES 16
#define NURS_NFQ_DEFAULT_RCVBUF (4 << 20)
#define NURS_NFQ_DEFAULT_RCVBUF_MAX (64 << 20)
#define NURS_NFQ_MAX_RANGE 0xfffb /* NFQNL_MAX_COPY_RANGE: 0xffff - NLA_HDRLEN */
/* A receive slot takes the largest packet message: the payload and every
 * attribute that can come with it. */
#define NURS_NFQ_SLOT_SIZE (NURS_NFQ_MAX_RANGE + 8192)

struct nurs_nfq_opts {
    uint16_t queues[NURS_NFQ_MAX_QUEUES];
    int n_queues;
    uint8_t copy_mode;    /* NFQNL_COPY_PACKET or NFQNL_COPY_META */
    uint32_t copy_range;  /* bytes of each packet */
    uint32_t maxlen;      /* kernel queue length; 0: the kernel's default (1024) */
    uint32_t flags;       /* NFQA_CFG_F_* */
    const char *netns;    /* NULL: ours */
    int rcvbuf, rcvbuf_max;
    const char *name;
    const char *record;   /* pcap file for what this source receives */
    struct nurs_nfq_decision deflt; /* the default verdict: accept or drop */
    uint64_t budget_ns;   /* time budget of the callbacks, per packet (the bindings keep it) */
    bool batch;           /* verdicts of one receive batch in one send, ranges batched */
    uint64_t hold_ms;     /* longest a held packet waits for its verdict */
    int hold_max;         /* most packets held at once */
    int workers;          /* the worker loops that share the queues (1: none) */
    bool dormant;         /* declared here, open in other loops (core/workers.h) */
};

/* Why a packet got the default verdict; each has a counter. */
enum nurs_nfq_default_reason {
    NURS_NFQ_DEF_ERROR,     /* a callback raised an error */
    NURS_NFQ_DEF_TIMEOUT,   /* the callbacks overran their time budget */
    NURS_NFQ_DEF_NONE,      /* no callback gave a verdict (or none is registered) */
    NURS_NFQ_DEF_MALFORMED, /* the message could not be decoded */
    NURS_NFQ_DEF_HOLD,      /* held past hold_timeout */
    NURS_NFQ_DEF_RELOAD,    /* held by a script that a reload replaced */
    NURS_NFQ_DEF_EXIT,      /* pending at exit, close or unbind */
    NURS_NFQ_DEF_CONFIG,    /* arrived while the queue was being configured */
    NURS_NFQ_DEF_COUNT
};

/* A decision waiting to be sent (sent at the end of the receive batch). */
struct nurs_nfq_out {
    uint16_t queue;
    uint32_t id;
    struct nurs_nfq_decision d;
};

/* A packet whose verdict the script will give later (rec:hold()). */
struct nurs_nfq_held {
    uint16_t queue;
    uint32_t id;
    bool live; /* false once decided: removed lazily */
    uint64_t deadline_ms;
};

struct nurs_nfq_stats {
    uint64_t verdicts[5]; /* by enum nurs_nfq_verdict (0 drop 1 accept 3 queue 4 repeat) */
    uint64_t defaults[NURS_NFQ_DEF_COUNT];
    uint64_t verdict_msgs, batch_msgs;
    uint64_t kernel_errors; /* verdicts the kernel refused */
    uint64_t send_errors;   /* verdict messages that could not be sent */
    uint64_t ctmark_ignored; /* verdicts with a ctmark this kernel cannot apply */
};

/* The packet a callback is looking at (a record refers to it). */
struct nurs_nfq_packet {
    struct nurs_nfq_source *src;
    const struct nurs_nfq_msg *msg;
    bool decided; /* a verdict was issued, or the packet is held */
    bool held;
};

struct nurs_nfq_source {
    struct nurs_resource res; /* first: the resource is the source */
    /* As configured, and what a reloaded script asks for (the claim/adopt
     * protocol of core/resource.h); string options are not kept. */
    struct nurs_nfq_opts cur, next;
    struct nurs_nl nl;
    struct nurs_ifnames ifnames; /* names in the queue's namespace */
    uv_poll_t poll;
    uv_timer_t hold_timer;
    struct nurs_closer closer;
    char *netns;
    struct nurs_nl_batch batch;
    struct nurs_nfq_msg msg;
    /* decisions not sent yet */
    struct nurs_nfq_out *out;
    int n_out, cap_out;
    /* held packets, in the order they were held (so by deadline) */
    struct nurs_nfq_held *held;
    int held_head, n_held, cap_held, live_held;
    struct nurs_nfq_stats st;
    struct nurs_ratelimit overrun_rl, malformed_rl, kernel_rl, default_rl;
    struct nurs_pcap_writer *recorder;
    bool ct_glue;                /* the kernel takes conntrack marks with verdicts */
    int n_bound;                 /* queues bound so far (cur.queues[0..n_bound)) */
    /* where the receive loop is, for a close from inside a callback */
    struct nurs_nfq_packet *packet;
    bool in_batch;
    int batch_next, batch_n;
};

/* A source bound to the same queues in the same namespace that the running
 * script owns, claimed for the loading one (its settings updated); else a
 * new one. NULL on error, with the reason in err. */
struct nurs_nfq_source *nurs_nfq_source_get(struct nurs_script *s, const struct nurs_nfq_opts *o,
                                            bool *adopted, char *err, size_t errlen);

/* ---- nfq_verdicts.c ---- */

/* Queues one verdict (sent at once unless in batch mode). */
void nurs_nfq_issue(struct nurs_nfq_source *s, uint16_t queue, uint32_t id,
                    const struct nurs_nfq_decision *d);
/* The default verdict, counted under `why`. */
void nurs_nfq_issue_default(struct nurs_nfq_source *s, uint16_t queue, uint32_t id,
                            enum nurs_nfq_default_reason why);
/* Sends every queued verdict. */
void nurs_nfq_flush(struct nurs_nfq_source *s);

/* A ticket names a held packet: queue number and packet id in one integer. */
static inline int64_t nurs_nfq_ticket(uint16_t queue, uint32_t id)
{
    return ((int64_t)queue << 32) | id;
}
/* Holds a packet; -1 with a message when hold_max packets are held. */
int nurs_nfq_hold(struct nurs_nfq_source *s, uint16_t queue, uint32_t id, char *err,
                  size_t errlen);
/* Decides a held packet; false if the ticket is not held (any more). */
bool nurs_nfq_release(struct nurs_nfq_source *s, int64_t ticket,
                      const struct nurs_nfq_decision *d);
/* Gives every held packet the default verdict, counted under `why`. */
void nurs_nfq_release_all(struct nurs_nfq_source *s, enum nurs_nfq_default_reason why);
/* Default verdicts for packets held past their deadline; re-arms the timer. */
void nurs_nfq_expire_held(struct nurs_nfq_source *s);
/* Calls fn for each held ticket in order. */
void nurs_nfq_each_held(const struct nurs_nfq_source *s, void (*fn)(void *ctx, int64_t ticket),
                        void *ctx);
void nurs_nfq_verdicts_free(struct nurs_nfq_source *s);
int nurs_nfq_extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out);

/* Hands one decoded packet to the consumers, in order until one decides
 * it, and issues the default verdict when none does. */
void nurs_nfq_dispatch(struct nurs_nfq_source *s, const struct nurs_nfq_msg *m);

#endif
