/* A copy of a loop's counters, taken in that loop's thread, that another
 * thread may read: how the main loop sees the worker loops' counters
 * (SIGUSR1, nurs.counters(), the metrics endpoint) without touching their
 * resources. */
#ifndef NURS_CORE_SNAPSHOT_H
#define NURS_CORE_SNAPSHOT_H

#include "core/resource.h"

struct nurs_host;

/* One resource: its kind's ops (static, shared by every thread), name,
 * labels and counters (common ones first, as nurs_resource_counters()
 * lists them). */
struct nurs_res_snap {
    const struct nurs_resource_ops *ops;
    char name[64];
    struct nurs_resource_label labels[NURS_MAX_RESOURCE_LABELS];
    int n_labels;
    struct nurs_extra_counter counters[NURS_MAX_COUNTERS];
    int n_counters;
};

#define NURS_SNAP_MAX_RESOURCES 64

struct nurs_host_snap {
    struct nurs_res_snap res[NURS_SNAP_MAX_RESOURCES]; /* oldest first */
    int n_res;
    int left_out; /* resources past NURS_SNAP_MAX_RESOURCES */
    struct nurs_extra_counter script[NURS_MAX_EXTRA_COUNTERS]; /* the running script's */
    int n_script;
};

void nurs_res_snap_take(struct nurs_res_snap *out, const struct nurs_resource *r);
/* Every resource of h that is open in h's loop, and its script's counters. */
void nurs_host_snap_take(struct nurs_host_snap *out, const struct nurs_host *h);
/* The resource named `name` in s, or NULL. */
const struct nurs_res_snap *nurs_host_snap_find(const struct nurs_host_snap *s, const char *name);
/* The seven common counters (listed first) back in their struct. */
void nurs_res_snap_common(const struct nurs_res_snap *s, struct nurs_counters *out);
/* Logs them as the SIGUSR1 log shows a resource's, the name followed by
 * suffix. */
void nurs_res_snap_log(const struct nurs_res_snap *s, const char *suffix);
/* Adds b's counters to a's, by name (a counter a lacks is appended). */
void nurs_res_snap_add(struct nurs_res_snap *a, const struct nurs_res_snap *b);

#endif
