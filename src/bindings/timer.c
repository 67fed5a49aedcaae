#include "bindings/timer.h"

#include <math.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <uv.h>

#include "bindings/script.h"
#include "bindings/util.h"

#define TIMER_MT "nurs.timer"

struct nurs_timer {
    uv_timer_t handle;
    struct nurs_lua_script *script;
    int fn_ref;
    bool repeat;
    bool stopped;
    struct nurs_timer *next;
};

/* The Lua handle only points at the timer: the timer belongs to the
 * script and may be freed when the script goes, never by the GC. */
struct timer_ref {
    struct nurs_timer *t;
};

static void on_close(uv_handle_t *handle)
{
    free(handle->data);
}

static void unlink_timer(struct nurs_timer *t)
{
    for (struct nurs_timer **p = &t->script->timers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            return;
        }
    }
}

static void on_timer(uv_timer_t *handle)
{
    struct nurs_timer *t = handle->data;
    struct nurs_lua_script *s = t->script;
    lua_State *L = s->L;
    if (!t->repeat)
        t->stopped = true;
    if (s->exiting)
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
    nurs_l_call(L, 0, 0, 0, &s->error_rl, "timer", &s->errors, &s->timeouts);
}

static uint64_t check_seconds(lua_State *L, int idx)
{
    lua_Number secs = luaL_checknumber(L, idx);
    luaL_argcheck(L, isfinite(secs) && secs >= 0 && secs < 1e9, idx,
                  "seconds must be between 0 and 1e9");
    return (uint64_t)llround(secs * 1000.0);
}

static int make_timer(lua_State *L, bool repeat)
{
    uint64_t ms = check_seconds(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (repeat && ms == 0)
        luaL_argerror(L, 1, "a repeating timer needs an interval above 0");
    struct nurs_lua_script *s = nurs_lua_script_of(L);
    struct nurs_host *h = s->base.host;

    struct timer_ref *ref = lua_newuserdatauv(L, sizeof *ref, 0);
    ref->t = NULL;
    luaL_setmetatable(L, TIMER_MT);

    struct nurs_timer *t = calloc(1, sizeof *t);
    if (!t)
        return luaL_error(L, "out of memory");
    uv_timer_init(h->loop, &t->handle);
    t->handle.data = t;
    t->script = s;
    t->repeat = repeat;
    lua_pushvalue(L, 2);
    t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    t->next = s->timers;
    s->timers = t;
    ref->t = t;
    if (!h->check_only)
        uv_timer_start(&t->handle, on_timer, ms, repeat ? ms : 0);
    return 1;
}

int nurs_l_every(lua_State *L) { return make_timer(L, true); }

int nurs_l_after(lua_State *L) { return make_timer(L, false); }

static int timer_stop(lua_State *L)
{
    struct timer_ref *ref = luaL_checkudata(L, 1, TIMER_MT);
    if (ref->t) {
        struct nurs_timer *t = ref->t;
        ref->t = NULL;
        unlink_timer(t);
        uv_close((uv_handle_t *)&t->handle, on_close);
    }
    return 0;
}

static int timer_tostring(lua_State *L)
{
    struct timer_ref *ref = luaL_checkudata(L, 1, TIMER_MT);
    lua_pushfstring(L, "nurs.timer (%s)", ref->t && !ref->t->stopped ? "active" : "stopped");
    return 1;
}

void nurs_timer_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"stop", timer_stop},
        {"cancel", timer_stop},
        {NULL, NULL},
    };
    nurs_l_new_class(L, TIMER_MT, methods, timer_tostring, timer_stop);
}

void nurs_timers_close_all(struct nurs_lua_script *s)
{
    while (s->timers) {
        struct nurs_timer *t = s->timers;
        s->timers = t->next;
        uv_close((uv_handle_t *)&t->handle, on_close);
    }
}
