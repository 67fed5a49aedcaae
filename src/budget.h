/* Lua calls under a time budget. A callback that must not stall the
 * daemon (an NFQUEUE verdict holds a packet in the kernel) runs in a
 * coroutine with a count hook that compares the monotonic clock with a
 * deadline. Past it, the hook yields the coroutine, which no pcall in the
 * script can catch, and the coroutine is abandoned; where a yield is not
 * possible (inside a function that C called, a sort comparator say) it
 * raises an error, again on every check, until control is back where it
 * can yield. */
#ifndef NURS_BUDGET_H
#define NURS_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

/* Instructions between two clock checks: a few microseconds of Lua. */
#define NURS_BUDGET_HOOK_COUNT 1000

struct nurs_budget {
    lua_State *L;  /* the state whose thread co is; NULL: none yet */
    lua_State *co; /* the coroutine callbacks run in, reused while it ends well */
    int ref;       /* keeps co alive in L's registry */
    uint64_t limit_ns;
};

enum nurs_budget_rc {
    NURS_BUDGET_OK,      /* returned; results on the coroutine's stack */
    NURS_BUDGET_ERROR,   /* raised; message with traceback on top of L */
    NURS_BUDGET_TIMEOUT, /* stopped at the deadline; a message on top of L */
};

void nurs_budget_init(struct nurs_budget *b, uint64_t limit_ns);
/* Installs the (idle) hook on L itself, so that coroutines the script
 * makes inherit it and are stopped too when resumed from a callback. */
void nurs_budget_watch_state(lua_State *L);
/* Forgets the coroutine without touching its state: the state is being
 * closed (the script was replaced). */
void nurs_budget_forget(struct nurs_budget *b);
/* Drops the coroutine from L's registry. */
void nurs_budget_release(struct nurs_budget *b);

/* Starts the clock: the calls until the next start share the budget. */
void nurs_budget_start(struct nurs_budget *b);
/* Calls the function in L's registry slot `fnref` with a copy of the value
 * at L index `arg`. On NURS_BUDGET_OK, *co and *nres say where the results
 * are; the caller reads them and calls nurs_budget_done(). */
enum nurs_budget_rc nurs_budget_call(struct nurs_budget *b, lua_State *L, int fnref, int arg,
                                     lua_State **co, int *nres);
void nurs_budget_done(struct nurs_budget *b);
/* Nanoseconds of the budget used since nurs_budget_start(). */
uint64_t nurs_budget_used_ns(void);

#endif
