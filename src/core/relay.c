#include "core/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/host.h"
#include "core/workers.h"

/* ---- the ring ---- */

struct frame {
    uint32_t len; /* payload bytes */
    uint32_t tag;
};

#define PAD_TAG UINT32_MAX

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

int nurs_channel_init(struct nurs_channel *c, size_t size)
{
    c->buf = malloc(size);
    c->size = size;
    atomic_init(&c->head, 0);
    atomic_init(&c->tail, 0);
    atomic_init(&c->signalled, false);
    return c->buf ? 0 : -1;
}

void nurs_channel_free(struct nurs_channel *c)
{
    free(c->buf);
    c->buf = NULL;
}

bool nurs_channel_put(struct nurs_channel *c, uint32_t tag, const struct iovec *iov, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += iov[i].iov_len;
    size_t need = sizeof(struct frame) + round8(len);
    if (need > c->size / 4)
        return false;
    size_t head = atomic_load_explicit(&c->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
    size_t free_bytes = c->size - (head - tail);
    size_t pos = head & (c->size - 1), to_end = c->size - pos;
    /* A record never wraps: the end of the ring is padded instead. */
    size_t pad = to_end < need ? to_end : 0;
    if (free_bytes < pad + need)
        return false;
    if (pad) {
        struct frame f = {(uint32_t)(pad - sizeof f), PAD_TAG};
        memcpy(c->buf + pos, &f, sizeof f);
        pos = 0;
    }
    struct frame f = {(uint32_t)len, tag};
    memcpy(c->buf + pos, &f, sizeof f);
    unsigned char *p = c->buf + pos + sizeof f;
    for (int i = 0; i < n; i++) {
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    atomic_store_explicit(&c->head, head + pad + need, memory_order_release);
    return true;
}

int nurs_channel_drain(struct nurs_channel *c,
                       void (*fn)(void *ctx, uint32_t tag, const void *data, size_t len),
                       void *ctx)
{
    size_t tail = atomic_load_explicit(&c->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&c->head, memory_order_acquire);
    int n = 0;
    while (tail != head) {
        struct frame f;
        size_t pos = tail & (c->size - 1);
        memcpy(&f, c->buf + pos, sizeof f);
        if (f.tag != PAD_TAG) {
            fn(ctx, f.tag, c->buf + pos + sizeof f, f.len);
            n++;
        }
        tail += sizeof f + (f.tag == PAD_TAG ? f.len : round8(f.len));
        atomic_store_explicit(&c->tail, tail, memory_order_release);
    }
    return n;
}

/* ---- the relay: a worker loop's stand-in for a shared sink ---- */

struct relay {
    struct nurs_resource res;
    struct nurs_channel *ring;
    uint32_t tag;
    unsigned cur, next; /* the flags, as settings: a reload may change them */
};

static void relay_destroy(struct nurs_resource *r) { free(r); }

static const struct nurs_resource_ops relay_ops = {
    .kind = "relay",
    .destroy = relay_destroy,
    NURS_SETTINGS_IN(struct relay),
};

bool nurs_relay_is(const struct nurs_resource *r) { return r->ops == &relay_ops; }

unsigned nurs_relay_flags(const struct nurs_resource *r) { return ((const struct relay *)r)->cur; }

struct nurs_resource *nurs_relay_get(struct nurs_script *s, const char *kind, const char *name,
                                     unsigned flags, char *err, size_t errlen)
{
    struct nurs_host *h = s->host;
    char key[160];
    snprintf(key, sizeof key, "%s:%s", kind, name);
    struct nurs_resource *r = nurs_resource_claim(s, &relay_ops, key, &flags);
    if (r)
        return r;
    struct relay *rl = calloc(1, sizeof *rl);
    if (!rl || nurs_resource_init(&rl->res, &relay_ops, s, name, key, &flags) < 0) {
        free(rl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Named as the main loop names its sink when declared alike. */
    if (!nurs_worker_relay(h->worker, rl->res.name, &rl->ring, &rl->tag)) {
        nurs_resource_destroy(&rl->res);
        snprintf(err, errlen, "too many shared sinks");
        return NULL;
    }
    return &rl->res;
}

bool nurs_relay_put(struct nurs_resource *r, const struct iovec *iov, int n)
{
    struct relay *rl = (struct relay *)r;
    r->counters.in++;
    if (!nurs_channel_put(rl->ring, rl->tag, iov, n)) {
        r->counters.dropped++;
        return false;
    }
    r->counters.delivered++;
    nurs_worker_relay_wake(r->host->worker);
    return true;
}

bool nurs_relay_deliver(struct nurs_host *main, const char *name, const void *data, size_t len)
{
    for (struct nurs_resource *r = main->resources; r; r = r->next)
        if (r->ops->relayed && !r->closing && strcmp(r->name, name) == 0) {
            r->ops->relayed(r, data, len);
            return true;
        }
    return false;
}
