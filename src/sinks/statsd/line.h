/* The statsd wire text, with no I/O: one line per value,
 * "<name>:<value>|<type>" with tags in one of the usual dialects, and
 * lines batched newline-separated into datagrams of at most max bytes.
 * Names and tag keys are checked (statsd-safe characters, bounded
 * length); text from elsewhere (resource names, label values) is made
 * safe by replacing what is not. */
#ifndef NURS_SINKS_STATSD_LINE_H
#define NURS_SINKS_STATSD_LINE_H

#include <stdbool.h>
#include <stddef.h>

/* How tags are written. */
enum nurs_statsd_tags {
    NURS_STATSD_TAGS_NONE,      /* plain statsd: tag values become name parts, "a.b.v1.v2" */
    NURS_STATSD_TAGS_DOGSTATSD, /* "a.b:1|c|#k:v,k2:v2" (Datadog, Telegraf, Vector) */
    NURS_STATSD_TAGS_GRAPHITE,  /* "a.b;k=v;k2=v2:1|c" (statsd 0.9+, Graphite 1.1 tags) */
    NURS_STATSD_TAGS_INFLUX,    /* "a.b,k=v,k2=v2:1|c" (Telegraf's influx style) */
};

/* Returns the style named `name` ("none", "dogstatsd", "graphite",
 * "influx"), or -1. */
int nurs_statsd_tags_parse(const char *name);

#define NURS_STATSD_MAX_NAME 200 /* a metric name, the prefix included */
#define NURS_STATSD_MAX_TAGS 8
#define NURS_STATSD_MAX_TAG 64 /* a tag's key, or its value */
#define NURS_STATSD_MAX_LINE 1500

struct nurs_statsd_tag {
    const char *key, *value;
};

/* A name or a tag key: [A-Za-z0-9_.-], not empty, at most max bytes.
 * Names may not start or end with '.' nor hold "..". */
bool nurs_statsd_name_ok(const char *s, size_t max);
/* Copies s into out (at most len - 1 bytes), every character that is
 * not [A-Za-z0-9_.-/@] replaced by '_'. */
void nurs_statsd_safe(char *out, size_t len, const char *s);

/* Writes one line without its newline: prefix, name, tags (as they are:
 * checked or made safe by the caller), value (text) and type ("c", "g",
 * "ms", "s"). Returns its length, or 0 when it needs more than cap - 1
 * bytes. */
size_t nurs_statsd_line(char *out, size_t cap, enum nurs_statsd_tags style, const char *prefix,
                        const char *name, const struct nurs_statsd_tag *tags, int n_tags,
                        const char *value, const char *type);

/* A datagram being filled: lines joined by '\n', at most max bytes. */
struct nurs_statsd_batch {
    char buf[65536];
    size_t len, max;
    unsigned lines;
};

enum nurs_statsd_add {
    NURS_STATSD_ADDED,
    NURS_STATSD_FULL,     /* send the batch, empty it, add again */
    NURS_STATSD_TOO_LONG, /* longer than max on its own: never fits */
};

/* Adds text (one line, or lines that must stay in one datagram, joined
 * by '\n') as one entry of `lines` lines. */
enum nurs_statsd_add nurs_statsd_batch_add(struct nurs_statsd_batch *b, const char *text,
                                           size_t len, unsigned lines);
static inline void nurs_statsd_batch_clear(struct nurs_statsd_batch *b)
{
    b->len = 0;
    b->lines = 0;
}

#endif
