#include "bindings/consumer.h"

#include <stdlib.h>

#include <lauxlib.h>

#include "bindings/budget.h"
#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "records/record.h"

static enum nurs_take call_function(struct nurs_consumer *c, struct nurs_resource *from,
                                    struct nurs_record *rec)
{
    struct nurs_l_consumer *lc = (struct nurs_l_consumer *)c;
    lua_State *L = lc->L;
    if (nurs_lua_script_of(L)->exiting)
        return NURS_TAKE_LOST; /* the script called os.exit() */
    int view = nurs_l_record_view(L, rec);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lc->ref);
    lua_pushvalue(L, view);
    /* The traceback handler lies under the view: one per delivery. The
     * source counts the error; a timeout is counted here. */
    uint64_t budget = from->consumers.budget_ns;
    enum nurs_budget_rc why;
    if (nurs_budget_pcall(L, 1, 0, view - 1, budget ? budget : nurs_l_default_budget_ns, &why) ==
        LUA_OK)
        return NURS_TAKEN;
    uint64_t errors = 0;
    return nurs_l_call_failed(L, why, &from->error_rl, from->name, &errors,
                              &from->counters.timeouts)
               ? NURS_TAKEN
               : NURS_TAKE_FAILED;
}

/* The state is alive: a list is dropped before its script closes. */
void nurs_l_consumer_release(struct nurs_consumer *c)
{
    struct nurs_l_consumer *lc = (struct nurs_l_consumer *)c;
    luaL_unref(lc->L, LUA_REGISTRYINDEX, lc->ref);
    free(lc);
}

const struct nurs_consumer_ops nurs_l_function_ops = {
    .kinds = NURS_RECORD_CT | NURS_RECORD_NFLOG | NURS_RECORD_EXP,
    .take = call_function,
    .release = nurs_l_consumer_release,
};

void nurs_l_read_budget(lua_State *L, int idx, const char *fname, struct nurs_resource *r)
{
    lua_Number secs = nurs_opt_number(L, idx, fname, "budget", 0, 0, 3600);
    nurs_resource_consumers_of(r, nurs_script_of(L))->budget_ns = (uint64_t)(secs * 1e9 + 0.5);
}

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
