#include "bindings/attribution.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "process/bpf/loader.h"
#include "records/ct_fields.h"
#include "records/ct_record.h"

/* "auto", "bpf", "sockdiag" at idx into *mode; false if it is none. */
static bool mode_of(lua_State *L, int idx, enum nurs_attr_mode *mode)
{
    static const char *const names[] = {"auto", "bpf", "sockdiag"};
    static const enum nurs_attr_mode modes[] = {NURS_ATTR_AUTO, NURS_ATTR_BPF, NURS_ATTR_SOCKDIAG};
    const char *s = lua_tostring(L, idx);
    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i]) == 0) {
            *mode = modes[i];
            return true;
        }
    return false;
}

bool nurs_l_process_option(lua_State *L, int idx, const char *fname,
                           struct nurs_attribution_opts *o)
{
    *o = (struct nurs_attribution_opts){.cmdline_max = NURS_ATTR_DEFAULT_CMDLINE,
                                        .max_connections = NURS_ATTR_DEFAULT_CONNECTIONS,
                                        .mode = NURS_ATTR_AUTO};
    int t = lua_getfield(L, idx, "process");
    bool on = false;
    if (t == LUA_TBOOLEAN) {
        on = lua_toboolean(L, -1);
    } else if (t == LUA_TSTRING) {
        if (!mode_of(L, -1, &o->mode))
            luaL_error(L, "%s: option 'process': \"auto\", \"bpf\" or \"sockdiag\", not \"%s\"",
                       fname, lua_tostring(L, -1));
        on = true;
    } else if (t == LUA_TTABLE) {
        static const char *const allowed[] = {"cmdline", "connections", "mode", "ring", "sockets",
                                              NULL};
        int sub = lua_absindex(L, -1);
        nurs_check_options(L, sub, fname, allowed);
        o->cmdline_max = (size_t)nurs_opt_int(L, sub, fname, "cmdline", NURS_ATTR_DEFAULT_CMDLINE,
                                              0, NURS_ATTR_MAX_CMDLINE);
        o->max_connections = (size_t)nurs_opt_int(L, sub, fname, "connections",
                                                  NURS_ATTR_DEFAULT_CONNECTIONS, 1, 1 << 26);
        o->bpf_ring = (uint32_t)nurs_opt_int(L, sub, fname, "ring", NURS_BPF_DEFAULT_RING, 4096,
                                             NURS_BPF_MAX_RING);
        o->bpf_sockets = (uint32_t)nurs_opt_int(L, sub, fname, "sockets", NURS_BPF_DEFAULT_SOCKETS,
                                                16, NURS_BPF_MAX_SOCKETS);
        if (lua_getfield(L, sub, "mode") != LUA_TNIL && !mode_of(L, -1, &o->mode))
            luaL_error(L, "%s: option 'process.mode': \"auto\", \"bpf\" or \"sockdiag\"", fname);
        lua_pop(L, 1);
        on = true;
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s: option 'process' must be true, false, \"auto\", \"bpf\", \"sockdiag\" "
                      "or a table { mode =, cmdline = bytes, connections = n, ring = bytes, "
                      "sockets = n }",
                   fname);
    }
    lua_pop(L, 1);
    return on;
}

/* ---- waiting for an answer ---- */

struct watch {
    lua_State *L; /* the script's main thread */
    int fn;       /* registry ref */
    struct nurs_resource *r;
};

static void push_end(lua_State *L, const struct nurs_conn_attr *c, int dir)
{
    struct nurs_lua_emit e = {.L = L};
    lua_createtable(L, 0, 2);
    if (c->end[dir]) {
        nurs_emit_process(c->end[dir], NULL, &nurs_lua_emitter, &e);
        lua_setfield(L, -2, "process");
    }
    lua_pushstring(L, nurs_attr_why_name((enum nurs_attr_why)c->why[dir]));
    lua_setfield(L, -2, "why");
}

/* { id =, process =, orig = { process =, why = }, reply = { ... } } */
static void push_answer(lua_State *L, const struct nurs_conn_attr *c)
{
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, c->head.id);
    lua_setfield(L, -2, "id");
    push_end(L, c, 0);
    lua_setfield(L, -2, "orig");
    push_end(L, c, 1);
    lua_setfield(L, -2, "reply");
    const struct nurs_proc *local = c->end[0] ? c->end[0] : c->end[1];
    if (local) {
        struct nurs_lua_emit e = {.L = L};
        nurs_emit_process(local, NULL, &nurs_lua_emitter, &e);
        lua_setfield(L, -2, "process");
    }
}

static void on_answer(void *ctx, const struct nurs_conn_attr *c)
{
    struct watch *w = ctx;
    lua_State *L = w->L;
    /* Without an answer (the engine goes away), nothing is called. */
    if (c && !w->r->closing) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, w->fn);
        push_answer(L, c);
        nurs_l_call(L, 1, 0, w->r->consumers.budget_ns, &w->r->error_rl, w->r->name,
                    &w->r->counters.errors, &w->r->counters.timeouts);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, w->fn);
    free(w);
}

int nurs_l_attribute(lua_State *L, struct nurs_resource *r, struct nurs_attribution *a)
{
    struct nurs_ct_msg *m = (struct nurs_ct_msg *)nurs_l_record_test(L, 2, &nurs_ct_class);
    if (!m)
        return luaL_typeerror(L, 2, "conntrack record");
    bool has_fn = !lua_isnoneornil(L, 3);
    if (has_fn)
        luaL_checktype(L, 3, LUA_TFUNCTION);
    uint32_t id;
    if (!nurs_ct_u32(m, CTA_ID, &id)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "the record has no conntrack id");
        return 2;
    }
    if (!nurs_attribution_begin(a, m)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "the attribution table is full");
        return 2;
    }
    if (has_fn) {
        struct watch *w = malloc(sizeof *w);
        if (!w)
            return luaL_error(L, "attribute: out of memory");
        lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
        w->L = lua_tothread(L, -1);
        lua_pop(L, 1);
        lua_pushvalue(L, 3);
        w->fn = luaL_ref(L, LUA_REGISTRYINDEX);
        w->r = r;
        if (nurs_attribution_watch(a, id, on_answer, w) < 0) {
            luaL_unref(L, LUA_REGISTRYINDEX, w->fn);
            free(w);
            return luaL_error(L, "attribute: out of memory");
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}
