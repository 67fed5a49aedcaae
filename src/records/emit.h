/* The field walker's receiving end: every consumer of record fields (Lua
 * values, JSON text, tests) implements these, so that all of them agree
 * on which fields a record has and how each is spelled. */
#ifndef NURS_RECORDS_EMIT_H
#define NURS_RECORDS_EMIT_H

#include <stdbool.h>
#include <stddef.h>

/* Receives values; key is NULL for array elements. */
struct nurs_emit {
    void (*object_begin)(void *ctx, const char *key);
    void (*object_end)(void *ctx);
    void (*array_begin)(void *ctx, const char *key);
    void (*array_end)(void *ctx);
    void (*integer)(void *ctx, const char *key, long long v);
    void (*string)(void *ctx, const char *key, const char *s, size_t len);
    /* May be NULL (then booleans arrive as the integers 0 and 1). */
    void (*boolean)(void *ctx, const char *key, bool v);
};

/* A boolean through e, as an integer when the emitter has no booleans. */
static inline void nurs_emit_bool(const struct nurs_emit *e, void *ctx, const char *key, bool v)
{
    if (e->boolean)
        e->boolean(ctx, key, v);
    else
        e->integer(ctx, key, v);
}

#endif
