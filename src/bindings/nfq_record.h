/* NFQUEUE records in Lua: their class (sources/nfqueue/record.c) with the
 * verdict methods (accept, drop, verdict, hold), and the verdicts a
 * script writes. */
#ifndef NURS_BINDINGS_NFQ_RECORD_H
#define NURS_BINDINGS_NFQ_RECORD_H

#include <stddef.h>

#include <lua.h>

#include "sources/nfqueue/source.h"

/* Registers the record class with its verdict methods. */
void nurs_nfq_record_open(lua_State *L);

/* Reads a verdict as a script writes it ("accept", "drop", "repeat", or a
 * table {verdict =, mark =, ctmark =, queue =}) from the value at idx.
 * Never raises: returns -1 with a message instead. */
int nurs_nfq_decision_from(lua_State *L, int idx, struct nurs_nfq_decision *d, char *err,
                           size_t errlen);

#endif
