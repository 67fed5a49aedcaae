/* nurs.statsd{...}: the Lua face of the statsd push, and the values a
 * script sends through it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/nurs.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "sinks/statsd/sink.h"

#define STATSD_MT "nurs.statsd"
#define FNAME "nurs.statsd"

static int l_statsd(lua_State *L)
{
    static const char *const allowed[] = {"host",       "port",     "prefix", "interval", "tags",
                                          "max_packet", "counters", "name",   NULL};
    struct nurs_statsd_opts o = NURS_STATSD_OPTS_DEFAULT;
    lua_settop(L, 1);
    nurs_l_opts_arg(L, 1, FNAME, allowed);
    o.host = nurs_opt_string(L, 1, FNAME, "host", o.host);
    o.port = (unsigned)nurs_opt_int(L, 1, FNAME, "port", o.port, 1, 65535);
    o.prefix = nurs_opt_string(L, 1, FNAME, "prefix", o.prefix);
    if (*o.prefix) {
        /* "nurs." or "nurs": either way one dot between it and a name. */
        size_t n = strlen(o.prefix);
        lua_pushfstring(L, "%s%s", o.prefix, o.prefix[n - 1] == '.' ? "" : ".");
        lua_setfield(L, 1, "prefix");
        o.prefix = nurs_opt_string(L, 1, FNAME, "prefix", "");
        char bare[64];
        if (strlen(o.prefix) >= sizeof bare)
            return luaL_error(L, FNAME ": 'prefix' is longer than %d bytes", (int)sizeof bare - 2);
        snprintf(bare, sizeof bare, "%.*s", (int)strlen(o.prefix) - 1, o.prefix);
        if (!nurs_statsd_name_ok(bare, sizeof bare))
            return luaL_error(L, FNAME ": 'prefix' '%s': letters, digits, '_', '-' and '.' "
                                 "between parts", o.prefix);
    }
    o.interval = nurs_opt_number(L, 1, FNAME, "interval", o.interval, 0.1, 86400);
    const char *tags = nurs_opt_string(L, 1, FNAME, "tags", "none");
    int style = nurs_statsd_tags_parse(tags);
    if (style < 0)
        return luaL_error(L, FNAME ": 'tags' is \"none\", \"dogstatsd\", \"graphite\" or "
                             "\"influx\", not '%s'", tags);
    o.tags = (enum nurs_statsd_tags)style;
    o.max_packet = (size_t)nurs_opt_int(L, 1, FNAME, "max_packet", (lua_Integer)o.max_packet,
                                        256, 65507);
    o.counters = nurs_opt_bool(L, 1, FNAME, "counters", o.counters);
    o.name = nurs_opt_string(L, 1, FNAME, "name", NULL);
    char err[512];
    struct nurs_statsd *m = nurs_statsd_get(nurs_script_of(L), &o, err, sizeof err);
    if (!m)
        return luaL_error(L, FNAME ": %s", err);
    nurs_l_handle_push(L, STATSD_MT, nurs_statsd_resource(m));
    return 1;
}

/* ---- values ---- */

struct tags {
    struct nurs_statsd_tag t[NURS_STATSD_MAX_TAGS];
    char keys[NURS_STATSD_MAX_TAGS][NURS_STATSD_MAX_TAG + 1];
    char values[NURS_STATSD_MAX_TAGS][NURS_STATSD_MAX_TAG + 1];
    int n;
};

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct nurs_statsd_tag *)a)->key, ((const struct nurs_statsd_tag *)b)->key);
}

/* { key = value, ... }: keys checked, values (strings or numbers) made
 * safe; in the order of their keys, so that a line reads the same each
 * time. */
static void read_tags(lua_State *L, int idx, const char *fname, struct tags *out)
{
    out->n = 0;
    if (lua_isnoneornil(L, idx))
        return;
    if (!lua_istable(L, idx))
        luaL_typeerror(L, idx, "table of tags");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: tag names are strings", fname);
        const char *k = lua_tostring(L, -2);
        if (!nurs_statsd_name_ok(k, NURS_STATSD_MAX_TAG) || strchr(k, '.'))
            luaL_error(L, "%s: tag name '%s': 1 to %d letters, digits, '_' or '-'", fname, k,
                       NURS_STATSD_MAX_TAG);
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            luaL_error(L, "%s: tag '%s' must be a string or a number", fname, k);
        if (out->n == NURS_STATSD_MAX_TAGS)
            luaL_error(L, "%s: at most %d tags", fname, NURS_STATSD_MAX_TAGS);
        size_t vlen;
        const char *v = luaL_tolstring(L, -1, &vlen);
        if (vlen == 0 || vlen > NURS_STATSD_MAX_TAG)
            luaL_error(L, "%s: tag '%s': its value must be 1 to %d bytes", fname, k,
                       NURS_STATSD_MAX_TAG);
        snprintf(out->keys[out->n], sizeof out->keys[0], "%s", k);
        nurs_statsd_safe(out->values[out->n], sizeof out->values[0], v);
        out->t[out->n] = (struct nurs_statsd_tag){out->keys[out->n], out->values[out->n]};
        out->n++;
        lua_pop(L, 2); /* the value and its string */
    }
    qsort(out->t, (size_t)out->n, sizeof *out->t, by_key);
}

static void number_text(lua_State *L, int idx, const char *fname, char *out, size_t len)
{
    if (lua_isinteger(L, idx)) {
        snprintf(out, len, LUA_INTEGER_FMT, lua_tointeger(L, idx));
        return;
    }
    lua_Number v = luaL_checknumber(L, idx);
    if (!isfinite(v))
        luaL_error(L, "%s: the value must be a finite number", fname);
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, len, "%.0f", v);
    else
        snprintf(out, len, "%.15g", v);
}

/* s:kind(name, value [, tags]) -> sent (false: the line is longer than
 * max_packet, counted as too_long) */
static int send_value(lua_State *L, const char *fname, const char *type, bool count)
{
    struct nurs_statsd *m =
        nurs_statsd_of(nurs_l_handle_check(L, 1, STATSD_MT, "statsd push"));
    const char *name = luaL_checkstring(L, 2);
    if (!nurs_statsd_name_ok(name, NURS_STATSD_MAX_NAME))
        return luaL_error(L, "%s: name '%s': 1 to %d letters, digits, '_', '-', and '.' "
                             "between parts",
                          fname, name, NURS_STATSD_MAX_NAME);
    char value[NURS_STATSD_MAX_TAG + 1];
    int tags_idx = 4;
    if (count && (lua_isnoneornil(L, 3) || lua_istable(L, 3))) {
        snprintf(value, sizeof value, "1"); /* s:count(name [, tags]) */
        tags_idx = 3;
    } else if (strcmp(type, "s") == 0) {
        size_t len;
        const char *v = luaL_checklstring(L, 3, &len);
        if (len == 0 || len > NURS_STATSD_MAX_TAG)
            return luaL_error(L, "%s: the value must be 1 to %d bytes", fname,
                              NURS_STATSD_MAX_TAG);
        nurs_statsd_safe(value, sizeof value, v);
    } else {
        number_text(L, 3, fname, value, sizeof value);
        if (strcmp(type, "ms") == 0 && value[0] == '-')
            return luaL_error(L, "%s: a time is not negative", fname);
    }
    struct tags t;
    read_tags(L, tags_idx, fname, &t);
    lua_pushboolean(L, nurs_statsd_add(m, nurs_script_of(L), name, t.t, t.n, value, type));
    return 1;
}

static int s_count(lua_State *L) { return send_value(L, "statsd:count", "c", true); }
static int s_gauge(lua_State *L) { return send_value(L, "statsd:gauge", "g", false); }
static int s_timing(lua_State *L) { return send_value(L, "statsd:timing", "ms", false); }
static int s_set(lua_State *L) { return send_value(L, "statsd:set", "s", false); }

void nurs_l_statsd_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"count", s_count},
        {"gauge", s_gauge},
        {"timing", s_timing},
        {"set", s_set},
        {NULL, NULL},
    };
    nurs_l_handle_class(L, STATSD_MT, "statsd push", methods);
    lua_pushcfunction(L, l_statsd);
    lua_setfield(L, -2, "statsd");
}
