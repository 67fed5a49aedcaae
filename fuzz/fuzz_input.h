/* The fuzz input copied to a heap block of exactly its size: ASan flags
 * any read past the end (libFuzzer's own buffer may have room after it),
 * and malloc's alignment is what a receive buffer gives netlink
 * messages. NULL when out of memory. */
#ifndef NURS_FUZZ_INPUT_H
#define NURS_FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void *nurs_fuzz_copy(const uint8_t *data, size_t size)
{
    void *buf = malloc(size ? size : 1);
    if (buf)
        memcpy(buf, data, size);
    return buf;
}

#endif
