/* nurs.replay{...}: the Lua face of the replay source. */
#include <string.h>

#include <lauxlib.h>

#include "bindings/attribution.h"
#include "bindings/consumer.h"
#include "bindings/nurs.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "records/record.h"
#include "sources/replay.h"

#define REPLAY_MT "nurs.replay"
#define FNAME "nurs.replay"

/* nurs.replay(path | opts [, callback]) */
static int l_replay(lua_State *L)
{
    static const char *const allowed[] = {"path", "speed", "loops", "at_end", "decode_only",
                                          "name", "process", "budget", NULL};
    lua_settop(L, 2);
    nurs_opt_path_table(L, 1);
    luaL_checktype(L, 1, LUA_TTABLE);
    nurs_check_options(L, 1, FNAME, allowed);
    if (!lua_isnil(L, 2))
        nurs_l_check_ct_callback(L, 2);
    struct nurs_replay_opts o = {0};
    o.path = nurs_opt_string(L, 1, FNAME, "path", NULL);
    if (!o.path)
        return luaL_error(L, FNAME ": option 'path' is required");
    o.speed = nurs_opt_number(L, 1, FNAME, "speed", 0, 0, 1e6);
    o.loops = (int)nurs_opt_int(L, 1, FNAME, "loops", 1, 1, 1000000);
    const char *at_end = nurs_opt_string(L, 1, FNAME, "at_end", "stop");
    if (strcmp(at_end, "stop") != 0 && strcmp(at_end, "continue") != 0)
        return luaL_error(L, FNAME ": option 'at_end' must be \"stop\" or \"continue\"");
    o.stop_at_end = strcmp(at_end, "stop") == 0;
    o.decode_only = nurs_opt_bool(L, 1, FNAME, "decode_only", false);
    o.name = nurs_opt_string(L, 1, FNAME, "name", NULL);
    o.process = nurs_l_process_option(L, 1, FNAME, &o.process_opts);

    char err[512];
    struct nurs_replay *rp = nurs_replay_get(nurs_script_of(L), &o, err, sizeof err);
    if (!rp)
        return luaL_error(L, FNAME ": %s", err);
    nurs_l_handle_push(L, REPLAY_MT, nurs_replay_resource(rp));
    nurs_l_read_budget(L, 1, FNAME, nurs_replay_resource(rp));
    if (!lua_isnil(L, 2))
        nurs_l_add_consumer(L, nurs_replay_resource(rp), 2, &nurs_l_function_ops, NURS_RECORD_CT);
    return 1;
}

static struct nurs_resource *check_replay(lua_State *L)
{
    return nurs_l_handle_check(L, 1, REPLAY_MT, "replay source");
}

static int replay_on(lua_State *L)
{
    struct nurs_resource *r = check_replay(L);
    nurs_l_check_ct_callback(L, 2);
    nurs_l_add_consumer(L, r, 2, &nurs_l_function_ops, NURS_RECORD_CT);
    lua_settop(L, 1);
    return 1;
}

static int replay_done(lua_State *L)
{
    lua_pushboolean(L, nurs_replay_done(nurs_replay_of(check_replay(L))));
    return 1;
}

void nurs_l_replay_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"on", replay_on},
        {"done", replay_done},
        {NULL, NULL},
    };
    nurs_l_handle_class(L, REPLAY_MT, "replay source", methods);
    lua_pushcfunction(L, l_replay);
    lua_setfield(L, -2, "replay");
}
