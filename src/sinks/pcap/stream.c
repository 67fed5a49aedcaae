#include "sinks/pcap/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define FIFO_RETRY_MS 500
#define CONNECT_BACKOFF_MIN_MS 1000
#define CONNECT_BACKOFF_MAX_MS 30000

enum kind { FIFO, STDOUT, LISTEN, CONNECT };

struct buf {
    uint8_t *p;
    size_t len, cap;
};

struct reader {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    struct nurs_pcap_stream *st;
    struct buf pending, inflight;
    uint64_t pending_records, inflight_records;
    uv_write_t req;
    uv_connect_t connect;
    bool writing, closing, live;
    struct reader *next;
    char peer[64];
};

struct nurs_pcap_stream {
    uv_loop_t *loop;
    enum kind kind;
    char *target; /* FIFO path, or the address as given */
    char name[64];
    struct sockaddr_storage addr;
    uv_tcp_t listener;
    uv_timer_t retry;
    uv_check_t kick;
    struct reader *readers; /* live ones */
    struct reader *connecting;
    size_t limit;
    int max_readers;
    uint8_t header[NURS_PCAP_FILE_HDR];
    uint64_t backoff_ms;
    bool waiting_logged;
    struct nurs_pcap_stream_stats stats;
    bool closing;
    int handles; /* open libuv handles; freed when the last one closed */
};

static const char stdout_target[] = "-";
static const char listen_scheme[] = "tcp://";
static const char connect_scheme[] = "tcp-connect://";

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool nurs_pcap_stream_is_target(const char *target, bool mkfifo)
{
    struct stat st;
    if (strcmp(target, stdout_target) == 0 || starts_with(target, listen_scheme) ||
        starts_with(target, connect_scheme))
        return true;
    if (stat(target, &st) == 0)
        return S_ISFIFO(st.st_mode);
    return mkfifo;
}

static int buf_append(struct buf *b, const uint8_t *p, size_t len)
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

static void maybe_free(struct nurs_pcap_stream *st)
{
    if (!st->closing || st->handles > 0)
        return;
    free(st->target);
    free(st);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct nurs_pcap_stream *st = h->data;
    st->handles--;
    maybe_free(st);
}

static void on_reader_closed(uv_handle_t *h)
{
    struct reader *r = (struct reader *)h;
    struct nurs_pcap_stream *st = r->st;
    free(r->pending.p);
    free(r->inflight.p);
    free(r);
    st->handles--;
    maybe_free(st);
}

static struct reader *new_reader(struct nurs_pcap_stream *st)
{
    struct reader *r = calloc(1, sizeof *r);
    if (r)
        r->st = st;
    return r;
}

static void close_reader(struct reader *r)
{
    r->h.handle.data = r->st;
    uv_close(&r->h.handle, on_reader_closed);
}

static void schedule_retry(struct nurs_pcap_stream *st);

/* A reader that went away (or failed): forget it, retry where that
 * makes sense. */
static void drop_reader(struct reader *r, const char *why)
{
    struct nurs_pcap_stream *st = r->st;
    if (r->closing)
        return;
    r->closing = true;
    /* What it had not taken yet is lost with it. */
    st->stats.drops += r->pending_records + (r->writing ? r->inflight_records : 0);
    r->pending_records = r->inflight_records = 0;
    if (r->live) {
        for (struct reader **p = &st->readers; *p; p = &(*p)->next) {
            if (*p == r) {
                *p = r->next;
                break;
            }
        }
        st->stats.readers--;
        st->stats.disconnects++;
        nurs_info("%s: pcap reader %s went away (%s)", st->name, r->peer, why);
    }
    close_reader(r);
    if (!st->closing && (st->kind == FIFO || st->kind == CONNECT))
        schedule_retry(st);
}

/* ---- writing ---- */

static void arm_kick(struct nurs_pcap_stream *st);

static void on_written(uv_write_t *req, int status)
{
    struct reader *r = req->data;
    r->writing = false;
    r->inflight.len = 0;
    if (status == 0)
        r->inflight_records = 0;
    if (status < 0) {
        if (status != UV_ECANCELED)
            drop_reader(r, uv_strerror(status));
        return;
    }
    if (r->pending.len && !r->closing)
        arm_kick(r->st);
}

static void start_write(struct reader *r)
{
    struct buf t = r->inflight;
    r->inflight = r->pending;
    r->pending = t;
    r->pending.len = 0;
    r->inflight_records = r->pending_records;
    r->pending_records = 0;
    uv_buf_t b = uv_buf_init((char *)r->inflight.p, (unsigned)r->inflight.len);
    r->writing = true;
    r->req.data = r;
    int rc = uv_write(&r->req, &r->h.stream, &b, 1, on_written);
    if (rc < 0) {
        r->writing = false;
        r->inflight.len = 0;
        drop_reader(r, uv_strerror(rc));
    }
}

/* Once per loop iteration: one write per reader for everything queued
 * since, rather than a system call per packet. */
static void on_kick(uv_check_t *kick)
{
    struct nurs_pcap_stream *st = kick->data;
    uv_check_stop(kick);
    struct reader *next;
    for (struct reader *r = st->readers; r; r = next) {
        next = r->next;
        if (!r->writing && r->pending.len)
            start_write(r);
    }
}

static void arm_kick(struct nurs_pcap_stream *st)
{
    if (!st->closing && !uv_is_active((uv_handle_t *)&st->kick))
        uv_check_start(&st->kick, on_kick);
}

void nurs_pcap_stream_write(struct nurs_pcap_stream *st, const uint8_t *rec, size_t len)
{
    if (!st->readers) {
        if (st->kind == CONNECT)
            st->stats.drops++;
        else
            st->stats.unread++;
        return;
    }
    for (struct reader *r = st->readers; r; r = r->next) {
        if (r->pending.len + r->inflight.len + len > st->limit ||
            buf_append(&r->pending, rec, len) < 0)
            st->stats.drops++;
        else
            r->pending_records++;
    }
    arm_kick(st);
}

/* A reader starts with the file header. */
static void add_reader(struct nurs_pcap_stream *st, struct reader *r, const char *peer)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->live = true;
    r->next = st->readers;
    st->readers = r;
    st->stats.readers++;
    st->stats.connects++;
    st->backoff_ms = 0;
    st->waiting_logged = false;
    if (buf_append(&r->pending, st->header, sizeof st->header) < 0) {
        drop_reader(r, "out of memory");
        return;
    }
    nurs_info("%s: pcap reader %s connected", st->name, r->peer);
    arm_kick(st);
}

/* ---- FIFO and standard output ---- */

static int open_pipe_reader(struct nurs_pcap_stream *st, int fd, const char *peer)
{
    struct reader *r = new_reader(st);
    if (!r)
        return -1;
    if (uv_pipe_init(st->loop, &r->h.pipe, 0) < 0) {
        free(r);
        return -1;
    }
    st->handles++;
    if (uv_pipe_open(&r->h.pipe, fd) < 0) {
        r->closing = true;
        close_reader(r);
        return -1;
    }
    add_reader(st, r, peer);
    return 0;
}

static void try_fifo(struct nurs_pcap_stream *st)
{
    /* O_NONBLOCK: without a reader the open fails (ENXIO) at once instead
     * of waiting for one. */
    int fd = open(st->target, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENXIO)
            nurs_warn("%s: cannot open FIFO %s: %s", st->name, st->target, strerror(errno));
        else if (!st->waiting_logged)
            nurs_info("%s: waiting for a reader on FIFO %s", st->name, st->target);
        st->waiting_logged = true;
        schedule_retry(st);
        return;
    }
    if (open_pipe_reader(st, fd, st->target) < 0) {
        close(fd);
        schedule_retry(st);
    }
}

/* ---- TCP ---- */

static void peer_name(uv_tcp_t *tcp, char *out, size_t len)
{
    struct sockaddr_storage sa;
    int n = sizeof sa;
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &n) == 0) {
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    snprintf(out, len, sa.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct nurs_pcap_stream *st = server->data;
    if (status < 0 || st->closing)
        return;
    struct reader *r = new_reader(st);
    if (!r || uv_tcp_init(st->loop, &r->h.tcp) < 0) {
        free(r);
        return;
    }
    st->handles++;
    if (uv_accept(server, &r->h.stream) < 0) {
        r->closing = true;
        close_reader(r);
        return;
    }
    char peer[64];
    peer_name(&r->h.tcp, peer, sizeof peer);
    if (st->stats.readers >= (uint64_t)st->max_readers) {
        nurs_warn("%s: refused pcap reader %s: already %d readers (max_readers)", st->name, peer,
                  st->max_readers);
        r->closing = true;
        close_reader(r);
        return;
    }
    uv_tcp_nodelay(&r->h.tcp, 1);
    add_reader(st, r, peer);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct reader *r = req->data;
    struct nurs_pcap_stream *st = r->st;
    st->connecting = NULL;
    if (status == UV_ECANCELED || r->closing)
        return;
    if (status < 0) {
        if (!st->waiting_logged)
            nurs_warn("%s: cannot connect to %s: %s; retrying", st->name, st->target,
                      uv_strerror(status));
        st->waiting_logged = true;
        drop_reader(r, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&r->h.tcp, 1);
    add_reader(st, r, st->target + strlen(connect_scheme));
}

static void try_connect(struct nurs_pcap_stream *st)
{
    struct reader *r = new_reader(st);
    if (!r || uv_tcp_init(st->loop, &r->h.tcp) < 0) {
        free(r);
        schedule_retry(st);
        return;
    }
    st->handles++;
    r->connect.data = r;
    if (uv_tcp_connect(&r->connect, &r->h.tcp, (struct sockaddr *)&st->addr, on_connect) < 0) {
        drop_reader(r, "connect failed");
        return;
    }
    st->connecting = r;
}

static void on_retry(uv_timer_t *t)
{
    struct nurs_pcap_stream *st = t->data;
    if (st->closing)
        return;
    if (st->kind == FIFO)
        try_fifo(st);
    else if (st->kind == CONNECT)
        try_connect(st);
}

static void schedule_retry(struct nurs_pcap_stream *st)
{
    uint64_t ms = FIFO_RETRY_MS;
    if (st->kind == CONNECT) {
        st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : CONNECT_BACKOFF_MIN_MS;
        if (st->backoff_ms > CONNECT_BACKOFF_MAX_MS)
            st->backoff_ms = CONNECT_BACKOFF_MAX_MS;
        ms = st->backoff_ms;
    }
    uv_timer_start(&st->retry, on_retry, ms, 0);
}

/* "HOST:PORT" or "[V6]:PORT", numeric or resolved once. */
static int parse_address(const char *text, struct sockaddr_storage *out, char *err, size_t errlen)
{
    char host[256];
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
    if (hlen >= sizeof host) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int start_listener(struct nurs_pcap_stream *st, char *err, size_t errlen)
{
    uv_tcp_init(st->loop, &st->listener);
    st->listener.data = st;
    st->handles++;
    int rc = uv_tcp_bind(&st->listener, (struct sockaddr *)&st->addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&st->listener, 16, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", st->target + strlen(listen_scheme),
                 uv_strerror(rc));
        return -1;
    }
    uv_unref((uv_handle_t *)&st->listener);
    return 0;
}

static int start(struct nurs_pcap_stream *st, const struct nurs_pcap_stream_opts *o, char *err,
                 size_t errlen)
{
    struct stat sb;
    switch (st->kind) {
    case STDOUT:
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
    case FIFO:
        if (stat(st->target, &sb) < 0 && o->mkfifo && mkfifo(st->target, 0640) < 0) {
            snprintf(err, errlen, "cannot make FIFO %s: %s", st->target, strerror(errno));
            return -1;
        }
        try_fifo(st);
        return 0;
    case LISTEN:
        if (parse_address(st->target + strlen(listen_scheme), &st->addr, err, errlen) < 0)
            return -1;
        return start_listener(st, err, errlen);
    case CONNECT:
        if (parse_address(st->target + strlen(connect_scheme), &st->addr, err, errlen) < 0)
            return -1;
        try_connect(st);
        return 0;
    }
    return -1;
}

void nurs_pcap_stream_configure(struct nurs_pcap_stream *st, const struct nurs_pcap_stream_opts *o)
{
    st->limit = o->buffer;
    st->max_readers = o->max_readers;
}

struct nurs_pcap_stream *nurs_pcap_stream_open(uv_loop_t *loop, const char *name,
                                               const struct nurs_pcap_stream_opts *o,
                                               const struct nurs_pcap_format *fmt, char *err,
                                               size_t errlen)
{
    struct nurs_pcap_stream *st = calloc(1, sizeof *st);
    if (!st || !(st->target = strdup(o->target))) {
        free(st);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->loop = loop;
    snprintf(st->name, sizeof st->name, "%s", name);
    if (strcmp(o->target, stdout_target) == 0)
        st->kind = STDOUT;
    else if (starts_with(o->target, listen_scheme))
        st->kind = LISTEN;
    else if (starts_with(o->target, connect_scheme))
        st->kind = CONNECT;
    else
        st->kind = FIFO;
    nurs_pcap_stream_configure(st, o);
    nurs_pcap_file_header(fmt, st->header);
    uv_timer_init(loop, &st->retry);
    uv_check_init(loop, &st->kick);
    st->retry.data = st->kick.data = st;
    st->handles = 2;
    /* Neither waiting for a reader nor flushing keeps the daemon alive. */
    uv_unref((uv_handle_t *)&st->retry);
    uv_unref((uv_handle_t *)&st->kick);
    if (start(st, o, err, errlen) < 0) {
        nurs_pcap_stream_close(st);
        return NULL;
    }
    return st;
}

void nurs_pcap_stream_flush(struct nurs_pcap_stream *st)
{
    for (struct reader *r = st->readers; r; r = r->next) {
        if (r->writing || !r->pending.len)
            continue;
        uv_buf_t b = uv_buf_init((char *)r->pending.p, (unsigned)r->pending.len);
        int n = uv_try_write(&r->h.stream, &b, 1);
        if (n == (int)r->pending.len) {
            r->pending.len = 0;
            r->pending_records = 0;
        } else if (n > 0) {
            /* The rest goes with the next write (or is counted if none comes). */
            memmove(r->pending.p, r->pending.p + n, r->pending.len - (size_t)n);
            r->pending.len -= (size_t)n;
        }
    }
}

const struct nurs_pcap_stream_stats *nurs_pcap_stream_stats(const struct nurs_pcap_stream *st)
{
    return &st->stats;
}

void nurs_pcap_stream_close(struct nurs_pcap_stream *st)
{
    st->closing = true;
    while (st->readers)
        drop_reader(st->readers, "sink closed");
    if (st->connecting)
        drop_reader(st->connecting, "sink closed");
    uv_close((uv_handle_t *)&st->retry, on_handle_closed);
    uv_close((uv_handle_t *)&st->kick, on_handle_closed);
    if (st->kind == LISTEN && st->listener.type == UV_TCP)
        uv_close((uv_handle_t *)&st->listener, on_handle_closed);
}
