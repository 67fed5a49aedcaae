#include "sinks/statsd/line.h"

#include <string.h>

int nurs_statsd_tags_parse(const char *name)
{
    static const char *const names[] = {
        [NURS_STATSD_TAGS_NONE] = "none",
        [NURS_STATSD_TAGS_DOGSTATSD] = "dogstatsd",
        [NURS_STATSD_TAGS_GRAPHITE] = "graphite",
        [NURS_STATSD_TAGS_INFLUX] = "influx",
    };
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

bool nurs_statsd_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

void nurs_statsd_safe(char *out, size_t len, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        out[i] = name_char(s[i]) || s[i] == '/' || s[i] == '@' ? s[i] : '_';
    if (len)
        out[i] = '\0';
}

/* A bounded writer: `failed` once something did not fit. */
struct w {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct w *w, const char *s)
{
    size_t n = strlen(s);
    if (w->failed || w->len + n >= w->cap) {
        w->failed = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void put_tags(struct w *w, const struct nurs_statsd_tag *t, int n, const char *first,
                     const char *sep, const char *eq)
{
    for (int i = 0; i < n; i++) {
        put(w, i == 0 ? first : sep);
        put(w, t[i].key);
        put(w, eq);
        put(w, t[i].value);
    }
}

size_t nurs_statsd_line(char *out, size_t cap, enum nurs_statsd_tags style, const char *prefix,
                        const char *name, const struct nurs_statsd_tag *tags, int n_tags,
                        const char *value, const char *type)
{
    struct w w = {out, 0, cap, cap == 0};
    put(&w, prefix ? prefix : "");
    put(&w, name);
    switch (style) {
    case NURS_STATSD_TAGS_NONE:
        for (int i = 0; i < n_tags; i++) {
            put(&w, ".");
            put(&w, tags[i].value);
        }
        break;
    case NURS_STATSD_TAGS_GRAPHITE:
        put_tags(&w, tags, n_tags, ";", ";", "=");
        break;
    case NURS_STATSD_TAGS_INFLUX:
        put_tags(&w, tags, n_tags, ",", ",", "=");
        break;
    case NURS_STATSD_TAGS_DOGSTATSD:
        break;
    }
    put(&w, ":");
    put(&w, value);
    put(&w, "|");
    put(&w, type);
    if (style == NURS_STATSD_TAGS_DOGSTATSD)
        put_tags(&w, tags, n_tags, "|#", ",", ":");
    if (w.failed)
        return 0;
    out[w.len] = '\0';
    return w.len;
}

enum nurs_statsd_add nurs_statsd_batch_add(struct nurs_statsd_batch *b, const char *text,
                                           size_t len, unsigned lines)
{
    size_t max = b->max < sizeof b->buf ? b->max : sizeof b->buf;
    if (len > max)
        return NURS_STATSD_TOO_LONG;
    size_t need = len + (b->len ? 1 : 0);
    if (b->len + need > max)
        return NURS_STATSD_FULL;
    if (b->len)
        b->buf[b->len++] = '\n';
    memcpy(b->buf + b->len, text, len);
    b->len += len;
    b->lines += lines;
    return NURS_STATSD_ADDED;
}
