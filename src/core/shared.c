#include "core/shared.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    atomic_bool ready; /* key and hash written (release), never cleared */
    uint32_t hash;
    uint8_t len;
    char key[NURS_SHARED_KEY_MAX + 1];
    _Atomic int64_t value;
};

static _Atomic(struct slot *) table;
static pthread_mutex_t insert_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t n_keys, refused;

static uint32_t hash_of(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    return h;
}

static struct slot *the_table(bool create)
{
    struct slot *t = atomic_load_explicit(&table, memory_order_acquire);
    if (t || !create)
        return t;
    pthread_mutex_lock(&insert_lock);
    t = atomic_load_explicit(&table, memory_order_relaxed);
    if (!t && (t = calloc(NURS_SHARED_SLOTS, sizeof *t)))
        atomic_store_explicit(&table, t, memory_order_release);
    pthread_mutex_unlock(&insert_lock);
    return t;
}

/* The slot of key, or the first empty one after its run (NULL: none, the
 * table being never full past NURS_SHARED_MAX_KEYS). */
static struct slot *probe(struct slot *t, const char *key, size_t len, uint32_t h, bool *found)
{
    for (uint32_t i = 0; i < NURS_SHARED_SLOTS; i++) {
        struct slot *s = &t[(h + i) & (NURS_SHARED_SLOTS - 1)];
        if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
            *found = false;
            return s;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            *found = true;
            return s;
        }
    }
    *found = false;
    return NULL;
}

_Atomic int64_t *nurs_shared_find(const char *key, size_t len, bool create)
{
    if (len > NURS_SHARED_KEY_MAX)
        return NULL;
    struct slot *t = the_table(create);
    if (!t)
        return NULL;
    uint32_t h = hash_of(key, len);
    bool found;
    struct slot *s = probe(t, key, len, h, &found);
    if (found)
        return &s->value;
    if (!create)
        return NULL;
    /* Insertions one at a time: the probe again, under the lock, sees
     * every key inserted before. */
    pthread_mutex_lock(&insert_lock);
    s = probe(t, key, len, h, &found);
    if (s && !found) {
        if (atomic_load(&n_keys) >= NURS_SHARED_MAX_KEYS) {
            s = NULL;
        } else {
            s->hash = h;
            s->len = (uint8_t)len;
            memcpy(s->key, key, len);
            s->key[len] = '\0';
            atomic_fetch_add(&n_keys, 1);
            atomic_store_explicit(&s->ready, true, memory_order_release);
        }
    }
    pthread_mutex_unlock(&insert_lock);
    if (!s)
        atomic_fetch_add(&refused, 1);
    return s ? &s->value : NULL;
}

void nurs_shared_each(const char *prefix, size_t plen,
                      void (*fn)(void *ctx, const char *key, int64_t value), void *ctx)
{
    struct slot *t = the_table(false);
    for (uint32_t i = 0; t && i < NURS_SHARED_SLOTS; i++) {
        struct slot *s = &t[i];
        if (atomic_load_explicit(&s->ready, memory_order_acquire) && s->len >= plen &&
            memcmp(s->key, prefix, plen) == 0)
            fn(ctx, s->key, atomic_load_explicit(&s->value, memory_order_relaxed));
    }
}

void nurs_shared_stats(struct nurs_shared_stats *out)
{
    out->keys = atomic_load(&n_keys);
    out->capacity = NURS_SHARED_MAX_KEYS;
    out->refused = atomic_load(&refused);
}
