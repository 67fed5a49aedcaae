/* The host owns the event loop side of the daemon: the running script,
 * the one being loaded on SIGHUP, and every resource. Scripts are run by
 * an engine (the Lua bindings) that the host knows only by its ops. */
#ifndef NURS_CORE_HOST_H
#define NURS_CORE_HOST_H

#include <stdbool.h>

#include <uv.h>

#include "core/log.h"
#include "core/resource.h"

struct nurs_host;

/* One loaded script as the core sees it; the engine embeds it in its own
 * state. */
struct nurs_script {
    struct nurs_host *host;
};

struct nurs_engine {
    /* A new script state for h->script_path; NULL (logged) on failure. */
    struct nurs_script *(*create)(struct nurs_host *h);
    /* Runs the script's top level: 0, or -1 (logged). */
    int (*run)(struct nurs_script *s);
    /* Frees a script whose resources are gone (its timers, its state). */
    void (*close)(struct nurs_script *s);
    /* Optional: logs the script's own counters (SIGUSR1, exit). */
    void (*log_counters)(const struct nurs_script *s);
    /* Optional: the same counters, for metrics; returns how many (at most
     * NURS_MAX_EXTRA_COUNTERS). */
    int (*counters)(const struct nurs_script *s, struct nurs_extra_counter *out);
    /* Optional: a worker loop's thread ends (what the engine keeps per
     * thread goes). */
    void (*thread_end)(void);
};

/* The worker loops a script asks for (core/workers.h): the largest
 * `workers` of its sources, and where to pin them. */
#define NURS_MAX_WORKERS 256
struct nurs_worker_plan {
    int count;                  /* 0 or 1: none, everything on the main loop */
    int cpus[NURS_MAX_WORKERS]; /* worker i on CPU cpus[(i - 1) % n_cpus] */
    int n_cpus;                 /* 0: not pinned */
};

/* Something besides resources that a flush must reach (record files). */
struct nurs_flush_hook {
    void (*flush)(struct nurs_flush_hook *hook);
    struct nurs_flush_hook *next;
};

struct nurs_host {
    uv_loop_t *loop;
    const struct nurs_engine *engine;
    struct nurs_script *current; /* the script whose callbacks run */
    struct nurs_script *loading; /* the script whose top level is running */
    struct nurs_resource *resources;
    struct nurs_flush_hook *flush_hooks;
    bool check_only;  /* --check: load the script, open nothing */
    bool in_callback; /* inside uv_run: nurs.run() is not re-entrant */
    bool stop_requested;
    bool starting; /* a script's top level is running: no reload now */
    int exit_code;
    const char *script_path;
    int script_argc;
    char **script_argv;
    const char *record_path; /* --record: every source records here */
    /* Worker loops (core/workers.h). On the main loop: the running
     * script's plan, the loading one's, and the pool once started. In a
     * worker loop: which one it is (worker_id 1..worker_count; 0 on the
     * main loop). */
    struct nurs_worker_plan plan, next_plan;
    struct nurs_workers *workers;
    struct nurs_worker *worker;
    int worker_id, worker_count;
    uint64_t load_wait_ms; /* longest wait for worker loops to load a script */
};

void nurs_host_init(struct nurs_host *h, uv_loop_t *loop, const struct nurs_engine *engine);
/* Loads the script in a new state. On success the new script replaces
 * the running one (adopting resources it declared again); on failure the
 * running one is left as it was and -1 is returned. */
int nurs_host_load(struct nurs_host *h);
/* The two halves of a load, for reloads that must succeed in every loop
 * or in none: runs the new script's top level (0: it waits as `loading`,
 * -1: it failed and is gone), then keeps it (commit) or drops it. */
int nurs_host_prepare(struct nurs_host *h);
void nurs_host_settle(struct nurs_host *h, bool keep);
/* Makes the loading script the current one now (nurs.run() from a
 * script's top level). Only for the first load. */
int nurs_host_commit_early(struct nurs_host *h);
/* SIGHUP: loads the script again and reopens files. Returns 0, or -1 if
 * the new script failed and the running one goes on. */
int nurs_host_reload(struct nurs_host *h);
void nurs_host_reopen(struct nurs_host *h);
void nurs_host_flush(struct nurs_host *h);
void nurs_host_log_counters(struct nurs_host *h);
/* Flushes and destroys everything; runs the loop until handles closed. */
void nurs_host_shutdown(struct nurs_host *h);
void nurs_host_stop(struct nurs_host *h);

/* The plan of the script being loaded (the running one's otherwise). */
struct nurs_worker_plan *nurs_host_plan(struct nurs_host *h);
/* Starts the worker loops the running script planned (none planned: 0);
 * -1 (logged) when one of them fails to load it. */
int nurs_host_start_workers(struct nurs_host *h);

/* The script on whose behalf code runs now: loading, else current. */
struct nurs_script *nurs_host_active_script(struct nurs_host *h);

void nurs_host_add_flush_hook(struct nurs_host *h, struct nurs_flush_hook *hook);
void nurs_host_remove_flush_hook(struct nurs_host *h, struct nurs_flush_hook *hook);

#endif
