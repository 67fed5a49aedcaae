#include "sinks/statsd/push.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the last value of each count ---- */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull; /* ends the part: "ab","c" != "a","bc" */
}

/* A 64-bit hash stands for the identity: with a few thousand counters a
 * collision is a chance of about 1e-12. */
static uint64_t key_of(int loop, const char *resource, const char *counter)
{
    char id[16];
    snprintf(id, sizeof id, "%d", loop);
    uint64_t h = fnv(fnv(fnv(0xcbf29ce484222325ull, id), resource), counter);
    return h ? h : 1;
}

static struct nurs_statsd_last *slot(struct nurs_statsd_last *e, size_t cap, uint64_t key)
{
    size_t i = (size_t)(key & (cap - 1));
    while (e[i].key && e[i].key != key)
        i = (i + 1) & (cap - 1);
    return &e[i];
}

/* Keeps what the last three pushes saw (a worker loop that missed one
 * publication keeps its values), at most 3/4 full. */
static void rebuild(struct nurs_statsd_deltas *d, size_t want)
{
    size_t cap = 64;
    while (cap < want * 2 && cap < NURS_STATSD_MAX_TRACKED * 2)
        cap *= 2;
    struct nurs_statsd_last *e = calloc(cap, sizeof *e);
    if (!e)
        return; /* the old table goes on */
    size_t n = 0;
    for (size_t i = 0; i < d->cap; i++) {
        const struct nurs_statsd_last *o = &d->e[i];
        if (o->key && d->push - o->seen < 3 && n < cap * 3 / 4) {
            *slot(e, cap, o->key) = *o;
            n++;
        }
    }
    free(d->e);
    d->e = e;
    d->cap = cap;
    d->n = n;
}

/* The change since the last push, and v remembered. */
static uint64_t delta(struct nurs_statsd_deltas *d, uint64_t key, uint64_t v, bool *known)
{
    if (d->n + 1 > d->cap * 3 / 4)
        rebuild(d, d->n + 1);
    if (d->n + 1 > d->cap * 3 / 4) {
        d->untracked++;
        *known = false;
        return v;
    }
    struct nurs_statsd_last *s = slot(d->e, d->cap, key);
    *known = s->key != 0;
    if (!s->key) {
        s->key = key;
        d->n++;
    }
    uint64_t was = *known ? s->value : 0;
    s->value = v;
    s->seen = d->push;
    return v >= was ? v - was : v;
}

void nurs_statsd_deltas_free(struct nurs_statsd_deltas *d)
{
    free(d->e);
    memset(d, 0, sizeof *d);
}

/* ---- lines ---- */

struct out {
    const struct nurs_statsd_format *f;
    struct nurs_statsd_deltas *d;
    nurs_statsd_emit emit;
    void *ctx;
    unsigned lines;
};

/* One counter: `path` is its name in the plain style (identity parts
 * folded in), `name` its name when tags carry them. */
static void one(struct out *o, int loop, const char *id, const char *counter, const char *path,
                const char *name, const struct nurs_statsd_tag *tags, int n_tags, uint64_t v,
                bool level)
{
    char value[24], line[NURS_STATSD_MAX_LINE];
    if (!level) {
        bool known;
        v = delta(o->d, key_of(loop, id, counter), v, &known);
        if (v == 0)
            return;
    }
    snprintf(value, sizeof value, "%" PRIu64, v);
    bool plain = o->f->style == NURS_STATSD_TAGS_NONE;
    size_t len = nurs_statsd_line(line, sizeof line, o->f->style, o->f->prefix, plain ? path : name,
                                  tags, plain ? 0 : n_tags, value, level ? "g" : "c");
    if (len) {
        o->emit(o->ctx, line, len);
        o->lines++;
    }
}

static void resource(struct out *o, int loop, const struct nurs_res_snap *r)
{
    char kind[64], res[64], worker[16], values[NURS_MAX_RESOURCE_LABELS][96];
    struct nurs_statsd_tag tags[2 + NURS_MAX_RESOURCE_LABELS];
    int n = 0;
    nurs_statsd_safe(kind, sizeof kind, r->ops->kind);
    nurs_statsd_safe(res, sizeof res, r->name);
    snprintf(worker, sizeof worker, "%d", loop);
    tags[n++] = (struct nurs_statsd_tag){"resource", res};
    for (int i = 0; i < r->n_labels && i < NURS_MAX_RESOURCE_LABELS; i++) {
        nurs_statsd_safe(values[i], sizeof values[i], r->labels[i].value);
        tags[n++] = (struct nurs_statsd_tag){r->labels[i].name, values[i]};
    }
    if (loop)
        tags[n++] = (struct nurs_statsd_tag){"worker", worker};
    for (int i = 0; i < r->n_counters; i++) {
        char cname[64], path[256], name[256];
        nurs_statsd_safe(cname, sizeof cname, r->counters[i].name);
        snprintf(name, sizeof name, "%s.%s", kind, cname);
        if (loop)
            snprintf(path, sizeof path, "%s.%s.worker%d.%s", kind, res, loop, cname);
        else
            snprintf(path, sizeof path, "%s.%s.%s", kind, res, cname);
        one(o, loop, r->name, r->counters[i].name, path, name, tags, n, r->counters[i].value,
            nurs_census_res_level(r, i));
    }
}

static void script(struct out *o, int loop, const struct nurs_host_snap *s)
{
    char worker[16];
    snprintf(worker, sizeof worker, "%d", loop);
    struct nurs_statsd_tag tag = {"worker", worker};
    for (int i = 0; i < s->n_script; i++) {
        char cname[64], path[256], name[256];
        nurs_statsd_safe(cname, sizeof cname, s->script[i].name);
        snprintf(name, sizeof name, "script.%s", cname);
        if (loop)
            snprintf(path, sizeof path, "script.worker%d.%s", loop, cname);
        else
            snprintf(path, sizeof path, "script.%s", cname);
        /* "\1script": no resource has that name. */
        one(o, loop, "\1script", s->script[i].name, path, name, &tag, loop ? 1 : 0,
            s->script[i].value, nurs_census_script_level(s->script[i].name));
    }
}

unsigned nurs_statsd_push_counters(const struct nurs_census *c, const struct nurs_statsd_format *f,
                                   struct nurs_statsd_deltas *d, nurs_statsd_emit emit, void *ctx)
{
    struct out o = {f, d, emit, ctx, 0};
    d->push++;
    for (int k = 0; k < c->n_loops; k++) {
        for (int j = 0; j < c->loops[k].n_res; j++)
            resource(&o, k, &c->loops[k].res[j]);
        script(&o, k, &c->loops[k]);
    }
    if (d->push % 8 == 0)
        rebuild(d, d->n); /* forgets what is gone */
    return o.lines;
}
