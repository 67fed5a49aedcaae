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

struct nurs_lua_script {
    struct nurs_script base; /* first: the core's view of it */
    lua_State *L;
    struct nurs_timer *timers;
    uint64_t errors; /* errors in timer callbacks */
    struct nurs_ratelimit error_rl;
    /* For calls that run under a time budget (NFQUEUE callbacks); set up
     * on first use (nurs_l_script_budget_init). */
    struct nurs_budget budget;
    bool budget_ready;
};

/* The engine for nurs_host_init(): modules from lua_dir win over the
 * built-in ones when `override`; else lua_dir only adds modules. */
const struct nurs_engine *nurs_lua_engine(const char *lua_dir, bool override);

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
