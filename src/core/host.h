/* The host owns the event loop side of the daemon: the running script,
 * the one being loaded on SIGHUP, and every resource. */
#ifndef NURS_CORE_HOST_H
#define NURS_CORE_HOST_H

#include <limits.h>
#include <stdbool.h>

#include <lua.h>
#include <uv.h>

#include "core/log.h"
#include "core/resource.h"

struct nurs_timer;
struct nurs_pcap_writer;

#define NURS_MAX_RECORDERS 16

struct nurs_script {
    struct nurs_host *host;
    lua_State *L;
    struct nurs_timer *timers;
    uint64_t errors; /* errors in timer callbacks */
    struct nurs_ratelimit error_rl;
};

struct nurs_host {
    uv_loop_t *loop;
    struct nurs_script *current; /* the script whose callbacks run */
    struct nurs_script *loading; /* the script whose top level is running */
    struct nurs_resource *resources;
    bool check_only;  /* --check: load the script, open nothing */
    bool in_callback; /* inside uv_run: nurs.run() is not re-entrant */
    bool stop_requested;
    bool starting; /* a script's top level is running: no reload now */
    int exit_code;
    const char *script_path;
    int script_argc;
    char **script_argv;
    char lua_dir[PATH_MAX];
    bool lua_dir_override; /* lua_dir's modules win over the built-in ones */
    const char *record_path; /* --record: every source records here */
    struct nurs_pcap_writer *recorders[NURS_MAX_RECORDERS];
    int n_recorders;
};

int nurs_host_init(struct nurs_host *h, uv_loop_t *loop, const char *lua_dir);
/* Loads the script in a new Lua state. On success the new script replaces
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

struct nurs_script *nurs_script_of(lua_State *L);
/* The script on whose behalf Lua code runs now: loading, else current. */
struct nurs_script *nurs_host_active_script(struct nurs_host *h);

/* lua_pcall with a traceback message handler. */
int nurs_pcall(lua_State *L, int nargs, int nresults);
/* Logs the error message on top of the stack (rate-limited) and pops it. */
void nurs_log_lua_error(lua_State *L, struct nurs_ratelimit *rl, const char *context);

#endif
