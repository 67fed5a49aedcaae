#include "sinks/metrics/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10};

/* The daemon's own families live under these. */
static const char *const reserved_prefixes[] = {"nurs_", "process_", NULL};

static bool name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

bool nurs_metric_name_valid(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!name_char(*p, p == name, true))
            return false;
    return true;
}

bool nurs_label_name_valid(const char *name)
{
    if (!*name || strncmp(name, "__", 2) == 0)
        return false;
    for (const char *p = name; *p; p++)
        if (!name_char(*p, p == name, false))
            return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

void nurs_mregistry_init(struct nurs_mregistry *reg) { memset(reg, 0, sizeof *reg); }

/* ---- families ---- */

static void free_series(struct nurs_mseries *s)
{
    for (int i = 0; i < NURS_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static void free_family(struct nurs_mfamily *f)
{
    free(f->name);
    free(f->help);
    for (int i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->table);
    free(f);
}

/* Unlinked: its series go now, the struct with its last handle. */
static void kill_family(struct nurs_mfamily *f)
{
    for (struct nurs_mseries *s = f->first, *next; s; s = next) {
        next = s->next;
        free_series(s);
    }
    f->first = NULL;
    f->tail = &f->first;
    f->n_series = 0;
    f->dead = true;
    if (f->refs == 0)
        free_family(f);
}

void nurs_mfamily_unref(struct nurs_mfamily *f)
{
    if (--f->refs == 0 && f->dead)
        free_family(f);
}

/* The sample names a family writes, and its base name: two families
 * that share one would make an exposition scrapers refuse. */
static int sample_names(const char *base, enum nurs_metric_type t, char out[4][300])
{
    int n = 0;
    snprintf(out[n++], sizeof out[0], "%s", base);
    if (t == NURS_METRIC_COUNTER) {
        snprintf(out[n++], sizeof out[0], "%s_total", base);
    } else if (t == NURS_METRIC_HISTOGRAM) {
        snprintf(out[n++], sizeof out[0], "%s_bucket", base);
        snprintf(out[n++], sizeof out[0], "%s_sum", base);
        snprintf(out[n++], sizeof out[0], "%s_count", base);
    }
    return n;
}

static bool collide(const char *base, enum nurs_metric_type t, const struct nurs_mfamily *f)
{
    char a[4][300], b[4][300];
    int na = sample_names(base, t, a), nb = sample_names(f->name, f->type, b);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (strcmp(a[i], b[j]) == 0)
                return true;
    return false;
}

static bool same_definition(const struct nurs_mfamily *f, const char *base,
                            const struct nurs_mspec *s, const double *bounds, int n_bounds)
{
    if (strcmp(f->name, base) != 0 || f->type != s->type || f->n_labels != s->n_labels ||
        f->n_bounds != n_bounds)
        return false;
    for (int i = 0; i < s->n_labels; i++)
        if (strcmp(f->labels[i], s->labels[i]) != 0)
            return false;
    for (int i = 0; i < n_bounds; i++)
        if (f->bounds[i] != bounds[i])
            return false;
    return true;
}

static int check_spec(const struct nurs_mspec *s, char *base, size_t baselen, double *bounds,
                      int *n_bounds, char *err, size_t errlen)
{
    if (!nurs_metric_name_valid(s->name)) {
        snprintf(err, errlen,
                 "invalid metric name '%s' (letters, digits, '_' and ':', not starting with a "
                 "digit)",
                 s->name);
        return -1;
    }
    for (const char *const *p = reserved_prefixes; *p; p++) {
        if (strncmp(s->name, *p, strlen(*p)) == 0) {
            snprintf(err, errlen, "metric name '%s': the prefix '%s' is reserved for nurs-lua's own",
                     s->name, *p);
            return -1;
        }
    }
    if (strlen(s->name) >= baselen - 16) {
        snprintf(err, errlen, "metric name '%.40s...' is too long (at most %zu bytes)", s->name,
                 baselen - 17);
        return -1;
    }
    snprintf(base, baselen, "%s", s->name);
    if (s->type == NURS_METRIC_COUNTER && ends_with(base, "_total"))
        base[strlen(base) - strlen("_total")] = '\0';
    static const char *const suffixes[] = {"_total", "_created", "_bucket", "_count", "_sum",
                                           "_info", NULL};
    for (const char *const *p = suffixes; *p; p++) {
        if (ends_with(base, *p) || !*base) {
            snprintf(err, errlen,
                     "metric name '%s' ends in '%s', which scrapers read as part of another "
                     "metric%s",
                     s->name, *p, s->type != NURS_METRIC_COUNTER && strcmp(*p, "_total") == 0
                                      ? " (only counters end in _total)"
                                      : "");
            return -1;
        }
    }
    if (s->n_labels < 0 || s->n_labels > NURS_METRICS_MAX_LABELS) {
        snprintf(err, errlen, "%s: at most %d labels", s->name, NURS_METRICS_MAX_LABELS);
        return -1;
    }
    for (int i = 0; i < s->n_labels; i++) {
        if (!nurs_label_name_valid(s->labels[i])) {
            snprintf(err, errlen,
                     "%s: invalid label name '%s' (letters, digits and '_', not starting with a "
                     "digit or '__')",
                     s->name, s->labels[i]);
            return -1;
        }
        if (s->type == NURS_METRIC_HISTOGRAM && strcmp(s->labels[i], "le") == 0) {
            snprintf(err, errlen, "%s: the label 'le' is the histogram's own", s->name);
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(s->labels[i], s->labels[j]) == 0) {
                snprintf(err, errlen, "%s: label '%s' given twice", s->name, s->labels[i]);
                return -1;
            }
        }
    }
    *n_bounds = 0;
    if (s->type != NURS_METRIC_HISTOGRAM)
        return 0;
    const double *b = s->buckets ? s->buckets : default_buckets;
    int n = s->buckets ? s->n_buckets : (int)(sizeof default_buckets / sizeof *default_buckets);
    /* A last bucket of +Inf is the one every histogram has anyway. */
    if (n > 0 && isinf(b[n - 1]) && b[n - 1] > 0)
        n--;
    if (n < 1 || n > NURS_METRICS_MAX_BUCKETS) {
        snprintf(err, errlen, "%s: between 1 and %d buckets", s->name, NURS_METRICS_MAX_BUCKETS);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1])) {
            snprintf(err, errlen, "%s: buckets must be finite numbers in increasing order",
                     s->name);
            return -1;
        }
        bounds[i] = b[i];
    }
    *n_bounds = n;
    return 0;
}

static bool visible(const struct nurs_mfamily *f, bool loading)
{
    return loading ? f->next_def : f->current;
}

struct nurs_mfamily *nurs_mregistry_define(struct nurs_mregistry *reg, const struct nurs_mspec *s,
                                           bool loading, char *err, size_t errlen)
{
    char base[256];
    double bounds[NURS_METRICS_MAX_BUCKETS];
    int n_bounds;
    if (check_spec(s, base, sizeof base, bounds, &n_bounds, err, errlen) < 0)
        return NULL;
    /* The same definition again (a reload's, or twice in one script):
     * the same family, values kept. */
    for (struct nurs_mfamily *f = reg->families; f; f = f->next) {
        if ((f->current || f->next_def) && same_definition(f, base, s, bounds, n_bounds) &&
            (f->current || loading)) {
            if (loading)
                f->next_def = true;
            if (s->help)
                free(f->help), f->help = strdup(s->help);
            f->refs++;
            return f;
        }
    }
    for (struct nurs_mfamily *f = reg->families; f; f = f->next) {
        if (visible(f, loading) && collide(base, s->type, f)) {
            snprintf(err, errlen, "metric '%s' clashes with '%s', defined %s", s->name, f->name,
                     strcmp(f->name, base) == 0 ? "differently before" : "before");
            return NULL;
        }
    }
    if (reg->n_families >= NURS_METRICS_MAX_FAMILIES) {
        snprintf(err, errlen, "at most %d metrics", NURS_METRICS_MAX_FAMILIES);
        return NULL;
    }
    struct nurs_mfamily *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(base)) || !(f->help = strdup(s->help ? s->help : ""))) {
        if (f)
            free_family(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->type = s->type;
    for (int i = 0; i < s->n_labels; i++) {
        if (!(f->labels[i] = strdup(s->labels[i]))) {
            free_family(f);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        f->n_labels = i + 1;
    }
    memcpy(f->bounds, bounds, sizeof(double) * (size_t)n_bounds);
    f->n_bounds = n_bounds;
    f->max_series = s->max_series ? s->max_series : NURS_METRICS_DEFAULT_MAX_SERIES;
    f->tail = &f->first;
    f->current = !loading;
    f->next_def = loading;
    f->refs = 1;
    struct nurs_mfamily **end = &reg->families;
    while (*end)
        end = &(*end)->next;
    *end = f;
    reg->n_families++;
    return f;
}

static void remove_where(struct nurs_mregistry *reg, bool (*doomed)(const struct nurs_mfamily *))
{
    for (struct nurs_mfamily **p = &reg->families; *p;) {
        struct nurs_mfamily *f = *p;
        if (doomed(f)) {
            *p = f->next;
            reg->n_families--;
            kill_family(f);
        } else {
            p = &f->next;
        }
    }
}

static bool not_next(const struct nurs_mfamily *f) { return !f->next_def; }
static bool not_current(const struct nurs_mfamily *f) { return !f->current; }
static bool any(const struct nurs_mfamily *f) { return f != NULL; }

void nurs_mregistry_commit(struct nurs_mregistry *reg, bool adopted)
{
    remove_where(reg, adopted ? not_next : not_current);
    for (struct nurs_mfamily *f = reg->families; f; f = f->next) {
        f->current = true;
        f->next_def = false;
    }
}

void nurs_mregistry_clear(struct nurs_mregistry *reg) { remove_where(reg, any); }

/* ---- series ---- */

static uint64_t hash_values(int n, const char *const *values, const size_t *lens)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < lens[i]; j++)
            h = (h ^ (unsigned char)values[i][j]) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* no byte of a value: ("a","b") != ("ab","") */
    }
    return h;
}

static bool grow_table(struct nurs_mfamily *f)
{
    size_t slots = f->n_slots ? f->n_slots * 2 : 16;
    struct nurs_mseries **t = calloc(slots, sizeof *t);
    if (!t)
        return false;
    for (struct nurs_mseries *s = f->first; s; s = s->next) {
        size_t i = s->hash & (slots - 1);
        s->next_bucket = t[i];
        t[i] = s;
    }
    free(f->table);
    f->table = t;
    f->n_slots = slots;
    return true;
}

static bool same_values(const struct nurs_mfamily *f, const struct nurs_mseries *s,
                        const char *const *values, const size_t *lens)
{
    for (int i = 0; i < f->n_labels; i++)
        if (strlen(s->values[i]) != lens[i] || memcmp(s->values[i], values[i], lens[i]) != 0)
            return false;
    return true;
}

static struct nurs_mseries *lookup(const struct nurs_mfamily *f, uint64_t h,
                                   const char *const *values, const size_t *lens)
{
    if (!f->n_slots)
        return NULL;
    for (struct nurs_mseries *s = f->table[h & (f->n_slots - 1)]; s; s = s->next_bucket)
        if (s->hash == h && same_values(f, s, values, lens))
            return s;
    return NULL;
}

struct nurs_mseries *nurs_mfamily_find(const struct nurs_mfamily *f, const char *const *values,
                                       const size_t *lens)
{
    return lookup(f, hash_values(f->n_labels, values, lens), values, lens);
}

struct nurs_mseries *nurs_mfamily_series(struct nurs_mfamily *f, const char *const *values,
                                         const size_t *lens)
{
    uint64_t h = hash_values(f->n_labels, values, lens);
    struct nurs_mseries *found = lookup(f, h, values, lens);
    if (found)
        return found;
    if (f->n_series >= f->max_series || f->dead) {
        f->refused++;
        return NULL;
    }
    for (int i = 0; i < f->n_labels; i++) {
        if (lens[i] > NURS_METRICS_MAX_VALUE_LEN || memchr(values[i], 0, lens[i])) {
            f->refused++;
            return NULL;
        }
    }
    if (f->n_series + 1 > f->n_slots / 4 * 3 && !grow_table(f))
        return NULL;
    struct nurs_mseries *s = calloc(1, sizeof *s);
    bool ok = s != NULL;
    for (int i = 0; ok && i < f->n_labels; i++)
        ok = (s->values[i] = strndup(values[i], lens[i])) != NULL;
    if (ok && f->type == NURS_METRIC_HISTOGRAM)
        ok = (s->buckets = calloc((size_t)f->n_bounds + 1, sizeof *s->buckets)) != NULL;
    if (!ok) {
        if (s)
            free_series(s);
        return NULL;
    }
    s->hash = h;
    size_t i = h & (f->n_slots - 1);
    s->next_bucket = f->table[i];
    f->table[i] = s;
    *f->tail = s;
    f->tail = &s->next;
    f->n_series++;
    return s;
}

void nurs_mseries_observe(const struct nurs_mfamily *f, struct nurs_mseries *s, double v)
{
    /* The first bucket whose bound is at least v; NaN lands in +Inf. */
    int lo = 0, hi = f->n_bounds;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    s->buckets[lo]++;
    s->value += v;
}

/* ---- exposition ---- */

void nurs_mregistry_write(const struct nurs_mregistry *reg, struct nurs_expo *w)
{
    for (const struct nurs_mfamily *f = reg->families; f; f = f->next) {
        if (!f->current)
            continue;
        nurs_expo_family(w, f->name, f->type, f->help);
        for (const struct nurs_mseries *s = f->first; s; s = s->next) {
            struct nurs_label labels[NURS_METRICS_MAX_LABELS];
            for (int i = 0; i < f->n_labels; i++)
                labels[i] = (struct nurs_label){f->labels[i], s->values[i]};
            if (f->type == NURS_METRIC_HISTOGRAM)
                nurs_expo_histogram(w, labels, f->n_labels, f->bounds, s->buckets, f->n_bounds,
                                    s->value);
            else
                nurs_expo_double(w, labels, f->n_labels, s->value);
        }
    }
}

void nurs_mregistry_write_refused(const struct nurs_mregistry *reg, struct nurs_expo *w)
{
    bool first = true;
    for (const struct nurs_mfamily *f = reg->families; f; f = f->next) {
        if (!f->current)
            continue;
        if (first)
            nurs_expo_family(w, "nurs_metric_series_refused", NURS_METRIC_COUNTER,
                             "New label sets of a script's metric refused: past its max_series, "
                             "or a label value too long.");
        first = false;
        nurs_expo_uint(w, &(struct nurs_label){"metric", f->name}, 1, f->refused);
    }
}
