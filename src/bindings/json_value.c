#include "bindings/json_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* Set by every Lua state that opens the module, in its own thread. */
static _Thread_local nurs_json_userdata_fn userdata_writer;

void nurs_json_set_userdata_writer(nurs_json_userdata_fn fn) { userdata_writer = fn; }

struct ctx {
    lua_State *L;
    struct nurs_jsonw *w;
    int seen; /* stack index of a table of tables being written (cycles) */
    char *err;
    size_t errlen;
};

static int write_value(struct ctx *c, int idx, const char *key, int depth);

/* 1..n with no holes and nothing else: an array. */
static lua_Integer array_length(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n ? n : 0;
}

struct key_entry {
    const char *text;
    size_t len;
    int ref_index; /* position of the key in the key list table */
};

static int cmp_keys(const void *a, const void *b)
{
    const struct key_entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->text, y->text, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static int write_object(struct ctx *c, int idx, const char *key, int depth)
{
    lua_State *L = c->L;
    /* Collect the keys as strings in a list (kept on the stack so the
     * texts stay alive), sort them, then write in that order. */
    lua_newtable(L);
    int keys = lua_gettop(L);
    lua_newtable(L);
    int originals = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
        } else if (lua_isinteger(L, -1)) {
            lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, -1));
        } else {
            snprintf(c->err, c->errlen, "table key of type %s cannot be a JSON key",
                     luaL_typename(L, -1));
            lua_settop(L, keys - 1);
            return -1;
        }
        n++;
        lua_rawseti(L, keys, n);
        lua_pushvalue(L, -1);
        lua_rawseti(L, originals, n);
    }
    struct key_entry *entries = n ? malloc(sizeof *entries * (size_t)n) : NULL;
    if (n && !entries) {
        snprintf(c->err, c->errlen, "out of memory");
        lua_settop(L, keys - 1);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, keys, i + 1);
        entries[i].text = lua_tolstring(L, -1, &entries[i].len);
        entries[i].ref_index = i + 1;
        lua_pop(L, 1); /* the keys table holds it */
    }
    if (n > 1)
        qsort(entries, (size_t)n, sizeof *entries, cmp_keys);
    nurs_jsonw_object_begin(c->w, key);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        lua_rawgeti(L, originals, entries[i].ref_index);
        lua_rawget(L, idx);
        char *k = malloc(entries[i].len + 1);
        if (!k) {
            snprintf(c->err, c->errlen, "out of memory");
            rc = -1;
        } else {
            memcpy(k, entries[i].text, entries[i].len);
            k[entries[i].len] = '\0';
            rc = write_value(c, lua_gettop(L), k, depth + 1);
            free(k);
        }
        lua_pop(L, 1);
    }
    nurs_jsonw_object_end(c->w);
    free(entries);
    lua_settop(L, keys - 1);
    return rc;
}

static int write_table(struct ctx *c, int idx, const char *key, int depth)
{
    lua_State *L = c->L;
    if (depth >= NURS_JSONW_MAX_DEPTH - 1) {
        snprintf(c->err, c->errlen, "value nested deeper than %d levels", NURS_JSONW_MAX_DEPTH - 1);
        return -1;
    }
    if (!lua_checkstack(L, 8)) {
        snprintf(c->err, c->errlen, "Lua stack exhausted");
        return -1;
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, c->seen) != LUA_TNIL) {
        lua_pop(L, 1);
        snprintf(c->err, c->errlen, "table contains itself (a cycle)");
        return -1;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, c->seen);

    int rc = 0;
    lua_Integer n = array_length(L, idx);
    if (n > 0) {
        nurs_jsonw_array_begin(c->w, key);
        for (lua_Integer i = 1; i <= n && rc == 0; i++) {
            lua_rawgeti(L, idx, i);
            rc = write_value(c, lua_gettop(L), NULL, depth + 1);
            lua_pop(L, 1);
        }
        nurs_jsonw_array_end(c->w);
    } else {
        rc = write_object(c, idx, key, depth);
    }
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, c->seen);
    return rc;
}

static int write_value(struct ctx *c, int idx, const char *key, int depth)
{
    lua_State *L = c->L;
    size_t len;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        nurs_jsonw_null(c->w, key);
        return 0;
    case LUA_TBOOLEAN:
        nurs_jsonw_bool(c->w, key, lua_toboolean(L, idx));
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            nurs_jsonw_int(c->w, key, (long long)lua_tointeger(L, idx));
        else
            nurs_jsonw_double(c->w, key, (double)lua_tonumber(L, idx));
        return 0;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        nurs_jsonw_string(c->w, key, s, len);
        return 0;
    case LUA_TTABLE:
        return write_table(c, idx, key, depth);
    case LUA_TUSERDATA:
        if (userdata_writer && userdata_writer(c->w, L, idx, key) == 0)
            return 0;
        /* fallthrough */
    default:
        snprintf(c->err, c->errlen, "a %s value cannot be written as JSON", luaL_typename(L, idx));
        return -1;
    }
}

int nurs_json_from_lua(struct nurs_jsonw *w, lua_State *L, int idx, const char *key, char *err,
                       size_t errlen)
{
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    if (!lua_checkstack(L, 16)) {
        snprintf(err, errlen, "Lua stack exhausted");
        return -1;
    }
    lua_newtable(L);
    struct ctx c = {L, w, lua_gettop(L), err, errlen};
    int rc = write_value(&c, idx, key, 0);
    lua_settop(L, top);
    if (rc == 0 && w->failed) {
        snprintf(err, errlen, "out of memory or nested too deep");
        rc = -1;
    }
    return rc;
}
