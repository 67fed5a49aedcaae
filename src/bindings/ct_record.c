#include "bindings/ct_record.h"

#include <netinet/in.h>
#include <string.h>

#include <lauxlib.h>

#define DIR_MT "nurs.ct_record.direction"

const char nurs_record_expired_msg[] =
    "record used after its callback; call :totable() to keep it";

/* A direction (rec.orig, rec.reply, rec.master) borrows from its record;
 * the record is kept alive through the direction's user value. */
struct nurs_record_dir {
    struct nurs_record *rec;
    enum nurs_ct_dir dir;
};

/* ---- building Lua values from the field walker ---- */

static void lua_emit_store(struct nurs_lua_emit *c, const char *key)
{
    if (c->depth == 0)
        return; /* a lone value: left on the stack for the caller */
    if (key)
        lua_setfield(c->L, -2, key);
    else
        lua_rawseti(c->L, -2, c->next_index[c->depth - 1]++);
}

static void lua_emit_begin(void *ctx, const char *key)
{
    struct nurs_lua_emit *c = ctx;
    lua_newtable(c->L);
    c->keys[c->depth] = key;
    c->next_index[c->depth] = 1;
    c->depth++;
}

static void lua_emit_end(void *ctx)
{
    struct nurs_lua_emit *c = ctx;
    c->depth--;
    lua_emit_store(c, c->keys[c->depth]);
}

static void lua_emit_integer(void *ctx, const char *key, long long v)
{
    struct nurs_lua_emit *c = ctx;
    lua_pushinteger(c->L, (lua_Integer)v);
    lua_emit_store(c, key);
}

static void lua_emit_string(void *ctx, const char *key, const char *s, size_t len)
{
    struct nurs_lua_emit *c = ctx;
    lua_pushlstring(c->L, s, len);
    lua_emit_store(c, key);
}

static void lua_emit_boolean(void *ctx, const char *key, bool v)
{
    struct nurs_lua_emit *c = ctx;
    lua_pushboolean(c->L, v);
    lua_emit_store(c, key);
}

const struct nurs_emit nurs_lua_emitter = {
    .object_begin = lua_emit_begin,
    .object_end = lua_emit_end,
    .array_begin = lua_emit_begin,
    .array_end = lua_emit_end,
    .integer = lua_emit_integer,
    .string = lua_emit_string,
    .boolean = lua_emit_boolean,
};

/* ---- the record ---- */

/* Only C code writes userdata memory, so a full userdata of our size that
 * starts with our magic is a record: a check far cheaper than
 * luaL_testudata's metatable lookup, on a path taken for every record. */
static struct nurs_record *to_record(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) != sizeof(struct nurs_record))
        return NULL;
    struct nurs_record *r = lua_touserdata(L, idx);
    return r->magic == NURS_CT_RECORD_MAGIC ? r : NULL;
}

static struct nurs_ct_msg *check_live(lua_State *L, int idx)
{
    struct nurs_record *r = to_record(L, idx);
    if (!r)
        luaL_typeerror(L, idx, "conntrack record");
    if (!r->msg)
        luaL_error(L, "%s", nurs_record_expired_msg);
    return r->msg;
}

struct nurs_ct_msg *nurs_record_test(lua_State *L, int idx)
{
    struct nurs_record *r = to_record(L, idx);
    if (!r)
        return NULL;
    if (!r->msg)
        luaL_error(L, "%s", nurs_record_expired_msg);
    return r->msg;
}

struct nurs_record *nurs_record_push(lua_State *L, struct nurs_ct_msg *m)
{
    /* User values 1..3 cache the orig, reply and master directions. */
    struct nurs_record *r = lua_newuserdatauv(L, sizeof *r, 3);
    r->magic = NURS_CT_RECORD_MAGIC;
    r->msg = m;
    luaL_setmetatable(L, NURS_CT_RECORD_MT);
    return r;
}

static int record_totable(lua_State *L)
{
    struct nurs_ct_msg *m = check_live(L, 1);
    struct nurs_lua_emit c = {.L = L};
    luaL_checkstack(L, 10, NULL);
    lua_emit_begin(&c, NULL);
    nurs_ct_emit_record(m, &nurs_lua_emitter, &c);
    c.depth--;
    return 1;
}

static int push_direction(lua_State *L, struct nurs_ct_msg *m, enum nurs_ct_dir dir)
{
    if (!nurs_ct_tuple(m, dir)) {
        lua_pushnil(L);
        return 1;
    }
    if (lua_getiuservalue(L, 1, (int)dir + 1) == LUA_TUSERDATA)
        return 1;
    lua_pop(L, 1);
    struct nurs_record_dir *d = lua_newuserdatauv(L, sizeof *d, 1);
    d->rec = lua_touserdata(L, 1);
    d->dir = dir;
    luaL_setmetatable(L, DIR_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, (int)dir + 1);
    return 1;
}

/* Upvalue 1 maps field names to field numbers and method names to
 * functions: one hash lookup per access, strings being interned. */
static int record_index(lua_State *L)
{
    struct nurs_ct_msg *m = check_live(L, 1);
    lua_pushvalue(L, 2);
    int type = lua_rawget(L, lua_upvalueindex(1));
    if (type == LUA_TFUNCTION)
        return 1;
    if (type != LUA_TNUMBER)
        return luaL_error(L, "conntrack record has no field '%s'", luaL_tolstring(L, 2, NULL));
    enum nurs_ct_field f = (enum nurs_ct_field)lua_tointeger(L, -1);
    lua_pop(L, 1);
    switch (f) {
    case NURS_CTF_ORIG:
        return push_direction(L, m, NURS_CT_ORIG);
    case NURS_CTF_REPLY:
        return push_direction(L, m, NURS_CT_REPLY);
    case NURS_CTF_MASTER:
        return push_direction(L, m, NURS_CT_MASTER);
    default:
        break;
    }
    struct nurs_lua_emit c = {.L = L};
    if (!nurs_ct_emit_field(m, f, &nurs_lua_emitter, &c))
        lua_pushnil(L);
    return 1;
}

static int record_newindex(lua_State *L)
{
    return luaL_error(L, "conntrack records are read-only; copy with :totable() to change");
}

static int record_tostring(lua_State *L)
{
    struct nurs_record *r = luaL_checkudata(L, 1, NURS_CT_RECORD_MT);
    if (!r->msg) {
        lua_pushliteral(L, "conntrack record (expired)");
        return 1;
    }
    char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
    uint8_t proto = 0;
    nurs_ct_addr(r->msg, NURS_CT_ORIG, false, src, sizeof src);
    nurs_ct_addr(r->msg, NURS_CT_ORIG, true, dst, sizeof dst);
    nurs_ct_protonum(r->msg, &proto);
    const char *pname = nurs_ct_proto_name(proto);
    lua_pushfstring(L, "conntrack record (%s %s %s -> %s)", nurs_ct_event_name(r->msg->event),
                    pname ? pname : "?", src, dst);
    return 1;
}

static struct nurs_ct_msg *dir_check(lua_State *L, struct nurs_record_dir **out)
{
    struct nurs_record_dir *d = luaL_checkudata(L, 1, DIR_MT);
    if (!d->rec->msg)
        luaL_error(L, "%s", nurs_record_expired_msg);
    *out = d;
    return d->rec->msg;
}

static int dir_index(lua_State *L)
{
    struct nurs_record_dir *d;
    struct nurs_ct_msg *m = dir_check(L, &d);
    lua_pushvalue(L, 2);
    int type = lua_rawget(L, lua_upvalueindex(1));
    if (type == LUA_TFUNCTION)
        return 1;
    if (type != LUA_TNUMBER)
        return luaL_error(L, "conntrack direction has no field '%s'", luaL_tolstring(L, 2, NULL));
    enum nurs_ct_dir_field f = (enum nurs_ct_dir_field)lua_tointeger(L, -1);
    lua_pop(L, 1);
    struct nurs_lua_emit c = {.L = L};
    if (!nurs_ct_emit_dir_field(m, d->dir, f, &nurs_lua_emitter, &c))
        lua_pushnil(L);
    return 1;
}

static int dir_totable(lua_State *L)
{
    struct nurs_record_dir *d;
    struct nurs_ct_msg *m = dir_check(L, &d);
    struct nurs_lua_emit c = {.L = L};
    lua_emit_begin(&c, NULL);
    for (int f = 0; f < NURS_CTD_COUNT; f++)
        nurs_ct_emit_dir_field(m, d->dir, (enum nurs_ct_dir_field)f, &nurs_lua_emitter, &c);
    c.depth--;
    return 1;
}

static void push_name_table(lua_State *L, const char *const *names, int n)
{
    lua_createtable(L, 0, n + 1);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, i);
        lua_setfield(L, -2, names[i]);
    }
}

void nurs_record_open(lua_State *L)
{
    luaL_newmetatable(L, NURS_CT_RECORD_MT);
    push_name_table(L, nurs_ct_field_names, NURS_CTF_COUNT);
    lua_pushcfunction(L, record_totable);
    lua_setfield(L, -2, "totable");
    lua_pushcclosure(L, record_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, record_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, record_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    luaL_newmetatable(L, DIR_MT);
    push_name_table(L, nurs_ct_dir_field_names, NURS_CTD_COUNT);
    lua_pushcclosure(L, dir_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, record_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pop(L, 1);
    /* rec.orig:totable() */
    luaL_getmetatable(L, DIR_MT);
    lua_getfield(L, -1, "__index");
    lua_getupvalue(L, -1, 1);
    lua_pushcfunction(L, dir_totable);
    lua_setfield(L, -2, "totable");
    lua_pop(L, 3);
}
