#include "core/resolve.h"

#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* What the thread and the loop share; the last of the two frees it. */
struct shared {
    pthread_mutex_t lock;
    int refs;
    uv_async_t *wake; /* NULL once the loop side gave up */
    char *host, *port;
    int socktype;
    int status;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct nurs_resolve {
    uv_async_t wake;  /* first: the handle is the request */
    uv_timer_t timer;
    struct shared *sh;
    nurs_resolve_cb cb;
    void *ctx;
    int open_handles;
};

static void shared_put(struct shared *sh)
{
    pthread_mutex_lock(&sh->lock);
    int left = --sh->refs;
    pthread_mutex_unlock(&sh->lock);
    if (left)
        return;
    pthread_mutex_destroy(&sh->lock);
    free(sh->host);
    free(sh->port);
    free(sh);
}

static int lookup(const char *host, const char *port, int socktype, int flags,
                  struct sockaddr_storage *out, socklen_t *outlen)
{
    struct addrinfo hints = {.ai_socktype = socktype, .ai_flags = AI_NUMERICSERV | flags};
    struct addrinfo *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return rc;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *outlen = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* getaddrinfo's EAI_* as libuv's, for uv_strerror. */
static int uv_status(int eai)
{
    switch (eai) {
    case 0: return 0;
    case EAI_NONAME: return UV_EAI_NONAME;
    case EAI_AGAIN: return UV_EAI_AGAIN;
    case EAI_FAIL: return UV_EAI_FAIL;
    case EAI_MEMORY: return UV_EAI_MEMORY;
    case EAI_SERVICE: return UV_EAI_SERVICE;
#ifdef EAI_NODATA
    case EAI_NODATA: return UV_EAI_NODATA;
#endif
    default: return UV_EAI_FAIL;
    }
}

static void *resolve_thread(void *arg)
{
    struct shared *sh = arg;
    struct sockaddr_storage addr;
    socklen_t len = 0;
    int status = uv_status(lookup(sh->host, sh->port, sh->socktype, 0, &addr, &len));
    pthread_mutex_lock(&sh->lock);
    sh->status = status;
    sh->addr = addr;
    sh->addrlen = len;
    if (sh->wake)
        uv_async_send(sh->wake);
    pthread_mutex_unlock(&sh->lock);
    shared_put(sh);
    return NULL;
}

static void on_closed(uv_handle_t *h)
{
    struct nurs_resolve *r = h->data;
    if (--r->open_handles == 0)
        free(r);
}

void nurs_resolve_cancel(struct nurs_resolve *r)
{
    pthread_mutex_lock(&r->sh->lock);
    r->sh->wake = NULL;
    pthread_mutex_unlock(&r->sh->lock);
    shared_put(r->sh);
    r->sh = NULL;
    uv_close((uv_handle_t *)&r->wake, on_closed);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void finish(struct nurs_resolve *r, int status, const struct sockaddr_storage *addr,
                   socklen_t len)
{
    nurs_resolve_cb cb = r->cb;
    void *ctx = r->ctx;
    nurs_resolve_cancel(r);
    cb(ctx, status, status == 0 ? (const struct sockaddr *)addr : NULL, len);
}

static void on_wake(uv_async_t *a)
{
    struct nurs_resolve *r = (struct nurs_resolve *)a;
    pthread_mutex_lock(&r->sh->lock);
    int status = r->sh->status;
    struct sockaddr_storage addr = r->sh->addr;
    socklen_t len = r->sh->addrlen;
    pthread_mutex_unlock(&r->sh->lock);
    finish(r, status, &addr, len);
}

static void on_timeout(uv_timer_t *t)
{
    struct nurs_resolve *r = t->data;
    finish(r, UV_ETIMEDOUT, NULL, 0);
}

int nurs_resolve_numeric(const char *host, const char *port, int socktype,
                         struct sockaddr_storage *out, socklen_t *outlen)
{
    return lookup(host, port, socktype, AI_NUMERICHOST, out, outlen) == 0 ? 0 : -1;
}

int nurs_resolve_now(const char *host, const char *port, int socktype,
                     struct sockaddr_storage *out, socklen_t *outlen)
{
    return uv_status(lookup(host, port, socktype, 0, out, outlen));
}

struct nurs_resolve *nurs_resolve_start(uv_loop_t *loop, const char *host, const char *port,
                                        int socktype, unsigned timeout_ms, nurs_resolve_cb cb,
                                        void *ctx)
{
    struct sockaddr_storage addr;
    socklen_t len;
    if (nurs_resolve_numeric(host, port, socktype, &addr, &len) == 0) {
        cb(ctx, 0, (const struct sockaddr *)&addr, len);
        return NULL;
    }
    struct nurs_resolve *r = calloc(1, sizeof *r);
    struct shared *sh = calloc(1, sizeof *sh);
    if (!r || !sh || !(sh->host = strdup(host)) || !(sh->port = strdup(port))) {
        if (sh)
            free(sh->host);
        free(sh);
        free(r);
        cb(ctx, UV_ENOMEM, NULL, 0);
        return NULL;
    }
    pthread_mutex_init(&sh->lock, NULL);
    sh->refs = 2;
    sh->socktype = socktype;
    sh->wake = &r->wake;
    r->sh = sh;
    r->cb = cb;
    r->ctx = ctx;
    uv_async_init(loop, &r->wake, on_wake);
    uv_timer_init(loop, &r->timer);
    r->wake.data = r->timer.data = r;
    r->open_handles = 2;
    /* Waiting for a name does not keep the daemon running. */
    uv_unref((uv_handle_t *)&r->wake);
    uv_unref((uv_handle_t *)&r->timer);
    uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, resolve_thread, sh);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        sh->refs = 1; /* no thread holds it */
        finish(r, UV_EAGAIN, NULL, 0);
        return NULL;
    }
    return r;
}
