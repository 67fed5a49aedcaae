/* A script's function as a source's consumer: called with the record's
 * Lua view, made once per delivery and shared by every function of the
 * script that takes it. */
#ifndef NURS_BINDINGS_CONSUMER_H
#define NURS_BINDINGS_CONSUMER_H

#include <lua.h>

#include "core/resource.h"

struct nurs_record;

/* A consumer that calls a Lua function: how it is called (ops) and the
 * function (a registry reference in L). */
struct nurs_l_consumer {
    struct nurs_consumer base;
    lua_State *L;
    int ref;
};

/* Calls each function with the record's view, under a protected call;
 * errors are logged on the source and counted as failures. */
extern const struct nurs_consumer_ops nurs_l_function_ops;
/* The same for NFQUEUE: each answer is a verdict (bindings/nfq_consumer.c). */
extern const struct nurs_consumer_ops nurs_l_nfq_function_ops;
/* Frees a function consumer (its ops' release). */
void nurs_l_consumer_release(struct nurs_consumer *c);

/* Reads the `budget` option (seconds) of the options table at idx: how
 * long the script's functions may take per record on r (default: the
 * --budget of the command line). */
void nurs_l_read_budget(lua_State *L, int idx, const char *fname, struct nurs_resource *r);

/* Adds the value at idx to the consumers that the running script has on
 * r: a function (called as `ops` says), or a sink that takes every kind
 * in `kinds`. Raises a Lua error when the list is full. */
void nurs_l_add_consumer(lua_State *L, struct nurs_resource *r, int idx,
                         const struct nurs_consumer_ops *ops, unsigned kinds);

#endif
