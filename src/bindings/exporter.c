/* nurs.netflow9{...} and nurs.ipfix{...}: the Lua face of the exporters.
 * Templates come from the script as lists of IANA names; records come as
 * conntrack records (mapped to flows in C) or as plain tables. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/nurs.h"
#include "bindings/output_opts.h"
#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "records/ct_record.h"
#include "sinks/flow/exporter.h"

#define EXPORTER_MT "nurs.exporter"

static struct nurs_exporter *check_exporter(lua_State *L)
{
    return nurs_exporter_of(nurs_l_handle_check(L, 1, EXPORTER_MT, "exporter"));
}

/* ---- templates from Lua ---- */

static enum nurs_ie_type type_by_name(lua_State *L, const char *fname, const char *name)
{
    for (int t = IE_T_U8; t <= IE_T_DT_NS; t++)
        if (strcmp(nurs_ie_type_name((enum nurs_ie_type)t), name) == 0)
            return (enum nurs_ie_type)t;
    luaL_error(L, "%s: unknown type '%s' (unsigned32, string, ipv4Address...)", fname, name);
    return IE_T_U8;
}

/* An element is "name", {"name", length}, or, for one the registry does
 * not have, {name=, id=, enterprise=, type=, length=}. */
static void add_element(lua_State *L, const char *fname, struct nurs_template *t, int idx)
{
    idx = lua_absindex(L, idx);
    char err[256];
    int rc;
    if (lua_type(L, idx) == LUA_TSTRING) {
        rc = nurs_template_add(t, lua_tostring(L, idx), 0, err, sizeof err);
    } else if (lua_istable(L, idx)) {
        if (lua_rawgeti(L, idx, 1) == LUA_TSTRING) {
            const char *name = lua_tostring(L, -1);
            lua_Integer len = 0;
            if (lua_rawgeti(L, idx, 2) != LUA_TNIL) {
                int ok;
                len = lua_tointegerx(L, -1, &ok);
                if (!ok || len < 1 || len > 0xffff)
                    luaL_error(L, "%s: template '%s': length of %s must be 1..65535", fname,
                               t->name, name);
            }
            lua_pop(L, 1);
            rc = nurs_template_add(t, name, (unsigned)len, err, sizeof err);
        } else {
            static const char *const allowed[] = {"name", "id", "enterprise", "type", "length",
                                                  NULL};
            nurs_check_options(L, idx, fname, allowed);
            const char *name = nurs_opt_string(L, idx, fname, "name", NULL);
            const char *type = nurs_opt_string(L, idx, fname, "type", NULL);
            if (!name || !type)
                luaL_error(L, "%s: template '%s': a custom element needs name, id, type", fname,
                           t->name);
            lua_Integer id = nurs_opt_int(L, idx, fname, "id", 0, 1, 0x7fff);
            lua_Integer pen = nurs_opt_int(L, idx, fname, "enterprise", 0, 0, 0xffffffff);
            enum nurs_ie_type ty = type_by_name(L, fname, type);
            lua_Integer deflen = nurs_ie_type_length(ty);
            lua_Integer len = nurs_opt_int(L, idx, fname, "length", deflen, 1, 0xffff);
            rc = nurs_template_add_custom(t, name, (uint16_t)id, (uint32_t)pen, ty,
                                          (unsigned)len, err, sizeof err);
        }
        lua_pop(L, 1);
    } else {
        return (void)luaL_error(L, "%s: template '%s': elements are names or {name, length}",
                                fname, t->name);
    }
    if (rc < 0)
        luaL_error(L, "%s: %s", fname, err);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* templates = { name = { elements... }, ... }, compiled in name order so
 * that ids come out the same on every start. */
static void read_templates(lua_State *L, int idx, const char *fname, bool v9,
                           struct nurs_exporter_opts *o)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    const char *names[NURS_EXPORTER_MAX_TEMPLATES];
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: templates are named: templates = { ipv4 = {...} }", fname);
        if (n == NURS_EXPORTER_MAX_TEMPLATES)
            luaL_error(L, "%s: at most %d templates", fname, NURS_EXPORTER_MAX_TEMPLATES);
        names[n++] = lua_tostring(L, -1); /* the table keeps the key alive */
    }
    if (n == 0)
        luaL_error(L, "%s: no templates", fname);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    for (int i = 0; i < n; i++) {
        struct nurs_template *t = &o->set.templates[i];
        if (strlen(names[i]) >= sizeof t->name)
            luaL_error(L, "%s: template name '%s' too long", fname, names[i]);
        nurs_template_init(t, names[i]);
        lua_getfield(L, idx, names[i]);
        if (!lua_istable(L, -1))
            luaL_error(L, "%s: template '%s' must be a list of elements", fname, names[i]);
        lua_Integer len = luaL_len(L, -1);
        for (lua_Integer k = 1; k <= len; k++) {
            lua_rawgeti(L, -1, k);
            add_element(L, fname, t, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        char err[256];
        if (nurs_template_finish(t, v9, err, sizeof err) < 0)
            luaL_error(L, "%s: %s", fname, err);
    }
    o->set.n_templates = n;
    for (int v = 4; v <= 6; v += 2) {
        const char *first = NULL;
        for (int i = 0; i < n; i++) {
            if (o->set.templates[i].ip_version != v)
                continue;
            if (first)
                luaL_error(L, "%s: templates '%s' and '%s' both take IPv%d flows; keep one",
                           fname, first, o->set.templates[i].name, v);
            first = o->set.templates[i].name;
        }
    }
}

static void read_collectors(lua_State *L, int opts, const char *fname,
                            struct nurs_exporter_opts *o)
{
    int one = lua_getfield(L, opts, "collector");
    int many = lua_getfield(L, opts, "collectors");
    if ((one == LUA_TNIL) == (many == LUA_TNIL))
        luaL_error(L, "%s: give either 'collector' (\"host:port\", \"tcp://...\", \"file://...\") "
                      "or 'collectors' (a list)",
                   fname);
    if (one != LUA_TNIL) {
        if (one != LUA_TSTRING)
            luaL_error(L, "%s: option 'collector' must be a string", fname);
        o->collectors[o->n_collectors++] = lua_tostring(L, -2);
    } else {
        if (many != LUA_TTABLE)
            luaL_error(L, "%s: option 'collectors' must be a list of strings", fname);
        lua_Integer n = luaL_len(L, -1);
        if (n < 1 || n > NURS_EXPORTER_MAX_COLLECTORS)
            luaL_error(L, "%s: between 1 and %d collectors", fname, NURS_EXPORTER_MAX_COLLECTORS);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
                luaL_error(L, "%s: collectors are strings", fname);
            o->collectors[o->n_collectors++] = lua_tostring(L, -1);
            lua_pop(L, 1); /* the list keeps it alive */
        }
    }
    lua_pop(L, 2);
}

/* vrf = { [zone] = vrf id, ... }: ingressVRFID and egressVRFID of the
 * flows of a conntrack zone. */
static void read_vrf(lua_State *L, int idx, const char *fname, struct nurs_exporter_settings *set)
{
    if (lua_getfield(L, idx, "vrf") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: option 'vrf' must map zones to VRF ids: { [1] = 100 }", fname);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1) || lua_tointeger(L, -2) < 0 ||
            lua_tointeger(L, -2) > 65535 || lua_tointeger(L, -1) < 0 ||
            lua_tointeger(L, -1) > 0xffffffffll)
            luaL_error(L, "%s: option 'vrf' maps zones (0-65535) to VRF ids (unsigned32)", fname);
        int n = (int)(sizeof set->vrf / sizeof *set->vrf);
        if (set->n_vrf == n)
            luaL_error(L, "%s: option 'vrf' maps at most %d zones", fname, n);
        set->vrf[set->n_vrf].zone = (uint16_t)lua_tointeger(L, -2);
        set->vrf[set->n_vrf].vrf = (uint32_t)lua_tointeger(L, -1);
        set->n_vrf++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static int new_exporter(lua_State *L, enum nurs_flow_version version)
{
    static const char *const allowed[] = {
        "collector", "collectors", "templates", "domain", "mtu", "message_size", "flush",
        "refresh_packets", "refresh_seconds", "queue", "connections", "name",
        "process_enterprise", "vrf", NURS_FILE_OPTION_NAMES, NULL};
    const char *fname = version == NURS_NETFLOW9 ? "nurs.netflow9" : "nurs.ipfix";
    if (lua_type(L, 1) == LUA_TSTRING) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "collector");
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    nurs_check_options(L, 1, fname, allowed);

    struct nurs_exporter_opts *o = lua_newuserdatauv(L, sizeof *o, 0); /* freed by the GC */
    memset(o, 0, sizeof *o);
    o->version = version;
    read_collectors(L, 1, fname, o);
    if (lua_getfield(L, 1, "templates") == LUA_TNIL) {
        /* The presets of lua/nurs/templates.lua */
        lua_pop(L, 1);
        lua_getglobal(L, "require");
        lua_pushliteral(L, "nurs.templates");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, version == NURS_NETFLOW9 ? "netflow9" : "ipfix");
        lua_remove(L, -2);
    }
    read_templates(L, -1, fname, version == NURS_NETFLOW9, o);
    lua_pop(L, 1);
    o->domain = (uint32_t)nurs_opt_int(L, 1, fname, "domain", 0, 0, 0xffffffff);
    o->mtu = (unsigned)nurs_opt_int(L, 1, fname, "mtu", 1500, 576, 65535);
    o->message_size = (size_t)nurs_opt_int(L, 1, fname, "message_size", 0, 0, 65535);
    if (o->message_size && o->message_size < 256)
        luaL_error(L, "%s: option 'message_size' must be at least 256", fname);
    o->set.flush_s = nurs_opt_number(L, 1, fname, "flush", 1.0, 0.001, 3600);
    o->set.refresh_packets = (unsigned)nurs_opt_int(L, 1, fname, "refresh_packets", 20, 1, 1 << 30);
    o->set.refresh_s = nurs_opt_number(L, 1, fname, "refresh_seconds", 60, 0.01, 86400);
    o->set.queue_max = (size_t)nurs_opt_int(L, 1, fname, "queue", 4 << 20, 65536, 1 << 30);
    o->state_max = (size_t)nurs_opt_int(L, 1, fname, "connections", 1 << 20, 1, 1 << 26);
    o->name = nurs_opt_string(L, 1, fname, "name", NULL);
    nurs_opt_file(L, 1, fname, false, &o->set.file);
    uint32_t pen = (uint32_t)nurs_opt_int(L, 1, fname, "process_enterprise", NURS_PEN_NURS, 1,
                                          0xffffffff);
    for (int i = 0; i < o->set.n_templates; i++)
        nurs_template_set_process_pen(&o->set.templates[i], pen);
    read_vrf(L, 1, fname, &o->set);

    /* A record must fit a message with its headers (IPv6 over UDP being
     * the smallest message an MTU leaves). */
    size_t smallest = o->message_size ? o->message_size : o->mtu - 48;
    for (int i = 0; i < o->set.n_templates; i++) {
        size_t need = o->set.templates[i].min_record_len + 4 + NURS_V9_HEADER_LEN;
        if (need > smallest)
            luaL_error(L, "%s: template '%s' records (%d bytes) do not fit a %d-byte message",
                       fname, o->set.templates[i].name, (int)o->set.templates[i].min_record_len,
                       (int)smallest);
    }

    char err[512];
    struct nurs_exporter *e = nurs_exporter_get(nurs_script_of(L), o, err, sizeof err);
    if (!e)
        return luaL_error(L, "%s: %s", fname, err);
    nurs_l_handle_push(L, EXPORTER_MT, nurs_exporter_resource(e));
    return 1;
}

static int l_netflow9(lua_State *L) { return new_exporter(L, NURS_NETFLOW9); }
static int l_ipfix(lua_State *L) { return new_exporter(L, NURS_IPFIX); }

/* ---- values from Lua ---- */

struct value_space {
    struct nurs_fvalue vals[2][NURS_TEMPLATE_MAX];
    uint8_t bytes[NURS_TEMPLATE_MAX][16];
};

/* One export call at a time per loop: values live here during the call
 * (strings stay in the Lua table they came from). */
static _Thread_local struct value_space scratch;

static bool parse_mac(const char *s, uint8_t out[6])
{
    unsigned b[6];
    char tail;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)b[i];
    return true;
}

/* Converts the Lua value at idx for field f; raises a clear error. */
static void to_value(lua_State *L, int idx, const struct nurs_tfield *f, struct nurs_fvalue *v,
                     uint8_t space[16])
{
    const char *name = f->name;
    switch ((enum nurs_ie_type)f->ie.type) {
    case IE_T_IPV4:
    case IE_T_IPV6: {
        const char *s = lua_tostring(L, idx);
        int af = f->ie.type == IE_T_IPV4 ? AF_INET : AF_INET6;
        if (lua_type(L, idx) != LUA_TSTRING || inet_pton(af, s, space) != 1)
            luaL_error(L, "export: %s must be an IPv%d address", name, af == AF_INET ? 4 : 6);
        *v = (struct nurs_fvalue){.kind = NURS_FV_BYTES, .p = space,
                                  .len = af == AF_INET ? 4 : 16};
        return;
    }
    case IE_T_MAC:
        if (lua_type(L, idx) != LUA_TSTRING || !parse_mac(lua_tostring(L, idx), space))
            luaL_error(L, "export: %s must be a MAC address like \"02:00:5e:10:00:01\"", name);
        *v = (struct nurs_fvalue){.kind = NURS_FV_BYTES, .p = space, .len = 6};
        return;
    case IE_T_STRING:
    case IE_T_OCTETS: {
        if (lua_type(L, idx) != LUA_TSTRING)
            luaL_error(L, "export: %s must be a string", name);
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        *v = (struct nurs_fvalue){.kind = NURS_FV_BYTES, .p = (const uint8_t *)s, .len = len};
        return;
    }
    case IE_T_BOOL:
        if (!lua_isboolean(L, idx))
            luaL_error(L, "export: %s must be a boolean", name);
        /* RFC 7011 6.1.5: true is 1, false is 2 */
        *v = (struct nurs_fvalue){.kind = NURS_FV_UINT, .u = lua_toboolean(L, idx) ? 1 : 2};
        return;
    case IE_T_F32:
    case IE_T_F64:
        if (lua_type(L, idx) != LUA_TNUMBER)
            luaL_error(L, "export: %s must be a number", name);
        *v = (struct nurs_fvalue){.kind = NURS_FV_DOUBLE, .d = lua_tonumber(L, idx)};
        return;
    case IE_T_DT_S:
    case IE_T_DT_MS:
    case IE_T_DT_US:
    case IE_T_DT_NS: {
        /* Seconds since the epoch, as nurs.now() gives them. */
        lua_Number secs = lua_tonumber(L, idx);
        if (lua_type(L, idx) != LUA_TNUMBER || !(secs >= 0 && secs < 1e11))
            luaL_error(L, "export: %s must be seconds since the epoch (nurs.now())", name);
        *v = (struct nurs_fvalue){.kind = NURS_FV_DOUBLE, .d = secs};
        return;
    }
    case IE_T_S8:
    case IE_T_S16:
    case IE_T_S32:
    case IE_T_S64: {
        int ok;
        lua_Integer i = lua_tointegerx(L, idx, &ok);
        if (!ok)
            luaL_error(L, "export: %s must be an integer", name);
        *v = (struct nurs_fvalue){.kind = NURS_FV_INT, .u = (uint64_t)i};
        return;
    }
    default: {
        int ok;
        lua_Integer i = lua_tointegerx(L, idx, &ok);
        if (!ok || i < 0)
            luaL_error(L, "export: %s must be an integer >= 0", name);
        *v = (struct nurs_fvalue){.kind = NURS_FV_UINT, .u = (uint64_t)i};
        return;
    }
    }
}

static const struct nurs_template *template_named(lua_State *L, struct nurs_exporter *e,
                                                  const char *name)
{
    int n;
    const struct nurs_template *t = nurs_exporter_templates(e, nurs_script_of(L), &n);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    luaL_error(L, "export: no template named '%s'", name);
    return NULL;
}

/* Which template a plain table goes to, when not named. */
static const struct nurs_template *template_for_table(lua_State *L, struct nurs_exporter *e)
{
    int n;
    const struct nurs_template *t = nurs_exporter_templates(e, nurs_script_of(L), &n);
    if (n == 1)
        return &t[0];
    static const char *const v6[] = {"sourceIPv6Address", "destinationIPv6Address"};
    static const char *const v4[] = {"sourceIPv4Address", "destinationIPv4Address"};
    for (int fam = 6; fam >= 4; fam -= 2) {
        const char *const *keys = fam == 6 ? v6 : v4;
        for (int k = 0; k < 2; k++) {
            bool has = lua_getfield(L, 2, keys[k]) != LUA_TNIL;
            lua_pop(L, 1);
            if (!has)
                continue;
            for (int i = 0; i < n; i++)
                if (t[i].ip_version == fam)
                    return &t[i];
        }
    }
    luaL_error(L, "export: which template? name it: exporter:export(t, \"name\")");
    return NULL;
}

static int export_table(lua_State *L, struct nurs_exporter *e)
{
    const struct nurs_template *t = lua_isnoneornil(L, 3)
                                        ? template_for_table(L, e)
                                        : template_named(L, e, luaL_checkstring(L, 3));
    struct value_space *sp = &scratch;
    for (int i = 0; i < t->n; i++) {
        sp->vals[0][i].kind = NURS_FV_UNSET;
        if (lua_getfield(L, 2, t->f[i].name) != LUA_TNIL)
            to_value(L, -1, &t->f[i], &sp->vals[0][i], sp->bytes[i]);
        lua_pop(L, 1); /* strings stay alive in the table */
    }
    lua_pushinteger(L, nurs_exporter_export_values(e, t, sp->vals[0]));
    return 1;
}

/* Fields given beside a record. They describe the original direction: the
 * reply's record gets ingress and egress interface swapped and the flow
 * direction turned. */
static const struct nurs_fvalue **extras_values(lua_State *L, int idx,
                                                const struct nurs_template *t,
                                                struct value_space *sp,
                                                const struct nurs_fvalue *out[2])
{
    for (int i = 0; i < t->n; i++)
        sp->vals[0][i].kind = sp->vals[1][i].kind = NURS_FV_UNSET;
    int in = nurs_template_find(t, "ingressInterface");
    int eg = nurs_template_find(t, "egressInterface");
    int dir = nurs_template_find(t, "flowDirection");
    bool has_in = false, has_out = false, has_dir = false;
    uint64_t in_v = 0, out_v = 0, dir_v = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "export: extra fields are named by element");
        const char *key = lua_tostring(L, -2);
        int i = nurs_template_find(t, key);
        struct nurs_ie probe;
        if (i < 0 && !nurs_ie_lookup(key, &probe))
            luaL_error(L, "export: unknown information element '%s'", key);
        int isnum;
        if (strcmp(key, "ingressInterface") == 0 || strcmp(key, "egressInterface") == 0 ||
            strcmp(key, "flowDirection") == 0) {
            lua_Integer v = lua_tointegerx(L, -1, &isnum);
            if (!isnum || v < 0)
                luaL_error(L, "export: %s must be an integer >= 0", key);
            if (key[0] == 'i')
                has_in = true, in_v = (uint64_t)v;
            else if (key[0] == 'e')
                has_out = true, out_v = (uint64_t)v;
            else
                has_dir = true, dir_v = (uint64_t)v;
        } else if (i >= 0) {
            to_value(L, -1, &t->f[i], &sp->vals[0][i], sp->bytes[i]);
            sp->vals[1][i] = sp->vals[0][i];
        }
        lua_pop(L, 1);
    }
#define SET(side, field, value)                                                                   \
    if ((field) >= 0)                                                                             \
    sp->vals[side][field] = (struct nurs_fvalue) { .kind = NURS_FV_UINT, .u = (value) }
    if (has_in) {
        SET(0, in, in_v);
        SET(1, eg, in_v);
    }
    if (has_out) {
        SET(0, eg, out_v);
        SET(1, in, out_v);
    }
    if (has_dir) {
        SET(0, dir, dir_v);
        SET(1, dir, dir_v ? 0 : 1);
    }
#undef SET
    out[0] = sp->vals[0];
    out[1] = sp->vals[1];
    return out;
}

/* exporter:export(record [, extras]) or exporter:export(table [, template]) */
static int exp_export(lua_State *L)
{
    struct nurs_exporter *e = check_exporter(L);
    struct nurs_resource *r = nurs_exporter_resource(e);
    if (r->claimant && r->claimant == nurs_script_of(L))
        return luaL_error(L, "export: not while the script is being reloaded (from callbacks "
                             "and timers only)");
    struct nurs_ct_msg *m = (struct nurs_ct_msg *)nurs_l_record_test(L, 2, &nurs_ct_class);
    if (!m) {
        luaL_checktype(L, 2, LUA_TTABLE);
        return export_table(L, e);
    }
    const struct nurs_template *t =
        nurs_exporter_ct_template(e, NULL, m->family == AF_INET6 ? 6 : 4);
    const struct nurs_fvalue *vals[2] = {NULL, NULL};
    if (t && !lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        extras_values(L, 3, t, &scratch, vals);
    }
    lua_pushinteger(L, nurs_exporter_export_ct(e, m, t, vals));
    return 1;
}

static int exp_flush(lua_State *L)
{
    nurs_exporter_flush(check_exporter(L));
    return 0;
}

static int exp_templates(lua_State *L)
{
    struct nurs_exporter *e = check_exporter(L);
    int n;
    const struct nurs_template *t = nurs_exporter_templates(e, nurs_script_of(L), &n);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, t[i].id);
        lua_setfield(L, -2, t[i].name);
    }
    return 1;
}

static void set_int(lua_State *L, const char *key, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, key);
}

static int exp_collectors(lua_State *L)
{
    struct nurs_exporter *e = check_exporter(L);
    int n = nurs_exporter_n_collectors(e);
    lua_createtable(L, n, 0);
    static const char *const transports[] = {"udp", "tcp", "file"};
    for (int i = 0; i < n; i++) {
        const struct nurs_collector *c = nurs_exporter_collector(e, i);
        const struct nurs_collector_stats *s = nurs_collector_stats(c);
        lua_createtable(L, 0, 12);
        lua_pushstring(L, nurs_collector_spec(c));
        lua_setfield(L, -2, "collector");
        lua_pushstring(L, transports[nurs_collector_transport(c)]);
        lua_setfield(L, -2, "transport");
        lua_pushstring(L, nurs_collector_state(c));
        lua_setfield(L, -2, "state");
        set_int(L, "messages", s->messages);
        set_int(L, "bytes", s->bytes);
        set_int(L, "records", s->records);
        set_int(L, "lost", s->lost_records);
        set_int(L, "lost_messages", s->lost_messages);
        set_int(L, "send_errors", s->send_errors);
        set_int(L, "connects", s->connects);
        set_int(L, "templates_sent", s->templates);
        set_int(L, "queued", nurs_collector_queued_bytes(c));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

void nurs_l_exporter_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"export", exp_export},
        {"flush", exp_flush},
        {"templates", exp_templates},
        {"collectors", exp_collectors},
        {NULL, NULL},
    };
    nurs_l_handle_class(L, EXPORTER_MT, "exporter", methods);
    lua_pushcfunction(L, l_netflow9);
    lua_setfield(L, -2, "netflow9");
    lua_pushcfunction(L, l_ipfix);
    lua_setfield(L, -2, "ipfix");
}
