/* The Prometheus exposition formats, written into memory: the text format
 * 0.0.4 and OpenMetrics 1.0. A pure writer (no I/O): the caller says which
 * families and samples there are; names, escaping, number formats,
 * histogram buckets and the differences between the two formats are
 * handled here. */
#ifndef NURS_SINKS_METRICS_EXPO_H
#define NURS_SINKS_METRICS_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nurs_expo_format { NURS_EXPO_TEXT, NURS_EXPO_OPENMETRICS };

enum nurs_metric_type {
    NURS_METRIC_COUNTER,
    NURS_METRIC_GAUGE,
    NURS_METRIC_HISTOGRAM,
};

struct nurs_label {
    const char *name;
    const char *value; /* NULL: the label is left out */
};

struct nurs_expo {
    enum nurs_expo_format format;
    char *buf; /* NUL-terminated once anything is written */
    size_t len, cap;
    size_t limit; /* most bytes written; past it the exposition failed */
    bool failed;  /* out of memory or past the limit: later calls do nothing */
    char family[256];
    enum nurs_metric_type type;
};

void nurs_expo_init(struct nurs_expo *w, enum nurs_expo_format f, size_t limit);
void nurs_expo_free(struct nurs_expo *w);

/* Starts a family: its HELP and TYPE lines. `name` is the base name:
 * without _total for a counter. */
void nurs_expo_family(struct nurs_expo *w, const char *name, enum nurs_metric_type type,
                      const char *help);
/* A sample of the current counter or gauge family. */
void nurs_expo_double(struct nurs_expo *w, const struct nurs_label *labels, int n, double v);
void nurs_expo_uint(struct nurs_expo *w, const struct nurs_label *labels, int n, uint64_t v);
/* A series of the current histogram family: bounds[0..n_bounds) ascending
 * (the +Inf bucket is implied), counts[0..n_bounds] observations per
 * bucket, not cumulative (the last one above the top bound). */
void nurs_expo_histogram(struct nurs_expo *w, const struct nurs_label *labels, int n,
                         const double *bounds, const uint64_t *counts, int n_bounds, double sum);
/* Ends the exposition ("# EOF" in OpenMetrics). */
void nurs_expo_finish(struct nurs_expo *w);

/* A float as both formats write it: shortest form that reads back the
 * same, "+Inf", "-Inf", "NaN". buf holds at least 32 bytes. */
void nurs_expo_format_double(char *buf, size_t len, double v);

/* The format a scraper's Accept header asks for: OpenMetrics when its
 * q-value is above 0 and at least that of any other type; and the
 * Content-Type of each. */
enum nurs_expo_format nurs_expo_negotiate(const char *accept);
const char *nurs_expo_content_type(enum nurs_expo_format f);

#endif
