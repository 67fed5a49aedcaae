/* nurs.nflog{...}: the Lua face of the NFLOG source. */
#include <math.h>
#include <string.h>

#include <lauxlib.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "bindings/consumer.h"
#include "bindings/nurs.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "records/nflog_fields.h"
#include "records/record.h"
#include "sources/nflog.h"

#define NFLOG_MT "nurs.nflog"
#define FNAME "nurs.nflog"

static struct nurs_nflog_source *check_source(lua_State *L)
{
    return nurs_nflog_source_of(nurs_l_handle_check(L, 1, NFLOG_MT, "nflog source"));
}

static void add_group(lua_State *L, struct nurs_nflog_opts *o, lua_Integer g)
{
    if (g < 0 || g > 65535)
        luaL_error(L, FNAME ": group %I is not between 0 and 65535", (LUAI_UACINT)g);
    for (int i = 0; i < o->n_groups; i++)
        if (o->groups[i] == g)
            luaL_error(L, FNAME ": group %I listed twice", (LUAI_UACINT)g);
    if (o->n_groups == NURS_NFLOG_MAX_GROUPS)
        luaL_error(L, FNAME ": at most %d groups per source", NURS_NFLOG_MAX_GROUPS);
    o->groups[o->n_groups++] = (uint16_t)g;
}

/* `group = 5` or `groups = {5, 6}` */
static void read_groups(lua_State *L, int opts, struct nurs_nflog_opts *o)
{
    int t1 = lua_getfield(L, opts, "group");
    int t2 = lua_getfield(L, opts, "groups");
    if ((t1 == LUA_TNIL) == (t2 == LUA_TNIL))
        luaL_error(L, FNAME ": give either 'group' (a number) or 'groups' (a list)");
    if (t1 != LUA_TNIL) {
        if (!lua_isinteger(L, -2))
            luaL_error(L, FNAME ": option 'group' must be an integer");
        add_group(L, o, lua_tointeger(L, -2));
    } else {
        if (t2 != LUA_TTABLE)
            luaL_error(L, FNAME ": option 'groups' must be a list like {5, 6}");
        lua_Integer n = luaL_len(L, -1);
        if (n == 0)
            luaL_error(L, FNAME ": option 'groups' is empty");
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            if (!lua_isinteger(L, -1))
                luaL_error(L, FNAME ": groups must be integers");
            add_group(L, o, lua_tointeger(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
}

static uint8_t read_copy_mode(lua_State *L, int opts)
{
    const char *mode = nurs_opt_string(L, opts, FNAME, "copy", "packet");
    if (strcmp(mode, "packet") == 0)
        return NFULNL_COPY_PACKET;
    if (strcmp(mode, "meta") == 0)
        return NFULNL_COPY_META;
    if (strcmp(mode, "none") == 0)
        return NFULNL_COPY_NONE;
    return (uint8_t)luaL_error(L, FNAME ": option 'copy' must be \"packet\", \"meta\" or \"none\"");
}

static void read_settings(lua_State *L, int opts, struct nurs_nflog_settings *st)
{
    st->copy_mode = read_copy_mode(L, opts);
    st->copy_range = (uint32_t)nurs_opt_int(L, opts, FNAME, "copy_range",
                                            NURS_NFLOG_MAX_COPY_RANGE, 0,
                                            NURS_NFLOG_MAX_COPY_RANGE);
    st->qthresh = (uint32_t)nurs_opt_int(L, opts, FNAME, "qthresh", NURS_NFLOG_DEFAULT_QTHRESH, 1,
                                         1 << 20);
    lua_Number timeout = nurs_opt_number(L, opts, FNAME, "timeout",
                                         NURS_NFLOG_DEFAULT_TIMEOUT_CS / 100.0, 0, 3600);
    st->timeout_cs = (uint32_t)llround(timeout * 100);
    st->nlbufsiz = (uint32_t)nurs_opt_int(L, opts, FNAME, "nlbufsiz", NURS_NFLOG_DEFAULT_NLBUFSIZ,
                                          NURS_NFLOG_MIN_NLBUFSIZ, NURS_NFLOG_MAX_NLBUFSIZ);
    st->flags = 0;
    if (nurs_opt_bool(L, opts, FNAME, "seq", true))
        st->flags |= NFULNL_CFG_F_SEQ;
    if (nurs_opt_bool(L, opts, FNAME, "seq_global", false))
        st->flags |= NFULNL_CFG_F_SEQ_GLOBAL;
    if (nurs_opt_bool(L, opts, FNAME, "conntrack", false))
        st->flags |= NFULNL_CFG_F_CONNTRACK;
}

/* nurs.nflog(opts [, callback]) */
static int l_nflog(lua_State *L)
{
    static const char *const allowed[] = {
        "group",   "groups", "copy",    "copy_range", "qthresh", "timeout", "nlbufsiz",
        "seq",     "seq_global", "conntrack", "netns", "rcvbuf", "rcvbuf_max", "name",
        "record",  "budget", NULL};
    int fn = nurs_l_source_args(L, FNAME, allowed, false);

    struct nurs_nflog_opts o = {0};
    read_groups(L, 1, &o);
    read_settings(L, 1, &o.settings);
    o.netns = nurs_opt_string(L, 1, FNAME, "netns", NULL);
    o.name = nurs_opt_string(L, 1, FNAME, "name", NULL);
    o.record = nurs_opt_string(L, 1, FNAME, "record", NULL);
    nurs_opt_rcvbuf(L, 1, FNAME, NURS_NFLOG_DEFAULT_RCVBUF, NURS_NFLOG_DEFAULT_RCVBUF_MAX,
                    &o.rcvbuf, &o.rcvbuf_max);

    char err[512];
    bool adopted;
    struct nurs_nflog_source *src =
        nurs_nflog_source_get(nurs_script_of(L), &o, &adopted, err, sizeof err);
    if (!src)
        return luaL_error(L, FNAME ": %s", err);
    struct nurs_resource *r = nurs_nflog_source_resource(src);
    nurs_l_handle_push(L, NFLOG_MT, r);
    nurs_l_read_budget(L, 1, FNAME, r);
    if (fn)
        nurs_l_add_consumer(L, r, fn, &nurs_l_function_ops, NURS_RECORD_NFLOG);
    return 1;
}

static int nflog_on(lua_State *L)
{
    struct nurs_nflog_source *src = check_source(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    nurs_l_add_consumer(L, nurs_nflog_source_resource(src), 2, &nurs_l_function_ops,
                        NURS_RECORD_NFLOG);
    lua_settop(L, 1);
    return 1;
}

void nurs_l_nflog_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"on", nflog_on},
        {NULL, NULL},
    };
    nurs_l_handle_class(L, NFLOG_MT, "nflog source", methods);
    lua_pushcfunction(L, l_nflog);
    lua_setfield(L, -2, "nflog");
}
