/* nurs.shared's table from several threads at once, as worker loops use
 * it: counts add up exactly on shared keys and on keys each thread makes
 * (first uses racing for the same slots), the table refuses (and counts)
 * keys past its bound, long keys are refused. Run under ThreadSanitizer
 * in CI. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/shared.h"
#include "tap.h"

#define THREADS 4
#define ROUNDS 20000
#define OWN_KEYS 500

static void *adder(void *arg)
{
    int id = (int)(long)arg;
    char key[32];
    for (int i = 0; i < ROUNDS; i++) {
        atomic_fetch_add(nurs_shared_find("all", 3, true), 1);
        /* Keys every thread makes, in the same order: first uses race. */
        int n = snprintf(key, sizeof key, "k%d", i % OWN_KEYS);
        atomic_fetch_add(nurs_shared_find(key, (size_t)n, true), 1);
        n = snprintf(key, sizeof key, "t%d:%d", id, i % 7);
        atomic_fetch_add(nurs_shared_find(key, (size_t)n, true), 2);
    }
    return NULL;
}

static void sum_k(void *ctx, const char *key, int64_t v)
{
    (void)key;
    *(int64_t *)ctx += v;
}

int main(void)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, adder, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    tap_is_int(atomic_load(nurs_shared_find("all", 3, false)), THREADS * ROUNDS,
               "a shared key counts every add");
    int64_t k = 0;
    nurs_shared_each("k", 1, sum_k, &k);
    tap_is_int(k, THREADS * ROUNDS, "keys made concurrently: no add lost, no key twice");
    struct nurs_shared_stats st;
    nurs_shared_stats(&st);
    tap_is_int((long long)st.keys, 1 + OWN_KEYS + THREADS * 7, "each key made once");
    tap_is_int(atomic_load(nurs_shared_find("t2:3", 4, false)),
               2 * (ROUNDS / 7 + (3 < ROUNDS % 7)), "a thread's own key");
    tap_ok(nurs_shared_find("absent", 6, false) == NULL, "a key never used is absent");

    char big[80];
    memset(big, 'x', sizeof big);
    tap_ok(nurs_shared_find(big, NURS_SHARED_KEY_MAX + 1, true) == NULL, "a long key is refused");
    tap_ok(nurs_shared_find(big, NURS_SHARED_KEY_MAX, true) != NULL, "63 bytes is fine");

    int made = 0;
    for (int i = 0; i < NURS_SHARED_MAX_KEYS + 10; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "fill%d", i);
        made += nurs_shared_find(key, (size_t)n, true) != NULL;
    }
    nurs_shared_stats(&st);
    tap_is_int((long long)st.keys, NURS_SHARED_MAX_KEYS, "the table stops at its bound");
    tap_is_int(made, NURS_SHARED_MAX_KEYS - (1 + OWN_KEYS + THREADS * 7 + 1),
               "every key up to the bound was made");
    tap_ok(st.refused >= 10, "keys past the bound are counted as refused (%llu)",
           (unsigned long long)st.refused);
    tap_ok(nurs_shared_find("all", 3, true) != NULL, "a full table still finds its keys");
    return tap_done();
}
