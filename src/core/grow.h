/* Growing an array by doubling, for the lists that have no natural bound
 * (watchers, lookups waiting, addresses, pids). */
#ifndef NURS_CORE_GROW_H
#define NURS_CORE_GROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Makes room for one more element in *arr (n used of *cap, esize bytes
 * each): doubles the capacity, starting at `first`. False if out of
 * memory (the array is left as it was). */
static inline bool nurs_grow(void **arr, size_t *cap, size_t n, size_t esize, size_t first)
{
    if (n < *cap)
        return true;
    size_t more = *cap ? *cap * 2 : first;
    void *p = realloc(*arr, more * esize);
    if (!p)
        return false;
    *arr = p;
    *cap = more;
    return true;
}

#endif
