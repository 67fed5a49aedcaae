#include "core/stream_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define FIFO_RETRY_MS 500
#define CONNECT_BACKOFF_MIN_MS 1000
#define CONNECT_BACKOFF_MAX_MS 30000
#define LINGER_MS 2000   /* closing: readers may take what is queued this long... */
#define LINGER_HARD_MS 5000 /* ...and finish the chunk they are reading this much longer */
#define CONNECT_STABLE_MS 10000 /* a connection that held this long resets the back-off */

static const char stdout_target[] = "-";
static const char listen_scheme[] = "tcp://";
static const char unix_scheme[] = "unix://";
const char nurs_stream_connect_scheme[] = "tcp-connect://";

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool nurs_stream_is_target(const char *target, bool mkfifo)
{
    struct stat st;
    if (strcmp(target, stdout_target) == 0 || starts_with(target, listen_scheme) ||
        starts_with(target, nurs_stream_connect_scheme) || starts_with(target, unix_scheme))
        return true;
    if (stat(target, &st) == 0)
        return S_ISFIFO(st.st_mode);
    return mkfifo;
}

void nurs_stream_check(const char *target, char *out, size_t len)
{
    struct stat st;
    *out = '\0';
    if (strstr(target, "://") || strcmp(target, stdout_target) == 0 || stat(target, &st) < 0 ||
        !S_ISFIFO(st.st_mode))
        return;
    /* Not opened: a reader waiting on it would see its end. */
    snprintf(out, len, "%s is a FIFO: while it has no reader, the output waits for one (without "
                       "blocking; records written meanwhile are counted as unread)", target);
}

static int buf_append(struct stream_buf *b, const void *p, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *n = realloc(b->p, cap);
        if (!n)
            return -1;
        b->p = n;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
    return 0;
}

/* ---- closing: every handle counts, the last close frees ---- */

static void maybe_free(struct nurs_stream *st)
{
    if (!st->closing || st->handles > 0)
        return;
    free(st->target);
    free(st);
}

void nurs_stream_handle_closed(uv_handle_t *h)
{
    struct nurs_stream *st = h->data;
    st->handles--;
    maybe_free(st);
}

static void on_reader_closed(uv_handle_t *h)
{
    struct stream_reader *r = (struct stream_reader *)h;
    struct nurs_stream *st = r->st;
    free(r->pending.p);
    free(r->inflight.p);
    free(r);
    st->handles--;
    maybe_free(st);
}

struct stream_reader *nurs_stream_new_reader(struct nurs_stream *st)
{
    struct stream_reader *r = calloc(1, sizeof *r);
    if (r)
        r->st = st;
    return r;
}

void nurs_stream_close_reader(struct stream_reader *r)
{
    r->closing = true;
    r->h.handle.data = r->st;
    uv_close(&r->h.handle, on_reader_closed);
}


/* A reader that went away (or failed): forget it, retry where that
 * makes sense. */
void nurs_stream_drop_reader(struct stream_reader *r, const char *why)
{
    struct nurs_stream *st = r->st;
    if (r->closing)
        return;
    /* What it had not taken yet is lost with it. */
    st->stats.drops += r->pending_records + (r->writing ? r->inflight_records : 0);
    r->pending_records = r->inflight_records = 0;
    if (r->live) {
        for (struct stream_reader **p = &st->readers; *p; p = &(*p)->next) {
            if (*p == r) {
                *p = r->next;
                break;
            }
        }
        st->stats.readers--;
        st->stats.disconnects++;
        /* A collector that accepts and resets at once still backs off. */
        if (uv_now(st->loop) - r->connected_ms >= CONNECT_STABLE_MS)
            st->backoff_ms = 0;
        nurs_info("%s: reader %s went away (%s)", st->name, r->peer, why);
    }
    nurs_stream_close_reader(r);
    if (st->closing) {
        /* The last reader that lingered is done: no need to wait more. */
        if (st->lingering && !st->readers && !uv_is_closing((uv_handle_t *)&st->watch))
            uv_close((uv_handle_t *)&st->watch, nurs_stream_handle_closed);
        return;
    }
    if (st->kind == KIND_FIFO || st->kind == KIND_CONNECT)
        nurs_stream_schedule_retry(st);
    if (st->kind == KIND_STDOUT && r->live && st->o.on_stdout_closed)
        st->o.on_stdout_closed(st->o.ctx);
}

/* ---- writing ---- */

static void arm_kick(struct nurs_stream *st);

static void start_write(struct stream_reader *r);

static void on_written(uv_write_t *req, int status)
{
    struct stream_reader *r = req->data;
    r->writing = false;
    r->inflight.len = 0;
    r->writes_done++;
    if (status == 0)
        r->inflight_records = 0;
    if (status < 0) {
        if (status != UV_ECANCELED)
            nurs_stream_drop_reader(r, uv_strerror(status));
        return;
    }
    if (r->closing)
        return;
    if (r->st->closing) {
        /* Closing: the rest while there is time, then the reader ends on
         * a whole record. */
        if (r->pending.len && !r->st->linger_expired)
            start_write(r);
        else
            nurs_stream_drop_reader(r, r->pending.len ? "did not take what was queued in time"
                                                      : "sink closed");
        return;
    }
    if (r->pending.len)
        start_write(r);
}

/* Queued records are written in chunks of about NURS_STREAM_CHUNK bytes
 * that end where a record ends (the marks), so that a reader cut off at
 * close has whole records. */
static void mark_boundary(struct stream_reader *r)
{
    size_t last = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (r->n_marks < NURS_STREAM_MAX_MARKS && r->pending.len - last >= NURS_STREAM_CHUNK) {
        r->marks[r->n_marks] = r->pending.len;
        r->mark_records[r->n_marks] = r->pending_records;
        r->n_marks++;
    }
}

static int take_chunk(struct stream_reader *r)
{
    size_t n = r->n_marks ? r->marks[0] : r->pending.len;
    uint64_t records = r->n_marks ? r->mark_records[0] : r->pending_records;
    r->inflight.len = 0;
    if (buf_append(&r->inflight, r->pending.p, n) < 0)
        return -1;
    memmove(r->pending.p, r->pending.p + n, r->pending.len - n);
    r->pending.len -= n;
    r->inflight_records = records;
    r->pending_records -= records;
    if (r->n_marks) {
        for (int i = 1; i < r->n_marks; i++) {
            r->marks[i - 1] = r->marks[i] - n;
            r->mark_records[i - 1] = r->mark_records[i] - records;
        }
        r->n_marks--;
    }
    return 0;
}

static void start_write(struct stream_reader *r)
{
    if (take_chunk(r) < 0) {
        nurs_stream_drop_reader(r, "out of memory");
        return;
    }
    uv_buf_t b = uv_buf_init((char *)r->inflight.p, (unsigned)r->inflight.len);
    r->writing = true;
    r->req.data = r;
    int rc = uv_write(&r->req, &r->h.stream, &b, 1, on_written);
    if (rc < 0) {
        r->writing = false;
        r->inflight.len = 0;
        nurs_stream_drop_reader(r, uv_strerror(rc));
    }
}

/* Once per loop iteration: one write per reader for everything queued
 * since, rather than a system call per record. */
static void on_kick(uv_check_t *kick)
{
    struct nurs_stream *st = kick->data;
    uv_check_stop(kick);
    struct stream_reader *next;
    for (struct stream_reader *r = st->readers; r; r = next) {
        next = r->next;
        if (!r->writing && r->pending.len)
            start_write(r);
    }
}

static void arm_kick(struct nurs_stream *st)
{
    if (!st->closing && !uv_is_active((uv_handle_t *)&st->kick))
        uv_check_start(&st->kick, on_kick);
}

bool nurs_stream_has_readers(const struct nurs_stream *st) { return st->readers != NULL; }

void nurs_stream_write(struct nurs_stream *st, const void *data, size_t len, uint64_t records)
{
    if (!st->readers) {
        if (st->kind == KIND_CONNECT)
            st->stats.drops += records;
        else
            st->stats.unread += records;
        return;
    }
    for (struct stream_reader *r = st->readers; r; r = r->next) {
        if (r->pending.len + r->inflight.len + len > st->o.buffer ||
            buf_append(&r->pending, data, len) < 0) {
            st->stats.drops += records;
        } else {
            r->pending_records += records;
            mark_boundary(r);
        }
    }
    arm_kick(st);
}

/* A reader starts with the header. */
void nurs_stream_add_reader(struct nurs_stream *st, struct stream_reader *r, const char *peer)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->live = true;
    r->next = st->readers;
    st->readers = r;
    st->stats.readers++;
    st->stats.connects++;
    r->connected_ms = uv_now(st->loop);
    st->waiting_logged = false;
    if (st->header_len && buf_append(&r->pending, st->header, st->header_len) < 0) {
        nurs_stream_drop_reader(r, "out of memory");
        return;
    }
    nurs_info("%s: reader %s connected", st->name, r->peer);
    arm_kick(st);
    if (st->o.on_reader)
        st->o.on_reader(st->o.ctx);
}

/* ---- FIFO and standard output ---- */

static int open_pipe_reader(struct nurs_stream *st, int fd, const char *peer)
{
    struct stream_reader *r = nurs_stream_new_reader(st);
    if (!r)
        return -1;
    if (uv_pipe_init(st->loop, &r->h.pipe, 0) < 0) {
        free(r);
        return -1;
    }
    st->handles++;
    if (uv_pipe_open(&r->h.pipe, fd) < 0) {
        nurs_stream_close_reader(r);
        return -1;
    }
    nurs_stream_add_reader(st, r, peer);
    return 0;
}

static void try_fifo(struct nurs_stream *st)
{
    /* Non-blocking: without a reader the open fails (ENXIO) at once
     * instead of waiting for one. */
    struct stat sb;
    bool created;
    char err[512];
    int fd = nurs_safe_open(st->target, NURS_OPEN_EXISTING, false, &st->o.file, &sb, &created, err,
                            sizeof err);
    if (fd >= 0 && !S_ISFIFO(sb.st_mode)) {
        close(fd);
        fd = -1;
        errno = EINVAL;
        snprintf(err, sizeof err, "%s is no longer a FIFO", st->target);
    }
    if (fd < 0) {
        if (errno == ENXIO)
            st->stats.waits++;
        if (!st->waiting_logged) {
            if (errno == ENXIO)
                nurs_info("%s: waiting for a reader on FIFO %s", st->name, st->target);
            else
                nurs_warn("%s: %s; retrying", st->name, err);
        }
        st->waiting_logged = true;
        nurs_stream_schedule_retry(st);
        return;
    }
    if (open_pipe_reader(st, fd, st->target) < 0) {
        close(fd);
        nurs_stream_schedule_retry(st);
    }
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
int nurs_stream_split_address(const char *text, char *host, size_t hostlen, const char **port,
                         char *err, size_t errlen)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1]) {
        snprintf(err, errlen, "'%s' is not HOST:PORT", text);
        return -1;
    }
    size_t hlen = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        text++;
        hlen -= 2;
    }
    if (hlen >= hostlen) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    *port = colon + 1;
    return 0;
}

static void on_retry(uv_timer_t *t)
{
    struct nurs_stream *st = t->data;
    if (st->closing)
        return;
    if (st->kind == KIND_FIFO)
        try_fifo(st);
    else if (st->kind == KIND_CONNECT)
        nurs_stream_connect(st);
}

void nurs_stream_schedule_retry(struct nurs_stream *st)
{
    uint64_t ms = FIFO_RETRY_MS;
    if (st->kind == KIND_CONNECT) {
        st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : CONNECT_BACKOFF_MIN_MS;
        if (st->backoff_ms > CONNECT_BACKOFF_MAX_MS)
            st->backoff_ms = CONNECT_BACKOFF_MAX_MS;
        ms = st->backoff_ms;
    }
    uv_timer_start(&st->retry, on_retry, ms, 0);
}

static int start(struct nurs_stream *st, char *err, size_t errlen)
{
    struct stat sb;
    char host[256];
    const char *port;
    switch (st->kind) {
    case KIND_STDOUT:
        if (uv_guess_handle(STDOUT_FILENO) == UV_TTY) {
            snprintf(err, errlen, "standard output is a terminal: pipe it into a reader "
                                  "(| tcpdump -r -) or give a file");
            return -1;
        }
        if (open_pipe_reader(st, STDOUT_FILENO, "stdout") < 0) {
            snprintf(err, errlen, "standard output is not a pipe or socket");
            return -1;
        }
        return 0;
    case KIND_FIFO:
        if (lstat(st->target, &sb) < 0 && st->o.mkfifo &&
            mkfifo(st->target, st->o.file.mode ? st->o.file.mode : NURS_FILE_MODE) < 0) {
            snprintf(err, errlen, "cannot make FIFO %s: %s", st->target, strerror(errno));
            return -1;
        }
        try_fifo(st);
        return 0;
    case KIND_LISTEN:
        if (nurs_stream_split_address(st->target + strlen(listen_scheme), host, sizeof host, &port, err,
                          errlen) < 0)
            return -1;
        socklen_t len;
        if (nurs_resolve_numeric(host, port, SOCK_STREAM, &st->addr, &len) < 0) {
            snprintf(err, errlen, "listen on a numeric address (127.0.0.1, [::1]), not '%s'",
                     host);
            return -1;
        }
        return nurs_stream_listen(st, err, errlen);
    case KIND_UNIX:
        return nurs_stream_listen(st, err, errlen);
    case KIND_CONNECT:
        if (nurs_stream_split_address(st->target + strlen(nurs_stream_connect_scheme), host, sizeof host, &port, err,
                          errlen) < 0)
            return -1;
        nurs_stream_connect(st);
        return 0;
    }
    return -1;
}

void nurs_stream_configure(struct nurs_stream *st, const struct nurs_stream_opts *o)
{
    const char *target = st->o.target;
    nurs_stream_peer_uid_fn peer_uid = st->o.peer_uid;
    void (*on_reader)(void *) = st->o.on_reader;
    void (*on_closed)(void *) = st->o.on_stdout_closed;
    void *ctx = st->o.ctx;
    st->o = *o;
    st->o.target = target;
    st->o.header = NULL;
    st->o.peer_uid = peer_uid;
    st->o.on_reader = on_reader;
    st->o.on_stdout_closed = on_closed;
    st->o.ctx = ctx;
    if (st->o.max_per_uid <= 0)
        st->o.max_per_uid = st->o.max_readers / 4 > 1 ? st->o.max_readers / 4 : 1;
    if (st->o.reader_timeout <= 0)
        st->o.reader_timeout = NURS_STREAM_DEFAULT_TIMEOUT;
    nurs_stream_recheck(st);
}

struct nurs_stream *nurs_stream_open(uv_loop_t *loop, const char *name,
                                     const struct nurs_stream_opts *o, char *err, size_t errlen)
{
    struct nurs_stream *st = calloc(1, sizeof *st);
    if (!st || !(st->target = strdup(o->target))) {
        free(st);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->loop = loop;
    snprintf(st->name, sizeof st->name, "%s", name);
    if (strcmp(o->target, stdout_target) == 0) {
        st->kind = KIND_STDOUT;
    } else if (starts_with(o->target, listen_scheme)) {
        st->kind = KIND_LISTEN;
    } else if (starts_with(o->target, unix_scheme)) {
        st->kind = KIND_UNIX;
        memmove(st->target, st->target + strlen(unix_scheme),
                strlen(st->target + strlen(unix_scheme)) + 1);
    } else if (starts_with(o->target, nurs_stream_connect_scheme)) {
        st->kind = KIND_CONNECT;
    } else {
        st->kind = KIND_FIFO;
    }
    st->o.target = st->target;
    st->o.peer_uid = o->peer_uid;
    st->o.on_reader = o->on_reader;
    st->o.on_stdout_closed = o->on_stdout_closed;
    st->o.ctx = o->ctx;
    st->header_len = o->header_len < sizeof st->header ? o->header_len : sizeof st->header;
    if (st->header_len)
        memcpy(st->header, o->header, st->header_len);
    uv_timer_init(loop, &st->retry);
    uv_timer_init(loop, &st->watch);
    uv_check_init(loop, &st->kick);
    st->retry.data = st->watch.data = st->kick.data = st;
    st->handles = 3;
    /* Neither waiting for a reader nor flushing keeps the daemon alive. */
    uv_unref((uv_handle_t *)&st->retry);
    uv_unref((uv_handle_t *)&st->watch);
    uv_unref((uv_handle_t *)&st->kick);
    nurs_stream_configure(st, o);
    if (start(st, err, errlen) < 0) {
        nurs_stream_close(st);
        return NULL;
    }
    return st;
}

void nurs_stream_flush(struct nurs_stream *st)
{
    struct stream_reader *next;
    for (struct stream_reader *r = st->readers; r; r = next) {
        next = r->next;
        if (!r->writing && r->pending.len)
            start_write(r);
    }
}

const struct nurs_stream_stats *nurs_stream_stats(const struct nurs_stream *st)
{
    return &st->stats;
}

/* First: no more chunks, each reader ends with the one it reads. Then:
 * a reader that does not finish even that is cut off. */
static void on_linger(uv_timer_t *t)
{
    struct nurs_stream *st = t->data;
    if (!st->linger_expired) {
        st->linger_expired = true;
        uv_timer_start(t, on_linger, LINGER_HARD_MS, 0);
        return;
    }
    while (st->readers)
        nurs_stream_drop_reader(st->readers, "cut off in the middle of a record at exit");
}

void nurs_stream_close(struct nurs_stream *st)
{
    st->closing = true;
    /* Readers get a bounded time to take whole records: a reader cut in
     * the middle of one would see a torn record at the end. */
    struct stream_reader *next;
    bool lingering = false;
    for (struct stream_reader *r = st->readers; r; r = next) {
        next = r->next;
        if (!r->writing && r->pending.len)
            start_write(r);
        if (r->writing)
            lingering = true;
        else
            nurs_stream_drop_reader(r, "sink closed");
    }
    if (st->connecting)
        nurs_stream_drop_reader(st->connecting, "sink closed");
    if (st->resolving)
        nurs_resolve_cancel(st->resolving);
    st->resolving = NULL;
    nurs_stream_unlisten(st);
    uv_close((uv_handle_t *)&st->retry, nurs_stream_handle_closed);
    uv_close((uv_handle_t *)&st->kick, nurs_stream_handle_closed);
    st->lingering = lingering;
    if (lingering) {
        uv_ref((uv_handle_t *)&st->watch);
        uv_timer_start(&st->watch, on_linger, LINGER_MS, 0);
    } else {
        uv_close((uv_handle_t *)&st->watch, nurs_stream_handle_closed);
    }
}
