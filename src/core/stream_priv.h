/* Internals shared by the stream (stream.c), its listeners
 * (stream_listen.c) and its connections (stream_connect.c). */
#ifndef NURS_CORE_STREAM_PRIV_H
#define NURS_CORE_STREAM_PRIV_H

#include "core/resolve.h"
#include "core/stream.h"

/* Bytes a write takes at most (then the next starts): a reader cut off at
 * exit has a chunk in hand, which even a slow reader finishes. */
#define NURS_STREAM_CHUNK 16384
#define NURS_STREAM_MAX_MARKS 512

enum stream_kind { KIND_FIFO, KIND_STDOUT, KIND_LISTEN, KIND_UNIX, KIND_CONNECT };

struct stream_buf {
    uint8_t *p;
    size_t len, cap;
};

struct stream_reader {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    struct nurs_stream *st;
    struct stream_buf pending, inflight;
    uint64_t pending_records, inflight_records;
    /* Record boundaries in pending, a chunk apart: where writes may end. */
    size_t marks[NURS_STREAM_MAX_MARKS];
    uint64_t mark_records[NURS_STREAM_MAX_MARKS];
    int n_marks;
    uv_write_t req;
    uv_connect_t connect;
    uv_work_t groups; /* a TCP reader's groups looked up, off the loop */
    bool writing, closing, live;
    bool uid_known;
    uint32_t uid, gid;
    bool group_ok; /* set by the group lookup */
    uint64_t connected_ms;
    uint64_t progress_ms;  /* when the reader last took something */
    uint64_t writes_done;
    uint64_t watched_writes; /* writes_done at the last watch */
    size_t watched_queue;    /* bytes libuv still had to write then */
    struct stream_reader *next;
    char peer[64];
};

struct nurs_stream {
    uv_loop_t *loop;
    enum stream_kind kind;
    char *target; /* FIFO or socket path, or the address as given */
    char name[64];
    struct sockaddr_storage addr;
    union {
        uv_handle_t handle;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } listener;
    bool listening;
    uv_timer_t retry;
    uv_timer_t watch; /* listeners: evicts readers that do not read */
    uv_check_t kick;
    struct nurs_resolve *resolving;
    struct stream_reader *readers; /* live ones */
    struct stream_reader *connecting;
    struct nurs_stream_opts o; /* strings and header not kept: see below */
    uint8_t header[NURS_STREAM_MAX_HEADER];
    size_t header_len;
    uint64_t backoff_ms;
    bool waiting_logged;
    struct nurs_stream_stats stats;
    bool closing;
    bool lingering; /* closing waits (the watch timer) for readers to drain */
    bool linger_expired; /* no more chunks: readers end with the one they read */
    int handles; /* open libuv handles and requests; freed when the last one ends */
};

/* stream.c */
struct stream_reader *nurs_stream_new_reader(struct nurs_stream *st);
void nurs_stream_close_reader(struct stream_reader *r);
void nurs_stream_drop_reader(struct stream_reader *r, const char *why);
void nurs_stream_add_reader(struct nurs_stream *st, struct stream_reader *r, const char *peer);
void nurs_stream_handle_closed(uv_handle_t *h);

extern const char nurs_stream_connect_scheme[];
/* "HOST:PORT" or "[V6]:PORT" into host and port (a pointer into text). */
int nurs_stream_split_address(const char *text, char *host, size_t hostlen, const char **port,
                              char *err, size_t errlen);
/* FIFOs and collectors: the next try, after a pause or a back-off. */
void nurs_stream_schedule_retry(struct nurs_stream *st);

/* stream_connect.c: resolves the collector's name, then connects. */
void nurs_stream_connect(struct nurs_stream *st);

/* stream_listen.c */
int nurs_stream_listen(struct nurs_stream *st, char *err, size_t errlen);
/* New settings: (re)arms the watch on readers that do not read. New
 * access rules apply to readers that come next. */
void nurs_stream_recheck(struct nurs_stream *st);
void nurs_stream_unlisten(struct nurs_stream *st);

#endif
