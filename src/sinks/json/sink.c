#include "sinks/json/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "core/host.h"
#include "core/schema.h"
#include "records/ct_fields.h"
#include "records/exp_record.h"
#include "records/record.h"

/* What a reloaded script may change on a kept sink. */
struct json_settings {
    double flush_interval;
    size_t buffer_size;
    bool schema_version; /* "schema_version" first in each record */
};

struct nurs_json_sink {
    struct nurs_resource res; /* first: the resource is the sink */
    struct json_settings cur, next;
    char *path;               /* NULL: stdout */
    int fd;
    struct nurs_jsonw w;
    size_t mark;           /* where the record being written started */
    uint64_t lines_waiting; /* records in w not yet written out */
    uv_timer_t timer;
    struct nurs_ratelimit write_rl;
};

static void emit_begin(void *ctx, const char *key) { nurs_jsonw_object_begin(ctx, key); }
static void emit_end(void *ctx) { nurs_jsonw_object_end(ctx); }
static void emit_abegin(void *ctx, const char *key) { nurs_jsonw_array_begin(ctx, key); }
static void emit_aend(void *ctx) { nurs_jsonw_array_end(ctx); }
static void emit_int(void *ctx, const char *key, long long v) { nurs_jsonw_int(ctx, key, v); }
static void emit_str(void *ctx, const char *key, const char *s, size_t len)
{
    nurs_jsonw_string(ctx, key, s, len);
}

static void emit_bool(void *ctx, const char *key, bool v) { nurs_jsonw_bool(ctx, key, v); }

const struct nurs_emit nurs_jsonw_emitter = {
    .object_begin = emit_begin,
    .object_end = emit_end,
    .array_begin = emit_abegin,
    .array_end = emit_aend,
    .integer = emit_int,
    .string = emit_str,
    .boolean = emit_bool,
};

struct nurs_resource *nurs_json_sink_resource(struct nurs_json_sink *j) { return &j->res; }

struct nurs_json_sink *nurs_json_sink_of(struct nurs_resource *r)
{
    return (struct nurs_json_sink *)r;
}

/* Writes everything; waits (bounded) for a non-blocking stdout to drain. */
static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, 1000) > 0)
                continue;
            errno = EAGAIN;
        }
        return -1;
    }
    return 0;
}

int nurs_json_sink_flush(struct nurs_json_sink *j)
{
    if (j->w.len == 0)
        return 0;
    int rc = 0;
    if (j->fd < 0 || write_all(j->fd, j->w.buf, j->w.len) < 0) {
        int err = j->fd < 0 ? EBADF : errno;
        j->res.counters.errors++;
        j->res.counters.dropped += j->lines_waiting;
        long long suppressed = nurs_ratelimit_check(&j->write_rl);
        if (suppressed >= 0)
            nurs_err("%s: write to %s failed: %s; %llu records lost", j->res.name,
                     j->path ? j->path : "stdout", strerror(err),
                     (unsigned long long)j->lines_waiting);
        rc = -1;
    } else {
        j->res.counters.delivered += j->lines_waiting;
    }
    j->lines_waiting = 0;
    nurs_jsonw_clear(&j->w);
    return rc;
}

struct nurs_jsonw *nurs_json_sink_begin(struct nurs_json_sink *j)
{
    j->res.counters.in++;
    j->mark = j->w.len;
    return &j->w;
}

void nurs_json_sink_end(struct nurs_json_sink *j, int ok)
{
    if (!ok || j->w.failed) {
        j->w.len = j->mark;
        j->w.depth = 0;
        j->w.failed = 0;
        j->res.counters.dropped++;
    } else {
        nurs_jsonw_raw_char(&j->w, '\n');
        j->lines_waiting++;
    }
    /* Lines are separate top-level values, not elements of one list. */
    j->w.first[0] = 1;
    if (j->w.len >= j->cur.buffer_size)
        nurs_json_sink_flush(j);
}

void nurs_json_record_begin(struct nurs_jsonw *w, bool schema_version)
{
    nurs_jsonw_object_begin(w, NULL);
    if (schema_version)
        nurs_jsonw_int(w, "schema_version", NURS_SCHEMA_VERSION);
}

void nurs_json_write_ct(struct nurs_jsonw *w, struct nurs_ct_msg *m, bool schema_version)
{
    nurs_json_record_begin(w, schema_version);
    nurs_ct_emit_record(m, &nurs_jsonw_emitter, w);
    nurs_jsonw_object_end(w);
}

bool nurs_json_sink_schema_version(const struct nurs_json_sink *j)
{
    return j->cur.schema_version;
}

void nurs_json_sink_write_ct(struct nurs_json_sink *j, struct nurs_ct_msg *m)
{
    nurs_json_write_ct(nurs_json_sink_begin(j), m, j->cur.schema_version);
    nurs_json_sink_end(j, 1);
}

static int open_path(struct nurs_json_sink *j, char *err, size_t errlen)
{
    if (!j->path) {
        j->fd = STDOUT_FILENO;
        return 0;
    }
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (j->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", j->path, strerror(errno));
        return -1;
    }
    return 0;
}

static void reopen(struct nurs_resource *r)
{
    struct nurs_json_sink *j = (struct nurs_json_sink *)r;
    nurs_json_sink_flush(j);
    if (!j->path || r->host->check_only)
        return;
    if (j->fd >= 0)
        close(j->fd);
    char err[512];
    if (open_path(j, err, sizeof err) < 0)
        nurs_err("%s: %s", r->name, err);
}

static void flush_op(struct nurs_resource *r) { nurs_json_sink_flush((struct nurs_json_sink *)r); }

static void on_timer(uv_timer_t *t) { nurs_json_sink_flush(t->data); }

static void free_sink(uv_handle_t *h)
{
    struct nurs_json_sink *j = h->data;
    nurs_jsonw_free(&j->w);
    free(j->path);
    free(j);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_json_sink *j = (struct nurs_json_sink *)r;
    nurs_json_sink_flush(j);
    if (j->path && j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    uv_close((uv_handle_t *)&j->timer, free_sink);
}

/* The sink as a conntrack source's consumer: out:write(rec). */
static enum nurs_take take(struct nurs_consumer *c, struct nurs_resource *from,
                           struct nurs_record *rec)
{
    (void)from;
    struct nurs_json_sink *j = nurs_json_sink_of(nurs_resource_of_consumer(c));
    if (rec->kind == NURS_RECORD_EXP) {
        struct nurs_jsonw *w = nurs_json_sink_begin(j);
        nurs_jsonw_object_begin(w, NULL);
        nurs_record_emit(&nurs_exp_class, rec->data, &nurs_jsonw_emitter, w);
        nurs_jsonw_object_end(w);
        nurs_json_sink_end(j, 1);
        return NURS_TAKEN;
    }
    if (rec->kind != NURS_RECORD_CT)
        return NURS_TAKE_LOST;
    nurs_json_sink_write_ct(j, rec->data);
    return NURS_TAKEN;
}

static const struct nurs_consumer_ops consumer_ops = {
    .kinds = NURS_RECORD_CT | NURS_RECORD_EXP,
    .take = take,
};

static void configure(struct nurs_json_sink *j)
{
    uint64_t ms = (uint64_t)llround(j->cur.flush_interval * 1000.0);
    if (ms == 0)
        ms = 1;
    if (!j->res.host->check_only)
        uv_timer_start(&j->timer, on_timer, ms, ms);
}

static void adopted(struct nurs_resource *r) { configure((struct nurs_json_sink *)r); }

static const struct nurs_resource_ops json_ops = {
    .kind = "json",
    .destroy = destroy,
    .flush = flush_op,
    .reopen = reopen,
    NURS_SETTINGS_IN(struct nurs_json_sink),
    .adopted = adopted,
    .consumer = &consumer_ops,
};

struct nurs_json_sink *nurs_json_sink_get(struct nurs_script *s, const struct nurs_json_opts *o,
                                          char *err, size_t errlen)
{
    const char *path = o->path && strcmp(o->path, "-") != 0 ? o->path : NULL;
    char key[4200];
    snprintf(key, sizeof key, "path=%s", path ? path : "-");
    const struct json_settings set = {
        .flush_interval = o->flush_interval,
        .buffer_size = o->buffer_size ? o->buffer_size : NURS_JSON_DEFAULT_BUFFER,
        .schema_version = o->schema_version,
    };
    struct nurs_resource *r = nurs_resource_claim(s, &json_ops, key, &set);
    if (r)
        return (struct nurs_json_sink *)r;

    struct nurs_json_sink *j = calloc(1, sizeof *j);
    if (!j || (path && !(j->path = strdup(path)))) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    nurs_jsonw_init(&j->w);
    j->fd = -1;
    j->write_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    if (!s->host->check_only && open_path(j, err, errlen) < 0) {
        nurs_jsonw_free(&j->w);
        free(j->path);
        free(j);
        return NULL;
    }
    uv_timer_init(s->host->loop, &j->timer);
    j->timer.data = j;
    /* A flush timer alone must not keep the daemon running. */
    uv_unref((uv_handle_t *)&j->timer);
    if (nurs_resource_init(&j->res, &json_ops, s, o->name ? o->name : "json", key, &set) < 0) {
        snprintf(err, errlen, "out of memory");
        destroy(&j->res);
        return NULL;
    }
    configure(j);
    return j;
}
