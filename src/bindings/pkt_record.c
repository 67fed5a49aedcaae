#include "bindings/pkt_record.h"

#include <stdio.h>
#include <string.h>

#include "core/addr.h"
#include "records/pkt_fields.h"
#include "bindings/ct_record.h"

/* Every packet record metatable holds this key, whatever its class. */
static const char class_marker = 0;

/* In a class's name map, a source's field i is stored as -(i + 1) and a
 * packet field f as f, so one lookup tells which walker to ask. */
static int meta_slot(int i) { return -(i + 1); }

const struct nurs_pkt *nurs_pkt_record_view(struct nurs_pkt_record *r)
{
    if (!r->parsed) {
        nurs_pkt_parse(&r->pkt, r->data, r->len, r->hint);
        r->parsed = true;
    }
    return &r->pkt;
}

static bool emit_packet_field(struct nurs_pkt_record *r, enum nurs_pkt_field f,
                              const struct nurs_emit *e, void *ctx)
{
    if (nurs_pkt_emit_field(nurs_pkt_record_view(r), f, e, ctx))
        return true;
    if (f != NURS_PKTF_FAMILY || !r->cls->meta->family)
        return false;
    const char *family = r->cls->meta->family(r->meta);
    if (!family)
        return false;
    e->string(ctx, nurs_pkt_field_names[f], family, strlen(family));
    return true;
}

static bool emit_slot(struct nurs_pkt_record *r, int slot, const struct nurs_emit *e, void *ctx)
{
    if (slot < 0)
        return r->cls->meta->emit(r->meta, -slot - 1, e, ctx);
    return emit_packet_field(r, (enum nurs_pkt_field)slot, e, ctx);
}

void nurs_pkt_record_emit(struct nurs_pkt_record *r, const struct nurs_emit *e, void *ctx)
{
    const struct nurs_pkt_meta_ops *m = r->cls->meta;
    for (int i = 0; i < m->walked; i++)
        m->emit(r->meta, i, e, ctx);
    for (int f = 0; f < NURS_PKTF_WALKED; f++)
        emit_packet_field(r, (enum nurs_pkt_field)f, e, ctx);
}

struct nurs_pkt_record *nurs_pkt_record_push(lua_State *L, const struct nurs_pkt_class *cls,
                                             const void *meta, const void *data, size_t len,
                                             enum nurs_pkt_l3 hint)
{
    struct nurs_pkt_record *r = lua_newuserdatauv(L, sizeof *r + cls->extra_size, 0);
    r->cls = cls;
    r->meta = meta;
    r->data = data;
    r->len = data ? len : 0;
    r->hint = hint;
    r->parsed = false;
    /* By the class's address: luaL_setmetatable's name lookup costs a
     * string comparison per record. */
    lua_rawgetp(L, LUA_REGISTRYINDEX, cls);
    lua_setmetatable(L, -2);
    return r;
}

struct nurs_pkt_record *nurs_pkt_record_to(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        return NULL;
    bool ours = lua_rawgetp(L, -1, &class_marker) != LUA_TNIL;
    lua_pop(L, 2);
    return ours ? lua_touserdata(L, idx) : NULL;
}

struct nurs_pkt_record *nurs_pkt_record_check(lua_State *L, int idx)
{
    struct nurs_pkt_record *r = nurs_pkt_record_to(L, idx);
    if (!r)
        luaL_typeerror(L, idx, "packet record");
    if (!r->meta)
        luaL_error(L, "%s", nurs_record_expired_msg);
    return r;
}

/* The record at 1, of the class in upvalue 2, live. */
static struct nurs_pkt_record *check_own(lua_State *L, bool need_live)
{
    const struct nurs_pkt_class *cls = lua_touserdata(L, lua_upvalueindex(2));
    struct nurs_pkt_record *r = luaL_checkudata(L, 1, cls->mt);
    if (need_live && !r->meta)
        luaL_error(L, "%s", nurs_record_expired_msg);
    return r;
}

/* Upvalue 1 maps names to slots (fields) and functions (methods). Methods
 * are found on expired records too: they decide for themselves (a
 * deferred verdict may be legal after the callback, a read is not). */
static int record_index(lua_State *L)
{
    struct nurs_pkt_record *r = check_own(L, false);
    lua_pushvalue(L, 2);
    int type = lua_rawget(L, lua_upvalueindex(1));
    if (type == LUA_TFUNCTION)
        return 1;
    if (!r->meta)
        return luaL_error(L, "%s", nurs_record_expired_msg);
    if (type != LUA_TNUMBER)
        return luaL_error(L, "%s has no field '%s'", r->cls->what, luaL_tolstring(L, 2, NULL));
    int slot = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    struct nurs_lua_emit c = {.L = L};
    if (!emit_slot(r, slot, &nurs_lua_emitter, &c))
        lua_pushnil(L);
    return 1;
}

static int record_newindex(lua_State *L)
{
    struct nurs_pkt_record *r = check_own(L, false);
    return luaL_error(L, "%s is read-only; copy with :totable() to change", r->cls->what);
}

static int record_totable(lua_State *L)
{
    struct nurs_pkt_record *r = nurs_pkt_record_check(L, 1);
    struct nurs_lua_emit c = {.L = L};
    luaL_checkstack(L, 10, NULL);
    nurs_lua_emitter.object_begin(&c, NULL);
    nurs_pkt_record_emit(r, &nurs_lua_emitter, &c);
    c.depth--; /* the table stays on the stack */
    return 1;
}

/* rec:payload() -> the captured transport payload, or nil */
static int record_payload(lua_State *L)
{
    struct nurs_pkt_record *r = nurs_pkt_record_check(L, 1);
    const uint8_t *bytes;
    size_t len;
    if (nurs_pkt_payload(nurs_pkt_record_view(r), &bytes, &len))
        lua_pushlstring(L, (const char *)bytes, len);
    else
        lua_pushnil(L);
    return 1;
}

/* rec:packet() -> every captured byte, from the network header on */
static int record_packet(lua_State *L)
{
    struct nurs_pkt_record *r = nurs_pkt_record_check(L, 1);
    lua_pushlstring(L, r->data ? r->data : "", r->len);
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

static int record_tostring(lua_State *L)
{
    struct nurs_pkt_record *r = check_own(L, false);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, r->cls->what);
    if (!r->meta) {
        luaL_addstring(&b, " (expired)");
        luaL_pushresult(&b);
        return 1;
    }
    const struct nurs_pkt *p = nurs_pkt_record_view(r);
    if (!p->l3) {
        lua_pushfstring(L, " (%d bytes, not an IP packet)", (int)p->caplen);
        luaL_addvalue(&b);
        luaL_pushresult(&b);
        return 1;
    }
    struct nurs_lua_emit c = {.L = L};
    luaL_addstring(&b, p->version == 4 ? " (ipv4 " : " (ipv6 ");
    if (nurs_pkt_emit_field(p, NURS_PKTF_PROTO, &nurs_lua_emitter, &c))
        luaL_addvalue(&b);
    else
        luaL_addstring(&b, "?");
    luaL_addchar(&b, ' ');
    add_endpoint(&b, p, false);
    luaL_addstring(&b, " -> ");
    add_endpoint(&b, p, true);
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
}

static void set_slot(lua_State *L, const struct nurs_pkt_class *cls, const char *name, int slot)
{
    if (lua_getfield(L, -1, name) != LUA_TNIL)
        luaL_error(L, "%s: field '%s' defined twice", cls->what, name);
    lua_pop(L, 1);
    lua_pushinteger(L, slot);
    lua_setfield(L, -2, name);
}

void nurs_pkt_record_class(lua_State *L, const struct nurs_pkt_class *cls,
                           const luaL_Reg *methods)
{
    static const luaL_Reg common[] = {
        {"totable", record_totable},
        {"payload", record_payload},
        {"packet", record_packet},
        {NULL, NULL},
    };
    const struct nurs_pkt_meta_ops *m = cls->meta;
    luaL_newmetatable(L, cls->mt);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, -2, &class_marker);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, cls);

    lua_createtable(L, 0, NURS_PKTF_COUNT + m->count + 8);
    for (int f = 0; f < NURS_PKTF_COUNT; f++)
        set_slot(L, cls, nurs_pkt_field_names[f], f);
    for (int i = 0; i < m->count; i++)
        set_slot(L, cls, m->names[i], meta_slot(i));
    luaL_setfuncs(L, common, 0);
    for (const luaL_Reg *fn = methods; fn && fn->name; fn++) {
        int type = lua_getfield(L, -1, fn->name);
        lua_pop(L, 1);
        if (type == LUA_TNUMBER)
            luaL_error(L, "%s: method '%s' hides a field", cls->what, fn->name);
    }
    if (methods)
        luaL_setfuncs(L, methods, 0);
    lua_pushlightuserdata(L, (void *)cls);
    lua_pushcclosure(L, record_index, 2);
    lua_setfield(L, -2, "__index");

    lua_pushnil(L);
    lua_pushlightuserdata(L, (void *)cls);
    lua_pushcclosure(L, record_newindex, 2);
    lua_setfield(L, -2, "__newindex");
    lua_pushnil(L);
    lua_pushlightuserdata(L, (void *)cls);
    lua_pushcclosure(L, record_tostring, 2);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
