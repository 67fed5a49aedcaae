#include "core/snapshot.h"

#include <stdio.h>
#include <string.h>

#include "core/host.h"

void nurs_res_snap_take(struct nurs_res_snap *out, const struct nurs_resource *r)
{
    out->ops = r->ops;
    snprintf(out->name, sizeof out->name, "%s", r->name);
    out->n_labels = r->ops->labels ? r->ops->labels(r, out->labels) : 0;
    out->n_counters = nurs_resource_counters(r, out->counters);
}

void nurs_host_snap_take(struct nurs_host_snap *out, const struct nurs_host *h)
{
    int n = 0, left_out = 0;
    for (const struct nurs_resource *r = h->resources; r; r = r->next)
        if (!r->dormant)
            n++;
    /* The list is newest first; the snapshot oldest first, as declared. */
    int i = n;
    for (const struct nurs_resource *r = h->resources; r; r = r->next) {
        if (r->dormant)
            continue;
        if (--i < NURS_SNAP_MAX_RESOURCES)
            nurs_res_snap_take(&out->res[i], r);
        else
            left_out++;
    }
    out->n_res = n - left_out;
    out->left_out = left_out;
    out->n_script = h->current && h->engine && h->engine->counters
                        ? h->engine->counters(h->current, out->script)
                        : 0;
}

const struct nurs_res_snap *nurs_host_snap_find(const struct nurs_host_snap *s, const char *name)
{
    for (int i = 0; i < s->n_res; i++)
        if (strcmp(s->res[i].name, name) == 0)
            return &s->res[i];
    return NULL;
}

void nurs_res_snap_add(struct nurs_res_snap *a, const struct nurs_res_snap *b)
{
    for (int j = 0; j < b->n_counters; j++) {
        int i = 0;
        while (i < a->n_counters && strcmp(a->counters[i].name, b->counters[j].name) != 0)
            i++;
        if (i < a->n_counters)
            a->counters[i].value += b->counters[j].value;
        else if (a->n_counters < NURS_MAX_COUNTERS)
            a->counters[a->n_counters++] = b->counters[j];
    }
}

void nurs_res_snap_log(const struct nurs_res_snap *s, const char *suffix)
{
    nurs_counters_log_list(s->name, suffix, s->counters, s->n_counters);
}

void nurs_res_snap_common(const struct nurs_res_snap *s, struct nurs_counters *out)
{
    uint64_t *fields[] = {&out->in,      &out->delivered, &out->errors,  &out->overruns,
                          &out->dropped, &out->malformed, &out->timeouts};
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 7 && i < s->n_counters; i++)
        *fields[i] = s->counters[i].value;
}
