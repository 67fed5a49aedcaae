/* The Lua face of process attribution: the `process` option of sources,
 * and src:attribute(rec [, fn]). */
#ifndef NURS_BINDINGS_ATTRIBUTION_H
#define NURS_BINDINGS_ATTRIBUTION_H

#include <stdbool.h>

#include <lua.h>

#include "core/resource.h"
#include "process/attribution.h"

/* Reads option `process` of the options table at idx: true, false, or
 * { cmdline = bytes, connections = n }. Returns whether it is on; o gets
 * the settings (defaults when not given). */
bool nurs_l_process_option(lua_State *L, int idx, const char *fname,
                           struct nurs_attribution_opts *o);

/* src:attribute(rec [, fn]) for a source whose engine is `a` (its
 * callbacks' errors count on r). Leaves its results on the stack. */
int nurs_l_attribute(lua_State *L, struct nurs_resource *r, struct nurs_attribution *a);

#endif
