#include "bindings/budget.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "core/log.h"

/* Coroutines resumed (through our resume) at most, nested; deeper ones
 * are not hooked directly, but their resumers are. */
#define CHAIN_MAX 64
/* Threads that run Lua at once: the main loop and the worker loops. */
#define MAX_WATCHES 256

/* What one thread that runs Lua shares with its signal handler and the
 * watchdog: one budgeted call runs at a time per thread (one loop, one
 * Lua state per thread), so the state is per thread. */
struct watch {
    atomic_bool armed;           /* a budgeted call is running */
    atomic_uint_fast64_t gen;    /* which one */
    atomic_uint_fast64_t deadline_ns;
    atomic_uint_fast64_t limit_ns;
    atomic_uint_fast64_t fire_gen; /* the call the watchdog signalled about */
    atomic_bool expired;         /* the hook saw the deadline pass */
    atomic_int interrupted;      /* a stop signal (SIGTERM...) came during the call */
    uint64_t start_ns;
    pthread_t thread;
    clockid_t cpu; /* the thread's CPU clock */
    /* Coroutines running now, outermost first: only the thread and its
     * signal handler touch them. */
    lua_State *volatile chain[CHAIN_MAX];
    volatile sig_atomic_t chain_len;
    /* The watchdog's own: when it first saw the current call. */
    uint64_t sighted_gen, sight_ns, cpu_at_sight;
    uint_fast64_t stops_seen; /* stop signals already passed on to this call */
};

/* The thread's watch, once it runs Lua (NULL: its calls are unbudgeted). */
static _Thread_local struct watch *me;

/* Shared by every thread and the watchdog. */
static struct {
    /* The watchdog sleeps on `wake` once no call has run for a while, so an
     * idle daemon does not wake up hundreds of times a second; arming a
     * call signals it only then (one futex call per idle spell). */
    atomic_bool idle;
    pthread_mutex_t lock; /* the list of watches; the watchdog's sleep */
    pthread_cond_t wake;
    struct watch *watches[MAX_WATCHES];
    int n_watches;
    atomic_bool started;
    int signo;
    /* SIGTERM/SIGINT so far: the watchdog stops the calls of the other
     * threads that run when one comes. */
    atomic_uint_fast64_t stops;
    atomic_int stop_signo;
} wd = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "1.5 s", "20 ms", "300 us": a budget as a person reads it. */
static void budget_text(uint64_t ns, char *buf, size_t len)
{
    if (ns >= 1000000000u && ns % 1000000u == 0)
        snprintf(buf, len, "%g s", (double)ns / 1e9);
    else if (ns >= 1000000u && ns % 1000u == 0)
        snprintf(buf, len, "%g ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%llu us", (unsigned long long)(ns / 1000u));
}

static bool fired(const struct watch *w)
{
    return atomic_load(&w->armed) && atomic_load(&w->fire_gen) == atomic_load(&w->gen);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct watch *w = me;
    if (!w || !fired(w)) {
        lua_sethook(L, NULL, 0, 0); /* left from an earlier call */
        return;
    }
    int sig = atomic_load(&w->interrupted);
    if (!sig)
        atomic_store(&w->expired, true);
    /* A yield unwinds past every pcall of the script; a coroutine of the
     * script's own only hands control back to its resumer, which is hooked
     * too and yields in turn. Where no yield is possible, an error on
     * every instruction climbs past the script's pcalls one by one. */
    if (lua_isyieldable(L)) {
        lua_yield(L, 0); /* in a hook it returns, and the hook must end here */
        return;
    }
    if (sig)
        luaL_error(L, "interrupted by %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    char limit[32];
    budget_text(atomic_load(&w->limit_ns), limit, sizeof limit);
    luaL_error(L, "time budget of %s exceeded", limit);
}

/* Hooks every coroutine of the running call (signal handler context:
 * lua_sethook is the one Lua function that may be called there). */
static void hook_chain(struct watch *w)
{
    int n = w->chain_len;
    for (int i = 0; i < n && i < CHAIN_MAX; i++)
        lua_sethook(w->chain[i], hook, LUA_MASKCOUNT, 1);
}

/* The watchdog's signal, sent to the thread whose call overran. */
static void on_signal(int signo)
{
    (void)signo;
    struct watch *w = me;
    if (w && fired(w))
        hook_chain(w);
}

/* SIGTERM and SIGINT: libuv's handler only tells the loop, which does not
 * turn while a call runs; this one also stops the call of the thread it
 * runs in, has the watchdog stop those of the other threads, then hands
 * the signal to libuv's. */
static struct sigaction chained[2];
static const int stop_signals[2] = {SIGTERM, SIGINT};

static void interrupt(struct watch *w, int signo)
{
    atomic_store(&w->interrupted, signo);
    atomic_store(&w->fire_gen, atomic_load(&w->gen));
}

static void on_stop_signal(int signo, siginfo_t *info, void *ctx)
{
    int saved_errno = errno;
    struct watch *w = me;
    if (w && atomic_load(&w->armed)) {
        interrupt(w, signo);
        hook_chain(w);
    }
    atomic_store(&wd.stop_signo, signo);
    atomic_fetch_add(&wd.stops, 1);
    const struct sigaction *prev = &chained[signo == SIGINT];
    if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction(signo, info, ctx);
    else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN)
        prev->sa_handler(signo);
    errno = saved_errno;
}

int nurs_budget_watch_stop_signals(void)
{
    for (int i = 0; i < 2; i++) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_stop_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(stop_signals[i], NULL, &old) < 0)
            return -1;
        if (old.sa_flags & SA_SIGINFO && old.sa_sigaction == on_stop_signal)
            continue; /* chained already */
        chained[i] = old;
        if (sigaction(stop_signals[i], &sa, NULL) < 0)
            return -1;
    }
    return 0;
}

int nurs_budget_stop_signal(void)
{
    return atomic_load(&wd.stops) ? atomic_load(&wd.stop_signo) : 0;
}

/* Unarmed for this many checks in a row: sleep until armed. */
#define IDLE_CHECKS 200

static bool any_armed(void)
{
    for (int i = 0; i < wd.n_watches; i++)
        if (atomic_load(&wd.watches[i]->armed))
            return true;
    return false;
}

/* With wd.lock held. */
static void wait_until_armed(void)
{
    /* Dekker-style: we say idle, then look at every armed; arm() sets
     * armed, then looks at idle. Sequentially consistent atomics make at
     * least one of the two see the other, so no call runs unwatched. */
    atomic_store(&wd.idle, true);
    if (any_armed()) {
        atomic_store(&wd.idle, false);
        return;
    }
    while (atomic_load(&wd.idle))
        pthread_cond_wait(&wd.wake, &wd.lock);
}

static void arm(struct watch *w)
{
    atomic_store(&w->armed, true);
    if (atomic_load(&wd.idle)) {
        pthread_mutex_lock(&wd.lock);
        atomic_store(&wd.idle, false);
        pthread_cond_signal(&wd.wake);
        pthread_mutex_unlock(&wd.lock);
    }
}

/* CPU time a thread has used, in ns. */
static uint64_t cpu_ns(const struct watch *w)
{
    struct timespec ts;
    if (clock_gettime(w->cpu, &ts) < 0)
        return UINT64_MAX; /* unknown: judge by the wall clock alone */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Past the deadline, is it the callback's doing? A loop burns CPU; time
 * the thread spent waiting for a CPU on a busy machine is not the
 * script's fault, so the CPU the thread used since the watchdog first saw
 * the call (at most one period after it began) must cover the budget
 * too. A callback that waits inside C uses none: it is stopped at ten
 * times the budget on the wall clock, once control is back in Lua. */
static bool overran(const struct watch *w, uint64_t now, uint64_t deadline, uint64_t limit,
                    uint64_t period)
{
    if (now < deadline)
        return false;
    if (now >= deadline + 9 * limit)
        return true;
    uint64_t cpu = cpu_ns(w);
    return cpu == UINT64_MAX || w->cpu_at_sight == UINT64_MAX ||
           cpu - w->cpu_at_sight + period >= limit;
}

/* Looks at one thread's call; returns how long the watchdog may sleep
 * for it. With wd.lock held: the thread cannot go away meanwhile. */
static uint64_t check(struct watch *w, uint64_t now, uint_fast64_t stops)
{
    uint64_t limit = atomic_load(&w->limit_ns);
    uint64_t period = limit / 2;
    if (period < 200000)
        period = 200000;
    if (period > 5000000)
        period = 5000000;
    if (!atomic_load(&w->armed))
        return period;
    uint64_t gen = atomic_load(&w->gen);
    uint64_t deadline = atomic_load(&w->deadline_ns);
    if (gen != w->sighted_gen) {
        w->sighted_gen = gen;
        w->sight_ns = now;
        w->cpu_at_sight = cpu_ns(w);
        w->stops_seen = stops;
    }
    /* A call that did not read the clock: its budget runs from when
     * the watchdog first saw it (one period late at most). */
    if (deadline == 0)
        deadline = w->sight_ns + limit;
    if (atomic_load(&w->fire_gen) == gen)
        return period;
    if (w->stops_seen != stops) {
        /* SIGTERM or SIGINT came while this thread's call ran. */
        w->stops_seen = stops;
        interrupt(w, atomic_load(&wd.stop_signo));
        pthread_kill(w->thread, wd.signo);
    } else if (overran(w, now, deadline, limit, period)) {
        atomic_store(&w->fire_gen, gen);
        pthread_kill(w->thread, wd.signo);
    } else if (now < deadline && deadline - now < period) {
        period = deadline - now;
    }
    return period;
}

static void *watchdog(void *arg)
{
    (void)arg;
    int unarmed = 0;
    for (;;) {
        pthread_mutex_lock(&wd.lock);
        if (any_armed())
            unarmed = 0;
        else if (++unarmed >= IDLE_CHECKS) {
            wait_until_armed();
            unarmed = 0;
        }
        uint64_t period = 5000000, now = now_ns();
        uint_fast64_t stops = atomic_load(&wd.stops);
        for (int i = 0; i < wd.n_watches; i++) {
            uint64_t p = check(wd.watches[i], now, stops);
            if (p < period)
                period = p;
        }
        pthread_mutex_unlock(&wd.lock);
        struct timespec ts = {.tv_sec = (time_t)(period / 1000000000u),
                              .tv_nsec = (long)(period % 1000000000u)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    return NULL;
}

static int start_thread(void)
{
    pthread_mutex_lock(&wd.lock);
    int rc = 0;
    if (atomic_load(&wd.started))
        goto out;
    wd.signo = SIGRTMIN;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    rc = -1;
    if (sigaction(wd.signo, &sa, NULL) < 0)
        goto out;
    /* The watchdog must not take the daemon's signals. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int created = pthread_create(&t, NULL, watchdog, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (created != 0)
        goto out;
    pthread_detach(t);
    atomic_store(&wd.started, true);
    rc = 0;
out:
    pthread_mutex_unlock(&wd.lock);
    return rc;
}

int nurs_budget_start_watchdog(void)
{
    if (me)
        return 0;
    if (start_thread() < 0)
        return -1;
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->thread = pthread_self();
    if (pthread_getcpuclockid(w->thread, &w->cpu) != 0)
        w->cpu = CLOCK_MONOTONIC; /* then wall time counts as CPU time */
    pthread_mutex_lock(&wd.lock);
    bool room = wd.n_watches < MAX_WATCHES;
    if (room)
        wd.watches[wd.n_watches++] = w;
    pthread_mutex_unlock(&wd.lock);
    if (!room) {
        free(w);
        return -1;
    }
    me = w;
    return 0;
}

void nurs_budget_stop_watching(void)
{
    struct watch *w = me;
    if (!w)
        return;
    pthread_mutex_lock(&wd.lock);
    for (int i = 0; i < wd.n_watches; i++)
        if (wd.watches[i] == w) {
            wd.watches[i] = wd.watches[--wd.n_watches];
            break;
        }
    pthread_mutex_unlock(&wd.lock);
    me = NULL;
    free(w);
}

int nurs_budget_init(struct nurs_budget *b, uint64_t limit_ns)
{
    b->L = NULL;
    b->co = NULL;
    b->ref = LUA_NOREF;
    b->limit_ns = limit_ns;
    if (nurs_budget_start_watchdog() < 0) {
        nurs_err("cannot start the time budget's watchdog thread");
        return -1;
    }
    return 0;
}

void nurs_budget_forget(struct nurs_budget *b)
{
    b->L = NULL;
    b->co = NULL;
    b->ref = LUA_NOREF;
}

void nurs_budget_release(struct nurs_budget *b)
{
    if (b->L)
        luaL_unref(b->L, LUA_REGISTRYINDEX, b->ref);
    nurs_budget_forget(b);
}

void nurs_budget_start(struct nurs_budget *b)
{
    struct watch *w = me;
    w->start_ns = now_ns();
    atomic_store(&w->limit_ns, b->limit_ns);
    atomic_store(&w->deadline_ns, w->start_ns + b->limit_ns);
    atomic_store(&w->expired, false);
    atomic_store(&w->interrupted, 0);
    atomic_fetch_add(&w->gen, 1);
}

static bool ensure_thread(struct nurs_budget *b, lua_State *L)
{
    if (b->L == L && b->co)
        return true;
    if (b->L == L)
        nurs_budget_release(b);
    else
        nurs_budget_forget(b); /* a closed state's thread */
    lua_State *co = lua_newthread(L);
    b->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    b->co = co;
    b->L = L;
    return true;
}

/* The coroutine's error value as a message with the coroutine's traceback,
 * pushed on L. */
static void push_error(lua_State *L, lua_State *co, const char *prefix)
{
    const char *msg = prefix;
    if (!msg) {
        msg = lua_tostring(co, -1);
        if (!msg)
            msg = lua_pushfstring(co, "(error object is a %s value)", luaL_typename(co, -1));
    }
    luaL_traceback(L, co, msg, 0);
}

static bool chain_push(struct watch *w, lua_State *co)
{
    if (!w || w->chain_len >= CHAIN_MAX)
        return false;
    w->chain[w->chain_len] = co;
    w->chain_len = w->chain_len + 1;
    return true;
}

static void chain_pop(struct watch *w, bool pushed)
{
    if (pushed)
        w->chain_len = w->chain_len - 1;
}

enum nurs_budget_rc nurs_budget_call(struct nurs_budget *b, lua_State *L, int fnref, int arg,
                                     lua_State **co, int *nres)
{
    struct watch *w = me;
    arg = lua_absindex(L, arg);
    ensure_thread(b, L);
    lua_State *t = b->co;
    lua_settop(t, 0);
    lua_rawgeti(t, LUA_REGISTRYINDEX, fnref);
    lua_pushvalue(L, arg);
    lua_xmove(L, t, 1);
    int saved_len = w->chain_len;
    w->chain[0] = t;
    w->chain_len = 1;
    arm(w);
    int rc = lua_resume(t, L, 1, nres);
    enum nurs_budget_rc out = NURS_BUDGET_OK;
    bool expired = atomic_load(&w->expired);
    int sig = atomic_load(&w->interrupted);
    if (rc == LUA_YIELD) {
        char msg[96], limit[32];
        budget_text(b->limit_ns, limit, sizeof limit);
        if (sig)
            snprintf(msg, sizeof msg, "callback interrupted by %s",
                     sig == SIGINT ? "SIGINT" : "SIGTERM");
        else if (expired)
            snprintf(msg, sizeof msg, "callback exceeded its time budget of %s", limit);
        else
            snprintf(msg, sizeof msg, "callback yielded (a callback cannot wait)");
        push_error(L, t, msg);
        out = expired ? NURS_BUDGET_TIMEOUT : NURS_BUDGET_ERROR;
    } else if (rc != LUA_OK) {
        push_error(L, t, NULL);
        out = expired ? NURS_BUDGET_TIMEOUT : NURS_BUDGET_ERROR;
    }
    if (out != NURS_BUDGET_OK && sig)
        out = NURS_BUDGET_INTERRUPTED;
    if (out != NURS_BUDGET_OK) {
        /* Close what the coroutine left open (a __close handler that loops
         * is stopped by the hook still armed) and make it usable again. */
        lua_resetthread(t);
        lua_settop(t, 0);
    }
    atomic_store(&w->armed, false);
    lua_sethook(t, NULL, 0, 0);
    w->chain_len = saved_len;
    *co = t;
    return out;
}

void nurs_budget_done(struct nurs_budget *b) { lua_settop(b->co, 0); }

/* No clock read here: one relaxed store per call, the watchdog times the
 * call from when it first sees it. */
static void start_coarse(struct watch *w, uint64_t limit_ns)
{
    atomic_store_explicit(&w->limit_ns, limit_ns, memory_order_relaxed);
    atomic_store_explicit(&w->deadline_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&w->expired, false, memory_order_relaxed);
    atomic_store_explicit(&w->interrupted, 0, memory_order_relaxed);
    atomic_store_explicit(&w->gen, atomic_load_explicit(&w->gen, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

int nurs_budget_pcall(lua_State *L, int nargs, int nresults, int msgh, uint64_t limit_ns,
                      enum nurs_budget_rc *why)
{
    struct watch *w = me;
    *why = NURS_BUDGET_OK;
    if (!limit_ns || !w || atomic_load_explicit(&w->armed, memory_order_relaxed)) {
        /* No budget, or inside a budgeted call already: the outer one
         * watches. */
        int rc = lua_pcall(L, nargs, nresults, msgh);
        if (rc != LUA_OK)
            *why = NURS_BUDGET_ERROR;
        return rc;
    }
    /* The call's chain starts with L alone; the outer one is put back after. */
    int saved_len = w->chain_len;
    w->chain[0] = L;
    w->chain_len = 1;
    start_coarse(w, limit_ns);
    arm(w);
    int rc = lua_pcall(L, nargs, nresults, msgh);
    atomic_store(&w->armed, false);
    if (rc != LUA_OK)
        *why = atomic_load(&w->expired) ? NURS_BUDGET_TIMEOUT
               : atomic_load(&w->interrupted) ? NURS_BUDGET_INTERRUPTED
                                              : NURS_BUDGET_ERROR;
    if (atomic_load_explicit(&w->fire_gen, memory_order_relaxed) ==
        atomic_load_explicit(&w->gen, memory_order_relaxed))
        lua_sethook(L, NULL, 0, 0);
    w->chain_len = saved_len;
    return rc;
}

void nurs_budget_suspend(struct nurs_budget_saved *s)
{
    struct watch *w = me;
    *s = (struct nurs_budget_saved){0};
    if (!w)
        return;
    s->armed = atomic_load(&w->armed);
    s->limit_ns = atomic_load(&w->limit_ns);
    s->chain_len = w->chain_len;
    atomic_store(&w->armed, false);
    w->chain_len = 0;
}

void nurs_budget_resume(const struct nurs_budget_saved *s)
{
    struct watch *w = me;
    if (!w)
        return;
    w->chain_len = s->chain_len;
    if (!s->armed)
        return;
    start_coarse(w, s->limit_ns); /* the wait in between does not count */
    arm(w);
}

bool nurs_budget_ready(void) { return me != NULL; }

bool nurs_budget_watchdog_idle(void) { return atomic_load(&wd.idle); }

/* ---- coroutine.resume and coroutine.wrap that keep the chain ---- */

/* Resumes co with the narg values on top of L; returns the count of
 * results moved to L, or -1 with the error value on top of L. */
static int resume_chained(lua_State *L, lua_State *co, int narg)
{
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    struct watch *w = me;
    bool pushed = chain_push(w, co);
    int nres;
    int status = lua_resume(co, L, narg, &nres);
    chain_pop(w, pushed);
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_xmove(co, L, 1);
        return -1;
    }
    if (!lua_checkstack(L, nres + 1)) {
        lua_pop(co, nres);
        lua_pushliteral(L, "too many results to resume");
        return -1;
    }
    lua_xmove(co, L, nres);
    return nres;
}

static int co_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int n = resume_chained(L, co, lua_gettop(L) - 1);
    if (n < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(n + 1));
    return n + 1;
}

static int co_wrapped(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int n = resume_chained(L, co, lua_gettop(L));
    if (n >= 0)
        return n;
    int status = lua_status(co);
    if (status != LUA_OK && status != LUA_YIELD) {
        /* A dead coroutine: close its variables, as the library's wrap does. */
        lua_resetthread(co);
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, co_wrapped, 1);
    return 1;
}

void nurs_budget_open(lua_State *L)
{
    if (lua_getglobal(L, "coroutine") == LUA_TTABLE) {
        lua_pushcfunction(L, co_resume);
        lua_setfield(L, -2, "resume");
        lua_pushcfunction(L, co_wrap);
        lua_setfield(L, -2, "wrap");
    }
    lua_pop(L, 1);
}
