/* The Lua engine: one Lua state per script, the host's engine ops (make
 * the state, run its top level, close it), and the protected calls every
 * binding makes into Lua. */
#ifndef NURS_BINDINGS_SCRIPT_H
#define NURS_BINDINGS_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "bindings/budget.h"
#include "core/host.h"
#include "core/log.h"

struct nurs_timer;

/* How scripts run (the command line sets them). */
struct nurs_lua_options {
    const char *lua_dir; /* modules besides the built-in ones */
    bool lua_dir_override; /* lua_dir's nurs modules win over the built-in ones */
    uint64_t budget_ns;      /* time budget of each callback and timer (0: none) */
    uint64_t load_budget_ns; /* of a script's top level at load and reload */
    size_t memory_limit;     /* bytes a script's Lua state may hold (0: no limit) */
    bool strict_perms;       /* refuse a script others may change, not only warn */
};

#define NURS_DEFAULT_BUDGET_NS 1000000000ull       /* 1 s */
#define NURS_DEFAULT_LOAD_BUDGET_NS 10000000000ull /* 10 s */
#define NURS_DEFAULT_MEMORY_LIMIT ((size_t)512 << 20)

struct nurs_lua_script {
    struct nurs_script base; /* first: the core's view of it */
    lua_State *L;
    struct nurs_timer *timers;
    uint64_t errors;   /* errors in timer callbacks */
    uint64_t timeouts; /* timer callbacks stopped at their budget */
    size_t mem_used, mem_peak;
    uint64_t mem_refused; /* allocations refused at the memory limit */
    bool exiting;         /* os.exit() was called: no more calls into it */
    struct nurs_ratelimit error_rl;
    /* For calls that run under a time budget (NFQUEUE callbacks); set up
     * on first use (nurs_l_script_budget_init). */
    struct nurs_budget budget;
    bool budget_ready;
};

/* The engine for nurs_host_init(), with o copied. */
const struct nurs_engine *nurs_lua_engine(const struct nurs_lua_options *o);
const struct nurs_lua_options *nurs_lua_options(void);

/* Calls the function below nargs arguments on L (msgh: the message
 * handler's index, 0 for none) under the callback time budget `limit_ns`
 * (0: the default). On an error, logs it (rate-limited by rl, under
 * `context`) and counts it in *errors and, when it was the budget, in
 * *timeouts. Returns true when the call ended well. */
bool nurs_l_call(lua_State *L, int nargs, int msgh, uint64_t limit_ns, struct nurs_ratelimit *rl,
                 const char *context, uint64_t *errors, uint64_t *timeouts);
/* What nurs_l_call does once the protected call failed (error on top). */
bool nurs_l_call_failed(lua_State *L, enum nurs_budget_rc why, struct nurs_ratelimit *rl,
                        const char *context, uint64_t *errors, uint64_t *timeouts);
/* --budget, for the calls on a path taken per record. */
extern uint64_t nurs_l_default_budget_ns;

struct nurs_script *nurs_script_of(lua_State *L);
struct nurs_lua_script *nurs_lua_script_of(lua_State *L);
static inline struct nurs_lua_script *nurs_lua_script(struct nurs_script *s)
{
    return (struct nurs_lua_script *)s;
}

/* Makes the script's budget usable (starts the watchdog thread once per
 * process); -1 (logged) if it cannot be. */
int nurs_l_script_budget_init(struct nurs_lua_script *s);
static inline struct nurs_budget *nurs_l_script_budget(struct nurs_lua_script *s)
{
    return &s->budget;
}

/* The message handler of protected calls: adds a traceback. */
int nurs_l_traceback(lua_State *L);
/* lua_pcall with a traceback message handler. */
int nurs_pcall(lua_State *L, int nargs, int nresults);
/* Logs the error message on top of the stack (rate-limited) and pops it. */
void nurs_log_lua_error(lua_State *L, struct nurs_ratelimit *rl, const char *context);

#endif
