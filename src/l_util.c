#include "l_util.h"

#include <math.h>
#include <string.h>

#include <lauxlib.h>

void nurs_check_options(lua_State *L, int idx, const char *fname, const char *const *allowed)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option names must be strings", fname);
        const char *key = lua_tostring(L, -1);
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            luaL_error(L, "%s: unknown option '%s'", fname, key);
    }
}

bool nurs_opt_bool(lua_State *L, int idx, const char *fname, const char *key, bool def)
{
    int t = lua_getfield(L, idx, key);
    bool v = def;
    if (t == LUA_TBOOLEAN)
        v = lua_toboolean(L, -1);
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a boolean", fname, key);
    lua_pop(L, 1);
    return v;
}

lua_Integer nurs_opt_int(lua_State *L, int idx, const char *fname, const char *key,
                         lua_Integer def, lua_Integer min, lua_Integer max)
{
    int t = lua_getfield(L, idx, key);
    lua_Integer v = def;
    if (t != LUA_TNIL) {
        int isnum;
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "%s: option '%s' must be an integer", fname, key);
        if (v < min || v > max)
            luaL_error(L, "%s: option '%s' must be between %I and %I", fname, key, min, max);
    }
    lua_pop(L, 1);
    return v;
}

lua_Number nurs_opt_number(lua_State *L, int idx, const char *fname, const char *key,
                           lua_Number def, lua_Number min, lua_Number max)
{
    int t = lua_getfield(L, idx, key);
    lua_Number v = def;
    if (t != LUA_TNIL) {
        int isnum;
        v = lua_tonumberx(L, -1, &isnum);
        if (!isnum || !isfinite(v))
            luaL_error(L, "%s: option '%s' must be a number", fname, key);
        if (v < min || v > max)
            luaL_error(L, "%s: option '%s' must be between %f and %f", fname, key, min, max);
    }
    lua_pop(L, 1);
    return v;
}

const char *nurs_opt_string(lua_State *L, int idx, const char *fname, const char *key,
                            const char *def)
{
    int t = lua_getfield(L, idx, key);
    const char *v = def;
    if (t == LUA_TSTRING)
        v = lua_tostring(L, -1);
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a string", fname, key);
    /* The table holds the string, so it outlives this stack slot. */
    lua_pop(L, 1);
    return v;
}
