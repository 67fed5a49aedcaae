/* IPFIX over TCP (RFC 7011 10.4): connect in the background, send the
 * templates first on every connection, keep what is sent while the
 * collector is away in a bounded queue, and reconnect with a growing
 * back-off: 1 s, doubling up to 60 s, whether the connection was refused
 * or reset; it starts again from 1 s only once a connection held for
 * STABLE_MS. Each change of state is logged once (a collector that keeps
 * refusing is not logged at every retry). Nothing here ever blocks the
 * loop. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/flow/collector_priv.h"

#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 60000u
#define LINGER_MS 2000u /* what closing waits for the queue to drain */
#define STABLE_MS 10000u /* a connection that held this long resets the back-off */

static void connect_now(struct nurs_collector *c);

const char *nurs_tcp_state_name(const struct nurs_collector *c)
{
    switch (c->tcp.state) {
    case NURS_TCP_UP: return "connected";
    case NURS_TCP_CONNECTING: return "connecting";
    case NURS_TCP_CLOSING: return "closing";
    case NURS_TCP_DOWN: break;
    }
    return c->closing ? "closed" : "waiting to reconnect";
}

static void on_retry(uv_timer_t *t) { connect_now(t->data); }

static void on_handle_closed(uv_handle_t *h)
{
    struct nurs_collector *c = h->data;
    struct nurs_tcp *tcp = &c->tcp;
    tcp->handle_open = false;
    tcp->state = NURS_TCP_DOWN;
    if (c->closing) {
        uv_timer_stop(&tcp->linger);
        nurs_closer_close(&c->closer, &tcp->linger);
        nurs_closer_release(&c->closer); /* held for this handle by nurs_tcp_close */
        return;
    }
    uv_timer_start(&tcp->retry, on_retry, tcp->delay_ms, 0);
}

/* The wait before the next attempt: the back-off, which then doubles. */
static unsigned next_delay(struct nurs_collector *c)
{
    struct nurs_tcp *tcp = &c->tcp;
    if (tcp->state == NURS_TCP_UP && uv_now(c->loop) - tcp->up_since_ms >= STABLE_MS)
        tcp->backoff_ms = BACKOFF_MIN_MS;
    unsigned d = tcp->backoff_ms;
    tcp->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
    return d;
}

static void close_handle(struct nurs_collector *c)
{
    struct nurs_tcp *tcp = &c->tcp;
    if (!tcp->handle_open || tcp->state == NURS_TCP_CLOSING)
        return;
    tcp->state = NURS_TCP_CLOSING;
    uv_close((uv_handle_t *)&tcp->handle, on_handle_closed);
}

static void drop_connection(struct nurs_collector *c, int uv_err, const char *what)
{
    struct nurs_tcp *tcp = &c->tcp;
    if (tcp->state == NURS_TCP_UP || tcp->state == NURS_TCP_CONNECTING) {
        bool was_up = tcp->state == NURS_TCP_UP;
        tcp->last_error = uv_err;
        tcp->delay_ms = next_delay(c);
        /* Once per change: up -> down always; failed attempts only the
         * first in a row. */
        if (was_up || !tcp->failing)
            nurs_warn("collector %s: %s%s%s; reconnecting in %.0f s%s", c->spec, what,
                      uv_err ? ": " : "", uv_err ? uv_strerror(uv_err) : "",
                      tcp->delay_ms / 1000.0,
                      was_up ? "" : " (then less often, up to 60 s; logged again once connected)");
        else
            nurs_debug("collector %s: %s; reconnecting in %.0f s", c->spec,
                       uv_err ? uv_strerror(uv_err) : what, tcp->delay_ms / 1000.0);
        tcp->failing = !was_up;
        if (was_up)
            tcp->resets++;
    }
    close_handle(c);
}

static struct nurs_qmsg *new_qmsg(struct nurs_collector *c, const uint8_t *msg, size_t len,
                                  const struct nurs_msg_tally *tally)
{
    struct nurs_qmsg *q = malloc(sizeof *q + len);
    if (!q)
        return NULL;
    q->next = NULL;
    q->c = c;
    q->len = len;
    q->tally = *tally;
    memcpy(q->data, msg, len);
    return q;
}

static void finish_closing_if_drained(struct nurs_collector *c)
{
    if (c->closing && c->tcp.inflight == 0 && uv_is_active((uv_handle_t *)&c->tcp.linger)) {
        uv_timer_stop(&c->tcp.linger);
        close_handle(c);
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct nurs_qmsg *q = (struct nurs_qmsg *)((char *)req - offsetof(struct nurs_qmsg, req));
    struct nurs_collector *c = q->c;
    c->tcp.inflight_bytes -= q->len;
    c->tcp.inflight--;
    if (status < 0) {
        nurs_collector_lost(c, &q->tally, 0, "write to the collector failed");
        if (status != UV_ECANCELED)
            drop_connection(c, status, "connection lost");
    } else {
        nurs_collector_counted(c, q->len, &q->tally);
    }
    free(q);
    finish_closing_if_drained(c);
}

static void write_now(struct nurs_collector *c, struct nurs_qmsg *q)
{
    nurs_collector_stamp(c, q->data, q->tally.records);
    uv_buf_t b = uv_buf_init((char *)q->data, (unsigned)q->len);
    c->tcp.inflight_bytes += q->len;
    c->tcp.inflight++;
    int rc = uv_write(&q->req, (uv_stream_t *)&c->tcp.handle, &b, 1, on_written);
    if (rc < 0) {
        c->tcp.inflight_bytes -= q->len;
        c->tcp.inflight--;
        nurs_collector_lost(c, &q->tally, 0, "write to the collector failed");
        free(q);
        drop_connection(c, rc, "write failed");
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static _Thread_local char sink[512];
    *buf = uv_buf_init(sink, sizeof sink);
}

/* Collectors send nothing back; reading tells when they hang up. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        drop_connection(s->data, (int)nread, "the collector closed the connection");
}

static void on_connect(uv_connect_t *req, int status)
{
    struct nurs_collector *c = req->handle->data;
    struct nurs_tcp *tcp = &c->tcp;
    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        drop_connection(c, status, "cannot connect");
        return;
    }
    tcp->state = NURS_TCP_UP;
    tcp->up_since_ms = uv_now(c->loop);
    tcp->failing = false;
    c->stats.connects++;
    nurs_info("collector %s: connected", c->spec);
    uv_read_start((uv_stream_t *)&tcp->handle, on_alloc, on_read);

    /* The templates go first on every connection (RFC 7011 8). */
    struct nurs_qmsg *t = malloc(sizeof *t + c->cap);
    struct nurs_msg_tally n = {0};
    size_t len = t ? nurs_collector_templates_message(c, t->data, c->cap, &n) : 0;
    if (!len) {
        free(t);
        drop_connection(c, 0, "the templates do not fit a message");
        return;
    }
    t->next = NULL;
    t->c = c;
    t->len = len;
    t->tally = n;
    write_now(c, t);
    while (tcp->head && tcp->state == NURS_TCP_UP) {
        struct nurs_qmsg *q = tcp->head;
        tcp->head = q->next;
        if (!tcp->head)
            tcp->tail = NULL;
        tcp->queued_bytes -= q->len;
        write_now(c, q);
    }
}

static void connect_now(struct nurs_collector *c)
{
    struct nurs_tcp *tcp = &c->tcp;
    uv_tcp_init(c->loop, &tcp->handle);
    tcp->handle.data = c;
    tcp->handle_open = true;
    tcp->state = NURS_TCP_CONNECTING;
    /* A connection alone does not keep the daemon running. */
    uv_unref((uv_handle_t *)&tcp->handle);
    int rc = uv_tcp_connect(&tcp->connect_req, &tcp->handle, (struct sockaddr *)&c->addr,
                            on_connect);
    if (rc < 0)
        drop_connection(c, rc, "cannot connect");
}

void nurs_tcp_start(struct nurs_collector *c)
{
    struct nurs_tcp *tcp = &c->tcp;
    tcp->started = true;
    tcp->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(c->loop, &tcp->retry);
    uv_timer_init(c->loop, &tcp->linger);
    tcp->retry.data = tcp->linger.data = c;
    uv_unref((uv_handle_t *)&tcp->retry);
    connect_now(c);
}

void nurs_tcp_send(struct nurs_collector *c, const uint8_t *msg, size_t len,
                   const struct nurs_msg_tally *tally)
{
    struct nurs_tcp *tcp = &c->tcp;
    bool up = tcp->state == NURS_TCP_UP;
    size_t waiting = up ? tcp->inflight_bytes : tcp->queued_bytes;
    if (waiting + len > c->conf->queue_max) {
        nurs_collector_lost(c, tally, 0,
                            up ? "the collector does not keep up: queue full"
                               : "the collector is unreachable: queue full");
        return;
    }
    struct nurs_qmsg *q = new_qmsg(c, msg, len, tally);
    if (!q) {
        nurs_collector_lost(c, tally, 0, "out of memory");
        return;
    }
    if (up) {
        write_now(c, q);
        return;
    }
    if (tcp->tail)
        tcp->tail->next = q;
    else
        tcp->head = q;
    tcp->tail = q;
    tcp->queued_bytes += len;
}

static void on_linger(uv_timer_t *t)
{
    struct nurs_collector *c = t->data;
    nurs_warn("collector %s: %zu bytes not taken within %u ms at exit; dropped", c->spec,
              c->tcp.inflight_bytes, LINGER_MS);
    close_handle(c);
}

void nurs_tcp_close(struct nurs_collector *c)
{
    struct nurs_tcp *tcp = &c->tcp;
    while (tcp->head) {
        struct nurs_qmsg *q = tcp->head;
        tcp->head = q->next;
        nurs_collector_lost(c, &q->tally, 0, "closed before the collector came back");
        free(q);
    }
    tcp->tail = NULL;
    tcp->queued_bytes = 0;
    if (!tcp->started)
        return; /* the name was never resolved: nothing was opened */
    uv_timer_stop(&tcp->retry);
    nurs_closer_close(&c->closer, &tcp->retry);
    if (tcp->handle_open) {
        /* on_handle_closed releases the connection and closes the linger
         * timer. */
        nurs_closer_hold(&c->closer);
        if (tcp->state == NURS_TCP_UP && tcp->inflight > 0) {
            /* Give the queue a bounded time to reach the collector; a
             * referenced timer, so that exit waits for it. */
            uv_ref((uv_handle_t *)&tcp->linger);
            uv_timer_start(&tcp->linger, on_linger, LINGER_MS, 0);
        } else {
            close_handle(c);
        }
    } else {
        nurs_closer_close(&c->closer, &tcp->linger);
    }
}
