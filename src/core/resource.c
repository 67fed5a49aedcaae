#include "core/resource.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "core/host.h"
#include "bindings/util.h"

static bool name_taken(const struct nurs_host *h, const char *name)
{
    for (const struct nurs_resource *r = h->resources; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return true;
    return false;
}

int nurs_resource_init(struct nurs_resource *r, const struct nurs_resource_ops *ops,
                       struct nurs_script *owner, const char *name, const char *key)
{
    struct nurs_host *h = owner->host;
    r->ops = ops;
    r->host = h;
    r->owner = owner;
    r->claimant = NULL;
    r->key = key ? strdup(key) : NULL;
    if (key && !r->key)
        return -1;
    memset(&r->counters, 0, sizeof r->counters);
    r->cb.L = r->pending_cb.L = NULL;
    r->cb.n = r->pending_cb.n = 0;
    r->cb.n_functions = r->pending_cb.n_functions = 0;
    r->closing = false;
    r->error_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);

    const char *base = name ? name : ops->kind;
    snprintf(r->name, sizeof r->name, "%s", base);
    for (int i = 2; name_taken(h, r->name); i++)
        snprintf(r->name, sizeof r->name, "%.50s#%d", base, i);
    r->next = h->resources;
    h->resources = r;
    return 0;
}

struct nurs_resource *nurs_resource_claim(struct nurs_script *script, const char *kind,
                                          const char *key)
{
    struct nurs_host *h = script->host;
    if (!h->current || h->current == script)
        return NULL;
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        if (r->owner == h->current && !r->claimant && !r->closing && r->key &&
            strcmp(r->ops->kind, kind) == 0 && strcmp(r->key, key) == 0) {
            r->claimant = script;
            r->pending_cb.L = script->L;
            r->pending_cb.n = r->pending_cb.n_functions = 0;
            return r;
        }
    }
    return NULL;
}

void nurs_resource_unclaim(struct nurs_resource *r)
{
    r->claimant = NULL;
    r->pending_cb.n = r->pending_cb.n_functions = 0;
    r->pending_cb.L = NULL;
    if (r->ops->claim_end)
        r->ops->claim_end(r, false);
}

void nurs_resource_destroy(struct nurs_resource *r)
{
    struct nurs_host *h = r->host;
    for (struct nurs_resource **p = &h->resources; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            free(r->key);
            r->key = NULL;
            r->closing = true;
            r->ops->destroy(r);
            return;
        }
    }
}

void nurs_resource_add_callback(struct nurs_resource *r, lua_State *L, int idx)
{
    struct nurs_script *s = nurs_script_of(L);
    struct nurs_callbacks *cb = r->claimant == s ? &r->pending_cb : &r->cb;
    if (cb->n == NURS_MAX_CALLBACKS)
        luaL_error(L, "%s: at most %d callbacks", r->name, NURS_MAX_CALLBACKS);
    cb->L = L;
    struct nurs_l_handle *sink = lua_isfunction(L, idx) ? NULL : nurs_l_sink_test(L, idx);
    if (!sink)
        cb->n_functions++;
    cb->sinks[cb->n] = sink;
    lua_pushvalue(L, idx);
    cb->refs[cb->n++] = luaL_ref(L, LUA_REGISTRYINDEX);
}

void nurs_resource_dispatch(struct nurs_resource *r, struct nurs_ct_msg *m)
{
    lua_State *L = r->cb.L;
    if (r->cb.n == 0) {
        r->counters.dropped++;
        return;
    }
    bool ok = true, lost = false;
    for (int i = 0; i < r->cb.n && !r->closing; i++) {
        struct nurs_l_handle *sink = r->cb.sinks[i];
        if (sink) {
            /* A sink closed from Lua leaves its handle behind, without a
             * resource: what it would have taken is lost, and counted. */
            if (sink->r && m)
                sink->r->ops->take_ct(sink->r, m);
            else
                lost = true;
            continue;
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->cb.refs[i]);
        lua_pushvalue(L, -2);
        if (nurs_pcall(L, 1, 0) != LUA_OK) {
            ok = false;
            r->counters.errors++;
            nurs_log_lua_error(L, &r->error_rl, r->name);
        }
    }
    if (lost)
        r->counters.dropped++;
    else if (ok)
        r->counters.delivered++;
}

int nurs_label_set(struct nurs_resource_label *l, const char *name, const char *value)
{
    if (!value || !*value)
        return 0;
    l->name = name;
    snprintf(l->value, sizeof l->value, "%s", value);
    return 1;
}

void nurs_label_append(struct nurs_resource_label *l, const char *item)
{
    size_t used = strlen(l->value);
    snprintf(l->value + used, sizeof l->value - used, "%s%s", used ? "," : "", item);
}

bool nurs_extra_is_gauge(const struct nurs_resource *r, const char *name)
{
    for (const char *const *g = r->ops->gauges; g && *g; g++)
        if (strcmp(*g, name) == 0)
            return true;
    return false;
}

void nurs_counters_push(lua_State *L, const struct nurs_resource *r)
{
    const struct nurs_counters *c = &r->counters;
    lua_createtable(L, 0, 6);
    static const char *const names[] = {"in", "delivered", "errors", "overruns", "dropped",
                                        "malformed"};
    const uint64_t values[] = {c->in, c->delivered, c->errors, c->overruns, c->dropped,
                               c->malformed};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        lua_pushinteger(L, (lua_Integer)values[i]);
        lua_setfield(L, -2, names[i]);
    }
    struct nurs_extra_counter extra[NURS_MAX_EXTRA_COUNTERS];
    int n = r->ops->extra_counters ? r->ops->extra_counters(r, extra) : 0;
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)extra[i].value);
        lua_setfield(L, -2, extra[i].name);
    }
}

void nurs_counters_log(const struct nurs_resource *r)
{
    const struct nurs_counters *c = &r->counters;
    char more[1024] = "";
    struct nurs_extra_counter extra[NURS_MAX_EXTRA_COUNTERS];
    int n = r->ops->extra_counters ? r->ops->extra_counters(r, extra) : 0;
    size_t used = 0;
    for (int i = 0; i < n && used < sizeof more; i++) {
        int w = snprintf(more + used, sizeof more - used, " %s=%" PRIu64, extra[i].name,
                         extra[i].value);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    nurs_info("counters %s: in=%" PRIu64 " delivered=%" PRIu64 " errors=%" PRIu64
              " overruns=%" PRIu64 " dropped=%" PRIu64 " malformed=%" PRIu64 "%s",
              r->name, c->in, c->delivered, c->errors, c->overruns, c->dropped, c->malformed,
              more);
}
