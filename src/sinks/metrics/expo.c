#include "sinks/metrics/expo.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jsonw.h"

void nurs_expo_init(struct nurs_expo *w, enum nurs_expo_format f, size_t limit)
{
    memset(w, 0, sizeof *w);
    w->format = f;
    w->limit = limit;
}

void nurs_expo_free(struct nurs_expo *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

static bool reserve(struct nurs_expo *w, size_t more)
{
    if (w->failed)
        return false;
    if (w->len + more > w->limit) {
        w->failed = true;
        return false;
    }
    /* One more byte: the text stays NUL-terminated. */
    if (w->len + more < w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap <= w->len + more)
        cap *= 2;
    char *p = realloc(w->buf, cap);
    if (!p) {
        w->failed = true;
        return false;
    }
    w->buf = p;
    w->cap = cap;
    return true;
}

static void put(struct nurs_expo *w, const char *s, size_t n)
{
    if (reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = '\0';
    }
}

static void puts_(struct nurs_expo *w, const char *s) { put(w, s, strlen(s)); }

/* Escapes backslash and newline, and the double quote when `quote`;
 * bytes that are not valid UTF-8 become U+FFFD, as a scraper must be
 * given UTF-8. */
static void put_escaped(struct nurs_expo *w, const char *s, bool quote)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    size_t left = strlen(s);
    while (left > 0) {
        const char *esc = NULL;
        size_t n = 1;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p == '"' && quote)
            esc = "\\\"";
        else if (*p >= 0x80 && (n = nurs_jsonw_utf8_len(p, left)) == 0)
            esc = "\xef\xbf\xbd";
        if (esc) {
            put(w, (const char *)run, (size_t)(p - run));
            puts_(w, esc);
            n = n ? n : 1;
            run = p + n;
        }
        p += n;
        left -= n;
    }
    put(w, (const char *)run, (size_t)(p - run));
}

void nurs_expo_format_double(char *buf, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    } else if (v == trunc(v) && fabs(v) < 1e15) {
        snprintf(buf, len, "%.0f", v);
        if (strcmp(buf, "-0") == 0)
            snprintf(buf, len, "0");
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
}

static const char *type_name(enum nurs_metric_type t)
{
    switch (t) {
    case NURS_METRIC_COUNTER:
        return "counter";
    case NURS_METRIC_GAUGE:
        return "gauge";
    case NURS_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* What HELP and TYPE name: the text format names a family by its
 * samples (foo_total), OpenMetrics by its base name (foo). */
static void put_family_name(struct nurs_expo *w)
{
    puts_(w, w->family);
    if (w->format == NURS_EXPO_TEXT && w->type == NURS_METRIC_COUNTER)
        puts_(w, "_total");
}

void nurs_expo_family(struct nurs_expo *w, const char *name, enum nurs_metric_type type,
                      const char *help)
{
    snprintf(w->family, sizeof w->family, "%s", name);
    w->type = type;
    puts_(w, "# HELP ");
    put_family_name(w);
    puts_(w, " ");
    put_escaped(w, help ? help : "", w->format == NURS_EXPO_OPENMETRICS);
    puts_(w, "\n# TYPE ");
    put_family_name(w);
    puts_(w, " ");
    puts_(w, type_name(type));
    puts_(w, "\n");
}

/* name{labels[,extra]} with the family's name and the sample's suffix. */
static void put_series(struct nurs_expo *w, const char *suffix, const struct nurs_label *labels,
                       int n, const struct nurs_label *extra)
{
    puts_(w, w->family);
    puts_(w, suffix);
    bool first = true;
    for (int i = 0; i <= n; i++) {
        const struct nurs_label *l = i < n ? &labels[i] : extra;
        if (!l || !l->value)
            continue;
        puts_(w, first ? "{" : ",");
        first = false;
        puts_(w, l->name);
        puts_(w, "=\"");
        put_escaped(w, l->value, true);
        puts_(w, "\"");
    }
    if (!first)
        puts_(w, "}");
    puts_(w, " ");
}

static const char *sample_suffix(enum nurs_metric_type t)
{
    return t == NURS_METRIC_COUNTER ? "_total" : "";
}

void nurs_expo_double(struct nurs_expo *w, const struct nurs_label *labels, int n, double v)
{
    char num[32];
    nurs_expo_format_double(num, sizeof num, v);
    put_series(w, sample_suffix(w->type), labels, n, NULL);
    puts_(w, num);
    puts_(w, "\n");
}

void nurs_expo_uint(struct nurs_expo *w, const struct nurs_label *labels, int n, uint64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, v);
    put_series(w, sample_suffix(w->type), labels, n, NULL);
    puts_(w, num);
    puts_(w, "\n");
}

void nurs_expo_histogram(struct nurs_expo *w, const struct nurs_label *labels, int n,
                         const double *bounds, const uint64_t *counts, int n_bounds, double sum)
{
    uint64_t cumulative = 0;
    char le[32], num[32];
    for (int i = 0; i <= n_bounds; i++) {
        cumulative += counts[i];
        if (i < n_bounds)
            nurs_expo_format_double(le, sizeof le, bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        put_series(w, "_bucket", labels, n, &(struct nurs_label){"le", le});
        snprintf(num, sizeof num, "%" PRIu64 "\n", cumulative);
        puts_(w, num);
    }
    nurs_expo_format_double(num, sizeof num, sum);
    put_series(w, "_sum", labels, n, NULL);
    puts_(w, num);
    puts_(w, "\n");
    snprintf(num, sizeof num, "%" PRIu64 "\n", cumulative);
    put_series(w, "_count", labels, n, NULL);
    puts_(w, num);
}

void nurs_expo_finish(struct nurs_expo *w)
{
    if (w->format == NURS_EXPO_OPENMETRICS)
        puts_(w, "# EOF\n");
}

/* The q-value of one media range's parameters (";q=0.5;version=..."). */
static double q_value(const char *params, size_t len)
{
    const char *p = params, *end = params + len;
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (end - p > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char num[16];
            size_t n = 0;
            for (p += 2; p < end && n + 1 < sizeof num && *p != ';'; p++)
                num[n++] = *p;
            num[n] = '\0';
            char *stop;
            double q = strtod(num, &stop);
            return stop == num || !(q >= 0) ? 0 : q > 1 ? 1 : q;
        }
        while (p < end && *p != ';')
            p++;
    }
    return 1;
}

enum nurs_expo_format nurs_expo_negotiate(const char *accept)
{
    static const char om[] = "application/openmetrics-text";
    double best_om = 0, best_text = 0;
    const char *p = accept ? accept : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *t = p;
        while (t < p + len && isspace((unsigned char)*t))
            t++;
        size_t tlen = strcspn(t, ";,");
        while (tlen > 0 && isspace((unsigned char)t[tlen - 1]))
            tlen--;
        double q = q_value(t + tlen, len - (size_t)(t - p) - tlen);
        if (tlen == sizeof om - 1 && strncasecmp(t, om, tlen) == 0) {
            if (q > best_om)
                best_om = q;
        } else if (q > best_text) {
            /* text/plain, any type, anything else: the text format is what we
             * give whoever asks for something we do not have. */
            best_text = q;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return best_om > 0 && best_om >= best_text ? NURS_EXPO_OPENMETRICS : NURS_EXPO_TEXT;
}

const char *nurs_expo_content_type(enum nurs_expo_format f)
{
    return f == NURS_EXPO_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                      : "text/plain; version=0.0.4; charset=utf-8";
}
