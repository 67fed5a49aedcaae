#include "sinks/json/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "core/host.h"
#include "core/outfile.h"
#include "core/stream.h"
#include "core/schema.h"
#include "records/ct_fields.h"
#include "records/exp_record.h"
#include "records/record.h"

/* What a reloaded script may change on a kept sink. */
struct json_settings {
    double flush_interval;
    size_t buffer_size;
    size_t reader_buffer;
    struct nurs_file_opts file;
    bool schema_version; /* "schema_version" first in each record */
};

struct nurs_json_sink {
    struct nurs_resource res; /* first: the resource is the sink */
    struct json_settings cur, next;
    char *path;                  /* NULL: stdout */
    struct nurs_outfile file;    /* a file, or stdout redirected to one */
    bool has_file;
    struct nurs_stream *stream;  /* a FIFO, or stdout as a pipe or socket */
    bool stopped;                /* stdout was closed: lines are dropped */
    struct nurs_jsonw w;
    size_t mark;           /* where the record being written started */
    uint64_t lines_waiting; /* records in w not yet written out */
    uint64_t file_lost;     /* records a failed file write lost */
    uint64_t rejected;      /* values that could not be written as JSON */
    uint64_t closed_lost;   /* records written after stdout was closed */
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

/* The common counters sum what each target lost. */
static void sync_counters(struct nurs_json_sink *j)
{
    uint64_t lost = j->file_lost + j->closed_lost;
    if (j->stream)
        lost += nurs_stream_stats(j->stream)->drops;
    j->res.counters.dropped = lost + j->rejected;
}

/* Lines go to a stream in slices of about 16 KiB that end with a line, so
 * that its writes (and a reader cut off at exit) end on whole lines. */
static void write_stream(struct nurs_json_sink *j)
{
    const char *p = j->w.buf, *end = p + j->w.len;
    while (p < end) {
        const char *cut = end - p > 16384 ? p + 16384 : end;
        if (cut < end) {
            const char *nl = memrchr(p, '\n', (size_t)(cut - p));
            cut = nl ? nl + 1 : (nl = memchr(cut, '\n', (size_t)(end - cut))) ? nl + 1 : end;
        }
        uint64_t lines = 0;
        for (const char *q = p; (q = memchr(q, '\n', (size_t)(cut - q))); q++)
            lines++;
        nurs_stream_write(j->stream, p, (size_t)(cut - p), lines);
        p = cut;
    }
}

int nurs_json_sink_flush(struct nurs_json_sink *j)
{
    int rc = 0;
    if (j->has_file)
        nurs_outfile_check(&j->file, j->res.name);
    if (j->w.len == 0)
        return 0;
    if (j->stopped) {
        j->closed_lost += j->lines_waiting;
    } else if (j->stream) {
        write_stream(j);
        j->res.counters.delivered += j->lines_waiting;
    } else if (j->has_file && nurs_outfile_write(&j->file, j->w.buf, j->w.len) == 0) {
        j->res.counters.delivered += j->lines_waiting;
    } else {
        /* A file is cut back to its last whole line: nothing torn. */
        int err = j->has_file ? j->file.last_errno : EBADF;
        j->res.counters.errors++;
        j->file_lost += j->lines_waiting;
        long long suppressed = nurs_ratelimit_check(&j->write_rl);
        if (suppressed >= 0)
            nurs_err("%s: write to %s failed: %s; %llu records lost (%llu so far), the file "
                     "ends with a whole line",
                     j->res.name, j->path ? j->path : "stdout", strerror(err),
                     (unsigned long long)j->lines_waiting, (unsigned long long)j->file_lost);
        rc = -1;
    }
    j->lines_waiting = 0;
    nurs_jsonw_clear(&j->w);
    sync_counters(j);
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
        j->rejected++;
        sync_counters(j);
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

/* Only sources besides it: nothing else comes out of the daemon. */
static bool only_output(const struct nurs_json_sink *j)
{
    static const char *const sources[] = {"conntrack", "nflog", "replay"};
    for (const struct nurs_resource *r = j->res.host->resources; r; r = r->next) {
        if (r == &j->res)
            continue;
        bool source = false;
        for (size_t i = 0; i < sizeof sources / sizeof *sources; i++)
            source |= strcmp(r->ops->kind, sources[i]) == 0;
        if (!source)
            return false;
    }
    return true;
}

/* The reader of stdout went away (`| head` is done): like grep, the
 * daemon ends when that was all it wrote; else only this sink stops. */
static void on_stdout_closed(void *ctx)
{
    struct nurs_json_sink *j = ctx;
    j->stopped = true;
    if (only_output(j)) {
        nurs_info("%s: standard output was closed; nothing else is written: exiting",
                  j->res.name);
        nurs_host_stop(j->res.host);
    } else {
        nurs_warn("%s: standard output was closed; this sink stops (its records are counted as "
                  "dropped), the rest goes on",
                  j->res.name);
    }
}

static int open_stream(struct nurs_json_sink *j, const char *target, char *err, size_t errlen)
{
    struct nurs_stream_opts so = {
        .target = target,
        .buffer = j->cur.reader_buffer,
        .max_readers = 1,
        .file = j->cur.file,
        .socket_gid = -1,
        .on_stdout_closed = on_stdout_closed,
        .ctx = j,
    };
    j->stream = nurs_stream_open(j->res.host->loop, j->res.name, &so, err, errlen);
    return j->stream ? 0 : -1;
}

/* stdout: a pipe or socket is a stream (never blocks), a file or a
 * terminal is written as a file. A path: a FIFO is a stream, else a file
 * opened safely. */
static int open_target(struct nurs_json_sink *j, char *err, size_t errlen)
{
    if (!j->path) {
        uv_handle_type t = uv_guess_handle(STDOUT_FILENO);
        if (t == UV_NAMED_PIPE || t == UV_TCP)
            return open_stream(j, "-", err, errlen);
        nurs_outfile_adopt(&j->file, STDOUT_FILENO);
        j->has_file = true;
        return 0;
    }
    if (nurs_stream_is_target(j->path, false))
        return open_stream(j, j->path, err, errlen);
    if (nurs_outfile_open(&j->file, j->path, NURS_OPEN_APPEND, false, &j->cur.file, NULL, 0, err,
                          errlen) < 0)
        return -1;
    j->has_file = true;
    return 0;
}

/* --check opens nothing, but says what would wait or be refused. */
static int check_target(struct nurs_json_sink *j, char *err, size_t errlen)
{
    char waits[512];
    if (!j->path)
        return 0;
    nurs_stream_check(j->path, waits, sizeof waits);
    if (*waits)
        nurs_warn("%s: %s", j->res.name, waits);
    return nurs_safe_check_existing(j->path, &j->cur.file, err, errlen);
}

static void reopen(struct nurs_resource *r)
{
    struct nurs_json_sink *j = (struct nurs_json_sink *)r;
    nurs_json_sink_flush(j);
    if (!j->has_file || !j->path || r->host->check_only)
        return;
    char err[512];
    if (nurs_outfile_reopen(&j->file, err, sizeof err) < 0)
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
    if (j->stream) {
        nurs_stream_flush(j->stream);
        nurs_stream_close(j->stream);
    }
    j->stream = NULL;
    if (j->has_file)
        nurs_outfile_close(&j->file);
    j->has_file = false;
    uv_close((uv_handle_t *)&j->timer, free_sink);
}

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_json_sink *j = (const struct nurs_json_sink *)r;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"file_lost", j->file_lost};
    if (j->has_file)
        out[n++] = (struct nurs_extra_counter){"reopened", j->file.reopened};
    if (j->stream) {
        const struct nurs_stream_stats *s = nurs_stream_stats(j->stream);
        out[n++] = (struct nurs_extra_counter){"readers", s->readers};
        out[n++] = (struct nurs_extra_counter){"reader_drops", s->drops};
        out[n++] = (struct nurs_extra_counter){"unread", s->unread};
        out[n++] = (struct nurs_extra_counter){"fifo_waits", s->waits};
    }
    return n;
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
    if (j->stream) {
        struct nurs_stream_opts so = {.buffer = j->cur.reader_buffer, .max_readers = 1,
                                      .file = j->cur.file, .socket_gid = -1};
        nurs_stream_configure(j->stream, &so);
    }
    if (j->has_file)
        j->file.opts = j->cur.file;
    uint64_t ms = (uint64_t)llround(j->cur.flush_interval * 1000.0);
    if (ms == 0)
        ms = 1;
    if (!j->res.host->check_only)
        uv_timer_start(&j->timer, on_timer, ms, ms);
}

static void adopted(struct nurs_resource *r) { configure((struct nurs_json_sink *)r); }

/* A line a worker loop's relay made (core/relay.h), for a shared sink. */
static void relayed(struct nurs_resource *r, const void *data, size_t len)
{
    struct nurs_json_sink *j = (struct nurs_json_sink *)r;
    nurs_jsonw_raw(nurs_json_sink_begin(j), data, len);
    nurs_json_sink_end(j, 1);
}

static const struct nurs_resource_ops json_ops = {
    .relayed = relayed,
    .kind = "json",
    .destroy = destroy,
    .flush = flush_op,
    .reopen = reopen,
    .extra_counters = extra_counters,
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
        .reader_buffer = o->reader_buffer ? o->reader_buffer : NURS_JSON_DEFAULT_READER_BUFFER,
        .file = o->file,
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
    j->write_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    uv_timer_init(s->host->loop, &j->timer);
    j->timer.data = j;
    /* A flush timer alone must not keep the daemon running. */
    uv_unref((uv_handle_t *)&j->timer);
    if (nurs_resource_init(&j->res, &json_ops, s, o->name ? o->name : "json", key, &set) < 0) {
        snprintf(err, errlen, "out of memory");
        uv_close((uv_handle_t *)&j->timer, free_sink);
        return NULL;
    }
    if ((s->host->check_only ? check_target(j, err, errlen) : open_target(j, err, errlen)) < 0) {
        nurs_resource_destroy(&j->res);
        return NULL;
    }
    configure(j);
    return j;
}
