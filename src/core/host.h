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
};

void nurs_host_init(struct nurs_host *h, uv_loop_t *loop, const struct nurs_engine *engine);
/* Loads the script in a new state. On success the new script replaces
 * the running one (adopting resources it declared again); on failure the
 * running one is left as it was and -1 is returned. */
int nurs_host_load(struct nurs_host *h);
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

/* The script on whose behalf code runs now: loading, else current. */
struct nurs_script *nurs_host_active_script(struct nurs_host *h);

void nurs_host_add_flush_hook(struct nurs_host *h, struct nurs_flush_hook *hook);
void nurs_host_remove_flush_hook(struct nurs_host *h, struct nurs_flush_hook *hook);

#endif
