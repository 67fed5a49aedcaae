#include "bindings/ct_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <lauxlib.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include "bindings/record.h"
#include "bindings/util.h"
#include "records/ct_record.h"
#include "records/exp_record.h"

static void set_family(lua_State *L, const char *fname, struct nurs_ct_spec *s, uint8_t family)
{
    if ((s->has & NURS_CTS_FAMILY) && s->family != family)
        luaL_error(L, "%s: IPv4 and IPv6 addresses in one entry", fname);
    s->family = family;
    s->has |= NURS_CTS_FAMILY;
}

/* "192.0.2.1", "2001:db8::1", and in filters "10.0.0.0/8". */
static void read_addr(lua_State *L, int t, const char *key, bool prefix_ok, const char *fname,
                      struct nurs_ct_spec *s, uint8_t *out, uint8_t *plen)
{
    lua_getfield(L, t, key);
    const char *text = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: '%s' must be an address string", fname, key);
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    long bits = -1;
    char *slash = strchr(buf, '/');
    if (slash) {
        if (!prefix_ok)
            luaL_error(L, "%s: '%s' names one address here, not a network", fname, key);
        *slash = '\0';
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (*end || bits < 0)
            luaL_error(L, "%s: bad prefix length in '%s'", fname, text);
    }
    uint8_t family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, buf, out) != 1)
        luaL_error(L, "%s: '%s' is not an address", fname, text);
    long max = family == AF_INET6 ? 128 : 32;
    if (bits > max)
        luaL_error(L, "%s: bad prefix length in '%s'", fname, text);
    *plen = (uint8_t)(bits < 0 ? max : bits);
    set_family(L, fname, s, family);
    lua_pop(L, 1);
}

static bool has_key(lua_State *L, int t, const char *key)
{
    bool has = lua_getfield(L, t, key) != LUA_TNIL;
    lua_pop(L, 1);
    return has;
}

/* A tuple table (orig, reply, and the tuples of expectations). */
static void read_tuple(lua_State *L, int t, bool filter, const char *fname, struct nurs_ct_spec *s,
                       struct nurs_ct_tuple_spec *ts)
{
    static const char *const allowed[] = {"src", "dst", "sport", "dport", "type", "code",
                                          "icmp_id", "zone", NULL};
    nurs_check_options(L, t, fname, allowed);
    if (has_key(L, t, "src")) {
        read_addr(L, t, "src", filter, fname, s, ts->src, &ts->src_plen);
        ts->has |= NURS_CTS_SRC;
    }
    if (has_key(L, t, "dst")) {
        read_addr(L, t, "dst", filter, fname, s, ts->dst, &ts->dst_plen);
        ts->has |= NURS_CTS_DST;
    }
    const struct {
        const char *key;
        unsigned bit;
        lua_Integer max;
    } nums[] = {
        {"sport", NURS_CTS_SPORT, 65535}, {"dport", NURS_CTS_DPORT, 65535},
        {"type", NURS_CTS_ICMP_TYPE, 255}, {"code", NURS_CTS_ICMP_CODE, 255},
        {"icmp_id", NURS_CTS_ICMP_ID, 65535}, {"zone", NURS_CTS_TUPLE_ZONE, 65535},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        if (!has_key(L, t, nums[i].key))
            continue;
        lua_Integer v = nurs_opt_int(L, t, fname, nums[i].key, 0, 0, nums[i].max);
        ts->has |= nums[i].bit;
        switch (nums[i].bit) {
        case NURS_CTS_SPORT: ts->sport = (uint16_t)v; break;
        case NURS_CTS_DPORT: ts->dport = (uint16_t)v; break;
        case NURS_CTS_ICMP_TYPE: ts->icmp_type = (uint8_t)v; break;
        case NURS_CTS_ICMP_CODE: ts->icmp_code = (uint8_t)v; break;
        case NURS_CTS_ICMP_ID: ts->icmp_id = (uint16_t)v; break;
        default: ts->zone = (uint16_t)v; break;
        }
    }
}

static void read_proto(lua_State *L, int t, const char *fname, struct nurs_ct_spec *s)
{
    int type = lua_getfield(L, t, "proto");
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    int num = -1;
    if (type == LUA_TNUMBER && lua_isinteger(L, -1)) {
        lua_Integer v = lua_tointeger(L, -1);
        num = v >= 0 && v <= 255 ? (int)v : -1;
    } else if (type == LUA_TSTRING) {
        const char *name = lua_tostring(L, -1);
        for (int p = 0; p < 256 && num < 0; p++) {
            const char *known = nurs_ct_proto_name((uint8_t)p);
            if (known && strcmp(known, name) == 0)
                num = p;
        }
    }
    if (num < 0)
        luaL_error(L, "%s: 'proto' must be a protocol name (\"tcp\") or number", fname);
    s->proto = (uint8_t)num;
    s->has |= NURS_CTS_PROTO;
    lua_pop(L, 1);
}

/* status = { "ASSURED", "SEEN_REPLY" } or a number of IPS_* bits. */
static uint32_t read_status(lua_State *L, int t, const char *fname)
{
    int type = lua_getfield(L, t, "status");
    uint32_t bits = 0;
    if (type == LUA_TNUMBER) {
        bits = (uint32_t)luaL_checkinteger(L, -1);
    } else if (type == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            const char *name = lua_tostring(L, -1);
            int found = -1;
            for (unsigned b = 0; b < 32 && name && found < 0; b++)
                if (nurs_ct_status_name(b) && strcmp(nurs_ct_status_name(b), name) == 0)
                    found = (int)b;
            if (found < 0)
                luaL_error(L, "%s: unknown status '%s' (ASSURED, SEEN_REPLY...)", fname,
                           name ? name : luaL_typename(L, -1));
            bits |= 1u << found;
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "%s: 'status' must be a list of names like {\"ASSURED\"} or a number",
                   fname);
    }
    lua_pop(L, 1);
    return bits;
}

/* labels = { 1, 7 }: label bit numbers (connlabel.conf). */
static void read_labels(lua_State *L, int t, const char *key, const char *fname, uint32_t *words)
{
    lua_getfield(L, t, key);
    luaL_argexpected(L, lua_istable(L, -1), t, "a list of label bit numbers");
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
            lua_tointeger(L, -1) >= NURS_CT_LABEL_BYTES * 8)
            luaL_error(L, "%s: '%s' holds label bit numbers 0-127", fname, key);
        lua_Integer b = lua_tointeger(L, -1);
        words[b / 32] |= 1u << (b % 32);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void read_family(lua_State *L, int t, const char *fname, struct nurs_ct_spec *s)
{
    const char *f = nurs_opt_string(L, t, fname, "family", NULL);
    if (!f)
        return;
    if (strcmp(f, "ipv4") == 0)
        set_family(L, fname, s, AF_INET);
    else if (strcmp(f, "ipv6") == 0)
        set_family(L, fname, s, AF_INET6);
    else
        luaL_error(L, "%s: 'family' must be \"ipv4\" or \"ipv6\"", fname);
}

static void read_sub_tuple(lua_State *L, int t, const char *key, bool filter, const char *fname,
                           struct nurs_ct_spec *s, struct nurs_ct_tuple_spec *ts)
{
    int type = lua_getfield(L, t, key);
    if (type == LUA_TTABLE)
        read_tuple(L, lua_absindex(L, -1), filter, fname, s, ts);
    else if (type != LUA_TNIL)
        luaL_error(L, "%s: '%s' must be a table like { src = \"192.0.2.1\", dport = 443 }",
                   fname, key);
    lua_pop(L, 1);
}

void nurs_l_ct_spec(lua_State *L, int idx, enum nurs_l_spec_use use, const char *fname,
                    struct nurs_ct_spec *s)
{
    memset(s, 0, sizeof *s);
    idx = lua_absindex(L, idx);
    if (use != NURS_L_SPEC_CHANGE) {
        struct nurs_ct_msg *m = (struct nurs_ct_msg *)nurs_l_record_test(L, idx, &nurs_ct_class);
        if (m) {
            if (!nurs_ct_spec_from_msg(s, m))
                luaL_error(L, "%s: the record has no whole tuple", fname);
            return;
        }
    }
    luaL_argexpected(L, lua_istable(L, idx), idx, "conntrack record or table");
    static const char *const filter_keys[] = {
        "family", "proto", "orig", "reply", "src", "dst", "sport", "dport", "zone", "id",
        "mark", "mark_mask", "status", "state", "labels", "helper", NULL};
    static const char *const entry_keys[] = {"family", "proto", "orig", "src", "dst", "sport",
                                             "dport", "zone", "id", NULL};
    static const char *const create_keys[] = {
        "family", "proto", "orig", "reply", "src", "dst", "sport", "dport", "zone",
        "mark", "status", "state", "labels", "helper", "timeout", NULL};
    static const char *const change_keys[] = {"mark", "mark_mask", "status", "labels",
                                              "labels_mask", "timeout", NULL};
    const char *const *allowed = use == NURS_L_SPEC_FILTER   ? filter_keys
                                 : use == NURS_L_SPEC_ENTRY  ? entry_keys
                                 : use == NURS_L_SPEC_CREATE ? create_keys
                                                             : change_keys;
    nurs_check_options(L, idx, fname, allowed);
    bool filter = use == NURS_L_SPEC_FILTER;
    if (use != NURS_L_SPEC_CHANGE) {
        read_family(L, idx, fname, s);
        read_proto(L, idx, fname, s);
        read_sub_tuple(L, idx, "orig", filter, fname, s, &s->orig);
        read_sub_tuple(L, idx, "reply", filter, fname, s, &s->reply);
        /* conntrack -s -d --sport --dport: the original direction. */
        lua_pushvalue(L, idx);
        lua_newtable(L);
        static const char *const shorthand[] = {"src", "dst", "sport", "dport", NULL};
        bool any = false;
        for (const char *const *k = shorthand; *k; k++) {
            if (lua_getfield(L, idx, *k) == LUA_TNIL) {
                lua_pop(L, 1);
                continue;
            }
            any = true;
            lua_setfield(L, -2, *k);
        }
        if (any)
            read_tuple(L, lua_absindex(L, -1), filter, fname, s, &s->orig);
        lua_pop(L, 2);
        if (has_key(L, idx, "zone")) {
            s->zone = (uint16_t)nurs_opt_int(L, idx, fname, "zone", 0, 0, 65535);
            s->has |= NURS_CTS_ZONE;
        }
        if (has_key(L, idx, "id")) {
            s->id = (uint32_t)nurs_opt_int(L, idx, fname, "id", 0, 0, 0xffffffff);
            s->has |= NURS_CTS_ID;
        }
    }
    if (has_key(L, idx, "mark")) {
        s->mark = (uint32_t)nurs_opt_int(L, idx, fname, "mark", 0, 0, 0xffffffff);
        s->mark_mask = (uint32_t)nurs_opt_int(L, idx, fname, "mark_mask", 0xffffffff, 0, 0xffffffff);
        if (filter && (s->mark & ~s->mark_mask))
            luaL_error(L, "%s: mark has bits outside mark_mask: nothing would match", fname);
        s->has |= NURS_CTS_MARK;
    }
    if (has_key(L, idx, "status")) {
        s->status = s->status_mask = read_status(L, idx, fname);
        s->has |= NURS_CTS_STATUS;
    }
    if (has_key(L, idx, "state")) {
        int st = nurs_ct_tcp_state_number(nurs_opt_string(L, idx, fname, "state", ""));
        if (st < 0)
            luaL_error(L, "%s: unknown TCP state (ESTABLISHED, TIME_WAIT...)", fname);
        s->state = (uint8_t)st;
        s->has |= NURS_CTS_STATE;
    }
    if (has_key(L, idx, "labels")) {
        read_labels(L, idx, "labels", fname, s->labels);
        if (has_key(L, idx, "labels_mask"))
            read_labels(L, idx, "labels_mask", fname, s->labels_mask);
        else
            memcpy(s->labels_mask, s->labels, sizeof s->labels);
        s->has |= NURS_CTS_LABELS;
    }
    if (has_key(L, idx, "helper")) {
        snprintf(s->helper, sizeof s->helper, "%s", nurs_opt_string(L, idx, fname, "helper", ""));
        s->has |= NURS_CTS_HELPER;
    }
    if (has_key(L, idx, "timeout")) {
        s->timeout = (uint32_t)nurs_opt_int(L, idx, fname, "timeout", 0, 0, 0x7fffffff);
        s->has |= NURS_CTS_TIMEOUT;
    }
    if (use == NURS_L_SPEC_ENTRY && !nurs_ct_tuple_spec_full(s, &s->orig))
        luaL_error(L, "%s: one entry is named by family, proto, and its whole original tuple "
                      "(src, dst, sport, dport; ICMP: type, code, icmp_id); a record names "
                      "its own",
                   fname);
}

/* One tuple of an expectation: { src =, dst =, sport =, dport = } with the
 * expectation's proto. */
static void exp_part(lua_State *L, int idx, const char *key, bool filter, const char *fname,
                     uint8_t proto, bool has_proto, struct nurs_ct_spec *part)
{
    if (lua_getfield(L, idx, key) == LUA_TTABLE) {
        read_tuple(L, lua_absindex(L, -1), filter, fname, part, &part->orig);
        if (has_proto) {
            part->proto = proto;
            part->has |= NURS_CTS_PROTO;
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: '%s' must be a tuple table", fname, key);
    }
    lua_pop(L, 1);
}

void nurs_l_exp_spec(lua_State *L, int idx, bool filter, const char *fname,
                     struct nurs_exp_spec *s)
{
    memset(s, 0, sizeof *s);
    idx = lua_absindex(L, idx);
    struct nurs_exp_msg *m = (struct nurs_exp_msg *)nurs_l_record_test(L, idx, &nurs_exp_class);
    if (m) {
        if (!nurs_exp_spec_from_msg(s, m))
            luaL_error(L, "%s: the record has no tuple", fname);
        return;
    }
    luaL_argexpected(L, lua_istable(L, idx), idx, "expectation record or table");
    static const char *const allowed[] = {"proto", "family", "master", "tuple", "mask",
                                          "timeout", "helper", "zone", "flags", "class", "id",
                                          NULL};
    nurs_check_options(L, idx, fname, allowed);
    struct nurs_ct_spec top = {0};
    read_family(L, idx, fname, &top);
    read_proto(L, idx, fname, &top);
    bool has_proto = top.has & NURS_CTS_PROTO;
    exp_part(L, idx, "master", filter, fname, top.proto, has_proto, &s->master);
    exp_part(L, idx, "tuple", filter, fname, top.proto, has_proto, &s->tuple);
    exp_part(L, idx, "mask", true, fname, top.proto, has_proto, &s->mask);
    const unsigned bits[] = {NURS_EXS_MASTER, NURS_EXS_TUPLE, NURS_EXS_MASK};
    struct nurs_ct_spec *parts[] = {&s->master, &s->tuple, &s->mask};
    for (int i = 0; i < 3; i++) {
        if (!parts[i]->orig.has)
            continue;
        s->has |= bits[i];
        if (top.has & NURS_CTS_FAMILY)
            set_family(L, fname, parts[i], top.family);
    }
    /* A mask without addresses given: the expected tuple's are exact. */
    if (!(s->has & NURS_EXS_MASK) && (s->has & NURS_EXS_TUPLE)) {
        s->mask = s->tuple;
        struct nurs_ct_tuple_spec *mk = &s->mask.orig;
        memset(mk->src, 0xff, sizeof mk->src);
        memset(mk->dst, 0xff, sizeof mk->dst);
        mk->sport = 0;
        mk->dport = 0xffff;
        mk->has |= NURS_CTS_SPORT | NURS_CTS_DPORT;
        s->has |= NURS_EXS_MASK;
    }
    const struct {
        const char *key;
        unsigned bit;
        uint32_t *v;
    } nums[] = {{"timeout", NURS_EXS_TIMEOUT, &s->timeout}, {"flags", NURS_EXS_FLAGS, &s->flags},
                {"class", NURS_EXS_CLASS, &s->klass}, {"id", NURS_EXS_ID, &s->id}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        if (has_key(L, idx, nums[i].key)) {
            *nums[i].v = (uint32_t)nurs_opt_int(L, idx, fname, nums[i].key, 0, 0, 0xffffffff);
            s->has |= nums[i].bit;
        }
    if (has_key(L, idx, "zone")) {
        s->zone = (uint16_t)nurs_opt_int(L, idx, fname, "zone", 0, 0, 65535);
        s->has |= NURS_EXS_ZONE;
    }
    if (has_key(L, idx, "helper")) {
        snprintf(s->helper, sizeof s->helper, "%s", nurs_opt_string(L, idx, fname, "helper", ""));
        s->has |= NURS_EXS_HELPER;
    }
}
