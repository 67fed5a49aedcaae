/* Worker loops: N threads, each with its own libuv loop and its own host
 * running the same script (its own engine state), each owning a share of
 * the NFQUEUE queues and NFLOG groups that the script declared with
 * `workers`. The main loop runs the script too, for everything that is
 * not worker-bound (other sources, shared sinks, the metrics endpoint),
 * and speaks for the process: signals reach the workers from it through
 * uv_async, and what the workers must tell it (a stop, counters logged)
 * comes back the same way. Nothing of a worker's host is touched by
 * another thread: the main loop sees a worker's counters as the snapshot
 * the worker publishes (core/snapshot.h), at least once a second. */
#ifndef NURS_CORE_WORKERS_H
#define NURS_CORE_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/snapshot.h"

struct nurs_host;
struct nurs_workers;
struct nurs_worker;

/* Starts main->plan.count worker loops, each loading main's script; 0
 * when every one loaded it, else -1 (logged; those that started are
 * stopped again). */
int nurs_workers_start(struct nurs_host *main);
/* Stops every worker loop (each gives its pending packets their
 * verdicts, flushes and closes its resources, logs its counters), waits
 * for the threads, logs the counters summed over the workers and frees
 * the pool. */
void nurs_workers_stop(struct nurs_host *main);

/* SIGHUP with worker loops: every loop (the main one and each worker)
 * loads the new script; only if every load succeeds do they all switch
 * to it, else each keeps its running script. 0 or -1. */
int nurs_workers_reload(struct nurs_host *main);

/* SIGUSR1: each worker logs its counters; once all have, the main loop
 * logs the sums. */
void nurs_workers_log_counters(struct nurs_host *main);

/* From a worker loop: the script asked the daemon to stop (nurs.stop(),
 * os.exit()) with this exit code. */
void nurs_worker_ask_stop(struct nurs_worker *w, int exit_code);

/* From a worker loop: publish its counters now (at exit). */
void nurs_worker_publish(struct nurs_worker *w);

/* From a worker loop: the ring to the main loop and the tag of the
 * shared sink `name` in it; false when too many sinks are shared. */
struct nurs_channel;
bool nurs_worker_relay(struct nurs_worker *w, const char *name, struct nurs_channel **ring,
                       uint32_t *tag);
/* Records were put in the ring: the main loop drains it soon. */
void nurs_worker_relay_wake(struct nurs_worker *w);

int nurs_workers_count(const struct nurs_host *main);
/* Copies worker id's (1..count) latest published counters into out;
 * false when there is no such worker. */
bool nurs_workers_snapshot(const struct nurs_host *main, int id, struct nurs_host_snap *out);
/* The counters of the resource `name` summed over every worker that has
 * it, with how many do; false when none does. */
bool nurs_workers_sum(const struct nurs_host *main, const char *name, struct nurs_res_snap *out,
                      int *n_workers);

#endif
