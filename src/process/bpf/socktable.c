#include "process/bpf/socktable.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NIL UINT32_MAX

struct nurs_socktable_entry {
    struct nurs_sock_owner o; /* o.cmdline: our own copy, or NULL */
    uint32_t next;            /* the next entry of its bucket */
    bool used;
};

static uint32_t hash(const struct nurs_sock_tuple *k)
{
    uint64_t w[sizeof *k / 8], h = 0x9e3779b97f4a7c15ull;
    memcpy(w, k, sizeof w);
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
        h ^= w[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return (uint32_t)h;
}

int nurs_socktable_init(struct nurs_socktable *t, uint32_t cap)
{
    memset(t, 0, sizeof *t);
    uint32_t nb = 16;
    while (nb < cap * 2u && nb < (1u << 30))
        nb <<= 1;
    t->e = calloc(cap ? cap : 1, sizeof *t->e);
    t->buckets = malloc(nb * sizeof *t->buckets);
    if (!t->e || !t->buckets) {
        nurs_socktable_free(t);
        return -1;
    }
    memset(t->buckets, 0xff, nb * sizeof *t->buckets);
    t->cap = cap ? cap : 1;
    t->mask = nb - 1;
    return 0;
}

void nurs_socktable_free(struct nurs_socktable *t)
{
    for (uint32_t i = 0; t->e && i < t->cap; i++)
        free((char *)t->e[i].o.cmdline);
    free(t->e);
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

static uint32_t *link_to(struct nurs_socktable *t, const struct nurs_sock_tuple *k)
{
    uint32_t *p = &t->buckets[hash(k) & t->mask];
    while (*p != NIL && memcmp(&t->e[*p].o.t, k, sizeof *k) != 0)
        p = &t->e[*p].next;
    return p;
}

static void drop(struct nurs_socktable *t, uint32_t i)
{
    struct nurs_socktable_entry *e = &t->e[i];
    uint32_t *p = link_to(t, &e->o.t);
    if (*p == i)
        *p = e->next;
    free((char *)e->o.cmdline);
    e->o.cmdline = NULL;
    e->used = false;
    t->count--;
}

bool nurs_socktable_put(struct nurs_socktable *t, const struct nurs_sock_owner *o)
{
    char *cmdline = NULL;
    if (o->cmdline_len) {
        if (!(cmdline = malloc(o->cmdline_len)))
            return false;
        memcpy(cmdline, o->cmdline, o->cmdline_len);
    }
    uint32_t *p = link_to(t, &o->t);
    if (*p != NIL)
        drop(t, *p); /* the newer record: this socket, or the tuple's next socket */
    uint32_t i = t->next;
    if (t->e[i].used) {
        drop(t, i);
        t->replaced++;
    }
    t->next = (i + 1) % t->cap;
    struct nurs_socktable_entry *e = &t->e[i];
    e->o = *o;
    e->o.cmdline = cmdline;
    e->used = true;
    p = &t->buckets[hash(&o->t) & t->mask];
    e->next = *p;
    *p = i;
    t->count++;
    return true;
}

const struct nurs_sock_owner *nurs_socktable_get(const struct nurs_socktable *t,
                                                 const struct nurs_sock_tuple *k)
{
    for (uint32_t i = t->buckets[hash(k) & t->mask]; i != NIL; i = t->e[i].next)
        if (memcmp(&t->e[i].o.t, k, sizeof *k) == 0)
            return &t->e[i].o;
    return NULL;
}

enum nurs_sock_match nurs_socktable_match(const struct nurs_socktable *t,
                                          const struct nurs_sock_tuple *k,
                                          const struct nurs_sock_owner **owner)
{
    struct nurs_sock_tuple q = *k;
    if ((*owner = nurs_socktable_get(t, &q)))
        return NURS_SOCK_EXACT;
    if (q.proto == IPPROTO_UDP) {
        memset(q.laddr, 0, sizeof q.laddr);
        if ((*owner = nurs_socktable_get(t, &q)))
            return NURS_SOCK_EXACT;
    }
    /* Bound: the local address, then any. */
    q = *k;
    q.rport = 0;
    memset(q.raddr, 0, sizeof q.raddr);
    if ((*owner = nurs_socktable_get(t, &q)))
        return NURS_SOCK_BOUND;
    memset(q.laddr, 0, sizeof q.laddr);
    if ((*owner = nurs_socktable_get(t, &q)))
        return NURS_SOCK_BOUND;
    if (q.family == AF_INET) {
        q.family = AF_INET6; /* bound to :: without IPV6_V6ONLY */
        if ((*owner = nurs_socktable_get(t, &q)))
            return NURS_SOCK_BOUND;
    }
    return NURS_SOCK_NONE;
}
