/* Record lifetime and field access from Lua, against crafted messages:
 * a record smuggled out of its callback through any path must raise the
 * documented error, never read the (recycled) buffer. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ct_build.h"
#include "bindings/record.h"
#include "netlink/ct_msg.h"
#include "records/ct_record.h"
#include "tap.h"

static const char script[] =
    "seen = {}\n"
    "function cb(rec)\n"
    "  seen.proto = rec.proto; seen.src = rec.orig.src; seen.dport = rec.orig.dport\n"
    "  seen.rbytes = rec.reply.bytes; seen.event = rec.event; seen.helper = rec.helper\n"
    "  seen.state = rec.state; seen.status = table.concat(rec.status, ',')\n"
    "  seen.status_bits = rec.status_bits; seen.start = rec.start; seen.stop = rec.stop\n"
    "  seen.family = rec.family; seen.master = rec.master; seen.zone = rec.zone\n"
    "  seen.same_dir = rawequal(rec.orig, rec.orig)\n"
    "  kept = rec; kept_dir = rec.reply; kept_list = { rec }\n"
    "  closure = function() return rec.id end\n"
    "  co = coroutine.create(function() coroutine.yield(); return rec.mark end)\n"
    "  coroutine.resume(co)\n"
    "  copy = rec:totable(); dircopy = rec.orig:totable()\n"
    "  seen.unknown_ok, seen.unknown_err = pcall(function() return rec.bogus end)\n"
    "  seen.write_ok, seen.write_err = pcall(function() rec.mark = 1 end)\n"
    "end\n"
    "function after(f) local ok, err = pcall(f); return ok, err end\n";

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    nurs_l_records_open(L);
    if (luaL_dostring(L, script) != LUA_OK) {
        printf("# %s\n", lua_tostring(L, -1));
        return NULL;
    }
    return L;
}

static const char *get_seen(lua_State *L, const char *key)
{
    lua_getglobal(L, "seen");
    lua_getfield(L, -1, key);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 2); /* the table keeps the string alive */
    return s;
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
    tap_ok(!ok && err && strstr(err, "record used after its callback; call :totable() to keep it"),
           "%s raises the expired-record error (%s)", what, err ? err : "no error");
    lua_settop(L, 0);
}

static void test_lifetime(void)
{
    lua_State *L = new_state();
    if (!tap_ok(L != NULL, "test script loads"))
        return;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ct_build_opts o = {
        .family = AF_INET, .msg_type = IPCTNL_MSG_CT_DELETE, .proto = 6,
        .src = "10.0.0.1", .dst = "10.0.0.2", .sport = 40000, .dport = 80,
        .packets = {3, 2}, .bytes = {180, 120},
        .status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED, .mark = 7, .id = 99,
        .use = 1, .tcp_state = 7, .start_ns = 1700000000123456789ull,
        .stop_ns = 1700000001000000000ull,
    };
    struct nlmsghdr *nlh = ct_build(buf, &o);
    struct nurs_ct_msg m;
    const char *why = NULL;
    tap_ok(nurs_ct_msg_parse(&m, nlh, false, &why) == 0, "crafted destroy parses");

    lua_getglobal(L, "cb");
    struct nurs_l_view *rec = nurs_l_view_push(L, &nurs_ct_class, &m);
    int rc = lua_pcall(L, 1, 0, 0);
    if (!tap_ok(rc == LUA_OK, "callback runs"))
        printf("# %s\n", lua_tostring(L, -1));
    nurs_l_view_expire(rec);
    /* What the kernel's next message would do to the buffer. */
    memset(buf, 0xAB, sizeof buf);

    tap_is_str(get_seen(L, "proto"), "tcp", "proto");
    tap_is_str(get_seen(L, "src"), "10.0.0.1", "orig.src");
    tap_is_str(get_seen(L, "dport"), "80", "orig.dport");
    tap_is_str(get_seen(L, "rbytes"), "120", "reply.bytes");
    tap_is_str(get_seen(L, "event"), "destroy", "event");
    tap_is_str(get_seen(L, "family"), "ipv4", "family");
    tap_is_str(get_seen(L, "state"), "TIME_WAIT", "TCP state");
    tap_is_str(get_seen(L, "status"), "SEEN_REPLY,ASSURED,CONFIRMED", "status names");
    tap_is_str(get_seen(L, "status_bits"), "14", "status_bits");
    tap_is_str(get_seen(L, "start"), "1700000000123456789", "start timestamp in ns");
    tap_is_str(get_seen(L, "stop"), "1700000001000000000", "stop timestamp in ns");
    tap_ok(get_seen(L, "helper") == NULL, "absent helper reads as nil");
    tap_ok(get_seen(L, "master") == NULL, "absent master tuple reads as nil");
    tap_ok(get_seen(L, "zone") == NULL, "absent zone reads as nil, not 0");
    lua_getglobal(L, "seen");
    lua_getfield(L, -1, "same_dir");
    tap_ok(lua_toboolean(L, -1), "rec.orig is cached: the same object each time");
    lua_getfield(L, -2, "unknown_ok");
    tap_ok(!lua_toboolean(L, -1), "unknown field raises");
    lua_getfield(L, -3, "unknown_err");
    tap_ok(lua_tostring(L, -1) && strstr(lua_tostring(L, -1), "no field 'bogus'"),
           "unknown field error names it");
    lua_getfield(L, -4, "write_ok");
    tap_ok(!lua_toboolean(L, -1), "records are read-only");
    lua_settop(L, 0);

    expect_expired(L, "kept.proto", "global record field");
    expect_expired(L, "kept:totable()", "global record totable");
    expect_expired(L, "kept.orig", "global record direction");
    expect_expired(L, "kept_dir.src", "kept direction field");
    expect_expired(L, "kept_list[1].id", "record in a table");
    expect_expired(L, "closure()", "record in a closure");
    expect_expired(L, "select(2, assert(coroutine.resume(co)))", "record in a coroutine");

    tap_ok(luaL_dostring(L, "return tostring(kept)") == LUA_OK &&
               strcmp(lua_tostring(L, -1), "conntrack record (expired)") == 0,
           "tostring of an expired record says so");
    lua_settop(L, 0);
    tap_ok(luaL_dostring(L, "return copy.orig.src, copy.reply.packets, copy.status[2], "
                            "dircopy.sport, copy.event") == LUA_OK,
           "totable copy is readable after the callback");
    tap_is_str(lua_tostring(L, 1), "10.0.0.1", "copy.orig.src");
    tap_is_str(lua_tostring(L, 2), "2", "copy.reply.packets");
    tap_is_str(lua_tostring(L, 3), "ASSURED", "copy.status[2]");
    tap_is_str(lua_tostring(L, 4), "40000", "orig:totable().sport");
    tap_is_str(lua_tostring(L, 5), "destroy", "copy.event");
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    lua_close(L);
}

static void test_ipv6_icmp(void)
{
    lua_State *L = new_state();
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ct_build_opts o = {
        .family = AF_INET6, .msg_type = IPCTNL_MSG_CT_NEW, .flags = NLM_F_CREATE | NLM_F_EXCL,
        .proto = 58, .src = "2001:db8::1", .dst = "2001:db8::2", .sport = 77,
        .status = IPS_CONFIRMED, .timeout = 30, .id = 5,
    };
    struct nurs_ct_msg m;
    const char *why;
    nurs_ct_msg_parse(&m, ct_build(buf, &o), false, &why);
    tap_ok(luaL_dostring(L, "return function(r) return r.event, r.family, r.proto, r.orig.dst, "
                            "r.orig.type, r.reply.type, r.orig.icmp_id, r.orig.sport, "
                            "r.orig.packets, r.timeout end") == LUA_OK,
           "ipv6 probe loads");
    nurs_l_view_push(L, &nurs_ct_class, &m);
    tap_ok(lua_pcall(L, 1, 10, 0) == LUA_OK, "ipv6 probe runs");
    tap_is_str(lua_tostring(L, 1), "new", "NEW event from NLM_F_CREATE");
    tap_is_str(lua_tostring(L, 2), "ipv6", "family ipv6");
    tap_is_str(lua_tostring(L, 3), "icmpv6", "proto icmpv6");
    tap_is_str(lua_tostring(L, 4), "2001:db8::2", "ipv6 dst text");
    tap_is_str(lua_tostring(L, 5), "128", "echo request type");
    tap_is_str(lua_tostring(L, 6), "129", "echo reply type");
    tap_is_str(lua_tostring(L, 7), "77", "icmp id");
    tap_ok(lua_isnil(L, 8), "no ports on icmp");
    tap_ok(lua_isnil(L, 9), "no counters without accounting");
    tap_is_str(lua_tostring(L, 10), "30", "timeout");
    lua_close(L);
}

int main(void)
{
    test_lifetime();
    test_ipv6_icmp();
    return tap_done();
}
