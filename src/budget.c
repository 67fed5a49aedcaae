#include "budget.h"

#include <stdio.h>
#include <time.h>

#include <lauxlib.h>

/* One callback runs at a time (one loop, one thread), so the clock the
 * hook reads is global; the hook of a coroutine that outlives a callback
 * finds it disarmed and does nothing. */
static struct {
    bool armed;
    bool expired;
    uint64_t start_ns;
    uint64_t deadline_ns;
    uint64_t limit_ns;
} clock_state;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (!clock_state.armed)
        return;
    if (!clock_state.expired) {
        if (now_ns() < clock_state.deadline_ns)
            return;
        clock_state.expired = true;
    }
    /* A yield unwinds past every pcall of the script; a coroutine of the
     * script's own only hands control back to its resumer, whose hook
     * yields in turn at its next check. */
    if (lua_isyieldable(L))
        lua_yield(L, 0);
    luaL_error(L, "time budget of %d us exceeded", (int)(clock_state.limit_ns / 1000));
}

void nurs_budget_init(struct nurs_budget *b, uint64_t limit_ns)
{
    b->L = NULL;
    b->co = NULL;
    b->ref = LUA_NOREF;
    b->limit_ns = limit_ns;
}

void nurs_budget_watch_state(lua_State *L)
{
    lua_sethook(L, hook, LUA_MASKCOUNT, NURS_BUDGET_HOOK_COUNT);
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
    clock_state.start_ns = now_ns();
    clock_state.deadline_ns = clock_state.start_ns + b->limit_ns;
    clock_state.limit_ns = b->limit_ns;
    clock_state.expired = false;
}

uint64_t nurs_budget_used_ns(void) { return now_ns() - clock_state.start_ns; }

static bool ensure_thread(struct nurs_budget *b, lua_State *L)
{
    if (b->L == L && b->co)
        return true;
    if (b->L == L)
        nurs_budget_release(b);
    else
        nurs_budget_forget(b); /* a closed state's thread */
    lua_State *co = lua_newthread(L);
    if (!co)
        return false;
    lua_sethook(co, hook, LUA_MASKCOUNT, NURS_BUDGET_HOOK_COUNT);
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

/* After an error or a stop at the deadline: closes what the coroutine left
 * open and makes it usable again (the hook stays armed, so a __close
 * handler that loops is stopped too). */
static void reset_thread(struct nurs_budget *b)
{
    lua_resetthread(b->co);
    lua_settop(b->co, 0);
}

enum nurs_budget_rc nurs_budget_call(struct nurs_budget *b, lua_State *L, int fnref, int arg,
                                     lua_State **co, int *nres)
{
    arg = lua_absindex(L, arg);
    if (!ensure_thread(b, L)) {
        lua_pushliteral(L, "cannot create a coroutine: out of memory");
        return NURS_BUDGET_ERROR;
    }
    lua_State *t = b->co;
    lua_settop(t, 0);
    lua_rawgeti(t, LUA_REGISTRYINDEX, fnref);
    lua_pushvalue(L, arg);
    lua_xmove(L, t, 1);
    clock_state.armed = true;
    int rc = lua_resume(t, L, 1, nres);
    enum nurs_budget_rc out = NURS_BUDGET_OK;
    if (rc == LUA_YIELD) {
        char msg[96];
        if (clock_state.expired)
            snprintf(msg, sizeof msg, "callback exceeded its time budget of %d us",
                     (int)(b->limit_ns / 1000));
        else
            snprintf(msg, sizeof msg, "callback yielded (a callback cannot wait)");
        push_error(L, t, msg);
        out = clock_state.expired ? NURS_BUDGET_TIMEOUT : NURS_BUDGET_ERROR;
        reset_thread(b);
    } else if (rc != LUA_OK) {
        push_error(L, t, NULL);
        out = clock_state.expired ? NURS_BUDGET_TIMEOUT : NURS_BUDGET_ERROR;
        reset_thread(b);
    }
    clock_state.armed = false;
    *co = t;
    return out;
}

void nurs_budget_done(struct nurs_budget *b) { lua_settop(b->co, 0); }
