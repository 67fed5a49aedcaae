/* nurs.doctor([opts] [, fn]): the kernel-settings checks of --doctor,
 * readable from a script. They read /proc and ask netlink, which blocks:
 * at the top level the report is returned; from the loop they run on a
 * worker thread and fn(report) is called when done. */
#include "bindings/doctor.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <uv.h>

#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "netlink/doctor.h"

static void push_report(lua_State *L, const struct nurs_doctor_report *r,
                        enum nurs_doctor_severity worst)
{
    lua_createtable(L, 0, 10);
    lua_pushboolean(L, worst != NURS_DOCTOR_WRONG);
    lua_setfield(L, -2, "ok");
    lua_pushstring(L, nurs_doctor_severity_name(worst));
    lua_setfield(L, -2, "worst");
    lua_createtable(L, r->n, 0);
    for (int i = 0; i < r->n; i++) {
        const struct nurs_doctor_finding *f = &r->f[i];
        lua_createtable(L, 0, 4);
        lua_pushstring(L, f->check);
        lua_setfield(L, -2, "check");
        lua_pushstring(L, nurs_doctor_severity_name(f->severity));
        lua_setfield(L, -2, "severity");
        lua_pushstring(L, f->what);
        lua_setfield(L, -2, "what");
        if (f->fix[0]) {
            lua_pushstring(L, f->fix);
            lua_setfield(L, -2, "fix");
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "checks");
    const struct {
        const char *name;
        long v;
    } read[] = {{"acct", r->acct},         {"timestamp", r->timestamp}, {"events", r->events},
                {"rmem_max", r->rmem_max}, {"count", r->count},         {"max", r->max}};
    for (size_t i = 0; i < sizeof read / sizeof *read; i++) {
        if (read[i].v < 0)
            continue;
        lua_pushinteger(L, read[i].v);
        lua_setfield(L, -2, read[i].name);
    }
}

struct work {
    uv_work_t req;
    lua_State *L;
    int fn;
    char *netns;
    struct nurs_doctor_opts o;
    struct nurs_doctor_report r;
    enum nurs_doctor_severity worst;
};

static void run(uv_work_t *req)
{
    struct work *w = req->data;
    w->worst = nurs_doctor_run(&w->o, &w->r);
}

static void done(uv_work_t *req, int status)
{
    struct work *w = req->data;
    if (status == 0) {
        lua_rawgeti(w->L, LUA_REGISTRYINDEX, w->fn);
        push_report(w->L, &w->r, w->worst);
        if (nurs_pcall(w->L, 1, 0) != LUA_OK) {
            struct nurs_lua_script *s = nurs_lua_script_of(w->L);
            s->errors++;
            nurs_log_lua_error(w->L, &s->error_rl, "nurs.doctor");
        }
    }
    luaL_unref(w->L, LUA_REGISTRYINDEX, w->fn);
    free(w->netns);
    free(w);
}

static int l_doctor(lua_State *L)
{
    static const char *const allowed[] = {"netns", "rcvbuf", NULL};
    int fn = 0;
    if (lua_isfunction(L, 1))
        fn = 1;
    else if (lua_isfunction(L, 2))
        fn = 2;
    if (!lua_isnoneornil(L, 1) && fn != 1) {
        luaL_checktype(L, 1, LUA_TTABLE);
        nurs_check_options(L, 1, "nurs.doctor", allowed);
    }
    struct nurs_doctor_opts o = {0};
    if (lua_istable(L, 1)) {
        o.netns = nurs_opt_string(L, 1, "nurs.doctor", "netns", NULL);
        o.rcvbuf = (long)nurs_opt_int(L, 1, "nurs.doctor", "rcvbuf", 0, 0, 1l << 31);
    }
    struct nurs_script *s = nurs_script_of(L);
    if (!fn) {
        if (s->host->in_callback)
            return luaL_error(L, "nurs.doctor: from a callback, give a function: it reads /proc "
                                 "and netlink on a worker and calls it with the report");
        struct nurs_doctor_report r;
        enum nurs_doctor_severity worst = nurs_doctor_run(&o, &r);
        push_report(L, &r, worst);
        return 1;
    }
    struct work *w = calloc(1, sizeof *w);
    if (!w || (o.netns && !(w->netns = strdup(o.netns)))) {
        free(w);
        return luaL_error(L, "nurs.doctor: out of memory");
    }
    w->o = o;
    w->o.netns = w->netns;
    w->L = nurs_lua_script_of(L)->L;
    lua_pushvalue(L, fn);
    w->fn = luaL_ref(L, LUA_REGISTRYINDEX);
    w->req.data = w;
    if (uv_queue_work(s->host->loop, &w->req, run, done) < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, w->fn);
        free(w->netns);
        free(w);
        return luaL_error(L, "nurs.doctor: cannot start the worker");
    }
    return 0;
}

void nurs_l_doctor_open(lua_State *L)
{
    lua_pushcfunction(L, l_doctor);
    lua_setfield(L, -2, "doctor");
}
