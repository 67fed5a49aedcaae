/* Process attribution of conntrack connections: which local process owns
 * the socket at each end. At a connection's NEW event (or when a dump
 * first shows it), each end whose source address is local is looked up by
 * its exact addresses and ports: first in what the BPF programs saw of
 * each socket's owner in its system call (process/bpf/, when loaded; the
 * worker only adds names), else with sock_diag, on a socket of its own,
 * answers matched by sequence number on the loop; the socket's inode then
 * goes to a worker thread that finds its process in /proc (procscan.c).
 * The answer is kept, keyed by conntrack id, until the DESTROY event, so
 * that a connection outliving its process is still attributed. Nothing
 * here waits: records delivered before the answer is in read it as nil
 * (counted as not ready). */
#ifndef NURS_PROCESS_ATTRIBUTION_H
#define NURS_PROCESS_ATTRIBUTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/idtable.h"
#include "core/resource.h"
#include "netlink/ct_msg.h"
#include "process/procinfo.h"

struct nurs_attribution;

/* Why an end of a connection has, or has not, a process. */
enum nurs_attr_why {
    NURS_WHY_PENDING,     /* still being looked up */
    NURS_WHY_FOUND,       /* a process holds the socket */
    NURS_WHY_GONE,        /* the socket exists, no process holds it now (uid known) */
    NURS_WHY_NO_SOCKET,   /* a local address but no socket (closed, or the kernel's own) */
    NURS_WHY_REMOTE,      /* not a local address: forwarded, or the far end */
    NURS_WHY_UNSUPPORTED, /* not TCP or UDP */
    NURS_WHY_FAILED,      /* sock_diag refused or did not answer, out of memory */
    NURS_WHY_COUNT
};

/* The ends of one connection: [0] the socket the original direction is
 * sent from (the initiator's), [1] the reply direction's (the responder's). */
struct nurs_conn_attr {
    struct nurs_idtable_head head; /* id: the conntrack id */
    struct nurs_proc *end[2];      /* NULL when none (see why) */
    uint8_t why[2];
    uint8_t pending; /* ends still being looked up */
    bool watched;    /* someone waits for the answer */
};

/* How sockets are found: BPF programs that see each socket's owner in its
 * system call (process/bpf/), else sock_diag and /proc after the fact;
 * auto takes BPF when it can be loaded, and says why not. With BPF,
 * sockets the programs did not see (opened before the daemon started)
 * are still looked up with sock_diag. */
enum nurs_attr_mode { NURS_ATTR_AUTO, NURS_ATTR_BPF, NURS_ATTR_SOCKDIAG };

struct nurs_attribution_opts {
    size_t cmdline_max;     /* bytes of command line kept */
    size_t max_connections; /* connections remembered */
    enum nurs_attr_mode mode;
    uint32_t bpf_ring;    /* bytes of ring buffer (0: the default) */
    uint32_t bpf_sockets; /* socket owners remembered (0: the default) */
};

#define NURS_ATTR_DEFAULT_CMDLINE 256
#define NURS_ATTR_MAX_CMDLINE 4096
#define NURS_ATTR_DEFAULT_CONNECTIONS 262144

/* An engine for the network namespace `netns` (NULL: ours); `name` is the
 * owner's, for logs. NULL on error, with the reason in err. */
struct nurs_attribution *nurs_attribution_new(uv_loop_t *loop, const char *netns,
                                              const struct nurs_attribution_opts *o,
                                              const char *name, char *err, size_t errlen);
/* Frees it once the worker has returned; waiting callbacks are told. */
void nurs_attribution_free(struct nurs_attribution *a);
/* How many engines exist: reading other users' /proc/PID/fd needs
 * CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, kept by --user while one does. */
unsigned nurs_attribution_live(void);

/* The attribution stage of a conntrack record's way to its consumers:
 * while deliver(ctx) runs, the record sees its connection's processes
 * (m->attr); a record new to us starts its connection's attribution when
 * `begin` is set (a NEW event, or a live connection a dump shows first);
 * afterwards a DESTROY ends what is known of the connection. deliver is
 * NULL when no consumer takes the record (it then only starts or ends its
 * connection); it returns false when it closed the engine's owner, and
 * with it the engine. */
void nurs_attribution_stage(struct nurs_attribution *a, struct nurs_ct_msg *m, bool begin,
                            bool (*deliver)(void *ctx), void *ctx);
/* Starts attributing m's connection now (from Lua). False if it cannot
 * be (no id, table full). */
bool nurs_attribution_begin(struct nurs_attribution *a, struct nurs_ct_msg *m);
/* Sends the requests queued by the records of one wakeup. */
void nurs_attribution_flush(struct nurs_attribution *a);

const struct nurs_conn_attr *nurs_attribution_find(const struct nurs_attribution *a,
                                                   uint32_t id);
/* The process at an end of m's connection (dir NURS_CT_ORIG or _REPLY);
 * NULL when not attributed or not yet. */
const struct nurs_proc *nurs_ct_process(const struct nurs_ct_msg *m, enum nurs_ct_dir dir);

/* Calls fn(ctx, c) once the connection's attribution is complete (c the
 * answer; at its DESTROY, what is known if it ended first), or fn(ctx,
 * NULL) if it never will be (the engine goes away,
 * nurs_attribution_unwatch_all). Returns -1 (fn not called) when the
 * connection is unknown or out of memory. */
int nurs_attribution_watch(struct nurs_attribution *a, uint32_t id,
                           void (*fn)(void *ctx, const struct nurs_conn_attr *c), void *ctx);
void nurs_attribution_unwatch_all(struct nurs_attribution *a);

/* The engine's counters (names prefixed "process_"); returns how many. */
/* Those of its counters that are levels, not counts (for a kind's
 * `gauges` list). */
#define NURS_ATTRIBUTION_GAUGES "process_pending", "process_connections"
int nurs_attribution_counters(const struct nurs_attribution *a, struct nurs_extra_counter *out);
#define NURS_ATTR_N_COUNTERS 16

const char *nurs_attr_why_name(enum nurs_attr_why why);

#endif
