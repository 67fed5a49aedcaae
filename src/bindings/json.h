/* What sinks that write JSON take from Lua, written one way for all of
 * them (the JSON sink, Kafka's json format). */
#ifndef NURS_BINDINGS_JSON_H
#define NURS_BINDINGS_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "core/jsonw.h"

/* Raises for what can never be written: an expired record. Call before
 * starting a record, so that nothing raises half-way through one. */
void nurs_l_json_check_value(lua_State *L, int idx);
/* Writes the value at idx as one top-level JSON value: a packet record
 * (its metadata and headers) or a Lua value; conntrack records are
 * written in C (nurs_json_write_ct). schema_version applies to records.
 * Returns 0, or -1 with a message; never raises. */
int nurs_l_json_write_value(struct nurs_jsonw *w, lua_State *L, int idx, bool schema_version,
                            char *err, size_t errlen);

#endif
