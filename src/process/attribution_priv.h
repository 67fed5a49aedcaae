/* Internals shared by process attribution's engine (attribution.c), its
 * lookups of connection ends (attribution_lookup.c) and its /proc worker
 * (attribution_worker.c). */
#ifndef NURS_PROCESS_ATTRIBUTION_PRIV_H
#define NURS_PROCESS_ATTRIBUTION_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/closer.h"
#include "core/idtable.h"
#include "core/log.h"
#include "netlink/sockdiag.h"
#include "netlink/socket.h"
#include "process/attribution.h"
#include "process/localaddr.h"
#include "process/procscan.h"

#define SEND_BATCH 256      /* requests per datagram: their answers fit the buffer */
#define MAX_LOOKUPS 65536   /* ends being looked up at once; sequence numbers hold the slot */

struct nurs_bpf;
struct timed;
struct watcher;
struct work;

enum stage { S_FREE, S_QUERY, S_RETRY, S_WORKER };

/* A connection end being looked up: a slot of a->lookups. */
struct end_lookup {
    uint32_t id, serial; /* the connection, and which life of its id */
    uint8_t dir;
    uint8_t stage;
    uint8_t tries;
    bool swap;          /* UDP: the kernel reads the request's fields swapped */
    bool swap_checked;  /* the other way round was tried too */
    bool listener;
    uint16_t gen; /* sequence numbers carry it: stale answers are ignored */
    uint32_t next_free;
    uint64_t due_ms; /* retry time, or the deadline of a query */
    struct nurs_sock_key key;
    uint32_t inode, uid;
    /* What the BPF programs saw: the socket's owner, or (looked up with
     * sock_diag first) the owner of the listener it came through. */
    struct nurs_sock_owner *owner;
};

/* Two ways to the worker threads, each with its own /proc reader and one
 * trip at a time: the sockets sock_diag found (a /proc search), and the
 * owners the BPF programs saw (no search: they never wait behind one). */
enum lane { L_SEARCH, L_OWNER, L_COUNT };

/* An entry of the table: the public part, then ours. */
struct conn {
    struct nurs_conn_attr pub;
    uint32_t serial;
};

struct nurs_attribution {
    uv_loop_t *loop;
    char name[64];
    struct nurs_nl nl;
    struct nurs_nl worker_nl; /* the worker's own, to ask whether a socket is still open */
    struct nurs_nl_batch batch;
    uv_timer_t timer;
    uv_check_t check; /* sends what a loop iteration queued */
    struct nurs_localaddr local;
    bool local_open;
    struct nurs_idtable conns;
    uint32_t serial;
    struct end_lookup *lookups;
    uint32_t free_head, in_use;
    unsigned char *sendbuf;
    size_t send_len;
    uint32_t send_idx[SEND_BATCH];
    uint32_t send_n;
    struct timed *timed;
    size_t timed_n, timed_cap;
    struct {
        uint32_t *wait; /* lookups waiting for the worker */
        size_t wait_n, wait_cap;
        struct work *work; /* in flight */
        struct nurs_procscan *scan;
    } lane[L_COUNT];
    struct watcher *watchers;
    size_t n_watchers, cap_watchers;
    uint64_t count[NURS_WHY_COUNT];
    uint64_t not_ready, table_full;
    struct nurs_procscan_stats scan_stats;
    struct nurs_closer closer;
    bool closing;
    bool watch_ready; /* watchers of complete connections wait for the check handle */
    struct nurs_ratelimit rl;
    struct nurs_bpf *bpf;
    uint64_t bpf_found; /* ends attributed from what the BPF programs saw */
};

/* attribution.c */
void nurs_attr_complete(struct nurs_attribution *a, struct end_lookup *l, enum nurs_attr_why why,
                        struct nurs_proc *p);
void nurs_attr_fail(struct nurs_attribution *a, struct end_lookup *l, const char *why);
/* The check handle's callback (nurs_attribution_flush). */
void nurs_attr_on_check(uv_check_t *c);

/* attribution_lookup.c */
/* Starts looking up the socket the direction `dir` is sent from. */
void nurs_attr_begin_end(struct nurs_attribution *a, struct conn *c, struct nurs_ct_msg *m,
                         enum nurs_ct_dir dir, uint8_t proto);
void nurs_attr_lookup_free(struct nurs_attribution *a, struct end_lookup *l);
/* Sends the sock_diag requests queued, and reads their answers. */
void nurs_attr_send(struct nurs_attribution *a);

/* attribution_worker.c */
/* The end's socket (inode and uid from sock_diag), or the owner the BPF
 * programs saw (inode 0), goes to a worker thread to find its process. */
void nurs_attr_to_worker(struct nurs_attribution *a, struct end_lookup *l, uint32_t inode,
                         uint32_t uid);

#endif
