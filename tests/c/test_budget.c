/* The time budget against the ways a script can spin: a plain loop, one
 * that catches the budget's errors with pcall, loops in coroutines made
 * before and during the call, a sort comparator (where no yield is
 * possible); and what a quick, an erring and a yielding callback get. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "bindings/budget.h"
#include "tap.h"

#define LIMIT_MS 20

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int ref_of(lua_State *L, const char *name)
{
    lua_getglobal(L, name);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

static enum nurs_budget_rc call(struct nurs_budget *b, lua_State *L, const char *name,
                                double *ms, char *msg, size_t len)
{
    int ref = ref_of(L, name);
    lua_pushinteger(L, 7);
    double t0 = now_ms();
    nurs_budget_start(b);
    lua_State *co;
    int nres;
    enum nurs_budget_rc rc = nurs_budget_call(b, L, ref, -1, &co, &nres);
    *ms = now_ms() - t0;
    *msg = '\0';
    if (rc == NURS_BUDGET_OK) {
        snprintf(msg, len, "%s", nres > 0 && lua_tostring(co, -nres) ? lua_tostring(co, -nres) : "");
        nurs_budget_done(b);
    } else {
        snprintf(msg, len, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return rc;
}

static const char script[] =
    "local spin = coroutine.wrap(function() while true do end end)\n"
    "function quick(x) return 'got ' .. x end\n"
    "function plain() while true do end end\n"
    "function caught() while true do pcall(function() while true do end end) end end\n"
    "function old_coroutine() spin() return 'escaped' end\n"
    "function new_coroutine()\n"
    "  local co = coroutine.create(function() while true do pcall(error, 'x') end end)\n"
    "  while true do coroutine.resume(co) end\n"
    "end\n"
    "function sorting()\n"
    "  while true do pcall(table.sort, {3, 2, 1}, function(a, b) while true do end end) end\n"
    "end\n"
    "function waiting() while true do os.execute('sleep 0.01') end end\n"
    "function erring(x) error('bad ' .. x) end\n"
    "function yielding() coroutine.yield(1) end\n";

/* The budget of every other callback: a protected call, no coroutine. */
static enum nurs_budget_rc pcall_budgeted(lua_State *L, const char *name, double *ms, char *msg,
                                          size_t len)
{
    lua_getglobal(L, name);
    lua_pushinteger(L, 7);
    double t0 = now_ms();
    enum nurs_budget_rc why;
    int rc = nurs_budget_pcall(L, 1, 1, 0, LIMIT_MS * 1000000ull, &why);
    *ms = now_ms() - t0;
    snprintf(msg, len, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    return rc == LUA_OK ? NURS_BUDGET_OK : why;
}

static void test_pcall_mode(lua_State *L)
{
    char msg[1024];
    double ms;
    tap_ok(pcall_budgeted(L, "quick", &ms, msg, sizeof msg) == NURS_BUDGET_OK &&
               strcmp(msg, "got 7") == 0,
           "protected call: a quick function returns its result");
    static const char *const spinners[] = {"plain", "caught", "old_coroutine", "new_coroutine",
                                           "sorting"};
    for (size_t i = 0; i < sizeof spinners / sizeof *spinners; i++) {
        enum nurs_budget_rc rc = pcall_budgeted(L, spinners[i], &ms, msg, sizeof msg);
        tap_ok(rc == NURS_BUDGET_TIMEOUT && strstr(msg, "time budget of 20 ms exceeded"),
               "protected call, %s: stopped at the budget (%s)", spinners[i], msg);
        /* Timed from when the watchdog first sees it: a period late at most. */
        tap_ok(ms < 10 * LIMIT_MS + 300, "protected call, %s: within %.0f ms", spinners[i], ms);
        tap_ok(pcall_budgeted(L, "quick", &ms, msg, sizeof msg) == NURS_BUDGET_OK,
               "protected call, %s: the next call runs normally", spinners[i]);
    }
    tap_ok(pcall_budgeted(L, "erring", &ms, msg, sizeof msg) == NURS_BUDGET_ERROR &&
               strstr(msg, "bad 7"),
           "protected call: an error is an error");
}

static void *send_sigterm(void *arg)
{
    struct timespec t = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
    nanosleep(&t, NULL);
    kill(getpid(), SIGTERM);
    (void)arg;
    return NULL;
}

static volatile sig_atomic_t previous_handler_ran;
static void previous_handler(int signo) { previous_handler_ran = signo; }

/* SIGTERM stops a call that the budget would let run for a minute, and
 * the handler installed before (libuv's, in the daemon) still runs. */
static void test_stop_signal(lua_State *L)
{
    signal(SIGTERM, previous_handler);
    tap_ok(nurs_budget_watch_stop_signals() == 0, "stop signals watched");
    lua_getglobal(L, "plain");
    lua_pushinteger(L, 7);
    pthread_t t;
    pthread_create(&t, NULL, send_sigterm, NULL);
    double t0 = now_ms();
    enum nurs_budget_rc why;
    int rc = nurs_budget_pcall(L, 1, 0, 0, 60000000000ull, &why);
    double ms = now_ms() - t0;
    pthread_join(t, NULL);
    tap_ok(rc != LUA_OK && why == NURS_BUDGET_INTERRUPTED &&
               strstr(lua_tostring(L, -1), "interrupted by SIGTERM"),
           "SIGTERM stops a spinning call at once (%.0f ms: %s)", ms, lua_tostring(L, -1));
    lua_pop(L, 1);
    tap_ok(previous_handler_ran == SIGTERM, "the handler installed before runs too");
    signal(SIGTERM, SIG_DFL);
}

int main(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    nurs_budget_open(L);
    if (luaL_dostring(L, script) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        return 1;
    }
    struct nurs_budget b;
    tap_ok(nurs_budget_init(&b, LIMIT_MS * 1000000ull) == 0, "watchdog starts");
    char msg[1024];
    double ms;

    tap_ok(call(&b, L, "quick", &ms, msg, sizeof msg) == NURS_BUDGET_OK, "a quick callback returns");
    tap_is_str(msg, "got 7", "with its result");

    static const char *const spinners[] = {"plain", "caught", "old_coroutine", "new_coroutine",
                                           "sorting"};
    for (size_t i = 0; i < sizeof spinners / sizeof *spinners; i++) {
        enum nurs_budget_rc rc = call(&b, L, spinners[i], &ms, msg, sizeof msg);
        msg[strcspn(msg, "\n")] = '\0';
        tap_ok(rc == NURS_BUDGET_TIMEOUT, "%s: stopped at the budget (%s)", spinners[i], msg);
        /* On a busy machine the CPU budget takes longer on the wall clock,
         * ten times the budget at most. */
        tap_ok(ms < 10 * LIMIT_MS + 300, "%s: within %.0f ms", spinners[i], ms);
        tap_ok(call(&b, L, "quick", &ms, msg, sizeof msg) == NURS_BUDGET_OK,
               "%s: the next callback runs normally", spinners[i]);
    }

    /* Waiting in C uses no CPU: not the budget's business until ten times
     * the budget has passed on the wall clock (a busy machine that keeps
     * the daemon from running does not cut its callbacks short either). */
    enum nurs_budget_rc waited = call(&b, L, "waiting", &ms, msg, sizeof msg);
    tap_ok(waited == NURS_BUDGET_TIMEOUT && ms >= 5 * LIMIT_MS && ms < 10 * LIMIT_MS + 300,
           "a callback that waits is stopped at ten times the budget (%.0f ms)", ms);

    /* Idle, the watchdog sleeps; the next call wakes it. */
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
    for (int i = 0; i < 100 && !nurs_budget_watchdog_idle(); i++)
        nanosleep(&nap, NULL);
    tap_ok(nurs_budget_watchdog_idle(), "the watchdog sleeps when no call runs");
    enum nurs_budget_rc woke = call(&b, L, "plain", &ms, msg, sizeof msg);
    tap_ok(woke == NURS_BUDGET_TIMEOUT && ms < 10 * LIMIT_MS + 300,
           "and still stops a spin after it slept (%.0f ms)", ms);

    tap_ok(call(&b, L, "erring", &ms, msg, sizeof msg) == NURS_BUDGET_ERROR, "an error is an error");
    tap_ok(strstr(msg, "bad 7") && strstr(msg, "stack traceback"), "with message and traceback");
    enum nurs_budget_rc rc = call(&b, L, "yielding", &ms, msg, sizeof msg);
    msg[strcspn(msg, "\n")] = '\0';
    tap_ok(rc == NURS_BUDGET_ERROR && strstr(msg, "yielded"), "a callback that yields is an error (%s)",
           msg);
    /* Coroutines still work as the library's do. */
    tap_ok(luaL_dostring(L, "local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) "
                            "return b * 2 end) assert(co(1) == 2) assert(co(5) == 10) "
                            "assert(not pcall(co)) "
                            "local ok, e = coroutine.resume(coroutine.create(function() error('z') end)) "
                            "assert(not ok and e:match('z$'))") == LUA_OK,
           "resume and wrap behave as before");
    nurs_budget_release(&b);
    test_pcall_mode(L);
    test_stop_signal(L);
    lua_close(L);
    return tap_done();
}
