/* The shared packet record from Lua, with a made-up source's metadata:
 * fields from both walkers, methods a source adds, :totable(), payload
 * and packet bytes, JSON, and the lifetime rule (a record kept past its
 * callback raises the documented error, a source's own bytes survive). */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>
#include <netinet/in.h>

#include "core/jsonw.h"
#include "sinks/json/sink.h"
#include "pkt_build.h"
#include "bindings/record.h"
#include "records/packet.h"
#include "tap.h"

struct test_meta {
    const char *prefix; /* NULL: absent */
    int group;
    const char *family;
    const uint8_t *pkt;
    size_t len;
    enum nurs_pkt_l3 hint;
};

static const char *const meta_names[] = {"prefix", "group", "group_hex"};

static bool meta_emit(const void *meta, int field, const struct nurs_emit *e, void *ctx)
{
    const struct test_meta *m = meta;
    char hex[16];
    switch (field) {
    case 0:
        if (!m->prefix)
            return false;
        e->string(ctx, "prefix", m->prefix, strlen(m->prefix));
        return true;
    case 1:
        e->integer(ctx, "group", m->group);
        return true;
    case 2:
        snprintf(hex, sizeof hex, "0x%x", m->group);
        e->string(ctx, "group_hex", hex, strlen(hex));
        return true;
    }
    return false;
}

static const char *meta_family(const void *meta) { return ((const struct test_meta *)meta)->family; }

static void meta_payload(const void *meta, const uint8_t **p, size_t *len,
                         enum nurs_pkt_l3 *hint)
{
    const struct test_meta *m = meta;
    *p = m->pkt;
    *len = m->len;
    *hint = m->hint;
}

static const struct nurs_packet_meta test_meta_ops = {
    .names = meta_names,
    .count = 3,
    .walked = 2,
    .emit = meta_emit,
    .payload = meta_payload,
    .family = meta_family,
};

/* A packet class whose views keep a few bytes of the source's own after
 * the packet's state (a tag), readable after expiry. */
struct test_state {
    struct nurs_packet_state packet;
    int tag;
};

static const char *test_name(int f) { return nurs_packet_field_name(&test_meta_ops, f); }
static bool test_emit_field(const struct nurs_field_src *src, int f, const struct nurs_emit *e,
                            void *ctx)
{
    return nurs_packet_emit_field(&test_meta_ops, src, f, e, ctx);
}
static void test_emit_all(const struct nurs_field_src *src, const struct nurs_emit *e, void *ctx)
{
    nurs_packet_emit_all(&test_meta_ops, src, e, ctx);
}

static const struct nurs_record_class test_class = {
    .what = "test record",
    .count = NURS_PACKET_FIELDS(3),
    .name = test_name,
    .emit_field = test_emit_field,
    .emit_all = test_emit_all,
    .state_size = sizeof(struct test_state),
    .packet = &test_meta_ops,
};

/* A source's method: reads its own bytes, live or not. */
static int rec_tag(lua_State *L)
{
    struct nurs_l_view *v = nurs_l_view_to(L, 1);
    luaL_argcheck(L, v != NULL, 1, "not a packet record");
    lua_pushinteger(L, ((struct test_state *)v->state)->tag);
    lua_pushboolean(L, nurs_l_view_data(v) != NULL);
    return 2;
}

static const char script[] =
    "function cb(rec)\n"
    "  seen = { prefix = rec.prefix, group = rec.group, hex = rec.group_hex,\n"
    "    family = rec.family, proto = rec.proto, src = rec.src, dst = rec.dst,\n"
    "    sport = rec.sport, dport = rec.dport, flags = rec.tcp_flags, bits = rec.tcp_flags_bits,\n"
    "    df = rec.df, frag = rec.frag_offset, payload = rec:payload(), packet = rec:packet(),\n"
    "    str = tostring(rec), caplen = rec.caplen }\n"
    "  seen.unknown_ok, seen.unknown_err = pcall(function() return rec.bogus end)\n"
    "  seen.write_ok, seen.write_err = pcall(function() rec.group = 1 end)\n"
    "  copy = rec:totable()\n"
    "  kept = rec; kept_list = { rec }; closure = function() return rec.src end\n"
    "  seen.tag, seen.live = rec:tag()\n"
    "end\n"
    "function after(f) local ok, err = pcall(f); return ok, err end\n";

static lua_State *new_state(void)
{
    static const luaL_Reg methods[] = {{"tag", rec_tag}, {NULL, NULL}};
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    nurs_l_records_open(L);
    nurs_l_record_class(L, &test_class, methods);
    if (luaL_dostring(L, script) != LUA_OK) {
        printf("# %s\n", lua_tostring(L, -1));
        return NULL;
    }
    return L;
}

static const char *lua_str(lua_State *L, const char *chunk)
{
    if (luaL_dostring(L, chunk) != LUA_OK)
        return lua_tostring(L, -1);
    const char *s = lua_tostring(L, -1);
    return s ? s : "(nil)";
}

static void expect_str(lua_State *L, const char *expr, const char *want)
{
    char chunk[256];
    snprintf(chunk, sizeof chunk, "return tostring(%s)", expr);
    tap_is_str(lua_str(L, chunk), want, expr);
    lua_settop(L, 0);
}

static void expect_expired(lua_State *L, const char *code, const char *what)
{
    char chunk[256];
    snprintf(chunk, sizeof chunk, "return after(function() return %s end)", code);
    if (luaL_dostring(L, chunk) != LUA_OK) {
        tap_ok(false, "%s: %s", what, lua_tostring(L, -1));
        lua_settop(L, 0);
        return;
    }
    bool ok = lua_toboolean(L, -2);
    const char *err = lua_tostring(L, -1);
    tap_ok(!ok && err && strstr(err, nurs_record_expired_msg), "%s raises the expired error (%s)",
           what, err ? err : "no error");
    lua_settop(L, 0);
}

/* Calls cb with a record borrowing pkt and meta, then expires it. */
static void deliver(lua_State *L, struct test_meta *m, const uint8_t *pkt, size_t len,
                    enum nurs_pkt_l3 hint, int tag)
{
    m->pkt = pkt;
    m->len = len;
    m->hint = hint;
    lua_getglobal(L, "cb");
    struct nurs_l_view *v = nurs_l_view_push(L, &test_class, m);
    ((struct test_state *)v->state)->tag = tag;
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        tap_ok(false, "callback: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    nurs_l_view_expire(v);
}

static size_t tcp_packet(uint8_t *b)
{
    size_t ip = pb_ipv4(b, IPPROTO_TCP, "192.0.2.7", "192.0.2.8", 20 + 3, 1, 0x4000, 5);
    pb_tcp(b + ip, 1234, 80, 1, 0, 0x002, 1024, 0);
    memcpy(b + ip + 20, "GET", 3);
    return ip + 23;
}

static void test_fields_and_lifetime(void)
{
    lua_State *L = new_state();
    if (!tap_ok(L != NULL, "test script loads"))
        return;
    uint8_t pkt[64];
    size_t len = tcp_packet(pkt);
    struct test_meta m = {.prefix = "web: ", .group = 5};
    deliver(L, &m, pkt, len, NURS_PKT_L3_ANY, 42);

    expect_str(L, "seen.prefix", "web: ");
    expect_str(L, "seen.group", "5");
    expect_str(L, "seen.hex", "0x5");
    expect_str(L, "seen.family", "ipv4");
    expect_str(L, "seen.proto", "tcp");
    expect_str(L, "seen.src", "192.0.2.7");
    expect_str(L, "seen.dst", "192.0.2.8");
    expect_str(L, "seen.sport", "1234");
    expect_str(L, "seen.dport", "80");
    expect_str(L, "seen.flags", "S");
    expect_str(L, "seen.bits", "2");
    expect_str(L, "seen.df", "true");
    expect_str(L, "seen.frag", "nil");
    expect_str(L, "seen.payload", "GET");
    expect_str(L, "#seen.packet", "43");
    expect_str(L, "seen.caplen", "43");
    expect_str(L, "seen.str", "test record (ipv4 tcp 192.0.2.7:1234 -> 192.0.2.8:80)");
    expect_str(L, "seen.unknown_ok", "false");
    tap_ok(strstr(lua_str(L, "return seen.unknown_err"), "test record has no field 'bogus'") != NULL,
           "unknown field names the record kind and the field");
    lua_settop(L, 0);
    tap_ok(strstr(lua_str(L, "return seen.write_err"), "read-only") != NULL, "records are read-only");
    lua_settop(L, 0);
    expect_str(L, "seen.tag", "42");
    expect_str(L, "seen.live", "true");

    /* The copy has the walked fields only, metadata first. */
    expect_str(L, "copy.prefix", "web: ");
    expect_str(L, "copy.group_hex", "nil");
    expect_str(L, "copy.tcp_flags_bits", "nil");
    expect_str(L, "copy.window", "1024");
    expect_str(L, "copy.payload_len", "3");

    expect_expired(L, "kept.src", "a field of a kept record");
    expect_expired(L, "kept_list[1].prefix", "a record kept in a table");
    expect_expired(L, "closure()", "a record captured by a closure");
    expect_expired(L, "kept:totable()", ":totable() of a kept record");
    expect_expired(L, "kept:payload()", ":payload() of a kept record");
    expect_expired(L, "kept:packet()", ":packet() of a kept record");
    expect_str(L, "tostring(kept)", "test record (expired)");
    /* A source's method still runs: it decides what an expired record may do. */
    expect_str(L, "select(1, kept:tag())", "42");
    expect_str(L, "select(2, kept:tag())", "false");
    lua_close(L);
}

static void test_absent_and_family(void)
{
    lua_State *L = new_state();
    if (!L)
        return;
    /* No packet copied (copy mode "meta"): the source's family stands in. */
    struct test_meta m = {.prefix = NULL, .group = 1, .family = "ipv6"};
    deliver(L, &m, NULL, 0, NURS_PKT_L3_ANY, 0);
    expect_str(L, "seen.prefix", "nil");
    expect_str(L, "seen.family", "ipv6");
    expect_str(L, "seen.src", "nil");
    expect_str(L, "seen.payload", "nil");
    expect_str(L, "seen.packet", "");
    expect_str(L, "seen.caplen", "0");
    expect_str(L, "seen.str", "test record (0 bytes, not an IP packet)");

    /* An ARP frame with a hint saying so: no view at all. */
    uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1};
    struct test_meta a = {.group = 2, .family = "arp"};
    deliver(L, &a, arp, sizeof arp, NURS_PKT_L3_NONE, 0);
    expect_str(L, "seen.family", "arp");
    expect_str(L, "seen.proto", "nil");
    expect_str(L, "#seen.packet", "28");
    lua_close(L);
}

static void test_identity(void)
{
    lua_State *L = new_state();
    if (!L)
        return;
    memset(lua_newuserdatauv(L, sizeof(struct nurs_l_view), 0), 0, sizeof(struct nurs_l_view));
    tap_ok(nurs_l_view_to(L, -1) == NULL, "a plain userdata is not a packet record");
    lua_pushlightuserdata(L, L);
    tap_ok(nurs_l_view_to(L, -1) == NULL, "a light userdata is not a packet record");
    lua_pushinteger(L, 5);
    tap_ok(nurs_l_view_to(L, -1) == NULL, "a number is not a packet record");
    uint8_t pkt[64];
    size_t len = tcp_packet(pkt);
    struct test_meta m = {.group = 1, .pkt = pkt, .len = len, .hint = NURS_PKT_L3_ANY};
    struct nurs_l_view *v = nurs_l_view_push(L, &test_class, &m);
    tap_ok(nurs_l_view_to(L, -1) == v, "a packet record is found as one");
    lua_close(L);
}

static void test_json(void)
{
    lua_State *L = luaL_newstate();
    uint8_t pkt[64];
    size_t len = tcp_packet(pkt);
    struct test_meta m = {.prefix = "p", .group = 9, .pkt = pkt, .len = len,
                          .hint = NURS_PKT_L3_ANY};
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    nurs_jsonw_object_begin(&w, NULL);
    nurs_record_emit(&test_class, &m, &nurs_jsonw_emitter, &w);
    nurs_jsonw_object_end(&w);
    nurs_jsonw_raw_char(&w, '\0');
    tap_is_str(w.buf,
               "{\"prefix\":\"p\",\"group\":9,\"family\":\"ipv4\",\"proto\":\"tcp\",\"protonum\":6,"
               "\"src\":\"192.0.2.7\",\"dst\":\"192.0.2.8\",\"sport\":1234,\"dport\":80,\"ttl\":64,"
               "\"tos\":16,\"ip_len\":43,\"ip_id\":1,\"df\":true,\"tcp_flags\":\"S\",\"seq\":1,"
               "\"ack\":0,\"window\":1024,\"tcp_hdrlen\":20,\"payload_offset\":40,"
               "\"payload_len\":3,\"caplen\":43}",
               "JSON of a packet record: metadata, then the packet, booleans as booleans");
    nurs_jsonw_free(&w);
    lua_close(L);
}

static const char *clash_name(int f)
{
    static const char *const clash[] = {"src"};
    static const struct nurs_packet_meta ops = {.names = clash, .count = 1};
    return nurs_packet_field_name(&ops, f);
}

static int register_bad(lua_State *L)
{
    const struct nurs_record_class *cls = lua_touserdata(L, 1);
    const luaL_Reg *methods = lua_touserdata(L, 2);
    nurs_l_record_class(L, cls, methods);
    return 0;
}

static void test_bad_classes(void)
{
    static const char *const clash[] = {"src"};
    static const struct nurs_packet_meta clash_ops = {
        .names = clash, .count = 1, .walked = 1, .emit = meta_emit, .payload = meta_payload};
    static const struct nurs_record_class clash_class = {
        .what = "clash record",
        .count = NURS_PACKET_FIELDS(1),
        .name = clash_name,
        .emit_field = test_emit_field,
        .emit_all = test_emit_all,
        .state_size = sizeof(struct nurs_packet_state),
        .packet = &clash_ops,
    };
    static const luaL_Reg hiding[] = {{"dport", rec_tag}, {NULL, NULL}};
    lua_State *L = luaL_newstate();
    lua_pushcfunction(L, register_bad);
    lua_pushlightuserdata(L, (void *)&clash_class);
    lua_pushnil(L);
    int rc = lua_pcall(L, 2, 0, 0);
    tap_ok(rc != LUA_OK && strstr(lua_tostring(L, -1), "field 'src' defined twice"),
           "a source field named like a packet field is refused");
    lua_settop(L, 0);
    lua_pushcfunction(L, register_bad);
    lua_pushlightuserdata(L, (void *)&test_class);
    lua_pushlightuserdata(L, (void *)hiding);
    rc = lua_pcall(L, 2, 0, 0);
    tap_ok(rc != LUA_OK && strstr(lua_tostring(L, -1), "method 'dport' hides a field"),
           "a method named like a field is refused");
    lua_close(L);
}

int main(void)
{
    test_fields_and_lifetime();
    test_absent_and_family();
    test_identity();
    test_json();
    test_bad_classes();
    return tap_done();
}
