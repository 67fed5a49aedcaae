#include "bindings/embedded.h"

#include <string.h>

#include <lauxlib.h>

static const struct nurs_embedded_module *find(const char *name)
{
    for (const struct nurs_embedded_module *m = nurs_embedded_modules; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

/* A package.searchers entry: returns the loader and its "file" name, or a
 * string saying why not, as Lua's own searchers do. */
static int search_embedded(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const struct nurs_embedded_module *m = find(name);
    if (!m) {
        lua_pushfstring(L, "no embedded module '%s'", name);
        return 1;
    }
    if (luaL_loadbuffer(L, m->source, m->len, m->chunk) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->chunk + 1);
    return 2;
}

void nurs_embedded_install(lua_State *L, int files_first)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    lua_Integer at = files_first ? n + 1 : 2;
    for (lua_Integer i = n; i >= at; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, search_embedded);
    lua_rawseti(L, -2, at);
    lua_pop(L, 2);
}
