/* nurs.shared: named integer counters that every loop sees (core/shared.h),
 * the way to count across worker loops:
 *   nurs.shared.add(key [, n]) -> the new value (nil when the table is full)
 *   nurs.shared.get(key) -> value (0 for a key never used)
 *   nurs.shared.set(key, v) -> the value it replaced
 *   nurs.shared.take(key) -> the value, leaving 0
 *   nurs.shared.all([prefix]) -> {key = value, ...}
 *   nurs.shared.stats() -> {keys, capacity, refused} */
#include <lauxlib.h>

#include "bindings/nurs.h"
#include "core/shared.h"

static const char *check_key(lua_State *L, size_t *len)
{
    const char *key = luaL_checklstring(L, 1, len);
    if (*len > NURS_SHARED_KEY_MAX)
        luaL_argerror(L, 1, "shared keys are at most 63 bytes");
    return key;
}

static _Atomic int64_t *counter(lua_State *L, bool create)
{
    size_t len;
    const char *key = check_key(L, &len);
    return nurs_shared_find(key, len, create);
}

static int s_add(lua_State *L)
{
    lua_Integer n = luaL_optinteger(L, 2, 1);
    _Atomic int64_t *c = counter(L, true);
    if (!c) {
        lua_pushnil(L); /* full: counted in stats().refused */
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)(atomic_fetch_add_explicit(c, n, memory_order_relaxed) + n));
    return 1;
}

static int s_get(lua_State *L)
{
    _Atomic int64_t *c = counter(L, false);
    lua_pushinteger(L, c ? (lua_Integer)atomic_load_explicit(c, memory_order_relaxed) : 0);
    return 1;
}

static int exchange(lua_State *L, lua_Integer v)
{
    _Atomic int64_t *c = counter(L, v != 0);
    if (!c && v != 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, c ? (lua_Integer)atomic_exchange_explicit(c, v, memory_order_relaxed) : 0);
    return 1;
}

static int s_set(lua_State *L) { return exchange(L, luaL_checkinteger(L, 2)); }

static int s_take(lua_State *L) { return exchange(L, 0); }

static void put(void *ctx, const char *key, int64_t value)
{
    lua_State *L = ctx;
    lua_pushinteger(L, (lua_Integer)value);
    lua_setfield(L, -2, key);
}

static int s_all(lua_State *L)
{
    size_t plen = 0;
    const char *prefix = luaL_optlstring(L, 1, "", &plen);
    lua_newtable(L);
    nurs_shared_each(prefix, plen, put, L);
    return 1;
}

static int s_stats(lua_State *L)
{
    struct nurs_shared_stats st;
    nurs_shared_stats(&st);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)st.keys);
    lua_setfield(L, -2, "keys");
    lua_pushinteger(L, (lua_Integer)st.capacity);
    lua_setfield(L, -2, "capacity");
    lua_pushinteger(L, (lua_Integer)st.refused);
    lua_setfield(L, -2, "refused");
    return 1;
}

void nurs_l_shared_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"add", s_add}, {"get", s_get},   {"set", s_set},     {"take", s_take},
        {"all", s_all}, {"stats", s_stats}, {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_setfield(L, -2, "shared");
}
