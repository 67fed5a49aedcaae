/* nurs.metrics{...}: the Lua face of the Prometheus endpoint, and the
 * counters, gauges and histograms a script defines on it. */
#include <math.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/nurs.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "sinks/metrics/server.h"

#define METRICS_MT "nurs.metrics"
#define FNAME "nurs.metrics"

static const char *const type_mt[] = {
    [NURS_METRIC_COUNTER] = "nurs.metrics.counter",
    [NURS_METRIC_GAUGE] = "nurs.metrics.gauge",
    [NURS_METRIC_HISTOGRAM] = "nurs.metrics.histogram",
};

/* A handle holds a reference to its family. */
struct metric {
    struct nurs_mfamily *f;
};

static struct nurs_metrics *check_endpoint(lua_State *L)
{
    return nurs_metrics_of(nurs_l_handle_check(L, 1, METRICS_MT, "metrics endpoint"));
}

/* ---- nurs.metrics{...} ---- */

static int l_metrics(lua_State *L)
{
    static const char *const allowed[] = {"listen",       "max_connections", "max_per_ip",
                                          "timeout",      "max_request",     "max_response",
                                          "max_series",   "probe_interval",  "name",
                                          NULL};
    struct nurs_metrics_opts o = NURS_METRICS_OPTS_DEFAULT;
    lua_settop(L, 1);
    nurs_l_opts_arg(L, 1, FNAME, allowed);
    if (lua_getfield(L, 1, "listen") == LUA_TNUMBER) {
        /* A port alone: on loopback. */
        lua_Integer port = nurs_opt_int(L, 1, FNAME, "listen", 0, 0, 65535);
        lua_pushfstring(L, "127.0.0.1:%I", port);
        lua_setfield(L, 1, "listen");
    }
    lua_pop(L, 1);
    o.listen = nurs_opt_string(L, 1, FNAME, "listen", o.listen);
    o.max_connections = (unsigned)nurs_opt_int(L, 1, FNAME, "max_connections", o.max_connections,
                                               1, 1024);
    o.max_per_ip = (unsigned)nurs_opt_int(L, 1, FNAME, "max_per_ip", o.max_per_ip, 1, 1024);
    o.timeout_s = (unsigned)nurs_opt_int(L, 1, FNAME, "timeout", o.timeout_s, 1, 3600);
    o.max_request = (size_t)nurs_opt_int(L, 1, FNAME, "max_request", (lua_Integer)o.max_request,
                                         2048, 1 << 20);
    o.max_response = (size_t)nurs_opt_int(L, 1, FNAME, "max_response",
                                          (lua_Integer)o.max_response, 4096, 1 << 30);
    o.max_series = (size_t)nurs_opt_int(L, 1, FNAME, "max_series", (lua_Integer)o.max_series, 1,
                                        1000000);
    o.probe_interval = nurs_opt_number(L, 1, FNAME, "probe_interval", o.probe_interval, 0, 3600);
    o.name = nurs_opt_string(L, 1, FNAME, "name", NULL);
    char err[512];
    struct nurs_metrics *m = nurs_metrics_get(nurs_script_of(L), &o, err, sizeof err);
    if (!m)
        return luaL_error(L, FNAME ": %s", err);
    nurs_l_handle_push(L, METRICS_MT, nurs_metrics_resource(m));
    return 1;
}

/* ---- defining metrics ---- */

static void read_labels(lua_State *L, int idx, const char *fname, struct nurs_mspec *s)
{
    if (lua_getfield(L, idx, "labels") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: 'labels' must be a list of label names", fname);
    lua_Integer n = luaL_len(L, -1);
    if (n > NURS_METRICS_MAX_LABELS)
        luaL_error(L, "%s: at most %d labels", fname, NURS_METRICS_MAX_LABELS);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
            luaL_error(L, "%s: label names must be strings", fname);
        /* The list on the stack keeps the string. */
        s->labels[s->n_labels++] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static int read_buckets(lua_State *L, int idx, const char *fname, double *out)
{
    if (lua_getfield(L, idx, "buckets") == LUA_TNIL) {
        lua_pop(L, 1);
        return -1;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: 'buckets' must be a list of numbers", fname);
    lua_Integer n = luaL_len(L, -1);
    if (n < 1 || n > NURS_METRICS_MAX_BUCKETS + 1)
        luaL_error(L, "%s: between 1 and %d buckets", fname, NURS_METRICS_MAX_BUCKETS);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        int isnum;
        out[i - 1] = lua_tonumberx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "%s: buckets must be numbers", fname);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return (int)n;
}

static int define(lua_State *L, enum nurs_metric_type type, const char *fname)
{
    static const char *const allowed[] = {"name", "help", "labels", "max_series", "buckets", NULL};
    static const char *const allowed_plain[] = {"name", "help", "labels", "max_series", NULL};
    struct nurs_metrics *m = check_endpoint(L);
    if (nurs_script_of(L)->host->worker_id != 0)
        return luaL_error(L, "%s: the metrics a script defines live on the main loop, not in "
                             "a worker loop: count across workers with nurs.shared and set "
                             "them from a timer where nurs.worker.id == 0", fname);
    luaL_checktype(L, 2, LUA_TTABLE);
    nurs_check_options(L, 2, fname, type == NURS_METRIC_HISTOGRAM ? allowed : allowed_plain);
    struct nurs_script *script = nurs_script_of(L);
    struct nurs_mspec s = {.type = type};
    s.name = nurs_opt_string(L, 2, fname, "name", NULL);
    if (!s.name)
        return luaL_error(L, "%s: 'name' is required", fname);
    s.help = nurs_opt_string(L, 2, fname, "help", "");
    s.max_series = (size_t)nurs_opt_int(L, 2, fname, "max_series",
                                        (lua_Integer)nurs_metrics_max_series(m, script), 1,
                                        1000000);
    read_labels(L, 2, fname, &s);
    double buckets[NURS_METRICS_MAX_BUCKETS + 1];
    if (type == NURS_METRIC_HISTOGRAM) {
        int n = read_buckets(L, 2, fname, buckets);
        if (n > 0) {
            s.buckets = buckets;
            s.n_buckets = n;
        }
    }
    char err[512];
    struct nurs_mfamily *f = nurs_mregistry_define(nurs_metrics_registry(m), &s,
                                                   nurs_metrics_loading(m, script), err, sizeof err);
    if (!f)
        return luaL_error(L, "%s: %s", fname, err);
    struct metric *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->f = f;
    luaL_setmetatable(L, type_mt[type]);
    return 1;
}

/* m:address() -> "127.0.0.1:9464" (the port the kernel chose for 0) */
static int m_address(lua_State *L)
{
    lua_pushstring(L, nurs_metrics_address(check_endpoint(L)));
    return 1;
}

static int m_counter(lua_State *L) { return define(L, NURS_METRIC_COUNTER, "metrics:counter"); }
static int m_gauge(lua_State *L) { return define(L, NURS_METRIC_GAUGE, "metrics:gauge"); }
static int m_histogram(lua_State *L)
{
    return define(L, NURS_METRIC_HISTOGRAM, "metrics:histogram");
}

/* ---- using them ---- */

static struct nurs_mfamily *check_metric(lua_State *L, enum nurs_metric_type type)
{
    struct metric *h = luaL_checkudata(L, 1, type_mt[type]);
    if (h->f->dead)
        luaL_error(L, "metric '%s' is gone: its metrics endpoint was closed", h->f->name);
    return h->f;
}

/* The series named by the labels table at idx (absent: no labels): made
 * if new when `make`, else NULL if never used. NULL too when refused:
 * too many label sets (counted). */
static struct nurs_mseries *series_of(lua_State *L, struct nurs_mfamily *f, int idx, bool make)
{
    const char *values[NURS_METRICS_MAX_LABELS];
    size_t lens[NURS_METRICS_MAX_LABELS];
    if (lua_isnoneornil(L, idx)) {
        if (f->n_labels > 0)
            luaL_error(L, "metric '%s' needs its labels: %s%s", f->name, f->labels[0],
                       f->n_labels > 1 ? ", ..." : "");
    } else {
        if (!lua_istable(L, idx))
            luaL_typeerror(L, idx, "table of labels");
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            bool known = false;
            for (int i = 0; i < f->n_labels && !known; i++)
                known = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), f->labels[i]) == 0;
            if (!known)
                luaL_error(L, "metric '%s' has no label '%s'", f->name, luaL_tolstring(L, -1, NULL));
        }
        for (int i = 0; i < f->n_labels; i++) {
            int t = lua_getfield(L, idx, f->labels[i]);
            if (t != LUA_TSTRING && t != LUA_TNUMBER)
                luaL_error(L, "metric '%s': label '%s' %s", f->name, f->labels[i],
                           t == LUA_TNIL ? "is missing" : "must be a string or a number");
            /* Stays on the stack until the lookup is done. */
            values[i] = lua_tolstring(L, -1, &lens[i]);
        }
    }
    struct nurs_mseries *s =
        make ? nurs_mfamily_series(f, values, lens) : nurs_mfamily_find(f, values, lens);
    if (!lua_isnoneornil(L, idx))
        lua_pop(L, f->n_labels);
    return s;
}

/* (v, labels), (labels) or (): the amount defaults to `def`. */
static double amount(lua_State *L, int *labels_idx, double def)
{
    if (lua_istable(L, 2)) {
        *labels_idx = 2;
        return def;
    }
    *labels_idx = 3;
    if (lua_isnoneornil(L, 2))
        return def;
    return luaL_checknumber(L, 2);
}

static int counter_inc(lua_State *L)
{
    struct nurs_mfamily *f = check_metric(L, NURS_METRIC_COUNTER);
    int li;
    double v = amount(L, &li, 1);
    if (!(v >= 0))
        return luaL_error(L, "counter '%s' only goes up: inc(%f)", f->name, v);
    struct nurs_mseries *s = series_of(L, f, li, true);
    if (s)
        s->value += v;
    lua_pushboolean(L, s != NULL);
    return 1;
}

static int gauge_add(lua_State *L, double sign)
{
    struct nurs_mfamily *f = check_metric(L, NURS_METRIC_GAUGE);
    int li;
    double v = amount(L, &li, 1);
    struct nurs_mseries *s = series_of(L, f, li, true);
    if (s)
        s->value += sign * v;
    lua_pushboolean(L, s != NULL);
    return 1;
}

static int gauge_inc(lua_State *L) { return gauge_add(L, 1); }
static int gauge_dec(lua_State *L) { return gauge_add(L, -1); }

static int gauge_set(lua_State *L)
{
    struct nurs_mfamily *f = check_metric(L, NURS_METRIC_GAUGE);
    double v = luaL_checknumber(L, 2);
    struct nurs_mseries *s = series_of(L, f, 3, true);
    if (s)
        s->value = v;
    lua_pushboolean(L, s != NULL);
    return 1;
}

static int histogram_observe(lua_State *L)
{
    struct nurs_mfamily *f = check_metric(L, NURS_METRIC_HISTOGRAM);
    double v = luaL_checknumber(L, 2);
    struct nurs_mseries *s = series_of(L, f, 3, true);
    if (s)
        nurs_mseries_observe(f, s, v);
    lua_pushboolean(L, s != NULL);
    return 1;
}

/* metric:get([labels]) -> value (a histogram: count, sum); nil for a label
 * set never used. */
static struct nurs_mfamily *any_metric(lua_State *L)
{
    for (int t = 0; t <= NURS_METRIC_HISTOGRAM; t++) {
        struct metric *h = luaL_testudata(L, 1, type_mt[t]);
        if (h)
            return check_metric(L, (enum nurs_metric_type)t);
    }
    luaL_typeerror(L, 1, "metric");
    return NULL;
}

static int metric_get(lua_State *L)
{
    struct nurs_mfamily *f = any_metric(L);
    struct nurs_mseries *s = series_of(L, f, 2, false);
    if (!s) {
        lua_pushnil(L);
        return 1;
    }
    if (f->type != NURS_METRIC_HISTOGRAM) {
        lua_pushnumber(L, s->value);
        return 1;
    }
    uint64_t count = 0;
    for (int i = 0; i <= f->n_bounds; i++)
        count += s->buckets[i];
    lua_pushinteger(L, (lua_Integer)count);
    lua_pushnumber(L, s->value);
    return 2;
}

static int metric_name(lua_State *L)
{
    lua_pushstring(L, any_metric(L)->name);
    return 1;
}

static int metric_gc(lua_State *L)
{
    struct metric *h = lua_touserdata(L, 1);
    if (h->f)
        nurs_mfamily_unref(h->f);
    h->f = NULL;
    return 0;
}

static int metric_tostring(lua_State *L)
{
    struct metric *h = lua_touserdata(L, 1);
    lua_pushfstring(L, "metric (%s)", h->f ? h->f->name : "gone");
    return 1;
}

static void metric_class(lua_State *L, enum nurs_metric_type t, const luaL_Reg *methods)
{
    static const luaL_Reg common[] = {{"get", metric_get}, {"name", metric_name}, {NULL, NULL}};
    luaL_newmetatable(L, type_mt[t]);
    lua_newtable(L);
    luaL_setfuncs(L, common, 0);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, metric_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, metric_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

void nurs_l_metrics_open(lua_State *L)
{
    static const luaL_Reg endpoint[] = {
        {"counter", m_counter},
        {"gauge", m_gauge},
        {"histogram", m_histogram},
        {"address", m_address},
        {NULL, NULL},
    };
    metric_class(L, NURS_METRIC_COUNTER, (const luaL_Reg[]){{"inc", counter_inc}, {NULL, NULL}});
    metric_class(L, NURS_METRIC_GAUGE,
                 (const luaL_Reg[]){
                     {"set", gauge_set}, {"inc", gauge_inc}, {"dec", gauge_dec}, {NULL, NULL}});
    metric_class(L, NURS_METRIC_HISTOGRAM,
                 (const luaL_Reg[]){{"observe", histogram_observe}, {NULL, NULL}});
    nurs_l_handle_class(L, METRICS_MT, "metrics endpoint", endpoint);
    lua_pushcfunction(L, l_metrics);
    lua_setfield(L, -2, "metrics");
}
