/* The stream to a TCP collector (tcp-connect://): its name resolved off
 * the loop, the connection made in the background, retried with a
 * back-off while it fails. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/stream_priv.h"

static void on_connect(uv_connect_t *req, int status)
{
    struct stream_reader *r = req->data;
    struct nurs_stream *st = r->st;
    st->connecting = NULL;
    if (status == UV_ECANCELED || r->closing)
        return;
    if (status < 0) {
        if (!st->waiting_logged)
            nurs_warn("%s: cannot connect to %s: %s; retrying", st->name, st->target,
                      uv_strerror(status));
        st->waiting_logged = true;
        nurs_stream_drop_reader(r, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&r->h.tcp, 1);
    nurs_stream_add_reader(st, r, st->target + strlen(nurs_stream_connect_scheme));
}

static void try_connect(struct nurs_stream *st)
{
    struct stream_reader *r = nurs_stream_new_reader(st);
    if (!r || uv_tcp_init(st->loop, &r->h.tcp) < 0) {
        free(r);
        nurs_stream_schedule_retry(st);
        return;
    }
    st->handles++;
    r->connect.data = r;
    if (uv_tcp_connect(&r->connect, &r->h.tcp, (struct sockaddr *)&st->addr, on_connect) < 0) {
        nurs_stream_drop_reader(r, "connect failed");
        return;
    }
    st->connecting = r;
}

static void on_resolved(void *ctx, int status, const struct sockaddr *addr, socklen_t len)
{
    struct nurs_stream *st = ctx;
    st->resolving = NULL;
    if (status < 0) {
        if (!st->waiting_logged)
            nurs_warn("%s: cannot resolve %s: %s; retrying", st->name, st->target,
                      uv_strerror(status));
        st->waiting_logged = true;
        nurs_stream_schedule_retry(st);
        return;
    }
    memcpy(&st->addr, addr, len);
    try_connect(st);
}

void nurs_stream_connect(struct nurs_stream *st)
{
    char host[256], err[256];
    const char *port;
    if (nurs_stream_split_address(st->target + strlen(nurs_stream_connect_scheme), host, sizeof host, &port, err,
                      sizeof err) < 0)
        return;
    st->resolving = nurs_resolve_start(st->loop, host, port, SOCK_STREAM, NURS_RESOLVE_TIMEOUT_MS,
                                       on_resolved, st);
}
