/* Lua values to JSON. */
#ifndef NURS_BINDINGS_JSON_VALUE_H
#define NURS_BINDINGS_JSON_VALUE_H

#include <stddef.h>

#include <lua.h>

#include "core/jsonw.h"

/* Writes the value at idx under key (NULL in arrays and at top level).
 * Returns 0, or -1 with a message in err for what JSON cannot hold
 * (functions, threads, unknown userdata, cycles, too deep, keys that are
 * neither strings nor integers). Never raises; the stack is left as is. */
int nurs_json_from_lua(struct nurs_jsonw *w, lua_State *L, int idx, const char *key, char *err,
                       size_t errlen);

/* Writes userdata values (records); returns 0 if it wrote the value. */
typedef int (*nurs_json_userdata_fn)(struct nurs_jsonw *w, lua_State *L, int idx, const char *key);
void nurs_json_set_userdata_writer(nurs_json_userdata_fn fn);

#endif
