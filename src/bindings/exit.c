#include "bindings/exit.h"

#include <stdlib.h>

#include <lauxlib.h>

#include "bindings/script.h"
#include "core/host.h"
#include "core/log.h"

static char exit_marker;

bool nurs_l_is_exit(lua_State *L) { return lua_touserdata(L, -1) == &exit_marker; }

int nurs_l_exit(lua_State *L, int code)
{
    struct nurs_host *h = nurs_script_of(L)->host;
    nurs_lua_script_of(L)->exiting = true;
    if (!h->stop_requested)
        nurs_info("os.exit(%d): flushing every sink and exiting", code);
    h->exit_code = code;
    nurs_host_stop(h);
    lua_pushlightuserdata(L, &exit_marker);
    return lua_error(L);
}

/* os.exit([code [, close]]): code true, false or an integer, as in Lua. */
static int l_os_exit(lua_State *L)
{
    int code = EXIT_SUCCESS;
    if (lua_isboolean(L, 1))
        code = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    else
        code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
    return nurs_l_exit(L, code);
}

void nurs_l_exit_open(lua_State *L)
{
    if (lua_getglobal(L, "os") == LUA_TTABLE) {
        lua_pushcfunction(L, l_os_exit);
        lua_setfield(L, -2, "exit");
    }
    lua_pop(L, 1);
}
