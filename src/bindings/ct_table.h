/* nurs.ct{...}: acting on the conntrack and expectation tables from Lua;
 * the same methods on a conntrack source (src:delete(rec)). */
#ifndef NURS_BINDINGS_CT_TABLE_H
#define NURS_BINDINGS_CT_TABLE_H

#include <lua.h>

/* Adds the table methods to the handle class `mt` (a conntrack source's):
 * there they act in the source's namespace. */
void nurs_l_ct_table_methods_into(lua_State *L, const char *mt);

#endif
