#include "bindings/consumer.h"

#include <stdlib.h>

#include <lauxlib.h>

#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "records/record.h"

static enum nurs_take call_function(struct nurs_consumer *c, struct nurs_resource *from,
                                    struct nurs_record *rec)
{
    struct nurs_l_consumer *lc = (struct nurs_l_consumer *)c;
    lua_State *L = lc->L;
    int view = nurs_l_record_view(L, rec);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lc->ref);
    lua_pushvalue(L, view);
    /* The traceback handler lies under the view: one per delivery. */
    if (lua_pcall(L, 1, 0, view - 1) != LUA_OK) {
        nurs_log_lua_error(L, &from->error_rl, from->name);
        return NURS_TAKE_FAILED;
    }
    return NURS_TAKEN;
}

/* The state is alive: a list is dropped before its script closes. */
void nurs_l_consumer_release(struct nurs_consumer *c)
{
    struct nurs_l_consumer *lc = (struct nurs_l_consumer *)c;
    luaL_unref(lc->L, LUA_REGISTRYINDEX, lc->ref);
    free(lc);
}

const struct nurs_consumer_ops nurs_l_function_ops = {
    .kinds = NURS_RECORD_CT | NURS_RECORD_NFLOG,
    .take = call_function,
    .release = nurs_l_consumer_release,
};

void nurs_l_add_consumer(lua_State *L, struct nurs_resource *r, int idx,
                         const struct nurs_consumer_ops *ops, unsigned kinds)
{
    struct nurs_consumers *list = nurs_resource_consumers_of(r, nurs_script_of(L));
    if (list->n == NURS_MAX_CONSUMERS)
        luaL_error(L, "%s: at most %d callbacks", r->name, NURS_MAX_CONSUMERS);
    struct nurs_l_handle *sink = lua_isfunction(L, idx) ? NULL : nurs_l_sink_test(L, idx, kinds);
    if (sink) {
        nurs_consumers_add(list, &sink->r->as_consumer);
        return;
    }
    luaL_checktype(L, idx, LUA_TFUNCTION);
    struct nurs_l_consumer *lc = malloc(sizeof *lc);
    if (!lc)
        luaL_error(L, "out of memory");
    lc->base.ops = ops;
    lc->L = nurs_lua_script_of(L)->L; /* not a coroutine that may be gone by then */
    lua_pushvalue(L, idx);
    lc->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    nurs_consumers_add(list, &lc->base);
}
