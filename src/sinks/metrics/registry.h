/* Metrics a script defines (counters, gauges, histograms with labels),
 * kept in C so that a scrape never runs Lua. Bounded: at most
 * NURS_METRICS_MAX_FAMILIES families, each with at most max_series label
 * sets; a new label set past that is refused and counted.
 *
 * Across a reload, a family that the new script defines again the same
 * way (type, label names, buckets) keeps its values; those it does not
 * define go when it takes over. A script's Lua handle holds a reference:
 * a family removed under it is marked dead, freed with its last handle. */
#ifndef NURS_SINKS_METRICS_REGISTRY_H
#define NURS_SINKS_METRICS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinks/metrics/expo.h"

#define NURS_METRICS_MAX_FAMILIES 256
#define NURS_METRICS_MAX_LABELS 8
#define NURS_METRICS_MAX_BUCKETS 64
#define NURS_METRICS_MAX_VALUE_LEN 256 /* bytes of a label value */
#define NURS_METRICS_DEFAULT_MAX_SERIES 1000

struct nurs_mseries {
    struct nurs_mseries *next;        /* in definition order */
    struct nurs_mseries *next_bucket; /* in its hash chain */
    uint64_t hash;
    char *values[NURS_METRICS_MAX_LABELS];
    double value;      /* counter, gauge; a histogram's sum */
    uint64_t *buckets; /* histogram: n_bounds + 1 counts */
};

struct nurs_mfamily {
    struct nurs_mfamily *next;
    char *name; /* base name: a counter's without _total */
    char *help;
    enum nurs_metric_type type;
    char *labels[NURS_METRICS_MAX_LABELS];
    int n_labels;
    double bounds[NURS_METRICS_MAX_BUCKETS];
    int n_bounds;
    size_t max_series;
    struct nurs_mseries *first, **tail;
    struct nurs_mseries **table;
    size_t n_series, n_slots;
    uint64_t refused; /* new label sets past max_series, or too long a value */
    bool current;     /* defined by the running script */
    bool next_def;    /* defined by the script being loaded */
    bool dead;        /* removed: handles raise an error */
    int refs;         /* Lua handles */
};

struct nurs_mregistry {
    struct nurs_mfamily *families;
    int n_families;
};

/* What a script asks for. A counter's name may end in _total (taken off
 * here); buckets NULL: the Prometheus defaults. */
struct nurs_mspec {
    const char *name;
    const char *help;
    enum nurs_metric_type type; /* counter, gauge or histogram */
    const char *labels[NURS_METRICS_MAX_LABELS];
    int n_labels;
    const double *buckets;
    int n_buckets;
    size_t max_series;
};

/* Prometheus data model: [a-zA-Z_:][a-zA-Z0-9_:]* for metric names,
 * [a-zA-Z_][a-zA-Z0-9_]* not starting with __ for label names. */
bool nurs_metric_name_valid(const char *name);
bool nurs_label_name_valid(const char *name);

void nurs_mregistry_init(struct nurs_mregistry *reg);
/* Defines a family for the running script (loading false) or the one
 * being loaded: the existing one when it is defined the same way (values
 * kept), else a new one. NULL with a message in err. The family comes
 * with one reference held for the caller. */
struct nurs_mfamily *nurs_mregistry_define(struct nurs_mregistry *reg, const struct nurs_mspec *s,
                                           bool loading, char *err, size_t errlen);
/* The loading script took over (adopted) or failed: families only the
 * old script defined go (or those only the new one did). */
void nurs_mregistry_commit(struct nurs_mregistry *reg, bool adopted);
/* Removes every family (the endpoint is closing). */
void nurs_mregistry_clear(struct nurs_mregistry *reg);
void nurs_mfamily_unref(struct nurs_mfamily *f);

/* The series with these label values (one per label name, in order),
 * made if new; NULL when refused (counted). */
struct nurs_mseries *nurs_mfamily_series(struct nurs_mfamily *f, const char *const *values,
                                         const size_t *lens);
/* The series with these label values, if it was ever used; else NULL. */
struct nurs_mseries *nurs_mfamily_find(const struct nurs_mfamily *f, const char *const *values,
                                       const size_t *lens);
void nurs_mseries_observe(const struct nurs_mfamily *f, struct nurs_mseries *s, double v);

/* Writes the running script's families. */
void nurs_mregistry_write(const struct nurs_mregistry *reg, struct nurs_expo *w);
/* Writes nurs_metric_series_refused_total by family (none when no
 * family is defined). */
void nurs_mregistry_write_refused(const struct nurs_mregistry *reg, struct nurs_expo *w);

#endif
