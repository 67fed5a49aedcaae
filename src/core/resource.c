#include "core/resource.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/host.h"

static bool name_taken(const struct nurs_host *h, const char *name)
{
    for (const struct nurs_resource *r = h->resources; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return true;
    return false;
}

static void *settings_at(const struct nurs_resource *r, size_t offset)
{
    return (char *)r + offset;
}

int nurs_resource_init(struct nurs_resource *r, const struct nurs_resource_ops *ops,
                       struct nurs_script *owner, const char *name, const char *key,
                       const void *settings)
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
    r->consumers.n = r->next_consumers.n = 0;
    r->consumers.budget_ns = r->next_consumers.budget_ns = 0;
    r->as_consumer.ops = ops->consumer;
    r->closing = false;
    r->error_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    if (settings && ops->settings_size)
        memcpy(settings_at(r, ops->cur_offset), settings, ops->settings_size);

    const char *base = name ? name : ops->kind;
    snprintf(r->name, sizeof r->name, "%s", base);
    for (int i = 2; name_taken(h, r->name); i++)
        snprintf(r->name, sizeof r->name, "%.50s#%d", base, i);
    r->next = h->resources;
    h->resources = r;
    return 0;
}

struct nurs_resource *nurs_resource_claim(struct nurs_script *script,
                                          const struct nurs_resource_ops *ops, const char *key,
                                          const void *settings)
{
    struct nurs_host *h = script->host;
    if (!h->current || h->current == script)
        return NULL;
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        if (r->ops == ops && r->owner == h->current && !r->claimant && !r->closing && r->key &&
            strcmp(r->key, key) == 0) {
            r->claimant = script;
            r->next_consumers.n = 0;
            r->next_consumers.budget_ns = 0;
            if (ops->settings_size)
                memcpy(settings_at(r, ops->next_offset),
                       settings ? settings : settings_at(r, ops->cur_offset), ops->settings_size);
            return r;
        }
    }
    return NULL;
}

const void *nurs_resource_settings(const struct nurs_resource *r, const struct nurs_script *script)
{
    bool claimant = script && r->claimant == script;
    return settings_at(r, claimant ? r->ops->next_offset : r->ops->cur_offset);
}

static void release_all(struct nurs_consumers *list)
{
    for (int i = 0; i < list->n; i++)
        if (list->c[i] && list->c[i]->ops->release)
            list->c[i]->ops->release(list->c[i]);
    list->n = 0;
}

void nurs_resource_unclaim(struct nurs_resource *r)
{
    r->claimant = NULL;
    release_all(&r->next_consumers);
    if (r->ops->given_back)
        r->ops->given_back(r);
}

static void adopt(struct nurs_resource *r, struct nurs_script *script)
{
    r->owner = script;
    r->claimant = NULL;
    release_all(&r->consumers);
    r->consumers = r->next_consumers;
    r->next_consumers.n = 0;
    size_t size = r->ops->settings_size;
    if (size) {
        /* Swapped, so that `adopted` sees what changed. */
        unsigned char old[size];
        memcpy(old, settings_at(r, r->ops->cur_offset), size);
        memcpy(settings_at(r, r->ops->cur_offset), settings_at(r, r->ops->next_offset), size);
        memcpy(settings_at(r, r->ops->next_offset), old, size);
    }
    if (r->ops->adopted)
        r->ops->adopted(r);
}

void nurs_resource_end_claims(struct nurs_host *h, struct nurs_script *script, bool adopted)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        if (r->claimant != script)
            continue;
        if (adopted)
            adopt(r, script);
        else
            nurs_resource_unclaim(r);
    }
}

/* Sources that hand records to r must not hand it any more. */
static void forget_consumer(struct nurs_host *h, struct nurs_consumer *c)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        for (int i = 0; i < r->consumers.n; i++)
            if (r->consumers.c[i] == c)
                r->consumers.c[i] = NULL;
        for (int i = 0; i < r->next_consumers.n; i++)
            if (r->next_consumers.c[i] == c)
                r->next_consumers.c[i] = NULL;
    }
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
            if (r->as_consumer.ops)
                forget_consumer(h, &r->as_consumer);
            release_all(&r->consumers);
            release_all(&r->next_consumers);
            r->ops->destroy(r);
            return;
        }
    }
}

struct nurs_consumers *nurs_resource_consumers_of(struct nurs_resource *r,
                                                  const struct nurs_script *script)
{
    return r->claimant && r->claimant == script ? &r->next_consumers : &r->consumers;
}

int nurs_consumers_add(struct nurs_consumers *list, struct nurs_consumer *c)
{
    if (list->n == NURS_MAX_CONSUMERS)
        return -1;
    list->c[list->n++] = c;
    return 0;
}

void nurs_resource_deliver(struct nurs_resource *r, struct nurs_record *rec)
{
    if (r->consumers.n == 0) {
        r->counters.dropped++;
        return;
    }
    bool failed = false, lost = false;
    for (int i = 0; i < r->consumers.n && !r->closing; i++) {
        struct nurs_consumer *c = r->consumers.c[i];
        switch (c ? c->ops->take(c, r, rec) : NURS_TAKE_LOST) {
        case NURS_TAKEN:
            break;
        case NURS_TAKE_FAILED:
            failed = true;
            r->counters.errors++;
            break;
        case NURS_TAKE_LOST:
            lost = true;
            break;
        }
    }
    if (lost)
        r->counters.dropped++;
    else if (!failed)
        r->counters.delivered++;
}

void nurs_resource_report_loss(struct nurs_resource *r, const struct nurs_loss *loss)
{
    for (int i = 0; i < r->consumers.n && !r->closing; i++) {
        struct nurs_consumer *c = r->consumers.c[i];
        if (c && c->ops->lost)
            c->ops->lost(c, r, loss);
    }
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

int nurs_resource_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_counters *c = &r->counters;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"in", c->in};
    out[n++] = (struct nurs_extra_counter){"delivered", c->delivered};
    out[n++] = (struct nurs_extra_counter){"errors", c->errors};
    out[n++] = (struct nurs_extra_counter){"overruns", c->overruns};
    out[n++] = (struct nurs_extra_counter){"dropped", c->dropped};
    out[n++] = (struct nurs_extra_counter){"malformed", c->malformed};
    out[n++] = (struct nurs_extra_counter){"timeouts", c->timeouts};
    if (r->ops->extra_counters)
        n += r->ops->extra_counters(r, out + n);
    return n;
}

void nurs_counters_log(const struct nurs_resource *r)
{
    struct nurs_extra_counter all[NURS_MAX_COUNTERS];
    int n = nurs_resource_counters(r, all);
    char line[1536];
    size_t used = 0;
    for (int i = 0; i < n && used < sizeof line; i++) {
        int w = snprintf(line + used, sizeof line - used, "%s%s=%" PRIu64, i ? " " : "",
                         all[i].name, all[i].value);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    nurs_info("counters %s: %s", r->name, line);
}
