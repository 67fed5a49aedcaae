#include "bindings/record.h"

#include <stdio.h>
#include <string.h>

#include "bindings/script.h"
#include "core/addr.h"
#include "netlink/ct_msg.h"
#include "records/ct_record.h"
#include "records/exp_record.h"
#include "records/nflog_fields.h"
#include "records/packet.h"
#include "sources/nfqueue/record.h"

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

/* ---- views ---- */

/* Only C code writes userdata memory, so a full userdata large enough
 * that starts with our magic is a view: one check for every kind, far
 * cheaper than a metatable lookup on a path taken for every record. */
struct nurs_l_view *nurs_l_view_to(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) < sizeof(struct nurs_l_view))
        return NULL;
    struct nurs_l_view *v = lua_touserdata(L, idx);
    return v->magic == NURS_L_VIEW_MAGIC ? v : NULL;
}

struct nurs_l_view *nurs_l_view_check(lua_State *L, int idx, const struct nurs_record_class *cls)
{
    struct nurs_l_view *v = nurs_l_view_to(L, idx);
    if (!v || (cls && v->cls != cls))
        luaL_typeerror(L, idx, cls ? cls->what : "record");
    if (!nurs_l_view_data(v))
        luaL_error(L, "%s", nurs_record_expired_msg);
    return v;
}

const void *nurs_l_record_test(lua_State *L, int idx, const struct nurs_record_class *cls)
{
    struct nurs_l_view *v = nurs_l_view_to(L, idx);
    if (!v || v->cls != cls)
        return NULL;
    if (!nurs_l_view_data(v))
        luaL_error(L, "%s", nurs_record_expired_msg);
    return nurs_l_view_data(v);
}

static inline struct nurs_l_view *new_view(lua_State *L, const struct nurs_record_class *cls,
                                    const void *data, size_t size, int user_values)
{
    struct nurs_l_view *v = lua_newuserdatauv(L, size + cls->state_size, user_values);
    v->magic = NURS_L_VIEW_MAGIC;
    v->cls = cls;
    v->data = data;
    if (cls->state_size)
        memset(v->state, 0, cls->state_size);
    /* By the class's name, a constant string: Lua's cache of API strings
     * finds it by address, far cheaper than hashing a light userdata key
     * into the large registry. */
    lua_getfield(L, LUA_REGISTRYINDEX, cls->what);
    lua_setmetatable(L, -2);
    return v;
}

struct nurs_l_view *nurs_l_view_push(lua_State *L, const struct nurs_record_class *cls,
                                     const void *data)
{
    /* User values cache the sub-records (rec.orig...). */
    return new_view(L, cls, data, sizeof(struct nurs_l_view), cls->n_subs);
}

/* The sub-record `arg` of class cls (NULL: absent) of the view at 1;
 * cached in the view's user value arg + 1, and keeping the view alive
 * through its own. */
static int push_sub(lua_State *L, struct nurs_l_view *v, int arg,
                    const struct nurs_record_class *cls)
{
    if (!cls) {
        lua_pushnil(L);
        return 1;
    }
    if (lua_getiuservalue(L, 1, arg + 1) == LUA_TUSERDATA)
        return 1;
    lua_pop(L, 1);
    struct nurs_l_view *part = new_view(L, cls, v, sizeof *part + sizeof arg, 1);
    memcpy(part->state, &arg, sizeof arg);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, arg + 1);
    return 1;
}

/* Upvalue 1 maps field names to field numbers and method names to
 * functions: one hash lookup per access, strings being interned. Methods
 * are found on expired views too: they decide for themselves (a deferred
 * verdict may be legal after the callback, a read is not). */
static struct nurs_l_view *self(lua_State *L)
{
    struct nurs_l_view *v = nurs_l_view_to(L, 1);
    if (!v)
        luaL_typeerror(L, 1, "record");
    return v;
}

static int view_index(lua_State *L)
{
    struct nurs_l_view *v = self(L);
    lua_pushvalue(L, 2);
    int type = lua_rawget(L, lua_upvalueindex(1));
    if (type == LUA_TFUNCTION)
        return 1;
    if (!nurs_l_view_data(v))
        return luaL_error(L, "%s", nurs_record_expired_msg);
    if (type != LUA_TNUMBER)
        return luaL_error(L, "%s has no field '%s'", v->cls->what, luaL_tolstring(L, 2, NULL));
    int f = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (v->cls->sub) {
        const struct nurs_record_class *sub = NULL;
        int arg = v->cls->sub(nurs_l_view_data(v), f, &sub);
        if (arg >= 0)
            return push_sub(L, v, arg, sub);
    }
    struct nurs_field_src src = nurs_l_view_src(v);
    struct nurs_lua_emit c = {.L = L};
    if (!v->cls->emit_field(&src, f, &nurs_lua_emitter, &c))
        lua_pushnil(L);
    return 1;
}

static int view_newindex(lua_State *L)
{
    struct nurs_l_view *v = self(L);
    return luaL_error(L, "%s is read-only; copy with :totable() to change", v->cls->what);
}

static int view_totable(lua_State *L)
{
    struct nurs_l_view *v = nurs_l_view_check(L, 1, NULL);
    struct nurs_field_src src = nurs_l_view_src(v);
    struct nurs_lua_emit c = {.L = L};
    luaL_checkstack(L, 10, NULL);
    lua_emit_begin(&c, NULL);
    v->cls->emit_all(&src, &nurs_lua_emitter, &c);
    c.depth--; /* the table stays on the stack */
    return 1;
}

/* ---- packet records ---- */

static struct nurs_l_view *check_packet(lua_State *L, const struct nurs_pkt **pkt)
{
    struct nurs_l_view *v = nurs_l_view_check(L, 1, NULL);
    if (!v->cls->packet)
        luaL_typeerror(L, 1, "packet record");
    struct nurs_field_src src = nurs_l_view_src(v);
    *pkt = nurs_packet_view(v->cls->packet, &src);
    return v;
}

/* rec:payload() -> the captured transport payload, or nil */
static int view_payload(lua_State *L)
{
    const struct nurs_pkt *pkt;
    check_packet(L, &pkt);
    const uint8_t *bytes;
    size_t len;
    if (nurs_pkt_payload(pkt, &bytes, &len))
        lua_pushlstring(L, (const char *)bytes, len);
    else
        lua_pushnil(L);
    return 1;
}

/* rec:packet() -> every captured byte, from the network header on */
static int view_packet(lua_State *L)
{
    const struct nurs_pkt *pkt;
    struct nurs_l_view *v = check_packet(L, &pkt);
    const struct nurs_packet_state *st = (const struct nurs_packet_state *)v->state;
    lua_pushlstring(L, st->data ? (const char *)st->data : "", st->len);
    return 1;
}

static void add_endpoint(luaL_Buffer *b, const struct nurs_pkt *p, bool dst)
{
    const uint8_t *raw;
    char text[NURS_ADDR_TEXT_MAX];
    size_t n = nurs_pkt_addr(p, dst, &raw);
    uint16_t ports[2];
    if (!n || !nurs_addr_text(raw, n, text, sizeof text)) {
        luaL_addstring(b, "?");
        return;
    }
    bool with_port = nurs_pkt_ports(p, &ports[0], &ports[1]);
    if (with_port && n == 16)
        luaL_addchar(b, '[');
    luaL_addstring(b, text);
    if (with_port) {
        char port[8];
        snprintf(port, sizeof port, "%s:%u", n == 16 ? "]" : "", ports[dst]);
        luaL_addstring(b, port);
    }
}

static void describe_packet(lua_State *L, luaL_Buffer *b, struct nurs_l_view *v)
{
    struct nurs_field_src src = nurs_l_view_src(v);
    const struct nurs_pkt *p = nurs_packet_view(v->cls->packet, &src);
    if (!p->l3) {
        lua_pushfstring(L, " (%d bytes, not an IP packet)", (int)p->caplen);
        luaL_addvalue(b);
        return;
    }
    struct nurs_lua_emit c = {.L = L};
    luaL_addstring(b, p->version == 4 ? " (ipv4 " : " (ipv6 ");
    if (nurs_pkt_emit_field(p, NURS_PKTF_PROTO, &nurs_lua_emitter, &c))
        luaL_addvalue(b);
    else
        luaL_addstring(b, "?");
    luaL_addchar(b, ' ');
    add_endpoint(b, p, false);
    luaL_addstring(b, " -> ");
    add_endpoint(b, p, true);
    luaL_addchar(b, ')');
}

static void describe_ct(lua_State *L, luaL_Buffer *b, struct nurs_l_view *v)
{
    struct nurs_ct_msg *m = (struct nurs_ct_msg *)nurs_l_view_data(v);
    char src[NURS_ADDR_TEXT_MAX] = "?", dst[NURS_ADDR_TEXT_MAX] = "?";
    uint8_t proto = 0;
    nurs_ct_addr(m, NURS_CT_ORIG, false, src, sizeof src);
    nurs_ct_addr(m, NURS_CT_ORIG, true, dst, sizeof dst);
    nurs_ct_protonum(m, &proto);
    const char *pname = nurs_ct_proto_name(proto);
    lua_pushfstring(L, " (%s %s %s -> %s)", nurs_ct_event_name(m->event), pname ? pname : "?",
                    src, dst);
    luaL_addvalue(b);
}

static int view_tostring(lua_State *L)
{
    struct nurs_l_view *v = self(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, v->cls->what);
    if (!nurs_l_view_data(v))
        luaL_addstring(&b, " (expired)");
    else if (v->cls->packet)
        describe_packet(L, &b, v);
    else if (v->cls == &nurs_ct_class)
        describe_ct(L, &b, v);
    luaL_pushresult(&b);
    return 1;
}

/* ---- classes ---- */

static void set_field(lua_State *L, const struct nurs_record_class *cls, const char *name, int f)
{
    if (lua_getfield(L, -1, name) != LUA_TNIL)
        luaL_error(L, "%s: field '%s' defined twice", cls->what, name);
    lua_pop(L, 1);
    lua_pushinteger(L, f);
    lua_setfield(L, -2, name);
}

static void add_methods(lua_State *L, const struct nurs_record_class *cls, const luaL_Reg *methods)
{
    for (const luaL_Reg *fn = methods; fn && fn->name; fn++) {
        int type = lua_getfield(L, -1, fn->name);
        lua_pop(L, 1);
        if (type == LUA_TNUMBER)
            luaL_error(L, "%s: method '%s' hides a field", cls->what, fn->name);
    }
    if (methods)
        luaL_setfuncs(L, methods, 0);
}

void nurs_l_record_class(lua_State *L, const struct nurs_record_class *cls,
                         const luaL_Reg *methods)
{
    static const luaL_Reg common[] = {{"totable", view_totable}, {NULL, NULL}};
    static const luaL_Reg packet[] = {
        {"payload", view_payload},
        {"packet", view_packet},
        {NULL, NULL},
    };
    if (cls->part && cls->state_size)
        luaL_error(L, "%s: a part of a record keeps no state", cls->what);
    if (!luaL_newmetatable(L, cls->what)) {
        /* Registered before (the module loaded again): the same class, or
         * a different one that took its name. */
        bool same = lua_getfield(L, -1, "__class") == LUA_TLIGHTUSERDATA &&
                    lua_touserdata(L, -1) == cls;
        lua_pop(L, 2);
        if (!same)
            luaL_error(L, "%s: a class of that name is registered already", cls->what);
        return;
    }
    lua_pushlightuserdata(L, (void *)cls);
    lua_setfield(L, -2, "__class");

    lua_createtable(L, 0, cls->count + 8);
    for (int f = 0; f < cls->count; f++)
        set_field(L, cls, cls->name(f), f);
    add_methods(L, cls, common);
    add_methods(L, cls, cls->packet ? packet : NULL);
    add_methods(L, cls, methods);
    lua_pushcclosure(L, view_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, view_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, view_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

void nurs_l_records_open(lua_State *L)
{
    nurs_l_record_class(L, &nurs_ct_class, NULL);
    nurs_l_record_class(L, &nurs_ct_dir_class, NULL);
    nurs_l_record_class(L, &nurs_nflog_class, NULL);
    nurs_l_record_class(L, &nurs_exp_class, NULL);
    nurs_l_record_class(L, &nurs_exp_tuple_class, NULL);
}

/* ---- the view of a delivery ---- */

static void end_view(struct nurs_record *rec)
{
    nurs_l_view_expire(rec->view);
    lua_settop(rec->view_ctx, rec->view_slot - 2);
}

int nurs_l_record_view_push(lua_State *L, struct nurs_record *rec)
{
    const struct nurs_record_class *cls = rec->kind == NURS_RECORD_CT      ? &nurs_ct_class
                                          : rec->kind == NURS_RECORD_NFLOG ? &nurs_nflog_class
                                          : rec->kind == NURS_RECORD_EXP   ? &nurs_exp_class
                                                                           : &nurs_nfq_class;
    lua_pushcfunction(L, nurs_l_traceback);
    rec->view = nurs_l_view_push(L, cls, rec->data);
    rec->view_end = end_view;
    rec->view_ctx = L;
    rec->view_slot = lua_gettop(L);
    return rec->view_slot;
}
