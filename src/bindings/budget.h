/* Lua calls under a time budget. A callback that must not stall the
 * daemon (an NFQUEUE verdict holds a packet in the kernel) runs in a
 * coroutine of its own, and nothing watches it while it is quick: no hook
 * is set, so the Lua VM runs at full speed. A watchdog thread compares the
 * monotonic clock with the callback's deadline (and checks that the
 * daemon's thread used that much CPU, so that preemption on a busy machine
 * does not count against the script); past it, it signals the
 * daemon's thread, whose handler sets a count hook (as lua.c does for
 * Ctrl-C) on the callback's coroutine and on every coroutine it resumed.
 * The hook yields, which unwinds past any pcall of the script, and the
 * callback's coroutine is abandoned; where a yield is impossible (inside
 * a function that C called: a sort comparator, a gsub replacement) the
 * hook raises an error instead, on every instruction, until control is
 * back where it can yield. The resume and wrap functions of the
 * coroutine library are replaced so that the handler knows which
 * coroutines are running; what runs inside C (a blocking read, a huge
 * pattern match) cannot be interrupted. Each thread that runs Lua (the
 * main loop, each worker loop) has its own record of the call it runs;
 * the one watchdog looks at all of them and signals the thread whose
 * call overran (pthread_kill). */
#ifndef NURS_BINDINGS_BUDGET_H
#define NURS_BINDINGS_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

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
    NURS_BUDGET_INTERRUPTED, /* stopped by SIGTERM or SIGINT; a message on top of L */
};

/* Replaces coroutine.resume and coroutine.wrap in L with versions that
 * tell the watchdog which coroutines run (same behaviour otherwise). For
 * every new Lua state, before the script runs. */
void nurs_budget_open(lua_State *L);

/* Starts the watchdog (once per process); -1 if it cannot. */
int nurs_budget_init(struct nurs_budget *b, uint64_t limit_ns);
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
/* True while the watchdog sleeps for want of calls (tests). */
bool nurs_budget_watchdog_idle(void);

/* Starts the watchdog (once per process) and has it watch the calling
 * thread's budgeted calls (every thread that runs Lua: the main loop's
 * and each worker loop's); -1 if it cannot. */
int nurs_budget_start_watchdog(void);
/* The calling thread is watched. */
bool nurs_budget_ready(void);
/* The calling thread ends: the watchdog forgets it. */
void nurs_budget_stop_watching(void);
/* From then on, SIGTERM and SIGINT also stop the budgeted calls that run
 * (with an error saying so): the one of the thread that takes the signal
 * at once, those of the other threads through the watchdog, before the
 * handlers installed until then (libuv's) run. Call it after those are
 * installed. */
int nurs_budget_watch_stop_signals(void);
/* The last SIGTERM or SIGINT those handlers saw, 0 if none. */
int nurs_budget_stop_signal(void);

/* lua_pcall(L, nargs, nresults, msgh) under a time budget of limit_ns (0:
 * none). Nothing watches the call while it is quick: the watchdog times
 * it from when it first sees it (at most a period late) and, past the
 * budget, makes every instruction raise an error until the call returns;
 * SIGTERM and SIGINT do the same at once. *why says what ended it. Inside
 * another budgeted call it is a plain lua_pcall: the outer budget
 * watches. */
int nurs_budget_pcall(lua_State *L, int nargs, int nresults, int msgh, uint64_t limit_ns,
                      enum nurs_budget_rc *why);

/* A budgeted call that runs the loop (nurs.run() from a script's top
 * level) puts its budget aside while the loop's callbacks run theirs. */
struct nurs_budget_saved {
    bool armed;
    uint64_t limit_ns;
    int chain_len;
};
void nurs_budget_suspend(struct nurs_budget_saved *s);
void nurs_budget_resume(const struct nurs_budget_saved *s);

#endif
