/* nurs.nfqueue{...}: the Lua face of the NFQUEUE source. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/consumer.h"
#include "bindings/nfq_record.h"
#include "bindings/nurs.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "records/record.h"
#include "sources/nfqueue/source.h"

#define NFQ_MT "nurs.nfqueue"
#define FNAME "nurs.nfqueue"

static struct nurs_nfq_source *check_source(lua_State *L)
{
    return (struct nurs_nfq_source *)nurs_l_handle_check(L, 1, NFQ_MT, "nfqueue source");
}

static void add_queue(lua_State *L, struct nurs_nfq_opts *o, lua_Integer q)
{
    if (q < 0 || q > 65535)
        luaL_error(L, FNAME ": queue numbers go from 0 to 65535, not %I", q);
    for (int i = 0; i < o->n_queues; i++)
        if (o->queues[i] == q)
            luaL_error(L, FNAME ": queue %I is listed twice", q);
    if (o->n_queues == NURS_NFQ_MAX_QUEUES)
        luaL_error(L, FNAME ": at most %d queues per source", NURS_NFQ_MAX_QUEUES);
    o->queues[o->n_queues++] = (uint16_t)q;
}

/* queue = 3 | {3, 4} | "3-5" (nft's `queue num 3-5`) */
static void read_queue_value(lua_State *L, int idx, struct nurs_nfq_opts *o)
{
    if (lua_isinteger(L, idx)) {
        add_queue(L, o, lua_tointeger(L, idx));
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        char *end;
        long lo = strtol(s, &end, 10), hi = lo;
        if (end != s && *end == '-')
            hi = strtol(end + 1, &end, 10);
        if (end == s || *end != '\0' || hi < lo || hi - lo >= NURS_NFQ_MAX_QUEUES)
            luaL_error(L, FNAME ": queue '%s' is not a number or a range like \"3-5\" "
                          "(at most %d queues)", s, NURS_NFQ_MAX_QUEUES);
        for (long q = lo; q <= hi; q++)
            add_queue(L, o, q);
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, idx);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            if (!lua_isinteger(L, -1))
                luaL_error(L, FNAME ": the queue list holds integers only");
            add_queue(L, o, lua_tointeger(L, -1));
            lua_pop(L, 1);
        }
    }
    if (o->n_queues == 0)
        luaL_error(L, FNAME ": option 'queue' is required: a number, a list or a range like \"3-5\"");
}

static uint64_t seconds_ns(lua_State *L, int opts, const char *key, double def, double min,
                           double max)
{
    return (uint64_t)llround(nurs_opt_number(L, opts, FNAME, key, def, min, max) * 1e9);
}

static void read_options(lua_State *L, int opts, struct nurs_nfq_opts *o)
{
    static const char *const allowed[] = {
        "queue",   "copy",      "range",  "maxlen",       "fail_open", "gso",
        "conntrack", "uid_gid", "secctx", "netns",        "rcvbuf",    "rcvbuf_max",
        "name",    "record",    "default", "budget",      "batch",     "hold_timeout",
        "hold_max", NULL};
    nurs_check_options(L, opts, FNAME, allowed);
    lua_getfield(L, opts, "queue");
    read_queue_value(L, lua_gettop(L), o);
    lua_pop(L, 1);

    const char *copy = nurs_opt_string(L, opts, FNAME, "copy", "packet");
    if (strcmp(copy, "packet") == 0)
        o->copy_mode = NFQNL_COPY_PACKET;
    else if (strcmp(copy, "meta") == 0)
        o->copy_mode = NFQNL_COPY_META;
    else
        luaL_error(L, FNAME ": option 'copy' is \"packet\" or \"meta\", not '%s'", copy);
    o->copy_range = (uint32_t)nurs_opt_int(L, opts, FNAME, "range", NURS_NFQ_MAX_RANGE, 0,
                                           NURS_NFQ_MAX_RANGE);
    if (o->copy_mode == NFQNL_COPY_META)
        o->copy_range = 0;
    o->maxlen = (uint32_t)nurs_opt_int(L, opts, FNAME, "maxlen", 1024, 1, 1 << 24);

    static const struct {
        const char *name;
        uint32_t flag;
    } flags[] = {
        {"fail_open", NFQA_CFG_F_FAIL_OPEN}, {"gso", NFQA_CFG_F_GSO},
        {"conntrack", NFQA_CFG_F_CONNTRACK}, {"uid_gid", NFQA_CFG_F_UID_GID},
        {"secctx", NFQA_CFG_F_SECCTX},
    };
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (nurs_opt_bool(L, opts, FNAME, flags[i].name, false))
            o->flags |= flags[i].flag;

    o->netns = nurs_opt_string(L, opts, FNAME, "netns", NULL);
    o->name = nurs_opt_string(L, opts, FNAME, "name", NULL);
    o->record = nurs_opt_string(L, opts, FNAME, "record", NULL);
    o->rcvbuf = (int)nurs_opt_int(L, opts, FNAME, "rcvbuf", NURS_NFQ_DEFAULT_RCVBUF, 4096, 1 << 30);
    o->rcvbuf_max = (int)nurs_opt_int(L, opts, FNAME, "rcvbuf_max",
                                      o->rcvbuf > NURS_NFQ_DEFAULT_RCVBUF_MAX
                                          ? o->rcvbuf
                                          : NURS_NFQ_DEFAULT_RCVBUF_MAX,
                                      o->rcvbuf, 1 << 30);

    const char *def = nurs_opt_string(L, opts, FNAME, "default", "accept");
    if (strcmp(def, "accept") == 0)
        o->deflt.verdict = NURS_NFQ_ACCEPT;
    else if (strcmp(def, "drop") == 0)
        o->deflt.verdict = NURS_NFQ_DROP;
    else
        luaL_error(L, FNAME ": option 'default' is \"accept\" or \"drop\", not '%s'", def);
    o->budget_ns = seconds_ns(L, opts, "budget", 0.01, 0.0001, 10);
    o->batch = nurs_opt_bool(L, opts, FNAME, "batch", false);
    o->hold_ms = seconds_ns(L, opts, "hold_timeout", 1, 0.001, 3600) / 1000000;
    o->hold_max = (int)nurs_opt_int(L, opts, FNAME, "hold_max", 1024, 1, 1 << 20);
}

/* nurs.nfqueue(opts | queue [, callback]) */
static int l_nfqueue(lua_State *L)
{
    lua_settop(L, 2);
    if (!lua_istable(L, 1)) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "queue");
        lua_replace(L, 1);
    }
    int fn = 0;
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TFUNCTION);
        fn = 2;
    }
    struct nurs_nfq_opts o = {0};
    read_options(L, 1, &o);

    struct nurs_script *script = nurs_script_of(L);
    char err[512];
    bool adopted;
    if (nurs_l_script_budget_init(nurs_lua_script(script)) < 0)
        return luaL_error(L, FNAME ": cannot start the time budget's watchdog thread");
    struct nurs_nfq_source *src = nurs_nfq_source_get(script, &o, &adopted, err, sizeof err);
    if (!src)
        return luaL_error(L, FNAME ": %s", err);
    nurs_l_handle_push(L, NFQ_MT, &src->res);
    if (fn)
        nurs_l_add_consumer(L, &src->res, fn, &nurs_l_nfq_function_ops, NURS_RECORD_NFQ);
    return 1;
}

static int q_on(lua_State *L)
{
    struct nurs_nfq_source *src = check_source(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    nurs_l_add_consumer(L, &src->res, 2, &nurs_l_nfq_function_ops, NURS_RECORD_NFQ);
    lua_settop(L, 1);
    return 1;
}

/* q:verdict(ticket | {tickets...}, verdict) -> true/false | number decided */
static int q_verdict(lua_State *L)
{
    struct nurs_nfq_source *src = check_source(L);
    luaL_checkany(L, 3);
    struct nurs_nfq_decision d;
    char err[160];
    if (nurs_nfq_decision_from(L, 3, &d, err, sizeof err) < 0)
        return luaL_argerror(L, 3, err);
    if (lua_isinteger(L, 2)) {
        bool ok = nurs_nfq_release(src, lua_tointeger(L, 2), &d);
        nurs_nfq_flush(src);
        lua_pushboolean(L, ok);
        return 1;
    }
    luaL_argexpected(L, lua_istable(L, 2), 2, "a ticket from rec:hold() or a list of them");
    lua_Integer n = luaL_len(L, 2), decided = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        int isint;
        lua_Integer t = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (isint && nurs_nfq_release(src, t, &d))
            decided++;
    }
    nurs_nfq_flush(src);
    lua_pushinteger(L, decided);
    return 1;
}

static void push_ticket(void *ctx, int64_t ticket)
{
    lua_State *L = ctx;
    lua_pushinteger(L, ticket);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* q:held() -> the tickets of the packets held, oldest first */
static int q_held(lua_State *L)
{
    struct nurs_nfq_source *src = check_source(L);
    lua_createtable(L, src->live_held, 0);
    nurs_nfq_each_held(src, push_ticket, L);
    return 1;
}

static int q_queues(lua_State *L)
{
    struct nurs_nfq_source *src = check_source(L);
    lua_createtable(L, src->cur.n_queues, 0);
    for (int i = 0; i < src->cur.n_queues; i++) {
        lua_pushinteger(L, src->cur.queues[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

void nurs_l_nfqueue_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"on", q_on},
        {"verdict", q_verdict},
        {"held", q_held},
        {"queues", q_queues},
        {NULL, NULL},
    };
    nurs_nfq_record_open(L);
    nurs_l_handle_class(L, NFQ_MT, "nfqueue source", methods);
    lua_pushcfunction(L, l_nfqueue);
    lua_setfield(L, -2, "nfqueue");
}
