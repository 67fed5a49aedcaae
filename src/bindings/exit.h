/* os.exit() in a script stops the daemon the way SIGTERM does (every sink
 * flushed, the exit code kept) instead of leaving at once and losing what
 * sinks hold. The call unwinds the running Lua code with a marker that
 * the callers of Lua recognize and do not count as an error. */
#ifndef NURS_BINDINGS_EXIT_H
#define NURS_BINDINGS_EXIT_H

#include <stdbool.h>

#include <lua.h>

/* Replaces os.exit in L. */
void nurs_l_exit_open(lua_State *L);
/* Stops the daemon with `code` and unwinds the calling Lua code. */
int nurs_l_exit(lua_State *L, int code);
/* True when the value on top of L is the marker of an exit. */
bool nurs_l_is_exit(lua_State *L);

#endif
